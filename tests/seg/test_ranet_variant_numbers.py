"""The two published presets keep their numbers: outputs, regions, losses and gradients of a tiny head.

``tests/seg/data/ranet_variant_numbers.pt`` holds them in float64 for a fixed seed, recorded before the
object-region switches existed (``python -m tests.seg.test_ranet_variant_numbers`` rewrites it). Any new
setting must leave the paper and official variants (``configs/_base_/models/ranet_paper.py``,
``ranet_official.py``) untouched when it is off.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_ranet  # noqa: F401

from .ranet_variants import DEVICE_PATH, path_settings, variant_settings

RECORD = Path(__file__).resolve().parent / "data" / "ranet_variant_numbers.pt"
VARIANTS = ("paper", "official")
SIZE = 9


def _head(variant: str, path: dict | None = None):
    init_default_scope("mmseg")
    construction, interaction = dict(region_threshold=0.9), dict(num_representatives=3)
    if path is None:
        settings = variant_settings(variant, construction, interaction)
    else:
        settings = path_settings(variant, path, construction, interaction)
    torch.manual_seed(0)
    head = MODELS.build(
        dict(
            type="RANetHead",
            in_channels=[8, 12],
            in_index=[2, 3],
            input_transform="multiple_select",
            channels=8,
            num_classes=4,
            dropout_ratio=0.0,
            norm_cfg=dict(type="BN"),
            **settings,
        )
    ).double()
    with torch.no_grad():
        # Confident, spatially varying C and b so that the images split into several regions.
        head.stage3_seg.weight.mul_(20)
        head.stage3_boundary_seg.weight.mul_(10)
    return head


def _samples():
    generator = torch.Generator().manual_seed(3)
    samples = []
    for _ in range(2):
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 4, (1, 4 * SIZE, 4 * SIZE), generator=generator))
        sample.gt_edge_map = PixelData(data=torch.randint(0, 2, (1, 4 * SIZE, 4 * SIZE), generator=generator))
        sample.set_metainfo(dict(img_shape=(4 * SIZE,) * 2, ori_shape=(4 * SIZE,) * 2))
        samples.append(sample)
    return samples


def compute_numbers(
    variant: str, path: dict | None = None, device: torch.device | str = "cpu"
) -> dict[str, torch.Tensor]:
    """Training outputs, regions, losses and every gradient of the tiny head for one variant (on the
    operators ``path`` selects, e.g. ``DEVICE_PATH``, and on ``device``), as CPU tensors."""
    head = _head(variant, path).to(device)
    head.train()
    generator = torch.Generator().manual_seed(1)
    inputs = [
        torch.randn(2, c, SIZE, SIZE, generator=generator, dtype=torch.float64).to(device).requires_grad_()
        for c in (4, 4, 8, 12)
    ]
    outputs = head.forward_regions(inputs)
    losses = head.loss_by_feat(tuple(outputs[:4]), [sample.to(device) for sample in _samples()])
    total = sum(value for name, value in losses.items() if name.startswith("loss"))
    total.backward()
    numbers = {f"output.{name}": getattr(outputs, name).detach() for name in outputs._fields[:4]}
    numbers["region"] = outputs.region
    numbers["num_regions"] = outputs.num_regions
    numbers["representativeness"] = outputs.representativeness.detach()
    numbers.update({f"loss.{name}": value.detach() for name, value in losses.items()})
    numbers.update({f"grad.input{i}": x.grad for i, x in enumerate(inputs) if x.grad is not None})
    numbers.update({f"grad.{name}": p.grad for name, p in head.named_parameters() if p.grad is not None})
    return {name: value.cpu() for name, value in numbers.items()}


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_keeps_its_recorded_numbers(variant):
    recorded = torch.load(RECORD)[variant]
    numbers = compute_numbers(variant)
    assert set(numbers) == set(recorded)
    assert int(recorded["num_regions"].min()) > 1, "the recorded images should split into several regions"
    for name, value in recorded.items():
        torch.testing.assert_close(numbers[name], value, rtol=1e-9, atol=1e-12, msg=name)


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_keeps_its_recorded_numbers_on_the_device_path(variant, device):
    """The path of an accelerator (PyTorch operators, bounded lists), on every device: the same numbers
    up to float64 summation order."""
    recorded = torch.load(RECORD)[variant]
    numbers = compute_numbers(variant, DEVICE_PATH, device)
    assert set(numbers) == set(recorded)
    for name, value in recorded.items():
        torch.testing.assert_close(numbers[name], value, rtol=1e-7, atol=1e-10, msg=name)


if __name__ == "__main__":
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    torch.save({variant: compute_numbers(variant) for variant in VARIANTS}, RECORD)
    print(f"wrote {RECORD}")
