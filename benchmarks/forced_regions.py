"""RANetHead with a chosen region map, for benchmarking the Region Interaction Block at fixed region counts.

The regions a head finds depend on its weights; the cost of its Region Interaction Block depends on the
number of regions. To measure the head at a chosen count, :func:`forcing_regions` wraps the streamed
Region Construction Block's per-image region step: the head still computes its score table and its own
decision and regions (so the measured work includes them), then the chosen map replaces the regions and
the region mean of F is taken over the chosen regions. Everything downstream (J, its gradient through the
recomputed D and E, representatives, the three attentions) runs on the chosen map.

Maps on an h x w grid:

* ``'image'``: one region;
* ``'objects'``: a fixed Voronoi partition of the grid around 12 seeds (about one region per object);
* ``'pixel'``: every pixel its own region.
"""

from __future__ import annotations

import contextlib
import math

import torch
from torch import Tensor

FORCED_REGIONS = ("image", "objects", "pixel")
OBJECT_SEEDS = 12


def forced_region_map(kind: str, num_pixels: int) -> Tensor:
    """Region ids (num_pixels,) of the chosen partition of a square grid of ``num_pixels`` cells.

    Args:
        kind (str): One of ``FORCED_REGIONS``.
        num_pixels (int): Cells of the grid; the grid is side x side with side = sqrt(num_pixels).

    Returns:
        Tensor: int64 region ids, contiguous from 0.
    """
    if kind not in FORCED_REGIONS:
        raise ValueError(f"forced regions must be one of {FORCED_REGIONS}, got {kind!r}")
    if kind == "image":
        return torch.zeros(num_pixels, dtype=torch.long)
    if kind == "pixel":
        return torch.arange(num_pixels)
    side = math.isqrt(num_pixels)
    if side * side != num_pixels:
        raise ValueError(f"'objects' regions need a square grid, got {num_pixels} cells")
    seeds = torch.rand(OBJECT_SEEDS, 2, generator=torch.Generator().manual_seed(0)) * side
    rows, cols = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    cells = torch.stack([rows.flatten(), cols.flatten()], dim=1).float()
    nearest = torch.cdist(cells, seeds).argmin(dim=1)
    return torch.unique(nearest, return_inverse=True)[1]


@contextlib.contextmanager
def forcing_regions(kind: str):
    """Inside the block, every streamed RANetHead uses the ``kind`` region map (see the module docstring)."""
    from mmseg_ranet.models.ops import region_scores

    original = getattr(region_scores, "_regions_and_sums", None)
    if original is None:
        raise RuntimeError("mmseg_ranet.models.ops.region_scores has no _regions_and_sums step to replace")

    def forced(score, weight, bias, log_probs, spec):
        original(score, weight, bias, log_probs, spec)
        region = forced_region_map(kind, score.shape[0]).to(score.device)
        count = torch.tensor(int(region.max()) + 1, device=score.device)
        return region, count, region_scores.region_sums(score, region, log_probs, spec)

    region_scores._regions_and_sums = forced
    try:
        yield
    finally:
        region_scores._regions_and_sums = original
