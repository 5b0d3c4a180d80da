"""The streamed Region Construction Block gives the numbers of the straightforward dense computation.

Dense reference (all N x N tables at once, autograd through all of them):
F = (1 - D)(1 - E), F^g = w F + b, G = [(F^g + F^g^T) / 2 > 0], regions from G, S_i = mean_{j in R(i)} F_ij.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import torch
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_ranet  # noqa: F401
from mmseg_ranet.models.ops import (
    RegionScoreSpec,
    boundary_max_table,
    jensen_shannon_table,
    region_labels,
    region_representativeness,
    streamed_region_scores,
)

from .ranet_variants import variant_settings


def _dense(boundary, log_probs, spec, weight, bias):
    num_pixels = log_probs.shape[2]
    score = torch.ones(boundary.shape[0], num_pixels, num_pixels, dtype=boundary.dtype)
    if spec.use_boundary_term:
        score = 1 - boundary_max_table(boundary, impl="torch")
    if spec.use_semantic_term:
        score = score * (
            1 - jensen_shannon_table(log_probs, spec.divergence, spec.jsd_normalize, impl="torch")
        )
    margin = score * weight + bias if weight is not None else score + bias
    linked = (margin + margin.transpose(1, 2)) > 0
    region, counts = region_labels(linked.detach(), spec.region_rule)
    return region_representativeness(score, region), region, counts


def _inputs(seed, size=(5, 6), classes=4):
    generator = torch.Generator().manual_seed(seed)
    boundary = torch.rand(2, *size, generator=generator, dtype=torch.float64)
    logits = 4 * torch.randn(2, classes, size[0] * size[1], generator=generator, dtype=torch.float64)
    return boundary, torch.log_softmax(logits, 1)


SPECS = [
    dict(),
    dict(divergence="binary"),
    dict(jsd_normalize=True, region_rule="greedy"),
    dict(use_boundary_term=False),
    dict(use_semantic_term=False),
    dict(boundary_impl="torch", semantic_impl="torch", region_impl="torch"),
    dict(region_impl="torch", region_rule="greedy"),
    dict(region_impl="compiled", region_rule="greedy", divergence="binary"),
    dict(block_elements=1),  # one row per block
    dict(block_elements=70, semantic_impl="torch"),  # blocks that do not divide N
]


@pytest.mark.parametrize("decision", [(None, -0.7), (1.3, -0.9)], ids=["threshold", "learnable"])
@pytest.mark.parametrize(
    "overrides", SPECS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default"
)
def test_streamed_scores_match_dense_values_and_gradients(overrides, decision):
    spec = RegionScoreSpec(**overrides)
    weight, bias = decision
    boundary, log_probs = _inputs(0)
    upstream = torch.randn(2, 30, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    results = []
    for fn in (streamed_region_scores, _dense):
        b = boundary.clone().requires_grad_()
        lp = log_probs.clone().requires_grad_()
        mean_score, region, counts = fn(b, lp, spec, weight, bias)
        grads = torch.autograd.grad((mean_score * upstream).sum(), (b, lp), allow_unused=True)
        grads = [torch.zeros_like(x) if g is None else g for g, x in zip(grads, (b, lp))]
        results.append((mean_score.detach(), region, counts, grads))
    (s_stream, r_stream, c_stream, g_stream), (s_dense, r_dense, c_dense, g_dense) = results
    assert torch.equal(r_stream, r_dense) and torch.equal(c_stream, c_dense)
    if overrides.get("use_boundary_term", True) and overrides.get("use_semantic_term", True):
        assert 1 < int(c_dense.min()) and int(c_dense.max()) < 30, "pick inputs with several regions"
    torch.testing.assert_close(s_stream, s_dense, rtol=1e-12, atol=1e-12)
    for mine, reference in zip(g_stream, g_dense):
        torch.testing.assert_close(mine, reference, rtol=1e-10, atol=1e-12)
    if overrides.get("use_boundary_term", True) and overrides.get("use_semantic_term", True):
        assert g_dense[0].abs().max() > 0 and g_dense[1].abs().max() > 0


def test_streamed_scores_check_their_inputs():
    boundary, log_probs = _inputs(1)
    with pytest.raises(ValueError, match="disagree"):
        streamed_region_scores(boundary[:, :4], log_probs, RegionScoreSpec())
    with pytest.raises(ValueError, match="boundary must be"):
        streamed_region_scores(boundary[0], log_probs, RegionScoreSpec())


HEIGHT = WIDTH = 9


def _head(variant: str = "paper", construction=None, interaction=None, **overrides):
    init_default_scope("mmseg")
    torch.manual_seed(0)
    cfg = dict(
        type="RANetHead",
        in_channels=[8, 12],
        in_index=[2, 3],
        input_transform="multiple_select",
        channels=8,
        num_classes=4,
        dropout_ratio=0.0,
        norm_cfg=dict(type="BN"),
    )
    cfg.update(
        variant_settings(
            variant,
            {"region_threshold": 0.9, **(construction or {})},
            {"num_representatives": 3, **(interaction or {})},
        )
    )
    cfg.update(overrides)
    head = MODELS.build(cfg).double()
    with torch.no_grad():
        # Confident, spatially varying C and b so that the images split into several regions.
        head.stage3_seg.weight.mul_(20)
        head.stage3_boundary_seg.weight.mul_(10)
    return head


def _features():
    generator = torch.Generator().manual_seed(1)
    return [torch.randn(2, c, HEIGHT, WIDTH, generator=generator, dtype=torch.float64) for c in (4, 4, 8, 12)]


def _run(head, training):
    head.train(training)
    head.zero_grad(set_to_none=True)
    outputs = head.forward_regions(_features())
    generator = torch.Generator().manual_seed(2)
    total = sum(
        (tensor * torch.randn(tensor.shape, generator=generator, dtype=tensor.dtype)).sum()
        for tensor in (outputs.seg_logits, outputs.stage3_logits, outputs.boundary_logits)
    )
    if training:
        total.backward()
    grads = {name: p.grad.clone() for name, p in head.named_parameters() if p.grad is not None}
    return outputs, grads


HEAD_CASES = [
    dict(variant="paper"),
    dict(variant="official"),
    dict(variant="paper", construction=dict(divergence="binary", region_rule="greedy")),
    dict(variant="official", construction=dict(divergence="full", use_boundary_term=False)),
    dict(variant="paper", construction=dict(region_impl="torch")),
]


def dense_copy(head):
    """The head with the same weights computing its dense tables instead of streaming them."""
    dense = copy.deepcopy(head)
    dense.region_construction.spec = replace(dense.region_construction.spec, stream_tables=False)
    return dense


@pytest.mark.parametrize("case", HEAD_CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_streamed_head_equals_dense_head(case, training):
    streamed = _head(**case)
    dense = dense_copy(streamed)
    assert streamed.region_construction.spec.stream_tables
    out_s, grads_s = _run(streamed, training)
    out_d, grads_d = _run(dense, training)
    assert torch.equal(out_s.region, out_d.region)
    assert 1 < int(out_d.num_regions.min()) and int(out_d.num_regions.max()) < HEIGHT * WIDTH
    assert torch.equal(out_s.representatives.pixel, out_d.representatives.pixel)
    torch.testing.assert_close(out_s.representativeness, out_d.representativeness, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out_s.seg_logits, out_d.seg_logits, rtol=1e-10, atol=1e-12)
    if training:
        # Only zeros may differ in presence: the streamed block hands back zero gradients where the dense
        # tables never touched a tensor.
        for name in set(grads_s) | set(grads_d):
            mine = grads_s.get(name)
            reference = grads_d.get(name)
            mine = torch.zeros_like(reference) if mine is None else mine
            reference = torch.zeros_like(mine) if reference is None else reference
            torch.testing.assert_close(mine, reference, rtol=1e-9, atol=1e-11, msg=name)
        if streamed.region_construction.spec.learnable_decision:
            assert grads_s["region_construction.decision_conv.weight"].abs().sum() > 0


def test_stream_tables_needs_a_1x1_decision():
    assert not _head(construction=dict(decision_kernel_size=3)).region_construction.spec.stream_tables
    with pytest.raises(ValueError, match="decision_kernel_size=1"):
        _head(construction=dict(decision_kernel_size=3, stream_tables=True))
    with pytest.raises(ValueError, match="construction.region_impl"):
        _head(construction=dict(region_impl="gpu"))
    with pytest.raises(ValueError, match="construction.semantic_impl"):
        _head(construction=dict(semantic_impl="fast"))
    with pytest.raises(ValueError, match="construction.stream_tables"):
        _head(construction=dict(stream_tables="yes"))


@pytest.mark.parametrize("masked", [True, False], ids=["region-masked", "unmasked"])
def test_attentions_by_query_chunks_equal_one_call(masked):
    from mmseg_ranet.models.ops import (
        distribution,
        global_interaction,
        local_collection,
        select_representatives,
    )

    generator = torch.Generator().manual_seed(7)
    batch, pixels, channels = 2, 40, 6
    region = torch.randint(0, 9, (batch, pixels), generator=generator)
    region[1] = region[1] % 4  # a different number of regions in the second image
    region = torch.stack([torch.unique(r, return_inverse=True)[1] for r in region])
    num_regions = int(region.max()) + 1
    leaves = [
        torch.randn(batch, pixels, channels, generator=generator, dtype=torch.float64).requires_grad_(),
        torch.rand(batch, pixels, generator=generator, dtype=torch.float64).requires_grad_(),
    ]

    def run(chunk):
        features, j_values = leaves
        reps = select_representatives(j_values.detach(), region, 3)
        local = local_collection(
            features,
            features,
            j_values,
            region,
            reps.pixel,
            reps.region,
            reps.valid,
            masked,
            chunk_elements=chunk,
        )
        rep_j = j_values.gather(1, reps.pixel)
        glob = global_interaction(
            local,
            rep_j,
            reps.region,
            reps.valid,
            num_regions,
            exclude_own_region=masked,
            softmax_mode="per_region" if masked else "joint",
            chunk_elements=chunk,
        )
        out = distribution(
            features,
            features,
            j_values,
            region,
            glob,
            rep_j,
            reps.region,
            reps.valid,
            masked,
            chunk_elements=chunk,
        )
        upstream = torch.randn(out.shape, generator=torch.Generator().manual_seed(8), dtype=out.dtype)
        grads = torch.autograd.grad((out * upstream).sum(), leaves)
        return out.detach(), grads

    whole, whole_grads = run(1 << 22)
    chunked, chunked_grads = run(50)  # one or two query rows per chunk
    torch.testing.assert_close(chunked, whole, rtol=1e-12, atol=1e-12)
    for mine, reference in zip(chunked_grads, whole_grads):
        torch.testing.assert_close(mine, reference, rtol=1e-10, atol=1e-12)
