"""Partitions that replace the region decision's (an ablation or an oracle): one region per image, one
region per cell, or the regions given with the call (``'ground_truth'``: the GT segments of the label,
``ground_truth_regions``)."""

from __future__ import annotations

import torch
from torch import Tensor

#: Partitions that can replace the decision's regions (None: the regions of G).
FORCED_REGIONS = (None, "image", "pixel", "ground_truth")


def forced_regions(force_regions: str, batch: int, num_pixels: int, device) -> tuple[Tensor, Tensor]:
    """Region ids (B, N) and counts (B,) of one region per image (``'image'``) or per cell (``'pixel'``)."""
    if force_regions not in ("image", "pixel"):
        raise ValueError(f"force_regions must be 'image' or 'pixel' here, got {force_regions!r}")
    if force_regions == "image":
        region = torch.zeros(batch, num_pixels, dtype=torch.long, device=device)
        return region, torch.ones(batch, dtype=torch.long, device=device)
    region = torch.arange(num_pixels, device=device).expand(batch, num_pixels).clone()
    return region, torch.full((batch,), num_pixels, dtype=torch.long, device=device)


@torch.no_grad()
def forced_regions_and_sums(score: Tensor, force_regions: str) -> tuple[Tensor, Tensor, Tensor]:
    """One region per image (``'image'``) or per cell (``'pixel'``): ids, count and region sums of F."""
    num_pixels = score.shape[0]
    if force_regions == "image":
        region = torch.zeros(num_pixels, dtype=torch.long, device=score.device)
        return region, region.new_tensor(1), score.sum(dim=1)
    region = torch.arange(num_pixels, device=score.device)
    return region, region.new_tensor(num_pixels), score.diagonal().clone()
