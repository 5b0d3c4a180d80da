"""Actions of the frame-recommendation environment: which values name a frame."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = ["frame_index"]


def frame_index(action: Any) -> int:
    """The frame index an action names, refusing anything that is not an integer.

    Accepts what ``gymnasium.spaces.Discrete.contains`` accepts (an ``int``, a NumPy integer scalar or a
    0-d integer array; SB3's vectorised environments pass NumPy integers) except booleans: ``True`` is
    an ``int`` to Python but never a frame the agent meant. Strings such as ``"3"`` and floats such as
    ``2.0`` are refused instead of being converted.

    Raises:
        ValueError: Naming the action and its type.
    """
    value = action
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    kind = type(action).__name__ + (
        f" of {action.dtype} {action.shape}" if isinstance(action, np.ndarray) else ""
    )
    raise ValueError(
        f"action {action!r} is not a frame index: it is not an integer (got {kind}; give an int, a NumPy "
        "integer or a 0-d integer array)"
    )
