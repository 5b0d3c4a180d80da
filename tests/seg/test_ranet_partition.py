"""The partition loss on RANet's region decision, forced regions and the object-region preset."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_ranet  # noqa: F401
from mmseg_ranet.evaluation.region_quality import gt_segments
from mmseg_ranet.models.decode_heads import RegionConstructionBlock, RegionConstructionSpec
from mmseg_ranet.models.decode_heads.region_partition_loss import (
    RegionPartitionLoss,
    grid_segments,
    neighbour_pairs,
)

from .ranet_variants import variant_settings
from .test_streamed_regions import _features, _head, _run, dense_copy

HEIGHT = WIDTH = 9


def _logits(seed: int, classes: int = 3, size=(4, 5)):
    generator = torch.Generator().manual_seed(seed)
    class_logits = 4 * torch.randn(2, classes, *size, generator=generator, dtype=torch.float64)
    boundary_logits = 2 * torch.randn(2, 2, *size, generator=generator, dtype=torch.float64)
    return class_logits, boundary_logits


@pytest.mark.parametrize(
    "switches",
    [
        dict(),
        dict(boundary_endpoints=True),
        dict(boundary_endpoints=True, divergence="binary", jsd_normalize=False),
        dict(learnable_decision=False, representativeness_source="score"),
        dict(use_semantic_term=False, boundary_endpoints=True),
        dict(use_boundary_term=False),
    ],
    ids=["paper", "endpoints", "binary", "threshold", "no-semantic", "no-boundary"],
)
def test_pair_margins_equal_the_dense_decision_tables(switches):
    block = RegionConstructionBlock(dict(region_threshold=0.7, **switches)).double()
    if block.spec.learnable_decision:
        with torch.no_grad():
            block.decision_conv.weight.fill_(1.3)
    class_logits, boundary_logits = _logits(0)
    _, score, decision, linked, _, _ = block.dense_tables(class_logits, boundary_logits)
    full = decision if decision is not None else score - 0.7
    reference = (full + full.transpose(1, 2)) / 2
    num_pixels = 20
    image = torch.arange(2).repeat_interleave(num_pixels * num_pixels)
    source = torch.arange(num_pixels).repeat_interleave(num_pixels).repeat(2)
    target = torch.arange(num_pixels).repeat(num_pixels * 2)
    margins = block.pair_margins(class_logits, boundary_logits, image, source, target)
    torch.testing.assert_close(margins.view(2, num_pixels, num_pixels), reference, rtol=1e-12, atol=1e-12)
    assert torch.equal(margins.view(2, num_pixels, num_pixels) > 0, linked)


def test_grid_segments_are_the_region_metric_segments():
    label = np.zeros((32, 40), dtype=np.int64)
    label[:, 20:] = 1
    label[8:16, 4:12] = 2
    label[24:, :8] = 255
    segments = grid_segments(torch.from_numpy(label)[None, None], (4, 5), 255)
    grid = label[4::8, 4::8]  # cell centres of the 4x5 grid
    assert torch.equal(segments[0], torch.from_numpy(gt_segments(grid, 255).reshape(-1)).long())
    assert int(segments[0].max()) == 3 and int((segments[0] == 0).sum()) == 1


def test_neighbour_pairs_are_every_8_neighbour_pair_once():
    source, target = neighbour_pairs(3, 4)
    pairs = {tuple(sorted(p)) for p in zip(source.tolist(), target.tolist())}
    assert len(pairs) == source.numel() == 3 * 3 + 2 * 4 + 2 * 2 * 3
    for s, t in pairs:
        assert max(abs(s // 4 - t // 4), abs(s % 4 - t % 4)) == 1


def _toy_label(size=(6, 8)):
    """Two classes, left and right halves, on a (6, 8) grid; upsampled by 4 as a full-resolution label."""
    label = torch.zeros(1, 1, *size, dtype=torch.long)
    label[..., size[1] // 2 :] = 1
    return label.repeat_interleave(4, 2).repeat_interleave(4, 3)


def test_partition_loss_learns_the_right_partition_on_a_toy_problem():
    torch.manual_seed(0)
    block = RegionConstructionBlock(dict(boundary_endpoints=True, representativeness_trains_decision=False))
    loss = RegionPartitionLoss(num_pairs=64)
    # Start with unhelpful maps: nearly uniform classes (E has no gradient where P_i = P_j, so exactly
    # uniform classes would leave the semantic branch without a signal) and b = 0.5 everywhere.
    class_logits = (0.5 * torch.randn(1, 2, 6, 8)).requires_grad_()
    boundary_logits = torch.zeros(1, 2, 6, 8, requires_grad=True)
    label = _toy_label()
    optimizer = torch.optim.Adam([class_logits, boundary_logits, *block.parameters()], lr=0.1)
    values = []
    for _ in range(100):
        optimizer.zero_grad()
        value = loss(block, class_logits, boundary_logits, label, 255)
        value.backward()
        optimizer.step()
        values.append(float(value))
    assert values[-1] < 0.05 * values[0], values[::10]
    with torch.no_grad():
        _, _, _, _, region, counts = block.dense_tables(class_logits, boundary_logits)
    # The regions are exactly the two halves.
    assert int(counts[0]) == 2
    halves = region[0].view(6, 8)
    assert bool((halves[:, :4] == halves[0, 0]).all()) and bool((halves[:, 4:] == halves[0, 7]).all())


def test_partition_loss_reaches_wg_and_both_branches():
    head = _head(variant="object_regions", construction=dict(region_threshold=0.3))
    head.train()
    outputs = head.forward_regions(_features())
    label = torch.randint(0, 4, (2, 1, 4 * HEIGHT, 4 * WIDTH), generator=torch.Generator().manual_seed(0))
    value = head.loss_partition(
        head.region_construction, outputs.stage3_logits, outputs.stage3_boundary_logits, label, 255
    )
    value.backward()
    for name in (
        "decision_conv.weight",
        "decision_conv.bias",
        "stage3_seg.weight",
        "stage3_boundary_seg.weight",
    ):
        param = dict(head.named_parameters())[
            name if name.startswith("stage3") else f"region_construction.{name}"
        ]
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    # The loss never reaches the stage-4 features: it only sees the decision.
    assert head.region_feature_conv.conv.weight.grad is None


def test_object_region_preset_detaches_wg_in_j_only():
    head = _head(variant="object_regions", construction=dict(region_threshold=0.3), loss_partition=None)
    assert head.loss_partition is None and head.region_construction.spec.boundary_endpoints
    reference = copy.deepcopy(head)
    reference.region_construction.spec = replace(
        reference.region_construction.spec, representativeness_trains_decision=True
    )
    outputs, grads = _run(head, True)
    outputs_ref, grads_ref = _run(reference, True)
    torch.testing.assert_close(outputs.representativeness, outputs_ref.representativeness)
    assert grads_ref["region_construction.decision_conv.weight"].abs().sum() > 0
    assert (
        "region_construction.decision_conv.weight" not in grads
        or not grads["region_construction.decision_conv.weight"].any()
    )
    torch.testing.assert_close(grads["stage3_seg.weight"], grads_ref["stage3_seg.weight"])


def test_object_region_preset_values_and_loss_config():
    preset, paper = variant_settings("object_regions"), variant_settings("paper")
    construction = preset["construction"]
    assert construction["boundary_endpoints"] and not construction["representativeness_trains_decision"]
    assert construction["region_threshold"] == 0.5 and paper["construction"]["region_threshold"] == 0.8
    assert construction["region_rule"] == "average_linkage"
    assert paper["construction"]["region_rule"] == "components"
    fixes = ("boundary_endpoints", "representativeness_trains_decision", "region_threshold", "region_rule")
    same = {k: v for k, v in construction.items() if k not in fixes}
    assert same == {k: v for k, v in paper["construction"].items() if k not in fixes}
    assert preset["interaction"] == paper["interaction"]
    # Only the object-region variant differs from the defaults by more than its fragment's keys.
    assert RegionConstructionSpec.from_cfg(construction) == RegionConstructionSpec(
        **{k: construction[k] for k in fixes}
    )
    assert "loss_partition" not in paper and "loss_partition" not in variant_settings("official")
    head = _head(variant="object_regions")
    assert isinstance(head.loss_partition, RegionPartitionLoss) and head.loss_partition.num_pairs == 1024
    head = _head(
        variant="paper", loss_partition=dict(type="RegionPartitionLoss", num_pairs=7, loss_weight=0.5)
    )
    assert head.loss_partition.num_pairs == 7 and head.loss_partition.loss_weight == 0.5


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(loss_partition="yes"), "loss_partition"),
        (dict(loss_partition=dict(type="RegionPartitionLoss", num_pairs=-1)), "num_pairs"),
        (dict(loss_partition=dict(type="RegionPartitionLoss", temperature=0.0)), "temperature"),
        (
            dict(loss_partition=dict(type="RegionPartitionLoss", num_pairs=0, neighbour_pairs=False)),
            "no pairs",
        ),
        (
            dict(variant="object_regions", construction=dict(decision_kernel_size=3, stream_tables=False)),
            "decision_kernel_size=1",
        ),
        (dict(construction=dict(force_regions="cell")), "construction.force_regions"),
        (dict(construction=dict(region_threshold="high")), "construction.region_threshold"),
        (dict(construction=dict(boundary_endpoints="yes")), "construction.boundary_endpoints"),
        (
            dict(construction=dict(representativeness_trains_decision=1)),
            "construction.representativeness_trains_decision",
        ),
    ],
)
def test_bad_switches_and_loss_configs_are_named(overrides, message):
    with pytest.raises(ValueError, match=message):
        _head(**overrides)


@pytest.mark.parametrize("forced", ["image", "pixel"])
@pytest.mark.parametrize("variant", ["object_regions", "official"])
def test_forced_regions_streamed_equals_dense(variant, forced):
    threshold = dict(region_threshold=0.3) if variant == "object_regions" else {}
    head = _head(variant=variant, construction=dict(force_regions=forced, **threshold))
    dense = dense_copy(head)
    out_s, grads_s = _run(head, True)
    out_d, grads_d = _run(dense, True)
    want = 1 if forced == "image" else HEIGHT * WIDTH
    assert out_s.num_regions.tolist() == out_d.num_regions.tolist() == [want, want]
    assert torch.equal(out_s.region, out_d.region)
    torch.testing.assert_close(out_s.representativeness, out_d.representativeness, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out_s.seg_logits, out_d.seg_logits, rtol=1e-10, atol=1e-12)
    for name in grads_d:
        torch.testing.assert_close(grads_s[name], grads_d[name], rtol=1e-9, atol=1e-11, msg=name)
    # Forcing changes the head's output compared with the regions of G.
    free = _head(variant=variant, construction=threshold)
    out_free, _ = _run(free, True)
    assert 1 < int(out_free.num_regions.min()) and int(out_free.num_regions.max()) < HEIGHT * WIDTH
    assert not torch.allclose(out_free.seg_logits, out_s.seg_logits)


def test_object_region_head_loss_has_the_partition_term_and_it_is_finite_on_all_ignore():
    init_default_scope("mmseg")
    head = _head(variant="object_regions", construction=dict(region_threshold=0.3))
    head.train()
    outputs = head.forward_regions(_features())
    label = torch.full((2, 1, 4 * HEIGHT, 4 * WIDTH), 255)
    value = head.loss_partition(
        head.region_construction, outputs.stage3_logits, outputs.stage3_boundary_logits, label, 255
    )
    assert float(value) == 0.0 and value.requires_grad
    assert MODELS.get("RegionPartitionLoss") is RegionPartitionLoss


class _FixedMargins:
    """A stand-in construction block whose pair margins are given per (source, target) cell."""

    def __init__(self, table: torch.Tensor) -> None:
        self.table = table

    def pair_margins(self, class_logits, boundary_logits, image, source, target):
        return self.table[source, target]


def test_partition_balance_by_label_and_pair_kind_is_the_mean_of_four_group_means():
    # A 2 x 3 grid, left column one segment, the rest another; margins are known for every pair.
    torch.manual_seed(0)
    table = torch.randn(6, 6, dtype=torch.float64)
    label = torch.tensor([[0, 1, 1], [0, 1, 1]]).repeat_interleave(4, 0).repeat_interleave(4, 1)[None, None]
    class_logits = torch.zeros(1, 2, 2, 3, dtype=torch.float64)
    by_label = RegionPartitionLoss(num_pairs=50, temperature=1.0)
    by_kind = RegionPartitionLoss(num_pairs=50, temperature=1.0, balance="label_and_kind")
    torch.manual_seed(1)
    image, source, target, neighbour = by_kind.sample_pairs(grid_segments(label, (2, 3), 255), 2, 3)
    torch.manual_seed(1)
    value = by_kind(_FixedMargins(table), class_logits, class_logits, label, 255)
    segment = torch.tensor([0, 1, 1, 0, 1, 1])
    groups = {}
    for s, t, n in zip(source.tolist(), target.tolist(), neighbour.tolist()):
        same = bool(segment[s] == segment[t])
        x = float(table[s, t])
        bce = np.log1p(np.exp(-x)) if same else np.log1p(np.exp(x))
        groups.setdefault((same, n), []).append(bce)
    assert len(groups) == 4  # every group is present in this draw
    expected = np.mean([np.mean(v) for v in groups.values()])
    assert float(value) == pytest.approx(expected, rel=1e-10)
    torch.manual_seed(1)
    plain = by_label(_FixedMargins(table), class_logits, class_logits, label, 255)
    pooled = {s: [x for (same, _), v in groups.items() if same == s for x in v] for s in (True, False)}
    assert float(plain) == pytest.approx(np.mean([np.mean(v) for v in pooled.values()]), rel=1e-10)
    assert float(plain) != pytest.approx(float(value), rel=1e-6)
    with pytest.raises(ValueError, match="balance"):
        RegionPartitionLoss(balance="pairs")
