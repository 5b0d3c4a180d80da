"""Loading MANet checkpoints: the authors' ``save_step_80000.pth`` and the project's own.

The authors save ``IntVOS.state_dict()`` as it is (``torch.save(net.state_dict(), ...)`` in
``train_stage1.py``/``train_stage2.py``), so its names are :class:`MANet`'s names. The loader also
accepts, and maps:

* a ``module.`` prefix on every key (a model saved from ``nn.DataParallel``): removed;
* a dict holding the weights under ``"state_dict"`` or ``"model"``: unwrapped;
* missing ``num_batches_tracked`` counters (BatchNorm buffers that PyTorch < 0.4.1 did not save):
  set to 0; they do not affect evaluation.

Everything else must match exactly (``strict=True``): a missing or unexpected key, or a shape that
differs, is an error naming the file and the first offending keys.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

__all__ = ["CheckpointMismatchError", "load_manet_checkpoint", "manet_state_dict_from"]

_PREFIX = "module."
_SHOWN = 5


class CheckpointMismatchError(ValueError):
    """The checkpoint's tensors do not fit the model (names or shapes)."""


def manet_state_dict_from(obj: object, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The state dict inside a loaded checkpoint object, with the ``module.`` prefix removed.

    Args:
        obj: What ``torch.load`` returned.
        source: Name used in error messages (the file).

    Raises:
        CheckpointMismatchError: If no state dict of tensors is found.
    """
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj or not all(torch.is_tensor(v) for v in obj.values()):
        raise CheckpointMismatchError(f"{source}: not a MANet state dict (a mapping of names to tensors)")
    state = dict(obj)
    if all(k.startswith(_PREFIX) for k in state):
        state = {k[len(_PREFIX) :]: v for k, v in state.items()}
    return state


def _check(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    own = model.state_dict()
    for key, value in own.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros_like(value)
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys (first: {', '.join(missing[:_SHOWN])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys (first: {', '.join(unexpected[:_SHOWN])})")
    if wrong:
        problems.append(f"{len(wrong)} shape mismatches (first: {'; '.join(wrong[:_SHOWN])})")
    if problems:
        raise CheckpointMismatchError(f"{source} does not fit MANet({model.config}): " + "; ".join(problems))
    return state


def load_manet_checkpoint(model: nn.Module, path: str | os.PathLike) -> int:
    """Load weights from ``path`` into ``model`` with ``strict=True``.

    Args:
        model: A :class:`~vos_recommender.nets.manet.MANet`.
        path: A file written by ``torch.save`` (the authors' or this project's).

    Returns:
        The number of tensors loaded.

    Raises:
        FileNotFoundError: If ``path`` is not a file.
        CheckpointMismatchError: If the file cannot be read as a state dict or does not fit the model.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"MANet checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or foreign files
        raise CheckpointMismatchError(f"{path}: cannot be read as a PyTorch checkpoint ({err})") from err
    state = _check(model, manet_state_dict_from(obj, str(path)), str(path))
    model.load_state_dict(state, strict=True)
    return len(state)
