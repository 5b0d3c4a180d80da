"""Superpixel-style quality of one partition of the region grid against a label map on the same grid.

Definitions (N = evaluated cells, i.e. the cells whose label is not ``ignore_index``; R = regions,
S = ground-truth segments; ignored cells take part in nothing but the region boundaries):

* GT segments: the connected components of each class of the label, 8-connected. RANet's boundary term
  D is 0 between 8-neighbours (a straight line between diagonal neighbours has no sample between them),
  so RANet treats diagonal cells as adjacent; the segments and all boundaries here use the same
  8-neighbourhood.
* Regions: the distinct region ids on the evaluated cells. A region id is not required to be spatially
  connected (RANet's greedy rule can give split regions): a region is an id, as in the region map.
* Achievable segmentation accuracy ASA = (1/N) sum_R max_S |R ∩ S|.
* Under-segmentation error (Neubert and Protzel's corrected form)
  UE = (1/N) sum_S sum_{R: R ∩ S != ∅} min(|R ∩ S|, |R \\ S|), with |R| counted on evaluated cells.
* Boundary cells of a map: cells that have an 8-neighbour with another id. GT boundary cells are the
  evaluated cells with an evaluated 8-neighbour in another segment (the edge of an ignored area is not a
  boundary); region boundary cells use every cell of the region map. Both sides of a border are boundary
  cells.
* Boundary recall BR: the fraction of GT boundary cells within Chebyshev distance ``tolerance`` (cells)
  of a region boundary cell. Undefined (NaN) when the label has no boundary cell.
* Regions per segment: |R| / |S|.

One region gives ASA = the largest segment's share and BR = 0; one region per cell gives ASA = 1, UE = 0,
BR = 1 and |R| / |S| = N / |S|: ASA and BR are read together with the region count.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage, sparse
from skimage.measure import label as connected_components

# The 8-neighbourhood (with the centre) of the segments, the boundaries and the tolerance.
EIGHT_NEIGHBOURHOOD = np.ones((3, 3), dtype=bool)

QUALITY_KEYS = (
    "regions_per_image",
    "segments_per_image",
    "asa",
    "ue",
    "boundary_recall",
    "regions_per_segment",
)


def gt_segments(label: np.ndarray, ignore_index: int = 255) -> np.ndarray:
    """Connected components (8-connected) of each class of ``label``: ids 1..S, 0 on ignored cells."""
    classes = np.where(label == ignore_index, -1, label.astype(np.int64))
    return connected_components(classes, background=-1, connectivity=2)


def boundary_cells(ids: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Cells of ``valid`` that have an 8-neighbour in ``valid`` with another id.

    ``skimage.segmentation.find_boundaries(ids, connectivity=2)`` gives the same without ``valid``; it has
    no way to leave out ignored neighbours, so the same minimum/maximum filters are written here with the
    ignored cells set to values that can never be a neighbour's minimum or maximum.
    """
    ids = ids.astype(np.int64)
    if valid is None:
        valid = np.ones(ids.shape, dtype=bool)
    if not valid.any():
        return np.zeros(ids.shape, dtype=bool)
    low = ndimage.minimum_filter(
        np.where(valid, ids, ids.max() + 1), footprint=EIGHT_NEIGHBOURHOOD, mode="nearest"
    )
    high = ndimage.maximum_filter(
        np.where(valid, ids, ids.min() - 1), footprint=EIGHT_NEIGHBOURHOOD, mode="nearest"
    )
    return valid & ((low != ids) | (high != ids))


def overlap_table(regions: np.ndarray, segments: np.ndarray) -> sparse.csr_matrix:
    """|R ∩ S| for every region (rows, ids made contiguous) and segment (columns), on the given cells."""
    _, region_index = np.unique(regions, return_inverse=True)
    _, segment_index = np.unique(segments, return_inverse=True)
    counts = np.ones(region_index.size, dtype=np.int64)
    # COO -> CSR sums the duplicate (region, segment) entries: one pass, no dense R x S table.
    return sparse.coo_matrix((counts, (region_index.ravel(), segment_index.ravel()))).tocsr()


def asa_and_ue(table: sparse.csr_matrix) -> tuple[float, float]:
    """ASA and Neubert and Protzel's UE from the region x segment overlap table."""
    cells = table.sum()
    asa = table.max(axis=1).sum() / cells
    region_size = np.asarray(table.sum(axis=1)).ravel()
    row_of_entry = np.repeat(np.arange(table.shape[0]), np.diff(table.indptr))
    overlap = table.data
    ue = np.minimum(overlap, region_size[row_of_entry] - overlap).sum() / cells
    return float(asa), float(ue)


def boundary_recall(
    regions: np.ndarray, segments: np.ndarray, valid: np.ndarray, tolerance: int = 1
) -> float:
    """Fraction of GT boundary cells within ``tolerance`` cells (Chebyshev) of a region boundary cell."""
    gt_boundary = boundary_cells(segments, valid)
    if not gt_boundary.any():
        return math.nan
    near = boundary_cells(regions)
    if tolerance > 0 and near.any():
        near = ndimage.binary_dilation(near, structure=EIGHT_NEIGHBOURHOOD, iterations=tolerance)
    return float((gt_boundary & near).sum() / gt_boundary.sum())


def region_quality(
    regions: np.ndarray, label: np.ndarray, ignore_index: int = 255, tolerance: int = 1
) -> dict[str, float]:
    """The measures of the module docstring for one image.

    Args:
        regions (np.ndarray): Region id of every cell of the region grid (h, w), any integers.
        label (np.ndarray): Class of every cell (h, w), already on the region grid.
        ignore_index (int): Label value of the cells left out. Defaults to 255.
        tolerance (int): Boundary recall tolerance in cells. Defaults to 1.

    Returns:
        dict[str, float]: ``QUALITY_KEYS`` and ``cells`` (N). With no evaluated cell, counts are 0 and the
        ratios NaN.
    """
    regions, label = np.asarray(regions), np.asarray(label)
    if regions.ndim != 2 or regions.shape != label.shape:
        raise ValueError(
            f"region map and label must be 2-D maps of the same shape, got {regions.shape} and {label.shape}"
        )
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0 cells, got {tolerance}")
    segments = gt_segments(label, ignore_index)
    valid = segments > 0
    cells = int(valid.sum())
    if cells == 0:
        nan = math.nan
        return dict(zip(QUALITY_KEYS, (0.0, 0.0, nan, nan, nan, nan)), cells=0.0)
    table = overlap_table(regions[valid], segments[valid])
    num_regions, num_segments = table.shape
    asa, ue = asa_and_ue(table)
    return dict(
        regions_per_image=float(num_regions),
        segments_per_image=float(num_segments),
        asa=asa,
        ue=ue,
        boundary_recall=boundary_recall(regions, segments, valid, tolerance),
        regions_per_segment=num_regions / num_segments,
        cells=float(cells),
    )
