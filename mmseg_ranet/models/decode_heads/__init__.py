"""Decode heads registered in mmseg.registry.MODELS, and the blocks they are built from."""

from .ranet_head import RANetHead, RegionOutputs
from .ranet_presets import RANET_VARIANT_LOSSES, RANET_VARIANTS
from .region_construction import RegionConstructionBlock
from .region_interaction import RegionInteractionBlock
from .region_partition_loss import RegionPartitionLoss

__all__ = [
    "RANET_VARIANT_LOSSES",
    "RANET_VARIANTS",
    "RANetHead",
    "RegionConstructionBlock",
    "RegionInteractionBlock",
    "RegionOutputs",
    "RegionPartitionLoss",
]
