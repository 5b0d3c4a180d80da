"""Pixel matching between frame embeddings: MANet's global and local distance maps.

Both return, per object id ``0..O`` (0 = background), the distance of every query pixel to its nearest
labelled reference pixel, squashed to ``[0, 1)`` by ``2 * (sigmoid(d) - 0.5)``; 1 means "no match".

* Global matching compares every query pixel with every labelled pixel of the annotated frame.
* Local matching compares a query pixel with the previous frame's pixels in a window of
  ``+-max_distance`` positions at half resolution (``2 * max_distance`` pixels), as the authors'
  test configuration does (``MODEL_LOCAL_DOWNSAMPLE``): distances are computed between 2 x 2
  average-pooled embeddings, upsampled bilinearly to full size per window offset, and matched against
  the full-size labels read at twice the offset. Labels outside the frame count as background (the
  authors pad labels with 0) and embeddings outside it never match.

The authors compute these with one large unfold (hundreds of MB at 480p); here the window offsets are
visited row by row, which gives the same values in bounded memory on any device.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

__all__ = ["global_matching", "local_matching", "normalize_distance"]

#: distance of a pixel that has no reference pixel of an object (the authors' padding distance).
NO_MATCH = 1e20


def normalize_distance(distance: torch.Tensor) -> torch.Tensor:
    """Squash squared distances to ``[0, 1)``: ``2 * (sigmoid(d) - 0.5)``."""
    return (torch.sigmoid(distance) - 0.5) * 2


def global_matching(
    reference: torch.Tensor,
    reference_labels: torch.Tensor,
    query: torch.Tensor,
    num_ids: int,
    max_elements: int = 1 << 24,
) -> torch.Tensor:
    """Normalised distance of each query pixel to the nearest reference pixel of each id.

    Args:
        reference: ``C x h x w`` embedding of the annotated frame.
        reference_labels: ``h x w`` integer labels (-1 = unlabelled, ``0..num_ids-1`` = ids).
        query: ``C x h x w`` embedding of the frame to segment.
        num_ids: Number of ids (objects + background).
        max_elements: Bound on the size of one block of the distance matrix (memory).

    Returns:
        ``num_ids x h x w`` maps in ``[0, 1]`` (1 where an id has no labelled reference pixel).
    """
    channels, height, width = query.shape
    ref_flat = reference.reshape(channels, -1).t()
    labels = reference_labels.reshape(-1)
    keep = labels != -1
    ref_flat, labels = ref_flat[keep], labels[keep]
    query_flat = query.reshape(channels, -1).t()
    out = query.new_full((num_ids, query_flat.shape[0]), NO_MATCH)
    members = [(labels == i).nonzero().squeeze(1) for i in range(num_ids)]
    if ref_flat.shape[0]:
        # Squared distances expanded as |q|^2 + |r|^2 - 2 q.r, the authors' formula.
        ref_sq = (ref_flat * ref_flat).sum(1).unsqueeze(0)
        step = max(1, max_elements // ref_flat.shape[0])
        for start in range(0, query_flat.shape[0], step):
            block = query_flat[start : start + step]
            dist = (block * block).sum(1).unsqueeze(1) + ref_sq - 2.0 * block @ ref_flat.t()
            for i, index in enumerate(members):
                if index.numel():
                    out[i, start : start + step] = dist.index_select(1, index).amin(1)
    return normalize_distance(out).view(num_ids, height, width)


def _window_rows(padded: torch.Tensor, row: int, height: int, width: int, step: int) -> torch.Tensor:
    """The ``2m+1`` windows of one offset row: ``... x (2m+1) x height x width`` views of ``padded``."""
    rows = padded[..., row * step : row * step + height, :]
    return rows.unfold(-1, width, step).movedim(-2, -3)


def local_matching(
    query: torch.Tensor,
    previous: torch.Tensor,
    previous_labels: torch.Tensor,
    num_ids: int,
    max_distance: int = 12,
) -> torch.Tensor:
    """Normalised distance of each query pixel to the nearest nearby previous-frame pixel of each id.

    Args:
        query: ``C x h x w`` embedding of the frame to segment.
        previous: ``C x h x w`` embedding of the previous frame (or the query itself).
        previous_labels: ``h x w`` integer labels of the previous frame (-1 = unlabelled).
        num_ids: Number of ids (objects + background).
        max_distance: Window half-size at half resolution.

    Returns:
        ``num_ids x h x w`` maps in ``[0, 1]``.
    """
    _, height, width = query.shape
    span = 2 * max_distance + 1
    small_query = F.avg_pool2d(query[None], 2, 2)[0]
    small_prev = F.avg_pool2d(previous[None], 2, 2)[0]
    small_h, small_w = small_query.shape[-2:]
    padded = F.pad(small_prev, (max_distance,) * 4, value=NO_MATCH)
    coarse = []
    for row in range(span):
        shifted = _window_rows(padded, row, small_h, small_w, 1)  # C x span x h' x w'
        diff = small_query.unsqueeze(1) - shifted
        coarse.append((diff * diff).sum(0))
    distances = normalize_distance(torch.cat(coarse, 0))  # span^2 x h' x w', row-major offsets
    distances = F.interpolate(distances[None], size=(height, width), mode="bilinear", align_corners=True)[0]
    labels = F.pad(previous_labels.to(distances.dtype)[None], (2 * max_distance,) * 4)[0]
    out = distances.new_ones((num_ids, height, width))
    for row in range(span):
        shifted = _window_rows(labels, row, height, width, 2)  # span x h x w
        block = distances[row * span : (row + 1) * span]
        for i in range(num_ids):
            nearest = torch.where(shifted == i, block, torch.ones_like(block)).amin(0)
            out[i] = torch.minimum(out[i], nearest)
    return out
