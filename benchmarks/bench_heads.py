"""Benchmark of whole decode heads: RANet (both variants) vs mmseg's NLHead, OCRHead, CCHead, DAHead.

    python benchmarks/bench_heads.py            # 65x65 and 97x97 feature maps (tens of minutes on 2 cores)
    python benchmarks/bench_heads.py --quick    # 9x9, fewer heads: smoke run

Inputs are random backbone features of a dilated ResNet (output stride 8), batch 2: stage 3 with 1024
channels and stage 4 with 2048 channels at the same size (a 513x513 crop gives 65x65, 769x769 gives 97x97).
Every head is built through ``mmseg.registry.MODELS`` from its config (RANet from
``configs/_base_/models/ranet_r50-d8.py``; the peers from mmseg's own ``_base_/models`` files, OCRHead with
its FCN first stage as in ``ocrnet_r50-d8.py``), with BN instead of SyncBN and 19 classes. Each
(head, size, mode) cell runs in a fresh process; ``train`` is forward + backward of the sum of the means of
all outputs in training mode, ``infer`` is the eval-mode forward under ``torch.no_grad()``. Time ratios
are to NLHead in the same run. The peers' configs also carry an auxiliary FCNHead on stage 3, which
RANet does not need (its stage-3 branch is part of the head); it is measured as its own row so that it can
be added to a peer's numbers.

The cost of RANet's Region Interaction Block depends on the number of regions, which random features do
not control. The ``ranet_paper_regions_*`` rows run the same head (same forward and backward, including
its own region construction) on a chosen region map: one region per image, a fixed partition into 12
blobs (about one region per object) and one region per pixel (see ``forced_regions.py``). The ``_dense``
row is the one-region-per-pixel case with masked dense local collection and distribution
(``attention_impl='dense'``, the computation before the segment form; its global interaction already
sums the single-representative regions without scores, as every row does).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    ROOT,
    add_out_dir,
    cuda_time_and_memory,
    emit,
    fmt_mib,
    fmt_time,
    machine_description,
    markdown_table,
    run_worker,
    time_and_memory,
    write_results,
)
from benchmarks.forced_regions import OBJECT_SEEDS, forcing_regions  # noqa: E402

HEADS = {
    # name: (config file, label)
    "nl": ("mmseg:nonlocal_r50-d8.py", "NLHead (non-local)"),
    "ocr": ("mmseg:ocrnet_r50-d8.py", "FCNHead + OCRHead"),
    "cc": ("mmseg:ccnet_r50-d8.py", "CCHead (criss-cross, recurrence 2)"),
    "da": ("mmseg:danet_r50-d8.py", "DAHead (position + channel)"),
    "ranet_paper": ("configs/_base_/models/ranet_r50-d8.py", "RANetHead (paper variant)"),
    "ranet_official": ("configs/_base_/models/ranet_r50-d8.py", "RANetHead (official variant)"),
    "ranet_paper_small_regions": (
        "configs/_base_/models/ranet_r50-d8.py",
        "RANetHead (paper variant), about one region per pixel (construction.region_threshold=0.99)",
    ),
    "ranet_paper_dense": (
        "configs/_base_/models/ranet_r50-d8.py",
        "RANetHead (paper variant), dense tables (construction.stream_tables=False)",
    ),
    "ranet_paper_torch": (
        "configs/_base_/models/ranet_r50-d8.py",
        "RANetHead (paper variant), pure PyTorch ops (no compiled D, E)",
    ),
    "ranet_paper_device": (
        "configs/_base_/models/ranet_r50-d8.py",
        "RANetHead (paper variant), device path on the CPU (PyTorch operators, bounded lists: no host sync)",
    ),
    "ranet_official_device": (
        "configs/_base_/models/ranet_r50-d8.py",
        "RANetHead (official variant), device path on the CPU (PyTorch operators, bounded lists: no host sync)",
    ),
    "ranet_paper_regions_image": (
        "configs/_base_/models/ranet_r50-d8.py",
        "RANetHead (paper variant), regions forced: 1 per image",
    ),
    "ranet_paper_regions_objects": (
        "configs/_base_/models/ranet_r50-d8.py",
        f"RANetHead (paper variant), regions forced: {OBJECT_SEEDS} blobs per image",
    ),
    "ranet_paper_regions_pixel": (
        "configs/_base_/models/ranet_r50-d8.py",
        "RANetHead (paper variant), regions forced: 1 per pixel",
    ),
    "ranet_paper_regions_pixel_dense": (
        "configs/_base_/models/ranet_r50-d8.py",
        "RANetHead (paper variant), regions forced: 1 per pixel, interaction.attention_impl='dense'",
    ),
    "aux_fcn": ("mmseg:nonlocal_r50-d8.py", "FCNHead (peers' auxiliary head, stage 3)"),
}
# Rows whose head runs on a chosen region map (see forced_regions.py): name -> map.
FORCED = {
    "ranet_paper_regions_image": "image",
    "ranet_paper_regions_objects": "objects",
    "ranet_paper_regions_pixel": "pixel",
    "ranet_paper_regions_pixel_dense": "pixel",
}
# The pure-PyTorch RANet rows (``_torch``, ``_device``) are left out of the default run: at 65x65 and 97x97
# their D alone takes minutes on a CPU (see bench_boundary_table.py); ask for them with --heads.
ORDER = [
    "nl",
    "ocr",
    "cc",
    "da",
    "ranet_paper",
    "ranet_official",
    "ranet_paper_small_regions",
    "ranet_paper_dense",
    "ranet_paper_regions_image",
    "ranet_paper_regions_objects",
    "ranet_paper_regions_pixel",
    "aux_fcn",
]
QUICK_ORDER = [
    "nl",
    "ocr",
    "ranet_paper",
    "ranet_official",
    "ranet_paper_dense",
    "ranet_paper_torch",
    "ranet_paper_regions_image",
    "ranet_paper_regions_objects",
    "ranet_paper_regions_pixel",
    "ranet_paper_regions_pixel_dense",
]


def _config_path(spec: str) -> Path:
    if spec.startswith("mmseg:"):
        import mmseg

        return Path(mmseg.__file__).parent / ".mim" / "configs" / "_base_" / "models" / spec[len("mmseg:") :]
    return ROOT / spec


def official_settings() -> dict:
    """The official variant's head settings (``configs/_base_/models/ranet_official.py``)."""
    from mmengine.config import Config

    return Config.fromfile(str(ROOT / "configs/_base_/models/ranet_official.py")).ranet_official.to_dict()


def build_head(name: str):
    """The head's modules (a list: OCR has two stages) built through the registry, in float32 BN form."""
    import torch
    from mmengine.config import Config
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import init_default_scope

    init_default_scope("mmseg")
    from mmseg.registry import MODELS

    import mmseg_ranet  # noqa: F401  (registers RANetHead)

    config = Config.fromfile(str(_config_path(HEADS[name][0]))).model
    if name == "aux_fcn":
        head_cfgs = [config.auxiliary_head]
    elif isinstance(config.decode_head, list):
        head_cfgs = list(config.decode_head)
    else:
        head_cfgs = [config.decode_head]
    modules = []
    for head_cfg in head_cfgs:
        head_cfg.norm_cfg = dict(type="BN", requires_grad=True)
        head_cfg.num_classes = 19
        if name.startswith("ranet_"):
            if name in ("ranet_official", "ranet_official_device"):
                head_cfg.update(official_settings())
            # The default rows are the head as users get it (compiled operators when available, streamed
            # tables); the other rows switch one thing off.
            if name == "ranet_paper_small_regions":
                # Random features give one or a few large regions; a trained paper-variant model can end
                # with about one region per pixel (see the README), where the RIB attends between
                # thousands of representatives. This row measures that case.
                head_cfg.construction.region_threshold = 0.99
            if name == "ranet_paper_dense":
                head_cfg.construction.stream_tables = False
            if name == "ranet_paper_torch":
                head_cfg.construction.boundary_impl = head_cfg.construction.semantic_impl = "torch"
            if name.endswith("_device"):
                # What a CUDA tensor gets with the default 'auto' settings, forced on the CPU.
                from mmseg_ranet.models.decode_heads import DEVICE_PATH_SETTINGS

                head_cfg.construction.update(DEVICE_PATH_SETTINGS["construction"])
                head_cfg.interaction.update(DEVICE_PATH_SETTINGS["interaction"])
            if name.endswith("_dense") and name in FORCED:
                head_cfg.interaction.attention_impl = "dense"
        modules.append(revert_sync_batchnorm(MODELS.build(head_cfg)))
    torch.manual_seed(0)
    return modules


def _outputs_loss(outputs):
    import torch

    if isinstance(outputs, torch.Tensor):
        return outputs.float().mean()
    return sum(_outputs_loss(item) for item in outputs)


def _forward(modules, inputs):
    if len(modules) == 1:
        return modules[0](inputs)
    first = modules[0](inputs)
    return first, modules[1](inputs, first)


#: ``--worker`` precisions: ``fp32``, or the forward under ``torch.autocast`` in that dtype (the backward
#: outside it, no loss scaling: a timing, not a training step).
PRECISIONS = ("fp32", "float16", "bfloat16")


def worker_measure(
    name: str,
    size: int,
    modes: list[str],
    repeats: int,
    budget_s: float,
    device: str = "cpu",
    precision: str = "fp32",
) -> dict:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    modules = [module.to(device) for module in build_head(name)]
    if name in FORCED:
        with forcing_regions(FORCED[name]):
            return _measure(modules, name, size, modes, repeats, budget_s, device, precision)
    return _measure(modules, name, size, modes, repeats, budget_s, device, precision)


def _measure(
    modules,
    name: str,
    size: int,
    modes: list[str],
    repeats: int,
    budget_s: float,
    device: str,
    precision: str = "fp32",
) -> dict:
    import contextlib

    import torch

    def autocast():
        if precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=device, dtype=getattr(torch, precision))

    generator = torch.Generator().manual_seed(size)
    inputs = [
        torch.randn(2, channels, size, size, generator=generator).to(device)
        for channels in (256, 512, 1024, 2048)
    ]
    result = {}
    for mode in modes:
        if mode == "train":
            for module in modules:
                module.train()

            def run():
                for module in modules:
                    module.zero_grad(set_to_none=True)
                with autocast():
                    loss = _outputs_loss(_forward(modules, inputs))
                loss.backward()

        else:
            for module in modules:
                module.eval()

            def run():
                with torch.no_grad(), autocast():
                    _forward(modules, inputs)

        if device == "cuda":
            result[mode] = cuda_time_and_memory(run, repeats, budget_s)
        else:
            result[mode] = time_and_memory(run, repeats, budget_s)
    result["parameters"] = sum(p.numel() for module in modules for p in module.parameters())
    return result


def worker_agreement(variant: str, size: int) -> dict:
    """The compiled CPU path against the device path of one variant: one train step, same weights, inputs
    and dropout masks; max abs differences of the outputs and of every gradient."""
    import time

    import torch

    compiled = build_head(f"ranet_{variant}")[0]
    device_path = build_head(f"ranet_{variant}_device")[0]
    device_path.load_state_dict(compiled.state_dict())
    generator = torch.Generator().manual_seed(size)
    inputs = [
        torch.randn(2, channels, size, size, generator=generator) for channels in (256, 512, 1024, 2048)
    ]
    steps, times = {}, {}
    for name, head in (("compiled", compiled), ("device", device_path)):
        head.train()
        leaves = [x.clone().requires_grad_() for x in inputs]
        torch.manual_seed(1)  # the same dropout masks
        start = time.perf_counter()
        outputs = head.forward_regions(leaves)
        _outputs_loss(tuple(outputs[:4])).backward()
        times[name] = time.perf_counter() - start
        grads = {f"input{i}": x.grad for i, x in enumerate(leaves) if x.grad is not None}
        grads.update({n: p.grad for n, p in head.named_parameters() if p.grad is not None})
        steps[name] = (outputs, grads)
    (reference, reference_grads), (outputs, grads) = steps["compiled"], steps["device"]
    logits = ("seg_logits", "stage3_logits", "boundary_logits", "stage3_boundary_logits")
    grad_diff = {n: float((grads[n] - g).abs().max()) for n, g in reference_grads.items()}
    worst = max(grad_diff, key=grad_diff.get)
    return {
        "status": "ok",
        "same_regions": bool(torch.equal(outputs.region, reference.region)),
        "num_regions": reference.num_regions.tolist(),
        "logits_max_abs_diff": max(
            float((getattr(outputs, n) - getattr(reference, n)).abs().max()) for n in logits
        ),
        "logits_max_abs": max(float(getattr(reference, n).abs().max()) for n in logits),
        "j_max_abs_diff": float((outputs.representativeness - reference.representativeness).abs().max()),
        "grad_max_abs_diff": grad_diff[worst],
        "grad_worst": worst,
        "grad_worst_max_abs": float(reference_grads[worst].abs().max()),
        "grad_max_relative_diff": max(
            grad_diff[n] / max(float(g.abs().max()), 1e-30) for n, g in reference_grads.items()
        ),
        "same_gradient_set": set(grads) == set(reference_grads),
        "train_time_s": times,
    }


def _agreement_table(cells: dict) -> str:
    headers = [
        "map",
        "variant",
        "regions (per image)",
        "same regions",
        "max abs diff logits (max abs logit)",
        "max abs diff J",
        "max abs diff gradient (of, its max abs)",
        "max relative diff gradient",
        "train step compiled / device path",
    ]
    rows = []
    for key, cell in cells.items():
        size, variant = key.split("/")
        if cell.get("status") != "ok":
            rows.append([f"{size}x{size}", variant, cell.get("status", "?"), "-", "-", "-", "-", "-", "-"])
            continue
        rows.append(
            [
                f"{size}x{size}",
                variant,
                ", ".join(str(n) for n in cell["num_regions"]),
                "yes" if cell["same_regions"] else "no",
                f"{cell['logits_max_abs_diff']:.2e} ({cell['logits_max_abs']:.2f})",
                f"{cell['j_max_abs_diff']:.2e}",
                f"{cell['grad_max_abs_diff']:.2e} ({cell['grad_worst']}, {cell['grad_worst_max_abs']:.2e})",
                f"{cell['grad_max_relative_diff']:.2e}",
                f"{fmt_time(cell['train_time_s']['compiled'])} / {fmt_time(cell['train_time_s']['device'])}",
            ]
        )
    return markdown_table(headers, rows)


def _measure_cells(
    script: str, heads: list[str], sizes: list[int], common: list[str], args, device: str
) -> dict:
    cells: dict = {}
    for size in sizes:
        for name in heads:
            if args.quick:
                # One process for both modes keeps the smoke run short; the full run isolates every cell.
                result = run_worker(
                    [script, "--worker", name, str(size), "train,infer", device, *common],
                    args.timeout,
                    args.memory_cap_gib * 1024,
                )
                for mode in ("train", "infer"):
                    cell = dict(result.get(mode, {}), status=result["status"])
                    cells[f"{name}/{size}/{mode}"] = cell
                    print(
                        f"  {name}/{size}/{mode}: {cell['status']} {fmt_time(cell.get('time_s'))}", flush=True
                    )
                continue
            for mode in args.modes:
                result = run_worker(
                    [script, "--worker", name, str(size), mode, device, *common],
                    args.timeout,
                    args.memory_cap_gib * 1024,
                )
                cell = dict(result.get(mode, {}), status=result["status"])
                cells[f"{name}/{size}/{mode}"] = cell
                print(f"  {name}/{size}/{mode}: {cell['status']} {fmt_time(cell.get('time_s'))}", flush=True)
    return cells


def _table(cells: dict, heads: list[str], sizes: list[int]) -> str:
    headers = [
        "map",
        "head",
        "train time",
        "x NLHead",
        "train peak MiB",
        "infer time",
        "x NLHead",
        "infer peak MiB",
    ]
    rows = []
    for size in sizes:
        for name in heads:
            row = [f"{size}x{size}", HEADS[name][1]]
            for mode in ("train", "infer"):
                cell = cells.get(f"{name}/{size}/{mode}", {"status": "not run"})
                base = cells.get(f"nl/{size}/{mode}", {})
                if cell.get("status") != "ok":
                    row += [cell.get("status", "?"), "-", "-"]
                    continue
                ratio = f"{cell['time_s'] / base['time_s']:.2f}" if base.get("status") == "ok" else "-"
                row += [fmt_time(cell["time_s"]), ratio, fmt_mib(cell["peak_mib"])]
            rows.append(row)
    return markdown_table(headers, rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="9x9 maps and fewer heads (smoke run)")
    parser.add_argument("--sizes", type=int, nargs="+", help="feature map sizes (default 65 97)")
    parser.add_argument(
        "--heads",
        nargs="*",
        choices=list(HEADS),
        help="heads to run (default: all but the pure-PyTorch RANet rows; none: only --agreement)",
    )
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per cell after a warm-up run")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds of runs per cell before stopping")
    parser.add_argument("--timeout", type=float, default=240.0, help="wall-clock limit of one cell's process")
    parser.add_argument("--memory-cap-gib", type=float, default=8.0, help="stop a cell's process above this")
    parser.add_argument("--output", default="heads", help="name of the result files (without suffix)")
    parser.add_argument(
        "--modes", nargs="+", choices=["train", "infer"], default=["train", "infer"], help="modes to measure"
    )
    parser.add_argument(
        "--agreement",
        nargs="+",
        choices=["paper", "official"],
        help="also compare the compiled and the device path of these variants (one train step per size)",
    )
    add_out_dir(parser)
    parser.add_argument("--jobs", type=int, default=1, help="agreement rows measured at once")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker and args.worker[0] == "agreement":
        emit(worker_agreement(args.worker[1], int(args.worker[2])))
        return
    if args.worker:
        name, size, modes = args.worker[0], int(args.worker[1]), args.worker[2].split(",")
        device = args.worker[3] if len(args.worker) > 3 else "cpu"
        precision = args.worker[4] if len(args.worker) > 4 else "fp32"
        emit(worker_measure(name, size, modes, args.repeats, args.budget, device, precision))
        return

    sizes = args.sizes or ([9] if args.quick else [65, 97])
    heads = args.heads if args.heads is not None else (QUICK_ORDER if args.quick else ORDER)
    if args.quick:
        args.output += "_quick"
        args.repeats = min(args.repeats, 1)
    script = str(Path(__file__).resolve())
    common = ["--repeats", str(args.repeats), "--budget", str(args.budget)]
    machine = machine_description()
    print(f"# Decode heads, batch 2, {machine['cpu']}, {machine['threads']} threads", flush=True)
    cells = _measure_cells(script, heads, sizes, common, args, "cpu")
    note = (
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['threads']} threads, torch "
        f"{machine['torch']}, load average {machine['load_average_at_start']} at start, {machine['date_utc']}. "
        f"Batch 2; stage-3 1024 and stage-4 2048 channels; 19 classes. Times: median of up to "
        f"{args.repeats} runs after a warm-up (one run when a run exceeds the {args.budget:.0f} s budget); "
        f"cells stop after {args.timeout:.0f} s or above {args.memory_cap_gib:.0f} GiB. Peak MiB: extra "
        "resident memory of the call (fresh process per cell; quick mode measures both modes in one process)."
    )
    markdown = "## Decode heads (batch 2, float32, CPU)\n\n" + _table(cells, heads, sizes) + "\n\n" + note
    payload = {"machine": machine, "cells": cells}
    if args.agreement:
        from concurrent.futures import ThreadPoolExecutor

        keys = [f"{size}/{variant}" for size in sizes for variant in args.agreement]

        def compare(key: str) -> dict:
            size, variant = key.split("/")
            result = run_worker(
                [script, "--worker", "agreement", variant, size], args.timeout, args.memory_cap_gib * 1024
            )
            print(f"  agreement {variant}/{size}: {result.get('status')}", flush=True)
            return result

        # --jobs processes at once (each a fresh process; on a shared machine their times are comparable
        # only within one row: the compiled and the device path of a row run in the same process).
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            agreement = dict(zip(keys, pool.map(compare, keys)))
        markdown += (
            "\n\n## Compiled CPU path vs device path (one train step, batch 2, float32, same weights, inputs "
            "and dropout masks; loss: sum of the means of the four outputs)\n\n" + _agreement_table(agreement)
        )
        payload["agreement"] = agreement

    import torch

    if torch.cuda.is_available():
        gpu = torch.cuda.get_device_name(0)
        print(f"# Decode heads on CUDA ({gpu})", flush=True)
        cuda_cells = _measure_cells(script, heads, sizes, common, args, "cuda")
        markdown += (
            f"\n\n## Decode heads (batch 2, float32, CUDA: {gpu})\n\n"
            + _table(cuda_cells, heads, sizes)
            + "\n\nPeak MiB: torch.cuda.max_memory_allocated above the tensors resident before the call. "
            "RANet's compiled operators are CPU-only; on CUDA its D and E use the PyTorch operators."
        )
        payload["cuda"] = {"device": gpu, "cells": cuda_cells}
    else:
        markdown += "\n\nCUDA: skipped (torch.cuda.is_available() is False on this machine)."
    print()
    print(markdown)
    md_path, _ = write_results(args.output, markdown, payload, args.out_dir)
    print(f"\nwritten: {md_path}")


if __name__ == "__main__":
    main()
