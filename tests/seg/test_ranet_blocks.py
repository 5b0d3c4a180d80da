"""RANetHead as wiring of its blocks: the equations composed in order, who owns which layer, checkpoints
of the version-1 layout, the shared dropout of the classifiers and mmseg's pixel sampler."""

from __future__ import annotations

import math
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import load_checkpoint, load_state_dict
from mmseg.models.utils import resize

import mmseg_ranet  # noqa: F401
from mmseg_ranet.models.decode_heads import (
    RANetHead,
    RegionConstructionBlock,
    RegionConstructionSpec,
    RegionInteractionBlock,
    RegionInteractionSpec,
)
from mmseg_ranet.models.decode_heads.ranet_state_dict import upgrade_state_dict_layout

from .test_ranet_head import NUM_CLASSES, _build, _features, _samples, _sharpen, _total
from .test_ranet_references import (
    binary_jsd_reference,
    boundary_max_reference,
    components_reference,
    full_jsd_reference,
    greedy_reference,
    representativeness_reference,
    representatives_reference,
    rib_reference,
)

#: Where version 1 of the head kept the modules that now live in the blocks (the layout of the
#: checkpoints written before the split).
VERSION_1_NAMES = {
    "region_construction.decision_conv": "decision_conv",
    "region_interaction.query_conv": "query_conv",
    "region_interaction.value_conv": "value_conv",
    "region_interaction.collection_refine": "collection_refine",
    "region_interaction.interaction_refine": "interaction_refine",
    "region_interaction.distribution_refine": "distribution_refine",
}


def _to_version_1(state: dict, prefix: str = "") -> OrderedDict:
    old = OrderedDict()
    for key, value in state.items():
        name = key[len(prefix) :]
        for new, before in VERSION_1_NAMES.items():
            if name.startswith(new + "."):
                name = before + name[len(new) :]
        old[prefix + name] = value.clone()
    return old


@pytest.mark.parametrize(
    "overrides",
    [
        dict(variant="paper"),
        dict(variant="official", interaction=dict(feature_convs=False, refine_convs=False)),
    ],
    ids=["paper", "official-attentions"],
)
def test_head_equals_the_equations_composed_in_order(overrides):
    """seg = conv_seg(fusion(A, O)) with O from the loop references of RCB and RIB (eval, float64)."""
    height, width = 4, 5
    head = _build(**overrides).double()
    _sharpen(head, 40.0)
    head.eval()
    generator = torch.Generator().manual_seed(9)
    inputs = [
        torch.randn(2, c, height, width, generator=generator, dtype=torch.float64) for c in (4, 4, 8, 12)
    ]
    construction, interaction = head.region_construction.spec, head.region_interaction.spec
    with torch.no_grad():
        logits = head(inputs)
        stage3 = head.stage3_conv(inputs[2])
        class_logits, boundary_logits = head.stage3_seg(stage3), head.stage3_boundary_seg(stage3)
        features = head.region_feature_conv(inputs[3])
        contexts, counts = [], []
        for b in range(2):
            boundary = torch.softmax(boundary_logits[b], 0)[1]
            probs = torch.softmax(class_logits[b], 0).flatten(1)
            if construction.divergence == "full":
                semantic = full_jsd_reference(probs) / math.log(2)
            else:
                semantic = binary_jsd_reference(probs)
            score = (1 - boundary_max_reference(boundary)) * (1 - semantic)
            if construction.learnable_decision:
                score = float(head.decision_conv.weight) * score + float(head.decision_conv.bias)
                linked = (score + score.T) / 2 > 0
            else:
                linked = (score + score.T) / 2 > construction.region_threshold
            if construction.region_rule == "components":
                region = components_reference(linked)
            else:
                region = greedy_reference(linked)
            counts.append(len(set(region)))
            j_values = representativeness_reference(score, region)
            reps = representatives_reference(j_values, region, interaction.num_representatives)
            pixels = features[b].flatten(1).T
            _, _, context = rib_reference(pixels, j_values, region, reps, paper=interaction.local_mask)
            contexts.append(context.T.reshape(-1, height, width))
        fused = head.fusion_conv(torch.cat([features, torch.stack(contexts)], dim=1))
        expected = head.conv_seg(fused)
    assert 1 < min(counts) and max(counts) < height * width, counts
    torch.testing.assert_close(logits, expected, rtol=1e-9, atol=1e-11)


def test_blocks_own_their_layers_and_their_settings():
    paper, official = _build(variant="paper"), _build(variant="official")
    assert [n for n, _ in paper.region_construction.named_parameters()] == [
        "decision_conv.weight",
        "decision_conv.bias",
    ]
    assert paper.decision_conv is paper.region_construction.decision_conv
    assert not any(True for _ in paper.region_interaction.parameters())
    assert not any(True for _ in official.region_construction.parameters())
    assert {n.split(".")[0] for n, _ in official.region_interaction.named_parameters()} == {
        "query_conv",
        "value_conv",
        "collection_refine",
        "interaction_refine",
        "distribution_refine",
    }
    head_children = {n.split(".")[0] for n, _ in official.named_parameters()}
    assert head_children == {
        "conv_seg",
        "stage3_conv",
        "stage3_seg",
        "stage3_boundary_seg",
        "region_feature_conv",
        "region_interaction",
        "fusion_conv",
        "boundary_seg",
    }
    # The settings are the blocks' own specs, not attributes of the head.
    assert isinstance(paper.region_construction.spec, RegionConstructionSpec)
    assert isinstance(official.region_interaction.spec, RegionInteractionSpec)
    assert official.region_interaction.spec.num_representatives == 3
    assert not hasattr(paper, "divergence") and not hasattr(paper, "num_representatives")


@pytest.mark.parametrize("metadata", ["version-1", "none"])
@pytest.mark.parametrize("variant", ["paper", "official"])
def test_version_1_state_dict_loads_strictly_with_identical_outputs(variant, metadata):
    trained = _build(seed=5, variant=variant)
    _sharpen(trained)
    with torch.no_grad():
        for param in trained.parameters():
            param.add_(0.01)  # every tensor differs from a fresh build, W^g included
    trained.eval()
    wrapper = torch.nn.ModuleDict({"decode_head": trained})
    old = _to_version_1(wrapper.state_dict(), "decode_head.")
    assert any(
        key.startswith("decode_head.query_conv" if variant == "official" else "decode_head.decision_conv")
        for key in old
    )
    if metadata == "version-1":
        # What torch writes for a module whose class has the default _version = 1.
        old._metadata = {"": {"version": 1}, "decode_head": {"version": 1}}
    fresh = _build(seed=6, variant=variant)
    fresh.eval()
    load_state_dict(
        torch.nn.ModuleDict({"decode_head": fresh}), dict(old) if metadata == "none" else old, strict=True
    )
    with torch.no_grad():
        assert torch.equal(fresh(_features()), trained(_features()))
    # torch's own loader takes the same route.
    again = _build(seed=7, variant=variant)
    again.load_state_dict(_to_version_1(trained.state_dict()), strict=True)
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), trained.state_dict().values()))


@pytest.mark.parametrize("variant", ["paper", "official"])
def test_version_2_checkpoint_loads_strictly_with_identical_outputs(variant, tmp_path):
    """A checkpoint file written by the head before its settings were nested (version 2: the same names)."""
    trained = _build(seed=5, variant=variant)
    _sharpen(trained)
    with torch.no_grad():
        for param in trained.parameters():
            param.add_(0.01)
    trained.eval()
    state = torch.nn.ModuleDict({"decode_head": trained}).state_dict()
    state._metadata["decode_head"]["version"] = 2
    path = tmp_path / "version_2.pth"
    torch.save({"state_dict": state, "meta": {}}, path)
    fresh = torch.nn.ModuleDict({"decode_head": _build(seed=6, variant=variant)})
    fresh.eval()
    load_checkpoint(fresh, str(path), map_location="cpu", strict=True)
    with torch.no_grad():
        assert torch.equal(fresh["decode_head"](_features()), trained(_features()))


def test_current_layout_is_versioned_and_not_renamed():
    head = _build(variant="official")
    state = head.state_dict()
    assert state._metadata[""]["version"] == RANetHead._version == 3
    assert upgrade_state_dict_layout(dict(state)) == []
    old = _to_version_1(state)
    assert sorted(upgrade_state_dict_layout(old)) == sorted(k for k in _to_version_1(state) if k not in state)
    both = dict(state, **{"query_conv.conv.weight": state["region_interaction.query_conv.conv.weight"]})
    with pytest.raises(KeyError, match="query_conv.conv.weight"):
        upgrade_state_dict_layout(both)


def test_both_classifiers_read_the_same_dropped_out_features():
    head = _build(dropout_ratio=0.5)
    head.train()
    seen = {}
    for name in ("conv_seg", "boundary_seg"):
        getattr(head, name).register_forward_pre_hook(
            lambda module, args, name=name: seen.setdefault(name, args[0])
        )
    torch.manual_seed(3)
    head(_features())
    assert torch.equal(seen["conv_seg"], seen["boundary_seg"])
    dropped = seen["conv_seg"].abs().sum(dim=(2, 3)) == 0
    assert dropped.any() and not dropped.all(), "dropout drops some channels once"
    assert "conv_seg.weight" in head.state_dict()


@pytest.mark.parametrize("variant", ["paper", "official"])
def test_ohem_sampler_weights_both_segmentation_losses(variant):
    min_kept = 500
    sampler = dict(type="OHEMPixelSampler", thresh=None, min_kept=min_kept)
    plain, sampled = _build(variant=variant), _build(variant=variant, sampler=sampler)
    sampled.load_state_dict(plain.state_dict())
    plain.train()
    sampled.train()
    torch.manual_seed(4)
    outputs = plain(_features())
    samples = _samples()
    losses = sampled.loss_by_feat(outputs, samples)
    reference = plain.loss_by_feat(outputs, samples)

    label = torch.stack([s.gt_sem_seg.data for s in samples]).squeeze(1)
    final = resize(outputs[0], size=label.shape[1:], mode="bilinear", align_corners=False)
    # OHEM without a threshold keeps the min_kept pixels per image with the largest loss of the final
    # logits, counted over the whole batch.
    pixel_loss = F.cross_entropy(final, label, reduction="none", ignore_index=255)
    weight = torch.zeros_like(pixel_loss).flatten()
    weight[pixel_loss.flatten().topk(min_kept * len(samples)).indices] = 1
    weight = weight.view_as(pixel_loss)
    for key, logits, loss_weight in (("loss_ce", outputs[0], 1.0), ("loss_stage3_ce", outputs[1], 0.4)):
        upsampled = resize(logits, size=label.shape[1:], mode="bilinear", align_corners=False)
        expected = (
            loss_weight
            * (F.cross_entropy(upsampled, label, reduction="none", ignore_index=255) * weight).mean()
        )
        torch.testing.assert_close(losses[key], expected)
        assert not torch.allclose(losses[key], reference[key])
    for key in ("loss_boundary", "loss_stage3_boundary", "acc_seg"):
        assert torch.equal(losses[key], reference[key]), key
    total = _total(sampled.loss(_features(), samples, None))
    total.backward()
    assert all(p.grad is not None for p in sampled.parameters())


def test_ohem_sampler_with_threshold_runs_in_the_segmentor_loss():
    head = _build(sampler=dict(type="OHEMPixelSampler", thresh=0.7, min_kept=100))
    head.train()
    losses = head.loss(_features(), _samples(), None)
    assert all(torch.isfinite(v).all() for v in losses.values())


def test_blocks_name_their_bad_arguments():
    init_default_scope("mmseg")
    with pytest.raises(ValueError, match="construction.divergence"):
        RegionConstructionBlock(dict(divergence="kl"))
    with pytest.raises(ValueError, match="learnable_decision"):
        RegionConstructionBlock(dict(learnable_decision=False))
    with pytest.raises(ValueError, match="stream_tables"):
        RegionConstructionBlock(dict(decision_kernel_size=3, stream_tables=True))
    with pytest.raises(ValueError, match="construction.region_impl"):
        RegionConstructionBlock(dict(region_impl="gpu"))
    with pytest.raises(ValueError, match="interaction.num_representatives"):
        RegionInteractionBlock(6, dict(num_representatives=0))
    with pytest.raises(ValueError, match="interaction.global_softmax"):
        RegionInteractionBlock(6, dict(global_softmax="none"))
    with pytest.raises(ValueError, match="interaction.attention_scale"):
        RegionInteractionBlock(6, dict(attention_scale="yes"))
    with pytest.raises(ValueError, match="interaction.attention_impl must be one of .* got 'sparse'"):
        RegionInteractionBlock(6, dict(attention_impl="sparse"))
    with pytest.raises(ValueError, match=r"unknown keys \['local_masks'\] in interaction"):
        RegionInteractionBlock(6, dict(local_masks=True))


def test_a_block_takes_its_spec_as_it_is():
    spec = RegionConstructionSpec(region_threshold=0.5, decision_kernel_size=3)
    block = RegionConstructionBlock(spec)
    assert block.spec is spec and block.spec.stream_tables is False
    assert float(block.decision_conv.bias) == -0.5


def test_blocks_run_on_their_own():
    """The blocks are usable outside the head: regions from logits, context from features."""
    generator = torch.Generator().manual_seed(8)
    class_logits = 20 * torch.randn(2, NUM_CLASSES, 5, 6, generator=generator)
    boundary_logits = torch.randn(2, 2, 5, 6, generator=generator)
    construction = RegionConstructionBlock(dict(region_threshold=0.5))
    boundary, j_values, region, counts = construction(class_logits, boundary_logits)
    assert boundary.shape == (2, 5, 6) and j_values.shape == region.shape == (2, 30)
    assert torch.equal(counts, region.max(1).values + 1)
    interaction = RegionInteractionBlock(
        4, dict(num_representatives=2, feature_convs=True, refine_convs=True)
    )
    context, reps = interaction(torch.randn(2, 4, 5, 6, generator=generator), j_values, region, counts)
    assert context.shape == (2, 4, 5, 6)
    assert torch.equal(reps.valid.sum(1), torch.stack([torch.bincount(r).clamp(max=2).sum() for r in region]))
