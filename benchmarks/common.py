"""Shared machinery of the benchmarks: one fresh worker process per measurement, peak memory, tables.

Memory method: every measurement runs in its own Python process, so allocator caches and earlier
measurements cannot hide or inflate its memory. Inside the worker, after the inputs and the model exist,
the kernel's resident-set high-water mark is reset (``echo 5 > /proc/self/clear_refs``) and the current
resident set is recorded; after the measured call the high-water mark (``VmHWM``) is read again. The
difference is the peak extra resident memory of the call: tensors, autograd buffers and allocator
overhead, but not the inputs, the parameters or the interpreter. ``tracemalloc`` does not see torch's
allocations, and torch's CPU profiler reports allocations, not what the machine had to hold at once.
Where ``clear_refs`` is unavailable, ``ru_maxrss`` of the process is used against its value before the
call (an upper bound: labelled in the output).

The parent also watches each worker's resident set and stops it above a memory cap, and stops it after a
wall-clock timeout; both outcomes are reported as such instead of a number.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from vos_recommender.utils.machine import machine_description  # noqa: F401  (the benchmarks import it from here)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"


# ----------------------------------------------------------------------------------------------------
# Inside a worker


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


class PeakMemory:
    """Peak extra resident memory (MiB) of the code run inside the ``with`` block."""

    def __enter__(self) -> PeakMemory:
        self.exact = _reset_peak()
        if self.exact:
            self.start_kib = _status_kib("VmRSS") or 0
        else:
            self.start_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return self

    def __exit__(self, *exc) -> None:
        if self.exact:
            peak = _status_kib("VmHWM") or 0
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.mib = max(0, peak - self.start_kib) / 1024


def _repeat(run_once: Callable[[], tuple[float, float]], repeats: int, budget_s: float) -> tuple[list, list]:
    """Call ``run_once`` (it returns the run's seconds and peak MiB) up to ``repeats`` + 1 times, fewer once
    ``budget_s`` is spent or would be by one more run."""
    times, peaks, spent = [], [], 0.0
    for _ in range(max(1, repeats) + 1):
        elapsed, peak = run_once()
        times.append(elapsed)
        peaks.append(peak)
        spent += elapsed
        if len(times) > repeats or spent + elapsed > budget_s:
            break
    return times, peaks


def _summary(times: list, peaks: list, memory_method: str) -> dict:
    """Median time without the warm-up run (when there is another), every time, and the largest peak."""
    timed = times[1:] if len(times) > 1 else times
    return {
        "time_s": statistics.median(timed),
        "times_s": times,
        "warmup_counted": len(times) == 1,
        "peak_mib": max(peaks),
        "memory_method": memory_method,
    }


def time_and_memory(fn: Callable[[], object], repeats: int, budget_s: float) -> dict:
    """Run ``fn`` up to ``repeats`` times (fewer once ``budget_s`` is spent): times and peak memory.

    The first run is a warm-up and is excluded from the median whenever at least one more run fits in the
    budget (``warmup_counted`` says which); the memory is the largest peak over all runs.
    """
    exact = True

    def run_once() -> tuple[float, float]:
        nonlocal exact
        with PeakMemory() as memory:
            start = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - start
        exact &= memory.exact
        return elapsed, memory.mib

    times, peaks = _repeat(run_once, repeats, budget_s)
    return _summary(times, peaks, "VmHWM after clear_refs" if exact else "ru_maxrss delta (upper bound)")


def cuda_time_and_memory(fn: Callable[[], object], repeats: int, budget_s: float) -> dict:
    """Like ``time_and_memory`` for CUDA: synchronised wall time and ``torch.cuda.max_memory_allocated``."""
    import torch

    def run_once() -> tuple[float, float]:
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        return elapsed, (torch.cuda.max_memory_allocated() - base) / 2**20

    times, peaks = _repeat(run_once, repeats, budget_s)
    return _summary(times, peaks, "torch.cuda.max_memory_allocated above the resident tensors")


def emit(result: dict) -> None:
    """Hand a worker's result to the parent (last line of stdout)."""
    sys.stdout.write("\n" + "RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


# ----------------------------------------------------------------------------------------------------
# In the parent


def run_worker(args: list[str], timeout_s: float, memory_cap_mib: float) -> dict:
    """Run ``python <args>`` as a fresh process; its RESULT dict, or a dict with ``status`` on failure."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    start = time.monotonic()
    peak_rss = 0.0
    status = None
    while process.poll() is None:
        rss = _process_rss_mib(process.pid)
        peak_rss = max(peak_rss, rss)
        if rss > memory_cap_mib:
            status = f"stopped: over {memory_cap_mib / 1024:.0f} GiB"
        elif time.monotonic() - start > timeout_s:
            status = f"did not finish in {timeout_s:.0f} s"
        if status:
            process.kill()
            break
        time.sleep(0.2)
    stdout, stderr = process.communicate()
    if status:
        return {"status": status}
    for line in reversed(stdout.splitlines()):
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT ") :])
            result.setdefault("status", "ok")
            return result
    tail = (stderr.strip().splitlines() or ["no output"])[-1]
    return {"status": f"failed: {tail[:200]}"}


def _process_rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]

    def line(cells):
        return "| " + " | ".join(str(cell).ljust(width) for cell, width in zip(cells, widths)) + " |"

    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def add_out_dir(parser) -> None:
    """The ``--out-dir`` option of every benchmark: where its result files go (tests pass a temporary one)."""
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=RESULTS,
        help="folder of the result files (default benchmarks/results)",
    )


def parse_labelled(text: str, option: str) -> list[tuple[str, str]]:
    """``label=path,label=path`` (an option naming several labelled files or folders) -> ``[(label, path)]``.

    Raises:
        ValueError: Naming ``option`` on an item that is not ``label=path`` or when none is given.
    """
    pairs = []
    for item in [part.strip() for part in text.split(",") if part.strip()]:
        label, sep, path = item.partition("=")
        if not sep or not label.strip() or not path.strip():
            raise ValueError(f"{option}: {item!r} is not label=path")
        pairs.append((label.strip(), path.strip()))
    if not pairs:
        raise ValueError(f"{option}: none given")
    return pairs


def write_results(name: str, markdown: str, payload: dict, out_dir: Path = RESULTS) -> tuple[Path, Path]:
    """Write ``<out_dir>/<name>.md`` (the table) and ``<name>.json`` (the raw numbers); return both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    md_path, json_path = out_dir / f"{name}.md", out_dir / f"{name}.json"
    md_path.write_text(markdown + "\n")
    json_path.write_text(json.dumps(payload, indent=2) + "\n")
    return md_path, json_path


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def fmt_mib(mib: float | None) -> str:
    return "-" if mib is None else f"{mib:.0f}"


def generated_episode_plans(data_dir, args) -> tuple[list, list[tuple[str, list[int]]]]:
    """Generated DAVIS-layout videos and seeded episode plans for the VOS environment benchmarks.

    Args:
        data_dir: Folder to write the videos into.
        args: Parsed options with ``videos``, ``frames``, ``height``, ``width``, ``episodes``, ``rounds``
            and ``seed``.

    Returns:
        The loaded videos, and one ``(video name, annotated frames of rounds 2..N)`` plan per episode.
    """
    import numpy as np

    from vos_recommender.data.davis import DavisDataset
    from vos_recommender.data.generate import generate_davis_dataset

    root = generate_davis_dataset(
        data_dir,
        num_train=args.videos,
        num_val=0,
        num_frames=args.frames,
        height=args.height,
        width=args.width,
        seed=args.seed,
    )
    dataset = DavisDataset(root, split="train")
    videos = [dataset[i] for i in range(len(dataset.sequences))]
    rng = np.random.default_rng(args.seed)
    plans = [
        (videos[e % len(videos)].name, [int(a) for a in rng.integers(0, args.frames, args.rounds - 1)])
        for e in range(args.episodes)
    ]
    return videos, plans
