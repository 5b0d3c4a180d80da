"""How many CPU threads a training or test process uses.

PyTorch's default is one thread per core. On a machine where other processes are busy, its OpenMP
workers then wait for cores that are not free: on a 2-core machine running another job, the demo slowed
from 0.35 s to 6.8 s per iteration with the default, against about 0.7 s with one thread. So the tools
pick the number of *idle* cores (cores minus the 1-minute load average, at least 1), divided among the
processes of a distributed run on this machine.

Overrides, in order: ``MMSEG_RANET_THREADS=N``, then ``OMP_NUM_THREADS=N`` (PyTorch reads it itself).
"""

from __future__ import annotations

import os

import torch
from mmengine.logging import print_log

ENV_THREADS = "MMSEG_RANET_THREADS"


def _positive_int(name: str) -> int | None:
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a whole number of threads") from None
    if number < 1:
        raise ValueError(f"{name}={value!r}: the number of threads must be at least 1")
    return number


def idle_cores() -> int:
    """Cores this process may use minus the 1-minute load average, at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = 0.0
    return max(1, min(cores, round(cores - load)))


def choose_num_threads() -> tuple[int, str]:
    """The thread count for this process and where it came from (for the log)."""
    explicit = _positive_int(ENV_THREADS)
    if explicit is not None:
        return explicit, ENV_THREADS
    omp = _positive_int("OMP_NUM_THREADS")
    if omp is not None:
        return omp, "OMP_NUM_THREADS"
    procs = _positive_int("LOCAL_WORLD_SIZE") or 1
    return max(1, idle_cores() // procs), "idle cores"


def configure_threads() -> int:
    """Set PyTorch's intra-op thread count as :func:`choose_num_threads` says, log it, return it."""
    threads, source = choose_num_threads()
    torch.set_num_threads(threads)
    print_log(
        f"using {threads} CPU thread(s) ({source}; set {ENV_THREADS}=N to choose)",
        logger="current",
    )
    return threads
