"""GenerateRegionBoundary: boundary labels within 2 px (Euclidean) of a class change, packed for the head."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from mmseg.registry import TRANSFORMS
from mmseg.utils import stack_batch

import mmseg_ranet  # noqa: F401
import mmseg_ranet.datasets.transforms.boundary  # noqa: F401  (registers the transform)


def _boundary_reference(seg: np.ndarray, radius: float, ignore_index: int) -> np.ndarray:
    """Loops: a pixel is boundary when some class-change pixel lies within ``radius`` (Euclidean)."""
    height, width = seg.shape
    changes = []
    for y in range(height):
        for x in range(width):
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < height and 0 <= nx < width and seg[ny, nx] != seg[y, x]:
                    changes.append((y, x))
                    break
    out = np.zeros_like(seg, dtype=np.uint8)
    for y in range(height):
        for x in range(width):
            if any(math.hypot(y - cy, x - cx) <= radius for cy, cx in changes):
                out[y, x] = 1
    out[seg == ignore_index] = ignore_index
    return out


@pytest.mark.parametrize("radius", [0, 1, 2, 2.5])
def test_boundary_matches_loop_reference(radius):
    rng = np.random.default_rng(0)
    seg = np.zeros((20, 23), dtype=np.uint8)
    seg[3:12, 4:15] = 1
    seg[8:18, 10:21] = 2
    seg[rng.random(seg.shape) < 0.02] = 3
    seg[15:, :4] = 255
    init_default_scope("mmseg")
    transform = TRANSFORMS.build(dict(type="GenerateRegionBoundary", radius=radius))
    result = transform(dict(gt_seg_map=seg.copy()))
    np.testing.assert_array_equal(result["gt_edge_map"], _boundary_reference(seg, radius, 255))


def test_boundary_edge_cases_and_errors():
    init_default_scope("mmseg")
    transform = TRANSFORMS.build(dict(type="GenerateRegionBoundary"))
    flat = transform(dict(gt_seg_map=np.full((6, 7), 4, dtype=np.uint8)))["gt_edge_map"]
    assert flat.dtype == np.uint8 and not flat.any()
    ignored = transform(dict(gt_seg_map=np.full((6, 7), 255, dtype=np.uint8)))["gt_edge_map"]
    assert np.all(ignored == 255)
    with pytest.raises(KeyError, match="gt_seg_map"):
        transform(dict(img=np.zeros((4, 4, 3))))
    with pytest.raises(ValueError, match="radius"):
        TRANSFORMS.build(dict(type="GenerateRegionBoundary", radius=-1))


def test_pack_seg_inputs_carries_the_boundary_map_and_padding_ignores_it():
    init_default_scope("mmseg")
    seg = np.zeros((10, 12), dtype=np.uint8)
    seg[:, 6:] = 1
    results = dict(
        img=np.zeros((10, 12, 3), dtype=np.uint8), gt_seg_map=seg, img_shape=(10, 12), ori_shape=(10, 12)
    )
    results = TRANSFORMS.build(dict(type="GenerateRegionBoundary"))(results)
    packed = TRANSFORMS.build(dict(type="PackSegInputs"))(results)
    sample = packed["data_samples"]
    assert "gt_edge_map" in sample
    assert torch.equal(sample.gt_edge_map.data[0], torch.from_numpy(results["gt_edge_map"]).long())
    _, samples = stack_batch([packed["inputs"]], [sample], size=(16, 16), seg_pad_val=255)
    edge = samples[0].gt_edge_map.data
    assert edge.shape == (1, 16, 16) and torch.all(edge[:, 10:] == 255) and torch.all(edge[:, :, 12:] == 255)
