"""Strokes drawn in the page: checks, and the DAVIS scribble a round applies.

A stroke is a DAVIS stroke dict: ``path`` (``[[x, y], ...]`` normalised by the frame width and height),
``object_id`` (``1..O`` for a positive stroke, ``0`` for a negative one, i.e. background), ``start_time``
and ``end_time`` in milliseconds. ``brush`` (the width drawn in the page, in frame pixels) is kept as an
extra key, which DAVIS readers ignore.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from vos_recommender.app.errors import AppInputError
from vos_recommender.interaction.scribbles import empty_scribble

__all__ = [
    "MAX_BRUSH",
    "MAX_DRAFT_POINTS",
    "MAX_POINTS_PER_STROKE",
    "MAX_STROKES_PER_FRAME",
    "check_draft_size",
    "finite_number",
    "check_strokes",
    "make_scribble",
    "remove_object_strokes",
]

#: Strokes one frame may hold (the page draws a few dozen at most).
MAX_STROKES_PER_FRAME = 500
#: Points one stroke may hold (the page samples the pointer at about 60-240 Hz: a minute of drawing).
MAX_POINTS_PER_STROKE = 10_000
#: Widest brush in frame pixels (the page offers 1..24).
MAX_BRUSH = 1000.0
#: Points the unsent strokes of all frames together may hold (they are saved with every edit).
MAX_DRAFT_POINTS = 100_000


def finite_number(value: Any) -> bool:
    """A JSON number: int or float, not a bool, not a string of digits, not NaN or infinite."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def check_strokes(strokes: Any, frame: int, num_frames: int, num_objects: int) -> list[dict[str, Any]]:
    """Validate the strokes of one frame and return clean copies.

    Args:
        strokes: List of stroke dicts, as sent by the page.
        frame: Frame they are drawn on.
        num_frames: Frames of the video.
        num_objects: Objects of the session.

    Raises:
        AppInputError: Naming the frame, the stroke and what is wrong.
    """
    if not isinstance(frame, int) or isinstance(frame, bool) or not 0 <= frame < num_frames:
        raise AppInputError(f"frame {frame!r} is outside the video (0..{num_frames - 1})")
    if not isinstance(strokes, list):
        raise AppInputError(f"frame {frame}: strokes must be a list, got {type(strokes).__name__}")
    if len(strokes) > MAX_STROKES_PER_FRAME:
        raise AppInputError(
            f"frame {frame}: {len(strokes)} strokes, at most {MAX_STROKES_PER_FRAME} per frame are accepted"
        )
    clean = []
    for index, stroke in enumerate(strokes):
        where = f"frame {frame}, stroke {index}"
        if not isinstance(stroke, dict) or "path" not in stroke or "object_id" not in stroke:
            raise AppInputError(f"{where}: a stroke needs 'path' and 'object_id'")
        object_id = stroke["object_id"]
        if (
            num_objects == 0
            and isinstance(object_id, int)
            and not isinstance(object_id, bool)
            and object_id > 0
        ):
            raise AppInputError(
                f"{where}: there is no object yet for this stroke to mark: add one first (+ Add, or the A key); "
                "background strokes need none"
            )
        if not isinstance(object_id, int) or isinstance(object_id, bool) or not 0 <= object_id <= num_objects:
            raise AppInputError(
                f"{where}: object_id {object_id!r} is not 0 (background) or an object id 1..{num_objects}"
            )
        path = stroke["path"]
        if not isinstance(path, list) or not path or len(path) > MAX_POINTS_PER_STROKE:
            size = f"{len(path)} points" if isinstance(path, list) else type(path).__name__
            raise AppInputError(
                f"{where}: path must be a list of 1..{MAX_POINTS_PER_STROKE} [x, y] points, got {size}"
            )
        for point in path:
            if not (isinstance(point, list) and len(point) == 2 and all(finite_number(v) for v in point)):
                raise AppInputError(f"{where}: path point {point!r} is not [x, y] with finite numbers")
            if not (0.0 <= point[0] <= 1.0 and 0.0 <= point[1] <= 1.0):
                raise AppInputError(
                    f"{where}: path point {point!r} is outside [0, 1] (coordinates are normalised)"
                )
        start = stroke.get("start_time", 0)
        end = stroke.get("end_time", start)
        if not (finite_number(start) and finite_number(end)) or end < start:
            raise AppInputError(
                f"{where}: start_time/end_time must be finite numbers (milliseconds) with end >= start, "
                f"got {start!r}/{end!r}"
            )
        item = {"path": [[float(x), float(y)] for x, y in path], "object_id": object_id}
        item.update(start_time=float(start), end_time=float(end))
        if "brush" in stroke:
            brush = stroke["brush"]
            if not (finite_number(brush) and 0 < brush <= MAX_BRUSH):
                raise AppInputError(
                    f"{where}: brush {brush!r} must be a finite width in frame pixels, 0 < brush <= {MAX_BRUSH:g}"
                )
            item["brush"] = float(brush)
        clean.append(item)
    return clean


def check_draft_size(
    drafts: dict[int, list[dict[str, Any]]], frame: int, strokes: list[dict[str, Any]]
) -> None:
    """Refuse ``strokes`` on ``frame`` if the drafts of all frames would then pass :data:`MAX_DRAFT_POINTS`.

    Raises:
        AppInputError: Naming the total and the limit.
    """
    limit = MAX_DRAFT_POINTS
    total = sum(len(s["path"]) for t, frame_strokes in drafts.items() if t != frame for s in frame_strokes)
    total += sum(len(s["path"]) for s in strokes)
    if total > limit:
        raise AppInputError(
            f"frame {frame}: the unsent strokes of all frames would hold {total} points, at most "
            f"{limit} are kept; run or clear the strokes of other frames first"
        )


def make_scribble(
    sequence: str, num_frames: int, frame: int, strokes: list[dict[str, Any]]
) -> dict[str, Any]:
    """The DAVIS scribble of one round: ``strokes`` on ``frame``, nothing elsewhere."""
    scribble = empty_scribble(sequence, num_frames)
    scribble["scribbles"][frame] = [dict(s) for s in strokes]
    scribble["annotated_frame"] = int(frame)
    return scribble


def remove_object_strokes(strokes: list[dict[str, Any]], object_id: int) -> list[dict[str, Any]]:
    """Drop the strokes of a deleted object and shift higher ids down by one (ids stay ``1..O``)."""
    kept = []
    for stroke in strokes:
        sid = int(stroke["object_id"])
        if sid == object_id:
            continue
        kept.append({**stroke, "object_id": sid - 1 if sid > object_id else sid})
    return kept
