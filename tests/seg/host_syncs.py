"""Counting host syncs: every conversion of a tensor to a Python value made through the tensor API.

On an accelerator each such conversion (``item``, ``tolist``, ``bool(t)``, ``int(t)``, ``float(t)``,
``range(t)``, ``torch.equal``, ``nonzero``, whose result size has to be read back) makes the host wait for the device. On
the CPU they cost nothing, so :class:`HostSyncCounter` makes them visible there: it wraps those methods
and records the caller of each call made while it is active. Indexing with Python ints and shapes is not
a conversion and is not counted. On CUDA, ``torch.cuda.set_sync_debug_mode`` catches the syncs that
happen inside PyTorch's own kernels as well (e.g. ``torch.bincount`` or boolean-mask indexing).
"""

from __future__ import annotations

import contextlib
import traceback

import torch

CONVERSIONS = ("item", "tolist", "nonzero", "__bool__", "__int__", "__float__", "__index__", "equal")
# torch functions that return Python values computed from tensors.
TORCH_CONVERSIONS = ("nonzero", "equal", "allclose", "is_nonzero")


class HostSyncCounter(contextlib.AbstractContextManager):
    """Context manager that records every tensor-to-Python conversion (see the module docstring).

    Attributes:
        calls (list[str]): One entry per conversion: the method and the code that called it.
    """

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._saved: dict[tuple[object, str], object] = {}

    def _wrap(self, owner: object, name: str) -> None:
        original = getattr(owner, name)
        # Restored on exit; None: the attribute was inherited and is deleted again.
        self._saved[(owner, name)] = vars(owner).get(name)
        counter = self

        def counted(*args, **kwargs):
            caller = traceback.extract_stack(limit=2)[0]
            counter.calls.append(f"{name} at {caller.filename}:{caller.lineno} ({caller.line})")
            return original(*args, **kwargs)

        setattr(owner, name, counted)

    def __enter__(self) -> HostSyncCounter:
        for name in CONVERSIONS:
            self._wrap(torch.Tensor, name)
        for name in TORCH_CONVERSIONS:
            self._wrap(torch, name)
        return self

    def __exit__(self, *exc) -> None:
        for (owner, name), original in self._saved.items():
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)
        self._saved.clear()


@contextlib.contextmanager
def no_host_sync(device: torch.device, counter: HostSyncCounter):
    """Count conversions in ``counter`` (any device) and make CUDA raise on a sync inside its kernels."""
    cuda = torch.device(device).type == "cuda"
    if cuda:
        previous = torch.cuda.get_sync_debug_mode()
        torch.cuda.set_sync_debug_mode("error")
    try:
        with counter:
            yield counter
    finally:
        if cuda:
            torch.cuda.set_sync_debug_mode(previous)
