"""IPN's scribble inputs: DAVIS rasterisation, per-object positive / negative maps, and the round blend.

The released IPN rasterises scribbles with davis-interactive's ``scribbles2mask`` (points scaled by
``(W - 1, H - 1)`` and truncated, consecutive points joined by its Bresenham variant); the pixels decide
the region of interest, so the native backend draws them with
:func:`vos_recommender.interaction.scribbles.davis_rasterize`, that rasteriser pixel for pixel.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from vos_recommender.interaction.scribbles import davis_rasterize

__all__ = ["blend_weights", "object_scribble_maps"]


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
