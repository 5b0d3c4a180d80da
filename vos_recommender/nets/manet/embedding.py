"""MANet's pixel-embedding network: a DeepLab v3+ encoder-decoder and the semantic-embedding layers.

The encoder is a dilated ResNet (output stride 16, multi-grid ``(1, 2, 4)`` in ``layer4``) followed by
atrous spatial pyramid pooling; the decoder fuses it with ``layer1``'s features at stride 4. MANet drops
DeepLab's classifier and upsampling and maps the decoder's output to a per-pixel embedding.

Module names (``backbone``, ``aspp.aspp1.atrous_conv``, ``decoder.last_conv.4`` ...) follow the
authors' ``networks/deeplab.py``, ``aspp.py`` and ``decoder.py`` so that their checkpoints load as they
are; the ResNet is the project's torchvision-named one.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from vos_recommender.nets.resnet import ResNet

__all__ = ["ASPP", "DeepLabDecoder", "DeepLabEmbedding"]


def _conv_bn_relu(in_channels: int, out_channels: int, kernel: int, dilation: int = 1) -> list[nn.Module]:
    padding = 0 if kernel == 1 else dilation
    return [
        nn.Conv2d(in_channels, out_channels, kernel, padding=padding, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


class _ASPPBranch(nn.Module):
    """One atrous convolution branch (``atrous_conv`` -> ``bn`` -> ReLU)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.atrous_conv, self.bn, self.relu = _conv_bn_relu(in_channels, out_channels, kernel, dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.atrous_conv(x)))


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: four dilated branches and image pooling, fused by a 1 x 1 conv.

    Args:
        in_channels: Channels of the backbone's last stage.
        out_channels: Channels of every branch and of the output.
        output_stride: 16 (dilations 6, 12, 18) or 8 (12, 24, 36).
    """

    def __init__(self, in_channels: int, out_channels: int = 256, output_stride: int = 16) -> None:
        super().__init__()
        rates = {16: (1, 6, 12, 18), 8: (1, 12, 24, 36)}.get(output_stride)
        if rates is None:
            raise ValueError(f"ASPP output_stride must be 16 or 8, got {output_stride}")
        self.aspp1 = _ASPPBranch(in_channels, out_channels, 1, rates[0])
        self.aspp2 = _ASPPBranch(in_channels, out_channels, 3, rates[1])
        self.aspp3 = _ASPPBranch(in_channels, out_channels, 3, rates[2])
        self.aspp4 = _ASPPBranch(in_channels, out_channels, 3, rates[3])
        self.global_avg_pool = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), *_conv_bn_relu(in_channels, out_channels, 1)
        )
        self.conv1 = nn.Conv2d(5 * out_channels, out_channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.aspp1(x), self.aspp2(x), self.aspp3(x), self.aspp4(x)]
        pooled = self.global_avg_pool(x)
        branches.append(F.interpolate(pooled, size=x.shape[-2:], mode="bilinear", align_corners=True))
        return self.dropout(self.relu(self.bn1(self.conv1(torch.cat(branches, 1)))))


class DeepLabDecoder(nn.Module):
    """Upsample the ASPP output to the low-level features' size, concatenate, and refine (two 3 x 3 convs).

    Args:
        low_level_channels: Channels of ``layer1``'s output.
        channels: Channels of the ASPP output and of the decoder's output.
        shortcut_channels: Channels the low-level features are reduced to (DeepLab v3+: 48).
    """

    def __init__(self, low_level_channels: int, channels: int = 256, shortcut_channels: int = 48) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(low_level_channels, shortcut_channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(shortcut_channels)
        self.relu = nn.ReLU(inplace=True)
        # Indices 3 and 7 held dropout during the authors' training and are empty at test time; the
        # identities keep the convolutions at indices 0 and 4 as the checkpoint names them.
        self.last_conv = nn.Sequential(
            *_conv_bn_relu(channels + shortcut_channels, channels, 3),
            nn.Identity(),
            *_conv_bn_relu(channels, channels, 3),
            nn.Identity(),
        )

    def forward(self, x: torch.Tensor, low_level: torch.Tensor) -> torch.Tensor:
        low_level = self.relu(self.bn1(self.conv1(low_level)))
        x = F.interpolate(x, size=low_level.shape[-2:], mode="bilinear", align_corners=True)
        return self.last_conv(torch.cat((x, low_level), 1))


class DeepLabEmbedding(nn.Module):
    """DeepLab v3+ without its classifier: RGB ``B x 3 x H x W`` -> ``B x C x H/4 x W/4`` features.

    Args:
        depth: ResNet depth (the released model: 101).
        channels: ASPP and decoder channels (released: 256).
        shortcut_channels: Low-level shortcut channels (released: 48).
        output_stride: Backbone output stride, 16 or 8.
    """

    def __init__(
        self, depth: int = 101, channels: int = 256, shortcut_channels: int = 48, output_stride: int = 16
    ) -> None:
        super().__init__()
        multi_grid = (1, 2, 4) if depth >= 50 else (1, 2)
        self.backbone = ResNet(depth, output_stride=output_stride, multi_grid=multi_grid)
        stage_channels = self.backbone.stage_channels
        self.aspp = ASPP(stage_channels[4], channels, output_stride)
        self.decoder = DeepLabDecoder(stage_channels[1], channels, shortcut_channels)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        low_level, high_level = self.backbone.forward_stages(images, (1, 4))
        return self.decoder(self.aspp(high_level), low_level)
