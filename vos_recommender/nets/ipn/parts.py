"""Building blocks of IPN's two networks (Oh et al., CVPR 2019): encoder, decoder, feature aggregation.

Attribute names follow the released code so that its checkpoints load with ``strict=True``: the
encoder keeps the ResNet's ``conv1``/``bn1`` and renames ``layer1..4`` to ``res2..res5``, extra input
branches are ``conv1_<x>``, and the decoder's blocks are ``ResFM``/``ResFM1``/``ResFM2``, ``RF4..RF2``
and ``pred2..pred5``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from vos_recommender.nets.resnet import ResNet

__all__ = ["Decoder", "Encoder", "FeatureAggregation", "Refine", "ResBlock"]

#: ImageNet statistics the released encoders normalise with (stored as buffers in the checkpoints).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Encoder(nn.Module):
    """ResNet encoder on an RGB frame plus single-channel maps added to the stem.

    Each extra map (the previous mask, the scribbles) has its own 7 x 7 stride-2 convolution whose
    output is added to ``conv1``'s before ``bn1``, so the pretrained RGB stem stays intact.

    Args:
        extra_inputs: Names of the extra maps, in the order :meth:`forward` takes them; ``conv1_<name>``
            is built for each. The first one (the mask) has a bias, the others not, as released.
        depth: ResNet depth (50 as released).
    """

    def __init__(self, extra_inputs: Sequence[str], depth: int = 50) -> None:
        super().__init__()
        self.extra_inputs = tuple(extra_inputs)
        for index, name in enumerate(self.extra_inputs):
            setattr(self, f"conv1_{name}", nn.Conv2d(1, 64, 7, stride=2, padding=3, bias=index == 0))
        resnet = ResNet(depth=depth)
        self.conv1 = resnet.conv1
        self.bn1 = resnet.bn1
        self.relu = resnet.relu
        self.maxpool = resnet.maxpool
        self.res2 = resnet.layer1
        self.res3 = resnet.layer2
        self.res4 = resnet.layer3
        self.res5 = resnet.layer4
        self.channels = resnet.stage_channels[1:]  # res2..res5
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, frame: torch.Tensor, *maps: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Features ``(r5, r4, r3, r2)`` (strides 32, 16, 8, 4) of ``B x 3 x H x W`` RGB in ``[0, 1]``.

        Args:
            frame: RGB frame.
            *maps: ``B x H x W`` maps, one per name of ``extra_inputs``.
        """
        if len(maps) != len(self.extra_inputs):
            raise ValueError(f"Encoder expects maps {self.extra_inputs}, got {len(maps)} maps")
        x = self.conv1((frame - self.mean) / self.std)
        for name, extra in zip(self.extra_inputs, maps):
            x = x + getattr(self, f"conv1_{name}")(extra.unsqueeze(1).to(x.dtype))
        x = self.maxpool(self.relu(self.bn1(x)))
        r2 = self.res2(x)
        r3 = self.res3(r2)
        r4 = self.res4(r3)
        r5 = self.res5(r4)
        return r5, r4, r3, r2


class ResBlock(nn.Module):
    """Pre-activation residual block of two 3 x 3 convolutions (a 3 x 3 projection when widths differ)."""

    def __init__(self, indim: int, outdim: int | None = None) -> None:
        super().__init__()
        outdim = indim if outdim is None else outdim
        self.downsample = None if indim == outdim else nn.Conv2d(indim, outdim, 3, padding=1)
        self.conv1 = nn.Conv2d(indim, outdim, 3, padding=1)
        self.conv2 = nn.Conv2d(outdim, outdim, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.conv2(F.relu(self.conv1(F.relu(x))))
        return (x if self.downsample is None else self.downsample(x)) + r


class Refine(nn.Module):
    """Skip connection of the decoder: a block on the encoder feature plus the upsampled coarser map."""

    def __init__(self, inplanes: int, planes: int, scale_factor: int = 2) -> None:
        super().__init__()
        self.ResFS = ResBlock(inplanes, planes)
        self.ResMM = ResBlock(planes, planes)
        self.scale_factor = scale_factor

    def forward(self, feature: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(coarse, scale_factor=self.scale_factor, mode="bilinear", align_corners=True)
        return self.ResMM(self.ResFS(feature) + up)


class Decoder(nn.Module):
    """Refinement decoder from stride 32 to stride 4, then 2-class logits upsampled x 4.

    Args:
        channels: Encoder channels of ``(r2, r3, r4, r5)``.
        mdim: Decoder width (256 as released).
        fused: Propagation variant: ``r5`` is concatenated with the reference feature (twice the
            channels) and reduced by ``ResFM1`` (to half of r5's channels) and ``ResFM2``; otherwise
            one ``ResFM`` maps r5 to ``mdim``.
    """

    def __init__(self, channels: Sequence[int], mdim: int = 256, fused: bool = False) -> None:
        super().__init__()
        c2, c3, c4, c5 = channels
        self.fused = fused
        if fused:
            self.ResFM1 = ResBlock(2 * c5, c5 // 2)
            self.ResFM2 = ResBlock(c5 // 2, mdim)
        else:
            self.ResFM = ResBlock(c5, mdim)
        self.RF4 = Refine(c4, mdim)
        self.RF3 = Refine(c3, mdim)
        self.RF2 = Refine(c2, mdim)
        # pred3..pred5 are deep-supervision heads of training; they are kept so that the checkpoints
        # load strictly, and skipped at inference, where only pred2 reaches the output.
        for level in (5, 4, 3, 2):
            setattr(self, f"pred{level}", nn.Conv2d(mdim, 2, 3, padding=1))

    def forward(
        self,
        r5: torch.Tensor,
        r4: torch.Tensor,
        r3: torch.Tensor,
        r2: torch.Tensor,
        reference: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """2-class logits at the input resolution of the encoder."""
        if self.fused:
            if reference is None:
                raise ValueError("the propagation decoder needs the reference feature")
            m5 = self.ResFM2(self.ResFM1(torch.cat([reference, r5], dim=1)))
        else:
            m5 = self.ResFM(r5)
        m2 = self.RF2(r2, self.RF3(r3, self.RF4(r4, m5)))
        logits = self.pred2(F.relu(m2))
        return F.interpolate(logits, scale_factor=4, mode="bilinear", align_corners=True)


class FeatureAggregation(nn.Module):
    """Squeeze-and-excitation style fusion of two feature maps (the released ``SEFA``).

    Globally pooled features of both inputs give, per channel, softmax weights over the two inputs;
    the output is their weighted sum. The released code reads the two weights of channel ``c`` from
    the adjacent logits ``2c`` and ``2c + 1``, which is kept.

    Args:
        channels: Channels of each input.
        reduction: Hidden width is ``2 * channels / reduction`` (2 as released).
    """

    def __init__(self, channels: int, reduction: int = 2) -> None:
        super().__init__()
        self.channels = channels
        self.fc1 = nn.Linear(2 * channels, int(2 * channels / reduction))
        self.fc2 = nn.Linear(int(2 * channels / reduction), 2 * channels)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        # Two successive means, as released: a single mean over both axes rounds differently, and the
        # propagation's box thresholds can turn last-bit differences into different crops.
        pooled = torch.cat([x1, x2], dim=1).mean(-1).mean(-1)
        weights = F.softmax(self.fc2(F.relu(self.fc1(pooled))).view(-1, self.channels, 2), dim=2)
        return x1 * weights[:, :, 0, None, None] + x2 * weights[:, :, 1, None, None]
