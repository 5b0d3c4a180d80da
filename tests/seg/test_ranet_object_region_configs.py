"""The object-region RANet config and its two forced-region ablations: what they change, and that they build."""

from __future__ import annotations

from pathlib import Path

import pytest
from mmengine import Config
from mmengine.model.utils import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_ranet  # noqa: F401

from .ranet_variants import variant_settings

REPO = Path(__file__).resolve().parents[2]
PAPER = REPO / "configs/ranet/ranet_r18-d8_1xb8-600_synthetic-128x128.py"
OBJECT_REGIONS = REPO / "configs/ranet/ranet_r18-d8_1xb8-600_synthetic-128x128_object-regions.py"
FORCED = {
    forced: REPO
    / f"configs/ranet/ablations/ranet_r18-d8_1xb8-600_synthetic-128x128_object-regions_forced-{forced}.py"
    for forced in ("image", "pixel")
}


def test_object_region_config_only_switches_the_variant_and_its_loss():
    paper, config = Config.fromfile(str(PAPER)), Config.fromfile(str(OBJECT_REGIONS))
    head = config.model.decode_head
    settings = variant_settings("object_regions")
    assert {key: head[key] for key in settings} == settings
    assert head.loss_partition == dict(type="RegionPartitionLoss", loss_weight=1.0, num_pairs=1024)
    assert head.construction.region_threshold == 0.5
    del head["loss_partition"]
    for key, value in variant_settings("paper").items():
        head[key] = value
    assert config.model.to_dict() == paper.model.to_dict()
    assert config.train_cfg == paper.train_cfg and config.train_dataloader == paper.train_dataloader
    assert config.optim_wrapper.paramwise_cfg.custom_keys == {"decision_conv": dict(lr_mult=10.0)}
    assert config.optim_wrapper.optimizer == paper.optim_wrapper.optimizer


@pytest.mark.parametrize("forced", sorted(FORCED))
def test_forced_region_ablation_only_forces_the_regions(forced):
    base, config = Config.fromfile(str(OBJECT_REGIONS)), Config.fromfile(str(FORCED[forced]))
    assert config.model.decode_head.construction.force_regions == forced
    del config.model.decode_head.construction["force_regions"]
    assert config.model.to_dict() == base.model.to_dict()


@pytest.mark.parametrize("path", [OBJECT_REGIONS, *FORCED.values()], ids=lambda p: p.stem.split("_")[-1])
def test_object_region_configs_build(path):
    init_default_scope("mmseg")
    head = revert_sync_batchnorm(MODELS.build(Config.fromfile(str(path)).model)).decode_head
    spec = head.region_construction.spec
    assert spec.boundary_endpoints and not spec.representativeness_trains_decision
    assert spec.region_threshold == 0.5 and float(head.decision_conv.bias) == -0.5
    assert type(head.loss_partition).__name__ == "RegionPartitionLoss"
    assert spec.force_regions == Config.fromfile(str(path)).model.decode_head.construction.get(
        "force_regions"
    )


def test_no_partition_loss_ablation_only_drops_the_loss():
    base = Config.fromfile(str(OBJECT_REGIONS))
    path = (
        REPO
        / "configs/ranet/ablations/ranet_r18-d8_1xb8-600_synthetic-128x128_object-regions_no-partition-loss.py"
    )
    config = Config.fromfile(str(path))
    assert config.model.decode_head.loss_partition is None
    config.model.decode_head.loss_partition = base.model.decode_head.loss_partition
    assert config.model.to_dict() == base.model.to_dict()
    init_default_scope("mmseg")
    head = revert_sync_batchnorm(MODELS.build(Config.fromfile(str(path)).model)).decode_head
    spec = head.region_construction.spec
    assert head.loss_partition is None and spec.boundary_endpoints and spec.region_rule == "average_linkage"


def test_decision_endpoints_ablation_only_moves_the_end_points_to_the_decision():
    base = Config.fromfile(str(OBJECT_REGIONS))
    path = (
        REPO
        / "configs/ranet/ablations/ranet_r18-d8_1xb8-600_synthetic-128x128_object-regions_decision-endpoints.py"
    )
    config = Config.fromfile(str(path))
    assert config.model.decode_head.construction.boundary_endpoints == "decision"
    assert base.model.decode_head.construction.boundary_endpoints is True
    config.model.decode_head.construction.boundary_endpoints = True
    assert config.model.to_dict() == base.model.to_dict()
    init_default_scope("mmseg")
    head = revert_sync_batchnorm(MODELS.build(Config.fromfile(str(path)).model)).decode_head
    spec = head.region_construction.spec
    assert spec.boundary_endpoints == "decision" and spec.region_rule == "average_linkage"
    assert type(head.loss_partition).__name__ == "RegionPartitionLoss"
