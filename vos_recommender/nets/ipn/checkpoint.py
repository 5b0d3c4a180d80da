"""Loading the released IPN checkpoints (``I.pth`` / ``P.pth``) into the native networks.

Key mapping: none beyond a wrapper. The released files are plain ``state_dict()`` of the authors'
``Inet`` / ``Pnet``; trained on GPU they were wrapped in ``nn.DataParallel``, so every key may start
with ``module.`` (the authors' ``load_UnDP`` strips it for CPU use). That prefix is removed when every
key carries it, and a ``{"state_dict": ...}`` wrapper is unpacked; everything else must match the
network exactly (``strict=True``): same names, same shapes.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

__all__ = ["load_weights", "unwrap_state_dict"]

_PREFIX = "module."


def unwrap_state_dict(state: object, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The bare state dict of a released checkpoint (``module.`` prefix and ``state_dict`` wrapper gone).

    Raises:
        ValueError: If ``state`` holds no state dict.
    """
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{source} does not hold a state dict of tensors (got {type(state).__name__})")
    if state and all(k.startswith(_PREFIX) for k in state):
        state = {k[len(_PREFIX) :]: v for k, v in state.items()}
    return dict(state)


def _first(keys: list[str], count: int = 5) -> str:
    shown = ", ".join(keys[:count])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > count else "")


def load_weights(module: nn.Module, path: str | os.PathLike, device: str | torch.device = "cpu") -> int:
    """Load a checkpoint file into ``module`` strictly.

    Args:
        module: :class:`InteractionNetwork` or :class:`PropagationNetwork`.
        path: ``.pth`` file as the authors saved it.
        device: Where to map the tensors while reading.

    Returns:
        The number of tensors loaded.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If it cannot be read, or its names or shapes differ from the network's (the message
            names the file and the first missing, unexpected and mis-shaped keys).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IPN checkpoint not found: {path}")
    try:
        raw = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:
        raise ValueError(f"cannot read IPN checkpoint {path}: {err}") from err
    state = unwrap_state_dict(raw, str(path))
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or shapes:
        problems = []
        if missing:
            problems.append(f"missing keys: {_first(missing)}")
        if unexpected:
            problems.append(f"unexpected keys: {_first(unexpected)}")
        if shapes:
            problems.append(f"shape mismatches (file vs network): {_first(shapes, 3)}")
        raise ValueError(
            f"IPN checkpoint {path} does not fit {type(module).__name__} "
            f"({getattr(module, 'config', '')}): " + "; ".join(problems)
        )
    module.load_state_dict(state, strict=True)
    return len(state)
