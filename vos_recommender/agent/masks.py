"""Which frames may be chosen: the choice mask, kept apart from the context the Q-network sees.

Two masks play different parts:

* the *context* mask is the observation's validity row (padding excluded). It decides which frames the
  LSTM reads, so it shapes every frame's Q-value;
* the *choice* mask is the context mask AND an optional caller mask (e.g. "not this frame again"). It only
  decides which frames may be recommended: it is applied to the output Q-values and to exploration, never
  to the network's input, so masking a frame leaves the other frames' values unchanged (as sb3-contrib's
  ``MaskableCategorical`` masks logits, not observations).

The functions accept NumPy arrays and torch tensors alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th

from vos_recommender.envs.observation import valid_frames

__all__ = ["choice_masks", "random_choice", "require_choice"]


def choice_masks(observation: Any, action_masks: Any = None) -> Any:
    """Boolean ``B x N`` masks of the frames that may be chosen.

    Args:
        observation: ``B x (F+1) x N`` observations (NumPy array or torch tensor).
        action_masks: Optional extra masks, ``N`` or ``B x N`` (anything array-like), combined with AND.

    Returns:
        Masks of the observation's type (a tensor on its device for tensor input).

    Raises:
        ValueError: If ``action_masks`` does not have one entry per frame.
    """
    valid = valid_frames(observation)
    if action_masks is None:
        return valid
    if isinstance(valid, th.Tensor):
        if isinstance(action_masks, th.Tensor):
            extra = action_masks.to(device=valid.device, dtype=th.bool)
        else:
            extra = th.as_tensor(np.asarray(action_masks, dtype=bool), device=valid.device)
    else:
        extra = np.asarray(action_masks, dtype=bool)
    batch, frames = valid.shape
    size = int(np.prod(tuple(extra.shape)))
    if size == batch * frames:
        return valid & extra.reshape(batch, frames)
    if size == frames:
        return valid & extra.reshape(1, frames)
    raise ValueError(
        f"action_masks of shape {tuple(extra.shape)} do not fit {batch} observation(s) of {frames} frames "
        "(expected N or B x N entries)"
    )


def require_choice(masks: Any) -> None:
    """Raise unless every row of ``masks`` allows at least one frame.

    Raises:
        ValueError: If a row allows none (padding and the action mask exclude every frame).
    """
    if not bool(masks.any(-1).all()):
        raise ValueError("an observation has no allowed frame (validity row and action mask exclude all)")


def random_choice(masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniformly random allowed frame per row of ``B x N`` boolean masks.

    Args:
        masks: Choice masks (see :func:`choice_masks`).
        rng: Generator drawing the frames.

    Returns:
        ``B`` int64 frame indices.
    """
    masks = np.asarray(masks, dtype=bool)
    require_choice(masks)
    actions = np.empty(len(masks), dtype=np.int64)
    for row, mask in enumerate(masks):
        allowed = np.flatnonzero(mask)
        actions[row] = allowed[rng.integers(allowed.size)]
    return actions
