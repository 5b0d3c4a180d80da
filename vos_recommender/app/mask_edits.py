"""Editing a frame's mask by hand: brush, eraser, polygon (lasso) fill and click-to-segment.

An edit is a JSON dict the page sends::

    {"op": "brush" | "polygon" | "segment", "object_id": k, "erase": false,
     "points": [[x, y], ...], "width": w}

``points`` are normalised by the frame width and height like stroke paths (``[0, 1]``, the pixel
``(row, col)`` has its centre at ``((col + 0.5) / W, (row + 0.5) / H)``), ``width`` is in frame pixels.
Each op gives a region of the frame:

* ``brush``: the pixels within half the width of the polyline through the points (round ends; one
  point is a disk);
* ``polygon``: the filled polygon through the points (at least 3; a lasso is a polygon of many points);
* ``segment``: click-to-segment: a random walker (Grady, TPAMI 2006, as the ``flow`` backend segments
  scribbles) in a window around the one point, seeded with a disk of the given width as the object and
  the window's sides inside the frame as background (an object may run off the frame's edge); the
  region is the connected part of the walker's object (probability over 0.5) that holds the click.

Painting (``erase`` false) gives the region to object ``k``; erasing gives the pixels of object ``k``
inside the region to the background and leaves other objects alone.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import cv2
import numpy as np
from scipy import ndimage
from skimage.color import rgb2lab
from skimage.segmentation import random_walker

from vos_recommender.app.errors import AppInputError
from vos_recommender.app.strokes import MAX_BRUSH, MAX_POINTS_PER_STROKE, finite_number

__all__ = ["MASK_EDIT_OPS", "MaskEdit", "apply_mask_edit", "check_mask_edit", "edit_region", "segment_click"]

#: The edit kinds.
MASK_EDIT_OPS = ("brush", "polygon", "segment")
#: Points a polygon needs at least.
MIN_POLYGON_POINTS = 3
#: Click-to-segment works in a window of this fraction of the longer frame side each way around the click
#: (at least ``SEGMENT_MIN_HALF`` pixels), resampled to at most ``SEGMENT_MAX_SIDE`` pixels a side for the
#: walker, which keeps it well under a second at 854x480.
SEGMENT_WINDOW_FRACTION = 0.3
SEGMENT_MIN_HALF = 24
SEGMENT_MAX_SIDE = 160
#: Random-walker edge weight of click-to-segment (as the ``flow`` backend's default, on Lab / 100).
SEGMENT_BETA = 2000.0
# OpenCV drawing with sub-pixel coordinates: points are multiplied by 2**_SHIFT.
_SHIFT = 4


@dataclasses.dataclass(frozen=True)
class MaskEdit:
    """One checked edit (see the module doc).

    Attributes:
        op: ``"brush"``, ``"polygon"`` or ``"segment"``.
        object_id: The object painted or erased, ``1..O``.
        erase: True to erase the object inside the region, False to paint it.
        points: ``N x 2`` float array of normalised ``(x, y)`` points.
        width: Brush width, or click disk diameter, in frame pixels.
    """

    op: str
    object_id: int
    erase: bool
    points: np.ndarray
    width: float

    def to_json(self) -> dict[str, Any]:
        """The edit as the page sends it."""
        return {
            "op": self.op,
            "object_id": self.object_id,
            "erase": self.erase,
            "points": self.points.tolist(),
            "width": self.width,
        }


def check_mask_edit(edit: Any, frame: int, num_objects: int) -> MaskEdit:
    """Validate an edit sent for ``frame``.

    Raises:
        AppInputError: Naming the frame, the field and what is wrong.
    """
    where = f"frame {frame}, mask edit"
    if not isinstance(edit, dict):
        raise AppInputError(f"{where}: must be a JSON object, got {type(edit).__name__}")
    unknown = set(edit) - {"op", "object_id", "erase", "points", "width"}
    if unknown:
        raise AppInputError(f"{where}: unknown fields {sorted(unknown)}")
    op = edit.get("op")
    if op not in MASK_EDIT_OPS:
        raise AppInputError(f"{where}: op {op!r} is not one of {', '.join(MASK_EDIT_OPS)}")
    object_id = edit.get("object_id")
    if num_objects == 0:
        raise AppInputError(f"{where}: add an object first (a mask edit paints or erases an object)")
    if not isinstance(object_id, int) or isinstance(object_id, bool) or not 1 <= object_id <= num_objects:
        raise AppInputError(f"{where}: object_id {object_id!r} is not an object id 1..{num_objects}")
    erase = edit.get("erase", False)
    if not isinstance(erase, bool):
        raise AppInputError(f"{where}: erase must be true or false, got {erase!r}")
    width = edit.get("width", 1)
    if not (finite_number(width) and 0 < width <= MAX_BRUSH):
        raise AppInputError(
            f"{where}: width {width!r} must be a finite number of pixels, 0 < width <= {MAX_BRUSH:g}"
        )
    points = edit.get("points")
    if not isinstance(points, list) or not points or len(points) > MAX_POINTS_PER_STROKE:
        size = f"{len(points)} points" if isinstance(points, list) else type(points).__name__
        raise AppInputError(
            f"{where}: points must be a list of 1..{MAX_POINTS_PER_STROKE} [x, y] points, got {size}"
        )
    for point in points:
        if not (isinstance(point, list) and len(point) == 2 and all(finite_number(v) for v in point)):
            raise AppInputError(f"{where}: point {point!r} is not [x, y] with finite numbers")
        if not (0.0 <= point[0] <= 1.0 and 0.0 <= point[1] <= 1.0):
            raise AppInputError(f"{where}: point {point!r} is outside [0, 1] (coordinates are normalised)")
    if op == "polygon" and len(points) < MIN_POLYGON_POINTS:
        raise AppInputError(
            f"{where}: a polygon needs at least {MIN_POLYGON_POINTS} points, got {len(points)}"
        )
    if op == "segment" and len(points) != 1:
        raise AppInputError(f"{where}: click-to-segment takes exactly one point, got {len(points)}")
    return MaskEdit(op, object_id, erase, np.asarray(points, dtype=np.float64), float(width))


def _pixels(points: np.ndarray, height: int, width: int) -> np.ndarray:
    """Normalised points -> OpenCV fixed-point pixel coordinates (pixel centres at integers)."""
    xy = points * np.array([width, height]) - 0.5
    return np.round(xy * (1 << _SHIFT)).astype(np.int32)


def segment_click(image: np.ndarray, point: np.ndarray, diameter: float) -> np.ndarray:
    """Click-to-segment: the region a random walker gives the object clicked at ``point``.

    Args:
        image: ``H x W x 3`` uint8 RGB frame.
        point: Normalised ``(x, y)`` of the click.
        diameter: Diameter in pixels of the object seed disk around the click.

    Returns:
        ``H x W`` bool region, connected, holding the click.
    """
    height, width = image.shape[:2]
    col = int(np.clip(np.floor(point[0] * width), 0, width - 1))  # the pixel whose cell holds the click
    row = int(np.clip(np.floor(point[1] * height), 0, height - 1))
    half = max(SEGMENT_MIN_HALF, int(round(SEGMENT_WINDOW_FRACTION * max(height, width))))
    top, bottom = max(0, row - half), min(height, row + half + 1)
    left, right = max(0, col - half), min(width, col + half + 1)
    crop = image[top:bottom, left:right]
    crop_h, crop_w = crop.shape[:2]
    scale = min(1.0, SEGMENT_MAX_SIDE / max(crop_h, crop_w))
    small_h, small_w = max(3, round(crop_h * scale)), max(3, round(crop_w * scale))
    small = cv2.resize(crop, (small_w, small_h), interpolation=cv2.INTER_AREA) if scale < 1 else crop
    seeds = np.zeros((small_h, small_w), dtype=np.int32)
    # Background: the window's sides inside the frame (an object may run off the frame's own edge);
    # all four when the window is the whole frame.
    inner = [top > 0, bottom < height, left > 0, right < width]
    for side, index in zip(
        inner if any(inner) else [True] * 4, (np.s_[0, :], np.s_[-1, :], np.s_[:, 0], np.s_[:, -1])
    ):
        if side:
            seeds[index] = 2
    centre = (int((col - left + 0.5) * small_w / crop_w), int((row - top + 0.5) * small_h / crop_h))
    cv2.circle(seeds, centre, max(1, int(round(diameter / 2 * scale))), 1, thickness=-1)
    disk = np.zeros((crop_h, crop_w), dtype=np.uint8)
    cv2.circle(disk, (col - left, row - top), max(1, int(round(diameter / 2))), 1, thickness=-1)
    region = np.zeros((height, width), dtype=bool)
    if not (seeds == 2).any():  # the disk covers the whole window
        region[top:bottom, left:right] = disk > 0
        return region
    features = (rgb2lab(small.astype(np.float32) / 255.0) / 100.0).astype(np.float32)
    probs = random_walker(
        features, seeds, beta=SEGMENT_BETA, mode="bf", channel_axis=-1, return_full_prob=True
    )
    object_prob = np.nan_to_num(probs[0], nan=0.0).astype(np.float32)
    if scale < 1:
        object_prob = cv2.resize(object_prob, (crop_w, crop_h), interpolation=cv2.INTER_LINEAR)
    inside = (object_prob > 0.5) | (disk > 0)
    labels, _ = ndimage.label(inside)
    region[top:bottom, left:right] = labels == labels[row - top, col - left]
    return region


def edit_region(edit: MaskEdit, image: np.ndarray) -> np.ndarray:
    """The ``H x W`` bool region an edit covers on the frame ``image`` (``H x W x 3`` uint8)."""
    height, width = image.shape[:2]
    if edit.op == "segment":
        return segment_click(image, edit.points[0], edit.width)
    canvas = np.zeros((height, width), dtype=np.uint8)
    pixels = _pixels(edit.points, height, width)
    if edit.op == "polygon":
        cv2.fillPoly(canvas, [pixels], 1, lineType=cv2.LINE_8, shift=_SHIFT)
        return canvas.astype(bool)
    # The brush: every pixel whose centre is within width / 2 of the path (OpenCV's thick lines are
    # wider than asked), measured from the path drawn one pixel thin.
    cv2.polylines(canvas, [pixels], False, 1, thickness=1, lineType=cv2.LINE_8, shift=_SHIFT)
    col, row = np.clip(np.round(pixels[0] / (1 << _SHIFT)).astype(int), 0, [width - 1, height - 1])
    canvas[row, col] = 1  # a path of one point
    return ndimage.distance_transform_edt(canvas == 0) <= edit.width / 2


def apply_mask_edit(mask: np.ndarray, edit: MaskEdit, image: np.ndarray) -> np.ndarray:
    """The frame's label ``mask`` after ``edit`` (a new array; ``image`` is the frame, for ``segment``)."""
    region = edit_region(edit, image)
    edited = mask.copy()
    if edit.erase:
        edited[region & (mask == edit.object_id)] = 0
    else:
        edited[region] = edit.object_id
    return edited
