"""tools/upgrade_ranet_config.py: configs of the flat head layout become the nested configs of the same model."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from mmengine import Config

import mmseg_ranet  # noqa: F401
from mmseg_ranet.models.decode_heads import RegionConstructionSpec, RegionInteractionSpec

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs/ranet"
_spec = importlib.util.spec_from_file_location("upgrade_ranet_config", REPO / "tools/upgrade_ranet_config.py")
upgrade = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(upgrade)

# The decode-head settings of configs before the nested layout (the demo's head with num_representatives=8 and
# the r50-d8 base's region_threshold=0.8), and the config that now means the same model.
DEMO = dict(variant="paper", num_representatives=8, region_threshold=0.8)
OLD_LAYOUT = {
    "ranet_r18-d8_1xb8-600_synthetic-128x128.py": DEMO,
    "ranet_r18-d8_1xb8-600_synthetic-128x128_official.py": dict(DEMO, variant="official"),
    "ranet_r18-d8_1xb8-600_synthetic-128x128_object-regions.py": dict(
        DEMO,
        variant="object_regions",
        region_threshold=0.5,
        loss_partition=dict(type="RegionPartitionLoss", loss_weight=1.0, num_pairs=1024),
    ),
    "ablations/ranet_r18-d8_1xb8-600_synthetic-128x128_object-regions_no-partition-loss.py": dict(
        DEMO,
        variant="object_regions",
        region_threshold=0.5,
        loss_partition=False,
    ),
    "ablations/ranet_r18-d8_1xb8-600_synthetic-128x128_unmasked.py": dict(
        DEMO, local_mask=False, global_mask=False, global_softmax="joint", distribution_mask=False
    ),
    "ablations/ranet_r18-d8_1xb8-600_synthetic-128x128_binary-jsd.py": dict(
        DEMO, divergence="binary", jsd_normalize=False
    ),
    "ablations/ranet_r18-d8_1xb8-600_synthetic-128x128_forced-image.py": dict(DEMO, force_regions="image"),
}


def _meaning(head: dict) -> tuple:
    return (
        RegionConstructionSpec.from_cfg(head.get("construction")),
        RegionInteractionSpec.from_cfg(head.get("interaction")),
        head.get("loss_partition"),
    )


@pytest.mark.parametrize("name", sorted(OLD_LAYOUT))
def test_old_layout_heads_become_the_configs_of_the_same_model(name):
    new = Config.fromfile(str(CONFIGS / name)).model.decode_head.to_dict()
    old = dict(new, **OLD_LAYOUT[name])
    for key in ("construction", "interaction", "loss_partition"):
        old.pop(key, None)
    if OLD_LAYOUT[name].get("loss_partition") is not None:
        old["loss_partition"] = OLD_LAYOUT[name]["loss_partition"]
    upgraded = upgrade.upgrade_head_cfg(old)
    assert _meaning(upgraded) == _meaning(new)
    nested = ("construction", "interaction", "loss_partition")
    assert {k: v for k, v in upgraded.items() if k not in nested} == {
        k: v for k, v in new.items() if k not in nested
    }
    assert upgrade.upgrade_head_cfg(new) == new


def test_checkpoint_config_is_written_as_a_nested_config(tmp_path, capsys):
    cfg = Config.fromfile(str(CONFIGS / "ranet_r18-d8_1xb8-600_synthetic-128x128_official.py"))
    head = cfg.model.decode_head
    for key in ("construction", "interaction"):
        del head[key]
    head.variant = "official"
    head.num_representatives = 8
    checkpoint = tmp_path / "old.pth"
    torch.save({"state_dict": {}, "meta": {"cfg": cfg.pretty_text}}, checkpoint)
    out = tmp_path / "upgraded.py"
    upgrade.main([str(checkpoint), "--out", str(out)])
    assert "wrote" in capsys.readouterr().out
    upgraded = Config.fromfile(str(out)).model.decode_head
    expected = Config.fromfile(str(CONFIGS / "ranet_r18-d8_1xb8-600_synthetic-128x128_official.py"))
    assert _meaning(upgraded.to_dict()) == _meaning(expected.model.decode_head.to_dict())
    assert "variant" not in upgraded and "num_representatives" not in upgraded


def test_bad_sources_are_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        upgrade.main([str(tmp_path / "missing.py"), "--out", str(tmp_path / "x.py")])
    assert "missing.py does not exist" in capsys.readouterr().err
    empty = tmp_path / "empty.pth"
    torch.save({"state_dict": {}}, empty)
    with pytest.raises(ValueError, match="holds no config"):
        upgrade.main([str(empty), "--out", str(tmp_path / "x.py")])
    with pytest.raises(ValueError, match="variant must be one of"):
        upgrade.upgrade_head_cfg(dict(type="RANetHead", variant="released"))
