"""The three attentions of RANet's Region Interaction Block on padded representative lists.

Notation (paper): A are the features, J the representativeness, phi(R_q) the representatives of region
q. Every function works on a batch whose images have different numbers of regions and representatives:
the representatives are a padded list with a validity mask, and masks restrict each softmax.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

GLOBAL_SOFTMAX_MODES = ("per_region", "joint")


def masked_softmax(scores: Tensor, mask: Tensor, dim: int = -1) -> Tensor:
    """Softmax restricted to ``mask``; rows without any allowed entry give all-zero weights (no NaN)."""
    filled = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(filled, dim=dim) * mask


def segment_softmax(scores: Tensor, mask: Tensor, segment: Tensor, num_segments: int) -> Tensor:
    """Softmax over the last axis, normalised separately inside each segment of keys.

    Args:
        scores (Tensor): (B, M, K) attention scores of M queries against K keys.
        mask (Tensor): bool (B, M, K) allowed query/key pairs.
        segment (Tensor): int64 (B, K) segment id of each key in [0, num_segments); ignored where masked.
        num_segments (int): Number of segments.

    Returns:
        Tensor: weights (B, M, K); the allowed weights of each (query, segment) sum to 1.
    """
    batch, queries, keys = scores.shape
    segment = segment.clamp_min(0).unsqueeze(1).expand(batch, queries, keys)
    neg = torch.finfo(scores.dtype).min
    filled = scores.detach().masked_fill(~mask, neg)
    seg_max = filled.new_full((batch, queries, max(1, num_segments)), neg)
    seg_max = seg_max.scatter_reduce(2, segment, filled, reduce="amax", include_self=True)
    # The maximum only stabilises exp; the softmax does not depend on it, so it carries no gradient.
    shifted = (scores - seg_max.gather(2, segment)).masked_fill(~mask, neg)
    exp = torch.exp(shifted) * mask
    seg_sum = exp.new_zeros(batch, queries, max(1, num_segments)).scatter_add(2, segment, exp)
    denom = seg_sum.gather(2, segment)
    return exp / torch.where(denom > 0, denom, torch.ones_like(denom))


def _scores(query: Tensor, key: Tensor, scale: bool) -> Tensor:
    scores = torch.bmm(query, key.transpose(1, 2))
    return scores / math.sqrt(query.shape[-1]) if scale else scores


def local_collection(
    query: Tensor,
    value: Tensor,
    representativeness: Tensor,
    region: Tensor,
    rep_pixel: Tensor,
    rep_region: Tensor,
    rep_valid: Tensor,
    restrict_to_region: bool = True,
    scale: bool = False,
) -> Tensor:
    """Local context A^l_qk = J(p) A(p) + sum_i W^l_qki (J_i A_i) for every representative p = p_qk.

    Paper: i runs over R_q minus phi(R_q) (``restrict_to_region=True``); released code: over all pixels.
    W^l = softmax_i(A(p) . (J_i A_i)).

    Args:
        query (Tensor): Features used as queries, (B, N, C).
        value (Tensor): Features used as values, (B, N, C) (the same tensor as ``query`` in the paper).
        representativeness (Tensor): J, (B, N).
        region (Tensor): Region ids, (B, N).
        rep_pixel, rep_region, rep_valid (Tensor): The padded representative list, (B, M).
        restrict_to_region (bool): Region-restricted collection. Defaults to True.
        scale (bool): Divide scores by sqrt(C). Defaults to False (neither paper nor code scales).

    Returns:
        Tensor: A^l, (B, M, C); zero rows where padded.
    """
    weighted = representativeness.unsqueeze(-1) * value
    rep_query = _gather_rows(query, rep_pixel)
    rep_term = representativeness.gather(1, rep_pixel).unsqueeze(-1) * _gather_rows(value, rep_pixel)
    allowed = rep_valid.unsqueeze(2).expand(-1, -1, region.shape[1])
    if restrict_to_region:
        num_pixels = region.shape[1]
        # Padded entries scatter into a spare column so they cannot clear a real representative.
        rep_or_spare = torch.where(rep_valid, rep_pixel, num_pixels)
        is_rep = region.new_zeros(region.shape[0], num_pixels + 1, dtype=torch.bool)
        is_rep = is_rep.scatter(1, rep_or_spare, True)[:, :num_pixels]
        allowed = allowed & (region.unsqueeze(1) == rep_region.unsqueeze(2)) & ~is_rep.unsqueeze(1)
    weights = masked_softmax(_scores(rep_query, weighted, scale), allowed)
    return (rep_term + torch.bmm(weights, weighted)) * rep_valid.unsqueeze(-1)


def global_interaction(
    local: Tensor,
    rep_representativeness: Tensor,
    rep_region: Tensor,
    rep_valid: Tensor,
    num_regions: int,
    exclude_own_region: bool = True,
    softmax_mode: str = "per_region",
    scale: bool = False,
    query: Tensor | None = None,
) -> Tensor:
    """Global context A^g_qk = J(p_qk) A^l_qk + sum_{s != q} sum_{i in phi(R_s)} W^g_qski J(p_si) A^l_si.

    Paper: other regions only, the softmax normalised over each other region's representatives
    (``softmax_mode='per_region'``). Released code: all representatives, one softmax (``'joint'``).

    Args:
        local (Tensor): A^l, (B, M, C) (keys and values).
        rep_representativeness (Tensor): J at the representatives, (B, M).
        rep_region, rep_valid (Tensor): The padded representative list, (B, M).
        num_regions (int): Largest number of regions in the batch.
        exclude_own_region (bool): Interact only across different regions. Defaults to True.
        softmax_mode (str): ``'per_region'`` or ``'joint'``. Defaults to ``'per_region'``.
        scale (bool): Divide scores by sqrt(C). Defaults to False.
        query (Tensor, optional): Query features (B, M, C); defaults to ``local``.

    Returns:
        Tensor: A^g, (B, M, C); zero rows where padded.
    """
    if softmax_mode not in GLOBAL_SOFTMAX_MODES:
        raise ValueError(f"global softmax mode must be one of {GLOBAL_SOFTMAX_MODES}, got {softmax_mode!r}")
    query = local if query is None else query
    weighted = rep_representativeness.unsqueeze(-1) * local
    allowed = rep_valid.unsqueeze(2) & rep_valid.unsqueeze(1)
    if exclude_own_region:
        allowed = allowed & (rep_region.unsqueeze(2) != rep_region.unsqueeze(1))
    scores = _scores(query, weighted, scale)
    if softmax_mode == "per_region":
        weights = segment_softmax(scores, allowed, rep_region, num_regions)
    else:
        weights = masked_softmax(scores, allowed)
    return (weighted + torch.bmm(weights, weighted)) * rep_valid.unsqueeze(-1)


def distribution(
    query: Tensor,
    value: Tensor,
    representativeness: Tensor,
    region: Tensor,
    global_context: Tensor,
    rep_representativeness: Tensor,
    rep_region: Tensor,
    rep_valid: Tensor,
    restrict_to_region: bool = True,
    scale: bool = False,
) -> Tensor:
    """O_i = J_i A_i + sum_p W^d_ip J(p) A^g_p, W^d = softmax_p(A_i . J(p) A^g_p).

    Paper: p runs over the representatives of i's own region; released code: over all representatives.

    Args:
        query (Tensor): Pixel features used as queries, (B, N, C).
        value (Tensor): Pixel features of the residual term J_i A_i, (B, N, C).
        representativeness (Tensor): J, (B, N).
        region (Tensor): Region ids, (B, N).
        global_context (Tensor): A^g, (B, M, C).
        rep_representativeness, rep_region, rep_valid (Tensor): J and the padded list, (B, M).
        restrict_to_region (bool): Own region's representatives only. Defaults to True.
        scale (bool): Divide scores by sqrt(C). Defaults to False.

    Returns:
        Tensor: O, (B, N, C).
    """
    weighted = rep_representativeness.unsqueeze(-1) * global_context
    allowed = rep_valid.unsqueeze(1).expand(-1, region.shape[1], -1)
    if restrict_to_region:
        allowed = allowed & (region.unsqueeze(2) == rep_region.unsqueeze(1))
    weights = masked_softmax(_scores(query, weighted, scale), allowed)
    return representativeness.unsqueeze(-1) * value + torch.bmm(weights, weighted)


def _gather_rows(features: Tensor, index: Tensor) -> Tensor:
    return features.gather(1, index.unsqueeze(-1).expand(-1, -1, features.shape[-1]))
