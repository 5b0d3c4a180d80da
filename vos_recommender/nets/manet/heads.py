"""MANet's segmentation heads: stacks of depthwise-separable 7 x 7 convolutions ending in one logit.

The interaction head sees, per object, the annotated frame's embedding, the object's scribble mask
and its mask from the previous round; the propagation head sees the current frame's embedding, the
global and local matching maps and the object's mask on the previous frame. Both output one logit map
per object, run as a batch over objects (background included). Names follow the authors'
``_split_separable_conv2d`` and ``DynamicSegHead``.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SegHead", "SeparableConv"]


class SeparableConv(nn.Module):
    """Depthwise ``k x k`` conv -> BN -> ReLU -> pointwise conv -> BN -> ReLU (both convs with bias)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(
            in_channels, in_channels, kernel_size, padding=(kernel_size - 1) // 2, groups=in_channels
        )
        self.relu1 = nn.ReLU(inplace=True)
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv2 = nn.Conv2d(in_channels, out_channels, 1)
        self.relu2 = nn.ReLU(inplace=True)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.bn1(self.conv1(x)))
        return self.relu2(self.bn2(self.conv2(x)))


class SegHead(nn.Module):
    """Four separable convolutions and a 1 x 1 convolution to one logit per pixel.

    Args:
        in_channels: Embedding channels plus the per-object maps (2 for interaction, 3 for propagation).
        channels: Width of the head (released: 256).
    """

    def __init__(self, in_channels: int, channels: int = 256) -> None:
        super().__init__()
        self.layer1 = SeparableConv(in_channels, channels)
        self.layer2 = SeparableConv(channels, channels)
        self.layer3 = SeparableConv(channels, channels)
        self.layer4 = SeparableConv(channels, channels)
        self.conv = nn.Conv2d(channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``N x in_channels x h x w`` -> ``N x 1 x h x w`` logits."""
        return self.conv(self.layer4(self.layer3(self.layer2(self.layer1(x)))))
