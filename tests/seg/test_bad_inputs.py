"""Every bad input names the file, argument or value: data files, checkpoints, class counts, config keys."""

from __future__ import annotations

import copy
import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS

import mmseg_ranet  # noqa: F401  (registers the plugin's transforms and datasets)
from mmseg_ranet.datasets.generate import SceneConfig, generate_dataset
from mmseg_ranet.datasets.transforms import DataFileError, ValidateSegMap
from mmseg_ranet.utils.checkpoint import CorruptCheckpointError, load_trusted_local_checkpoint
from mmseg_ranet.utils.config_check import check_num_classes, nested_key_typos, warn_unread_keys
from mmseg_ranet.utils.launch import load_tool_config

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "configs/_base_/datasets/synthetic_context.py"
DEMO = REPO / "configs/ranet/ranet_r18-d8_1xb8-600_synthetic-128x128.py"
FCN = REPO / "configs/fcn/fcn_r18-d8_1xb8-600_synthetic-128x128.py"


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory) -> Path:
    return generate_dataset(
        tmp_path_factory.mktemp("bad_inputs"),
        2,
        1,
        SceneConfig(size=64, object_radius=(10, 16), cue_radius=2),
    )


def _broken_copy(dataset_root: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    root = tmp_path / "data"
    shutil.copytree(dataset_root, root)
    return root, root / "img_dir/train/train_00000.png", root / "ann_dir/train/train_00000.png"


def _first_sample(root: Path):
    init_default_scope("mmseg")
    cfg = Config.fromfile(str(BASE))
    ds = copy.deepcopy(cfg.train_dataloader.dataset)
    ds.data_root = str(root)
    ds.pipeline = cfg.test_pipeline  # the same loaders, without the random flip
    return DATASETS.build(ds)[0]


def test_truncated_label_png_is_named(dataset_root, tmp_path):
    root, _, ann = _broken_copy(dataset_root, tmp_path)
    ann.write_bytes(ann.read_bytes()[:60])
    with pytest.raises(DataFileError, match=r"label file .*train_00000\.png.* could not be decoded"):
        _first_sample(root)


def test_label_of_random_bytes_is_named(dataset_root, tmp_path):
    root, _, ann = _broken_copy(dataset_root, tmp_path)
    ann.write_bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes())
    with pytest.raises(DataFileError, match=r"label file .*train_00000\.png.* could not be decoded"):
        _first_sample(root)


def test_zero_byte_image_is_named(dataset_root, tmp_path):
    root, img, _ = _broken_copy(dataset_root, tmp_path)
    img.write_bytes(b"")
    with pytest.raises(
        DataFileError, match=r"image file .*img_dir/train/train_00000\.png' is empty \(0 bytes\)"
    ):
        _first_sample(root)


def test_zero_byte_label_is_named(dataset_root, tmp_path):
    root, _, ann = _broken_copy(dataset_root, tmp_path)
    ann.write_bytes(b"")
    with pytest.raises(DataFileError, match=r"label file .*train_00000\.png.* is empty"):
        _first_sample(root)


def test_rgb_label_with_values_in_range_is_refused(dataset_root, tmp_path):
    root, _, ann = _broken_copy(dataset_root, tmp_path)
    label = cv2.imread(str(ann), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(ann), np.stack([label] * 3, axis=-1))  # values 0..4 in each channel
    with pytest.raises(DataFileError, match=r"train_00000\.png.* RGB PNG"):
        _first_sample(root)


def test_validate_seg_map_rejects_a_three_channel_label():
    results = dict(
        img=np.zeros((8, 8, 3), np.uint8),
        gt_seg_map=np.zeros((8, 8, 3), np.uint8),
        img_path="a.jpg",
        seg_map_path="a.png",
    )
    with pytest.raises(ValueError, match=r"'a\.png' has shape \(8, 8, 3\)"):
        ValidateSegMap(num_classes=5).transform(results)


def test_sixteen_bit_label_is_refused_with_its_values(dataset_root, tmp_path):
    root, _, ann = _broken_copy(dataset_root, tmp_path)
    label = cv2.imread(str(ann), cv2.IMREAD_UNCHANGED).astype(np.uint16)
    label[0, 0], label[0, 1] = 258, 300
    cv2.imwrite(str(ann), label)
    assert cv2.imread(str(ann), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    with pytest.raises(
        DataFileError, match=r"train_00000\.png.* 16-bit PNG with values \[258, 300\].*\[2, 44\]"
    ):
        _first_sample(root)


def test_sixteen_bit_label_within_eight_bits_loads(dataset_root, tmp_path):
    root, _, ann = _broken_copy(dataset_root, tmp_path)
    label = cv2.imread(str(ann), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(ann), label.astype(np.uint16))
    sample = _first_sample(root)
    assert np.array_equal(sample["data_samples"].gt_sem_seg.data[0].numpy(), label)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("random.pth", np.random.default_rng(1).integers(0, 256, 1000, dtype=np.uint8).tobytes()),
        ("text.pth", b"this is not a checkpoint\nsecond line\n"),
        ("empty.pth", b""),
    ],
)
def test_corrupt_checkpoint_is_named_without_a_pickle_fallback(tmp_path, monkeypatch, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    modes = []
    real_load = torch.load

    def recording_load(*args, weights_only=None, **kwargs):
        modes.append(weights_only)
        return real_load(*args, weights_only=weights_only, **kwargs)

    monkeypatch.setattr(torch, "load", recording_load)
    with pytest.raises(CorruptCheckpointError, match=rf"'.*{name}' is not a readable torch checkpoint"):
        load_trusted_local_checkpoint(str(path))
    assert modes == [True]  # never reloaded as a full pickle


def test_truncated_full_pickle_checkpoint_is_named(tmp_path):
    from mmengine.logging import HistoryBuffer

    path = tmp_path / "legacy.pth"
    torch.save({"hub": HistoryBuffer([1.0], [1])}, path, _use_new_zipfile_serialization=False)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(CorruptCheckpointError, match="legacy.pth"):
        load_trusted_local_checkpoint(str(path))


def _tool_config(config: Path, dataset_root: Path, tmp_path: Path, options: dict | None = None):
    base = {
        f"{loader}.dataset.data_root": str(dataset_root) for loader in ("train_dataloader", "val_dataloader")
    }
    base["test_dataloader.dataset.data_root"] = str(dataset_root)
    return load_tool_config(str(config), {**base, **(options or {})}, "none", str(tmp_path / "work"))


def test_fewer_head_classes_than_dataset_classes_is_an_error(dataset_root, tmp_path):
    options = {"model.decode_head.num_classes": 4}
    with pytest.raises(
        ValueError, match=r"model\.decode_head\.num_classes=4 but train_dataloader.*has 5 classes"
    ):
        _tool_config(DEMO, dataset_root, tmp_path, options)


def test_auxiliary_head_is_checked_too(dataset_root, tmp_path):
    cfg = Config.fromfile(str(FCN))
    cfg.model.auxiliary_head.num_classes = 3
    with pytest.raises(ValueError, match=r"model\.auxiliary_head\.num_classes=3 .* 5 classes"):
        check_num_classes(cfg)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_more_head_classes_than_dataset_classes_warns(dataset_root, tmp_path):
    from mmengine.logging import MMLogger

    logger = MMLogger.get_current_instance()
    handler = _Collect()
    records = handler.messages
    logger.addHandler(handler)
    try:
        _tool_config(DEMO, dataset_root, tmp_path, {"model.decode_head.num_classes": 7})
    finally:
        logger.removeHandler(handler)
    assert any("model.decode_head.num_classes=7" in r and "only 5 classes" in r for r in records), records


def test_misspelled_key_in_a_file_names_the_close_match(tmp_path):
    config = tmp_path / "typo.py"
    config.write_text(f"_base_ = [{str(DEMO)!r}]\ntrain_dataloder = dict(batch_size=2)\nmy_helper = 3\n")
    cfg = Config.fromfile(str(config))
    messages = warn_unread_keys(cfg)
    assert len(messages) == 1, messages
    assert "'train_dataloder'" in messages[0] and "did you mean 'train_dataloader'" in messages[0]
    assert str(config) in messages[0]


def test_misspelled_key_in_cfg_options_is_reported(tmp_path):
    cfg = Config.fromfile(str(DEMO))
    options = {"optim_wraper.optimizer.lr": 0.1}
    cfg.merge_from_dict(options)
    messages = warn_unread_keys(cfg, options)
    assert len(messages) == 1 and "--cfg-options" in messages[0] and "'optim_wrapper'" in messages[0]


def test_correct_configs_give_no_key_warning():
    for config in (DEMO, FCN, REPO / "configs/ranet/ranet_r101-d8_4xb2-80k_cityscapes-769x769.py"):
        assert warn_unread_keys(Config.fromfile(str(config))) == [], config


@pytest.mark.parametrize(
    "option, value, match",
    [
        ("model.test_cfg.mod", "slide", "model.test_cfg.mode"),  # would infer whole images
        ("val_evaluator.0.iou_metricss", ["mDice"], "val_evaluator.0.iou_metrics"),  # IoUMetric's **kwargs
        (
            "train_dataloader.dataset.data_prefix.img_pth",
            "img_dir/val",
            "train_dataloader.dataset.data_prefix.img_path",
        ),
        ("env_cfg.cudnn_benchmar", True, "env_cfg.cudnn_benchmark"),
        (
            "default_hooks.checkpoint.intervall",
            2,
            "default_hooks.checkpoint.interval",
        ),  # failed at the first save
    ],
)
def test_misspelled_nested_key_is_an_error_with_the_close_match(dataset_root, tmp_path, option, value, match):
    with pytest.raises(ValueError, match="misspelled config keys") as error:
        _tool_config(DEMO, dataset_root, tmp_path, {option: value})
    assert f"{option} (from --cfg-options)" in str(error.value)
    assert f"did you mean {match}?" in str(error.value)


def test_misspelled_hook_argument_in_a_file_is_named_with_the_file(dataset_root, tmp_path):
    config = tmp_path / "hook_typo.py"
    config.write_text(
        f"_base_ = [{str(DEMO)!r}]\n"
        "custom_hooks = [dict(type='EmptyCacheHook', after_epcoh=False, priority='LOW')]\n"
        "model = dict(test_cfg=dict(mode='slide', crop_size=(64, 64), strid=(32, 32)))\n"
    )
    with pytest.raises(ValueError) as error:
        _tool_config(config, dataset_root, tmp_path)
    message = str(error.value)
    assert f"custom_hooks.0.after_epcoh (from config {str(config)!r})" in message
    assert "an argument of EmptyCacheHook; did you mean custom_hooks.0.after_epoch?" in message
    assert "did you mean model.test_cfg.stride?" in message


def test_correct_configs_have_no_misspelled_nested_key():
    configs = [path for path in sorted((REPO / "configs").rglob("*.py")) if "_base_" not in path.parts]
    assert len(configs) > 10
    for config in configs:
        assert nested_key_typos(Config.fromfile(str(config))) == [], config


def test_image_of_random_bytes_is_named(dataset_root, tmp_path):
    root, img, _ = _broken_copy(dataset_root, tmp_path)
    img.write_bytes(np.random.default_rng(2).integers(0, 256, 300, dtype=np.uint8).tobytes())
    with pytest.raises(
        DataFileError, match=r"image file .*img_dir/train/train_00000\.png.* could not be read"
    ):
        _first_sample(root)
