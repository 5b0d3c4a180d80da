"""Mixed-precision training without a loss scaler: bf16 autocast on any device, the CPU included."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from mmseg.registry import OPTIM_WRAPPERS

AUTOCAST_DTYPES = ("bfloat16", "float16")


@OPTIM_WRAPPERS.register_module()
class AutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward passes run under ``torch.autocast(device_type, dtype)``.

    mmengine's ``AmpOptimWrapper`` is fp16 AMP with a CUDA ``GradScaler`` and refuses to start without a
    GPU. bf16 has the exponent range of fp32, so its gradients do not underflow and need no loss scaling:
    this wrapper is the autocast half of ``AmpOptimWrapper`` alone, which is what ``tools/train.py --amp``
    uses on a machine without CUDA (CPU bf16 autocast). Parameters, gradients and the optimizer state
    stay fp32, as under ``AmpOptimWrapper``.

    Args:
        dtype (str): ``'bfloat16'`` (default) or ``'float16'`` (fp16 without loss scaling can underflow:
            use ``AmpOptimWrapper`` for fp16 on CUDA).
        device_type (str, optional): Device type of the autocast context (``'cpu'``, ``'cuda'``, ...).
            Defaults to None: that of the model's first parameter when the context is entered.
        **kwargs: ``OptimWrapper`` arguments (``optimizer``, ``clip_grad``, ``accumulative_counts``).
    """

    def __init__(self, dtype: str = "bfloat16", device_type: str | None = None, **kwargs) -> None:
        if dtype not in AUTOCAST_DTYPES:
            raise ValueError(f"AutocastOptimWrapper dtype must be one of {AUTOCAST_DTYPES}, got {dtype!r}")
        if device_type is not None and not torch.amp.is_autocast_available(device_type):
            raise ValueError(
                f"AutocastOptimWrapper device_type {device_type!r} has no autocast in this torch"
            )
        super().__init__(**kwargs)
        self.cast_dtype = getattr(torch, dtype)
        self.device_type = device_type

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """``OptimWrapper``'s context (gradient accumulation) inside an autocast context."""
        device_type = self.device_type
        if device_type is None:
            parameter = next(model.parameters(), None)
            device_type = parameter.device.type if parameter is not None else "cpu"
        with super().optim_context(model), torch.autocast(device_type=device_type, dtype=self.cast_dtype):
            yield
