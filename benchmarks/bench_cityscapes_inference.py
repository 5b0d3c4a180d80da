"""Inference on one full-size Cityscapes image (1024x2048) with the shipped RANet Cityscapes config.

    python benchmarks/bench_cityscapes_inference.py                 # slide (the config's test mode) and whole
    python benchmarks/bench_cityscapes_inference.py --modes slide   # the config as shipped only

The model is built from ``configs/ranet/ranet_r101-d8_4xb2-80k_cityscapes-769x769.py`` through mmseg's
registry (ResNet-101-D8 backbone and RANet head, BN instead of SyncBN on one process, random weights: no
checkpoint can be downloaded here, and the cost does not depend on the weights except through the number of
regions, which is reported) and run through ``EncoderDecoder.predict`` on a random image:

* ``slide``: the config's ``test_cfg`` (769x769 windows, stride 513: 2 x 4 = 8 windows, each a 97x97 region
  grid, N = 9409);
* ``whole``: ``test_cfg.mode='whole'``: one 128x256 region grid, N = 32768, where a single float N x N table
  is 4.3 GB.

Each mode runs in a fresh process with the peak-memory method of ``benchmarks/common.py`` (extra resident
memory of the call) and a memory cap; the table is printed and written to ``results/``.
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

CONFIG = "configs/ranet/ranet_r101-d8_4xb2-80k_cityscapes-769x769.py"


def worker_measure(config: str, mode: str, height: int, width: int, device: str = "cpu") -> dict:
    """Time and peak memory of one ``EncoderDecoder.predict`` of a random image on ``device``."""
    import torch
    from mmengine.config import Config
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import init_default_scope

    init_default_scope("mmseg")
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample

    import mmseg_ranet  # noqa: F401

    cfg = Config.fromfile(str(ROOT / config))
    cfg.model.pretrained = None
    if mode == "whole":
        cfg.model.test_cfg = dict(mode="whole")
    model = revert_sync_batchnorm(MODELS.build(cfg.model)).eval().to(device)
    torch.manual_seed(0)
    image = (torch.rand(1, 3, height, width) * 255).to(device)
    meta = dict(img_shape=(height, width), ori_shape=(height, width), pad_shape=(height, width))
    regions: list[int] = []
    head = model.decode_head
    original = head.forward_regions

    def counting(inputs):
        outputs = original(inputs)
        regions.extend(int(n) for n in outputs.num_regions)
        return outputs

    head.forward_regions = counting

    def run():
        with torch.no_grad():
            data = model.data_preprocessor(
                {"inputs": [image[0]], "data_samples": [SegDataSample(metainfo=meta)]}
            )
            predictions = model.predict(data["inputs"], data["data_samples"])
        assert predictions[0].pred_sem_seg.data.shape[-2:] == (height, width)

    measure = cuda_time_and_memory if device == "cuda" else time_and_memory
    result = measure(run, repeats=0, budget_s=0.0)
    result["windows"] = len(regions)
    result["regions"] = regions
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default=CONFIG, help="RANet Cityscapes config")
    parser.add_argument("--modes", nargs="+", default=["slide", "whole"], choices=["slide", "whole"])
    parser.add_argument("--size", type=int, nargs=2, default=[1024, 2048], metavar=("H", "W"))
    parser.add_argument("--timeout", type=float, default=1800.0, help="wall-clock limit of one mode")
    parser.add_argument("--memory-cap-gib", type=float, default=22.0, help="stop a mode's process above this")
    parser.add_argument(
        "--output", default="cityscapes_inference", help="name of the result files (without suffix)"
    )
    add_out_dir(parser)
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        device = args.worker[1] if len(args.worker) > 1 else "cpu"
        emit(worker_measure(args.config, args.worker[0], *args.size, device=device))
        return

    machine = machine_description()
    script = str(Path(__file__).resolve())
    cells = {}
    for mode in args.modes:
        print(f"  {mode}: running", flush=True)
        cells[mode] = run_worker(
            [script, "--worker", mode, "--config", args.config, "--size", *map(str, args.size)],
            args.timeout,
            args.memory_cap_gib * 1024,
        )
        print(f"  {mode}: {cells[mode]['status']} {fmt_time(cells[mode].get('time_s'))}", flush=True)
    height, width = args.size
    rows = []
    for mode, cell in cells.items():
        if mode == "slide":
            crop = (min(769, height), min(769, width))
            grid = f"{-(-crop[0] // 8)}x{-(-crop[1] // 8)} per window"
        else:
            grid = f"{-(-height // 8)}x{-(-width // 8)}"
        if cell.get("status") != "ok":
            rows.append([mode, grid, "-", cell.get("status", "?"), "-", "-"])
            continue
        regions = cell.get("regions", [])
        rows.append(
            [
                mode,
                grid,
                str(cell.get("windows", "-")),
                fmt_time(cell["time_s"]),
                fmt_mib(cell["peak_mib"]),
                f"{min(regions)}-{max(regions)}" if regions else "-",
            ]
        )
    table = markdown_table(["mode", "region grid", "head calls", "time", "peak MiB", "regions"], rows)
    note = (
        f"Config: `{args.config}` (ResNet-101-D8 + RANetHead, paper variant, random weights, BN). One "
        f"{height}x{width} image, `EncoderDecoder.predict` under `torch.no_grad()`. Machine: {machine['cpu']}, "
        f"{machine['cores']} cores, {machine['threads']} threads, torch {machine['torch']}, load average "
        f"{machine['load_average_at_start']} at start, {machine['date_utc']}. Peak MiB: extra resident memory "
        f"of the call (fresh process per mode); processes stop above {args.memory_cap_gib:.0f} GiB."
    )
    markdown = f"## Cityscapes inference, one {height}x{width} image (CPU)\n\n{table}\n\n{note}"
    print()
    print(markdown)
    md_path, _ = write_results(args.output, markdown, {"machine": machine, "cells": cells}, args.out_dir)
    print(f"\nwritten: {md_path}")


if __name__ == "__main__":
    main()
