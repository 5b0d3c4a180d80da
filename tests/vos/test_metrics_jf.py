"""J (region IoU) and F (boundary F-measure) against hand-worked cases and a slow reference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vos_recommender.metrics import (
    boundary_map,
    boundary_tolerance,
    db_eval_boundary,
    db_eval_iou,
    jf_mean,
    per_frame_jf,
)


def _rect(h: int, w: int, top: int, left: int, rh: int, rw: int) -> np.ndarray:
    mask = np.zeros((h, w), dtype=bool)
    mask[top : top + rh, left : left + rw] = True
    return mask


# --- slow references written from the definitions ------------------------------------------------


def _reference_boundary(mask: np.ndarray) -> np.ndarray:
    """Boundary pixel: differs from its right, lower or lower-right neighbour (last row: right only,
    last column: lower only, bottom-right corner: never)."""
    h, w = mask.shape
    out = np.zeros_like(mask, dtype=bool)
    for i in range(h):
        for j in range(w):
            neighbours = []
            if i < h - 1 and j < w - 1:
                neighbours = [mask[i, j + 1], mask[i + 1, j], mask[i + 1, j + 1]]
            elif i == h - 1 and j < w - 1:
                neighbours = [mask[i, j + 1]]
            elif j == w - 1 and i < h - 1:
                neighbours = [mask[i + 1, j]]
            out[i, j] = any(n != mask[i, j] for n in neighbours)
    return out


def _reference_f(gt: np.ndarray, pred: np.ndarray, bound_th: float = 0.008) -> float:
    h, w = gt.shape
    radius = bound_th if bound_th >= 1 else math.ceil(bound_th * math.sqrt(h * h + w * w))
    gb = np.argwhere(_reference_boundary(gt))
    pb = np.argwhere(_reference_boundary(pred))
    if len(gb) == 0 and len(pb) == 0:
        return 1.0
    if len(gb) == 0 or len(pb) == 0:
        return 0.0

    def matched(src: np.ndarray, dst: np.ndarray) -> int:
        count = 0
        for p in src:
            d2 = ((dst - p) ** 2).sum(axis=1)
            count += bool((d2 <= radius * radius).any())
        return count

    precision = matched(pb, gb) / len(pb)
    recall = matched(gb, pb) / len(gb)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def _reference_j(gt: np.ndarray, pred: np.ndarray) -> float:
    inter = sum(1 for g, p in zip(gt.ravel(), pred.ravel()) if g and p)
    union = sum(1 for g, p in zip(gt.ravel(), pred.ravel()) if g or p)
    return 1.0 if union == 0 else inter / union


# --- J --------------------------------------------------------------------------------------------


def test_j_identical_disjoint_empty() -> None:
    a = _rect(20, 30, 2, 3, 5, 6)
    b = _rect(20, 30, 12, 20, 5, 6)
    empty = np.zeros((20, 30), dtype=bool)
    assert db_eval_iou(a, a) == 1.0
    assert db_eval_iou(a, b) == 0.0
    assert db_eval_iou(empty, empty) == 1.0
    assert db_eval_iou(a, empty) == 0.0
    assert db_eval_iou(empty, a) == 0.0


def test_j_one_pixel_shift_by_hand() -> None:
    gt = _rect(20, 30, 5, 5, 4, 10)  # 40 pixels
    pred = _rect(20, 30, 5, 6, 4, 10)  # shifted right by one
    # intersection 4 x 9 = 36, union 40 + 40 - 36 = 44
    assert db_eval_iou(gt, pred) == pytest.approx(36 / 44)


def test_j_ignores_void() -> None:
    gt = _rect(10, 10, 0, 0, 4, 4)
    pred = _rect(10, 10, 0, 0, 4, 6)
    void = _rect(10, 10, 0, 4, 10, 6)
    assert db_eval_iou(gt, pred) == pytest.approx(16 / 24)
    assert db_eval_iou(gt, pred, void) == 1.0
    with pytest.raises(ValueError):
        db_eval_iou(gt, pred[:5])


# --- F --------------------------------------------------------------------------------------------


def test_boundary_map_matches_definition_on_random_masks() -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        mask = rng.random((9, 11)) > 0.5
        np.testing.assert_array_equal(boundary_map(mask), _reference_boundary(mask))
    rect = _rect(6, 6, 1, 1, 3, 3)
    expected = np.zeros((6, 6), dtype=bool)
    expected[0, 0:4] = True  # above the square (differs from the pixel below)
    expected[0:4, 0] = True  # left of it
    expected[3, 1:4] = True  # the square's own last row
    expected[1:4, 3] = True  # and last column
    np.testing.assert_array_equal(boundary_map(rect), expected)


def test_f_identical_disjoint_empty() -> None:
    a = _rect(40, 60, 5, 5, 10, 10)
    far = _rect(40, 60, 25, 40, 10, 10)
    empty = np.zeros((40, 60), dtype=bool)
    assert db_eval_boundary(a, a) == 1.0
    assert db_eval_boundary(a, far) == 0.0
    assert db_eval_boundary(empty, empty) == 1.0
    assert db_eval_boundary(a, empty) == 0.0
    assert db_eval_boundary(empty, a) == 0.0


def test_f_shift_within_tolerance_is_perfect() -> None:
    # 60 x 80 image: diagonal 100, tolerance ceil(0.8) = 1 pixel.
    assert boundary_tolerance(60, 80) == 1
    gt = _rect(60, 80, 10, 10, 20, 30)
    shifted = _rect(60, 80, 10, 11, 20, 30)
    assert db_eval_boundary(gt, shifted) == 1.0
    assert db_eval_iou(gt, shifted) == pytest.approx(20 * 29 / (20 * 31))
    far_shift = _rect(60, 80, 10, 14, 20, 30)
    assert db_eval_boundary(gt, far_shift) < 1.0


def test_f_matches_slow_reference_on_random_shapes() -> None:
    rng = np.random.default_rng(1)
    for trial in range(6):
        h, w = 30 + 7 * trial, 40 + 5 * trial
        gt = np.zeros((h, w), dtype=bool)
        pred = np.zeros((h, w), dtype=bool)
        for mask in (gt, pred):
            for _ in range(3):
                top, left = rng.integers(0, h - 5), rng.integers(0, w - 5)
                mask[top : top + rng.integers(3, 15), left : left + rng.integers(3, 15)] = True
        for th in (0.008, 0.05, 3):
            assert db_eval_boundary(gt, pred, bound_th=th) == pytest.approx(_reference_f(gt, pred, th))
        assert db_eval_iou(gt, pred) == pytest.approx(_reference_j(gt, pred))


def test_f_void_pixels_removed_from_both_masks() -> None:
    gt = _rect(40, 40, 5, 5, 10, 10)
    pred = gt | _rect(40, 40, 25, 25, 10, 10)
    void = _rect(40, 40, 20, 20, 20, 20)
    assert db_eval_boundary(gt, pred) < 1.0
    assert db_eval_boundary(gt, pred, void) == 1.0


# --- per-frame, per-object -----------------------------------------------------------------------


def test_per_frame_jf_shapes_and_values() -> None:
    gt = np.zeros((3, 40, 60), dtype=np.uint8)
    gt[:, 5:15, 5:20] = 1
    gt[:, 20:30, 30:50] = 2
    pred = gt.copy()
    pred[1][pred[1] == 2] = 0  # object 2 missed on frame 1
    pred[2, 5:15, 5:20] = 0  # object 1 missed on frame 2
    pred[2, 30:35, 0:10] = 1  # and put elsewhere
    result = per_frame_jf(gt, pred, num_objects=2)
    assert result["J"].shape == (3, 2) and result["F"].shape == (3, 2) and result["JF"].shape == (3,)
    np.testing.assert_allclose(result["J"][0], [1, 1])
    np.testing.assert_allclose(result["J"][1], [1, 0])
    np.testing.assert_allclose(result["F"][1], [1, 0])
    np.testing.assert_allclose(result["JF"], [1.0, 0.5, 0.5])
    assert jf_mean(gt, pred, 2) == pytest.approx(2.0 / 3.0)
    # Inferred object count and 2-D inputs.
    assert per_frame_jf(gt[0], pred[0])["J"].shape == (1, 2)


def test_per_frame_jf_absent_object_and_void() -> None:
    gt = np.zeros((2, 20, 20), dtype=np.uint8)
    gt[0, 2:8, 2:8] = 1  # object 1 only on frame 0; frame 1 empty for both gt and pred
    gt[:, 15:, 15:] = 255
    pred = np.zeros_like(gt)
    pred[0, 2:8, 2:8] = 1
    pred[:, 15:, 15:] = 1  # predicted over the void block
    # void_rule="ignore": predictions inside void do not count.
    result = per_frame_jf(gt, pred, num_objects=1, void_rule="ignore")
    np.testing.assert_allclose(result["J"][:, 0], [1.0, 1.0])
    np.testing.assert_allclose(result["F"][:, 0], [1.0, 1.0])
    # The default, davisinteractive's: the 25 void pixels predicted as the object are false positives.
    counted = per_frame_jf(gt, pred, num_objects=1)
    np.testing.assert_allclose(counted["J"][:, 0], [36 / 61, 0.0])
    assert counted["F"][0, 0] < 1.0 and counted["F"][1, 0] == 0.0
    with pytest.raises(ValueError):
        per_frame_jf(gt, pred[:1])
    with pytest.raises(ValueError):
        per_frame_jf(np.zeros((1, 4, 4), np.uint8), np.zeros((1, 4, 4), np.uint8))


def test_inferred_object_count_refuses_id_gaps() -> None:
    from vos_recommender.metrics.jf import object_ids_present

    gt = np.zeros((2, 10, 10), dtype=np.uint8)
    gt[0, :3, :3] = 1
    gt[1, 5:, 5:] = 5
    gt[1, 0, :] = 255
    assert object_ids_present(gt) == [1, 5]
    assert object_ids_present(gt, void_label=None) == [1, 5, 255]
    assert object_ids_present(gt.astype(np.int32)) == [1, 5]
    # Counting ids 2..4 would score them J = F = 1 (both empty) and lift the mean.
    with pytest.raises(ValueError, match=r"gt_masks hold object ids \[1, 5\], not 1\.\.5"):
        per_frame_jf(gt, gt)
    with pytest.raises(ValueError, match="not 1..5"):
        jf_mean(gt, gt)
    gt[gt == 5] = 2
    assert per_frame_jf(gt, gt)["J"].shape == (2, 2)
