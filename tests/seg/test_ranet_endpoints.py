"""Boundary term with end points, D'_ij = max(b_i, b_j, samples between), on every path that computes D."""

from __future__ import annotations

import pytest
import torch

from mmseg_ranet.models.ops import (
    RegionScoreSpec,
    boundary_max_table,
    jensen_shannon_table,
    pair_boundary_term,
    pair_semantic_term,
    streamed_region_scores,
    with_endpoints,
)
from mmseg_ranet.models.ops._compiled import compiled_available

from .test_ranet_references import boundary_max_reference
from .test_streamed_regions import _dense, _inputs

IMPLS = ["torch"] + (["compiled"] if compiled_available() else [])


def _boundary(seed: int, size=(4, 5), batch: int = 2) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, *size, generator=generator, dtype=torch.float64)


@pytest.mark.parametrize("impl", IMPLS)
def test_endpoint_table_matches_loop_reference_values_and_gradients(impl):
    boundary = _boundary(0).requires_grad_()
    table = boundary_max_table(boundary, impl=impl, endpoints=True)
    upstream = torch.randn(table.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    (grad,) = torch.autograd.grad((table * upstream).sum(), boundary)
    for b in range(2):
        leaf = boundary.detach()[b].clone().requires_grad_()
        reference = boundary_max_reference(leaf, endpoints=True)
        torch.testing.assert_close(table[b], reference, rtol=0, atol=1e-15)
        (grad_ref,) = torch.autograd.grad((reference * upstream[b]).sum(), leaf)
        torch.testing.assert_close(grad[b], grad_ref, rtol=1e-12, atol=1e-12)
    released = boundary_max_table(boundary.detach(), impl=impl)
    # The end points change D (8-neighbours are no longer 0) and never lower it.
    assert bool((table >= released).all()) and bool((table > released).any())
    flat = boundary.detach().flatten(1)
    assert torch.equal(table.diagonal(dim1=1, dim2=2), flat)
    assert torch.equal(table[:, 0, 1], torch.maximum(flat[:, 0], flat[:, 1]))


@pytest.mark.parametrize("impl", IMPLS)
def test_endpoint_table_passes_gradcheck(impl):
    boundary = _boundary(2, size=(3, 4), batch=1).requires_grad_()
    assert torch.autograd.gradcheck(lambda b: boundary_max_table(b, impl=impl, endpoints=True), (boundary,))


def test_endpoint_gradient_goes_to_the_end_point_that_wins():
    # A single bright cell at (0, 0): every pair starting there takes b_0, and only b_0 gets gradient.
    boundary = torch.full((1, 1, 4), 0.1, dtype=torch.float64)
    boundary[0, 0, 0] = 0.9
    boundary.requires_grad_()
    table = boundary_max_table(boundary, impl="torch", endpoints=True)
    row = table[0, 0]
    assert torch.equal(row, torch.full_like(row, 0.9))
    (grad,) = torch.autograd.grad(row.sum(), boundary)
    assert grad.flatten().tolist() == [4.0, 0.0, 0.0, 0.0]


def test_with_endpoints_checks_shapes():
    with pytest.raises(ValueError, match="does not match the boundary map"):
        with_endpoints(torch.zeros(1, 6, 6), torch.zeros(1, 2, 2))


ENDPOINT_SPECS = [
    dict(boundary_endpoints=True),
    dict(boundary_endpoints=True, divergence="binary", region_rule="greedy"),
    dict(boundary_endpoints=True, use_semantic_term=False),
    dict(boundary_endpoints=True, boundary_impl="torch", semantic_impl="torch", region_impl="torch"),
    dict(boundary_endpoints=True, block_elements=70, semantic_impl="torch"),
]


def _dense_with_endpoints(boundary, log_probs, spec, weight, bias):
    """The dense reference of test_streamed_regions with D' in place of D."""
    num_pixels = log_probs.shape[2]
    score = 1 - boundary_max_table(boundary, impl="torch", endpoints=True)
    if spec.use_semantic_term:
        score = score * (
            1 - jensen_shannon_table(log_probs, spec.divergence, spec.jsd_normalize, impl="torch")
        )
    assert score.shape[1] == num_pixels
    from mmseg_ranet.models.ops import region_labels, region_representativeness

    margin = score * weight + bias
    linked = (margin + margin.transpose(1, 2)) > 0
    region, counts = region_labels(linked.detach(), spec.region_rule)
    return region_representativeness(score, region), region, counts


@pytest.mark.parametrize(
    "overrides", ENDPOINT_SPECS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items())
)
def test_streamed_scores_with_endpoints_match_dense(overrides):
    spec = RegionScoreSpec(**overrides)
    boundary, log_probs = _inputs(0)
    boundary = boundary * 0.3  # D' >= b everywhere: smaller b keeps several multi-pixel regions
    upstream = torch.randn(2, 30, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    results = []
    for fn in (streamed_region_scores, _dense_with_endpoints):
        b = boundary.clone().requires_grad_()
        lp = log_probs.clone().requires_grad_()
        mean_score, region, counts = fn(b, lp, spec, 1.3, -1.0)
        grads = torch.autograd.grad((mean_score * upstream).sum(), (b, lp), allow_unused=True)
        grads = [torch.zeros_like(x) if g is None else g for g, x in zip(grads, (b, lp))]
        results.append((mean_score.detach(), region, counts, grads))
    (s_stream, r_stream, c_stream, g_stream), (s_dense, r_dense, c_dense, g_dense) = results
    assert torch.equal(r_stream, r_dense) and torch.equal(c_stream, c_dense)
    assert 1 < int(c_dense.min()) and int(c_dense.max()) < 30, "pick inputs with several regions"
    torch.testing.assert_close(s_stream, s_dense, rtol=1e-12, atol=1e-12)
    for mine, reference in zip(g_stream, g_dense):
        torch.testing.assert_close(mine, reference, rtol=1e-10, atol=1e-12)
    assert g_dense[0].abs().max() > 0
    # The switch is not a no-op on these inputs.
    released = _dense(
        boundary, log_probs, RegionScoreSpec(**{**overrides, "boundary_endpoints": False}), 1.3, -1.0
    )
    assert not torch.allclose(released[0], s_dense)


def _all_pairs(batch: int, num_pixels: int):
    index = torch.arange(num_pixels)
    source = index.repeat_interleave(num_pixels).repeat(batch)
    target = index.repeat(num_pixels).repeat(batch)
    image = torch.arange(batch).repeat_interleave(num_pixels * num_pixels)
    return image, source, target


@pytest.mark.parametrize("endpoints", [False, True], ids=["released", "endpoints"])
def test_pair_boundary_term_equals_the_table_values_and_gradients(endpoints):
    boundary = _boundary(3, size=(5, 4)).requires_grad_()
    image, source, target = _all_pairs(2, 20)
    pairs = pair_boundary_term(boundary, image, source, target, endpoints)
    table = boundary_max_table(boundary, impl="torch", endpoints=endpoints)
    torch.testing.assert_close(pairs.view(2, 20, 20), table, rtol=0, atol=1e-15)
    # One direction of every pair (the table routes both directions to the same arg-max sample).
    upper = source < target
    weights = torch.rand(int(upper.sum()), generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    (grad_pairs,) = torch.autograd.grad((pairs[upper] * weights).sum(), boundary)
    (grad_table,) = torch.autograd.grad((table.flatten()[upper] * weights).sum(), boundary)
    torch.testing.assert_close(grad_pairs, grad_table, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("form, normalize", [("full", True), ("full", False), ("binary", False)])
def test_pair_semantic_term_equals_the_table(form, normalize):
    generator = torch.Generator().manual_seed(5)
    log_probs = torch.log_softmax(4 * torch.randn(2, 3, 12, generator=generator, dtype=torch.float64), 1)
    log_probs.requires_grad_()
    image, source, target = _all_pairs(2, 12)
    pairs = pair_semantic_term(log_probs, image, source, target, form, normalize)
    table = jensen_shannon_table(log_probs, form, normalize, impl="torch")
    torch.testing.assert_close(pairs.view(2, 12, 12), table, rtol=1e-12, atol=1e-14)
    upstream = torch.randn(table.shape, generator=generator, dtype=torch.float64)
    (grad_pairs,) = torch.autograd.grad((pairs.view_as(table) * upstream).sum(), log_probs)
    (grad_table,) = torch.autograd.grad((table * upstream).sum(), log_probs)
    torch.testing.assert_close(grad_pairs, grad_table, rtol=1e-10, atol=1e-12)


def test_pair_terms_check_their_indices():
    boundary = _boundary(6)
    index = torch.zeros(3, dtype=torch.long)
    with pytest.raises(ValueError, match="out of range"):
        pair_boundary_term(boundary, index, index, torch.tensor([0, 1, 20]))
    with pytest.raises(ValueError, match="one length"):
        pair_semantic_term(torch.zeros(2, 3, 20), index, index[:2], index)
    with pytest.raises(ValueError, match="divergence"):
        pair_semantic_term(torch.zeros(2, 3, 20), index, index, index, form="kl")


def _block_inputs(seed: int):
    generator = torch.Generator().manual_seed(seed)
    class_logits = 4 * torch.randn(2, 3, 4, 5, generator=generator, dtype=torch.float64)
    boundary_logits = 2 * torch.randn(2, 2, 4, 5, generator=generator, dtype=torch.float64) - 1.5
    return class_logits, boundary_logits


def _block(boundary_endpoints, stream: bool, **overrides):
    from mmseg_ranet.models.decode_heads.region_construction import RegionConstructionBlock

    block = RegionConstructionBlock(
        dict(
            region_threshold=0.5,
            boundary_endpoints=boundary_endpoints,
            stream_tables=stream,
            region_rule=overrides.pop("region_rule", "components"),
            **overrides,
        )
    ).double()
    with torch.no_grad():
        block.decision_conv.weight.fill_(1.3)
    return block


@pytest.mark.parametrize("stream", [False, True], ids=["dense", "streamed"])
@pytest.mark.parametrize("trains_decision", [True, False])
def test_decision_only_endpoints_split_like_endpoints_and_average_like_released(stream, trains_decision):
    """'decision': the partition of D' (boundary_endpoints=True), J of F with the released D over it."""
    from mmseg_ranet.models.ops import region_representativeness

    class_logits, boundary_logits = _block_inputs(7)
    upstream = torch.randn(2, 20, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    outputs = {}
    for mode in (False, True, "decision"):
        block = _block(mode, stream, representativeness_trains_decision=trains_decision)
        c, b = class_logits.clone().requires_grad_(), boundary_logits.clone().requires_grad_()
        _, j_values, region, counts = block(c, b)
        params = (c, b, block.decision_conv.weight, block.decision_conv.bias)
        grads = torch.autograd.grad((j_values * upstream).sum(), params, allow_unused=True)
        outputs[mode] = (j_values.detach(), region, counts, grads)
    assert torch.equal(outputs["decision"][1], outputs[True][1])
    assert torch.equal(outputs["decision"][2], outputs[True][2])
    assert not torch.equal(outputs[False][1], outputs[True][1]), "pick inputs where the end points split"
    assert 1 < int(outputs[True][2].min()) and int(outputs[True][2].max()) < 20
    # The dense reference: J = region mean of W^g (x) F, F with the released D, over the end-point regions.
    reference_block = _block(False, False, representativeness_trains_decision=trains_decision)
    c, b = class_logits.clone().requires_grad_(), boundary_logits.clone().requires_grad_()
    _, score, _, _, _, _ = reference_block.dense_tables(c, b)
    decision = reference_block._decision(score, detached=not trains_decision)
    j_ref = region_representativeness(decision, outputs[True][1])
    params = (c, b, reference_block.decision_conv.weight, reference_block.decision_conv.bias)
    grads_ref = torch.autograd.grad((j_ref * upstream).sum(), params, allow_unused=True)
    torch.testing.assert_close(outputs["decision"][0], j_ref.detach(), rtol=1e-12, atol=1e-12)
    for mine, reference in zip(outputs["decision"][3], grads_ref):
        if reference is None:
            assert mine is None or not mine.any()
        else:
            torch.testing.assert_close(mine, reference, rtol=1e-10, atol=1e-12)
    assert not torch.allclose(outputs["decision"][0], outputs[True][0])


def test_decision_only_endpoints_reach_the_partition_loss_margins():
    class_logits, boundary_logits = _block_inputs(9)
    image, source, target = _all_pairs(2, 20)
    margins = {
        mode: _block(mode, True).pair_margins(class_logits, boundary_logits, image, source, target)
        for mode in (False, True, "decision")
    }
    assert torch.equal(margins["decision"], margins[True])
    assert not torch.equal(margins[False], margins[True])


@pytest.mark.parametrize("value", [1, 0, "yes", "Decision", None])
def test_boundary_endpoints_rejects_other_values(value):
    with pytest.raises(ValueError, match=f"construction.boundary_endpoints must be one of .* got {value!r}"):
        _block(value, True)
