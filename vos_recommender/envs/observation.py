"""The frame observation: one module builds it, every consumer reads it through here.

Two layouts (:data:`LAYOUTS`), selected by name. ``paper`` (the paper's state, the default), ``3 x N``
float32 for a video padded to ``N`` frames (batched: ``B x 3 x N``):

=====  ==========================================================================
row 0  per-frame quality in ``[0, 1]`` (oracle J&F or the learned estimate)
row 1  annotation count of the frame, clipped to ``num_rounds`` (the space's bound)
row 2  validity: 1 for the video's frames, 0 for padding
=====  ==========================================================================

``context`` (beyond the paper: where a frame lies relative to the annotations), ``8 x N``: rows 0 and 1
as above, then, for a video of ``T`` frames and frame ``i``:

=====  ==========================================================================
row 2  distance to the nearest annotated frame at or before ``i``, divided by ``T``
       (1 when no frame before it is annotated)
row 3  distance to the nearest annotated frame at or after ``i``, divided by ``T``
       (1 when no frame after it is annotated)
row 4  normalised position ``i / (T - 1)`` (0 for a one-frame video)
row 5  the round: annotations so far (the counts' sum) divided by ``num_rounds``
row 6  local quality slope ``(q[i+1] - q[i-1]) / 2`` (one-sided at the video's ends, 0 for one frame)
row 7  validity
=====  ==========================================================================

A frame is annotated when its count is above 0, so both layouts are functions of the quality and the
counts alone. The environment, the baselines, the agent's Q-network, the gain ranker and the action
masks all use these functions, so the layouts exist in one place.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

__all__ = [
    "CONTEXT_ROWS",
    "COUNT_ROW",
    "LAYOUTS",
    "NUM_FEATURES",
    "QUALITY_ROW",
    "VALID_ROW",
    "annotation_sides",
    "build_observation",
    "num_rows",
    "observation_space",
    "quality_slope",
    "split_observation",
    "valid_frames",
]

QUALITY_ROW = 0
COUNT_ROW = 1
VALID_ROW = 2
#: Per-frame feature rows of the ``paper`` layout (all rows but the validity row).
NUM_FEATURES = 2
#: The ``context`` layout's rows, in order (the last one is the validity).
CONTEXT_ROWS = (
    "quality",
    "count",
    "left_distance",
    "right_distance",
    "position",
    "round",
    "slope",
    "valid",
)
#: Layout name -> rows of its observation.
LAYOUTS = {"paper": ("quality", "count", "valid"), "context": CONTEXT_ROWS}


def _check_layout(layout: str) -> tuple[str, ...]:
    if layout not in LAYOUTS:
        raise ValueError(f"observation layout must be one of {list(LAYOUTS)}, got {layout!r}")
    return LAYOUTS[layout]


def num_rows(layout: str = "paper") -> int:
    """Rows of a layout's observation (features and the validity row)."""
    return len(_check_layout(layout))


def observation_space(max_frames: int, num_rounds: int, layout: str = "paper") -> spaces.Box:
    """The ``Box(rows, max_frames)`` that :func:`build_observation` fills for ``layout``."""
    rows = _check_layout(layout)
    bounds = {
        "quality": (0.0, 1.0),
        "count": (0.0, float(num_rounds)),
        "left_distance": (0.0, 1.0),
        "right_distance": (0.0, 1.0),
        "position": (0.0, 1.0),
        "round": (0.0, 1.0),
        "slope": (-1.0, 1.0),
        "valid": (0.0, 1.0),
    }
    low = np.zeros((len(rows), int(max_frames)), dtype=np.float32)
    high = np.zeros_like(low)
    for row, name in enumerate(rows):
        # Padding columns hold zeros, inside every row's bounds.
        low[row], high[row] = bounds[name]
    return spaces.Box(low=low, high=high, dtype=np.float32)


def annotation_sides(counts: Any) -> tuple[np.ndarray, np.ndarray]:
    """Every frame's distance in frames to the nearest annotated frame (count above 0) at or before it and
    at or after it; ``-1`` where no annotated frame lies on that side.

    Args:
        counts: ``T`` annotation counts.

    Returns:
        ``(left, right)``: two ``T`` int64 arrays.
    """
    marked = np.asarray(counts).reshape(-1) > 0
    frames = np.arange(marked.size)
    last = np.maximum.accumulate(np.where(marked, frames, -1)) if marked.size else frames
    left = np.where(last >= 0, frames - last, -1)
    following = np.where(marked, frames, marked.size)[::-1]
    following = np.minimum.accumulate(following)[::-1] if marked.size else frames
    right = np.where(following < marked.size, following - frames, -1)
    return left.astype(np.int64), right.astype(np.int64)


def quality_slope(quality: Any) -> np.ndarray:
    """``(q[i+1] - q[i-1]) / 2`` inside the video, one-sided differences at its ends, 0 for one frame."""
    quality = np.asarray(quality, dtype=np.float64).reshape(-1)
    if quality.size < 2:
        return np.zeros_like(quality)
    return np.gradient(quality)


def build_observation(
    quality: Any,
    counts: Any,
    max_frames: int | None = None,
    max_count: int | None = None,
    layout: str = "paper",
) -> np.ndarray:
    """The observation of one video.

    Args:
        quality: ``T`` per-frame quality (clipped to ``[0, 1]``).
        counts: ``T`` annotation counts.
        max_frames: Pad to this many columns (default ``T``).
        max_count: Clip the counts to this value (the environment's ``num_rounds``); default no clip. The
            ``context`` layout also divides the round by it, so it needs one.
        layout: ``paper`` (default) or ``context`` (see the module's documentation).

    Returns:
        ``rows x max_frames`` float32 array (3 rows for ``paper``, 8 for ``context``).

    Raises:
        ValueError: If the lengths differ, ``max_frames`` is shorter than the video, the layout is unknown,
            or ``context`` is asked without ``max_count``.
    """
    rows = _check_layout(layout)
    quality = np.asarray(quality, dtype=np.float32).reshape(-1)
    counts = np.asarray(counts, dtype=np.float32).reshape(-1)
    if quality.shape != counts.shape:
        raise ValueError(f"{quality.size} quality values but {counts.size} annotation counts")
    n = quality.size
    width = n if max_frames is None else int(max_frames)
    if width < n:
        raise ValueError(f"max_frames={width} is shorter than the video ({n} frames)")
    obs = np.zeros((len(rows), width), dtype=np.float32)
    clipped = np.clip(quality, 0.0, 1.0)
    obs[QUALITY_ROW, :n] = clipped
    obs[COUNT_ROW, :n] = counts if max_count is None else np.minimum(counts, float(max_count))
    obs[-1, :n] = 1.0
    if layout == "context":
        if max_count is None or max_count < 1:
            raise ValueError(
                f"max_count: the context layout divides the round by the episode's rounds; got {max_count!r}"
            )
        left, right = annotation_sides(counts)
        obs[2, :n] = np.where(left >= 0, left / n, 1.0)
        obs[3, :n] = np.where(right >= 0, right / n, 1.0)
        obs[4, :n] = np.arange(n) / (n - 1) if n > 1 else 0.0
        obs[5, :n] = min(float(counts.sum()), float(max_count)) / float(max_count)
        obs[6, :n] = quality_slope(clipped)
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
