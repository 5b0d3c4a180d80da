"""ATNet's building blocks: squeeze-and-excitation ResNet, DeepLab's ASPP and the refinement module.

Parameter names follow the released checkpoint (``conv_down`` / ``conv_up`` for the SE branch,
``atrous_conv`` / ``global_avg_pool`` in ASPP, ``convFS*`` / ``convMM*`` in the refinement module).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vos_recommender.nets.resnet import BasicBlock, Bottleneck, ResNet

__all__ = ["ASPP", "Refine", "SEBasicBlock", "SEBottleneck", "SEResNet"]


class _SqueezeExcite(nn.Module):
    """Channel gate of a residual branch: global pool, 1 x 1 down, ReLU, 1 x 1 up, sigmoid."""

    def _add_gate(self, channels: int, squeezed: int) -> None:
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_down = nn.Conv2d(channels, max(squeezed, 1), 1, bias=False)
        self.conv_up = nn.Conv2d(max(squeezed, 1), channels, 1, bias=False)
        self.sig = nn.Sigmoid()

    def _gate(self, out: torch.Tensor) -> torch.Tensor:
        return self.sig(self.conv_up(F.relu(self.conv_down(self.global_pool(out))))) * out


class SEBottleneck(Bottleneck, _SqueezeExcite):
    """Bottleneck whose residual branch is scaled by an SE gate (``planes * 4 -> planes // 4``)."""

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        dilation: int = 1,
    ) -> None:
        super().__init__(inplanes, planes, stride, downsample, dilation)
        self._add_gate(planes * self.expansion, planes // 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self._gate(self.bn3(self.conv3(out))) + identity)


class SEBasicBlock(BasicBlock, _SqueezeExcite):
    """Basic block with an SE gate of the same reduction (16), for the CPU-sized ResNet-18/34."""

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        dilation: int = 1,
    ) -> None:
        super().__init__(inplanes, planes, stride, downsample, dilation)
        self._add_gate(planes, planes // 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self._gate(self.bn2(self.conv2(out))) + identity)


_SE_BLOCKS: dict[type[nn.Module], type[nn.Module]] = {Bottleneck: SEBottleneck, BasicBlock: SEBasicBlock}


class SEResNet(ResNet):
    """The project's ResNet with SE blocks (ATNet's ``SEResNet50``: output stride 16, multi-grid 1, 2, 4).

    Only the block type differs, so stage layout, dilation and parameter names stay those of
    :class:`~vos_recommender.nets.resnet.ResNet`.
    """

    def __init__(
        self, depth: int = 50, output_stride: int = 16, multi_grid: Sequence[int] | None = None
    ) -> None:
        super().__init__(depth=depth, output_stride=output_stride, multi_grid=multi_grid)

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False, multi_grid=None):  # noqa: D102
        return super()._make_layer(_SE_BLOCKS.get(block, block), planes, blocks, stride, dilate, multi_grid)


class _ASPPBranch(nn.Module):
    def __init__(self, inplanes: int, planes: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        padding = 0 if kernel_size == 1 else dilation
        self.atrous_conv = nn.Conv2d(
            inplanes, planes, kernel_size, padding=padding, dilation=dilation, bias=False
        )
        self.bn = nn.BatchNorm2d(planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.atrous_conv(x)))


class ASPP(nn.Module):
    """DeepLab v3's atrous spatial pyramid pooling (dilations 1, 6, 12, 18 at output stride 16).

    Args:
        inplanes: Input channels.
        planes: Channels of each branch and of the output.
        dilations: Dilations of the four convolution branches.
    """

    def __init__(self, inplanes: int, planes: int = 256, dilations: Sequence[int] = (1, 6, 12, 18)) -> None:
        super().__init__()
        self.aspp1 = _ASPPBranch(inplanes, planes, 1, dilations[0])
        self.aspp2 = _ASPPBranch(inplanes, planes, 3, dilations[1])
        self.aspp3 = _ASPPBranch(inplanes, planes, 3, dilations[2])
        self.aspp4 = _ASPPBranch(inplanes, planes, 3, dilations[3])
        self.global_avg_pool = nn.Sequential(
            nn.AdaptiveAvgPool2d((1, 1)),
            nn.Conv2d(inplanes, planes, 1, bias=False),
            nn.BatchNorm2d(planes),
            nn.ReLU(),
        )
        self.conv1 = nn.Conv2d(5 * planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.dropout = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.aspp1(x), self.aspp2(x), self.aspp3(x), self.aspp4(x)]
        pooled = self.global_avg_pool(x)
        branches.append(
            F.interpolate(pooled, size=branches[-1].shape[2:], mode="bilinear", align_corners=True)
        )
        return self.dropout(F.relu(self.bn1(self.conv1(torch.cat(branches, dim=1)))))


class Refine(nn.Module):
    """Skip refinement: residual convolutions on the skip, plus the upsampled coarser map, then more.

    Args:
        inplanes: Channels of the skip features.
        planes: Channels of the coarser map and of the output.
        scale_factor: Upsampling factor of the coarser map.
    """

    def __init__(self, inplanes: int, planes: int, scale_factor: int = 2) -> None:
        super().__init__()
        self.convFS1 = nn.Conv2d(inplanes, planes, 3, padding=1)
        self.convFS2 = nn.Conv2d(planes, planes, 3, padding=1)
        self.convFS3 = nn.Conv2d(planes, planes, 3, padding=1)
        self.convMM1 = nn.Conv2d(planes, planes, 3, padding=1)
        self.convMM2 = nn.Conv2d(planes, planes, 3, padding=1)
        self.scale_factor = scale_factor

    def forward(self, skip: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        s = self.convFS1(skip)
        s = s + self.convFS3(F.relu(self.convFS2(F.relu(s))))
        m = s + F.interpolate(coarse, scale_factor=self.scale_factor, mode="bilinear", align_corners=True)
        return m + self.convMM2(F.relu(self.convMM1(F.relu(m))))
