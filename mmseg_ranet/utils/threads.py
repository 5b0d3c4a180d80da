"""How many CPU threads a training or test process uses.

PyTorch's default is one thread per core. On a machine where other processes are busy, its OpenMP
workers then wait for cores that are not free: on a 2-core machine running another job, the demo slowed
from 0.35 s to 6.8 s per iteration with the default, against about 0.7 s with one thread. So the tools
pick the number of *idle* cores (cores minus the cores busy over half a second, at least 1), divided
among the processes of a distributed run on this machine.

The thread count changes the order of floating-point sums, so a config whose result must repeat on idle
and busy machines fixes it (``cpu_numerics.threads``, :mod:`mmseg_ranet.utils.cpu_numerics`).

Order: ``MMSEG_RANET_THREADS=N``, then the config's fixed count, then ``OMP_NUM_THREADS=N`` (PyTorch reads
it itself), then the idle cores.
"""

from __future__ import annotations

import os
import time

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


def _busy_cores_now(cores: int, seconds: float = 0.5) -> float | None:
    """Cores busy over the next ``seconds``, from two readings of ``/proc/stat`` (None where unreadable).

    The load average lags by minutes (right after a heavy job it still says the machine is busy), so the
    current use is measured instead where Linux allows it.
    """

    def totals() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields), idle

    try:
        total0, idle0 = totals()
        time.sleep(seconds)
        total1, idle1 = totals()
    except (OSError, ValueError, IndexError):
        return None
    elapsed = total1 - total0
    if elapsed <= 0:
        return None
    online = os.cpu_count() or cores
    return online * (1.0 - (idle1 - idle0) / elapsed)


def idle_cores() -> int:
    """Cores this process may use that are idle now (busy ones measured over 0.5 s), at least 1.

    Falls back to the 1-minute load average where ``/proc/stat`` cannot be read.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    busy = _busy_cores_now(cores)
    if busy is None:
        try:
            busy = os.getloadavg()[0]
        except (AttributeError, OSError):
            busy = 0.0
    return max(1, min(cores, round(cores - busy)))


def choose_num_threads(fixed: int | None = None) -> tuple[int, str]:
    """The thread count for this process and where it came from (for the log).

    Args:
        fixed: The count a config fixes (``cpu_numerics.threads``); only ``MMSEG_RANET_THREADS`` overrides it.
    """
    explicit = _positive_int(ENV_THREADS)
    if explicit is not None:
        return explicit, ENV_THREADS
    if fixed is not None:
        return fixed, "fixed by the config's cpu_numerics.threads"
    omp = _positive_int("OMP_NUM_THREADS")
    if omp is not None:
        return omp, "OMP_NUM_THREADS"
    procs = _positive_int("LOCAL_WORLD_SIZE") or 1
    return max(1, idle_cores() // procs), "idle cores"


def configure_threads(fixed: int | None = None) -> int:
    """Set PyTorch's intra-op thread count as :func:`choose_num_threads` says, log it, return it."""
    threads, source = choose_num_threads(fixed)
    torch.set_num_threads(threads)
    print_log(
        f"using {threads} CPU thread(s) ({source}; set {ENV_THREADS}=N to choose)",
        logger="current",
    )
    return threads
