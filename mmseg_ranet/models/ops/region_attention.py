"""The three attentions of RANet's Region Interaction Block on padded representative lists.

Notation (paper): A are the features, J the representativeness, phi(R_q) the representatives of region
q. Every function works on a batch whose images have different numbers of regions and representatives:
the representatives are a padded list with a validity mask, and masks restrict each softmax.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

GLOBAL_SOFTMAX_MODES = ("per_region", "joint")
# Score-table elements (batch x query rows x keys) of one chunk of queries: on the CPU, and on an
# accelerator (larger chunks, fewer kernels: the bounded lists of the device path make the tables N x N).
DEFAULT_CHUNK_ELEMENTS = 1 << 22
DEVICE_CHUNK_ELEMENTS = 1 << 26


def _by_query_chunks(
    fn, rows: list[Tensor], shared: list[Tensor], keys: int, chunk_elements: int | None
) -> Tensor:
    """``fn(*rows, *shared)`` evaluated for chunks of query rows (dim 1 of every tensor in ``rows``).

    Every query's output depends on its own row only, so chunks give the same result as one call. With
    gradients each chunk is recomputed in backward (activation checkpointing): the (queries, keys) score,
    mask and weight tables are then held for one chunk at a time instead of for all queries, which matters
    when regions are small and the representatives number in the thousands.
    """
    batch, num_rows = rows[0].shape[:2]
    if chunk_elements is None:
        chunk_elements = DEFAULT_CHUNK_ELEMENTS if rows[0].device.type == "cpu" else DEVICE_CHUNK_ELEMENTS
    step = max(1, chunk_elements // max(1, batch * keys))
    if step >= num_rows:
        return fn(*rows, *shared)
    track = torch.is_grad_enabled() and any(t.requires_grad for t in (*rows, *shared))
    outputs = []
    for start in range(0, num_rows, step):
        part = [t[:, start : start + step] for t in rows]
        if track:
            outputs.append(checkpoint(fn, *part, *shared, use_reentrant=False))
        else:
            outputs.append(fn(*part, *shared))
    return torch.cat(outputs, dim=1)


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
    chunk_elements: int | None = None,
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
        chunk_elements (int, optional): Score-table elements per chunk of representatives (memory knob);
            None: 2**22 for CPU tensors, 2**26 elsewhere.

    Returns:
        Tensor: A^l, (B, M, C); zero rows where padded.
    """
    weighted = representativeness.unsqueeze(-1) * value
    rep_query = _gather_rows(query, rep_pixel)
    rep_term = representativeness.gather(1, rep_pixel).unsqueeze(-1) * _gather_rows(value, rep_pixel)
    is_rep = None
    if restrict_to_region:
        num_pixels = region.shape[1]
        # Padded entries scatter into a spare column so they cannot clear a real representative.
        rep_or_spare = torch.where(rep_valid, rep_pixel, num_pixels)
        is_rep = region.new_zeros(region.shape[0], num_pixels + 1, dtype=torch.bool)
        is_rep = is_rep.scatter(1, rep_or_spare, True)[:, :num_pixels]
    fn = functools.partial(_local_rows, restrict_to_region=restrict_to_region, scale=scale)
    shared = [weighted, region] + ([is_rep] if is_rep is not None else [])
    rows = [rep_query, rep_term, rep_region, rep_valid]
    return _by_query_chunks(fn, rows, shared, region.shape[1], chunk_elements)


def _local_rows(
    rep_query, rep_term, rep_region, rep_valid, weighted, region, is_rep=None, *, restrict_to_region, scale
):
    allowed = rep_valid.unsqueeze(2).expand(-1, -1, region.shape[1])
    if restrict_to_region:
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
    chunk_elements: int | None = None,
    single_shortcut: bool = True,
    bounded: bool = False,
) -> Tensor:
    """Global context A^g_qk = J(p_qk) A^l_qk + sum_{s != q} sum_{i in phi(R_s)} W^g_qski J(p_si) A^l_si.

    Paper: other regions only, the softmax normalised over each other region's representatives
    (``softmax_mode='per_region'``). Released code: all representatives, one softmax (``'joint'``).

    With ``'per_region'``, a region with a single representative gets weight 1 from every query whatever
    the score, so its term is the plain sum of those regions' values (minus the query's own one): with
    ``single_shortcut`` these regions skip the score table, which is what keeps one region per pixel at
    O(M C) instead of O(M^2 C). Only regions with several representatives are scored (their (M x
    multi-representative keys) table is inherent to the formula).

    Args:
        local (Tensor): A^l, (B, M, C) (keys and values).
        rep_representativeness (Tensor): J at the representatives, (B, M).
        rep_region, rep_valid (Tensor): The padded representative list, (B, M).
        num_regions (int): Largest number of regions in the batch.
        exclude_own_region (bool): Interact only across different regions. Defaults to True.
        softmax_mode (str): ``'per_region'`` or ``'joint'``. Defaults to ``'per_region'``.
        scale (bool): Divide scores by sqrt(C). Defaults to False.
        query (Tensor, optional): Query features (B, M, C); defaults to ``local``.
        chunk_elements (int, optional): Score-table elements per chunk of representatives (memory knob);
            None: 2**22 for CPU tensors, 2**26 elsewhere.
        single_shortcut (bool): Sum single-representative regions without scores (same values and
            gradients). Defaults to True.
        bounded (bool): Size the scored keys and their segments by static bounds (all M list entries,
            ``num_regions`` segments) instead of the counts of the batch, which are read on the host (a
            sync on an accelerator). Same values. Defaults to False.

    Returns:
        Tensor: A^g, (B, M, C); zero rows where padded.
    """
    if softmax_mode not in GLOBAL_SOFTMAX_MODES:
        raise ValueError(f"global softmax mode must be one of {GLOBAL_SOFTMAX_MODES}, got {softmax_mode!r}")
    query = local if query is None else query
    weighted = rep_representativeness.unsqueeze(-1) * local
    fn = functools.partial(
        _global_rows, exclude_own_region=exclude_own_region, softmax_mode=softmax_mode, scale=scale
    )
    rows = [query, weighted, rep_region, rep_valid]
    if softmax_mode != "per_region" or not single_shortcut:
        shared = [weighted, rep_region, rep_valid, rep_region.clamp_min(0)]
        fn = functools.partial(fn, num_segments=max(1, num_regions))
        return _by_query_chunks(fn, rows, shared, weighted.shape[1], chunk_elements)
    batch = rep_region.shape[0]
    counts = torch.zeros(batch, num_regions + 1, dtype=torch.long, device=rep_region.device)
    counts.scatter_add_(1, torch.where(rep_valid, rep_region, num_regions), torch.ones_like(rep_region))
    several = counts[:, :num_regions] > 1
    single = rep_valid & ~several.gather(1, rep_region.clamp_min(0))
    single_values = weighted * single.unsqueeze(-1)
    single_part = single_values.sum(dim=1, keepdim=True)
    if exclude_own_region:
        single_part = single_part - single_values
    # Scored keys: the representatives of regions with several of them, first in each row.
    keep = rep_valid & ~single
    width = rep_valid.shape[1] if bounded else int(keep.sum(dim=1).max())
    if width == 0:
        return (weighted + single_part) * rep_valid.unsqueeze(-1)
    order = torch.argsort((~keep).to(torch.uint8), dim=1, stable=True)[:, :width]
    key_region = rep_region.gather(1, order)
    key_valid = keep.gather(1, order)
    key_weighted = weighted.gather(1, order.unsqueeze(-1).expand(-1, -1, weighted.shape[-1]))
    # Segment ids numbered over the scored regions only, so the per-region tables stay that small.
    renumber = several.long().cumsum(dim=1) - 1
    key_segment = renumber.gather(1, key_region.clamp_min(0)).clamp_min(0)
    num_segments = num_regions if bounded else int(several.sum(dim=1).max())
    fn = functools.partial(fn, num_segments=max(1, num_segments))
    shared = [key_weighted, key_region, key_valid, key_segment]
    scored = _by_query_chunks(fn, rows, shared, width, chunk_elements)
    return scored + single_part * rep_valid.unsqueeze(-1)


def _global_rows(
    query,
    own_weighted,
    own_region,
    own_valid,
    weighted,
    rep_region,
    rep_valid,
    rep_segment,
    *,
    num_segments,
    exclude_own_region,
    softmax_mode,
    scale,
):
    allowed = own_valid.unsqueeze(2) & rep_valid.unsqueeze(1)
    if exclude_own_region:
        allowed = allowed & (own_region.unsqueeze(2) != rep_region.unsqueeze(1))
    scores = _scores(query, weighted, scale)
    if softmax_mode == "per_region":
        weights = segment_softmax(scores, allowed, rep_segment, num_segments)
    else:
        weights = masked_softmax(scores, allowed)
    return (own_weighted + torch.bmm(weights, weighted)) * own_valid.unsqueeze(-1)


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
    chunk_elements: int | None = None,
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
        chunk_elements (int, optional): Score-table elements per chunk of pixels (memory knob); None:
            2**22 for CPU tensors, 2**26 elsewhere.

    Returns:
        Tensor: O, (B, N, C).
    """
    weighted = rep_representativeness.unsqueeze(-1) * global_context
    fn = functools.partial(_distribution_rows, restrict_to_region=restrict_to_region, scale=scale)
    rows = [query, value, representativeness, region]
    return _by_query_chunks(fn, rows, [weighted, rep_region, rep_valid], weighted.shape[1], chunk_elements)


def _distribution_rows(
    query, value, representativeness, region, weighted, rep_region, rep_valid, *, restrict_to_region, scale
):
    allowed = rep_valid.unsqueeze(1).expand(-1, region.shape[1], -1)
    if restrict_to_region:
        allowed = allowed & (region.unsqueeze(2) == rep_region.unsqueeze(1))
    weights = masked_softmax(_scores(query, weighted, scale), allowed)
    return representativeness.unsqueeze(-1) * value + torch.bmm(weights, weighted)


def _gather_rows(features: Tensor, index: Tensor) -> Tensor:
    return features.gather(1, index.unsqueeze(-1).expand(-1, -1, features.shape[-1]))
