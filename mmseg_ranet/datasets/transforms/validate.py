"""Checks on loaded samples that turn silent data errors into clear ones."""

from __future__ import annotations

import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class ValidateSegMap(BaseTransform):
    """Reject a sample whose label map does not fit its image.

    Place it right after ``LoadAnnotations``. Without it, a label PNG of the wrong size is resized or
    cropped along with the image by later transforms and silently trains on misaligned labels.

    Args:
        num_classes: If given, every label value must be ``< num_classes`` or equal ``ignore_index``;
            other values mean a corrupt or wrongly encoded label file.
        ignore_index: The label value that marks ignored pixels.

    Raises:
        ValueError: naming the image and label files when the label is not single-channel, the sizes differ
            or values are out of range.
    """

    def __init__(self, num_classes: int | None = None, ignore_index: int = 255) -> None:
        if num_classes is not None and num_classes < 1:
            raise ValueError(f"ValidateSegMap: num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        img_shape = results["img"].shape[:2]
        seg = results.get("gt_seg_map")
        if seg is None:
            raise ValueError(
                f"ValidateSegMap: no label map loaded for {results.get('img_path')!r}; "
                "put ValidateSegMap after LoadAnnotations"
            )
        if seg.ndim != 2:
            raise ValueError(
                f"label map {results.get('seg_map_path')!r} has shape {tuple(seg.shape)}; label maps must be "
                "single-channel (H x W) images of class indices, not colour images"
            )
        if seg.shape[:2] != img_shape:
            raise ValueError(
                f"label map {results.get('seg_map_path')!r} has size {seg.shape[1]}x{seg.shape[0]} (WxH) "
                f"but its image {results.get('img_path')!r} has size {img_shape[1]}x{img_shape[0]}"
            )
        if self.num_classes is not None:
            bad = (seg >= self.num_classes) & (seg != self.ignore_index)
            if bad.any():
                values = np.unique(seg[bad])[:10].tolist()
                raise ValueError(
                    f"label map {results.get('seg_map_path')!r} holds values {values} outside "
                    f"0..{self.num_classes - 1} (ignore index {self.ignore_index}): the file is corrupt or "
                    "uses another label encoding"
                )
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_classes={self.num_classes}, ignore_index={self.ignore_index})"
