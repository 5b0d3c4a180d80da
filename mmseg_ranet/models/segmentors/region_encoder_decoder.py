"""``RegionEncoderDecoder``: mmseg's ``EncoderDecoder`` whose predictions also carry the head's regions."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

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
