"""ATNet (Heo et al., "Interactive Video Object Segmentation Using Global and Local Transfer Modules",
ECCV 2020): the annotation network (A-Net) and the transfer network (T-Net).

A-Net segments the annotated frame from the image and three guidance maps (previous mask, positive and
negative scribbles); its features also give an "indicator" code of the annotated object. T-Net
segments another frame: the global transfer module matches its 1/16 features against every annotated
frame's and carries the indicator codes over, the local transfer module carries the previous frame's
mask over from nearby positions weighted by a local feature correlation.

Parameter and buffer names equal those of the released ``ATNet-checkpoint.pth`` (``networks/atnet.py``
of yuk6heo/IVOS-ATNet), so it loads with ``strict=True``. Behaviours of the released code kept because
outputs depend on them:

* the global transfer's softmax runs over the *target* positions and is divided by the number of
  annotated frames;
* the local transfer's softmax runs over the vertical image axis (``dim=2`` of ``B x D x H x W``), not
  over the displacements;
* ``prev_conv1x1`` is applied to the stored previous-frame features on every call (they are stored
  before that convolution).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vos_recommender.nets.atnet.blocks import ASPP, Refine, SEBottleneck, SEResNet
from vos_recommender.nets.atnet.correlation import displacements, local_correlation, shift_zero

__all__ = ["ATNET_CONFIGS", "ATNet"]

#: Named configurations: the released model and a CPU-sized one (ResNet-18 backbone, narrower decoders,
#: and the working height the backend resizes frames to).
ATNET_CONFIGS: dict[str, dict[str, Any]] = {
    "released": {"depth": 50, "mdim": 256, "working_height": None},
    "cpu": {"depth": 18, "mdim": 64, "working_height": 240},
}


class Encoder(nn.Module):
    """SE-ResNet encoder with its own first convolution (``conv0_6ch`` for A-Net, ``conv0_3ch`` for T-Net).

    Returns the stage-4..1 features ``r5`` (1/16), ``r4`` (1/16), ``r3`` (1/8), ``r2`` (1/4).
    """

    def __init__(self, in_channels: int, depth: int = 50) -> None:
        super().__init__()
        self.first_name = f"conv0_{in_channels}ch"
        setattr(self, self.first_name, nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=True))
        blocks = 3 if depth >= 50 else 2
        resnet = SEResNet(depth, output_stride=16, multi_grid=(1, 2, 4)[:blocks])
        self.channels = resnet.stage_channels
        self.bn1, self.relu, self.maxpool = resnet.bn1, resnet.relu, resnet.maxpool
        self.res2, self.res3, self.res4, self.res5 = (
            resnet.layer1,
            resnet.layer2,
            resnet.layer3,
            resnet.layer4,
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(getattr(self, self.first_name)(x))))
        r2 = self.res2(x)
        r3 = self.res3(r2)
        r4 = self.res4(r3)
        return self.res5(r4), r4, r3, r2


class Decoder(nn.Module):
    """A-Net's (and, with ``transfer=True``, T-Net's) decoder: ASPP + refinement at 1/8 and 1/4.

    T-Net's decoder adds half the locally transferred mask feature at 1/8 and 1/4.
    """

    def __init__(self, channels: tuple[int, ...], mdim: int = 256, transfer: bool = False) -> None:
        super().__init__()
        c2, c3, c5 = channels[1], channels[2], channels[4]
        self.transfer = transfer
        self.aspp_decoder = ASPP(c5, mdim)
        self.convG0 = nn.Conv2d(c5, mdim, 3, padding=1)
        self.convG1 = nn.Conv2d(mdim, mdim, 3, padding=1)
        self.convG2 = nn.Conv2d(mdim, mdim, 3, padding=1)
        self.RF3 = Refine(c3, mdim)
        self.RF2 = Refine(c2, mdim)
        self.lastconv = nn.Sequential(
            nn.Conv2d(2 * mdim, mdim, 3, padding=1, bias=False),
            nn.BatchNorm2d(mdim),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Conv2d(mdim, mdim, 3, padding=1, bias=False),
            nn.BatchNorm2d(mdim),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Conv2d(mdim, 1, 1),
        )

    def forward(
        self, r5: torch.Tensor, r3: torch.Tensor, r2: torch.Tensor, f_mask_r2: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(logit at input size, 1/4 feature m2 of 2 * mdim channels)``."""
        aspp = F.interpolate(self.aspp_decoder(r5), scale_factor=4, mode="bilinear", align_corners=True)
        m4 = self.convG2(F.relu(self.convG1(F.relu(self.convG0(F.relu(r5))))))
        m3 = self.RF3(r3, m4)
        if self.transfer:
            m3 = m3 + 0.5 * F.interpolate(f_mask_r2, scale_factor=0.5, mode="bilinear", align_corners=True)
        m2 = self.RF2(r2, m3)
        if self.transfer:
            m2 = m2 + 0.5 * f_mask_r2
        m2 = torch.cat((m2, aspp), dim=1)
        logit = F.interpolate(self.lastconv(m2), scale_factor=4, mode="bilinear", align_corners=True)
        return logit, m2


class IndicatorEncoder(nn.Module):
    """Turns A-Net's 1/4 decoder feature into a 1/16 indicator code of the annotated object."""

    def __init__(self, mdim: int, c5: int) -> None:
        super().__init__()
        self.block1 = SEBottleneck(2 * mdim, c5 // 8, stride=2, downsample=_projection(2 * mdim, c5 // 2))
        self.block2 = SEBottleneck(c5 // 2, c5 // 4, stride=2, downsample=_projection(c5 // 2, c5))
        self.conv1x1 = nn.Conv2d(2 * c5, c5, 1)

    def forward(self, r5: torch.Tensor, m2: torch.Tensor) -> torch.Tensor:
        return self.conv1x1(torch.cat((self.block2(self.block1(m2)), r5), dim=1))


def _projection(inplanes: int, planes: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride=2, bias=False), nn.BatchNorm2d(planes))


class ATNet(nn.Module):
    """A-Net and T-Net with the global and local transfer modules.

    Args:
        depth: SE-ResNet depth of both encoders (released: 50; 18 or 34 for a CPU-sized model).
        mdim: Decoder width (released: 256).
        corr_displacement: Local transfer radius in displacement steps (released: 4).
        corr_stride: Step between displacements at 1/4 resolution (released: 2).
    """

    def __init__(
        self, depth: int = 50, mdim: int = 256, corr_displacement: int = 4, corr_stride: int = 2
    ) -> None:
        super().__init__()
        self.encoder_6ch = Encoder(6, depth)
        self.encoder_3ch = Encoder(3, depth)
        channels = self.encoder_3ch.channels
        c2, c5 = channels[1], channels[4]
        self.indicator_encoder = IndicatorEncoder(mdim, c5)
        self.decoder_iact = Decoder(channels, mdim)
        self.decoder_prop = Decoder(channels, mdim, transfer=True)
        self.prev_conv1x1 = nn.Conv2d(c2, c2, 1)
        self.conv1x1 = nn.Conv2d(2 * c5, c5, 1)
        self.max_displacement = corr_displacement * corr_stride
        self.corr_stride = corr_stride

    def forward_anet(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A-Net on ``N x 6 x H x W`` (image, previous mask, positive, negative scribble maps).

        Returns:
            ``(N x 1 x H x W logits, N x C5 x H/16 x W/16 indicator codes)``.
        """
        r5, _, r3, r2 = self.encoder_6ch(x)
        logit, m2 = self.decoder_iact(r5, r3, r2)
        return logit, self.indicator_encoder(r5, m2)

    def forward_tnet(
        self,
        anno_r5: list[torch.Tensor],
        image: torch.Tensor,
        anno_indicators: list[torch.Tensor],
        r2_prev: torch.Tensor,
        mask_prev: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """T-Net on one frame.

        Args:
            anno_r5: T-Net encoder features of every annotated frame so far (``N x C5 x h x w`` each).
            image: ``N x 3 x H x W`` target frame (one copy per object).
            anno_indicators: A-Net indicator codes of the same annotated frames.
            r2_prev: T-Net encoder 1/4 features of the previous frame (before ``prev_conv1x1``).
            mask_prev: ``N x 1 x H x W`` previous frame's probabilities.

        Returns:
            ``(N x 1 x H x W logits, this frame's 1/4 features for the next call)``.
        """
        r5, _, r3, r2 = self.encoder_3ch(image)
        f_mask_r5 = self.global_transfer(anno_r5, r5, anno_indicators)
        f_mask_r2 = self.local_transfer(self.prev_conv1x1(r2_prev), self.prev_conv1x1(r2), mask_prev)
        r5 = self.conv1x1(torch.cat([r5, f_mask_r5], dim=1))
        logit, _ = self.decoder_prop(r5, r3, r2, f_mask_r2)
        return logit, r2

    @staticmethod
    def global_transfer(
        anno_features: list[torch.Tensor], target: torch.Tensor, anno_indicators: list[torch.Tensor]
    ) -> torch.Tensor:
        """Carry the indicator codes to the target frame through feature similarity (1/16)."""
        b, c, h, w = anno_indicators[0].shape
        n = len(anno_features)
        keys = torch.cat([f.reshape(b, c, h * w).transpose(1, 2) for f in anno_features], dim=1)
        affinity = F.softmax(torch.bmm(keys, target.reshape(b, c, h * w)), dim=2) / n
        values = torch.cat([f.reshape(b, c, h * w) for f in anno_indicators], dim=-1)
        return torch.bmm(values, affinity).reshape(b, c, h, w)

    def local_transfer(
        self, r2_prev: torch.Tensor, r2_target: torch.Tensor, mask_prev: torch.Tensor
    ) -> torch.Tensor:
        """Carry the previous mask over from nearby positions, weighted by a local correlation (1/4)."""
        mask = F.interpolate(mask_prev, scale_factor=0.25, mode="bilinear", align_corners=True)
        affinity = local_correlation(r2_target, r2_prev, self.max_displacement, self.corr_stride)
        affinity = F.softmax(affinity, dim=2)
        shifts = displacements(self.max_displacement, self.corr_stride)
        out = torch.zeros_like(mask)
        for k, (dy, dx) in enumerate(shifts):
            out = out + affinity[:, k : k + 1] * shift_zero(mask, dy, dx)
        return out

    @classmethod
    def from_config(cls, config: str | dict[str, Any] = "released") -> ATNet:
        """Build the ``"released"`` or ``"cpu"`` configuration (or a dict of constructor arguments).

        Raises:
            ValueError: On an unknown configuration name.
        """
        if isinstance(config, str):
            if config not in ATNET_CONFIGS:
                raise ValueError(f"ATNet config must be one of {sorted(ATNET_CONFIGS)}, got {config!r}")
            config = ATNET_CONFIGS[config]
        return cls(**{k: v for k, v in config.items() if k != "working_height"})
