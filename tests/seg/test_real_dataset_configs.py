"""The dataset configs' pipelines load files laid out exactly like the real datasets."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS

from .real_formats import WRITERS

REPO = Path(__file__).resolve().parents[2]
MMSEG_BASES = [
    "mmseg::_base_/datasets/cityscapes_769x769.py",
    "mmseg::_base_/datasets/pascal_context_59.py",
    "mmseg::_base_/datasets/coco-stuff164k.py",
]


def _real_dataset_configs() -> list[str]:
    """Every config of ours whose training set is one of the real datasets, plus mmseg's bases for them."""
    found = []
    for path in sorted((REPO / "configs").rglob("*.py")):
        if "_base_" in path.parts:
            continue
        cfg = Config.fromfile(str(path))
        if cfg.get("train_dataloader", {}).get("dataset", {}).get("type") in WRITERS:
            found.append(str(path.relative_to(REPO)))
    return MMSEG_BASES + found


def _load(name: str, tmp_path: Path) -> Config:
    if name.startswith("mmseg::"):
        # Base files are resolved only when inherited from a file.
        wrapper = tmp_path / "inherit.py"
        wrapper.write_text(f"_base_ = [{name!r}]\n")
        return Config.fromfile(str(wrapper))
    return Config.fromfile(str(REPO / name))


@pytest.mark.parametrize("config_name", _real_dataset_configs())
def test_pipeline_loads_real_layout(config_name, tmp_path):
    init_default_scope("mmseg")
    cfg = _load(config_name, tmp_path)
    dataset_type = cfg.train_dataloader.dataset.type
    writer, num_classes = WRITERS[dataset_type]
    root = tmp_path / "data"
    writer(root)
    for loader in ("train_dataloader", "val_dataloader"):
        ds_cfg = copy.deepcopy(cfg[loader].dataset)
        ds_cfg.data_root = str(root)
        dataset = DATASETS.build(ds_cfg)
        assert len(dataset) == 2, (
            f"{config_name} {loader}: expected the 2 written files, found {len(dataset)}"
        )
        sample = dataset[0]
        inputs, data_sample = sample["inputs"], sample["data_samples"]
        assert inputs.ndim == 3 and inputs.shape[0] == 3
        labels = data_sample.gt_sem_seg.data.numpy()
        valid = labels[labels != 255]
        assert valid.size > 0, f"{config_name}: every label was ignored"
        assert valid.max() < num_classes and valid.min() >= 0
        if loader == "train_dataloader":
            crop = cfg.get("crop_size")
            if crop is not None:
                # RandomCrop never returns more than the crop; smaller images are padded later by the
                # data preprocessor.
                assert all(s <= c for s, c in zip(inputs.shape[-2:], crop)), (
                    f"{config_name}: {inputs.shape} vs {crop}"
                )
        # The train pipeline may add a boundary map; it must line up with the labels.
        if "gt_edge_map" in data_sample:
            assert data_sample.gt_edge_map.data.shape == data_sample.gt_sem_seg.data.shape


def test_pascal_context_reduce_zero_label(tmp_path):
    """PASCAL Context 59 stores background as 0; the pipeline must turn it into the ignore index."""
    init_default_scope("mmseg")
    writer, _ = WRITERS["PascalContextDataset59"]
    writer(tmp_path / "data")
    cfg = _load("mmseg::_base_/datasets/pascal_context_59.py", tmp_path)
    ds_cfg = copy.deepcopy(cfg.val_dataloader.dataset)
    ds_cfg.data_root = str(tmp_path / "data")
    ds_cfg.pipeline = [dict(type="LoadImageFromFile"), dict(type="LoadAnnotations", reduce_zero_label=True)]
    dataset = DATASETS.build(ds_cfg)
    sample = dataset[0]
    import cv2

    raw = cv2.imread(sample["seg_map_path"], cv2.IMREAD_UNCHANGED)
    loaded = sample["gt_seg_map"]
    assert np.all(loaded[raw == 0] == 255)
    assert np.all(loaded[raw > 0] == raw[raw > 0] - 1)
