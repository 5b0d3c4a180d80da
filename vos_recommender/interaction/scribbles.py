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
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vos_recommender.utils.atomic import atomic_write_json

__all__ = [
    "PIXEL_RULES",
    "annotated_frames",
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


#: How normalised stroke points map to pixels: ``"inverse"`` (default) ``round(x * W)``, the exact inverse of
#: the robot's ``x = column / W``; ``"davis"``: davis-interactive's ``scribbles2mask``, ``floor(x * (W - 1))``.
PIXEL_RULES = ("inverse", "davis")


def _path_to_pixels(path: np.ndarray, height: int, width: int, pixel_rule: str = "inverse") -> np.ndarray:
    """Map normalised ``[x, y]`` points to integer pixel ``(col, row)`` coordinates inside the image.

    The robot writes ``x = col / width`` (the convention of the DAVIS robot), so ``"inverse"``
    recovers its pixel exactly. davis-interactive's rasteriser instead truncates ``x * (width - 1)``,
    which puts a robot point at ``col - 1`` for every ``col >= 1`` (one pixel up and left, everywhere in
    the image): a one-pixel stroke drawn on a one-pixel-wide region would land beside it. The project
    keeps the exact inverse on purpose and offers ``"davis"`` to reproduce davis-interactive's masks.
    Points on or past the far edge are clipped into the image.

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


def rasterize_all(scribble: Scribble, height: int, width: int, thickness: int = 1) -> np.ndarray:
    """Rasterise every frame of a scribble (e.g. all rounds fused with :func:`fuse_scribbles`).

    Args:
        scribble: Scribble dictionary.
        height: Output height.
        width: Output width.
        thickness: Line thickness in pixels.

    Returns:
        ``T x H x W`` int32 array, ``-1`` where no stroke passes.
    """
    return np.stack(
        [rasterize_scribble(scribble, t, height, width, thickness) for t in range(len(scribble["scribbles"]))]
    )


def scribble_points(
    scribble: Scribble, frame: int | None, height: int, width: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates of all path points on one frame, without drawing lines between them.

    Args:
        scribble: Scribble dictionary.
        frame: Frame index; ``None`` uses :func:`scribble_frame`.
        height: Image height in pixels.
        width: Image width in pixels.

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
            pix = _path_to_pixels(path, height, width)
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
    pixel_rule: str = "inverse",
) -> np.ndarray:
    """Draw the strokes of one frame into a label image.

    Consecutive path points are joined by straight segments (OpenCV's ``polylines``, i.e. Bresenham
    lines for ``thickness=1``), as the DAVIS tools do, so sparse paths still give connected strokes.
    Later strokes overwrite earlier ones where they cross. Points map to pixels as
    ``round(x * W), round(y * H)`` (clipped), the inverse of the robot's ``x = column / W``;
    davis-interactive's own rasteriser truncates ``x * (W - 1)``, ``y * (H - 1)``, one pixel up and left
    of that for robot points anywhere in the image (``pixel_rule="davis"`` reproduces it; see
    :func:`_path_to_pixels` for why the default differs). Its Bresenham lines and OpenCV's may also
    differ in which of two equally close pixels a diagonal step takes.

    Args:
        scribble: Scribble dictionary.
        frame: Frame index; ``None`` uses :func:`scribble_frame`.
        height: Output height in pixels.
        width: Output width in pixels.
        thickness: Line thickness in pixels.
        pixel_rule: ``"inverse"`` (default) or ``"davis"``; see :data:`PIXEL_RULES`.

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
    for stroke in scribble["scribbles"][frame]:
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
