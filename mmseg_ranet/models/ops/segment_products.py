"""Products between pixels and the slot table of their own region, without keeping (pixels x slots x C)
tensors.

A slot table ``table`` (rows, K, C) holds K feature vectors per region row; ``index`` (N,) gives each
pixel's row. The three products below are the only ones the region-restricted attentions need:

* ``gathered_dot``: s[i, k] = table[index[i], k] . x[i]              -> (N, K)
* ``gathered_sum``: y[i] = sum_k w[i, k] table[index[i], k]           -> (N, C)
* ``segment_sum``:  t[r, k] = sum_{i: index[i] = r} w[i, k] x[i]      -> (rows, K, C)

Each one's gradients are the other two, so every backward is O(N K C) as well. Written by hand because
autograd through ``table[index]`` would keep an (N, K, C) gather for every product (about 300 MB per
product at a 97x97 map with K = 8 and C = 512), and PyTorch has no fused gather-dot / scatter-dot.
Rows with many items (large regions) are one matrix product each; the items of the other rows are
gathered and multiplied in bounded chunks. The loops run over large rows and chunks, never over pixels.

The float inputs of a product must share one dtype, and the products run in it with autocast switched off
(forward and backward): autocast would otherwise turn some of the matrix products to half precision and
not others, and the partial results could not be written into one output.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd import Function

from .precision import autocast_off


def _check(table: Tensor, index: Tensor, num_items: int, other: Tensor, name: str) -> None:
    if table.dim() != 3:
        raise ValueError(f"table must be (rows, K, C), got shape {tuple(table.shape)}")
    if index.dim() != 1 or index.shape[0] != num_items:
        raise ValueError(
            f"index must be ({num_items},) for {name} {tuple(other.shape)}, got {tuple(index.shape)}"
        )


def _check_dtypes(**tensors: Tensor) -> None:
    dtypes = {name: tensor.dtype for name, tensor in tensors.items()}
    if len(set(dtypes.values())) > 1:
        named = ", ".join(f"{name} {dtype}" for name, dtype in dtypes.items())
        raise ValueError(f"the float inputs need one dtype, got {named}: cast them to one dtype first")


# Rows with at least this many items are computed as one matrix product each (reads every feature once)
# instead of through per-item gathers of the row (reads the row's K slots once per item).
LARGE_ROW_ITEMS = 128
# Elements of the (items, K, C) gather of one chunk of small rows' items (memory knob).
SMALL_CHUNK_ELEMENTS = 1 << 22


def _split_rows(
    index: Tensor, num_rows: int, large_rows: bool
) -> tuple[list[tuple[int, Tensor | slice]], Tensor | None]:
    """The large rows with their items, and the items of the other rows (None when there are none).

    When ``index`` is sorted the items of a row are a slice, so a large row's features are a view.
    Finding the large rows reads counts on the host; with ``large_rows=False`` every item goes through
    the gathered chunks instead, whose sizes depend on the shapes only (no host sync).
    """
    if not large_rows:
        return [], torch.arange(index.shape[0], device=index.device)
    counts = torch.bincount(index, minlength=num_rows)
    is_large = counts >= LARGE_ROW_ITEMS
    large = is_large.nonzero().flatten().tolist()
    if not large:
        return [], torch.arange(index.shape[0], device=index.device)
    if bool((index[1:] >= index[:-1]).all()):
        ends = counts.cumsum(dim=0)
        bounds = torch.stack([ends - counts, ends], dim=1)[is_large].tolist()
        groups = [(row, slice(start, end)) for row, (start, end) in zip(large, bounds)]
    else:
        groups = [(row, (index == row).nonzero().flatten()) for row in large]
    small = (~is_large.index_select(0, index)).nonzero().flatten()
    return groups, (small if small.numel() else None)


def _small_chunks(small: Tensor | None, index: Tensor, slots: int, channels: int):
    """(items, slot rows (items, K) into the flattened table) for chunks of the small rows' items."""
    if small is None:
        return
    step = max(1, SMALL_CHUNK_ELEMENTS // max(1, slots * channels))
    offsets = torch.arange(slots, device=index.device)
    for start in range(0, small.shape[0], step):
        items = small[start : start + step]
        yield items, index.index_select(0, items).unsqueeze(1) * slots + offsets


def _gather_slots(table: Tensor, rows: Tensor) -> Tensor:
    flat = table.reshape(-1, table.shape[2])
    return flat.index_select(0, rows.reshape(-1)).view(*rows.shape, table.shape[2])


def _dot(table: Tensor, features: Tensor, index: Tensor, large_rows: bool) -> Tensor:
    with autocast_off(index.device):
        out = features.new_empty(features.shape[0], table.shape[1])
        groups, small = _split_rows(index, table.shape[0], large_rows)
        for row, items in groups:
            out[items] = features[items] @ table[row].t()
        for items, rows in _small_chunks(small, index, table.shape[1], table.shape[2]):
            out[items] = torch.bmm(_gather_slots(table, rows), features[items].unsqueeze(2)).squeeze(2)
        return out


def _sum(weights: Tensor, table: Tensor, index: Tensor, large_rows: bool) -> Tensor:
    with autocast_off(index.device):
        out = table.new_empty(index.shape[0], table.shape[2])
        groups, small = _split_rows(index, table.shape[0], large_rows)
        for row, items in groups:
            out[items] = weights[items] @ table[row]
        for items, rows in _small_chunks(small, index, table.shape[1], table.shape[2]):
            out[items] = torch.bmm(weights[items].unsqueeze(1), _gather_slots(table, rows)).squeeze(1)
        return out


def _segment(weights: Tensor, features: Tensor, index: Tensor, num_rows: int, large_rows: bool) -> Tensor:
    with autocast_off(index.device):
        slots, channels = weights.shape[1], features.shape[1]
        out = features.new_zeros(num_rows, slots, channels)
        groups, small = _split_rows(index, num_rows, large_rows)
        for row, items in groups:
            out[row] = weights[items].t() @ features[items]
        flat = out.view(num_rows * slots, channels)
        for items, rows in _small_chunks(small, index, slots, channels):
            products = weights[items].unsqueeze(2) * features[items].unsqueeze(1)
            flat.index_put_((rows.reshape(-1),), products.reshape(-1, channels), accumulate=True)
        return out


class _GatheredDot(Function):
    @staticmethod
    def forward(ctx, table, features, index, large_rows):  # type: ignore[override]
        ctx.save_for_backward(table, features, index)
        ctx.large_rows = large_rows
        return _dot(table, features, index, large_rows)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        table, features, index = ctx.saved_tensors
        grad_table = grad_features = None
        if ctx.needs_input_grad[0]:
            grad_table = segment_sum(grad, features, index, table.shape[0], ctx.large_rows)
        if ctx.needs_input_grad[1]:
            grad_features = gathered_sum(grad, table, index, ctx.large_rows)
        return grad_table, grad_features, None, None


class _GatheredSum(Function):
    @staticmethod
    def forward(ctx, weights, table, index, large_rows):  # type: ignore[override]
        ctx.save_for_backward(weights, table, index)
        ctx.large_rows = large_rows
        return _sum(weights, table, index, large_rows)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        weights, table, index = ctx.saved_tensors
        grad_weights = grad_table = None
        if ctx.needs_input_grad[0]:
            grad_weights = gathered_dot(table, grad, index, ctx.large_rows)
        if ctx.needs_input_grad[1]:
            grad_table = segment_sum(weights, grad, index, table.shape[0], ctx.large_rows)
        return grad_weights, grad_table, None, None


class _SegmentSum(Function):
    @staticmethod
    def forward(ctx, weights, features, index, num_rows, large_rows):  # type: ignore[override]
        ctx.save_for_backward(weights, features, index)
        ctx.large_rows = large_rows
        return _segment(weights, features, index, num_rows, large_rows)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        weights, features, index = ctx.saved_tensors
        grad_weights = grad_features = None
        if ctx.needs_input_grad[0]:
            grad_weights = gathered_dot(grad, features, index, ctx.large_rows)
        if ctx.needs_input_grad[1]:
            grad_features = gathered_sum(weights, grad, index, ctx.large_rows)
        return grad_weights, grad_features, None, None, None


def gathered_dot(table: Tensor, features: Tensor, index: Tensor, large_rows: bool = True) -> Tensor:
    """s[i, k] = table[index[i], k] . features[i].

    Args:
        table (Tensor): (rows, K, C).
        features (Tensor): (N, C).
        index (Tensor): int64 (N,) row of every item, in [0, rows).
        large_rows (bool): Multiply rows with many items as one matrix product each (they are found
            by reading counts on the host). False: every item through bounded gathered chunks, no host
            sync. Same values. Defaults to True.

    Returns:
        Tensor: (N, K).
    """
    _check(table, index, features.shape[0], features, "features")
    _check_dtypes(table=table, features=features)
    return _GatheredDot.apply(table, features, index, large_rows)


def gathered_sum(weights: Tensor, table: Tensor, index: Tensor, large_rows: bool = True) -> Tensor:
    """y[i] = sum_k weights[i, k] table[index[i], k].

    Args:
        weights (Tensor): (N, K).
        table (Tensor): (rows, K, C).
        index (Tensor): int64 (N,) row of every item, in [0, rows).
        large_rows (bool): As in :func:`gathered_dot`. Defaults to True.

    Returns:
        Tensor: (N, C).
    """
    _check(table, index, weights.shape[0], weights, "weights")
    if weights.shape[1] != table.shape[1]:
        raise ValueError(f"weights {tuple(weights.shape)} and table {tuple(table.shape)} disagree on K")
    _check_dtypes(weights=weights, table=table)
    return _GatheredSum.apply(weights, table, index, large_rows)


def segment_sum(
    weights: Tensor, features: Tensor, index: Tensor, num_rows: int, large_rows: bool = True
) -> Tensor:
    """t[r, k] = sum over the items i with index[i] = r of weights[i, k] features[i].

    Args:
        weights (Tensor): (N, K).
        features (Tensor): (N, C).
        index (Tensor): int64 (N,) row of every item, in [0, num_rows).
        num_rows (int): Rows of the result.
        large_rows (bool): As in :func:`gathered_dot`. Defaults to True.

    Returns:
        Tensor: (num_rows, K, C).
    """
    if weights.dim() != 2 or features.dim() != 2 or weights.shape[0] != features.shape[0]:
        raise ValueError(
            f"weights must be (N, K) and features (N, C), got {tuple(weights.shape)} and {tuple(features.shape)}"
        )
    if index.shape != (features.shape[0],):
        raise ValueError(f"index must be ({features.shape[0]},), got {tuple(index.shape)}")
    _check_dtypes(weights=weights, features=features)
    return _SegmentSum.apply(weights, features, index, int(num_rows), large_rows)
