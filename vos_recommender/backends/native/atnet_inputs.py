"""What ATNet's evaluation feeds its networks, reproduced from its ``libs/utils.py`` conventions.

These steps decide the inputs and the frame order, so they follow the released code exactly:

* frames are reflect-padded to the next multiple of 32 *plus* 32 when already a multiple (``h + 32 - h % 32``);
* scribble paths map to pixels by ``round(x * W)``, consecutive points are joined by Bresenham lines,
  and each pixel is written one row and one column up-left (``[y - 1, x - 1]``; index ``-1`` wraps to
  the last row / column);
* the stroke image is dilated by a 5 x 5 ellipse and Gaussian-blurred (5 x 5, sigma 6); negative
  strokes count only inside the object's previous mask;
* propagation runs backward then forward from the annotated frame, up to 99% of the way to the nearest
  other annotated frame, and near one it is blended with the previous round.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

__all__ = [
    "blend_weight",
    "bresenham",
    "pad_info",
    "propagation_order",
    "scribble_maps",
]


def pad_info(height: int, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """``((top, bottom), (left, right))`` reflect padding to ATNet's working size."""

    def split(size: int) -> tuple[int, int]:
        extra = 32 - size % 32
        return extra // 2, extra // 2 + extra % 2

    return split(height), split(width)


def bresenham(points: np.ndarray) -> np.ndarray:
    """Pixels of the polyline through integer ``(x, y)`` points; each segment includes both ends."""
    points = np.asarray(points, dtype=np.int64)
    if len(points) < 2:
        return points
    segments = []
    for (x0, y0), (x1, y1) in zip(points[:-1].tolist(), points[1:].tolist()):
        dx, dy = x1 - x0, y1 - y0
        sx, sy = (1 if dx > 0 else -1), (1 if dy > 0 else -1)
        dx, dy = abs(dx), abs(dy)
        steep = dy >= dx  # step along y when it is the longer (or equal) axis
        major, minor = (dy, dx) if steep else (dx, dy)
        error, offset = 2 * minor - major, 0
        line = np.empty((major + 1, 2), dtype=np.int64)
        for step in range(major + 1):
            line[step] = (x0 + offset * sx, y0 + step * sy) if steep else (x0 + step * sx, y0 + offset * sy)
            if error >= 0:
                offset += 1
                error -= 2 * major
            error += 2 * minor
        segments.append(line)
    return np.concatenate(segments)


def _postprocess(strokes: np.ndarray, dilation: int, blur: bool) -> np.ndarray:
    if strokes.max() == 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (dilation, dilation))
        strokes = cv2.dilate(strokes.astype(np.uint8), kernel=kernel).astype(strokes.dtype)
    if blur:
        strokes = cv2.GaussianBlur(strokes, ksize=(5, 5), sigmaX=6.0)
    return strokes


def scribble_maps(
    strokes: Sequence[dict[str, Any]],
    obj_id: int,
    prev_mask: np.ndarray,
    dilation: int = 5,
    blur: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Positive and negative guidance maps of one object on one frame.

    Args:
        strokes: Every stroke drawn on the frame so far (DAVIS stroke dicts).
        obj_id: The object (strokes of other ids are negative).
        prev_mask: ``H x W`` labels of the frame before this round.
        dilation: Ellipse size of the dilation.
        blur: Gaussian-blur the maps (ATNet always does).

    Returns:
        ``(positive, negative)`` float32 ``H x W`` maps.
    """
    height, width = prev_mask.shape
    positive = np.zeros((height, width))
    negative = np.zeros((height, width))
    for stroke in strokes:
        points = np.round(np.asarray(stroke["path"], dtype=np.float64) * np.array((width, height))).astype(
            np.int64
        )
        pixels = bresenham(points) if len(points) > 1 else points
        if len(pixels) == 0:
            continue
        target = positive if stroke["object_id"] == obj_id else negative
        target[pixels[:, 1] - 1, pixels[:, 0] - 1] = 1
    positive = _postprocess(positive, dilation, blur)
    negative = _postprocess(negative, dilation, blur)
    negative[prev_mask != obj_id] = 0
    return positive.astype(np.float32), negative.astype(np.float32)


def propagation_order(
    annotated: Sequence[int], now: int, num_frames: int, proportion: float = 0.99
) -> list[int]:
    """Frames to process: ``now`` down to the backward limit, then ``now`` up to the forward limit.

    The limits are the frames next to the nearest other annotated frames, moved ``proportion`` of
    the way from ``now`` (rounded); with no annotated frame on a side the limit is the video's end.
    ``now`` appears twice (once per direction).
    """
    others = sorted(f for f in annotated if f != now)
    start = max((f + 1 for f in others if f < now), default=0)
    end = min((f - 1 for f in others if f > now), default=num_frames - 1)
    if proportion != 1.0:
        if start != 0:
            start = now - int((now - start) * proportion + 0.5)
        if end != num_frames - 1:
            end = now + int((end - now) * proportion + 0.5)
    order = list(range(now, start - 1, -1)) + list(range(now, end + 1))
    return order or [now]


def blend_weight(
    frame: int, now: int, annotated: Sequence[int], backward: bool, smallest: float = 0.5
) -> float:
    """Weight of this round's propagation at ``frame``; the rest comes from the previous round.

    It falls linearly from 1 at the annotated frame to ``smallest`` at the nearest annotated frame on
    the propagation side, and is 1 when there is none.
    """
    annotated = np.asarray(annotated)
    side = annotated[annotated < now] if backward else annotated[annotated > now]
    if len(side) == 0:
        return 1.0
    nearest = side.max() if backward else side.min()
    return float(smallest + (1 - smallest) * (frame - nearest) / (now - nearest))
