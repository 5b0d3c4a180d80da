"""Decode heads registered in mmseg.registry.MODELS."""

from .ranet_head import RANET_VARIANTS, RANetHead, RegionOutputs

__all__ = ["RANET_VARIANTS", "RANetHead", "RegionOutputs"]
