"""RANet's pairwise terms D and E for a list of pixel pairs instead of whole N x N tables.

A loss on the region decision only needs the score of a few sampled pairs; computing those pairs directly
keeps its cost at O(pairs x segment length) and its autograd graph small, whatever the map size. The
values are those of the table operators at the same entries (``boundary_max_table``, the end-point form of
``boundary_endpoints`` and ``jensen_shannon_table``); gradients come from autograd (max routes to the
arg-max sample, as the table operators do).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .boundary_max_table import segment_sample_geometry
from .jensen_shannon import BINARY_PROB_RANGE, DIVERGENCE_FORMS, _bernoulli_jsd


def _check_pairs(batch_index: Tensor, source: Tensor, target: Tensor, batch: int, num_pixels: int) -> None:
    if not (batch_index.shape == source.shape == target.shape) or source.dim() != 1:
        raise ValueError(
            "batch_index, source and target must be 1-D tensors of one length, got "
            f"{tuple(batch_index.shape)}, {tuple(source.shape)} and {tuple(target.shape)}"
        )
    if source.numel() and (
        int(batch_index.min()) < 0
        or int(batch_index.max()) >= batch
        or int(torch.minimum(source, target).min()) < 0
        or int(torch.maximum(source, target).max()) >= num_pixels
    ):
        raise ValueError(f"pair indices out of range for a batch of {batch} maps of {num_pixels} pixels")


def pair_boundary_term(
    boundary: Tensor, batch_index: Tensor, source: Tensor, target: Tensor, endpoints: bool = False
) -> Tensor:
    """D (or D' with ``endpoints``) of the pairs (source, target) of image ``batch_index``.

    Args:
        boundary (Tensor): Boundary probabilities (B, H, W).
        batch_index (Tensor): int64 (P,) image of each pair.
        source (Tensor): int64 (P,) raster index of pixel i.
        target (Tensor): int64 (P,) raster index of pixel j.
        endpoints (bool): Take the maximum with b_i and b_j too. Defaults to False.

    Returns:
        Tensor: (P,) ``D[batch_index, source, target]``.
    """
    batch, height, width = boundary.shape
    _check_pairs(batch_index, source, target, batch, height * width)
    flat = boundary.reshape(batch, -1)
    src_y, src_x = source // width, source % width
    dy = (target // width - src_y).view(-1, 1)
    dx = (target % width - src_x).view(-1, 1)
    length = torch.maximum(dy.abs(), dx.abs())
    longest = int(length.max()) if length.numel() else 0
    value = boundary.new_zeros(source.shape)
    if longest >= 2:
        step = torch.arange(1, longest, device=boundary.device).view(1, -1)
        lo_dy, lo_dx, up_dy, up_dx, weight = segment_sample_geometry(dy, dx, step, boundary.dtype)
        valid = step < length
        # Padded steps past a pair's end and the upper neighbour of a zero-weight sample may leave the map:
        # clamping keeps the reads legal; the mask and the zero weight remove them.
        lower = (src_y.view(-1, 1) + lo_dy).clamp(0, height - 1) * width + (src_x.view(-1, 1) + lo_dx).clamp(
            0, width - 1
        )
        upper = (src_y.view(-1, 1) + up_dy).clamp(0, height - 1) * width + (src_x.view(-1, 1) + up_dx).clamp(
            0, width - 1
        )
        rows = flat[batch_index]
        samples = torch.lerp(rows.gather(1, lower), rows.gather(1, upper), weight)
        samples = samples.masked_fill(~valid, float("-inf"))
        best = samples.max(dim=1).values
        value = torch.where(length.view(-1) >= 2, best.clamp_min(0), value)
    if endpoints:
        value = torch.maximum(value, torch.maximum(flat[batch_index, source], flat[batch_index, target]))
    return value


def pair_semantic_term(
    log_probs: Tensor,
    batch_index: Tensor,
    source: Tensor,
    target: Tensor,
    form: str = "full",
    normalize: bool = False,
) -> Tensor:
    """E of the pairs (source, target): the Jensen-Shannon divergence of ``jensen_shannon_table``.

    Args:
        log_probs (Tensor): Log class probabilities (B, num_classes, N).
        batch_index (Tensor): int64 (P,) image of each pair.
        source (Tensor): int64 (P,) pixel i (the binary form uses i's arg-max class).
        target (Tensor): int64 (P,) pixel j.
        form (str): ``'full'`` or ``'binary'``.
        normalize (bool): Divide by ln 2.

    Returns:
        Tensor: (P,) ``E[batch_index, source, target]``.
    """
    if form not in DIVERGENCE_FORMS:
        raise ValueError(f"form (divergence) must be one of {DIVERGENCE_FORMS}, got {form!r}")
    batch, _, num_pixels = log_probs.shape
    _check_pairs(batch_index, source, target, batch, num_pixels)
    lp_i = log_probs[batch_index, :, source]  # (P, C)
    lp_j = log_probs[batch_index, :, target]
    if form == "full":
        log_m = torch.logaddexp(lp_i, lp_j) - math.log(2.0)
        value = 0.5 * ((lp_i.exp() * (lp_i - log_m)).sum(-1) + (lp_j.exp() * (lp_j - log_m)).sum(-1))
    else:
        top_class = lp_i.argmax(dim=1, keepdim=True)
        low, high = BINARY_PROB_RANGE
        p = lp_i.exp().gather(1, top_class)[:, 0].clamp(low, high)
        q = lp_j.exp().gather(1, top_class)[:, 0].clamp(low, high)
        value = _bernoulli_jsd(p, q)
    return value / math.log(2.0) if normalize else value
