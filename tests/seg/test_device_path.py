"""The path RANet takes on an accelerator: every operator on the tensor's device, no host sync.

On a CUDA tensor ``use_compiled`` declines the compiled CPU kernels, so the head runs the PyTorch
operators, and ``interaction.list_sizes='auto'`` sizes the representative list and region tables by static
bounds. ``DEVICE_PATH`` forces the same path on the CPU, where these tests always run (and on CUDA when
present): a train step of the paper and official heads makes no host sync in its forward or backward, and
it gives the values and gradients of the compiled CPU path.
"""

from __future__ import annotations

import contextlib
import importlib

import pytest
import torch
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_ranet  # noqa: F401  (registers the head)
from mmseg_ranet.models.ops import boundary_max_table
from mmseg_ranet.models.ops._compiled import compiled_available

from .host_syncs import HostSyncCounter, no_host_sync
from .ranet_variants import COMPILED_PATH, DEVICE_PATH, path_settings

VARIANTS = ("paper", "official")
# The module of the operator (the package exports the function under the same name).
boundary_module = importlib.import_module("mmseg_ranet.models.ops.boundary_max_table")
SIZE, NUM_CLASSES = 10, 4


def _head(
    variant: str, path: dict, device: torch.device, threshold: float = 0.9, attention_impl: str = "auto"
):
    init_default_scope("mmseg")
    torch.manual_seed(0)
    head = MODELS.build(
        dict(
            type="RANetHead",
            in_channels=[8, 12],
            in_index=[2, 3],
            input_transform="multiple_select",
            channels=8,
            num_classes=NUM_CLASSES,
            dropout_ratio=0.0,
            norm_cfg=dict(type="BN"),
            **path_settings(
                variant,
                path,
                dict(region_threshold=threshold),
                dict(num_representatives=3, attention_impl=attention_impl),
            ),
        )
    )
    with torch.no_grad():
        # Confident, spatially varying C and b: the images split into several regions of several sizes.
        head.stage3_seg.weight.mul_(20)
        head.stage3_boundary_seg.weight.mul_(10)
    return head.to(device).train()


def _inputs(device: torch.device) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return [
        torch.randn(2, c, SIZE, SIZE, generator=generator).to(device).requires_grad_() for c in (4, 4, 8, 12)
    ]


def _samples(device: torch.device) -> list[SegDataSample]:
    generator = torch.Generator().manual_seed(3)
    samples = []
    for _ in range(2):
        sample = SegDataSample()
        size = (4 * SIZE, 4 * SIZE)
        sample.gt_sem_seg = PixelData(data=torch.randint(0, NUM_CLASSES, (1, *size), generator=generator))
        sample.gt_edge_map = PixelData(data=torch.randint(0, 2, (1, *size), generator=generator))
        sample.set_metainfo(dict(img_shape=size, ori_shape=size))
        samples.append(sample.to(device))
    return samples


def _train_step(head, device, guard=contextlib.nullcontext):
    """Outputs, loss gradients of the parameters and inputs; the forward and the backward run inside
    ``guard()`` (the losses, mmseg's code, outside)."""
    inputs = _inputs(device)
    samples = _samples(device)
    with guard():
        outputs = head.forward_regions(inputs)
    losses = head.loss_by_feat(tuple(outputs[:4]), samples)
    total = sum(value for name, value in losses.items() if name.startswith("loss"))
    with guard():
        total.backward()
    grads = {f"input{i}": x.grad for i, x in enumerate(inputs) if x.grad is not None}
    grads.update({name: p.grad for name, p in head.named_parameters() if p.grad is not None})
    return outputs, grads


# A 10x10 map has fewer pixels than the dense attentions' limit: 'segment' covers the segment form too.
@pytest.mark.parametrize(
    "variant, attention_impl", [("paper", "auto"), ("paper", "segment"), ("official", "auto")]
)
def test_train_step_on_the_device_path_makes_no_host_sync(variant, attention_impl, device):
    head = _head(variant, DEVICE_PATH, device, attention_impl=attention_impl)
    counter = HostSyncCounter()
    outputs, grads = _train_step(head, device, lambda: no_host_sync(device, counter))
    assert counter.calls == [], "host syncs in the forward or backward:\n" + "\n".join(counter.calls)
    assert int(outputs.num_regions.min()) > 1, "the case should split the images into several regions"
    assert grads and all(torch.isfinite(g).all() for g in grads.values())


def test_the_sync_counter_sees_conversions():
    tensor = torch.arange(4)
    with HostSyncCounter() as counter:
        tensor[1:3].tolist()
        int(tensor.max())
        torch.nonzero(tensor)
        if tensor.any():
            pass
        torch.equal(tensor, tensor)
    assert [call.split(" ")[0] for call in counter.calls] == [
        "tolist",
        "__int__",
        "nonzero",
        "__bool__",
        "equal",
    ]
    assert "test_device_path.py" in counter.calls[0]
    assert "__bool__" not in vars(torch.Tensor), "the wrapped methods are restored"


@pytest.mark.skipif(not compiled_available(), reason="the compiled CPU operators could not be built")
@pytest.mark.parametrize("threshold", [0.9, 0.99])
@pytest.mark.parametrize(
    "variant, attention_impl", [("paper", "auto"), ("paper", "segment"), ("official", "auto")]
)
def test_device_path_equals_the_compiled_path(variant, attention_impl, threshold, device):
    reference_head = _head(variant, COMPILED_PATH, torch.device("cpu"), threshold, attention_impl)
    reference, reference_grads = _train_step(reference_head, torch.device("cpu"))
    head = _head(variant, DEVICE_PATH, device, threshold, attention_impl)
    outputs, grads = _train_step(head, device)
    torch.testing.assert_close(outputs.region.cpu(), reference.region, rtol=0, atol=0)
    torch.testing.assert_close(outputs.num_regions.cpu(), reference.num_regions, rtol=0, atol=0)
    for name in ("seg_logits", "stage3_logits", "boundary_logits", "representativeness"):
        torch.testing.assert_close(getattr(outputs, name).cpu(), getattr(reference, name), msg=name)
    assert set(grads) == set(reference_grads)
    for name, grad in grads.items():
        torch.testing.assert_close(grad.cpu(), reference_grads[name], rtol=1e-4, atol=1e-5, msg=name)
    # The running statistics of every norm (those of the refinement convolutions included) agree too.
    for (name, buffer), reference_buffer in zip(head.named_buffers(), reference_head.buffers()):
        torch.testing.assert_close(buffer.cpu(), reference_buffer, rtol=1e-4, atol=1e-6, msg=name)


def test_no_arg_max_table_without_a_backward(monkeypatch):
    kept = []
    forward = boundary_module._boundary_max_forward

    def recording(boundary, chunk_elements, keep_argmax):
        kept.append(keep_argmax)
        return forward(boundary, chunk_elements, keep_argmax)

    monkeypatch.setattr(boundary_module, "_boundary_max_forward", recording)
    boundary = torch.rand(1, 6, 7, requires_grad=True)
    with torch.no_grad():
        boundary_max_table(boundary, impl="torch")
    boundary_max_table(boundary.detach(), impl="torch")
    table = boundary_max_table(boundary, impl="torch")
    table.sum().backward()
    assert kept == [False, False, True]
    assert boundary.grad is not None and boundary.grad.abs().sum() > 0
