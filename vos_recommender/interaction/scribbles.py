"""DAVIS interactive scribble format: reading, writing, inspecting and rasterising.

A scribble is a plain dictionary, stored as JSON exactly as the DAVIS-2017 interactive track ships it
(``Scribbles/<sequence>/001.json``)::

    {
        "scribbles": [[], [], [{"path": [[x, y], ...], "object_id": 1,
                                "start_time": 0, "end_time": 1712}, ...], [], ...],
        "sequence": "bear",
        "annotated_frame": 2          # optional, for fast look-up
    }

``scribbles`` holds one list of strokes per frame of the sequence. A stroke's ``path`` is a list of
``[x, y]`` points normalised by the frame width and height (so both lie in ``[0, 1]``), ``object_id`` is
the label the stroke marks (``0`` = background) and ``start_time`` / ``end_time`` are when it was drawn,
in milliseconds. Real DAVIS files omit ``annotated_frame``; files written here include it.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vos_recommender.utils.atomic import atomic_write_json

__all__ = [
    "PIXEL_RULES",
    "annotated_frames",
    "bresenham_line",
    "davis_rasterize",
    "empty_scribble",
    "fuse_scribbles",
    "is_empty",
    "load_scribble",
    "rasterize_all",
    "rasterize_scribble",
    "save_scribble",
    "scribble_frame",
    "scribble_points",
    "validate_scribble",
]

Scribble = dict[str, Any]


def validate_scribble(scribble: Scribble, source: str | os.PathLike | None = None) -> Scribble:
    """Check that a dictionary follows the DAVIS scribble format.

    Args:
        scribble: The dictionary to check.
        source: Where it came from, quoted in error messages (e.g. a file path).

    Returns:
        The same dictionary, for chaining.

    Raises:
        ValueError: If a required key is missing or has the wrong type.
    """
    where = f" in {source}" if source is not None else ""
    if not isinstance(scribble, dict):
        raise ValueError(f"scribble{where} must be a dict, got {type(scribble).__name__}")
    if "scribbles" not in scribble or not isinstance(scribble["scribbles"], list):
        raise ValueError(f"scribble{where} needs a 'scribbles' list with one list of strokes per frame")
    if "sequence" not in scribble:
        raise ValueError(f"scribble{where} needs a 'sequence' name")
    for frame, strokes in enumerate(scribble["scribbles"]):
        if not isinstance(strokes, list):
            raise ValueError(f"scribble{where}: frame {frame} must hold a list of strokes")
        for stroke in strokes:
            if not isinstance(stroke, dict) or "path" not in stroke or "object_id" not in stroke:
                raise ValueError(f"scribble{where}: frame {frame} has a stroke without 'path'/'object_id'")
            path = np.asarray(stroke["path"], dtype=np.float64)
            if path.size and (path.ndim != 2 or path.shape[1] != 2):
                raise ValueError(f"scribble{where}: frame {frame} has a path that is not a list of [x, y]")
    annotated = scribble.get("annotated_frame")
    if annotated is not None and not 0 <= int(annotated) < len(scribble["scribbles"]):
        raise ValueError(f"scribble{where}: annotated_frame {annotated} is outside the sequence")
    return scribble


def load_scribble(path: str | os.PathLike) -> Scribble:
    """Read a scribble JSON file (real DAVIS files and files written by :func:`save_scribble`).

    Args:
        path: Path to the ``.json`` file.

    Returns:
        The scribble dictionary.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file is not valid JSON or not in the DAVIS scribble format.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"scribble file not found: {path}")
    try:
        with path.open("r", encoding="utf-8") as handle:
            data = json.load(handle)
    except json.JSONDecodeError as err:
        raise ValueError(f"scribble file {path} is not valid JSON: {err}") from err
    return validate_scribble(data, source=path)


def save_scribble(path: str | os.PathLike, scribble: Scribble) -> None:
    """Write a scribble as JSON, atomically.

    The file is written to a temporary name in the same folder and then renamed, so a reader never
    sees a half-written file even if several processes produce scribbles concurrently.

    Args:
        path: Destination ``.json`` path; parent folders are created.
        scribble: Scribble dictionary in the DAVIS format.
    """
    validate_scribble(scribble)
    atomic_write_json(path, _to_builtin(scribble))


def _to_builtin(value: Any) -> Any:
    """Convert numpy scalars/arrays nested in a scribble to JSON-serialisable Python types."""
    if isinstance(value, dict):
        return {str(k): _to_builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_builtin(v) for v in value]
    if isinstance(value, np.ndarray):
        return _to_builtin(value.tolist())
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def empty_scribble(sequence: str, num_frames: int) -> Scribble:
    """Create a scribble with no strokes.

    Args:
        sequence: Sequence name.
        num_frames: Number of frames of the sequence.

    Returns:
        A scribble dictionary with ``num_frames`` empty stroke lists.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    return {"scribbles": [[] for _ in range(num_frames)], "sequence": sequence}


def annotated_frames(scribble: Scribble) -> list[int]:
    """Indices of all frames that hold at least one stroke, ascending."""
    return [i for i, strokes in enumerate(scribble["scribbles"]) if strokes]


def scribble_frame(scribble: Scribble) -> int | None:
    """The annotated frame of a scribble.

    Uses ``annotated_frame`` when the dictionary has it (and that frame is not empty); otherwise the
    first frame with strokes, which is how real DAVIS files (which lack the key) are read.

    Args:
        scribble: Scribble dictionary.

    Returns:
        The frame index, or ``None`` when the scribble has no strokes at all.
    """
    frames = annotated_frames(scribble)
    annotated = scribble.get("annotated_frame")
    if annotated is not None and int(annotated) in frames:
        return int(annotated)
    return frames[0] if frames else None


def is_empty(scribble: Scribble) -> bool:
    """True when no frame of the scribble has a stroke."""
    return not annotated_frames(scribble)


def fuse_scribbles(scribbles: Iterable[Scribble]) -> Scribble:
    """Merge several scribbles of one sequence (e.g. all rounds so far) into one.

    Args:
        scribbles: Scribbles of the same sequence and length.

    Returns:
        A new scribble whose per-frame stroke lists are the concatenation of the inputs'. Its
        ``annotated_frame`` is the last input's annotated frame (the latest interaction).

    Raises:
        ValueError: If the inputs disagree on sequence or frame count, or none is given.
    """
    scribbles = list(scribbles)
    if not scribbles:
        raise ValueError("fuse_scribbles needs at least one scribble")
    first = scribbles[0]
    fused = empty_scribble(first["sequence"], len(first["scribbles"]))
    for scribble in scribbles:
        if scribble["sequence"] != first["sequence"]:
            raise ValueError(
                f"cannot fuse scribbles of sequences {first['sequence']!r} and {scribble['sequence']!r}"
            )
        if len(scribble["scribbles"]) != len(fused["scribbles"]):
            raise ValueError("cannot fuse scribbles with different numbers of frames")
        for frame, strokes in enumerate(scribble["scribbles"]):
            fused["scribbles"][frame].extend(copy.deepcopy(strokes))
    last = scribble_frame(scribbles[-1])
    if last is not None:
        fused["annotated_frame"] = last
    return fused


#: How normalised stroke points map to pixels: ``"davis"`` (default) davisinteractive 1.0.4's ``scribbles2mask``,
#: ``floor(x * (W - 1))`` with its Bresenham lines; ``"inverse"``: ``round(x * W)``, the exact inverse of the robot's
#: ``x = column / W``, with OpenCV lines.
PIXEL_RULES = ("davis", "inverse")


def _path_to_pixels(path: np.ndarray, height: int, width: int, pixel_rule: str = "davis") -> np.ndarray:
    """Map normalised ``[x, y]`` points to integer pixel ``(col, row)`` coordinates inside the image.

    ``"davis"`` truncates ``x * (width - 1)`` as davisinteractive's ``scribbles2mask`` does, which puts
    a robot point (``x = col / width``) at ``col - 1`` for every ``col >= 1`` (one pixel up and left):
    a one-pixel stroke drawn on a one-pixel-wide region lands beside it. ``"inverse"`` rounds
    ``x * width`` and so recovers the robot's pixel exactly. Points on or past the far edge are
    clipped into the image.

    Raises:
        ValueError: If ``pixel_rule`` is not one of :data:`PIXEL_RULES`.
    """
    if pixel_rule == "inverse":
        pixels = np.rint(path * np.array([width, height], dtype=np.float64)).astype(np.int64)
    elif pixel_rule == "davis":
        pixels = np.floor(path * np.array([width - 1, height - 1], dtype=np.float64)).astype(np.int64)
    else:
        raise ValueError(f"pixel_rule must be one of {PIXEL_RULES}, got {pixel_rule!r}")
    pixels[:, 0] = np.clip(pixels[:, 0], 0, width - 1)
    pixels[:, 1] = np.clip(pixels[:, 1], 0, height - 1)
    return pixels


def bresenham_line(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Integer pixels ``N x 2`` (x, y) from ``start`` to ``end``, both included, as davisinteractive draws them.

    Along the major axis every pixel is visited; the minor coordinate after ``k`` steps is
    ``floor((2 * minor * k + major) / (2 * major))``, i.e. ``k * minor / major`` rounded half up, the
    closed form of davisinteractive's error-accumulating loop (which steps when the error is >= 0).
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
    """davisinteractive's ``scribbles2mask`` for one frame: ``(path, value)`` strokes drawn in order.

    Points are scaled by ``(W - 1, H - 1)`` and truncated, consecutive points joined by
    :func:`bresenham_line`, later strokes overwrite earlier ones. Re-implemented (vectorised) because
    that package pins NumPy < 1.24; equal to it on recorded robot scribbles
    (``tests/vos/test_davis_reference.py``).

    Args:
        strokes: Normalised ``[[x, y], ...]`` paths with the value to write.
        height: Image height.
        width: Image width.

    Returns:
        ``H x W`` int64 image, ``-1`` where no stroke passes.
    """
    canvas = np.full((height, width), -1, dtype=np.int64)
    for path, value in strokes:
        points = np.asarray(path, dtype=np.float64).reshape(-1, 2)
        if len(points) == 0:
            continue
        points = _path_to_pixels(points, height, width, "davis")
        if len(points) > 1:
            points = np.concatenate([bresenham_line(a, b) for a, b in zip(points[:-1], points[1:])])
        canvas[points[:, 1], points[:, 0]] = value
    return canvas


def rasterize_all(
    scribble: Scribble, height: int, width: int, thickness: int = 1, pixel_rule: str = "davis"
) -> np.ndarray:
    """Rasterise every frame of a scribble (e.g. all rounds fused with :func:`fuse_scribbles`).

    Args:
        scribble: Scribble dictionary.
        height: Output height.
        width: Output width.
        thickness: Line thickness in pixels.
        pixel_rule: See :func:`rasterize_scribble`.

    Returns:
        ``T x H x W`` int32 array, ``-1`` where no stroke passes.
    """
    return np.stack(
        [
            rasterize_scribble(scribble, t, height, width, thickness, pixel_rule)
            for t in range(len(scribble["scribbles"]))
        ]
    )


def scribble_points(
    scribble: Scribble, frame: int | None, height: int, width: int, pixel_rule: str = "davis"
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates of all path points on one frame, without drawing lines between them.

    Args:
        scribble: Scribble dictionary.
        frame: Frame index; ``None`` uses :func:`scribble_frame`.
        height: Image height in pixels.
        width: Image width in pixels.
        pixel_rule: One of :data:`PIXEL_RULES` (see :func:`rasterize_scribble`).

    Returns:
        ``(points, object_ids)``: an ``N x 2`` int array of ``(row, col)`` and the ``N`` object ids.
    """
    if frame is None:
        frame = scribble_frame(scribble)
    rows: list[np.ndarray] = []
    ids: list[np.ndarray] = []
    if frame is not None:
        for stroke in scribble["scribbles"][frame]:
            path = np.asarray(stroke["path"], dtype=np.float64).reshape(-1, 2)
            if len(path) == 0:
                continue
            pix = _path_to_pixels(path, height, width, pixel_rule)
            rows.append(pix[:, ::-1])
            ids.append(np.full(len(pix), int(stroke["object_id"]), dtype=np.int64))
    if not rows:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(rows), np.concatenate(ids)


def rasterize_scribble(
    scribble: Scribble,
    frame: int | None,
    height: int,
    width: int,
    thickness: int = 1,
    pixel_rule: str = "davis",
) -> np.ndarray:
    """Draw the strokes of one frame into a label image.

    Consecutive path points are joined by straight segments, so sparse paths still give connected
    strokes; later strokes overwrite earlier ones where they cross. Two rules, see :data:`PIXEL_RULES`:

    * ``"davis"`` (default): davisinteractive 1.0.4's ``scribbles2mask`` (points truncated from
      ``x * (W - 1)``, ``y * (H - 1)``; its Bresenham lines), pixel for pixel at ``thickness=1``
      (:func:`davis_rasterize`). That is what the DAVIS tools, IPN and MANet feed their networks. A
      robot point (``x = column / W``) lands one pixel up and left of its pixel.
    * ``"inverse"``: ``round(x * W)``, ``round(y * H)``, the exact inverse of the robot's
      ``x = column / W``, joined by OpenCV lines (which may take the other of two equally close pixels
      on a diagonal step).

    With ``thickness > 1`` both rules draw OpenCV lines of that width through their pixels
    (davisinteractive has no thickness).

    Args:
        scribble: Scribble dictionary.
        frame: Frame index; ``None`` uses :func:`scribble_frame`.
        height: Output height in pixels.
        width: Output width in pixels.
        thickness: Line thickness in pixels.
        pixel_rule: ``"davis"`` (default) or ``"inverse"``.

    Returns:
        ``H x W`` int32 array: ``-1`` where no stroke passes, else the stroke's object id (0 = background).

    Raises:
        ValueError: On an invalid size or ``pixel_rule``.
    """
    if height < 1 or width < 1:
        raise ValueError(f"invalid output size {height}x{width}")
    if pixel_rule not in PIXEL_RULES:
        raise ValueError(f"pixel_rule must be one of {PIXEL_RULES}, got {pixel_rule!r}")
    canvas = np.full((height, width), -1, dtype=np.int32)
    if frame is None:
        frame = scribble_frame(scribble)
        if frame is None:
            return canvas
    if not 0 <= frame < len(scribble["scribbles"]):
        raise IndexError(f"frame {frame} outside a scribble with {len(scribble['scribbles'])} frames")
    strokes = scribble["scribbles"][frame]
    if pixel_rule == "davis" and int(thickness) <= 1:
        drawn = davis_rasterize([(s["path"], int(s["object_id"])) for s in strokes], height, width)
        return drawn.astype(np.int32)
    for stroke in strokes:
        path = np.asarray(stroke["path"], dtype=np.float64).reshape(-1, 2)
        if len(path) == 0:
            continue
        pixels = _path_to_pixels(path, height, width, pixel_rule).astype(np.int32)
        obj_id = int(stroke["object_id"])
        # OpenCV draws into uint8/int32 images; drawing each stroke into a binary layer and then
        # writing the id keeps ids above 255 (YouTube-VOS) intact.
        layer = np.zeros((height, width), dtype=np.uint8)
        if len(pixels) == 1:
            cv2.circle(layer, tuple(int(v) for v in pixels[0]), max(thickness // 2, 0), 1, -1)
        else:
            cv2.polylines(layer, [pixels.reshape(-1, 1, 2)], False, 1, thickness=max(int(thickness), 1))
        canvas[layer > 0] = obj_id
    return canvas
