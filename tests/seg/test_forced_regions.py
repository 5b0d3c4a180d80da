"""The head benchmark's forced region maps: the maps themselves, and the construction block using them."""

from __future__ import annotations

import pytest
import torch
from mmengine.registry import init_default_scope

from benchmarks.forced_regions import OBJECT_SEEDS, forced_region_map, forcing_regions
from mmseg_ranet.models.decode_heads.region_construction import RegionConstructionBlock
from mmseg_ranet.models.ops import region_representativeness, region_scores


def test_forced_region_maps():
    assert torch.equal(forced_region_map("image", 49), torch.zeros(49, dtype=torch.long))
    assert torch.equal(forced_region_map("pixel", 49), torch.arange(49))
    blobs = forced_region_map("objects", 33 * 33)
    assert int(blobs.max()) + 1 == OBJECT_SEEDS
    assert torch.equal(torch.unique(blobs), torch.arange(OBJECT_SEEDS))
    with pytest.raises(ValueError, match="forced regions must be one of .* got 'half'"):
        forced_region_map("half", 49)
    with pytest.raises(ValueError, match="square grid, got 50 cells"):
        forced_region_map("objects", 50)


@pytest.mark.parametrize("kind", ["image", "objects", "pixel"])
def test_construction_block_uses_the_forced_map(kind):
    init_default_scope("mmseg")
    generator = torch.Generator().manual_seed(3)
    class_logits = torch.randn(2, 5, 7, 7, generator=generator, dtype=torch.float64)
    boundary_logits = torch.randn(2, 2, 7, 7, generator=generator, dtype=torch.float64)
    block = RegionConstructionBlock().double()
    original = region_scores._regions_and_sums
    expected_region = forced_region_map(kind, 49).expand(2, -1)
    with forcing_regions(kind):
        _, j_values, region, counts = block(class_logits, boundary_logits)
    assert torch.equal(region, expected_region)
    assert torch.equal(counts, expected_region.max(1).values + 1)
    _, _, decision, _, _, _ = block.dense_tables(class_logits, boundary_logits)
    torch.testing.assert_close(j_values, region_representativeness(decision, expected_region))
    # Outside the block the head's own region step is back.
    assert region_scores._regions_and_sums is original
