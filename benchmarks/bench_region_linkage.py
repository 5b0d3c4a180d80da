"""Benchmark of the average-linkage region rule: scipy on the host vs the PyTorch rounds on the table's device.

    python benchmarks/bench_region_linkage.py            # 65x65 and 97x97 (a minute or two)
    python benchmarks/bench_region_linkage.py --quick    # 17x17 only: smoke run

One image's decision margins m = ((F + F^T) / 2 - 0.5) as the object-region preset makes them at
initialisation (D with the segment's end points, full JSD, identity W^g with bias -0.5), from class and
boundary logits of a generated scene of overlapping ellipses with noise. ``scipy`` is the former
implementation (``linkage(method='average')`` on the distances c - m, cut below c, in float64 on the host;
kept here and in ``tests/seg/test_region_linkage.py`` as the reference); ``torch`` is
``ops.average_linkage_roots`` on the float32 table, as the head calls it (``overwrite=True``). Every cell runs
in a fresh process (memory method in ``benchmarks/common.py``); times are the median of up to ``--repeats``
runs after a warm-up run. The table also says whether the two partitions are equal.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import Tensor  # noqa: E402

from benchmarks.common import (  # noqa: E402
    add_out_dir,
    emit,
    fmt_mib,
    fmt_time,
    machine_description,
    markdown_table,
    run_worker,
    time_and_memory,
    write_results,
)

IMPLEMENTATIONS = ("scipy", "torch")
LABELS = {
    "scipy": "scipy `linkage(method='average')`, float64, host",
    "torch": "PyTorch rounds (`average_linkage_roots`), table's device",
}


def scene_margin(size: int, seed: int = 0, threshold: float = 0.5) -> Tensor:
    """Symmetric float32 decision margins (N, N) of a generated scene at the preset's initialisation."""
    from mmseg_ranet.models.ops import boundary_max_table, jensen_shannon_table

    generator = torch.Generator().manual_seed(seed)
    label = torch.zeros(size, size, dtype=torch.long)
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    for k in range(1, 7):
        cy, cx = torch.randint(0, size, (2,), generator=generator).tolist()
        ry, rx = torch.randint(max(1, size // 10), max(2, size // 4), (2,), generator=generator).tolist()
        label[((ys - cy) / ry) ** 2 + ((xs - cx) / rx) ** 2 <= 1] = k
    num_classes = 8
    logits = 4.0 * torch.nn.functional.one_hot(label, num_classes).permute(2, 0, 1).float()
    logits += torch.randn(num_classes, size, size, generator=generator)
    edge = torch.zeros(size, size, dtype=torch.bool)
    edge[:, 1:] |= label[:, 1:] != label[:, :-1]
    edge[1:] |= label[1:] != label[:-1]
    boundary = torch.sigmoid(torch.where(edge, 3.0, -3.0) + torch.randn(size, size, generator=generator))
    boundary_term = boundary_max_table(boundary[None], endpoints=True)
    semantic_term = jensen_shannon_table(torch.log_softmax(logits, 0).flatten(1)[None], "full", True)
    score = (1 - boundary_term) * (1 - semantic_term) - threshold
    return ((score + score.transpose(1, 2)) / 2)[0]


def scipy_roots(margin: Tensor) -> Tensor:
    """The former implementation: scipy's average linkage of c - m, cut at the largest float below c."""
    import numpy as np
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    values = margin.detach().to("cpu", torch.float64).numpy().copy()
    np.fill_diagonal(values, 0.0)
    shift = float(values.max())
    tree = linkage(squareform(shift - values, checks=False), method="average")
    clusters = fcluster(tree, t=np.nextafter(shift, -np.inf), criterion="distance")
    first: dict = {}
    roots = np.array([first.setdefault(c, i) for i, c in enumerate(clusters)], dtype=np.int64)
    return torch.from_numpy(roots)


def worker_measure(name: str, size: int, repeats: int, budget_s: float, threads: int) -> dict:
    from mmseg_ranet.models.ops import average_linkage_roots

    torch.set_num_threads(threads)
    margin = scene_margin(size)
    outputs: list[Tensor] = []
    if name == "scipy":

        def run():
            outputs.append(scipy_roots(margin))

    else:
        # One copy per run stands for the head's temporary table: the clustering is timed, not the copy.
        clones = [margin.clone() for _ in range(repeats + 1)]

        def run():
            outputs.append(average_linkage_roots(clones[len(outputs)], overwrite=True))

    result = time_and_memory(run, repeats, budget_s)
    roots = outputs[-1]
    result["regions"] = int(roots.unique().numel())
    result["roots_sha1"] = hashlib.sha1(roots.numpy().tobytes()).hexdigest()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="17x17 only (smoke run)")
    parser.add_argument("--sizes", type=int, nargs="+", help="map sizes (default 65 97; quick: 17)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per cell after a warm-up run")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds of runs per cell before stopping")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (scipy's linkage uses one)")
    parser.add_argument("--timeout", type=float, default=600.0, help="wall-clock limit of one cell's process")
    parser.add_argument("--memory-cap-gib", type=float, default=8.0, help="stop a cell's process above this")
    parser.add_argument(
        "--output", default="region_linkage", help="name of the result files (without suffix)"
    )
    add_out_dir(parser)
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        name, size = args.worker[0], int(args.worker[1])
        emit(worker_measure(name, size, args.repeats, args.budget, args.threads))
        return

    sizes = args.sizes or ([17] if args.quick else [65, 97])
    if args.quick:
        args.output += "_quick"
        args.repeats = min(args.repeats, 1)
    script = str(Path(__file__).resolve())
    common = ["--repeats", str(args.repeats), "--budget", str(args.budget), "--threads", str(args.threads)]
    machine = machine_description()
    print(f"# Average linkage, one image at {'/'.join(map(str, sizes))}, {machine['cpu']}", flush=True)
    cells: dict = {}
    for size in sizes:
        for name in IMPLEMENTATIONS:
            key = f"{name}/{size}"
            cells[key] = run_worker(
                [script, "--worker", name, str(size), *common], args.timeout, args.memory_cap_gib * 1024
            )
            print(f"  {key}: {cells[key].get('status')} {fmt_time(cells[key].get('time_s'))}", flush=True)

    rows = []
    for size in sizes:
        reference = cells[f"scipy/{size}"]
        for name in IMPLEMENTATIONS:
            cell = cells[f"{name}/{size}"]
            ok = cell.get("status") == "ok"
            same = "-"
            if ok and reference.get("status") == "ok":
                same = "yes" if cell["roots_sha1"] == reference["roots_sha1"] else "no"
            speed = "-"
            if ok and reference.get("status") == "ok":
                speed = f"{reference['time_s'] / cell['time_s']:.1f}x"
            rows.append(
                [
                    f"{size}x{size}",
                    str(size * size),
                    LABELS[name],
                    fmt_time(cell["time_s"]) if ok else cell.get("status", "?"),
                    fmt_mib(cell.get("peak_mib")) if ok else "-",
                    str(cell.get("regions", "-")),
                    same,
                    speed,
                ]
            )
    headers = ["map", "N", "implementation", "time", "peak MiB", "regions", "same regions as scipy"]
    headers += ["speed-up vs scipy"]
    note = (
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {args.threads} torch thread(s), torch "
        f"{machine['torch']}, load average {machine['load_average_at_start']} at start, {machine['date_utc']}. "
        "Times: median of the timed runs after a warm-up. Peak MiB: extra resident memory of the call beyond "
        "the margin table (VmHWM after clear_refs, fresh process per cell); the torch path works in the "
        "head's temporary table (`overwrite=True`), scipy converts it to float64 and a condensed copy."
    )
    markdown = "\n\n".join(
        ["## Average-linkage regions of one image (float32 margins)", markdown_table(headers, rows), note]
    )
    print()
    print(markdown)
    md_path, json_path = write_results(
        args.output, markdown, {"machine": machine, "threads": args.threads, "cells": cells}, args.out_dir
    )
    print(f"\nwritten: {md_path}, {json_path.name}")


if __name__ == "__main__":
    main()
