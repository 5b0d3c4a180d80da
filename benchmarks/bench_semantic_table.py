"""Benchmark of RANet's semantic term E (pairwise Jensen-Shannon divergences): PyTorch vs compiled.

    python benchmarks/bench_semantic_table.py            # 24x24, 48x48, 97x97 maps, 19 classes
    python benchmarks/bench_semantic_table.py --quick    # 12x12 and 24x24: smoke run

For both forms (``full``: all classes, the paper's; ``binary``: the released code's Bernoulli JSD on i's
arg-max class), one image, float32, 19 classes: ``jensen_shannon_table(..., impl='torch')`` (the PyTorch
operator: row blocks of (rows, N, C) intermediates, recomputed in backward) against
``impl='compiled'`` (``mmseg_ranet/csrc/jensen_shannon.cpp``: a vectorised logarithm over contiguous
columns). ``fwd`` is the table without autograd, ``fwd+bwd`` adds the backward of a random upstream
gradient. Each cell runs in a fresh process (``benchmarks/common.py``); the agreement table gives the
largest differences of E and of dL/d(log P) between the two on the same input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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

NUM_CLASSES = 19
IMPLS = ("torch", "compiled")


def _inputs(size: int):
    import torch

    generator = torch.Generator().manual_seed(size)
    logits = 3 * torch.randn(1, NUM_CLASSES, size * size, generator=generator)
    upstream = torch.rand(1, size * size, size * size, generator=generator)
    return torch.log_softmax(logits, 1), upstream


def worker_measure(form: str, impl: str, size: int, mode: str, repeats: int, budget_s: float) -> dict:
    import torch

    from mmseg_ranet.models.ops import jensen_shannon_table

    log_probs, upstream = _inputs(size)
    if mode == "fwd":

        def run():
            with torch.no_grad():
                jensen_shannon_table(log_probs, form, impl=impl)

    else:

        def run():
            leaf = log_probs.clone().requires_grad_(True)
            jensen_shannon_table(leaf, form, impl=impl).backward(upstream)

    return time_and_memory(run, repeats, budget_s)


def worker_agreement(form: str, size: int) -> dict:
    from mmseg_ranet.models.ops import jensen_shannon_table

    log_probs, upstream = _inputs(size)
    outputs = {}
    for impl in IMPLS:
        leaf = log_probs.clone().requires_grad_(True)
        table = jensen_shannon_table(leaf, form, impl=impl)
        table.backward(upstream)
        outputs[impl] = (table.detach(), leaf.grad)
    return {
        "value": (outputs["torch"][0] - outputs["compiled"][0]).abs().max().item(),
        "grad": (outputs["torch"][1] - outputs["compiled"][1]).abs().max().item(),
        "grad_scale": outputs["torch"][1].abs().max().item(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small maps (smoke run)")
    parser.add_argument("--sizes", type=int, nargs="+", help="map sizes (default 24 48 97)")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per cell after a warm-up run")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds of runs per cell before stopping")
    parser.add_argument("--timeout", type=float, default=300.0, help="wall-clock limit of one cell's process")
    parser.add_argument("--memory-cap-gib", type=float, default=8.0, help="stop a cell's process above this")
    parser.add_argument(
        "--output", default="semantic_table", help="name of the result files (without suffix)"
    )
    add_out_dir(parser)
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        if args.worker[0] == "agreement":
            emit(worker_agreement(args.worker[1], int(args.worker[2])))
        else:
            form, impl, size, mode = args.worker[0], args.worker[1], int(args.worker[2]), args.worker[3]
            emit(worker_measure(form, impl, size, mode, args.repeats, args.budget))
        return

    sizes = args.sizes or ([12, 24] if args.quick else [24, 48, 97])
    if args.quick:
        args.output += "_quick"
        args.repeats = min(args.repeats, 1)
    script = str(Path(__file__).resolve())
    common = ["--repeats", str(args.repeats), "--budget", str(args.budget)]
    machine = machine_description()
    cap = args.memory_cap_gib * 1024
    cells, agreement = {}, {}
    for size in sizes:
        for form in ("full", "binary"):
            for impl in IMPLS:
                for mode in ("fwd", "fwd+bwd"):
                    key = f"{form}/{impl}/{size}/{mode}"
                    cells[key] = run_worker(
                        [script, "--worker", form, impl, str(size), mode, *common], args.timeout, cap
                    )
                    print(f"  {key}: {cells[key]['status']} {fmt_time(cells[key].get('time_s'))}", flush=True)
            agreement[f"{form}/{size}"] = run_worker(
                [script, "--worker", "agreement", form, str(size)], args.timeout, cap
            )

    rows = []
    for size in sizes:
        for form in ("full", "binary"):
            row = [f"{size}x{size}", str(size * size), form]
            for impl in IMPLS:
                for mode in ("fwd", "fwd+bwd"):
                    cell = cells[f"{form}/{impl}/{size}/{mode}"]
                    row.append(fmt_time(cell["time_s"]) if cell.get("status") == "ok" else cell.get("status"))
            speedups = []
            for mode in ("fwd", "fwd+bwd"):
                slow, fast = cells[f"{form}/torch/{size}/{mode}"], cells[f"{form}/compiled/{size}/{mode}"]
                ok = slow.get("status") == "ok" and fast.get("status") == "ok"
                speedups.append(f"{slow['time_s'] / fast['time_s']:.1f}x" if ok else "-")
            row.append(" / ".join(speedups))
            peak = cells[f"{form}/compiled/{size}/fwd+bwd"]
            row.append(fmt_mib(peak.get("peak_mib")) if peak.get("status") == "ok" else "-")
            check = agreement[f"{form}/{size}"]
            row.append(
                f"{check['value']:.1e} / {check['grad'] / max(check['grad_scale'], 1e-30):.1e}"
                if check.get("status") == "ok"
                else check.get("status")
            )
            rows.append(row)
    headers = [
        "map",
        "N",
        "form",
        "PyTorch fwd",
        "PyTorch fwd+bwd",
        "compiled fwd",
        "compiled fwd+bwd",
        "speed-up fwd / fwd+bwd",
        "compiled peak MiB",
        "max abs diff E / rel. diff grad",
    ]
    note = (
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['threads']} threads, torch "
        f"{machine['torch']}, load average {machine['load_average_at_start']} at start, {machine['date_utc']}. "
        f"One image, float32, {NUM_CLASSES} classes. Times: median of up to {args.repeats} runs after a "
        "warm-up. Peak MiB: extra resident memory of the compiled fwd+bwd call (the output table itself is "
        "N^2 floats). The gradient difference is relative to the largest gradient entry."
    )
    markdown = "## Semantic term E (B = 1, float32)\n\n" + markdown_table(headers, rows) + "\n\n" + note
    print()
    print(markdown)
    md_path, _ = write_results(
        args.output, markdown, {"machine": machine, "cells": cells, "agreement": agreement}, args.out_dir
    )
    print(f"\nwritten: {md_path}")


if __name__ == "__main__":
    main()
