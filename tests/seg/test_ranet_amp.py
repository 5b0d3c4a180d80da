"""RANet under automatic mixed precision: the head under CPU bf16 autocast (a stand-in for CUDA AMP) against
fp32, the segment attentions with half-precision features and fp32 J, and ``tools/train.py --amp``."""

from __future__ import annotations

import copy
import importlib.util
import math

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_ranet  # noqa: F401  (registers the head)
from benchmarks.seg_runs import logged_losses
from mmseg_ranet.datasets.generate import SceneConfig, generate_dataset
from mmseg_ranet.engine import AutocastOptimWrapper
from mmseg_ranet.models.decode_heads import RegionInteractionBlock
from mmseg_ranet.models.ops import autocast_off, full_precision, gathered_dot, in_full_precision

from .ranet_variants import variant_settings
from .train_runs import DEMO, REPO, run, small_options

HEIGHT, WIDTH, NUM_CLASSES = 12, 12, 5
LABEL_SIZE = (HEIGHT * 8, WIDTH * 8)
STRIPES = 3
TOLERANCE = 0.05


def _relative(value: torch.Tensor, reference: torch.Tensor) -> float:
    value, reference = value.detach().double(), reference.detach().double()
    return float((value - reference).norm() / reference.norm())


def _head(variant: str, construction: dict | None = None, num_representatives: int = 3):
    init_default_scope("mmseg")
    cfg = dict(
        type="RANetHead",
        in_channels=[8, 12],
        in_index=[2, 3],
        input_transform="multiple_select",
        channels=16,
        num_classes=NUM_CLASSES,
        dropout_ratio=0.0,  # the same network in both precisions
        norm_cfg=dict(type="BN"),
        # A smooth activation: ReLU's kink switches about 0.3% of the activations between the precisions
        # (those within bf16 rounding of zero), which alone moves the per-pixel gradients of any ReLU
        # convolution stack by about 5% (relative L2) and would hide what this test measures: the error
        # the region blocks add.
        act_cfg=dict(type="GELU"),
    )
    cfg.update(variant_settings(variant, construction, {"num_representatives": num_representatives}))
    torch.manual_seed(0)
    head = MODELS.build(cfg)
    with torch.no_grad():
        # A confident C: stripes of different features get different classes and the decision separates
        # them clearly, as in a trained head (the regions are then the same in both precisions).
        head.stage3_seg.weight.mul_(25.0)
    return head.train()


def _features(batch: int = 2) -> list[torch.Tensor]:
    """Stage-3 features made of vertical stripes of constant features plus a little noise (they decide the
    regions), random stage-4 features (the features A of the attentions)."""
    generator = torch.Generator().manual_seed(3)
    stripe = torch.arange(WIDTH) * STRIPES // WIDTH
    features = []
    for channels in (4, 4, 8):
        levels = 2 * torch.randn(batch, channels, STRIPES, generator=generator)
        base = levels[:, :, stripe].unsqueeze(2).expand(-1, -1, HEIGHT, -1)
        features.append(base + 0.1 * torch.randn(batch, channels, HEIGHT, WIDTH, generator=generator))
    features.append(torch.randn(batch, 12, HEIGHT, WIDTH, generator=generator))
    return features


def _samples(batch: int = 2) -> list[SegDataSample]:
    generator = torch.Generator().manual_seed(2)
    samples = []
    for _ in range(batch):
        sample = SegDataSample()
        labels = torch.randint(0, NUM_CLASSES, (1, *LABEL_SIZE), generator=generator)
        sample.gt_sem_seg = PixelData(data=labels)
        sample.gt_edge_map = PixelData(data=torch.randint(0, 2, (1, *LABEL_SIZE), generator=generator))
        sample.set_metainfo(dict(img_shape=LABEL_SIZE, pad_shape=LABEL_SIZE, ori_shape=LABEL_SIZE))
        samples.append(sample)
    return samples


def _train_step(head, dtype: torch.dtype | None):
    """Logits, region counts, parameter gradients and input gradients of one loss, under autocast(dtype)."""
    head.zero_grad(set_to_none=True)
    inputs = [x.clone().requires_grad_(True) for x in _features()]
    with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        outputs = head.forward_regions(inputs)
        train_outputs = (
            outputs.seg_logits,
            outputs.stage3_logits,
            outputs.boundary_logits,
            outputs.stage3_boundary_logits,
        )
        losses = head.loss_by_feat(train_outputs, _samples())
        total = sum(value for key, value in losses.items() if "loss" in key)
    total.backward()
    grads = {name: p.grad.clone() for name, p in head.named_parameters() if p.grad is not None}
    return outputs, grads, [inputs[2].grad, inputs[3].grad]


def _representative_sets(outputs) -> list[list[int]]:
    reps = outputs.representatives
    return [sorted(reps.pixel[b][reps.valid[b]].tolist()) for b in range(reps.pixel.shape[0])]


CASES = {
    # (variant, construction settings, K)
    # Stripes split into several multi-pixel regions (a trained-like decision).
    "paper-regions": ("paper", None, 3),
    # A threshold above any score: one region per pixel, through the decision itself.
    "paper-pixels": ("paper", dict(region_threshold=1.5), 3),
    # The released code convolves over the representative list, whose order within a region follows J: one
    # representative per region keeps the list order that of the regions, not of near-tied J values.
    "official": ("official", None, 1),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bf16_autocast_logits_and_every_gradient_stay_close_to_fp32(case):
    variant, construction, num_representatives = CASES[case]
    head = _head(variant, construction, num_representatives)
    reference, reference_grads, reference_input_grads = _train_step(head, None)
    mixed, grads, input_grads = _train_step(copy.deepcopy(head), torch.bfloat16)

    counts = reference.num_regions.tolist()
    if case == "paper-pixels":
        assert counts == [HEIGHT * WIDTH] * 2
    else:
        assert all(1 < count < HEIGHT * WIDTH / 2 for count in counts), counts
    # The construction is an fp32 island: the same regions and fp32 J from the half-precision logits. The
    # regions and representatives are discrete choices: the test data keeps them away from ties, so that
    # the comparison below is one of the same computation in two precisions.
    assert torch.equal(mixed.region, reference.region)
    if variant == "official":
        # Its list convolutions read the representatives in list order.
        assert torch.equal(mixed.representatives.pixel, reference.representatives.pixel)
    else:
        # The paper's attentions read each region's representatives as a set.
        assert _representative_sets(mixed) == _representative_sets(reference)
    assert _relative(mixed.representativeness, reference.representativeness) < 5e-3
    assert mixed.representativeness.dtype == torch.float32
    assert mixed.seg_logits.dtype == torch.bfloat16  # the convolutions did run in bf16

    errors = {"logits": _relative(mixed.seg_logits, reference.seg_logits)}
    for name, grad in reference_grads.items():
        assert name in grads, f"{name} has no gradient under autocast"
        errors[name] = _relative(grads[name], grad)
    for name, grad, ref in zip(("stage-3 input", "stage-4 input"), input_grads, reference_input_grads):
        errors[name] = _relative(grad, ref)
    if variant == "paper":
        assert "region_construction.decision_conv.weight" in errors
    too_far = {name: round(error, 4) for name, error in errors.items() if not error <= TOLERANCE}
    assert not too_far, f"relative L2 error above {TOLERANCE}: {too_far}"


def _rib_inputs(num_pixels: int, channels: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(2, channels, num_pixels, 1, generator=generator) / channels**0.5
    j_values = torch.rand(2, num_pixels, generator=generator)
    # Regions of one to three pixels: far more than 512 representatives.
    region = torch.stack([torch.arange(num_pixels) // 2, torch.arange(num_pixels) // 3])
    num_regions = region.max(dim=1).values + 1
    return features, j_values, region, num_regions


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
def test_segment_interaction_with_half_features_and_fp32_j_matches_fp32(dtype):
    torch.manual_seed(0)
    block = RegionInteractionBlock(16, dict(num_representatives=2, attention_impl="segment"))
    features, j_values, region, num_regions = _rib_inputs(1200, 16)
    reference_features = features.to(dtype).float().requires_grad_(True)
    reference_j = j_values.clone().requires_grad_(True)
    reference, reps = block(reference_features, reference_j, region, num_regions)
    assert int(reps.valid.sum(dim=1).min()) > 512
    upstream = torch.randn(reference.shape, generator=torch.Generator().manual_seed(3))
    (reference * upstream).sum().backward()

    # As CUDA autocast hands them over: features from a half-precision convolution, J from the fp32 island.
    half_features = features.to(dtype).requires_grad_(True)
    mixed_j = j_values.clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=dtype):
        mixed, _ = block(half_features, mixed_j, region, num_regions)
    (mixed * upstream).sum().backward()
    assert mixed.dtype == torch.float32
    assert _relative(mixed, reference) < 1e-5
    assert _relative(half_features.grad.float(), reference_features.grad) < 1e-2
    assert _relative(mixed_j.grad, reference_j.grad) < 1e-5


def test_segment_products_name_mixed_dtypes():
    table = torch.randn(3, 2, 4, dtype=torch.float16)
    with pytest.raises(ValueError, match=r"one dtype.*table torch.float16, features torch.float32"):
        gathered_dot(table, torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1]))


def test_full_precision_island_promotes_half_inputs_and_turns_autocast_off():
    seen = {}

    @in_full_precision
    def island(x, y, index):
        seen.update(x=x.dtype, y=y.dtype, index=index.dtype, autocast=torch.is_autocast_enabled("cpu"))
        return (x @ x.t()).dtype

    with torch.autocast("cpu", dtype=torch.bfloat16):
        product = island(
            torch.ones(2, 2, dtype=torch.bfloat16), torch.ones(2, dtype=torch.float64), torch.arange(2)
        )
    assert product == torch.float32
    assert seen == dict(x=torch.float32, y=torch.float64, index=torch.int64, autocast=False)
    assert full_precision(torch.ones(1, dtype=torch.float16)).dtype == torch.float32
    with torch.autocast("cpu", dtype=torch.bfloat16), autocast_off("cpu"):
        assert not torch.is_autocast_enabled("cpu")


def _train_tool():
    spec = importlib.util.spec_from_file_location("train_tool", REPO / "tools/train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("cuda", [True, False], ids=["cuda", "cpu"])
def test_amp_flag_picks_fp16_amp_on_cuda_and_bf16_autocast_on_cpu(cuda, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    cfg = Config(dict(optim_wrapper=dict(type="OptimWrapper", optimizer=dict(type="SGD", lr=0.01))))
    _train_tool().enable_amp(cfg)
    if cuda:
        assert cfg.optim_wrapper.type == "AmpOptimWrapper" and cfg.optim_wrapper.loss_scale == "dynamic"
    else:
        assert cfg.optim_wrapper.type == "AutocastOptimWrapper"
        assert (cfg.optim_wrapper.dtype, cfg.optim_wrapper.device_type) == ("bfloat16", "cpu")
    other = Config(dict(optim_wrapper=dict(type="ZeroRedundancyOptimizer")))
    with pytest.raises(ValueError, match="--amp needs optim_wrapper.type='OptimWrapper'"):
        _train_tool().enable_amp(other)


def test_autocast_optim_wrapper_runs_the_forward_in_bf16_and_keeps_fp32_parameters():
    model = torch.nn.Linear(4, 3)
    wrapper = AutocastOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    with wrapper.optim_context(model):
        output = model(torch.randn(2, 4))
    assert output.dtype == torch.bfloat16
    wrapper.update_params(output.float().square().mean())
    assert model.weight.dtype == torch.float32 and model.weight.grad is None  # zeroed after the step
    with pytest.raises(ValueError, match="dtype must be one of"):
        AutocastOptimWrapper(dtype="float64", optimizer=torch.optim.SGD(model.parameters(), lr=0.1))


def test_train_tool_with_amp_trains_the_demo_config_on_cpu_in_bf16(tmp_path):
    data_root = generate_dataset(
        tmp_path / "data", 4, 2, SceneConfig(size=64, object_radius=(10, 16), cue_radius=2)
    )
    work_dir = tmp_path / "work"
    result = run(
        ["tools/train.py", str(DEMO), "--amp", "--work-dir", str(work_dir), *small_options(data_root, 3)]
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert "bfloat16 autocast on the CPU" in log
    assert "type='AutocastOptimWrapper'" in log
    losses = logged_losses(work_dir)
    assert sorted(losses) == [1, 2, 3]
    assert all(math.isfinite(loss) and loss > 0 for loss in losses.values()), losses
    assert "mIoU" in log
