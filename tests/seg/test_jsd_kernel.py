"""The compiled semantic term E (full and binary Jensen-Shannon forms) against the slow per-pair loops of
``test_ranet_references`` and against the PyTorch operator.

Full form: E_ij = 1/2 sum_n [P_in log(P_in / M_n) + P_jn log(P_jn / M_n)], M = (P_i + P_j) / 2.
Binary (released) form: JSD of Bernoulli(clip(P_i[c_i])) and Bernoulli(clip(P_j[c_i])), c_i = argmax P_i,
clip to [0.001, 0.99]. Natural log in both.
"""

from __future__ import annotations

import pytest
import torch

from mmseg_ranet.models.ops import jensen_shannon_rows, jensen_shannon_table
from mmseg_ranet.models.ops._compiled import (
    compiled_available,
    compiled_unavailable_reason,
    jensen_shannon_rows_compiled,
)
from mmseg_ranet.models.ops.jensen_shannon import BINARY_PROB_RANGE

from .test_ranet_references import binary_jsd_reference, full_jsd_reference

requires_compiled = pytest.mark.skipif(
    not compiled_available(), reason=f"compiled operators unavailable: {compiled_unavailable_reason()}"
)
REFERENCES = {"full": full_jsd_reference, "binary": binary_jsd_reference}


def _logits(dtype, classes=5, pixels=14, seed=0):
    generator = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(2, classes, pixels, generator=generator, dtype=dtype)
    # A saturated pixel: its top probability is clipped in the binary form and the others underflow.
    logits[0, :, 0] = 0
    logits[0, 1, 0] = 40
    return logits


def _compiled_values_and_grads(logits, form, upstream):
    logits = logits.clone().requires_grad_()
    table = jensen_shannon_table(torch.log_softmax(logits, 1), form, impl="compiled")
    (grad,) = torch.autograd.grad((table * upstream).sum(), logits)
    return table.detach(), grad


@requires_compiled
@pytest.mark.parametrize("form", ["full", "binary"])
@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_compiled_jsd_matches_loop_reference(form, dtype, tolerance):
    logits = _logits(dtype)
    upstream = torch.rand(2, 14, 14, generator=torch.Generator().manual_seed(1), dtype=dtype)
    table, grad = _compiled_values_and_grads(logits, form, upstream)
    for b in range(2):
        leaf = logits.double().clone().requires_grad_()
        reference = REFERENCES[form](torch.softmax(leaf[b], 0))
        (reference_grad,) = torch.autograd.grad((reference * upstream[b].double()).sum(), leaf)
        assert (table[b].double() - reference).abs().max() <= tolerance
        assert (grad[b].double() - reference_grad[b]).abs().max() <= tolerance * max(
            1.0, float(grad.abs().max())
        )
    assert torch.isfinite(grad).all()
    assert torch.count_nonzero(torch.diagonal(table, dim1=1, dim2=2)) == 0


@requires_compiled
@pytest.mark.parametrize("form", ["full", "binary"])
def test_row_blocks_tile_the_table_and_their_gradients_add_up(form):
    log_probs = torch.log_softmax(_logits(torch.float64, pixels=23), 1)
    whole = jensen_shannon_table(log_probs, form, impl="compiled")
    upstream = torch.rand_like(whole)
    leaf = log_probs.clone().requires_grad_()
    (whole_grad,) = torch.autograd.grad(
        (jensen_shannon_table(leaf, form, impl="compiled") * upstream).sum(), leaf
    )
    blocks, grad = [], torch.zeros_like(log_probs)
    for start in range(0, 23, 5):
        stop = min(23, start + 5)
        leaf = log_probs.clone().requires_grad_()
        rows = jensen_shannon_rows(leaf, start, stop, form, impl="compiled")
        grad += torch.autograd.grad((rows * upstream[:, start:stop]).sum(), leaf)[0]
        blocks.append(rows.detach())
    assert torch.equal(torch.cat(blocks, 1), whole)
    torch.testing.assert_close(grad, whole_grad, rtol=1e-12, atol=1e-12)


@requires_compiled
@pytest.mark.parametrize("form", ["full", "binary"])
def test_compiled_and_torch_operators_agree_in_float32(form):
    log_probs = torch.log_softmax(_logits(torch.float32, classes=19, pixels=150, seed=3), 1)
    upstream = torch.randn(2, 150, 150, generator=torch.Generator().manual_seed(4))
    results = {}
    for impl in ("torch", "compiled"):
        leaf = log_probs.clone().requires_grad_()
        table = jensen_shannon_table(leaf, form, normalize=True, impl=impl)
        (grad,) = torch.autograd.grad((table * upstream).sum(), leaf)
        results[impl] = table.detach(), grad
    assert (results["torch"][0] - results["compiled"][0]).abs().max() <= 1e-5
    scale = float(results["torch"][1].abs().max())
    assert (results["torch"][1] - results["compiled"][1]).abs().max() <= 1e-5 * scale


@requires_compiled
def test_compiled_jsd_rejects_bad_rows_and_inputs():
    log_probs = torch.log_softmax(torch.randn(1, 3, 10), 1)
    with pytest.raises(ValueError, match="out of range"):
        jensen_shannon_rows_compiled(log_probs, 4, 11)
    with pytest.raises(ValueError, match="shape"):
        jensen_shannon_rows_compiled(log_probs[0], 0, 3)
    with pytest.raises(ValueError, match="impl"):
        jensen_shannon_table(log_probs, impl="cuda")
    with pytest.raises(ValueError, match="float32/float64 CPU"):
        jensen_shannon_table(log_probs.half(), impl="compiled")
    assert BINARY_PROB_RANGE == (0.001, 0.99)
