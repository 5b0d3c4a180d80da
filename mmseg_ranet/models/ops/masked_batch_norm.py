"""Batch normalisation over the positions of a mask, with the statistics of the positions inside it only.

The Region Interaction Block's refinement convolutions run over the padded representative list laid out
as a (B, C, 1, M) map, and their batch norm takes its statistics over all B x M positions, padding
included. When the list is sized by a static bound (``select_representatives(width=N)``, no host sync)
instead of the batch's longest list M', the statistics must still be those of the B x M' positions the
counted list would have: :func:`masked_batch_norm` computes them over a mask of those positions (a device
tensor, never read on the host), reducing across processes like ``SyncBatchNorm`` when the norm is one.
In eval mode the running statistics are used, which no padding affects.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn


def masked_batch_norm(norm: nn.modules.batchnorm._BatchNorm, x: Tensor, mask: Tensor) -> Tensor:
    """``norm(x)`` with training statistics taken over the positions where ``mask`` is set.

    Args:
        norm (nn.BatchNorm2d | nn.SyncBatchNorm): The norm layer (its affine parameters, running
            statistics and momentum are used and updated as the layer itself would).
        x (Tensor): (B, C, H, W).
        mask (Tensor): Bool, broadcastable to (B, 1, H, W); at least one position set (per process for
            ``SyncBatchNorm``, over all processes).

    Returns:
        Tensor: The normalised ``x`` (B, C, H, W); positions outside the mask are normalised with the
        same statistics (callers zero them).
    """
    if not isinstance(norm, nn.modules.batchnorm._BatchNorm):
        raise TypeError(f"norm must be a batch norm layer, got {type(norm).__name__}")
    if x.dim() != 4:
        raise ValueError(f"x must be (B, C, H, W), got shape {tuple(x.shape)}")
    use_batch_stats = norm.training or not norm.track_running_stats
    if not use_batch_stats:
        return norm(x)
    weight = mask.to(x.dtype).expand(x.shape[0], 1, *x.shape[2:])
    count = weight.sum()
    total = (x * weight).sum(dim=(0, 2, 3))
    if isinstance(norm, nn.SyncBatchNorm) and dist.is_available() and dist.is_initialized():
        # The differentiable all-reduce: its backward sums the gradients of the shared statistics over
        # the processes, as SyncBatchNorm's backward does.
        from torch.distributed.nn.functional import all_reduce

        packed = all_reduce(torch.cat([total, count.view(1)]))
        total, count = packed[:-1], packed[-1]
        mean = total / count
        squares = all_reduce((((x - mean.view(1, -1, 1, 1)) ** 2) * weight).sum(dim=(0, 2, 3)))
    else:
        mean = total / count
        squares = (((x - mean.view(1, -1, 1, 1)) ** 2) * weight).sum(dim=(0, 2, 3))
    var = squares / count
    if norm.training and norm.track_running_stats:
        with torch.no_grad():
            norm.num_batches_tracked.add_(1)
            momentum = norm.momentum if norm.momentum is not None else 1.0 / norm.num_batches_tracked
            unbiased = var * count / (count - 1).clamp_min(1)
            norm.running_mean.mul_(1 - momentum).add_(momentum * mean.to(norm.running_mean.dtype))
            norm.running_var.mul_(1 - momentum).add_(momentum * unbiased.to(norm.running_var.dtype))
    out = (x - mean.view(1, -1, 1, 1)) * torch.rsqrt(var.view(1, -1, 1, 1) + norm.eps)
    if norm.affine:
        out = out * norm.weight.view(1, -1, 1, 1) + norm.bias.view(1, -1, 1, 1)
    return out
