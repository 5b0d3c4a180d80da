"""Full-precision islands under automatic mixed precision.

Under ``torch.autocast`` (CUDA fp16/bf16 AMP, CPU bf16) the convolutions of a head produce half-precision
tensors, and autocast runs matrix products in half precision even when their inputs are fp32. Parts of
RANet do not survive that: the region construction thresholds pairwise scores and averages them over
regions (J is a mean of up to N products of probabilities, the only path of W^g's gradient), and the
attentions take softmaxes of unscaled dot products of C-channel features, where a bf16 score carries an
absolute error of about |score| / 256. Those parts run in an island: autocast switched off for the
tensors' device and low-precision inputs promoted to fp32 (fp64 stays fp64).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable

import torch
from torch import Tensor


def autocast_off(device: torch.device | str) -> contextlib.AbstractContextManager:
    """A context in which autocast is disabled for ``device``'s type (``'cuda'``, ``'cpu'``, ...).

    A device type without autocast support gets a no-op context.
    """
    device_type = torch.device(device).type
    if torch.amp.is_autocast_available(device_type):
        return torch.autocast(device_type=device_type, enabled=False)
    return contextlib.nullcontext()


def full_precision(tensor: Tensor) -> Tensor:
    """``tensor`` as at least fp32: half-precision floats are promoted, fp32/fp64 and integers unchanged."""
    if tensor.is_floating_point() and torch.finfo(tensor.dtype).bits < 32:
        return tensor.float()
    return tensor


def in_full_precision(fn: Callable) -> Callable:
    """Run ``fn`` as an island: autocast off for the device of its first tensor argument and its
    half-precision tensor arguments promoted to fp32 (what ``torch.amp.custom_fwd(cast_inputs=float32)``
    does, for whichever device the tensors are on)."""

    @functools.wraps(fn)
    def island(*args, **kwargs):
        first = next((a for a in (*args, *kwargs.values()) if isinstance(a, Tensor)), None)
        if first is None:
            return fn(*args, **kwargs)
        args = tuple(full_precision(a) if isinstance(a, Tensor) else a for a in args)
        kwargs = {k: full_precision(v) if isinstance(v, Tensor) else v for k, v in kwargs.items()}
        with autocast_off(first.device):
            return fn(*args, **kwargs)

    return island
