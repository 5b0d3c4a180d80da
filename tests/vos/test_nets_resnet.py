"""The shared ResNet: torchvision's parameter names and sizes, stages, dilation, stem input."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vos_recommender.nets import Bottleneck, ResNet


def test_resnet50_has_torchvision_names_and_size():
    net = ResNet(50, num_classes=1000)
    names = set(net.state_dict())
    for name in (
        "conv1.weight",
        "bn1.running_mean",
        "layer1.0.conv1.weight",
        "layer1.0.downsample.0.weight",
        "layer1.0.downsample.1.num_batches_tracked",
        "layer3.5.bn3.bias",
        "layer4.2.conv3.weight",
        "fc.weight",
    ):
        assert name in names
    assert not any(name.startswith("layer3.6.") for name in names)
    # torchvision.models.resnet50() has 25,557,032 parameters; 101 has 44,549,160.
    assert sum(p.numel() for p in net.parameters()) == 25_557_032
    assert sum(p.numel() for p in ResNet(101, num_classes=1000).parameters()) == 44_549_160
    assert sum(isinstance(m, Bottleneck) for m in ResNet(101).modules()) == 3 + 4 + 23 + 3


def test_backbone_without_head_and_stage_shapes():
    net = ResNet(50).eval()
    assert not hasattr(net, "fc")
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        stages = net.forward_stages(x)
        assert [tuple(s.shape[1:]) for s in stages] == [
            (64, 32, 48),
            (256, 16, 24),
            (512, 8, 12),
            (1024, 4, 6),
            (2048, 2, 3),
        ]
        assert list(net.stage_channels) == [s.shape[1] for s in stages]
        torch.testing.assert_close(net(x), stages[4])
        only = net.forward_stages(x, (2, 0))
    torch.testing.assert_close(only[0], stages[2])
    torch.testing.assert_close(only[1], stages[0])
    with pytest.raises(ValueError, match="stages"):
        net.forward_stages(x, (5,))


@pytest.mark.parametrize("output_stride,size", [(16, 4), (8, 8)])
def test_output_stride_trades_strides_for_dilation(output_stride, size):
    plain = ResNet(50)
    dilated = ResNet(50, output_stride=output_stride)
    # Same parameters (names and shapes): ImageNet weights fit a dilated backbone.
    assert {k: v.shape for k, v in plain.state_dict().items()} == {
        k: v.shape for k, v in dilated.state_dict().items()
    }
    with torch.no_grad():
        out = dilated.eval()(torch.rand(1, 3, 64, 64))
    assert out.shape == (1, 2048, size, size)
    # torchvision's rule: the first block of a dilated stage keeps the previous dilation.
    assert dilated.layer4[0].conv2.dilation == ((1, 1) if output_stride == 16 else (2, 2))
    assert dilated.layer4[1].conv2.dilation == ((2, 2) if output_stride == 16 else (4, 4))


def test_multi_grid_sets_every_last_stage_block():
    net = ResNet(50, output_stride=16, multi_grid=(1, 2, 4))
    assert [block.conv2.dilation[0] for block in net.layer4] == [2, 4, 8]
    with pytest.raises(ValueError, match="multi_grid"):
        ResNet(50, multi_grid=(1, 2))


def test_stem_add_is_added_after_conv1():
    torch.manual_seed(0)
    net = ResNet(18).eval()
    x = torch.rand(2, 3, 32, 32)
    extra = torch.rand(2, 64, 16, 16)
    with torch.no_grad():
        stem = net.maxpool(net.relu(net.bn1(net.conv1(x) + extra)))
        expected = net.layer4(net.layer3(net.layer2(net.layer1(stem))))
        torch.testing.assert_close(net(x, stem_add=extra), expected)
        assert not torch.allclose(net(x), expected)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="depth"):
        ResNet(42)
    with pytest.raises(ValueError, match="output_stride"):
        ResNet(50, output_stride=4)
    assert (
        isinstance(ResNet(34, in_channels=5).conv1, nn.Conv2d)
        and ResNet(34, in_channels=5).conv1.in_channels == 5
    )
