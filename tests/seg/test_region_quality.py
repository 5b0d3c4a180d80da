"""Superpixel measures of one partition, on grids small enough to work out by hand (and a loop reference)."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pytest
from scipy import ndimage

from mmseg_ranet.evaluation import region_quality
from mmseg_ranet.evaluation.region_quality import boundary_cells, gt_segments

IGNORE = 255


def _columns(values: list[int], rows: int = 4) -> np.ndarray:
    """A map whose every row is ``values`` (vertical stripes)."""
    return np.tile(np.asarray(values, dtype=np.int64), (rows, 1))


# Label of the first three cases (4 x 4): A = columns 0-2 (class 0, 12 cells), B = column 3 (class 1, 4).
THREE_ONE = _columns([0, 0, 0, 1])


def test_perfect_partition():
    # Regions equal the segments (other ids): every region lies in one segment, ASA = (12 + 4) / 16 = 1,
    # UE = min(12, 0) + min(4, 0) = 0; region and GT boundary cells are both columns 2 and 3: BR = 1;
    # 2 regions / 2 segments = 1.
    quality = region_quality(THREE_ONE + 7, THREE_ONE)
    assert quality["asa"] == 1.0 and quality["ue"] == 0.0 and quality["boundary_recall"] == 1.0
    assert quality["regions_per_image"] == 2 and quality["segments_per_image"] == 2
    assert quality["regions_per_segment"] == 1.0 and quality["cells"] == 16


def test_one_region_gives_the_largest_segment_share():
    # One region R of 16 cells: ASA = max(12, 4) / 16 = 0.75 (A's share); UE = [min(12, 16 - 12) +
    # min(4, 16 - 4)] / 16 = (4 + 4) / 16 = 0.5; no region boundary cell: BR = 0; 1 region / 2 segments.
    quality = region_quality(np.zeros((4, 4), dtype=np.int64), THREE_ONE)
    assert quality["asa"] == 0.75 and quality["ue"] == 0.5 and quality["boundary_recall"] == 0.0
    assert quality["regions_per_image"] == 1 and quality["regions_per_segment"] == 0.5


def test_one_region_per_cell():
    # 16 one-cell regions: each lies in one segment, ASA = 16 / 16 = 1, UE = 16 * min(1, 0) = 0; every
    # cell is a region boundary cell, so BR = 1; regions per segment = 16 cells / 2 segments = 8.
    quality = region_quality(np.arange(16).reshape(4, 4), THREE_ONE)
    assert quality["asa"] == 1.0 and quality["ue"] == 0.0 and quality["boundary_recall"] == 1.0
    assert quality["regions_per_image"] == 16 and quality["regions_per_segment"] == 8.0


def test_merge_of_two_segments():
    # 4 x 6, label columns 0 0 1 1 2 2: A, B, C of 8 cells each. Regions: R0 = A, R1 = B ∪ C (16 cells).
    # ASA = (8 + max(8, 8)) / 24 = 2/3. UE: A: min(8, 0) = 0; B: min(8, 16 - 8) = 8; C: 8 -> 16/24 = 2/3.
    # GT boundary cells: columns 1, 2 (A|B) and 3, 4 (B|C) = 16 cells. Region boundary cells: columns 1, 2;
    # within 1 cell of them: columns 0-3, so columns 1, 2, 3 are recalled and 4 is not: BR = 12/16 = 0.75.
    # 2 regions / 3 segments.
    quality = region_quality(_columns([0, 0, 1, 1, 1, 1]), _columns([0, 0, 1, 1, 2, 2]))
    assert quality["asa"] == pytest.approx(2 / 3) and quality["ue"] == pytest.approx(2 / 3)
    assert quality["boundary_recall"] == 0.75
    assert quality["segments_per_image"] == 3 and quality["regions_per_segment"] == pytest.approx(2 / 3)


def test_a_region_over_two_segments_of_one_class_is_a_merge():
    # 4 x 5, label columns 0 0 1 0 0: class 0 forms two segments (left, right: 8 cells each), class 1 one
    # (4 cells). The region {left ∪ right} (one id, spatially split) overlaps two segments:
    # ASA = (max(8, 8) + 4) / 20 = 0.6; UE: left: min(8, 16 - 8) = 8, right: 8, middle: 0 -> 16/20 = 0.8.
    quality = region_quality(_columns([0, 0, 1, 0, 0]), _columns([0, 0, 1, 0, 0]))
    assert quality["segments_per_image"] == 3 and quality["regions_per_image"] == 2
    assert quality["asa"] == pytest.approx(0.6) and quality["ue"] == pytest.approx(0.8)


def test_split_of_one_segment():
    # 4 x 4, label columns 0 0 1 1: A (columns 0-1), B (columns 2-3), 8 cells each. A is split into a top
    # and a bottom region of 4 cells; B is one region. Every region lies in one segment: ASA = 16/16 = 1,
    # UE = 0. The GT boundary cells (columns 1, 2) are region boundary cells too (A|B border): BR = 1.
    # 3 regions / 2 segments = 1.5.
    regions = _columns([0, 0, 2, 2])
    regions[2:, :2] = 1
    quality = region_quality(regions, _columns([0, 0, 1, 1]))
    assert quality["asa"] == 1.0 and quality["ue"] == 0.0 and quality["boundary_recall"] == 1.0
    assert quality["regions_per_image"] == 3 and quality["regions_per_segment"] == 1.5


def test_ignored_cells_are_left_out():
    # 4 x 4, label columns 0 0 1 255: N = 12, A = 8 cells, B = 4. One region (ids differ on the ignored
    # column, which is not counted): ASA = 8/12; UE = [min(8, 12 - 8) + min(4, 12 - 4)] / 12 = 8/12.
    regions = _columns([5, 5, 5, 9])
    quality = region_quality(regions, _columns([0, 0, 1, IGNORE]))
    assert quality["cells"] == 12 and quality["regions_per_image"] == 1
    assert quality["asa"] == pytest.approx(8 / 12) and quality["ue"] == pytest.approx(8 / 12)


def test_the_edge_of_an_ignored_area_is_no_gt_boundary():
    # Label columns 0 0 0 255: one segment and no GT boundary cell (column 2 borders only ignored cells),
    # so boundary recall is undefined rather than 0 or 1.
    quality = region_quality(np.zeros((4, 4), dtype=np.int64), _columns([0, 0, 0, IGNORE]))
    assert quality["segments_per_image"] == 1 and quality["asa"] == 1.0 and quality["ue"] == 0.0
    assert math.isnan(quality["boundary_recall"])


def test_segments_are_eight_connected():
    # The diagonal of class 1 is one segment with 8-connectivity (three with 4-connectivity); the class-0
    # cells above and below it touch at the corners (0, 1)-(1, 0): one segment. Total 2.
    label = np.eye(3, dtype=np.int64)
    assert region_quality(np.zeros((3, 3), dtype=np.int64), label)["segments_per_image"] == 2
    assert gt_segments(label).max() == 2


@pytest.mark.parametrize("tolerance, expected", [(0, 0.0), (1, 0.5), (2, 1.0)])
def test_boundary_recall_tolerance(tolerance, expected):
    # 4 x 8, label columns 0-3 | 4-7: GT boundary cells are columns 3 and 4 (8 cells). The region border
    # sits between columns 5 and 6 (region boundary cells: columns 5, 6). Within 0 cells: none recalled;
    # within 1 (columns 4-7): column 4, BR = 4/8; within 2 (columns 3-7): both, BR = 1.
    label = _columns([0, 0, 0, 0, 1, 1, 1, 1])
    regions = _columns([0, 0, 0, 0, 0, 0, 1, 1])
    assert region_quality(regions, label, tolerance=tolerance)["boundary_recall"] == expected


def test_boundary_cells_skip_neighbours_outside_valid():
    ids = _columns([0, 1, 2], rows=1)
    # Without a mask both borders count; with the middle cell invalid, no valid cell has a valid neighbour
    # of another id.
    assert boundary_cells(ids).tolist() == [[True, True, True]]
    assert boundary_cells(ids, np.array([[True, False, True]])).tolist() == [[False, False, False]]


def test_all_ignored_label_gives_no_measure():
    quality = region_quality(np.zeros((2, 2), dtype=np.int64), np.full((2, 2), IGNORE))
    assert quality["cells"] == 0 and quality["regions_per_image"] == 0
    assert math.isnan(quality["asa"]) and math.isnan(quality["ue"])


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match=r"same shape, got \(2, 2\) and \(2, 3\)"):
        region_quality(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="tolerance must be >= 0"):
        region_quality(np.zeros((2, 2)), np.zeros((2, 2)), tolerance=-1)


def _loop_reference(regions: np.ndarray, label: np.ndarray, tolerance: int) -> dict[str, float]:
    """ASA, UE and BR cell by cell (segments from scipy's per-class labelling, not scikit-image's)."""
    height, width = label.shape
    segments = np.zeros(label.shape, dtype=np.int64)
    for value in np.unique(label[label != IGNORE]):
        components, count = ndimage.label(label == value, structure=np.ones((3, 3)))
        segments[components > 0] = components[components > 0] + segments.max()
    cells = [(y, x) for y in range(height) for x in range(width) if label[y, x] != IGNORE]
    overlap: dict[tuple[int, int], int] = defaultdict(int)
    size: dict[int, int] = defaultdict(int)
    for y, x in cells:
        overlap[regions[y, x], segments[y, x]] += 1
        size[regions[y, x]] += 1
    asa = sum(max(c for (r, _), c in overlap.items() if r == region) for region in size) / len(cells)
    ue = sum(min(c, size[r] - c) for (r, _), c in overlap.items()) / len(cells)

    def neighbours(y, x, reach=1):
        return [
            (v, u)
            for v in range(max(0, y - reach), min(height, y + reach + 1))
            for u in range(max(0, x - reach), min(width, x + reach + 1))
        ]

    gt_boundary = [
        (y, x)
        for y, x in cells
        if any(label[v, u] != IGNORE and segments[v, u] != segments[y, x] for v, u in neighbours(y, x))
    ]
    region_boundary = {
        (y, x)
        for y in range(height)
        for x in range(width)
        if any(regions[v, u] != regions[y, x] for v, u in neighbours(y, x))
    }
    recalled = sum(
        any(cell in region_boundary for cell in neighbours(y, x, tolerance)) for y, x in gt_boundary
    )
    br = recalled / len(gt_boundary) if gt_boundary else math.nan
    return dict(
        asa=asa,
        ue=ue,
        boundary_recall=br,
        regions_per_image=len(size),
        segments_per_image=len(set(segments[label != IGNORE])),
    )


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(6))
def test_fast_measures_match_a_cell_loop_on_random_partitions(seed):
    rng = np.random.default_rng(seed)
    height, width = int(rng.integers(8, 30)), int(rng.integers(8, 30))
    # Blocky random maps (coarse noise upsampled), plus single-cell speckle and ignored cells.
    coarse = rng.integers(0, 4, size=(height // 3 + 1, width // 4 + 1))
    label = np.kron(coarse, np.ones((3, 4), dtype=np.int64))[:height, :width]
    label[rng.random((height, width)) < 0.05] = IGNORE
    regions = np.kron(
        rng.integers(0, 9, size=(height // 2 + 1, width // 5 + 1)), np.ones((2, 5), dtype=np.int64)
    )
    regions = regions[:height, :width] + 100 * (rng.random((height, width)) < 0.1)
    tolerance = int(rng.integers(0, 3))
    fast = region_quality(regions, label, IGNORE, tolerance)
    slow = _loop_reference(regions, label, tolerance)
    for key, value in slow.items():
        assert fast[key] == pytest.approx(value, nan_ok=True), key
