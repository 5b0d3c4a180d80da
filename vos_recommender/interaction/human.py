"""A simulated human annotator's first-round scribbles, as in the DAVIS interactive data.

Unlike the DAVIS robot (:mod:`vos_recommender.interaction.robot`), which corrects a segmentation's
errors, this user draws the *first* round from the ground truth alone: one or two strokes well inside
every visible object along a random stretch of its central line, with a slow hand wobble, and one or two
background strokes kept away from the objects, in random order with simulated drawing times. The
generated data set stores three such scribbles per sequence (``Scribbles/<seq>/001.json`` ..), on frames
where the objects are well visible (:func:`pick_scribble_frames`).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d

from vos_recommender.interaction.scribbles import empty_scribble
from vos_recommender.interaction.skeleton import longest_paths, shrink_until, smooth_path

__all__ = ["human_scribble", "pick_scribble_frames"]


def _erode_keep(region: np.ndarray, radius: int) -> np.ndarray:
    """Erode a region by up to ``radius`` pixels, shrinking the radius rather than erasing it.

    Pixels outside the image count as background here (unlike :func:`~.skeleton.open_region`), so the
    strokes also keep away from the image border.
    """
    src = region.astype(np.uint8)

    def erode(r: float) -> np.ndarray:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * int(r) + 1, 2 * int(r) + 1))
        return cv2.erode(src, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)

    # At least 8 pixels are kept, enough for a medial axis to give a short path.
    eroded = shrink_until(erode, radius, lambda e: np.count_nonzero(e) >= 8, lambda r: r - 1, 0)
    return region.copy() if eroded is None else eroded.astype(bool)


def _human_stroke(rng: np.random.Generator, region: np.ndarray, erosion: float) -> np.ndarray | None:
    """One stroke drawn well inside a region: a random stretch of its central line, with hand jitter."""
    area = int(np.count_nonzero(region))
    if area < 6:
        return None
    inner = _erode_keep(region, int(round(erosion * math.sqrt(area))))
    paths = longest_paths(inner, min_nb_nodes=2)
    if not paths:
        rows, cols = np.nonzero(inner if inner.any() else region)
        centre = np.array([cols.mean(), rows.mean()])
        return centre[None, :]
    path = paths[0]
    if len(path) > 6:
        keep = rng.uniform(0.6, 1.0)
        n_keep = max(4, int(round(keep * len(path))))
        start = int(rng.integers(0, len(path) - n_keep + 1))
        path = path[start : start + n_keep]
    curve = smooth_path(path, nb_points=400, sigma=2.0)
    if len(curve) > 3:
        # A slow sideways wobble of about a pixel imitates an unsteady hand without leaving the region.
        normal = np.gradient(curve, axis=0)[:, ::-1] * np.array([1.0, -1.0])
        normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-6)
        wobble = gaussian_filter1d(rng.normal(0, 1.0, len(curve)), sigma=max(2.0, len(curve) / 8)) * 3.0
        curve = curve + normal * wobble[:, None]
    height, width = region.shape
    cols = np.clip(np.rint(curve[:, 0]).astype(int), 0, width - 1)
    rows = np.clip(np.rint(curve[:, 1]).astype(int), 0, height - 1)
    inside = region[rows, cols]
    curve = curve[inside]
    return curve if len(curve) else None


def human_scribble(
    masks: np.ndarray, frame: int, num_objects: int, sequence: str, rng: np.random.Generator
) -> dict:
    """A human-like first-round scribble on ``frame``: a stroke inside every visible object and one or two
    background strokes, in the DAVIS scribble format with simulated drawing times.

    Args:
        masks: ``T x H x W`` ground-truth ids.
        frame: Frame to annotate.
        num_objects: Number of objects.
        sequence: Sequence name.
        rng: Random generator (consumed).

    Returns:
        Scribble dictionary with ``annotated_frame`` set.
    """
    num_frames, height, width = masks.shape
    scribble = empty_scribble(sequence, num_frames)
    scribble["annotated_frame"] = int(frame)
    gt = masks[frame]
    strokes: list[tuple[int, np.ndarray]] = []
    for obj_id in range(1, num_objects + 1):
        region = gt == obj_id
        for extra in range(int(rng.integers(1, 3))):
            stroke = _human_stroke(rng, region, erosion=0.18 if extra == 0 else 0.08)
            if stroke is not None:
                strokes.append((obj_id, stroke))
    background = gt == 0
    # Keep background strokes a few pixels away from objects, as annotators do.
    away = _erode_keep(background, max(2, int(round(0.03 * min(height, width)))))
    for _ in range(int(rng.integers(1, 3))):
        stroke = _human_stroke(rng, away, erosion=0.05)
        if stroke is not None:
            strokes.append((0, stroke))
    order = rng.permutation(len(strokes))
    clock = 0.0
    scale = np.array([width, height], dtype=np.float64)
    for idx in order:
        obj_id, path = strokes[int(idx)]
        length = float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum()) if len(path) > 1 else 1.0
        duration = max(80.0, length * rng.uniform(2.0, 5.0))
        clock += rng.uniform(300.0, 1200.0)
        scribble["scribbles"][frame].append(
            {
                "path": np.round(path / scale, 6).tolist(),
                "object_id": int(obj_id),
                "start_time": int(round(clock)),
                "end_time": int(round(clock + duration)),
            }
        )
        clock += duration
    return scribble


def pick_scribble_frames(
    masks: np.ndarray, num_objects: int, rng: np.random.Generator, count: int
) -> list[int]:
    """Frames to annotate: the one where the least visible object is most visible, then others near the top."""
    areas = np.stack([(masks == k).reshape(len(masks), -1).sum(axis=1) for k in range(1, num_objects + 1)], 1)
    visibility = (areas / np.maximum(areas.max(axis=0, keepdims=True), 1)).min(axis=1)
    ranked = [int(i) for i in np.argsort(-visibility, kind="stable")]
    chosen = [ranked[0]]
    candidates = ranked[1 : max(2, len(ranked) // 2 + 1)]
    while len(chosen) < count and candidates:
        pick = int(rng.integers(0, len(candidates)))
        chosen.append(candidates.pop(pick))
    while len(chosen) < count:
        chosen.append(ranked[len(chosen) % len(ranked)])
    return chosen
