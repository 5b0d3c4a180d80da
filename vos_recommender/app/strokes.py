"""Strokes drawn in the page: checks, and the DAVIS scribble a round applies.

A stroke is a DAVIS stroke dict: ``path`` (``[[x, y], ...]`` normalised by the frame width and height),
``object_id`` (``1..O`` for a positive stroke, ``0`` for a negative one, i.e. background), ``start_time``
and ``end_time`` in milliseconds. ``brush`` (the width drawn in the page, in frame pixels) is kept as an
extra key, which DAVIS readers ignore.
"""

from __future__ import annotations

import numbers
from typing import Any

from vos_recommender.interaction.scribbles import empty_scribble

__all__ = ["check_strokes", "make_scribble", "remove_object_strokes"]

MAX_POINTS = 20000


def _number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_strokes(strokes: Any, frame: int, num_frames: int, num_objects: int) -> list[dict[str, Any]]:
    """Validate the strokes of one frame and return clean copies.

    Args:
        strokes: List of stroke dicts, as sent by the page.
        frame: Frame they are drawn on.
        num_frames: Frames of the video.
        num_objects: Objects of the session.

    Raises:
        ValueError: Naming the frame, the stroke and what is wrong.
    """
    if not isinstance(frame, int) or not 0 <= frame < num_frames:
        raise ValueError(f"frame {frame!r} is outside the video (0..{num_frames - 1})")
    if not isinstance(strokes, list):
        raise ValueError(f"frame {frame}: strokes must be a list, got {type(strokes).__name__}")
    clean = []
    for index, stroke in enumerate(strokes):
        where = f"frame {frame}, stroke {index}"
        if not isinstance(stroke, dict) or "path" not in stroke or "object_id" not in stroke:
            raise ValueError(f"{where}: a stroke needs 'path' and 'object_id'")
        object_id = stroke["object_id"]
        if not isinstance(object_id, int) or isinstance(object_id, bool) or not 0 <= object_id <= num_objects:
            raise ValueError(
                f"{where}: object_id {object_id!r} is not 0 (background) or an object id 1..{num_objects}"
            )
        path = stroke["path"]
        if not isinstance(path, list) or not path or len(path) > MAX_POINTS:
            raise ValueError(f"{where}: path must be a list of 1..{MAX_POINTS} [x, y] points")
        for point in path:
            if not (isinstance(point, list) and len(point) == 2 and all(_number(v) for v in point)):
                raise ValueError(f"{where}: path point {point!r} is not [x, y]")
            if not (0.0 <= point[0] <= 1.0 and 0.0 <= point[1] <= 1.0):
                raise ValueError(
                    f"{where}: path point {point!r} is outside [0, 1] (coordinates are normalised)"
                )
        start = stroke.get("start_time", 0)
        end = stroke.get("end_time", start)
        if not (_number(start) and _number(end)) or end < start:
            raise ValueError(f"{where}: start_time/end_time must be numbers with end >= start")
        item = {"path": [[float(x), float(y)] for x, y in path], "object_id": object_id}
        item.update(start_time=float(start), end_time=float(end))
        if "brush" in stroke and _number(stroke["brush"]):
            item["brush"] = float(stroke["brush"])
        clean.append(item)
    return clean


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
