"""Region (J) and boundary (F) measures of the DAVIS benchmark.

Definitions follow Perazzi et al., "A Benchmark Dataset and Evaluation Methodology for Video Object
Segmentation" (CVPR 2016) and the DAVIS-2017 evaluation code:

* J is the intersection over union of the object mask and the prediction; when both are empty the
  frame counts as perfect (J = 1).
* F is the F-measure of boundary precision and recall. Boundaries are one pixel wide (the
  ``seg2bmap`` rule: a pixel is on the boundary when it differs from its right, lower or lower-right
  neighbour); a boundary pixel matches when the other boundary lies within a disk of radius
  ``ceil(bound_th * image diagonal)`` pixels (``bound_th = 0.008``).
* Void pixels (label 255 in DAVIS annotations) never form an object. How they count is a named rule
  (:data:`VOID_RULES`): ``"count"`` (the default) as davisinteractive 1.0.4's ``batched_jaccard`` and
  ``batched_f_measure``, which compare ``gt == k`` with ``pred == k`` over the whole frame, so an
  object predicted over void pixels loses J and F there; ``"ignore"`` removes void pixels from both
  masks first, as the DAVIS-2017 semi-supervised evaluation does.
"""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np
from skimage.morphology import disk

__all__ = [
    "VOID_LABEL",
    "VOID_RULES",
    "boundary_map",
    "boundary_tolerance",
    "db_eval_boundary",
    "db_eval_iou",
    "jf_mean",
    "object_ids_present",
    "per_frame_jf",
]

VOID_LABEL = 255

#: How void pixels count in J and F: ``"count"`` (davisinteractive's) or ``"ignore"``.
VOID_RULES = ("count", "ignore")


def _check_void_rule(void_rule: str) -> None:
    if void_rule not in VOID_RULES:
        raise ValueError(f"void_rule must be one of {VOID_RULES}, got {void_rule!r}")


def db_eval_iou(gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None) -> float:
    """Region similarity J (intersection over union) of two binary masks.

    Args:
        gt: ``H x W`` ground-truth mask (non-zero = object).
        pred: ``H x W`` predicted mask (non-zero = object).
        void: Optional ``H x W`` mask of pixels to ignore.

    Returns:
        IoU in ``[0, 1]``; ``1.0`` when both masks are empty (outside void), the DAVIS convention.
    """
    gt = np.asarray(gt).astype(bool)
    pred = np.asarray(pred).astype(bool)
    if gt.shape != pred.shape:
        raise ValueError(f"gt and pred shapes differ: {gt.shape} vs {pred.shape}")
    if void is not None:
        keep = ~np.asarray(void).astype(bool)
        gt = gt & keep
        pred = pred & keep
    union = np.count_nonzero(gt | pred)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(gt & pred) / union)


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide boundary of a binary mask, by the DAVIS ``seg2bmap`` rule.

    A pixel is a boundary pixel when its label differs from its right, lower or lower-right
    neighbour. In the last row only the right neighbour counts, in the last column only the lower
    one, and the bottom-right pixel is never a boundary: the image border itself is not a boundary.
    This is written out with array shifts rather than taken from scikit-image's
    ``find_boundaries``, whose thick/inner/outer modes mark different pixels and would shift F
    away from the published DAVIS numbers.

    Args:
        mask: ``H x W`` binary mask.

    Returns:
        ``H x W`` bool boundary map.
    """
    seg = np.asarray(mask).astype(bool)
    if seg.ndim != 2:
        raise ValueError(f"boundary_map expects a 2-D mask, got shape {seg.shape}")
    east = np.zeros_like(seg)
    south = np.zeros_like(seg)
    south_east = np.zeros_like(seg)
    east[:, :-1] = seg[:, 1:]
    south[:-1, :] = seg[1:, :]
    south_east[:-1, :-1] = seg[1:, 1:]
    bmap = (seg ^ east) | (seg ^ south) | (seg ^ south_east)
    bmap[-1, :] = seg[-1, :] ^ east[-1, :]
    bmap[:, -1] = seg[:, -1] ^ south[:, -1]
    bmap[-1, -1] = False
    return bmap


@lru_cache(maxsize=32)
def _disk_kernel(radius: int) -> np.ndarray:
    return disk(radius).astype(np.uint8)


def boundary_tolerance(height: int, width: int, bound_th: float = 0.008) -> int:
    """Matching radius in pixels: ``bound_th`` itself when >= 1, else ``ceil(bound_th * diagonal)``."""
    if bound_th >= 1:
        return int(bound_th)
    return int(math.ceil(bound_th * math.hypot(height, width)))


def _dilate(bmap: np.ndarray, radius: int) -> np.ndarray:
    # OpenCV's dilation with scikit-image's disk is the same operation as scipy's binary_dilation
    # with that structuring element, several times faster on the full-resolution frames the
    # evaluation runs on at every round.
    if radius <= 0:
        return bmap.copy()
    return cv2.dilate(bmap.astype(np.uint8), _disk_kernel(radius)).astype(bool)


def db_eval_boundary(
    gt: np.ndarray, pred: np.ndarray, void: np.ndarray | None = None, bound_th: float = 0.008
) -> float:
    """Boundary measure F (F-measure of boundary precision and recall) of two binary masks.

    Args:
        gt: ``H x W`` ground-truth mask.
        pred: ``H x W`` predicted mask.
        void: Optional ``H x W`` mask of pixels to ignore (removed from both masks first).
        bound_th: Boundary tolerance; a fraction of the image diagonal when < 1, else pixels.

    Returns:
        F in ``[0, 1]``. Both boundaries empty gives 1; exactly one empty gives 0 (precision or recall 0).
    """
    gt = np.asarray(gt).astype(bool)
    pred = np.asarray(pred).astype(bool)
    if gt.shape != pred.shape:
        raise ValueError(f"gt and pred shapes differ: {gt.shape} vs {pred.shape}")
    if void is not None:
        keep = ~np.asarray(void).astype(bool)
        gt = gt & keep
        pred = pred & keep
    radius = boundary_tolerance(gt.shape[0], gt.shape[1], bound_th)
    gt_b = boundary_map(gt)
    pred_b = boundary_map(pred)
    n_gt = int(np.count_nonzero(gt_b))
    n_pred = int(np.count_nonzero(pred_b))
    if n_gt == 0 and n_pred == 0:
        return 1.0
    if n_gt == 0 or n_pred == 0:
        return 0.0
    precision = np.count_nonzero(pred_b & _dilate(gt_b, radius)) / n_pred
    recall = np.count_nonzero(gt_b & _dilate(pred_b, radius)) / n_gt
    if precision + recall == 0:
        return 0.0
    return float(2.0 * precision * recall / (precision + recall))


def _check_label_videos(gt_masks: np.ndarray, pred_masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gt_masks = np.asarray(gt_masks)
    pred_masks = np.asarray(pred_masks)
    if gt_masks.ndim == 2:
        gt_masks = gt_masks[None]
    if pred_masks.ndim == 2:
        pred_masks = pred_masks[None]
    if gt_masks.shape != pred_masks.shape or gt_masks.ndim != 3:
        raise ValueError(
            f"gt_masks and pred_masks must both be T x H x W label arrays, got {gt_masks.shape} and "
            f"{pred_masks.shape}"
        )
    return gt_masks, pred_masks


def object_ids_present(masks: np.ndarray, void_label: int | None = VOID_LABEL) -> list[int]:
    """Sorted object ids (background and void excluded) that occur anywhere in label masks.

    Args:
        masks: Label masks of any shape.
        void_label: Label that is not an object; ``None`` when there is none.
    """
    masks = np.asarray(masks)
    if masks.size == 0:
        return []
    if masks.dtype == np.uint8:
        # A histogram per frame is one pass over the pixels with a frame-sized index copy; np.unique
        # would sort every pixel of the video and a single np.bincount copy the video as int64.
        counts = np.zeros(256, dtype=np.int64)
        for plane in masks.reshape(masks.shape[0] if masks.ndim >= 3 else 1, -1):
            counts += np.bincount(plane, minlength=256)
        ids = np.flatnonzero(counts)
    else:
        ids = np.unique(masks)
    return [int(i) for i in ids if i != 0 and (void_label is None or i != void_label)]


def per_frame_jf(
    gt_masks: np.ndarray,
    pred_masks: np.ndarray,
    num_objects: int | None = None,
    bound_th: float = 0.008,
    void_label: int | None = VOID_LABEL,
    void_rule: str = "count",
) -> dict[str, np.ndarray]:
    """J, F and J&F for every frame and object of a video.

    Args:
        gt_masks: ``T x H x W`` ground-truth label masks (0 = background, 1..O objects, 255 void).
        pred_masks: ``T x H x W`` predicted label masks.
        num_objects: Number of objects O; objects are ids ``1..O``. ``None`` takes the largest id in
            ``gt_masks`` (void excluded), which must then hold every id ``1..O`` (DAVIS numbers
            objects consecutively; a missing id would score J = F = 1 for an object that is not there).
        bound_th: Boundary tolerance passed to :func:`db_eval_boundary`.
        void_label: Ground-truth label that is void, never an object; ``None``: no void label.
        void_rule: ``"count"`` (default, davisinteractive's: void pixels are compared like any other)
            or ``"ignore"`` (removed from both masks); see :data:`VOID_RULES`.

    Returns:
        Dictionary with ``"J"`` and ``"F"`` (``T x O`` float arrays), ``"JF_object"`` (``T x O``,
        their mean) and ``"JF"`` (length ``T``: the mean of J and F averaged over objects).

    Raises:
        ValueError: If the shapes differ, there is no object, an inferred object count skips ids, or
            ``void_rule`` is unknown.
    """
    _check_void_rule(void_rule)
    gt_masks, pred_masks = _check_label_videos(gt_masks, pred_masks)
    if num_objects is None:
        present = object_ids_present(gt_masks, void_label)
        num_objects = present[-1] if present else 0
        if present != list(range(1, num_objects + 1)):
            raise ValueError(
                f"gt_masks hold object ids {present}, not 1..{num_objects}: objects are numbered "
                "consecutively (DAVIS numbering); renumber them 1..K"
            )
    if num_objects < 1:
        raise ValueError("per_frame_jf needs at least one object (num_objects >= 1)")
    num_frames = gt_masks.shape[0]
    j_values = np.zeros((num_frames, num_objects), dtype=np.float64)
    f_values = np.zeros((num_frames, num_objects), dtype=np.float64)
    for t in range(num_frames):
        ignore = void_label is not None and void_rule == "ignore"
        void = gt_masks[t] == void_label if ignore else None
        if void is not None and not void.any():
            void = None
        for k in range(num_objects):
            gt_obj = gt_masks[t] == k + 1
            pred_obj = pred_masks[t] == k + 1
            j_values[t, k] = db_eval_iou(gt_obj, pred_obj, void)
            f_values[t, k] = db_eval_boundary(gt_obj, pred_obj, void, bound_th)
    jf_object = 0.5 * (j_values + f_values)
    return {"J": j_values, "F": f_values, "JF_object": jf_object, "JF": jf_object.mean(axis=1)}


def jf_mean(
    gt_masks: np.ndarray,
    pred_masks: np.ndarray,
    num_objects: int | None = None,
    bound_th: float = 0.008,
    void_label: int | None = VOID_LABEL,
    void_rule: str = "count",
) -> float:
    """Mean J&F of a video: the per-frame J&F (averaged over objects) averaged over frames.

    Args:
        gt_masks: ``T x H x W`` ground-truth label masks.
        pred_masks: ``T x H x W`` predicted label masks.
        num_objects: Number of objects; ``None`` infers it from ``gt_masks``.
        bound_th: Boundary tolerance.
        void_label: Ground-truth void label, or ``None``.
        void_rule: ``"count"`` (default) or ``"ignore"``; see :func:`per_frame_jf`.

    Returns:
        The mean J&F in ``[0, 1]``.
    """
    return float(
        per_frame_jf(gt_masks, pred_masks, num_objects, bound_th, void_label, void_rule)["JF"].mean()
    )
