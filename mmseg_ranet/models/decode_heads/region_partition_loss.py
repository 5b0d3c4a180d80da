"""A loss on RANet's region decision: sampled pixel pairs should be linked exactly when they share a segment.

In the paper the decision G = [(F^g + F^g^T) / 2 > 0] carries no gradient, so W^g learns only through the
representativeness J, and nothing rewards a partition into objects: W^g drifts until G links nothing or
everything. This loss gives the decision margin m_ij = (F^g_ij + F^g_ji) / 2 a direct target: a binary
cross-entropy between sigmoid(m_ij / temperature) and "i and j lie in the same ground-truth segment".

Ground-truth segments are those of the region metric (``mmseg_ranet.evaluation``): the label sampled at the
centres of the region grid's cells, then the 8-connected components of each class; ignored cells take part
in no pair. The pairs of each image are every pair of 8-neighbours (where the decision between an object
and its surroundings is made) plus ``num_pairs`` random pairs (which carry the long-range links inside an
object and across objects of the same class). Positives and negatives are averaged separately and then
together, so the many same-segment pairs inside large objects do not drown the few pairs across a border.
The margins of the sampled pairs are computed pair by pair (``RegionConstructionBlock.pair_margins``): no
N x N table is built.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from ...evaluation.region_metric import label_on_grid
from ...evaluation.region_quality import gt_segments

# One offset of each +/- pair of 8-neighbours.
NEIGHBOUR_OFFSETS = ((0, 1), (1, 0), (1, 1), (1, -1))


def grid_segments(seg_label: Tensor, grid_shape: tuple[int, int], ignore_index: int) -> Tensor:
    """Ground-truth segment ids on the region grid, (B, h*w) int64; 0 on ignored cells.

    Args:
        seg_label (Tensor): Labels (B, 1, H, W) or (B, H, W).
        grid_shape (tuple[int, int]): (h, w) of the region grid.
        ignore_index (int): Ignored label value.
    """
    labels = seg_label.reshape(seg_label.shape[0], *seg_label.shape[-2:]).cpu().numpy()
    segments = [gt_segments(label_on_grid(label, grid_shape), ignore_index) for label in labels]
    return torch.from_numpy(np.stack(segments).reshape(len(segments), -1)).long().to(seg_label.device)


def neighbour_pairs(height: int, width: int, device=None) -> tuple[Tensor, Tensor]:
    """All pairs of 8-neighbours (each once) of an (height, width) grid as raster indices (source, target)."""
    sources, targets = [], []
    y, x = torch.meshgrid(
        torch.arange(height, device=device), torch.arange(width, device=device), indexing="ij"
    )
    for dy, dx in NEIGHBOUR_OFFSETS:
        inside = (y + dy < height) & (x + dx >= 0) & (x + dx < width)
        sources.append((y * width + x)[inside])
        targets.append(((y + dy) * width + x + dx)[inside])
    return torch.cat(sources), torch.cat(targets)


@MODELS.register_module()
class RegionPartitionLoss(nn.Module):
    """Binary cross-entropy between RANet's region decision and "same ground-truth segment" on pixel pairs.

    Set it as the ``loss_partition`` of ``RANetHead``, e.g.
    ``loss_partition=dict(type='RegionPartitionLoss', loss_weight=1.0, num_pairs=1024)``; its value is
    logged as ``loss_partition``.

    Args:
        loss_weight (float): Weight of the loss. Defaults to 1.0.
        num_pairs (int): Random pairs per image, on top of the 8-neighbour pairs. Defaults to 1024.
        neighbour_pairs (bool): Include every pair of 8-neighbours. Defaults to True.
        temperature (float): The logit is margin / temperature; the margin of the initial W^g lies in
            [-0.8, 0.2], so a temperature of 1 would leave the probabilities near 0.5. Defaults to 0.1.
        balance (str): How the pair losses are averaged. ``'label'``: positives and negatives separately,
            then together. ``'label_and_kind'``: the four groups (neighbour / random pair) x (same / other
            segment) separately, then together. Connected components merge two objects through a single
            linked neighbour pair across their border, and those pairs are a few percent of all pairs
            (most negatives are random pairs far apart, which the class term alone already separates);
            this weights them as much as all the easy negatives together. Defaults to ``'label'``.
        loss_name (str): Key of the loss in the log. Defaults to ``'loss_partition'``.
    """

    def __init__(
        self,
        loss_weight: float = 1.0,
        num_pairs: int = 1024,
        neighbour_pairs: bool = True,
        temperature: float = 0.1,
        balance: str = "label",
        loss_name: str = "loss_partition",
    ) -> None:
        super().__init__()
        if not isinstance(num_pairs, int) or isinstance(num_pairs, bool) or num_pairs < 0:
            raise ValueError(f"RegionPartitionLoss num_pairs must be an integer >= 0, got {num_pairs!r}")
        if not num_pairs and not neighbour_pairs:
            raise ValueError("RegionPartitionLoss needs num_pairs > 0 or neighbour_pairs=True (no pairs)")
        if not temperature > 0:
            raise ValueError(f"RegionPartitionLoss temperature must be > 0, got {temperature!r}")
        if balance not in ("label", "label_and_kind"):
            raise ValueError(
                f"RegionPartitionLoss balance must be 'label' or 'label_and_kind', got {balance!r}"
            )
        self.balance = balance
        self.loss_weight = float(loss_weight)
        self.num_pairs = num_pairs
        self.neighbour_pairs = neighbour_pairs
        self.temperature = float(temperature)
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        """Key of the loss in the log (mmseg's convention for loss modules)."""
        return self._loss_name

    def sample_pairs(
        self, segments: Tensor, height: int, width: int
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Pairs (image, source, target, is 8-neighbour pair) of evaluated cells: 8-neighbours and random pairs.

        Args:
            segments (Tensor): Segment ids (B, h*w), 0 on ignored cells.
            height (int): h.
            width (int): w.
        """
        batch = segments.shape[0]
        device = segments.device
        images, sources, targets, kinds = [], [], [], []
        if self.neighbour_pairs:
            source, target = neighbour_pairs(height, width, device)
            images.append(torch.arange(batch, device=device).repeat_interleave(source.numel()))
            sources.append(source.repeat(batch))
            targets.append(target.repeat(batch))
            kinds.append(torch.ones(batch * source.numel(), dtype=torch.bool, device=device))
        if self.num_pairs:
            images.append(torch.arange(batch, device=device).repeat_interleave(self.num_pairs))
            sources.append(torch.randint(height * width, (batch * self.num_pairs,), device=device))
            targets.append(torch.randint(height * width, (batch * self.num_pairs,), device=device))
            kinds.append(torch.zeros(batch * self.num_pairs, dtype=torch.bool, device=device))
        image, source, target, kind = (torch.cat(parts) for parts in (images, sources, targets, kinds))
        keep = (segments[image, source] > 0) & (segments[image, target] > 0) & (source != target)
        return image[keep], source[keep], target[keep], kind[keep]

    def forward(
        self,
        construction,
        class_logits: Tensor,
        boundary_logits: Tensor,
        seg_label: Tensor,
        ignore_index: int,
    ) -> Tensor:
        """The weighted loss of one batch.

        Args:
            construction (RegionConstructionBlock): The block whose decision is trained.
            class_logits (Tensor): Class logits C on the region grid, (B, num_classes, h, w).
            boundary_logits (Tensor): Boundary logits B on the region grid, (B, 2, h, w).
            seg_label (Tensor): Labels (B, 1, H, W) at any resolution.
            ignore_index (int): Ignored label value.

        Returns:
            Tensor: A scalar; 0 (with a graph) when no pair of evaluated cells exists.
        """
        height, width = class_logits.shape[2:]
        segments = grid_segments(seg_label, (height, width), ignore_index)
        image, source, target, neighbour = self.sample_pairs(segments, height, width)
        if image.numel() == 0:
            return class_logits.sum() * 0
        margin = construction.pair_margins(class_logits, boundary_logits, image, source, target)
        same = (segments[image, source] == segments[image, target]).to(margin.dtype)
        losses = F.binary_cross_entropy_with_logits(margin / self.temperature, same, reduction="none")
        groups = [same == 1.0, same == 0.0]
        if self.balance == "label_and_kind":
            groups = [g & k for g in groups for k in (neighbour, ~neighbour)]
        parts = [losses[g].mean() for g in groups if bool(g.any())]
        return self.loss_weight * torch.stack(parts).mean()
