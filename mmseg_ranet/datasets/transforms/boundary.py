"""Boundary labels for RANet's boundary losses."""

from __future__ import annotations

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS
from scipy import ndimage


@TRANSFORMS.register_module()
class GenerateRegionBoundary(BaseTransform):
    """Write ``gt_edge_map``: 1 within ``radius`` pixels (Euclidean) of a change of class, else 0.

    RANet's boundary ground truth. A pixel is a class change when one of its 4-neighbours carries another
    label value (a change to or from the ignore value counts: it is a real image boundary); every pixel
    whose Euclidean distance to such a pixel is at most ``radius`` is boundary. Ignored pixels are
    ``ignore_index`` in the boundary map too. Place it in the train pipeline after the geometric
    augmentations (crop, flip, resize) and before ``PackSegInputs``, which packs ``gt_edge_map`` into the
    sample; test pipelines do not need it.

    mmseg's ``GenerateEdge`` is not used because it marks one side of a change only, skips changes next
    to ignored pixels and dilates with a square, not a Euclidean disc.

    Required Keys: ``gt_seg_map``. Added Keys: ``gt_edge_map`` (np.uint8).

    Args:
        radius (float): Boundary half-width in pixels. Defaults to 2.
        ignore_index (int): Ignored label value, copied into the boundary map. Defaults to 255.
    """

    def __init__(self, radius: float = 2.0, ignore_index: int = 255) -> None:
        if not radius >= 0:
            raise ValueError(f"GenerateRegionBoundary: radius must be >= 0, got {radius!r}")
        self.radius = float(radius)
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        seg = results.get("gt_seg_map")
        if seg is None:
            raise KeyError("GenerateRegionBoundary needs 'gt_seg_map'; put it after LoadAnnotations")
        change = np.zeros(seg.shape, dtype=bool)
        vertical = seg[1:, :] != seg[:-1, :]
        horizontal = seg[:, 1:] != seg[:, :-1]
        change[1:, :] |= vertical
        change[:-1, :] |= vertical
        change[:, 1:] |= horizontal
        change[:, :-1] |= horizontal
        if change.any():
            boundary = ndimage.distance_transform_edt(~change) <= self.radius
        else:
            boundary = change
        edge = boundary.astype(np.uint8)
        edge[seg == self.ignore_index] = self.ignore_index
        results["gt_edge_map"] = edge
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(radius={self.radius}, ignore_index={self.ignore_index})"
