"""Regions taken from the label: the oracle partition of the ``force_regions='ground_truth'`` ablation.

With these regions the Region Interaction Block exchanges context between exactly the GT segments (the
connected components of each class, at the region grid), so a run with them measures what the head can
gain from regions when its partition is perfect. It needs the label, at training and at inference, so it
is a diagnostic, never a model to deploy; ``RegionEncoderDecoder`` hands the label to the head.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from ...evaluation.region_metric import label_on_grid
from ...evaluation.region_quality import gt_segments


def ground_truth_regions(labels: Tensor, grid_shape: tuple[int, int], ignore_index: int = 255) -> Tensor:
    """Region ids (B, h * w) of the GT segments of label maps, on a region grid of ``grid_shape``.

    A cell takes the label under its centre (``label_on_grid``, as ``RegionQualityMetric`` does); the
    regions are the 8-connected components of each class (``gt_segments``). Ignored cells form one more
    region per image (they carry no class to segment). Ids are contiguous from 0 in each image.

    Args:
        labels (Tensor): Label maps (B, H, W) covering the network input (integer class ids).
        grid_shape (tuple[int, int]): (h, w) of the region grid.
        ignore_index (int): Label of ignored pixels. Defaults to 255.

    Returns:
        Tensor: int64 region ids (B, h * w) on the device of ``labels``.
    """
    if labels.dim() != 3:
        raise ValueError(f"labels must have shape (B, H, W), got {tuple(labels.shape)}")
    regions = []
    for label in labels.detach().cpu().numpy():
        segments = gt_segments(label_on_grid(label, grid_shape), ignore_index)  # 0 on ignored cells
        regions.append(np.unique(segments.reshape(-1), return_inverse=True)[1].reshape(-1))
    return torch.as_tensor(np.stack(regions), dtype=torch.long, device=labels.device)


def region_counts(regions: Tensor) -> Tensor:
    """Regions per image (B,) of contiguous region ids (B, N)."""
    return regions.max(dim=1).values + 1
