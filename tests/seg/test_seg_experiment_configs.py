"""The peer and ablation configs of benchmarks/seg_experiments.py build through the registry and run."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from mmengine import Config
from mmengine.dataset import pseudo_collate
from mmengine.model.utils import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS, MODELS

import mmseg_ranet  # noqa: F401
from mmseg_ranet.datasets.generate import SceneConfig, generate_dataset

REPO = Path(__file__).resolve().parents[2]
FCN = REPO / "configs/fcn/fcn_r18-d8_1xb8-600_synthetic-128x128.py"
PEERS = [
    REPO / f"configs/{folder}/{name}_r18-d8_1xb8-600_synthetic-128x128.py"
    for folder, name in [
        ("pspnet", "pspnet"),
        ("nonlocal_net", "nonlocal"),
        ("ccnet", "ccnet"),
        ("ocrnet", "ocrnet"),
    ]
]
# The paper-variant ablations (the object-region ones are tested in test_ranet_object_region_configs.py).
ABLATIONS = sorted(
    p for p in (REPO / "configs/ranet/ablations").glob("*.py") if "object-regions" not in p.name
)
#: The models of the objects experiment on the generated objects dataset.
OBJECT_CONFIGS = sorted(REPO.glob("configs/*/*_synthetic-objects-128x128*.py"))
LOADERS = ("train_dataloader", "val_dataloader", "test_dataloader")
HEAD_TYPES = {"pspnet": "PSPHead", "nonlocal": "NLHead", "ccnet": "CCHead"}


def _build(cfg):
    init_default_scope("mmseg")
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    model.init_weights()
    return model.eval()


def test_twelve_ablations_exist_and_only_change_the_head_or_the_optimizer():
    assert len(ABLATIONS) == 12
    main = Config.fromfile(str(REPO / "configs/ranet/ranet_r18-d8_1xb8-600_synthetic-128x128.py"))
    for path in ABLATIONS:
        text = path.read_text()
        assert '_base_ = ["../ranet_r18-d8_1xb8-600_synthetic-128x128.py"]' in text
        cfg = Config.fromfile(str(path))
        assert cfg.model.backbone == main.model.backbone
        assert cfg.train_cfg == main.train_cfg and cfg.train_dataloader == main.train_dataloader


@pytest.mark.parametrize(
    "name, section, key, value",
    [
        ("no-boundary", "construction", "use_boundary_term", False),
        ("no-semantic", "construction", "use_semantic_term", False),
        ("k1", "interaction", "num_representatives", 1),
        ("k4", "interaction", "num_representatives", 4),
        ("k16", "interaction", "num_representatives", 16),
        ("unmasked", "interaction", "distribution_mask", False),
        ("binary-jsd", "construction", "divergence", "binary"),
        ("boundary-endpoints", "construction", "boundary_endpoints", True),
        ("detached-decision", "construction", "representativeness_trains_decision", False),
        ("forced-image", "construction", "force_regions", "image"),
        ("forced-ground-truth", "construction", "force_regions", "ground_truth"),
    ],
)
def test_ablation_switch(name, section, key, value):
    path = next(p for p in ABLATIONS if p.stem.endswith("_" + name))
    head = Config.fromfile(str(path)).model.decode_head
    main = Config.fromfile(str(REPO / "configs/ranet/ranet_r18-d8_1xb8-600_synthetic-128x128.py"))
    assert head[section][key] == value
    # The other block's settings and the losses stay the paper variant's of the main config.
    other = "interaction" if section == "construction" else "construction"
    assert head[other] == main.model.decode_head[other] and "loss_partition" not in head


def test_frozen_decision_config_sets_zero_lr_on_decision_conv():
    path = next(p for p in ABLATIONS if p.stem.endswith("_frozen-decision"))
    cfg = Config.fromfile(str(path))
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys["decision_conv"] == dict(lr_mult=0.0, decay_mult=0.0)
    assert cfg.optim_wrapper.optimizer.type == "AdamW"
    head = _build(cfg).decode_head
    # custom_keys match any parameter name that contains the key (mmengine's rule).
    assert any("decision_conv" in name for name, _ in head.named_parameters())


@pytest.mark.parametrize("path", PEERS, ids=[p.parent.name for p in PEERS])
def test_peer_config_matches_fcn_setting(path):
    cfg, fcn = Config.fromfile(str(path)), Config.fromfile(str(FCN))
    assert cfg.model.backbone == fcn.model.backbone
    assert cfg.model.pretrained is None and cfg.model.backbone.norm_cfg.type == "BN"
    for key in ("train_cfg", "optim_wrapper", "param_scheduler", "train_dataloader", "val_dataloader"):
        assert cfg[key] == fcn[key], key
    heads = cfg.model.decode_head if isinstance(cfg.model.decode_head, list) else [cfg.model.decode_head]
    assert heads[-1].channels == 128 and heads[-1].in_channels == 256 and heads[-1].num_classes == 5
    assert all(h.norm_cfg.type == "BN" for h in heads)
    stem = path.stem.split("_")[0]
    if stem in HEAD_TYPES:
        assert heads[0].type == HEAD_TYPES[stem]
    else:
        assert cfg.model.type == "CascadeEncoderDecoder" and [h.type for h in heads] == ["FCNHead", "OCRHead"]


# The oracle reads the label, so it runs through the segmentor in tests/seg/test_ground_truth_regions.py.
FORWARD_CONFIGS = PEERS + [p for p in ABLATIONS if not p.stem.endswith("_forced-ground-truth")]


@pytest.mark.parametrize("path", FORWARD_CONFIGS, ids=[p.stem for p in FORWARD_CONFIGS])
def test_config_builds_and_runs_one_forward(path):
    model = _build(Config.fromfile(str(path)))
    torch.manual_seed(0)
    with torch.no_grad():
        logits = model(torch.rand(1, 3, 32, 32) * 255, mode="tensor")
    assert logits.shape[:2] == (1, 5) and torch.isfinite(logits).all()


def test_objects_configs_change_only_the_data_root():
    assert [p.stem for p in OBJECT_CONFIGS] == [
        "fcn_r18-d8_1xb8-600_synthetic-objects-128x128",
        "nonlocal_r18-d8_1xb8-600_synthetic-objects-128x128",
        "ocrnet_r18-d8_1xb8-600_synthetic-objects-128x128",
        "ranet_r18-d8_1xb8-600_synthetic-objects-128x128",
        "ranet_r18-d8_1xb8-600_synthetic-objects-128x128_official",
    ]
    base = Config.fromfile(str(REPO / "configs/_base_/datasets/synthetic_objects.py"))
    for path in OBJECT_CONFIGS:
        cfg = Config.fromfile(str(path))
        twin = Config.fromfile(str(path.with_name(path.name.replace("synthetic-objects", "synthetic"))))
        assert cfg.data_root == base.data_root == "data/synthetic_objects"
        twin.data_root = cfg.data_root
        for loader in LOADERS:
            assert cfg[loader].dataset.data_root == base[loader].dataset.data_root
            twin[loader].dataset.data_root = cfg.data_root
        assert cfg.to_dict() == twin.to_dict(), path.name


@pytest.fixture(scope="module")
def tiny_objects(tmp_path_factory) -> Path:
    cfg = SceneConfig.preset("objects", size=64, object_radius=(12, 18))
    return generate_dataset(tmp_path_factory.mktemp("objects"), num_train=2, num_val=1, cfg=cfg)


@pytest.mark.parametrize("path", OBJECT_CONFIGS, ids=[p.stem for p in OBJECT_CONFIGS])
def test_objects_config_trains_one_iteration_on_generated_objects(path, tiny_objects):
    """One optimizer step through the config's own train pipeline, model and optimizer."""
    cfg = Config.fromfile(str(path))
    init_default_scope("mmseg")
    dataset_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    dataset_cfg.data_root = str(tiny_objects)
    dataset = DATASETS.build(dataset_cfg)
    batch = pseudo_collate([dataset[0], dataset[1]])
    model = revert_sync_batchnorm(MODELS.build(cfg.model))
    model.init_weights()
    model.train()
    optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    weight = next(model.backbone.parameters())
    before = weight.detach().clone()
    torch.manual_seed(0)
    log_vars = model.train_step(batch, optim_wrapper)
    assert torch.isfinite(log_vars["loss"]) and log_vars["loss"] > 0
    assert not torch.equal(weight.detach(), before), "the step must change the weights"
