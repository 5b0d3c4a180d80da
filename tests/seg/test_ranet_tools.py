"""tools/visualize_regions.py and a short Runner training of the small RANet config."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest
from mmengine import Config

import mmseg_ranet  # noqa: F401
import mmseg_ranet.datasets.transforms.boundary  # noqa: F401  (registers GenerateRegionBoundary)
from mmseg_ranet.datasets.generate import SceneConfig, generate_dataset

REPO = Path(__file__).resolve().parents[2]
SMALL = REPO / "configs/ranet/ranet_r18-d8_1xb8-600_synthetic-128x128.py"
TOOL = REPO / "tools/visualize_regions.py"


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return generate_dataset(
        tmp_path_factory.mktemp("ranet_data"),
        4,
        2,
        SceneConfig(size=64, object_radius=(10, 16), cue_radius=2),
    )


def _image(data_root: Path) -> Path:
    return sorted((data_root / "img_dir/val").glob("*.png"))[0]


def _tool():
    spec = importlib.util.spec_from_file_location("visualize_regions", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_visualize_regions_writes_a_png(data_root, tmp_path, capsys):
    out = tmp_path / "vis" / "regions.png"
    assert _tool().main([str(SMALL), str(_image(data_root)), "--out", str(out)]) == 0
    picture = cv2.imread(str(out))
    assert picture is not None and picture.shape[1] > 2 * picture.shape[0]
    assert "regions" in capsys.readouterr().out


def test_visualize_regions_draw_marks_representatives(tmp_path):
    image = np.zeros((32, 40, 3), dtype=np.uint8)
    regions = np.zeros((32, 40), dtype=np.int64)
    regions[:, 20:] = 1
    views = dict(
        regions=regions,
        num_regions=np.array(2),
        boundary=np.zeros((32, 40)),
        prediction=np.zeros((32, 40), dtype=np.int64),
        rep_y=np.array([4.0, 20.0]),
        rep_x=np.array([4.0, 30.0]),
    )
    out = _tool().draw(image, views, tmp_path / "a.png")
    assert cv2.imread(str(out)) is not None


@pytest.mark.parametrize("missing", ["config", "image", "checkpoint"])
def test_visualize_regions_names_missing_files(data_root, tmp_path, capsys, missing):
    args = {
        "config": str(SMALL),
        "image": str(_image(data_root)),
        "checkpoint": str(tmp_path / "none.pth"),
    }
    if missing != "checkpoint":
        args[missing] = str(tmp_path / f"no_{missing}")
    with pytest.raises(SystemExit) as exit_info:
        _tool().main(
            [
                args["config"],
                args["image"],
                "--checkpoint",
                args["checkpoint"],
                "--out",
                str(tmp_path / "x.png"),
            ]
        )
    assert exit_info.value.code != 0
    assert f"{missing} file not found" in capsys.readouterr().err


def test_visualize_regions_rejects_a_checkpoint_of_another_model(data_root, tmp_path):
    import torch

    checkpoint = tmp_path / "other.pth"
    torch.save({"state_dict": {"backbone.unrelated.weight": torch.zeros(1)}}, checkpoint)
    with pytest.raises(RuntimeError, match="do not match"):
        _tool().main(
            [
                str(SMALL),
                str(_image(data_root)),
                "--checkpoint",
                str(checkpoint),
                "--out",
                str(tmp_path / "x.png"),
            ]
        )


@pytest.mark.slow
def test_small_config_trains_a_few_iterations_with_the_runner(data_root, tmp_path):
    from mmengine.runner import Runner

    cfg = Config.fromfile(str(SMALL))
    cfg.work_dir = str(tmp_path / "work")
    for loader in ("train_dataloader", "val_dataloader", "test_dataloader"):
        cfg[loader].dataset.data_root = str(data_root)
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
    cfg.train_dataloader.batch_size = 2
    cfg.model.data_preprocessor.size = (64, 64)
    cfg.train_cfg.max_iters = 4
    cfg.train_cfg.val_interval = 4
    cfg.default_hooks.checkpoint.interval = 4
    cfg.default_hooks.logger.interval = 1
    cfg.param_scheduler = [copy.deepcopy(cfg.param_scheduler[0])]
    cfg.param_scheduler[0].end = 4
    runner = Runner.from_cfg(cfg)
    runner.train()
    assert (tmp_path / "work" / "iter_4.pth").is_file()
    metrics = runner.val_loop.run()
    assert 0.0 <= metrics["mIoU"] <= 100.0
