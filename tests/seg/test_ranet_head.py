"""RANetHead: losses, gradients, eval outputs, switches, edge cases and argument errors."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_ranet  # noqa: F401  (registers the head)
from mmseg_ranet.models.decode_heads import RANetHead, RegionConstructionSpec, RegionInteractionSpec

from .ranet_variants import VARIANTS, variant_settings

HEIGHT, WIDTH, NUM_CLASSES = 7, 9, 5
LABEL_SIZE = (HEIGHT * 8, WIDTH * 8)


def _head_cfg(variant: str = "paper", construction=None, interaction=None, **overrides) -> dict:
    cfg = dict(
        type="RANetHead",
        in_channels=[8, 12],
        in_index=[2, 3],
        input_transform="multiple_select",
        channels=6,
        num_classes=NUM_CLASSES,
        norm_cfg=dict(type="BN"),
    )
    cfg.update(variant_settings(variant, construction, {"num_representatives": 3, **(interaction or {})}))
    cfg.update(overrides)
    return cfg


def _build(seed: int = 0, **overrides) -> RANetHead:
    init_default_scope("mmseg")
    torch.manual_seed(seed)
    return MODELS.build(_head_cfg(**overrides))


def _features(seed: int = 1, batch: int = 2) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, c, HEIGHT, WIDTH, generator=generator) for c in (4, 4, 8, 12)]


def _samples(batch: int = 2, ignore_all: bool = False, with_boundary: bool = True) -> list[SegDataSample]:
    generator = torch.Generator().manual_seed(2)
    samples = []
    for _ in range(batch):
        sample = SegDataSample()
        labels = torch.randint(0, NUM_CLASSES, (1, *LABEL_SIZE), generator=generator)
        if ignore_all:
            labels.fill_(255)
        sample.gt_sem_seg = PixelData(data=labels)
        if with_boundary:
            edges = torch.randint(0, 2, (1, *LABEL_SIZE), generator=generator)
            sample.gt_edge_map = PixelData(data=torch.where(labels == 255, 255, edges))
        sample.set_metainfo(dict(img_shape=LABEL_SIZE, pad_shape=LABEL_SIZE, ori_shape=LABEL_SIZE))
        samples.append(sample)
    return samples


def _total(losses: dict) -> torch.Tensor:
    return sum(value for key, value in losses.items() if "loss" in key)


def _sharpen(head: RANetHead, scale: float = 25.0) -> None:
    """Make C confident and spatially varying, so that images split into several, different regions."""
    with torch.no_grad():
        head.stage3_seg.weight.mul_(scale)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_loss_keys_values_and_every_parameter_gets_a_gradient(variant):
    head = _build(variant=variant)
    _sharpen(head)
    head.train()
    losses = head.loss(_features(), _samples(), None)
    expected = {"loss_ce", "loss_stage3_ce", "loss_boundary", "loss_stage3_boundary", "acc_seg"}
    # The object-region preset adds its loss on the region decision.
    assert set(losses) == expected | ({"loss_partition"} if variant == "object_regions" else set())
    for key, value in losses.items():
        assert value.dim() == 0 or value.numel() == 1, key
        assert torch.isfinite(value).all(), key
    _total(losses).backward()
    for name, param in head.named_parameters():
        assert param.grad is not None, f"{name} has no gradient"
        assert torch.isfinite(param.grad).all(), f"{name} has a non-finite gradient"
        assert param.grad.abs().sum() > 0, f"{name} has an all-zero gradient"
    if variant in ("paper", "object_regions"):
        # W^g learns through J (paper) or the partition loss (the region decision has no gradient).
        assert head.decision_conv.weight.grad.abs().sum() > 0
    else:
        assert not hasattr(head, "decision_conv")


def test_loss_weights_are_the_released_ones():
    head = _build()
    weights = {
        head.loss_decode.loss_name: head.loss_decode.loss_weight,
        head.loss_stage3.loss_name: head.loss_stage3.loss_weight,
        head.loss_boundary.loss_name: head.loss_boundary.loss_weight,
        head.loss_stage3_boundary.loss_name: head.loss_stage3_boundary.loss_weight,
    }
    assert weights == {
        "loss_ce": 1.0,
        "loss_stage3_ce": 0.4,
        "loss_boundary": 0.2,
        "loss_stage3_boundary": 0.08,
    }


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_batch_items_with_different_region_counts(variant):
    head = _build(variant=variant)
    _sharpen(head)
    head.train()
    outputs = head.forward_regions(_features())
    counts = outputs.num_regions.tolist()
    assert counts[0] != counts[1] and min(counts) > 1, counts
    reps = outputs.representatives
    region = outputs.region.flatten(1)
    for b in range(2):
        kept = reps.pixel[b][reps.valid[b]]
        # Every representative lies inside its own region, and small regions give all their pixels.
        assert torch.equal(region[b, kept], reps.region[b][reps.valid[b]])
        sizes = torch.bincount(region[b], minlength=counts[b])
        assert int(reps.valid[b].sum()) == int(sizes.clamp(max=3).sum())
    losses = head.loss_by_feat(
        (outputs.seg_logits, outputs.stage3_logits, outputs.boundary_logits, outputs.stage3_boundary_logits),
        _samples(),
    )
    _total(losses).backward()
    assert all(torch.isfinite(p.grad).all() for p in head.parameters() if p.grad is not None)


@pytest.mark.parametrize(
    "threshold, expected", [(-1.5, "one"), (1.5, "all")], ids=["single-region", "singletons"]
)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_single_region_and_every_pixel_its_own_region(variant, threshold, expected):
    head = _build(variant=variant, construction=dict(region_threshold=threshold))
    head.train()
    outputs = head.forward_regions(_features())
    want = 1 if expected == "one" else HEIGHT * WIDTH
    assert outputs.num_regions.tolist() == [want, want]
    losses = head.loss(_features(), _samples(), None)
    _total(losses).backward()
    for name, param in head.named_parameters():
        assert param.grad is None or torch.isfinite(param.grad).all(), name


def test_all_ignore_crop_gives_finite_losses():
    head = _build()
    head.train()
    losses = head.loss(_features(), _samples(ignore_all=True), None)
    for key, value in losses.items():
        assert torch.isfinite(value).all(), key
    _total(losses).backward()
    assert all(torch.isfinite(p.grad).all() for p in head.parameters() if p.grad is not None)


def test_eval_forward_returns_only_final_logits_and_needs_no_boundary_labels():
    head = _build()
    head.eval()
    with torch.no_grad():
        logits = head(_features())
        predicted = head.predict(_features(), [s.metainfo for s in _samples(with_boundary=False)], None)
    assert isinstance(logits, torch.Tensor)
    assert logits.shape == (2, NUM_CLASSES, HEIGHT, WIDTH)
    assert predicted.shape == (2, NUM_CLASSES, *LABEL_SIZE)


def test_missing_boundary_labels_in_training_are_named():
    head = _build()
    head.train()
    with pytest.raises(KeyError, match="GenerateRegionBoundary"):
        head.loss(_features(), _samples(with_boundary=False), None)


def test_seeded_forward_backward_is_reproducible():
    results = []
    for _ in range(2):
        head = _build(seed=3)
        _sharpen(head)
        head.train()
        torch.manual_seed(4)  # dropout
        losses = head.loss(_features(), _samples(), None)
        _total(losses).backward()
        results.append((losses, {n: p.grad.clone() for n, p in head.named_parameters()}))
    (losses_a, grads_a), (losses_b, grads_b) = results
    for key in losses_a:
        assert torch.equal(losses_a[key], losses_b[key]), key
    for name in grads_a:
        assert torch.equal(grads_a[name], grads_b[name]), name


SINGLE_SWITCHES = [
    dict(construction=dict(divergence="binary")),
    dict(construction=dict(jsd_normalize=False)),
    dict(construction=dict(region_rule="greedy")),
    dict(construction=dict(representativeness_source="score")),
    dict(construction=dict(representativeness_source="score", learnable_decision=False)),
    dict(interaction=dict(local_mask=False)),
    dict(interaction=dict(global_mask=False)),
    dict(interaction=dict(global_softmax="joint")),
    dict(interaction=dict(distribution_mask=False)),
    dict(interaction=dict(feature_convs=True)),
    dict(interaction=dict(refine_convs=True)),
    dict(interaction=dict(attention_scale=True)),
    dict(construction=dict(decision_kernel_size=3)),
    dict(interaction=dict(num_representatives=1)),
]
BLOCKS = dict(construction="region_construction", interaction="region_interaction")


def _switch_id(switch: dict) -> str:
    return "-".join(f"{section}.{k}={v}" for section, keys in switch.items() for k, v in keys.items())


@pytest.mark.parametrize("switch", SINGLE_SWITCHES, ids=_switch_id)
def test_every_switch_can_be_ablated_alone(switch):
    head = _build(**switch)
    for section, keys in switch.items():
        spec = getattr(head, BLOCKS[section]).spec
        for key, value in keys.items():
            assert getattr(spec, key) == value
    # With the parameters they share copied over, the switch alone changes the output (eval: no dropout).
    baseline = _build()
    _sharpen(baseline)
    own = head.state_dict()
    shared = {k: v for k, v in baseline.state_dict().items() if k in own and own[k].shape == v.shape}
    head.load_state_dict(shared, strict=False)
    head.eval()
    baseline.eval()
    with torch.no_grad():
        same = torch.allclose(head(_features()), baseline(_features()), atol=1e-5)
    # A larger W^g starts as the identity too, so only its training can change the output (it runs the
    # dense tables, the baseline streams them: equal up to float rounding).
    assert same == ("decision_kernel_size" in switch.get("construction", {}))
    head.train()
    losses = head.loss(_features(), _samples(), None)
    _total(losses).backward()
    assert all(torch.isfinite(v).all() for v in losses.values())


def test_official_variant_sets_the_released_switches():
    head = _build(variant="official")
    official = variant_settings("official")
    for section, block in BLOCKS.items():
        for key, value in official[section].items():
            if not (section == "interaction" and key == "num_representatives"):  # 3 in these tests
                assert getattr(getattr(head, block).spec, key) == value, key
    mixed = _build(variant="official", construction=dict(divergence="full")).region_construction.spec
    assert mixed.divergence == "full" and mixed.region_rule == "greedy"


@pytest.mark.parametrize("spec", [RegionConstructionSpec, RegionInteractionSpec])
def test_spec_defaults_are_the_paper_variant(spec):
    paper = variant_settings("paper")[spec.section]
    default = spec()
    assert {key: getattr(default, key) for key in paper} == paper
    assert spec.from_cfg(paper) == default == spec.from_cfg(None) == spec.from_cfg({})


def test_head_without_block_settings_is_the_paper_head():
    init_default_scope("mmseg")
    head = MODELS.build(
        dict(
            type="RANetHead",
            in_channels=[8, 12],
            in_index=[2, 3],
            input_transform="multiple_select",
            channels=6,
            num_classes=NUM_CLASSES,
        )
    )
    paper = _build()
    assert head.region_construction.spec == paper.region_construction.spec
    assert head.region_interaction.spec == RegionInteractionSpec()
    assert head.loss_partition is None


@pytest.mark.parametrize(
    "spec, cfg, match",
    [
        (
            RegionConstructionSpec,
            dict(divergense="full", rule=1),
            r"unknown keys \['divergense', 'rule'\] in construction",
        ),
        (
            RegionInteractionSpec,
            dict(num_representative=8),
            r"unknown keys \['num_representative'\] in interaction",
        ),
        (RegionConstructionSpec, dict(divergence="kl"), r"construction\.divergence .* got 'kl'"),
        (
            RegionConstructionSpec,
            dict(region_threshold="high"),
            r"construction\.region_threshold .* got 'high'",
        ),
        (RegionConstructionSpec, dict(jsd_normalize=1), r"construction\.jsd_normalize .* got 1"),
        (RegionConstructionSpec, dict(stream_tables=True, decision_kernel_size=3), "stream_tables"),
        (
            RegionInteractionSpec,
            dict(num_representatives=True),
            r"interaction\.num_representatives .* got True",
        ),
        (
            RegionInteractionSpec,
            dict(attention_impl="sparse"),
            r"interaction\.attention_impl .* got 'sparse'",
        ),
        (RegionInteractionSpec, [("local_mask", False)], "interaction must be a dict"),
    ],
)
def test_spec_errors_name_the_key_and_value(spec, cfg, match):
    with pytest.raises(ValueError, match=match):
        spec.from_cfg(cfg)


def test_flat_settings_of_older_configs_are_named_with_their_new_place():
    with pytest.raises(ValueError, match=r"construction=dict\(divergence='binary'\)"):
        _build(divergence="binary")
    with pytest.raises(ValueError, match=r"interaction=dict\(num_representatives=4\)"):
        _build(num_representatives=4)
    with pytest.raises(ValueError, match="ranet_official.py"):
        MODELS.build(dict(_head_cfg(), variant="official"))


def test_hrnet_style_resize_concat_input():
    head = _build(
        in_channels=[4, 6, 8, 10], in_index=(0, 1, 2, 3), input_transform="resize_concat", region_scale=0.5
    )
    inputs = [torch.randn(2, c, 14 // s, 18 // s) for c, s in zip((4, 6, 8, 10), (1, 2, 4, 8))]
    head.train()
    losses = head.loss(inputs, _samples(), None)
    _total(losses).backward()
    head.eval()
    assert head(inputs).shape == (2, NUM_CLASSES, HEIGHT, WIDTH)


@pytest.mark.parametrize(
    "overrides, match",
    [
        (dict(interaction=dict(num_representatives=0)), "interaction.num_representatives"),
        (dict(interaction=dict(num_representatives=2.5)), "interaction.num_representatives"),
        (dict(construction=dict(region_rule="watershed")), "construction.region_rule"),
        (dict(construction=dict(divergence="kl")), "construction.divergence"),
        (dict(interaction=dict(global_softmax="none")), "interaction.global_softmax"),
        (dict(interaction=dict(local_mask="yes")), "interaction.local_mask"),
        (
            dict(construction=dict(learnable_decision=False, representativeness_source="decision")),
            "learnable_decision",
        ),
        (dict(construction=dict(decision_kernel_size=2)), "construction.decision_kernel_size"),
        (dict(construction=dict(unknown_switch=True)), r"unknown keys \['unknown_switch'\] in construction"),
        (dict(loss_partition=False), "loss_partition"),
        (
            dict(construction=dict(decision_kernel_size=3), loss_partition=dict(type="RegionPartitionLoss")),
            "decision_kernel_size=1",
        ),
        (dict(in_channels=[8, 12, 16], in_index=[1, 2, 3]), "in_channels"),
        (dict(in_channels=[8, 12], in_index=[3]), "in_index"),
        (dict(region_scale=0), "region_scale"),
        (dict(loss_stage3=dict(type="CrossEntropyLoss", loss_name="loss_ce")), "loss_name"),
    ],
)
def test_bad_arguments_name_the_argument(overrides, match):
    with pytest.raises(ValueError, match=match):
        _build(**overrides)


def test_bad_inputs_name_the_argument():
    head = _build()
    head.eval()
    features = _features()
    wrong_channels = copy.copy(features)
    wrong_channels[3] = torch.randn(2, 11, HEIGHT, WIDTH)
    with pytest.raises(ValueError, match="in_channels"):
        head(wrong_channels)
    with pytest.raises(ValueError, match="in_index"):
        head(features[:3])
    with pytest.raises(TypeError, match="list"):
        head(features[3])


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_region_construction_matches_loop_reference(variant):
    """F = (1 - D)(1 - E), F^g = W^g (x) F, G and the regions against loops over pairs."""
    from .test_ranet_references import (
        binary_jsd_reference,
        boundary_max_reference,
        canonical_partition,
        components_reference,
        full_jsd_reference,
        greedy_reference,
    )

    head = _build(variant=variant, construction=dict(region_threshold=0.7)).double()
    spec = head.region_construction.spec
    with torch.no_grad():
        if spec.learnable_decision:
            head.decision_conv.weight.fill_(1.3)  # a trained-looking affine map, not the identity
    generator = torch.Generator().manual_seed(6)
    height, width = 4, 5
    class_logits = 4 * torch.randn(2, NUM_CLASSES, height, width, generator=generator, dtype=torch.float64)
    boundary_logits = 2 * torch.randn(2, 2, height, width, generator=generator, dtype=torch.float64)
    class_logits.requires_grad_()
    boundary_prob, score, decision, linked, region, counts = head.region_construction.dense_tables(
        class_logits, boundary_logits
    )
    upstream = torch.rand_like(score)
    (grad,) = torch.autograd.grad((score * upstream).sum(), class_logits)
    for b in range(2):
        d_table = boundary_max_reference(boundary_prob[b], endpoints=spec.boundary_endpoints)
        probs = torch.softmax(class_logits[b], 0).flatten(1)
        if spec.divergence == "full":
            e_table = full_jsd_reference(probs) / math.log(2)
        else:
            e_table = binary_jsd_reference(probs)
        n = height * width
        f_ref = torch.stack(
            [torch.stack([(1 - d_table[i, j]) * (1 - e_table[i, j]) for j in range(n)]) for i in range(n)]
        )
        torch.testing.assert_close(score[b], f_ref)
        (grad_ref,) = torch.autograd.grad((f_ref * upstream[b]).sum(), class_logits)
        torch.testing.assert_close(grad[b], grad_ref[b])
        if decision is not None:
            w, bias = float(head.decision_conv.weight), float(head.decision_conv.bias)
            torch.testing.assert_close(decision[b], w * f_ref + bias)
            g_ref = [
                [(w * f_ref[i, j] + bias + w * f_ref[j, i] + bias) / 2 > 0 for j in range(n)]
                for i in range(n)
            ]
        else:
            g_ref = [[(f_ref[i, j] + f_ref[j, i]) / 2 > 0.7 for j in range(n)] for i in range(n)]
        g_ref = torch.tensor([[bool(v) for v in row] for row in g_ref])
        assert torch.equal(linked[b], g_ref)
        if spec.region_rule == "average_linkage":
            from .test_region_linkage import _reference_partition

            margin = torch.tensor(
                [
                    [float((w * f_ref[i, j] + bias + w * f_ref[j, i] + bias) / 2) for j in range(n)]
                    for i in range(n)
                ]
            )
            clusters = _reference_partition(margin)
            reference = [min(next(c for c in clusters if i in c)) for i in range(n)]
        elif spec.region_rule == "components":
            reference = components_reference(g_ref)
        else:
            reference = greedy_reference(g_ref)
        assert canonical_partition(region[b].tolist()) == canonical_partition(reference)
        assert int(counts[b]) == len(set(reference))
    assert counts.min() > 1 and counts[0] != counts[1], (
        "the inputs should give several, different region counts"
    )


@pytest.mark.parametrize("variant", ["paper", "official"])
def test_compiled_and_torch_boundary_tables_give_the_same_head(variant):
    """Training (loss and every gradient) and inference are the same with either implementation of D."""
    from mmseg_ranet.models.ops._compiled import compiled_available, compiled_unavailable_reason

    assert compiled_available(), compiled_unavailable_reason()
    results = {}
    for impl in ("torch", "compiled"):
        head = _build(seed=3, variant=variant, construction=dict(boundary_impl=impl))
        head.train()
        losses = head.loss(_features(), _samples(), train_cfg={})
        total = sum(v for k, v in losses.items() if "loss" in k)
        total.backward()
        grads = {n: p.grad.clone() for n, p in head.named_parameters() if p.grad is not None}
        head.eval()
        with torch.no_grad():
            logits = head.forward(_features(seed=5))
        results[impl] = (total.detach(), grads, logits)
    loss_t, grads_t, logits_t = results["torch"]
    loss_c, grads_c, logits_c = results["compiled"]
    torch.testing.assert_close(loss_c, loss_t, rtol=1e-5, atol=1e-6)
    assert grads_c.keys() == grads_t.keys()
    for name in grads_t:
        torch.testing.assert_close(grads_c[name], grads_t[name], rtol=1e-4, atol=1e-5, msg=name)
    torch.testing.assert_close(logits_c, logits_t, rtol=1e-5, atol=1e-6)


def test_unknown_boundary_impl_is_named():
    with pytest.raises(ValueError, match="construction.boundary_impl"):
        _build(construction=dict(boundary_impl="fast"))
