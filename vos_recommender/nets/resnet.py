"""ResNet (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016), the one in the project.

Parameter names follow ``torchvision.models.resnet`` (``conv1``, ``bn1``, ``layer1`` .. ``layer4``, blocks
with ``conv1..3`` / ``bn1..3`` / ``downsample.0`` / ``downsample.1``, ``fc``), so ImageNet state dicts
of torchvision and of the authors' IPN, MANet and ATNet repositories (which all start from it) load into
:class:`ResNet` directly. It is written here rather than imported because torchvision is not a
dependency of the project and nothing may be downloaded; the weights are random unless loaded.

Beyond torchvision's model it can add a second input to the stem (IPN's and the quality estimator's
extra mask branches are convolutions whose output is added to ``conv1``'s), return intermediate stages,
and trade strides for dilation (output stride 16 or 8, with DeepLab's multi-grid in the last stage, as
MANet's backbone uses).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "RESNET_DEPTHS"]


class BasicBlock(nn.Module):
    """Two 3 x 3 convolutions with a residual connection (ResNet-18/34)."""

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck(nn.Module):
    """1 x 1, 3 x 3 (strided, dilated), 1 x 1 convolutions with a residual connection (ResNet-50+).

    The stride sits on the 3 x 3 convolution, as in torchvision ("ResNet v1.5").
    """

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        dilation: int = 1,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


#: depth -> (block class, blocks per stage)
RESNET_DEPTHS: dict[int, tuple[type[nn.Module], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


class ResNet(nn.Module):
    """ResNet backbone with torchvision's parameter names.

    Stages are numbered 0 (stem: ``conv1``, ``bn1``, ReLU; stride 2) and 1..4 (``layer1`` .. ``layer4``;
    strides 4, 8, 16, 32 at ``output_stride=32``). ``maxpool`` sits between stage 0 and stage 1.

    Args:
        depth: 18, 34, 50, 101 or 152.
        in_channels: Input channels of ``conv1``.
        output_stride: 32 (plain), 16 (``layer4`` dilated instead of strided) or 8 (``layer3`` and
            ``layer4`` dilated). As in torchvision, the first block of a dilated stage keeps the
            previous stage's dilation.
        multi_grid: Dilation multipliers of ``layer4``'s blocks (DeepLab v3, e.g. ``(1, 2, 4)``); every
            block of ``layer4``, the first included, then uses ``stage dilation * multiplier``.
        num_classes: Adds global average pooling and ``fc`` to this many classes; None (the default)
            builds a backbone without them, whose :meth:`forward` returns ``layer4``'s features.

    Raises:
        ValueError: On an unknown depth, output stride or a ``multi_grid`` of the wrong length.
    """

    def __init__(
        self,
        depth: int = 50,
        in_channels: int = 3,
        output_stride: int = 32,
        multi_grid: Sequence[int] | None = None,
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        if depth not in RESNET_DEPTHS:
            raise ValueError(f"ResNet depth must be one of {sorted(RESNET_DEPTHS)}, got {depth}")
        if output_stride not in (8, 16, 32):
            raise ValueError(f"output_stride must be 8, 16 or 32, got {output_stride}")
        block, counts = RESNET_DEPTHS[depth]
        if multi_grid is not None and len(multi_grid) != counts[3]:
            raise ValueError(
                f"multi_grid needs one multiplier per layer4 block ({counts[3]}), got {multi_grid}"
            )
        self.depth = depth
        self.output_stride = output_stride
        self.inplanes = 64
        self.dilation = 1
        self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        dilate = {32: (False, False, False), 16: (False, False, True), 8: (False, True, True)}[output_stride]
        self.layer1 = self._make_layer(block, 64, counts[0])
        self.layer2 = self._make_layer(block, 128, counts[1], stride=2, dilate=dilate[0])
        self.layer3 = self._make_layer(block, 256, counts[2], stride=2, dilate=dilate[1])
        self.layer4 = self._make_layer(
            block, 512, counts[3], stride=2, dilate=dilate[2], multi_grid=multi_grid
        )
        self.out_channels = 512 * block.expansion
        if num_classes is not None:
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(self.out_channels, num_classes)
        self.num_classes = num_classes
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def _make_layer(
        self,
        block: type[nn.Module],
        planes: int,
        blocks: int,
        stride: int = 1,
        dilate: bool = False,
        multi_grid: Sequence[int] | None = None,
    ) -> nn.Sequential:
        previous_dilation = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        expansion = block.expansion  # type: ignore[attr-defined]
        downsample = None
        if stride != 1 or self.inplanes != planes * expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * expansion),
            )
        if multi_grid is not None:
            dilations = [self.dilation * int(m) for m in multi_grid]
        else:
            dilations = [previous_dilation] + [self.dilation] * (blocks - 1)
        layers = [block(self.inplanes, planes, stride, downsample, dilations[0])]
        self.inplanes = planes * expansion
        layers += [block(self.inplanes, planes, dilation=d) for d in dilations[1:]]
        return nn.Sequential(*layers)

    @property
    def stage_channels(self) -> tuple[int, int, int, int, int]:
        """Channels of stages 0..4."""
        expansion = self.out_channels // 512
        return (64, 64 * expansion, 128 * expansion, 256 * expansion, 512 * expansion)

    def forward_stages(
        self, x: torch.Tensor, stages: Sequence[int] = (0, 1, 2, 3, 4), stem_add: torch.Tensor | None = None
    ) -> list[torch.Tensor]:
        """Outputs of the requested stages, computing no further than the last of them.

        Args:
            x: ``B x in_channels x H x W`` input.
            stages: Stage numbers (0..4) to return, in the order given.
            stem_add: Added to ``conv1``'s output before ``bn1`` (an extra input's branch).

        Returns:
            One tensor per requested stage.
        """
        wanted = [int(s) for s in stages]
        if not wanted or min(wanted) < 0 or max(wanted) > 4:
            raise ValueError(f"stages must be numbers in 0..4, got {list(stages)}")
        x = self.conv1(x)
        if stem_add is not None:
            x = x + stem_add
        outputs = {0: self.relu(self.bn1(x))}
        x = self.maxpool(outputs[0])
        for index in range(1, max(wanted) + 1):
            x = getattr(self, f"layer{index}")(x)
            outputs[index] = x
        return [outputs[s] for s in wanted]

    def forward(self, x: torch.Tensor, stem_add: torch.Tensor | None = None) -> torch.Tensor:
        """``layer4``'s features, or class scores when the network was built with ``num_classes``."""
        features = self.forward_stages(x, (4,), stem_add=stem_add)[0]
        if self.num_classes is None:
            return features
        return self.fc(torch.flatten(self.avgpool(features), 1))
