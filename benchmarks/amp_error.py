"""Error of RANetHead under mixed precision: the logits and gradients under autocast against fp32.

    python benchmarks/amp_error.py                      # 65x65 stage features, batch 2, paper variant
    python benchmarks/amp_error.py --size 33 --variant official --threshold 0.99

The head is built from ``configs/_base_/models/ranet_r50-d8.py`` (1024 + 2048 input channels, 512
channels, 19 classes, BN instead of SyncBN, no dropout so that both runs see the same network) on random
stage-3 and stage-4 features. One training step's losses (``loss_by_feat`` on random labels and boundary
labels) are computed once in fp32 and once under ``torch.autocast(<device>, dtype)`` (CPU bf16 stands in
for CUDA AMP), from the same parameters and inputs, and the script prints the relative L2 error
||amp - fp32|| / ||fp32|| of the final logits, of the gradients of W^g and of the two inputs, and the
largest error over all parameter gradients, with the region counts of both runs.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


def _relative(value: torch.Tensor, reference: torch.Tensor) -> float:
    value, reference = value.double(), reference.double()
    return float((value - reference).norm() / reference.norm().clamp_min(1e-30))


def build_head(variant: str, threshold: float | None, device: str):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import mmseg_ranet  # noqa: F401  (registers the head)

    init_default_scope("mmseg")
    cfg = Config.fromfile(str(ROOT / "configs/_base_/models/ranet_r50-d8.py")).model.decode_head
    cfg.norm_cfg = dict(type="BN", requires_grad=True)
    cfg.dropout_ratio = 0.0
    if variant != "paper":
        fragment = Config.fromfile(str(ROOT / f"configs/_base_/models/ranet_{variant.replace('_', '-')}.py"))
        cfg.update(fragment[f"ranet_{variant}"])
    if threshold is not None:
        cfg.construction.region_threshold = threshold
    torch.manual_seed(0)
    head = MODELS.build(cfg.to_dict()).to(device)
    head.train()
    return head


def one_step(head, inputs, samples, autocast_dtype, device):
    from mmseg_ranet.models.decode_heads import RANetHead

    head.zero_grad(set_to_none=True)
    stage3, stage4 = (x.detach().clone().requires_grad_(True) for x in inputs)
    features = [stage3, stage3, stage3, stage4]
    with torch.autocast(
        device_type=device, dtype=autocast_dtype or torch.float32, enabled=autocast_dtype is not None
    ):
        outputs = head.forward_regions(features)
        train_outputs = (
            outputs.seg_logits,
            outputs.stage3_logits,
            outputs.boundary_logits,
            outputs.stage3_boundary_logits,
        )
        losses = RANetHead.loss_by_feat(head, train_outputs, samples)
        total = sum(value for key, value in losses.items() if "loss" in key)
    total.backward()
    grads = {name: p.grad.detach().clone() for name, p in head.named_parameters() if p.grad is not None}
    return (
        outputs.seg_logits.detach().float(),
        grads,
        stage3.grad.detach().clone(),
        stage4.grad.detach().clone(),
        outputs.num_regions.tolist(),
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=65, help="side of the stage features (65: a 513 crop)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--variant", default="paper", choices=("paper", "official", "object_regions"))
    parser.add_argument("--threshold", type=float, default=None, help="construction.region_threshold")
    parser.add_argument(
        "--class-scale",
        type=float,
        default=1.0,
        help="factor on the weights of C's classifier: > 1 makes C confident and splits images into "
        "several multi-pixel regions, as a trained head does (random features give one region)",
    )
    parser.add_argument("--dtype", default="bfloat16", choices=sorted(DTYPES))
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    head = build_head(args.variant, args.threshold, args.device)
    with torch.no_grad():
        head.stage3_seg.weight.mul_(args.class_scale)
    generator = torch.Generator().manual_seed(1)
    size, batch = args.size, args.batch
    inputs = [
        torch.randn(batch, channels, size, size, generator=generator).to(args.device)
        for channels in (1024, 2048)
    ]
    label_size = (size * 8, size * 8)
    samples = []
    for _ in range(batch):
        sample = SegDataSample()
        labels = torch.randint(0, 19, (1, *label_size), generator=generator)
        sample.gt_sem_seg = PixelData(data=labels.to(args.device))
        sample.gt_edge_map = PixelData(
            data=torch.randint(0, 2, (1, *label_size), generator=generator).to(args.device)
        )
        sample.set_metainfo(dict(img_shape=label_size, pad_shape=label_size, ori_shape=label_size))
        samples.append(sample)

    reference = one_step(head, inputs, samples, None, args.device)
    mixed = one_step(copy.deepcopy(head), inputs, samples, DTYPES[args.dtype], args.device)
    logits, grads, stage3_grad, stage4_grad, counts = reference
    print(
        f"variant={args.variant} threshold={args.threshold} class_scale={args.class_scale} size={size} "
        f"batch={batch} dtype={args.dtype}"
    )
    print(f"regions fp32 {counts}  autocast {mixed[4]}")
    print(f"logits: relative L2 {_relative(mixed[0], logits):.4f}")
    if "region_construction.decision_conv.weight" in grads:
        name = "region_construction.decision_conv.weight"
        print(
            f"W^g gradient: fp32 {grads[name].item():.4f}  autocast {mixed[1][name].item():.4f}  "
            f"relative {_relative(mixed[1][name], grads[name]):.4f}"
        )
    print(f"stage-3 input gradient: relative L2 {_relative(mixed[2], stage3_grad):.4f}")
    print(f"stage-4 input gradient: relative L2 {_relative(mixed[3], stage4_grad):.4f}")
    errors = {name: _relative(mixed[1][name], grad) for name, grad in grads.items()}
    worst = sorted(errors.items(), key=lambda item: -item[1])[:5]
    print("largest parameter-gradient errors: " + ", ".join(f"{name} {err:.4f}" for name, err in worst))


if __name__ == "__main__":
    main()
