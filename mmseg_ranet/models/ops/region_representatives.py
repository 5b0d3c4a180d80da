"""Representativeness J and representative pixels of RANet's Region Interaction Block."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


def region_representativeness(score: Tensor, region: Tensor) -> Tensor:
    """J_i = mean of ``score[i, j]`` over the pixels j of i's region.

    Computed as ``(score * M).sum(1) / M.sum(1)`` with M the same-region mask: O(N^2) instead of a
    loop over regions.

    Args:
        score (Tensor): F^g (paper) or F (released code), shape (B, N, N).
        region (Tensor): Region ids (B, N).

    Returns:
        Tensor: J with shape (B, N).
    """
    same_region = region.unsqueeze(2) == region.unsqueeze(1)
    total = torch.where(same_region, score, score.new_zeros(())).sum(dim=2)
    return total / same_region.sum(dim=2).to(score.dtype)


class Representatives(NamedTuple):
    """Representative pixels of all regions as a padded flat list per image.

    Attributes:
        pixel (Tensor): int64 (B, M) pixel index of each representative (0 where padded).
        region (Tensor): int64 (B, M) region id of each representative (-1 where padded).
        valid (Tensor): bool (B, M), False for padding; image b has ``valid[b].sum()`` entries.
    """

    pixel: Tensor
    region: Tensor
    valid: Tensor


@torch.no_grad()
def select_representatives(
    representativeness: Tensor, region: Tensor, num_representatives: int, width: int | None = None
) -> Representatives:
    """phi(R_q): the K pixels of every region with the highest J (all pixels of a region smaller than K).

    Pixels are sorted by (region, decreasing J) with two stable sorts, so ties keep raster order; a pixel
    is kept when its rank inside its region is below K. Only pixels of the region can be picked.
    Images with different numbers of regions are padded to the largest number of representatives.

    Args:
        representativeness (Tensor): J, shape (B, N).
        region (Tensor): Region ids (B, N), contiguous from 0.
        num_representatives (int): K.
        width (int, optional): Length M of the padded list. None counts the longest list of the batch
            (read on the host, a sync on an accelerator); a static bound such as N (every pixel at most
            once) keeps every shape independent of the data.

    Returns:
        Representatives: representatives ordered by region, then by decreasing J.
    """
    if num_representatives < 1:
        raise ValueError(f"num_representatives must be >= 1, got {num_representatives}")
    batch, num_pixels = region.shape
    device = region.device
    by_score = torch.argsort(representativeness, dim=1, descending=True, stable=True)
    by_region = torch.argsort(region.gather(1, by_score), dim=1, stable=True)
    order = by_score.gather(1, by_region)
    sorted_region = region.gather(1, order)
    region_size = torch.zeros(batch, num_pixels, dtype=torch.long, device=device)
    region_size.scatter_add_(1, region, torch.ones_like(region))
    region_start = region_size.cumsum(dim=1) - region_size
    rank = torch.arange(num_pixels, device=device).view(1, -1) - region_start.gather(1, sorted_region)
    keep = rank < num_representatives
    slot = keep.long().cumsum(dim=1) - 1
    if width is None:
        width = int(keep.sum(dim=1).max()) if num_pixels else 0
    elif width < 0:
        raise ValueError(f"width must be >= 0, got {width}")
    # Pixels left out (and any beyond ``width``) are scattered into one spare column, cut off after.
    slot = torch.where(keep, slot, width).clamp_max(width)
    pixel = torch.zeros(batch, width + 1, dtype=torch.long, device=device).scatter_(1, slot, order)
    rep_region = torch.full((batch, width + 1), -1, dtype=torch.long, device=device)
    rep_region = rep_region.scatter_(1, slot, sorted_region)
    valid = torch.zeros(batch, width + 1, dtype=torch.bool, device=device).scatter_(1, slot, keep)
    return Representatives(pixel[:, :width], rep_region[:, :width], valid[:, :width])
