"""Checks of what enters an interactive session: the video and the scribbles applied to it.

:func:`~vos_recommender.interaction.scribbles.validate_scribble` checks the DAVIS file format alone;
the checks here compare a scribble with the video it is drawn on (frame count, object ids, coordinates)
and a video with the DAVIS object numbering, so bad input fails with a message naming it instead of
running and scoring a silent J&F of 0 (or 1).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from vos_recommender.interaction.scribbles import Scribble, scribble_frame, validate_scribble
from vos_recommender.metrics.jf import object_ids_present

__all__ = ["check_scribble", "check_video"]


def check_video(video: Any) -> None:
    """Reject a video the interaction loop cannot use, naming it and what is wrong.

    DAVIS numbers the objects of a sequence ``1..K`` consecutively; ``num_objects`` is ``K``. A video
    whose masks skip an id would score the missing objects as perfect (J = F = 1: empty ground truth,
    empty prediction), so it is refused rather than counted.

    Args:
        video: A ``VideoSample`` (``name``, ``frames``, ``masks``, ``num_objects``).

    Raises:
        ValueError: On malformed frames or masks, no objects, or object ids that are not ``1..K``.
    """
    frames, masks = np.asarray(video.frames), np.asarray(video.masks)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(
            f"video {video.name!r}: frames must be uint8 T x H x W x 3, got {frames.dtype} {frames.shape}"
        )
    if masks.shape != frames.shape[:3]:
        raise ValueError(
            f"video {video.name!r}: masks are {masks.shape} (T x H x W) but frames are {frames.shape[:3]}"
        )
    num_objects = int(video.num_objects)
    if num_objects < 1:
        raise ValueError(f"video {video.name!r} has no annotated objects (its masks hold only background)")
    present = object_ids_present(masks)
    expected = list(range(1, num_objects + 1))
    if present != expected:
        missing = sorted(set(expected) - set(present))
        extra = sorted(set(present) - set(expected))
        problem = f"ids {missing} are missing" if missing else f"ids {extra} exceed num_objects"
        raise ValueError(
            f"video {video.name!r}: object ids must be 1..{num_objects} with none missing (DAVIS numbers "
            f"the objects consecutively), but the masks hold ids {present}: {problem}. Renumber them "
            f"1..K (convert_youtube_vos does) before use"
        )


def _is_integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def check_scribble(
    scribble: Scribble,
    num_frames: int,
    num_objects: int,
    source: str = "scribble",
    require_strokes: bool = False,
) -> int | None:
    """Check a scribble against the video it is applied to.

    Args:
        scribble: DAVIS scribble dictionary.
        num_frames: Frames of the video.
        num_objects: Objects of the video; stroke labels are ``0`` (background) to ``num_objects``.
        source: What the scribble is, quoted in error messages (e.g. ``"video 'bear' scribble 0"``).
        require_strokes: Refuse a scribble without any stroke (the first round: the VOS model needs at
            least one stroke to segment from).

    Returns:
        The annotated frame (:func:`~vos_recommender.interaction.scribbles.scribble_frame`), None for a
        scribble without strokes.

    Raises:
        ValueError: On a malformed scribble, a frame count that differs from the video's, a stroke
            label outside ``0..num_objects``, a point outside ``[0, 1]`` or, with ``require_strokes``,
            no stroke at all.
    """
    validate_scribble(scribble, source=source)
    if len(scribble["scribbles"]) != num_frames:
        raise ValueError(
            f"{source} has {len(scribble['scribbles'])} frame lists but the video has {num_frames} frames"
        )
    for frame, strokes in enumerate(scribble["scribbles"]):
        for index, stroke in enumerate(strokes):
            label = stroke["object_id"]
            if not _is_integer(label) or not 0 <= int(label) <= num_objects:
                raise ValueError(
                    f"{source}: stroke {index} on frame {frame} has object_id {label!r}; the video's labels "
                    f"are the integers 0 (background) to {num_objects}"
                )
            path = np.asarray(stroke["path"], dtype=np.float64).reshape(-1, 2)
            outside = ~((path >= 0.0) & (path <= 1.0)).all(axis=1)  # NaN counts as outside
            if outside.any():
                point = path[int(np.argmax(outside))].tolist()
                raise ValueError(
                    f"{source}: stroke {index} on frame {frame} has point {point} outside [0, 1]; "
                    "coordinates are normalised by the frame width and height"
                )
    frame = scribble_frame(scribble)
    if frame is None and require_strokes:
        raise ValueError(
            f"{source} has no strokes; the first round needs at least one stroke for the VOS model to "
            "segment the objects from"
        )
    return frame
