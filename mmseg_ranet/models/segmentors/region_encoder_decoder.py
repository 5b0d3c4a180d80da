"""``RegionEncoderDecoder``: mmseg's ``EncoderDecoder`` whose predictions also carry the head's regions."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence

import torch
from mmengine.structures import PixelData
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.utils import OptSampleList, SampleList
from torch import Tensor


def image_region_map(region: Tensor, img_meta: Mapping, padded_shape: Sequence[int]) -> Tensor:
    """The part of a region map (h, w) that lies on the image, in the image's orientation.

    The region grid covers the padded network input (``padded_shape``, in pixels). As
    ``EncoderDecoder.postprocess_result`` does for the logits, the padding (``img_padding_size`` or
    ``padding_size``, left/right/top/bottom in pixels) is removed and a test-time flip undone; the grid
    resolution is kept. A cell partly on the image is kept, a cell wholly on the padding dropped.
    """
    grid_h, grid_w = region.shape
    padded_h, padded_w = padded_shape
    left, right, top, bottom = img_meta.get("img_padding_size", img_meta.get("padding_size", [0, 0, 0, 0]))
    y0, y1 = math.floor(top * grid_h / padded_h), math.ceil((padded_h - bottom) * grid_h / padded_h)
    x0, x1 = math.floor(left * grid_w / padded_w), math.ceil((padded_w - right) * grid_w / padded_w)
    region = region[y0:y1, x0:x1]
    if img_meta.get("flip"):
        direction = img_meta.get("flip_direction")
        if direction not in ("horizontal", "vertical"):
            raise ValueError(f"flip_direction must be 'horizontal' or 'vertical', got {direction!r}")
        region = region.flip(dims=(1,) if direction == "horizontal" else (0,))
    return region


def input_labels(inputs: Tensor, data_samples: SampleList, ignore_index: int) -> Tensor:
    """The label maps (B, H, W) over the network input: each ``gt_sem_seg`` padded right and bottom with
    ``ignore_index`` to the input size, as ``SegDataPreProcessor`` pads the images."""
    height, width = inputs.shape[2:]
    labels = torch.full(
        (len(data_samples), height, width), ignore_index, dtype=torch.long, device=inputs.device
    )
    for index, sample in enumerate(data_samples):
        label = sample.gt_sem_seg.data[0]
        if label.shape[0] > height or label.shape[1] > width:
            raise ValueError(
                f"data sample {index}: gt_sem_seg {tuple(label.shape)} is larger than the input {(height, width)}"
                " (a test pipeline that resizes the image must resize the label too)"
            )
        labels[index, : label.shape[0], : label.shape[1]] = label
    return labels


@MODELS.register_module()
class RegionEncoderDecoder(EncoderDecoder):
    """``EncoderDecoder`` that adds the decode head's region map to every prediction as ``pred_regions``.

    ``RANetHead.predict`` keeps the region map of the batch it predicted (``predicted_regions``, B x h x w
    region ids on the region grid); this segmentor takes it in ``postprocess_result`` and attaches each
    image's part (:func:`image_region_map`) as ``PixelData`` ``pred_regions``. No second forward runs, and
    everything else (losses, logits, checkpoints) is ``EncoderDecoder``'s. Only whole inference gives one
    region map per image: with ``test_cfg.mode='slide'`` the head sees crops and no ``pred_regions`` is
    attached. ``RegionQualityMetric`` reads ``pred_regions``.

    Args:
        **kwargs: ``EncoderDecoder`` arguments; the decode head must keep ``predicted_regions``
            (``RANetHead`` does).
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        if not hasattr(self.decode_head, "predicted_regions"):
            raise TypeError(
                "RegionEncoderDecoder needs a decode head that keeps its region map in predicted_regions "
                f"(RANetHead), got {type(self.decode_head).__name__}"
            )

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        """``EncoderDecoder.loss``; for ``construction.force_regions='ground_truth'`` the head gets the labels."""
        with self._ground_truth_for_head(inputs, data_samples):
            return super().loss(inputs, data_samples)

    def predict(self, inputs: Tensor, data_samples: OptSampleList = None) -> SampleList:
        """``EncoderDecoder.predict``; for ``construction.force_regions='ground_truth'`` the head gets the labels."""
        with self._ground_truth_for_head(inputs, data_samples):
            return super().predict(inputs, data_samples)

    @contextlib.contextmanager
    def _ground_truth_for_head(self, inputs: Tensor, data_samples: OptSampleList):
        # The oracle ablation (regions = GT segments) reads the label in the head's forward; mmseg passes
        # the head only features and image metas, so the label maps travel on the head for this call.
        construction = getattr(self.decode_head, "region_construction", None)
        if getattr(getattr(construction, "spec", None), "force_regions", None) != "ground_truth":
            yield
            return
        if (self.test_cfg or {}).get("mode", "whole") != "whole" and not self.training:
            raise ValueError(
                "force_regions='ground_truth' needs test_cfg mode='whole' (slide windows have no label)"
            )
        if not data_samples or any("gt_sem_seg" not in sample for sample in data_samples):
            raise ValueError("force_regions='ground_truth' needs gt_sem_seg in every data sample (an oracle)")
        self.decode_head.ground_truth_labels = input_labels(
            inputs, data_samples, self.decode_head.ignore_index
        )
        try:
            yield
        finally:
            self.decode_head.ground_truth_labels = None

    def postprocess_result(self, seg_logits: Tensor, data_samples: OptSampleList = None) -> SampleList:
        """``EncoderDecoder.postprocess_result`` plus ``pred_regions`` (whole inference only)."""
        regions = self.decode_head.predicted_regions
        # Taken once, so that no later prediction can pick up this batch's map.
        self.decode_head.predicted_regions = None
        data_samples = super().postprocess_result(seg_logits, data_samples)
        whole = (self.test_cfg or {}).get("mode", "whole") == "whole"
        if regions is None or not whole or len(regions) != len(data_samples):
            return data_samples
        for sample, region in zip(data_samples, regions):
            sample.pred_regions = PixelData(
                data=image_region_map(region, sample.metainfo, seg_logits.shape[2:])[None]
            )
        return data_samples
