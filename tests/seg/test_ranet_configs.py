"""Every RANet config loads, names the plugin, adds boundary labels to training only, and builds its model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mmengine import Config
from mmengine.model.utils import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_ranet  # noqa: F401

from .ranet_variants import variant_settings

REPO = Path(__file__).resolve().parents[2]
RANET_CONFIGS = sorted((REPO / "configs/ranet").glob("*.py")) + [REPO / "configs/ranet_r101_cityscapes.py"]
# The demo pair on the context data; the objects-data pair is checked in test_seg_experiment_configs.py.
SMALL_CONFIGS = [p for p in RANET_CONFIGS if "synthetic-128x128" in p.name]
LARGE_CONFIGS = [p for p in RANET_CONFIGS if "synthetic" not in p.name]
EXPECTED = {
    "cityscapes": dict(num_classes=19, crop=(769, 769), stride=(513, 513)),
    "pascal-context-59": dict(num_classes=59, crop=(480, 480), stride=(320, 320)),
    "coco-stuff164k": dict(num_classes=171, crop=(512, 512), stride=(341, 341)),
}


def _ids(paths):
    return [p.name for p in paths]


def test_all_six_dataset_configs_and_the_shortcut_exist():
    names = {p.name for p in LARGE_CONFIGS}
    for backbone in ("ranet_r101-d8", "ranet_hr48"):
        assert any(n.startswith(backbone) and "cityscapes-769x769" in n for n in names)
        assert any(n.startswith(backbone) and "pascal-context-59-480x480" in n for n in names)
        assert any(n.startswith(backbone) and "coco-stuff164k-512x512" in n for n in names)
    assert "ranet_r101_cityscapes.py" in names
    assert len(SMALL_CONFIGS) == 3  # paper, official, object_regions


@pytest.mark.parametrize("path", RANET_CONFIGS, ids=_ids(RANET_CONFIGS))
def test_config_loads_with_plugin_and_training_only_boundary_labels(path):
    cfg = Config.fromfile(str(path))
    assert cfg.custom_imports == dict(imports=["mmseg_ranet"], allow_failed_imports=False)
    assert cfg.model.decode_head.type == "RANetHead"
    assert "auxiliary_head" not in cfg.model, "the stage-3 branch is the auxiliary head"
    train_types = [step["type"] for step in cfg.train_dataloader.dataset.pipeline]
    assert train_types[-2:] == ["GenerateRegionBoundary", "PackSegInputs"]
    for loader in (cfg.val_dataloader, cfg.test_dataloader):
        assert "GenerateRegionBoundary" not in [step["type"] for step in loader.dataset.pipeline]
    head = cfg.model.decode_head
    if "hr48" in path.name:
        assert cfg.model.backbone.type == "HRNet"
        assert cfg.model.pretrained == "open-mmlab://msra/hrnetv2_w48"
        assert head.input_transform == "resize_concat" and head.in_channels == [48, 96, 192, 384]
    elif "synthetic" not in path.name:
        assert cfg.model.backbone.type == "ResNetV1c" and cfg.model.backbone.depth == 101
        assert cfg.model.pretrained == "open-mmlab://resnet101_v1c"
        assert head.input_transform == "multiple_select" and list(head.in_index) == [2, 3]
        assert cfg.model.backbone.dilations == (1, 1, 2, 4) and cfg.model.backbone.strides == (1, 2, 1, 1)
    for dataset, expected in EXPECTED.items():
        if dataset in path.name or (dataset == "cityscapes" and path.name == "ranet_r101_cityscapes.py"):
            assert head.num_classes == expected["num_classes"]
            assert cfg.model.test_cfg.mode == "slide"
            assert tuple(cfg.model.test_cfg.crop_size) == expected["crop"]
            assert tuple(cfg.model.test_cfg.stride) == expected["stride"]
            assert tuple(cfg.crop_size) == expected["crop"]


def test_official_small_config_only_switches_the_variant():
    paper, official = (
        Config.fromfile(str(next(p for p in SMALL_CONFIGS if p.stem.endswith(suffix))))
        for suffix in ("synthetic-128x128", "_official")
    )
    settings = variant_settings("official")
    head = official.model.decode_head
    assert {key: head[key] for key in settings} == settings
    for key, value in variant_settings("paper").items():
        head[key] = value
    head.interaction.num_representatives = paper.model.decode_head.interaction.num_representatives
    assert official.model.to_dict() == paper.model.to_dict()


@pytest.mark.parametrize("name", ["ranet_r50-d8.py", "ranet_hr48.py"])
def test_model_bases_hold_the_paper_variant(name):
    head = Config.fromfile(str(REPO / "configs/_base_/models" / name)).model.decode_head
    assert "variant" not in head
    paper = variant_settings("paper")
    assert {key: head[key] for key in paper} == paper and "loss_partition" not in head


#: Every config in configs/ whose decode head is a RANetHead (the ablations and objects configs included).
ALL_RANET_CONFIGS = sorted(
    p
    for p in (REPO / "configs").rglob("*.py")
    if "_base_" not in p.parts and "RANetHead" in str(Config.fromfile(str(p)).model.get("decode_head", {}))
)


@pytest.mark.parametrize("path", ALL_RANET_CONFIGS, ids=[str(p.relative_to(REPO)) for p in ALL_RANET_CONFIGS])
def test_every_ranet_config_builds_its_head(path):
    init_default_scope("mmseg")
    head = MODELS.build(Config.fromfile(str(path)).model.decode_head)
    assert type(head).__name__ == "RANetHead"


def _build_model(path: Path):
    init_default_scope("mmseg")
    cfg = Config.fromfile(str(path))
    cfg.model.pretrained = None  # no downloads are possible here
    cfg.model.backbone.init_cfg = None
    return revert_sync_batchnorm(MODELS.build(cfg.model))


@pytest.mark.parametrize("path", SMALL_CONFIGS, ids=_ids(SMALL_CONFIGS))
def test_small_configs_build(path):
    model = _build_model(path)
    assert type(model.decode_head).__name__ == "RANetHead"


@pytest.mark.slow
@pytest.mark.parametrize("path", LARGE_CONFIGS, ids=_ids(LARGE_CONFIGS))
def test_large_configs_build_and_compute_losses(path):
    model = _build_model(path)
    model.train()
    size = (64, 64)
    sample = SegDataSample()
    sample.gt_sem_seg = PixelData(data=torch.randint(0, 19, (1, *size)))
    sample.gt_edge_map = PixelData(data=torch.randint(0, 2, (1, *size)))
    sample.set_metainfo(dict(img_shape=size, ori_shape=size, pad_shape=size))
    # Batch of 2: BatchNorm needs more than one value per channel on the tiny 1x1 pooled maps.
    losses = model(torch.randn(2, 3, *size), [sample, sample], mode="loss")
    assert all(torch.isfinite(v).all() for v in losses.values())


def test_metafile_lists_every_config_and_only_existing_ones():
    yaml = pytest.importorskip("yaml")
    meta = yaml.safe_load((REPO / "configs/ranet/metafile.yaml").read_text())
    listed = {model["Config"] for model in meta["Models"]}
    on_disk = {str(p.relative_to(REPO)) for p in (REPO / "configs/ranet").glob("*.py")}
    assert listed == on_disk
    for model in meta["Models"]:
        assert model["In Collection"] == "RANet"
        assert model["Name"] == Path(model["Config"]).stem
