"""Reading ATNet checkpoints (the released ``ATNet-checkpoint.pth`` and state dicts saved here).

Key mapping: none for the released file. Its keys are the module paths of the authors' ``ATnet``
(their evaluation loads it with ``net.load_state_dict(torch.load(path))``), which :class:`ATNet` keeps.
Also accepted: a ``{"state_dict": ...}`` wrapper and ``nn.DataParallel``'s ``module.`` prefix on every
key (both removed). Nothing else is renamed, and loading is strict.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

__all__ = ["load_atnet_checkpoint", "read_atnet_state_dict"]


def read_atnet_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a checkpoint file into a plain state dict with the model's key names.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it cannot be read or holds no state dict (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ATNet checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several unrelated types on corrupt files
        raise ValueError(f"cannot read ATNet checkpoint {path}: {err}") from err
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"ATNet checkpoint {path} does not hold a state dict of tensors")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return dict(state)


def load_atnet_checkpoint(model: nn.Module, path: str | os.PathLike) -> int:
    """Load a checkpoint into ``model`` with ``strict=True``.

    Returns:
        The number of tensors loaded.

    Raises:
        ValueError: If keys or shapes differ; the message names the file and the first missing,
            unexpected and mismatched keys.
    """
    state = read_atnet_state_dict(path)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or mismatched:
        raise ValueError(
            f"ATNet checkpoint {path} does not fit the model: {len(missing)} missing (first: {missing[:3]}), "
            f"{len(unexpected)} unexpected (first: {unexpected[:3]}), {len(mismatched)} of another shape "
            f"(first: {mismatched[:3]})"
        )
    model.load_state_dict(state, strict=True)
    return len(state)
