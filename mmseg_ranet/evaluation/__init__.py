"""Evaluation of the plugin: superpixel-style quality of RANet's regions (``RegionQualityMetric``)."""

from .region_metric import RegionQualityMetric, format_region_quality, label_on_grid
from .region_quality import QUALITY_KEYS, region_quality

__all__ = ["QUALITY_KEYS", "RegionQualityMetric", "format_region_quality", "label_on_grid", "region_quality"]
