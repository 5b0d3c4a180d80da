"""Products between pixels and the slot table of their own region, without (pixels x slots x C) tensors.

A slot table ``table`` (rows, K, C) holds K feature vectors per region row; ``index`` (N,) gives each
pixel's row. The three products below are the only ones the region-restricted attentions need:

* ``gathered_dot``: s[i, k] = table[index[i], k] . x[i]              -> (N, K)
* ``gathered_sum``: y[i] = sum_k w[i, k] table[index[i], k]           -> (N, C)
* ``segment_sum``:  t[r, k] = sum_{i: index[i] = r} w[i, k] x[i]      -> (rows, K, C)

Each one's gradients are the other two, so every backward is O(N K C) as well. Written by hand because
autograd through ``table[index]`` would keep an (N, K, C) gather for every product (about 300 MB per
product at a 97x97 map with K = 8 and C = 512), and PyTorch has no fused gather-dot / scatter-dot.
Rows with many items (large regions) are one matrix product each; the loops run over those rows and
over the K slots, never over pixels.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd import Function


def _check(table: Tensor, index: Tensor, num_items: int, other: Tensor, name: str) -> None:
    if table.dim() != 3:
        raise ValueError(f"table must be (rows, K, C), got shape {tuple(table.shape)}")
    if index.dim() != 1 or index.shape[0] != num_items:
        raise ValueError(
            f"index must be ({num_items},) for {name} {tuple(other.shape)}, got {tuple(index.shape)}"
        )


# Rows with at least this many items are computed as one matrix product each (reads every feature once)
# instead of through per-item gathers of the row (reads the row's K slots once per item).
LARGE_ROW_ITEMS = 128


def _split_rows(index: Tensor, num_rows: int) -> tuple[list[tuple[int, Tensor]], Tensor | None]:
    """The large rows with their items, and the items of the other rows (None when there are none)."""
    counts = torch.bincount(index, minlength=num_rows)
    large = (counts >= LARGE_ROW_ITEMS).nonzero().flatten().tolist()
    if not large:
        return [], torch.arange(index.shape[0], device=index.device)
    groups = [(row, (index == row).nonzero().flatten()) for row in large]
    in_large = (counts >= LARGE_ROW_ITEMS).index_select(0, index)
    small = (~in_large).nonzero().flatten()
    return groups, (small if small.numel() else None)


def _dot(table: Tensor, features: Tensor, index: Tensor) -> Tensor:
    out = features.new_empty(features.shape[0], table.shape[1])
    groups, small = _split_rows(index, table.shape[0])
    for row, items in groups:
        out[items] = features.index_select(0, items) @ table[row].t()
    if small is not None:
        part_features, part_index = features.index_select(0, small), index.index_select(0, small)
        part = torch.stack(
            [
                (table[:, k].index_select(0, part_index) * part_features).sum(dim=1)
                for k in range(table.shape[1])
            ],
            dim=1,
        )
        out[small] = part
    return out


def _sum(weights: Tensor, table: Tensor, index: Tensor) -> Tensor:
    out = table.new_empty(index.shape[0], table.shape[2])
    groups, small = _split_rows(index, table.shape[0])
    for row, items in groups:
        out[items] = weights.index_select(0, items) @ table[row]
    if small is not None:
        part_weights, part_index = weights.index_select(0, small), index.index_select(0, small)
        part = table.new_zeros(small.shape[0], table.shape[2])
        for k in range(table.shape[1]):
            part.addcmul_(table[:, k].index_select(0, part_index), part_weights[:, k : k + 1])
        out[small] = part
    return out


def _segment(weights: Tensor, features: Tensor, index: Tensor, num_rows: int) -> Tensor:
    out = features.new_zeros(num_rows, weights.shape[1], features.shape[1])
    groups, small = _split_rows(index, num_rows)
    for row, items in groups:
        out[row] = weights.index_select(0, items).t() @ features.index_select(0, items)
    if small is not None:
        part_weights, part_index = weights.index_select(0, small), index.index_select(0, small)
        part_features = features.index_select(0, small)
        flat = out.view(num_rows * weights.shape[1], features.shape[1])
        slots = part_index.unsqueeze(1) * weights.shape[1] + torch.arange(
            weights.shape[1], device=index.device
        )
        products = (part_weights.unsqueeze(2) * part_features.unsqueeze(1)).reshape(-1, features.shape[1])
        flat.index_put_((slots.reshape(-1),), products, accumulate=True)
    return out


class _GatheredDot(Function):
    @staticmethod
    def forward(ctx, table, features, index):  # type: ignore[override]
        ctx.save_for_backward(table, features, index)
        return _dot(table, features, index)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        table, features, index = ctx.saved_tensors
        grad_table = grad_features = None
        if ctx.needs_input_grad[0]:
            grad_table = segment_sum(grad, features, index, table.shape[0])
        if ctx.needs_input_grad[1]:
            grad_features = gathered_sum(grad, table, index)
        return grad_table, grad_features, None


class _GatheredSum(Function):
    @staticmethod
    def forward(ctx, weights, table, index):  # type: ignore[override]
        ctx.save_for_backward(weights, table, index)
        return _sum(weights, table, index)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        weights, table, index = ctx.saved_tensors
        grad_weights = grad_table = None
        if ctx.needs_input_grad[0]:
            grad_weights = gathered_dot(table, grad, index)
        if ctx.needs_input_grad[1]:
            grad_table = segment_sum(weights, grad, index, table.shape[0])
        return grad_weights, grad_table, None


class _SegmentSum(Function):
    @staticmethod
    def forward(ctx, weights, features, index, num_rows):  # type: ignore[override]
        ctx.save_for_backward(weights, features, index)
        return _segment(weights, features, index, num_rows)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        weights, features, index = ctx.saved_tensors
        grad_weights = grad_features = None
        if ctx.needs_input_grad[0]:
            grad_weights = gathered_dot(grad, features, index)
        if ctx.needs_input_grad[1]:
            grad_features = gathered_sum(weights, grad, index)
        return grad_weights, grad_features, None, None


def gathered_dot(table: Tensor, features: Tensor, index: Tensor) -> Tensor:
    """s[i, k] = table[index[i], k] . features[i].

    Args:
        table (Tensor): (rows, K, C).
        features (Tensor): (N, C).
        index (Tensor): int64 (N,) row of every item, in [0, rows).

    Returns:
        Tensor: (N, K).
    """
    _check(table, index, features.shape[0], features, "features")
    return _GatheredDot.apply(table, features, index)


def gathered_sum(weights: Tensor, table: Tensor, index: Tensor) -> Tensor:
    """y[i] = sum_k weights[i, k] table[index[i], k].

    Args:
        weights (Tensor): (N, K).
        table (Tensor): (rows, K, C).
        index (Tensor): int64 (N,) row of every item, in [0, rows).

    Returns:
        Tensor: (N, C).
    """
    _check(table, index, weights.shape[0], weights, "weights")
    if weights.shape[1] != table.shape[1]:
        raise ValueError(f"weights {tuple(weights.shape)} and table {tuple(table.shape)} disagree on K")
    return _GatheredSum.apply(weights, table, index)


def segment_sum(weights: Tensor, features: Tensor, index: Tensor, num_rows: int) -> Tensor:
    """t[r, k] = sum over the items i with index[i] = r of weights[i, k] features[i].

    Args:
        weights (Tensor): (N, K).
        features (Tensor): (N, C).
        index (Tensor): int64 (N,) row of every item, in [0, num_rows).
        num_rows (int): Rows of the result.

    Returns:
        Tensor: (num_rows, K, C).
    """
    if weights.dim() != 2 or features.dim() != 2 or weights.shape[0] != features.shape[0]:
        raise ValueError(
            f"weights must be (N, K) and features (N, C), got {tuple(weights.shape)} and {tuple(features.shape)}"
        )
    if index.shape != (features.shape[0],):
        raise ValueError(f"index must be ({features.shape[0]},), got {tuple(index.shape)}")
    return _SegmentSum.apply(weights, features, index, int(num_rows))
