"""What one pass of ``RANetHead`` computes, returned by ``RANetHead.forward_regions``."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from ..ops import Representatives


class RegionOutputs(NamedTuple):
    """Everything the head computes for one batch (used by training, inference and visualisation).

    Attributes:
        seg_logits (Tensor): Final class logits (B, num_classes, h, w).
        stage3_logits (Tensor): Class logits C of the stage-3 branch (B, num_classes, h, w).
        boundary_logits (Tensor): Boundary logits of the final features (B, 2, h, w).
        stage3_boundary_logits (Tensor): Boundary logits B of the stage-3 branch (B, 2, h, w).
        boundary_prob (Tensor): b = softmax(B)[1] on the region grid (B, h, w).
        region (Tensor): Region id of every pixel of the region grid (B, h, w).
        num_regions (Tensor): Number of regions per image (B,).
        representativeness (Tensor): J (B, h*w).
        representatives (Representatives): The padded representative list.
    """

    seg_logits: Tensor
    stage3_logits: Tensor
    boundary_logits: Tensor
    stage3_boundary_logits: Tensor
    boundary_prob: Tensor
    region: Tensor
    num_regions: Tensor
    representativeness: Tensor
    representatives: Representatives
