"""IPN's scribble inputs: DAVIS rasterisation, per-object positive / negative maps, and the round blend.

The released IPN rasterises scribbles with davis-interactive's ``scribbles2mask`` (points scaled by
``(W - 1, H - 1)`` and truncated, consecutive points joined by its Bresenham variant), which differs by a
pixel from :func:`vos_recommender.interaction.scribbles.rasterize_scribble` (rounding by ``W``, OpenCV
lines). The pixels decide the region of interest, so the native backend draws them exactly as
davis-interactive does, re-implemented here (vectorised) because that package pins old NumPy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

__all__ = ["bresenham_line", "blend_weights", "davis_rasterize", "object_scribble_maps"]


def bresenham_line(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Integer pixels ``N x 2`` (x, y) from ``start`` to ``end``, both included, as davis-interactive.

    Along the major axis every pixel is visited; the minor coordinate after ``k`` steps is
    ``floor((2 * minor * k + major) / (2 * major))``, i.e. ``k * minor / major`` rounded half up, the
    closed form of davis-interactive's error-accumulating loop (which steps when the error is >= 0).
    """
    delta = end.astype(np.int64) - start.astype(np.int64)
    sign = np.where(delta > 0, 1, -1)
    span = np.abs(delta)
    major_axis = 0 if span[0] > span[1] else 1
    major, minor = span[major_axis], span[1 - major_axis]
    steps = np.arange(major + 1, dtype=np.int64)
    minor_steps = (2 * minor * steps + major) // (2 * major) if major > 0 else np.zeros_like(steps)
    line = np.empty((major + 1, 2), dtype=np.int64)
    line[:, major_axis] = start[major_axis] + steps * sign[major_axis]
    line[:, 1 - major_axis] = start[1 - major_axis] + minor_steps * sign[1 - major_axis]
    return line


def davis_rasterize(strokes: Sequence[tuple[Any, int]], height: int, width: int) -> np.ndarray:
    """Draw ``(path, value)`` strokes in order into an ``H x W`` int64 image of ``-1``.

    Args:
        strokes: Normalised ``[[x, y], ...]`` paths with the value to write; later strokes overwrite.
        height: Image height.
        width: Image width.
    """
    canvas = np.full((height, width), -1, dtype=np.int64)
    scale = np.array([width - 1, height - 1], dtype=np.float64)
    for path, value in strokes:
        points = np.asarray(path, dtype=np.float64).reshape(-1, 2)
        if len(points) == 0:
            continue
        points = (points * scale).astype(np.int64)
        if len(points) > 1:
            points = np.concatenate([bresenham_line(a, b) for a, b in zip(points[:-1], points[1:])])
        canvas[points[:, 1], points[:, 0]] = value
    return canvas


_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def object_scribble_maps(
    strokes: Sequence[dict[str, Any]], object_id: int, prev: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Positive and negative ``H x W`` float32 maps of one object for the interaction network.

    As released: the object's strokes are positive; background strokes (id 0) are negative only where
    the object's previous probability is above 0.5 (they correct a false positive; elsewhere they add
    nothing), strokes of other objects are ignored, and both maps are dilated twice with a 3 x 3 cross
    (positive drawn over negative).

    Args:
        strokes: The annotated frame's DAVIS strokes, in drawing order.
        object_id: The object (1..O).
        prev: ``H x W`` previous probability of the object on that frame (``-1``: none yet).
    """
    height, width = prev.shape
    chosen = [
        (s["path"], 1 if int(s["object_id"]) == object_id else 0)
        for s in strokes
        if int(s["object_id"]) in (object_id, 0)
    ]
    labels = davis_rasterize(chosen, height, width)
    negative = (labels == 0) & (prev > 0.5)
    labels[labels == 0] = -1
    labels[negative] = 0
    dilated = np.full_like(labels, -1)
    for label in (0, 1):
        grown = cv2.dilate((labels == label).astype(np.uint8), _CROSS, iterations=2)
        dilated[grown == 1] = label
    return (dilated == 1).astype(np.float32), (dilated == 0).astype(np.float32)


def blend_weights(
    target: int, previous_targets: Sequence[int], num_frames: int
) -> tuple[int, int, list[float]]:
    """Propagation range and per-frame weight of this round's result against the previous round's.

    The new result is propagated from ``target`` to the nearest earlier annotated frame on each side
    (or the video's ends) and its weight falls linearly from 1 at ``target`` to 0 at those frames, so a
    correction does not overwrite frames that other annotations already fixed; beyond them it is 0.

    Returns:
        ``(left_end, right_end, weights)``.
    """
    later = [t for t in previous_targets if t > target]
    earlier = [t for t in previous_targets if t < target]
    weights = [1.0] * num_frames
    right = min(later) if later else num_frames - 1
    left = max(earlier) if earlier else 0
    if later:
        step = 1.0 / (right - target)
        for n, f in enumerate(range(target + 1, num_frames)):
            weights[f] = max(0.0, 1.0 - (n + 1) * step)
    if earlier:
        step = 1.0 / (target - left)
        for n, f in enumerate(reversed(range(target))):
            weights[f] = max(0.0, 1.0 - (n + 1) * step)
    return left, right, weights
