"""Decode heads registered in mmseg.registry.MODELS, and the blocks they are built from."""

from .ranet_head import DEVICE_PATH_SETTINGS, RANetHead
from .region_construction import RegionConstructionBlock, RegionConstructionSpec
from .region_interaction import RegionInteractionBlock, RegionInteractionSpec
from .region_outputs import RegionOutputs
from .region_partition_loss import RegionPartitionLoss

__all__ = [
    "DEVICE_PATH_SETTINGS",
    "RANetHead",
    "RegionConstructionBlock",
    "RegionConstructionSpec",
    "RegionInteractionBlock",
    "RegionInteractionSpec",
    "RegionOutputs",
    "RegionPartitionLoss",
]
