"""``RegionQualityMetric``: superpixel measures of RANet's regions, beside ``IoUMetric`` in an evaluator."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmseg.registry import METRICS

from .region_quality import QUALITY_KEYS, region_quality

QUALITY_NAMES = {
    "regions_per_image": "regions per image",
    "segments_per_image": "GT segments per image",
    "asa": "achievable segmentation accuracy (ASA)",
    "ue": "under-segmentation error (UE)",
    "boundary_recall": "boundary recall (BR)",
    "regions_per_segment": "regions per GT segment",
}


def label_on_grid(label: np.ndarray, grid_shape: tuple[int, int]) -> np.ndarray:
    """The label sampled at the centre of every cell of a ``grid_shape`` grid laid over the whole label.

    Nearest sampling at cell centres (rather than at the top-left pixel of a cell, as ``nearest``
    interpolation does) keeps a cell's label the one under most of it for objects larger than a cell.
    """
    height, width = label.shape
    rows = ((np.arange(grid_shape[0]) + 0.5) * height / grid_shape[0]).astype(np.int64)
    cols = ((np.arange(grid_shape[1]) + 0.5) * width / grid_shape[1]).astype(np.int64)
    return label[np.ix_(np.minimum(rows, height - 1), np.minimum(cols, width - 1))]


def _map(sample: Mapping, key: str, index: int) -> np.ndarray:
    field = sample.get(key)
    if field is None:
        hint = (
            " (RegionQualityMetric reads the head's region map: use model type 'RegionEncoderDecoder' with "
            "a RANetHead and test_cfg mode='whole'; slide inference has no single region map)"
            if key == "pred_regions"
            else ""
        )
        raise KeyError(f"data sample {index} has no {key!r}{hint}")
    data = field["data"] if isinstance(field, Mapping) else field.data
    data = data.detach().cpu().numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
    if data.ndim == 3 and data.shape[0] == 1:
        data = data[0]
    if data.ndim != 2:
        raise ValueError(f"data sample {index}: {key!r} must be a (1, H, W) or (H, W) map, got {data.shape}")
    return data


def format_region_quality(metrics: Mapping[str, float]) -> str:
    """One line per region-quality entry of ``metrics`` (keys with or without the metric's prefix)."""
    lines = []
    for key, value in metrics.items():
        name = QUALITY_NAMES.get(key.rsplit("/", 1)[-1])
        if name is not None:
            lines.append(f"{name:<40} {value:.4f}  [{key}]")
    return "\n".join(lines)


@METRICS.register_module()
class RegionQualityMetric(BaseMetric):
    """Superpixel-style quality of the regions a ``RANetHead`` built, averaged over images.

    Each prediction must carry the head's region map as ``pred_regions`` (region grid resolution, padding
    removed, flips undone), which ``RegionEncoderDecoder`` attaches from the forward that made the
    prediction. The label ``gt_sem_seg`` is sampled at the centres of the region grid's cells
    (:func:`label_on_grid`). The measures of one image are those of
    :mod:`mmseg_ranet.evaluation.region_quality`: regions per image, GT segments per image, ASA, UE,
    boundary recall and regions per GT segment. Images without evaluated cells (all ignored) are left
    out of every average, images without GT boundary cells out of the boundary recall average.

    Keys are prefixed with ``region/`` (``region/asa``, ...) so that they sit beside ``IoUMetric``'s.

    Args:
        ignore_index (int): Label value left out of every measure. Defaults to 255.
        tolerance (int): Boundary recall tolerance in region-grid cells. Defaults to 1.
        collect_device (str): Device for collecting results across ranks. Defaults to ``'cpu'``.
        prefix (str, optional): Key prefix. Defaults to ``'region'``.
    """

    default_prefix = "region"

    def __init__(
        self,
        ignore_index: int = 255,
        tolerance: int = 1,
        collect_device: str = "cpu",
        prefix: str | None = None,
    ) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not isinstance(tolerance, int) or tolerance < 0:
            raise ValueError(f"RegionQualityMetric tolerance must be an int >= 0 (cells), got {tolerance!r}")
        self.ignore_index = ignore_index
        self.tolerance = tolerance

    def process(self, data_batch: dict, data_samples: Sequence[Mapping]) -> None:
        """Measure every sample's region map against its label."""
        for index, sample in enumerate(data_samples):
            regions = _map(sample, "pred_regions", index)
            label = label_on_grid(_map(sample, "gt_sem_seg", index), regions.shape)
            self.results.append(region_quality(regions, label, self.ignore_index, self.tolerance))

    def compute_metrics(self, results: list[dict[str, float]]) -> dict[str, float]:
        """Average the per-image measures (NaN where no image defines one)."""
        evaluated = [result for result in results if result["cells"] > 0]
        metrics = {}
        for key in QUALITY_KEYS:
            values = [result[key] for result in evaluated if not math.isnan(result[key])]
            metrics[key] = float(np.mean(values)) if values else math.nan
        print_log(
            f"Region quality over {len(evaluated)} of {len(results)} images (region grid, "
            f"boundary tolerance {self.tolerance} cell(s)):\n{format_region_quality(metrics)}",
            logger="current",
        )
        return metrics
