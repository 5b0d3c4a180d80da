"""The segment form of the region-restricted attentions equals the masked dense form and the loop
reference, in float64, for values and gradients."""

from __future__ import annotations

import pytest
import torch

from mmseg_ranet.models.ops import (
    distribution,
    global_interaction,
    local_collection,
    region_slots,
    segment_distribution,
    segment_local_collection,
    segment_products,
    select_representatives,
)
from mmseg_ranet.models.ops.region_segment_attention import grouped_softmax
from mmseg_ranet.models.ops.segment_products import gathered_dot, gathered_sum, segment_sum
from tests.seg.test_ranet_references import representatives_reference, rib_reference


def _regions(kind: str, num_pixels: int, generator: torch.Generator) -> torch.Tensor:
    if kind == "one":
        return torch.zeros(num_pixels, dtype=torch.long)
    if kind == "pixel":
        return torch.arange(num_pixels)
    if kind == "few":
        return torch.arange(num_pixels) * 3 // num_pixels
    if kind == "small":
        # Regions of 1 to 4 pixels, fewer than K = 5 representatives each: every pixel is a representative.
        return torch.arange(num_pixels) // 3
    if kind == "mixed":
        # One large region, regions of two pixels and single pixels, in scattered order.
        region = torch.zeros(num_pixels, dtype=torch.long)
        region[num_pixels // 2 :] = torch.arange(num_pixels - num_pixels // 2) * 2 // 3 + 1
        perm = torch.randperm(num_pixels, generator=generator)
        return _compact(region[perm])
    raise ValueError(kind)


def _compact(region: torch.Tensor) -> torch.Tensor:
    return torch.unique(region, return_inverse=True)[1]


def _inputs(kinds, num_pixels=24, channels=6, k=5, seed=0):
    generator = torch.Generator().manual_seed(seed)
    region = torch.stack([_regions(kind, num_pixels, generator) for kind in kinds])
    batch = len(kinds)

    def rand(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64).requires_grad_(True)

    query, value = rand(batch, num_pixels, channels), rand(batch, num_pixels, channels)
    j_values = torch.rand(batch, num_pixels, generator=generator, dtype=torch.float64).requires_grad_(True)
    reps = select_representatives(j_values.detach(), region, k)
    return query, value, j_values, region, reps


# Region sizes at which the products switch to one matrix product per region: the default (never reached
# by these small maps, so every region is gathered) and 3 (most regions are matrix products).
LARGE_ROWS = [segment_products.LARGE_ROW_ITEMS, 3]


@pytest.fixture(params=LARGE_ROWS, ids=["gathered", "blocked"])
def large_row(request, monkeypatch):
    monkeypatch.setattr(segment_products, "LARGE_ROW_ITEMS", request.param)
    return request.param


KIND_SETS = [
    ("one",),
    ("few",),
    ("pixel",),
    ("small",),
    ("mixed",),
    ("one", "pixel"),
    ("few", "mixed", "small"),
]


def _grads(output, inputs, seed=1):
    weights = torch.randn(output.shape, generator=torch.Generator().manual_seed(seed), dtype=output.dtype)
    return torch.autograd.grad((output * weights).sum(), inputs, retain_graph=True)


@pytest.mark.parametrize("kinds", KIND_SETS)
@pytest.mark.parametrize("scale", [False, True])
def test_segment_local_collection_equals_masked_dense(kinds, scale, large_row):
    query, value, j_values, region, reps = _inputs(kinds)
    slots = region_slots(region, reps)
    dense = local_collection(query, value, j_values, region, *reps, restrict_to_region=True, scale=scale)
    segment = segment_local_collection(query, value, j_values, reps, slots, scale=scale)
    torch.testing.assert_close(segment, dense, rtol=1e-10, atol=1e-12)
    for got, expected in zip(
        _grads(segment, (query, value, j_values)), _grads(dense, (query, value, j_values))
    ):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kinds", KIND_SETS)
@pytest.mark.parametrize("scale", [False, True])
def test_segment_distribution_equals_masked_dense(kinds, scale, large_row):
    query, value, j_values, region, reps = _inputs(kinds, seed=3)
    generator = torch.Generator().manual_seed(4)
    glob = torch.randn(*reps.pixel.shape, query.shape[2], generator=generator, dtype=torch.float64)
    glob = (glob * reps.valid.unsqueeze(-1)).requires_grad_(True)
    rep_j = j_values.gather(1, reps.pixel)
    slots = region_slots(region, reps)
    dense = distribution(query, value, j_values, region, glob, rep_j, reps.region, reps.valid, True, scale)
    segment = segment_distribution(query, value, j_values, glob, rep_j, slots, scale=scale)
    torch.testing.assert_close(segment, dense, rtol=1e-10, atol=1e-12)
    inputs = (query, value, j_values, glob)
    for got, expected in zip(_grads(segment, inputs), _grads(dense, inputs)):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("bounded", [False, True], ids=["counted", "bounded"])
@pytest.mark.parametrize("kinds", [("few",), ("mixed",), ("small",), ("one", "pixel")])
def test_segment_attentions_equal_the_loop_reference(kinds, large_row, bounded, device):
    """Counted lists and tables, and those sized by static bounds (N list entries and regions, K slots: the
    device path, no host sync), on every device."""
    k = 3
    features, _, j_values, region, _ = _inputs(kinds, num_pixels=12, channels=4, k=k, seed=5)
    num_pixels = region.shape[1]
    moved = [t.detach().to(device).requires_grad_() for t in (features, j_values)]
    region_on = region.to(device)
    reps = select_representatives(moved[1].detach(), region_on, k, width=num_pixels if bounded else None)
    slots = region_slots(region_on, reps, k if bounded else None)
    assert slots.bounded == bounded
    local = segment_local_collection(moved[0], moved[0], moved[1], reps, slots)
    rep_j = moved[1].gather(1, reps.pixel)
    num_regions = num_pixels if bounded else int(region.max()) + 1
    glob = global_interaction(local, rep_j, reps.region, reps.valid, num_regions, bounded=bounded)
    out = segment_distribution(moved[0], moved[0], moved[1], glob, rep_j, slots)
    for b in range(len(kinds)):
        labels = region[b].tolist()
        ref_reps = representatives_reference(j_values[b].detach(), labels, k)
        _, _, ref_out = rib_reference(features[b], j_values[b], labels, ref_reps, paper=True)
        torch.testing.assert_close(out[b].cpu(), ref_out, rtol=1e-10, atol=1e-12)
        ref_grads = _grads(ref_out, (features, j_values), seed=b)
        got_grads = _grads(out[b].cpu(), moved, seed=b)
        for got, expected in zip(got_grads, ref_grads):
            torch.testing.assert_close(got.cpu(), expected, rtol=1e-10, atol=1e-12)


def test_region_slots_place_every_representative_once_in_its_region_row():
    _, _, _, region, reps = _inputs(("mixed", "few"), k=4)
    slots = region_slots(region, reps)
    num_regions = int(region.max()) + 1
    assert slots.num_rows == 2 * num_regions and slots.width == 4
    assert int(slots.slot_valid.sum()) == int(reps.valid.sum())
    items = torch.arange(reps.pixel.numel(), dtype=torch.float64).view(*reps.pixel.shape, 1) + 1
    table = slots.to_table(items * reps.valid.unsqueeze(-1))
    assert torch.equal(slots.to_list(table, 2), items * reps.valid.unsqueeze(-1))
    rows = torch.arange(2).view(-1, 1) * num_regions + reps.region
    assert torch.equal(
        table[rows[reps.valid]].squeeze(-1).ne(0).any(1), torch.ones(int(reps.valid.sum()), dtype=torch.bool)
    )


def test_segment_products_gradients(large_row):
    generator = torch.Generator().manual_seed(0)
    table = torch.randn(4, 3, 5, generator=generator, dtype=torch.float64, requires_grad=True)
    features = torch.randn(7, 5, generator=generator, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(7, 3, generator=generator, dtype=torch.float64, requires_grad=True)
    index = torch.tensor([0, 3, 3, 1, 0, 2, 3])
    assert torch.autograd.gradcheck(lambda t, x: gathered_dot(t, x, index), (table, features))
    assert torch.autograd.gradcheck(lambda w, t: gathered_sum(w, t, index), (weights, table))
    assert torch.autograd.gradcheck(lambda w, x: segment_sum(w, x, index, 4), (weights, features))
    torch.testing.assert_close(
        gathered_dot(table, features, index), (table[index] * features[:, None]).sum(-1)
    )
    torch.testing.assert_close(
        gathered_sum(weights, table, index), (weights[..., None] * table[index]).sum(1)
    )
    expected = torch.zeros(4, 3, 5, dtype=torch.float64).index_add(
        0, index, weights[..., None] * features[:, None]
    )
    torch.testing.assert_close(segment_sum(weights, features, index, 4), expected)


def test_grouped_softmax_normalises_each_group_and_leaves_empty_groups_at_zero():
    scores = torch.tensor([[1.0, 5.0], [2.0, 1.0], [3.0, 0.0], [0.5, 0.5]], dtype=torch.float64)
    allowed = torch.tensor([[True, True], [True, False], [True, True], [False, False]])
    group = torch.tensor([0, 0, 1, 2])
    weights = grouped_softmax(scores, allowed, group, 3)
    expected = torch.tensor(
        [[1 / (1 + torch.e), 1.0], [torch.e / (1 + torch.e), 0.0], [1.0, 1.0], [0.0, 0.0]],
        dtype=torch.float64,
    )
    torch.testing.assert_close(weights, expected)


def test_bad_shapes_are_named():
    table = torch.zeros(2, 3, 4)
    with pytest.raises(ValueError, match="index must be"):
        gathered_dot(table, torch.zeros(5, 4), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="table must be"):
        gathered_sum(torch.zeros(5, 3), torch.zeros(2, 12), torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="region must be"):
        _, _, _, region, reps = _inputs(("few",))
        region_slots(region[0], reps)


@pytest.mark.parametrize("kinds", [("one", "pixel"), ("few", "mixed"), ("small",)])
@pytest.mark.parametrize("refine", [False, True])
def test_interaction_block_segment_and_dense_agree(kinds, refine, large_row):
    from mmengine.registry import init_default_scope

    from mmseg_ranet.models.decode_heads.region_interaction import RegionInteractionBlock

    init_default_scope("mmseg")
    height, width, channels = 4, 6, 5
    _, _, j_values, region, _ = _inputs(kinds, num_pixels=height * width, seed=7)
    features = torch.randn(len(kinds), channels, height, width, dtype=torch.float64, requires_grad=True)
    counts = region.max(1).values + 1
    outputs, grads = [], []
    for impl in ("segment", "dense"):
        torch.manual_seed(0)
        block = RegionInteractionBlock(
            channels,
            dict(num_representatives=3, feature_convs=refine, refine_convs=refine, attention_impl=impl),
        ).double()
        context, _ = block(features, j_values, region, counts)
        outputs.append(context)
        grads.append(_grads(context, (features, j_values, *block.parameters())))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-10, atol=1e-12)
    for got, expected in zip(*grads):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kinds", KIND_SETS)
@pytest.mark.parametrize("exclude_own", [True, False])
def test_global_interaction_single_shortcut_keeps_values_and_gradients(kinds, exclude_own):
    query, _, j_values, region, reps = _inputs(kinds, k=3, seed=11)
    generator = torch.Generator().manual_seed(12)
    local = torch.randn(*reps.pixel.shape, query.shape[2], generator=generator, dtype=torch.float64)
    local = (local * reps.valid.unsqueeze(-1)).requires_grad_(True)
    rep_j = j_values.gather(1, reps.pixel)
    outputs = [
        global_interaction(
            local,
            rep_j,
            reps.region,
            reps.valid,
            int(region.max()) + 1,
            exclude_own,
            single_shortcut=shortcut,
        )
        for shortcut in (True, False)
    ]
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-10, atol=1e-12)
    for got, expected in zip(_grads(outputs[0], (local, j_values)), _grads(outputs[1], (local, j_values))):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("limit, expected", [(10**6, "dense"), (0, "segment")])
def test_auto_attention_impl_switches_on_the_representative_count(monkeypatch, limit, expected):
    from mmengine.registry import init_default_scope

    from mmseg_ranet.models.decode_heads import region_interaction

    init_default_scope("mmseg")
    calls = []
    for name in ("segment_local_collection", "segment_distribution", "local_collection", "distribution"):
        original = getattr(region_interaction, name)
        kind = "segment" if name.startswith("segment") else "dense"

        def spy(*args, _original=original, _kind=kind, **kwargs):
            calls.append(_kind)
            return _original(*args, **kwargs)

        monkeypatch.setattr(region_interaction, name, spy)
    monkeypatch.setattr(region_interaction, "DENSE_MAX_REPRESENTATIVES", limit)
    _, _, j_values, region, _ = _inputs(("few", "pixel"), num_pixels=20, seed=2)
    block = region_interaction.RegionInteractionBlock(3, dict(num_representatives=2))
    assert block.spec.attention_impl == "auto"
    block(torch.randn(2, 3, 4, 5), j_values.float(), region, region.max(1).values + 1)
    assert calls == [expected, expected]
