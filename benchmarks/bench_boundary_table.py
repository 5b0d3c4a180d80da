"""Benchmark of RANet's boundary term D: per-pair PyTorch vs displacement-grouped PyTorch vs compiled.

    python benchmarks/bench_boundary_table.py            # 24x24, 48x48, 97x97 (a few minutes)
    python benchmarks/bench_boundary_table.py --quick    # 12x12 only: smoke run

One boundary map (B = 1) of uniform random probabilities. Every (implementation, size, mode) cell is
measured in a fresh process (see ``benchmarks/common.py`` for the memory method); times are the median of
up to ``--repeats`` runs after a warm-up run. ``fwd`` is the forward without autograd; ``fwd+bwd`` is the
forward with autograd plus the backward of a fixed random upstream gradient. The per-pair baseline holds
every (pair, step) sample at once, so it runs only where its memory stays under the cap; elsewhere its
cost is extrapolated from its largest measured size in proportion to N^2 * (max(H, W) - 2), the number of
(pair, step) elements it materialises, and labelled as extrapolated.
"""

from __future__ import annotations

import argparse
import functools
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

IMPLEMENTATIONS = ("per_pair", "grouped", "compiled")
LABELS = {
    "per_pair": "per-pair PyTorch (all pairs at once)",
    "grouped": "displacement-grouped PyTorch (`boundary_max_table`)",
    "compiled": "compiled C++/OpenMP (`boundary_max_table_compiled`)",
}


def per_pair_boundary_max(boundary: Tensor) -> Tensor:
    """Straightforward vectorised D: every pair's samples gathered at once (t padded to the longest L).

    Released sampling, walked from the raster-earlier pixel of each pair (as the other implementations do,
    so gradients of ties agree too). Memory is O(N^2 * max(H, W)).
    """
    batch, height, width = boundary.shape
    num_pixels = height * width
    device = boundary.device
    index = torch.arange(num_pixels, device=device)
    ys, xs = index // width, index % width
    first = torch.minimum(index[:, None], index[None, :])
    last = torch.maximum(index[:, None], index[None, :])
    src_y, src_x = ys[first], xs[first]
    dy, dx = ys[last] - src_y, xs[last] - src_x
    length = torch.maximum(dy.abs(), dx.abs())
    safe_length = length.clamp_min(1).unsqueeze(-1)
    steps = max(height, width) - 2
    if steps < 1:
        return boundary.new_zeros(batch, num_pixels, num_pixels)
    t = torch.arange(1, steps + 1, device=device).view(1, 1, -1)
    x_major = (dx.abs() >= dy.abs()).unsqueeze(-1)
    num_y, num_x = t * dy.unsqueeze(-1), t * dx.unsqueeze(-1)
    floor_y = torch.div(num_y, safe_length, rounding_mode="floor")
    floor_x = torch.div(num_x, safe_length, rounding_mode="floor")
    weight = torch.where(x_major, num_y - floor_y * safe_length, num_x - floor_x * safe_length).to(
        boundary.dtype
    ) / safe_length.to(boundary.dtype)
    low_y, low_x = src_y.unsqueeze(-1) + floor_y, src_x.unsqueeze(-1) + floor_x
    del num_y, num_x, floor_y, floor_x
    lower = low_y.clamp(0, height - 1) * width + low_x.clamp(0, width - 1)
    upper = (low_y + x_major).clamp(0, height - 1) * width + (low_x + ~x_major).clamp(0, width - 1)
    del low_y, low_x
    flat = boundary.reshape(batch, num_pixels)
    a, c = flat[:, lower], flat[:, upper]
    samples = a + weight * (c - a)
    samples = samples.masked_fill(t >= length.unsqueeze(-1), float("-inf"))
    best = samples.max(dim=-1).values.clamp_min(0)
    return torch.where(length <= 1, torch.zeros_like(best), best)


def _implementation(name: str):
    if name == "per_pair":
        return per_pair_boundary_max
    if name in ("grouped", "compiled"):
        # Name the implementation explicitly: the operator's default ('auto') would pick the compiled one.
        # impl='compiled' raises with the reason when the extension is unavailable.
        from mmseg_ranet.models.ops.boundary_max_table import boundary_max_table

        impl = "torch" if name == "grouped" else "compiled"
        return functools.partial(boundary_max_table, impl=impl)
    raise ValueError(name)


def worker_measure(name: str, size: int, mode: str, repeats: int, budget_s: float) -> dict:
    fn = _implementation(name)
    generator = torch.Generator().manual_seed(size)
    boundary = torch.rand(1, size, size, generator=generator)
    if mode == "fwd":

        def run():
            with torch.no_grad():
                fn(boundary)

    else:
        upstream = torch.rand(1, size * size, size * size, generator=generator)

        def run():
            leaf = boundary.clone().requires_grad_(True)
            fn(leaf).backward(upstream)

    return time_and_memory(run, repeats, budget_s)


def worker_agreement(size: int, with_per_pair: bool) -> dict:
    """Max |difference| of D and of its gradient between the implementations (same input, same upstream)."""
    generator = torch.Generator().manual_seed(size)
    boundary = torch.rand(1, size, size, generator=generator)
    upstream = torch.rand(1, size * size, size * size, generator=generator)
    names = ["compiled", "grouped"] + (["per_pair"] if with_per_pair else [])
    outputs = {}
    for name in names:
        leaf = boundary.clone().requires_grad_(True)
        table = _implementation(name)(leaf)
        table.backward(upstream)
        outputs[name] = (table.detach(), leaf.grad)
    result = {}
    for other in names[1:]:
        result[f"compiled_vs_{other}"] = {
            "value": (outputs["compiled"][0] - outputs[other][0]).abs().max().item(),
            "grad": (outputs["compiled"][1] - outputs[other][1]).abs().max().item(),
            "grad_scale": outputs[other][1].abs().max().item(),
        }
    return result


def cuda_section() -> str:
    if not torch.cuda.is_available():
        return "CUDA: skipped (torch.cuda.is_available() is False on this machine; no CUDA kernel is built)."
    return (
        "CUDA: a GPU is present, but the compiled operator is CPU-only and the PyTorch operators are not "
        "benchmarked on GPU by this script."
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes only (smoke run)")
    parser.add_argument("--sizes", type=int, nargs="+", help="map sizes (default 24 48 97; quick: 12)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per cell after a warm-up run")
    parser.add_argument("--budget", type=float, default=30.0, help="seconds of runs per cell before stopping")
    parser.add_argument("--timeout", type=float, default=600.0, help="wall-clock limit of one cell's process")
    parser.add_argument("--memory-cap-gib", type=float, default=6.0, help="stop a cell's process above this")
    parser.add_argument(
        "--output", default="boundary_table", help="name of the result files (without suffix)"
    )
    add_out_dir(parser)
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        if args.worker[0] == "agreement":
            emit(worker_agreement(int(args.worker[1]), args.worker[2] == "1"))
        else:
            name, size, mode = args.worker[0], int(args.worker[1]), args.worker[2]
            emit(worker_measure(name, size, mode, args.repeats, args.budget))
        return

    sizes = args.sizes or ([12] if args.quick else [24, 48, 97])
    if args.quick:
        args.output = args.output + "_quick"
        args.repeats = min(args.repeats, 1)
    cap_mib = args.memory_cap_gib * 1024
    script = str(Path(__file__).resolve())
    common = ["--repeats", str(args.repeats), "--budget", str(args.budget)]
    machine = machine_description()
    print(
        f"# Boundary term D, one {'/'.join(map(str, sizes))} map, {machine['cpu']}, {machine['threads']} threads"
    )
    cells: dict = {}
    reference_size = None  # largest size where the per-pair baseline ran, for extrapolation
    for size in sizes:
        elements = (size * size) ** 2 * max(size - 2, 1)
        for name in IMPLEMENTATIONS:
            for mode in ("fwd", "fwd+bwd"):
                key = f"{name}/{size}/{mode}"
                if name == "per_pair" and reference_size is not None:
                    ref = cells[f"per_pair/{reference_size}/{mode}"]
                    ref_elements = (reference_size**2) ** 2 * max(reference_size - 2, 1)
                    predicted = ref.get("peak_mib", 0) * elements / ref_elements
                    if ref.get("status") == "ok" and predicted > cap_mib:
                        scale = elements / ref_elements
                        cells[key] = {
                            "status": "extrapolated",
                            "time_s": ref["time_s"] * scale,
                            "peak_mib": ref["peak_mib"] * scale,
                            "from_size": reference_size,
                        }
                        print(f"  {key}: extrapolated from {reference_size}x{reference_size}", flush=True)
                        continue
                result = run_worker(
                    [script, "--worker", name, str(size), mode, *common], args.timeout, cap_mib
                )
                cells[key] = result
                print(f"  {key}: {result.get('status')} {fmt_time(result.get('time_s'))}", flush=True)
        if cells.get(f"per_pair/{size}/fwd+bwd", {}).get("status") == "ok":
            reference_size = size
        agreement = run_worker(
            [script, "--worker", "agreement", str(size), "1" if reference_size == size else "0"],
            args.timeout,
            cap_mib,
        )
        cells[f"agreement/{size}"] = agreement

    headers = ["map", "N", "implementation", "fwd time", "fwd peak MiB", "fwd+bwd time", "fwd+bwd peak MiB"]
    headers += ["speed-up fwd / fwd+bwd vs grouped"]
    rows = []
    for size in sizes:
        grouped = (cells[f"grouped/{size}/fwd"], cells[f"grouped/{size}/fwd+bwd"])
        for name in IMPLEMENTATIONS:
            fwd, both = cells[f"{name}/{size}/fwd"], cells[f"{name}/{size}/fwd+bwd"]

            def show_time(cell):
                if cell.get("status") == "extrapolated":
                    return f"~{fmt_time(cell['time_s'])} (extrapolated)"
                if cell.get("status") != "ok":
                    return cell.get("status", "?")
                return fmt_time(cell["time_s"])

            def show_mib(cell):
                if cell.get("status") == "extrapolated":
                    return f"~{fmt_mib(cell['peak_mib'])} (extrapolated)"
                return fmt_mib(cell.get("peak_mib")) if cell.get("status") == "ok" else "-"

            def ratio(cell, base):
                if "time_s" not in cell or "time_s" not in base:
                    return "-"
                return f"{base['time_s'] / cell['time_s']:.1f}x"

            rows.append(
                [
                    f"{size}x{size}",
                    str(size * size),
                    LABELS[name],
                    show_time(fwd),
                    show_mib(fwd),
                    show_time(both),
                    show_mib(both),
                    f"{ratio(fwd, grouped[0])} / {ratio(both, grouped[1])}",
                ]
            )
    table = markdown_table(headers, rows)

    agree_rows = []
    for size in sizes:
        agreement = cells[f"agreement/{size}"]
        if agreement.get("status") != "ok":
            agree_rows.append([f"{size}x{size}", "-", agreement.get("status", "?"), "-", "-"])
            continue
        for key, value in agreement.items():
            if key == "status":
                continue
            other = key.split("_vs_")[1]
            agree_rows.append(
                [
                    f"{size}x{size}",
                    f"compiled vs {other}",
                    f"{value['value']:.2e}",
                    f"{value['grad']:.2e}",
                    f"{value['grad_scale']:.3g}",
                ]
            )
    agree_table = markdown_table(
        ["map", "pair", "max abs diff D", "max abs diff dL/db", "max abs dL/db"], agree_rows
    )
    note = (
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['threads']} threads, torch "
        f"{machine['torch']}, load average {machine['load_average_at_start']} at start, {machine['date_utc']}. "
        "Times: median of the timed runs after a warm-up (a single run when one run exceeds the budget). "
        "Peak MiB: extra resident memory of the call (VmHWM after clear_refs, fresh process per cell)."
    )
    markdown = "\n\n".join(
        [
            "## Boundary term D (B = 1, float32)",
            table,
            "Agreement (same input and upstream gradient):",
            agree_table,
        ]
    )
    markdown += "\n\n" + note + "\n\n" + cuda_section()
    print()
    print(markdown)
    md_path, json_path = write_results(
        args.output, markdown, {"machine": machine, "cells": cells}, args.out_dir
    )
    print(
        f"\nwritten: {md_path.relative_to(Path.cwd()) if md_path.is_relative_to(Path.cwd()) else md_path}, "
        f"{json_path.name}"
    )


if __name__ == "__main__":
    main()
