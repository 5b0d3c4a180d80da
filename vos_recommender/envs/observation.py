"""The frame observation: one module builds it, every consumer reads it through here.

Layout, ``3 x N`` float32 for a video padded to ``N`` frames (batched: ``B x 3 x N``):

=====  ==========================================================================
row 0  per-frame quality in ``[0, 1]`` (oracle J&F or the learned estimate)
row 1  annotation count of the frame, clipped to ``num_rounds`` (the space's bound)
row 2  validity: 1 for the video's frames, 0 for padding
=====  ==========================================================================

The environment, the baselines, the agent's Q-network and its action masks all use these functions, so
the layout exists in one place.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

__all__ = [
    "COUNT_ROW",
    "NUM_FEATURES",
    "QUALITY_ROW",
    "VALID_ROW",
    "build_observation",
    "observation_space",
    "split_observation",
    "valid_frames",
]

QUALITY_ROW = 0
COUNT_ROW = 1
VALID_ROW = 2
#: Per-frame feature rows (all rows but the validity row).
NUM_FEATURES = 2


def observation_space(max_frames: int, num_rounds: int) -> spaces.Box:
    """The ``Box(3, max_frames)`` that :func:`build_observation` fills."""
    high = np.zeros((3, int(max_frames)), dtype=np.float32)
    high[QUALITY_ROW] = 1.0
    high[COUNT_ROW] = float(num_rounds)
    high[VALID_ROW] = 1.0
    return spaces.Box(low=np.zeros_like(high), high=high, dtype=np.float32)


def build_observation(
    quality: Any, counts: Any, max_frames: int | None = None, max_count: int | None = None
) -> np.ndarray:
    """The observation of one video.

    Args:
        quality: ``T`` per-frame quality (clipped to ``[0, 1]``).
        counts: ``T`` annotation counts.
        max_frames: Pad to this many columns (default ``T``).
        max_count: Clip the counts to this value (the environment's ``num_rounds``); default no clip.

    Returns:
        ``3 x max_frames`` float32 array.

    Raises:
        ValueError: If the lengths differ or ``max_frames`` is shorter than the video.
    """
    quality = np.asarray(quality, dtype=np.float32).reshape(-1)
    counts = np.asarray(counts, dtype=np.float32).reshape(-1)
    if quality.shape != counts.shape:
        raise ValueError(f"{quality.size} quality values but {counts.size} annotation counts")
    n = quality.size
    width = n if max_frames is None else int(max_frames)
    if width < n:
        raise ValueError(f"max_frames={width} is shorter than the video ({n} frames)")
    obs = np.zeros((3, width), dtype=np.float32)
    obs[QUALITY_ROW, :n] = np.clip(quality, 0.0, 1.0)
    obs[COUNT_ROW, :n] = counts if max_count is None else np.minimum(counts, float(max_count))
    obs[VALID_ROW, :n] = 1.0
    return obs


def valid_frames(observation: Any) -> Any:
    """Boolean validity (``... x N``) of one or a batch of observations (NumPy arrays or torch tensors).

    The validity row is the last one; the agent also accepts observations with other feature rows above
    it (``(F+1) x N``), so this reads the last row rather than row 2.
    """
    if observation.ndim < 2 or observation.shape[-2] < 2:
        raise ValueError(
            f"expected observations of shape [B x] (F+1) x N with F >= 1, got {tuple(observation.shape)}"
        )
    return observation[..., -1, :] > 0.5


def split_observation(obs: Any) -> tuple[Any, Any]:
    """Split a batch into per-frame features and validity.

    Args:
        obs: ``B x (F+1) x N`` torch tensor (or NumPy array); ``F = 2`` for the environment's layout.

    Returns:
        ``(features, valid)``: ``B x N x F`` float features and ``B x N`` boolean validity.
    """
    if obs.ndim != 3:
        raise ValueError(f"expected observations of shape B x (F+1) x N with F >= 1, got {tuple(obs.shape)}")
    valid = valid_frames(obs)
    features = obs[:, :-1, :]
    if isinstance(features, np.ndarray):
        return features.transpose(0, 2, 1).astype(np.float32), valid
    return features.transpose(1, 2).float(), valid
