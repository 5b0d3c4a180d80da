"""``masked_batch_norm``: batch norm with its training statistics over the positions of a mask equals
``nn.BatchNorm2d`` / ``nn.SyncBatchNorm`` on those positions alone (values, gradients, running stats)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.distributed as torch_dist
from torch import nn

from mmseg_ranet.models.ops import masked_batch_norm

from .train_runs import free_port


def _case(device):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 1, 10, generator=generator, dtype=torch.float64).to(device)
    norm = nn.BatchNorm2d(3).double().to(device)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-0.5, 0.5)
    return x, norm


def _compare(norm_type, device):
    x, norm = _case(device)
    if norm_type is nn.SyncBatchNorm:
        norm = nn.SyncBatchNorm.convert_sync_batchnorm(norm)
    reference_norm = nn.BatchNorm2d(3).double().to(device)
    reference_norm.load_state_dict(norm.state_dict())
    kept = 6  # the first 6 of 10 positions, as the counted list of a bounded one
    mask = (torch.arange(10, device=device) < kept).view(1, 1, 1, -1)
    masked_input = x.clone().requires_grad_()
    reference_input = x[..., :kept].clone().requires_grad_()
    out = masked_batch_norm(norm, masked_input, mask)
    reference = reference_norm(reference_input)
    torch.testing.assert_close(out[..., :kept], reference)
    upstream = torch.randn_like(reference)
    (out[..., :kept] * upstream).sum().backward()
    (reference * upstream).sum().backward()
    torch.testing.assert_close(masked_input.grad[..., :kept], reference_input.grad)
    assert torch.all(masked_input.grad[..., kept:] == 0)
    torch.testing.assert_close(norm.weight.grad, reference_norm.weight.grad)
    torch.testing.assert_close(norm.bias.grad, reference_norm.bias.grad)
    torch.testing.assert_close(norm.running_mean, reference_norm.running_mean)
    torch.testing.assert_close(norm.running_var, reference_norm.running_var)
    assert int(norm.num_batches_tracked) == 1
    # Eval mode: the running statistics, whatever the mask.
    norm.eval()
    reference_norm.eval()
    torch.testing.assert_close(masked_batch_norm(norm, x, mask)[..., :kept], reference_norm(x[..., :kept]))


def test_masked_batch_norm_equals_batch_norm_on_the_masked_positions(device):
    _compare(nn.BatchNorm2d, device)


def test_masked_sync_batch_norm_in_a_process_group(monkeypatch):
    for key, value in dict(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()), RANK="0", WORLD_SIZE="1"
    ).items():
        monkeypatch.setenv(key, value)
    torch_dist.init_process_group("gloo")
    try:
        _compare(nn.SyncBatchNorm, torch.device("cpu"))
    finally:
        torch_dist.destroy_process_group()


def test_masked_batch_norm_names_bad_arguments():
    x, norm = _case("cpu")
    with pytest.raises(TypeError, match="batch norm"):
        masked_batch_norm(nn.LayerNorm(3), x, torch.ones(1, 1, 1, 10, dtype=torch.bool))
    with pytest.raises(ValueError, match="B, C, H, W"):
        masked_batch_norm(copy.deepcopy(norm), x[0], torch.ones(1, 1, 10, dtype=torch.bool))
