"""IPN's interaction and propagation networks (Oh et al., CVPR 2019), released and CPU-sized.

:class:`InteractionNetwork` turns a frame, the object's previous probability on it and the positive /
negative scribble maps into a new probability (and its stride-32 feature, the reference of the
propagation). :class:`PropagationNetwork` carries a probability from a neighbouring frame to the next
one, guided by the reference feature, fused with the previous round's by :class:`FeatureAggregation`.
Both work in a square region of interest around the object (:mod:`vos_recommender.nets.ipn.roi`).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn
from torch.nn import functional as F

from vos_recommender.nets.ipn.parts import Decoder, Encoder, FeatureAggregation
from vos_recommender.nets.ipn.roi import RoiWarp, roi_box

__all__ = ["CONFIGS", "IPNConfig", "InteractionNetwork", "PropagationNetwork"]


@dataclasses.dataclass(frozen=True)
class IPNConfig:
    """Size of the two networks.

    Attributes:
        depth: ResNet depth of both encoders (50 as released).
        mdim: Decoder width (256 as released).
        roi_size: Side of the square crop the networks see (256 as released; a multiple of 32).
        min_box: Smallest side of the box, in frame pixels, before the 1.5 x margin (128 as released).
    """

    depth: int = 50
    mdim: int = 256
    roi_size: int = 256
    min_box: int = 128

    def __post_init__(self) -> None:
        if self.roi_size < 32 or self.roi_size % 32:
            raise ValueError(f"IPNConfig.roi_size must be a positive multiple of 32, got {self.roi_size}")
        if self.mdim < 1 or self.min_box < 1:
            raise ValueError(f"IPNConfig.mdim and min_box must be >= 1, got {self.mdim}, {self.min_box}")


#: ``released``: the authors' networks (their checkpoints load into it); ``cpu``: ResNet-18 encoders,
#: a 64-wide decoder and a 128-pixel crop, about 9x fewer operations per frame, for training here.
CONFIGS = {
    "released": IPNConfig(),
    "cpu": IPNConfig(depth=18, mdim=64, roi_size=128, min_box=64),
}


def _fill_unset_mask(mask: torch.Tensor) -> torch.Tensor:
    # A probability of -1 everywhere marks "no estimate yet"; the networks then see 0.5 (unknown).
    return torch.full_like(mask, 0.5) if bool(torch.all(mask == -1)) else mask


class InteractionNetwork(nn.Module):
    """Frame + previous probability + scribbles -> new object probability.

    Args:
        config: Network size (default: released).
    """

    def __init__(self, config: IPNConfig | None = None) -> None:
        super().__init__()
        self.config = config or IPNConfig()
        self.Encoder = Encoder(("m", "p", "n"), depth=self.config.depth)
        self.Decoder = Decoder(self.Encoder.channels, self.config.mdim)

    def forward(
        self, frame: torch.Tensor, prev: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run on one frame.

        Args:
            frame: ``1 x 3 x H x W`` RGB in ``[0, 1]``.
            prev: ``1 x H x W`` previous probability of the object (all ``-1``: none yet).
            positive: ``1 x H x W`` binary map of the object's scribbles.
            negative: ``1 x H x W`` binary map of the background scribbles.

        Returns:
            ``(probability 1 x H x W, reference feature 1 x C5 x s/32 x s/32)``.
        """
        prev = _fill_unset_mask(prev)
        box = roi_box([prev, positive, negative], self.config.min_box)
        warp = RoiWarp(box, frame.shape[-2:], self.config.roi_size, frame.dtype, frame.device)
        features = self.Encoder(warp.crop(frame), warp.crop(prev), warp.crop(positive), warp.crop(negative))
        logits = self.Decoder(*features)
        return warp.paste(F.softmax(logits, dim=1))[:, 1], features[0]


class PropagationNetwork(nn.Module):
    """Frame + previous-round probability + neighbour's probability + reference -> probability.

    Args:
        config: Network size (default: released).
    """

    def __init__(self, config: IPNConfig | None = None) -> None:
        super().__init__()
        self.config = config or IPNConfig()
        self.Encoder = Encoder(("m", "x"), depth=self.config.depth)
        self.SEFA = FeatureAggregation(self.Encoder.channels[-1], reduction=2)
        self.Decoder = Decoder(self.Encoder.channels, self.config.mdim, fused=True)

    def reference(self, current: torch.Tensor, previous: torch.Tensor | None) -> torch.Tensor:
        """This round's reference feature, fused with the previous round's when there is one."""
        return current if previous is None else self.SEFA(current, previous)

    def forward(
        self, frame: torch.Tensor, prev: torch.Tensor, neighbour: torch.Tensor, reference: torch.Tensor
    ) -> torch.Tensor:
        """Run on one frame.

        Args:
            frame: ``1 x 3 x H x W`` RGB in ``[0, 1]``.
            prev: ``1 x H x W`` this frame's probability from the previous round (all ``-1``: none).
            neighbour: ``1 x H x W`` this round's probability of the adjacent, already processed frame.
            reference: Fused reference feature from :meth:`reference`.

        Returns:
            ``1 x H x W`` probability of the object.
        """
        prev = _fill_unset_mask(prev)
        box = roi_box([prev, neighbour], self.config.min_box)
        warp = RoiWarp(box, frame.shape[-2:], self.config.roi_size, frame.dtype, frame.device)
        features = self.Encoder(warp.crop(frame), warp.crop(prev), warp.crop(neighbour))
        logits = self.Decoder(*features, reference=reference)
        return warp.paste(F.softmax(logits, dim=1))[:, 1]
