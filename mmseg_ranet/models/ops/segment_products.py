"""Products between pixels and the slot table of their own region, without (pixels x slots x C) tensors.

A slot table ``table`` (rows, K, C) holds K feature vectors per region row; ``index`` (N,) gives each
pixel's row. The three products below are the only ones the region-restricted attentions need:

* ``gathered_dot``: s[i, k] = table[index[i], k] . x[i]              -> (N, K)
* ``gathered_sum``: y[i] = sum_k w[i, k] table[index[i], k]           -> (N, C)
* ``segment_sum``:  t[r, k] = sum_{i: index[i] = r} w[i, k] x[i]      -> (rows, K, C)

Each one's gradients are the other two, so every backward is O(N K C) as well. Written by hand because
autograd through ``table[index]`` would keep an (N, K, C) gather for every product (about 300 MB per
product at a 97x97 map with K = 8 and C = 512), and PyTorch has no fused gather-dot / scatter-dot.
The loops run over the K slots, never over pixels.
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


def _dot(table: Tensor, features: Tensor, index: Tensor) -> Tensor:
    out = features.new_empty(features.shape[0], table.shape[1])
    for k in range(table.shape[1]):
        out[:, k] = (table[:, k].index_select(0, index) * features).sum(dim=1)
    return out


def _sum(weights: Tensor, table: Tensor, index: Tensor) -> Tensor:
    out = table.new_zeros(index.shape[0], table.shape[2])
    for k in range(table.shape[1]):
        out.addcmul_(table[:, k].index_select(0, index), weights[:, k : k + 1])
    return out


def _segment(weights: Tensor, features: Tensor, index: Tensor, num_rows: int) -> Tensor:
    slots = [
        features.new_zeros(num_rows, features.shape[1]).index_add_(0, index, features * weights[:, k : k + 1])
        for k in range(weights.shape[1])
    ]
    return torch.stack(slots, dim=1)


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
