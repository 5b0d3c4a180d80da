"""The region-restricted attentions of RANet's Region Interaction Block as segment operations.

In the paper's local collection a representative attends only to the pixels of its own region, and in its
distribution a pixel attends only to its own region's representatives. Evaluated as masked dense attention
(every query against every key) that is O(N M C) work, N^2 C with one region per pixel. Here each pixel
is paired with the at most K representatives of its own region through the :class:`RegionSlots` table,
so both attentions cost O(N K C) time and memory:

* distribution: K scores per pixel, softmax over its region's slots;
* local collection: K scores per pixel (one per representative of its region), softmax over the pixels
  of the region for each representative (a segment softmax: per-segment max and sum by scatter).

The results equal :func:`local_collection` and :func:`distribution` with ``restrict_to_region=True``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .region_representatives import Representatives
from .region_slots import RegionSlots
from .segment_products import gathered_dot, gathered_sum, segment_sum


def grouped_softmax(scores: Tensor, allowed: Tensor, group: Tensor, num_groups: int) -> Tensor:
    """Softmax over the items (dim 0) of each group, separately for every column.

    Args:
        scores (Tensor): (N, K) scores.
        allowed (Tensor): bool (N, K); other entries get weight 0.
        group (Tensor): int64 (N,) group of every item, in [0, num_groups).
        num_groups (int): Number of groups.

    Returns:
        Tensor: (N, K) weights; the allowed weights of each (group, column) sum to 1, a (group, column)
        without allowed items has none.
    """
    neg = torch.finfo(scores.dtype).min
    columns = scores.shape[1]
    index = group.unsqueeze(1).expand(-1, columns)
    filled = scores.detach().masked_fill(~allowed, neg)
    peak = scores.new_full((num_groups, columns), neg).scatter_reduce(
        0, index, filled, reduce="amax", include_self=True
    )
    # The maximum only stabilises exp; the softmax does not depend on it, so it carries no gradient.
    shifted = torch.where(allowed, scores - peak.index_select(0, group), scores.new_full((), neg))
    exp = torch.exp(shifted) * allowed
    total = scores.new_zeros(num_groups, columns).index_add_(0, group, exp)
    total = torch.where(total > 0, total, torch.ones_like(total))
    return exp / total.index_select(0, group)


def _masked_softmax(scores: Tensor, allowed: Tensor) -> Tensor:
    filled = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    return torch.softmax(filled, dim=-1) * allowed


def _gather_rows(features: Tensor, index: Tensor) -> Tensor:
    return features.gather(1, index.unsqueeze(-1).expand(-1, -1, features.shape[-1]))


def segment_local_collection(
    query: Tensor,
    value: Tensor,
    representativeness: Tensor,
    reps: Representatives,
    slots: RegionSlots,
    scale: bool = False,
) -> Tensor:
    """Paper's local context A^l_qk = J(p) A(p) + sum_{i in R_q minus phi(R_q)} W^l_qki (J_i A_i).

    W^l_qk = softmax over those i of A(p_qk) . (J_i A_i).

    Args:
        query (Tensor): Features used as queries, (B, N, C).
        value (Tensor): Features used as values, (B, N, C).
        representativeness (Tensor): J, (B, N).
        reps (Representatives): The padded representative list, (B, M).
        slots (RegionSlots): Its table layout (:func:`region_slots`).
        scale (bool): Divide scores by sqrt(C). Defaults to False.

    Returns:
        Tensor: A^l, (B, M, C); zero rows where padded.
    """
    batch, num_pixels, channels = value.shape
    weighted = (representativeness.unsqueeze(-1) * value).reshape(-1, channels)
    rep_query = slots.to_table(_gather_rows(query, reps.pixel))
    rep_term = representativeness.gather(1, reps.pixel).unsqueeze(-1) * _gather_rows(value, reps.pixel)
    # Pixels in region order: every region's pixels are then one contiguous run (see segment_products).
    weighted = slots.sorted_pixels(weighted)
    pixel_row = slots.sorted_pixels(slots.pixel_row)
    large_rows = not slots.bounded
    scores = gathered_dot(rep_query, weighted, pixel_row, large_rows)
    if scale:
        scores = scores / math.sqrt(channels)
    # The representatives themselves are left out of every collection.
    pixel_or_spare = torch.where(reps.valid, reps.pixel, num_pixels)
    is_rep = torch.zeros(batch, num_pixels + 1, dtype=torch.bool, device=value.device)
    is_rep = slots.sorted_pixels(is_rep.scatter(1, pixel_or_spare, True)[:, :num_pixels].reshape(-1))
    allowed = slots.slot_valid.index_select(0, pixel_row) & ~is_rep.unsqueeze(1)
    weights = grouped_softmax(scores, allowed, pixel_row, slots.num_rows)
    collected = segment_sum(weights, weighted, pixel_row, slots.num_rows, large_rows)
    return (rep_term + slots.to_list(collected, batch)) * reps.valid.unsqueeze(-1)


def segment_distribution(
    query: Tensor,
    value: Tensor,
    representativeness: Tensor,
    global_context: Tensor,
    rep_representativeness: Tensor,
    slots: RegionSlots,
    scale: bool = False,
) -> Tensor:
    """Paper's distribution O_i = J_i A_i + sum_{p in phi(R(i))} W^d_ip J(p) A^g_p.

    W^d_i = softmax over the representatives p of i's own region of A_i . (J(p) A^g_p).

    Args:
        query (Tensor): Pixel features used as queries, (B, N, C).
        value (Tensor): Pixel features of the residual term J_i A_i, (B, N, C).
        representativeness (Tensor): J, (B, N).
        global_context (Tensor): A^g, (B, M, C).
        rep_representativeness (Tensor): J at the representatives, (B, M).
        slots (RegionSlots): Table layout of the representative list (:func:`region_slots`).
        scale (bool): Divide scores by sqrt(C). Defaults to False.

    Returns:
        Tensor: O, (B, N, C).
    """
    batch, num_pixels, channels = value.shape
    keys = slots.to_table(rep_representativeness.unsqueeze(-1) * global_context)
    # Pixels in region order: every region's pixels are then one contiguous run (see segment_products).
    pixel_row = slots.sorted_pixels(slots.pixel_row)
    large_rows = not slots.bounded
    scores = gathered_dot(keys, slots.sorted_pixels(query.reshape(-1, channels)), pixel_row, large_rows)
    if scale:
        scores = scores / math.sqrt(channels)
    weights = _masked_softmax(scores, slots.slot_valid.index_select(0, pixel_row))
    context = slots.unsorted_pixels(gathered_sum(weights, keys, pixel_row, large_rows)).view(
        batch, num_pixels, channels
    )
    return representativeness.unsqueeze(-1) * value + context
