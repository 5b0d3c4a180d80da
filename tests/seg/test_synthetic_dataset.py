"""The generated segmentation dataset: determinism, layout, loading, and that context decides the class."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS

from mmseg_ranet.datasets.generate import (
    CLASSES,
    CUE_COLOURS,
    SceneConfig,
    generate_dataset,
    generate_scene,
    main,
)

REPO = Path(__file__).resolve().parents[2]
BASE = REPO / "configs/_base_/datasets/synthetic_context.py"


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.png")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory) -> Path:
    return generate_dataset(
        tmp_path_factory.mktemp("synth"),
        num_train=6,
        num_val=3,
        cfg=SceneConfig(size=64, object_radius=(10, 16), cue_radius=2),
    )


def test_same_seed_same_bytes(tmp_path, small_dataset):
    again = generate_dataset(
        tmp_path / "again",
        num_train=6,
        num_val=3,
        cfg=SceneConfig(size=64, object_radius=(10, 16), cue_radius=2),
    )
    assert _digest(again) == _digest(small_dataset)
    other = generate_dataset(
        tmp_path / "other",
        num_train=6,
        num_val=3,
        cfg=SceneConfig(size=64, object_radius=(10, 16), cue_radius=2, seed=1),
    )
    assert _digest(other) != _digest(small_dataset)


def test_default_output_is_unchanged(tmp_path):
    """The default (context) scenes of seed 0 stay pixel for pixel what they were before the objects scenes.

    The digest is over the decoded pixels (not the PNG bytes, which depend on the encoder's version).
    """
    root = generate_dataset(tmp_path / "default", num_train=3, num_val=2, cfg=SceneConfig())
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.png")):
        array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        h.update(path.relative_to(root).as_posix().encode())
        h.update(str(array.shape).encode())
        h.update(array.tobytes())
    assert h.hexdigest() == "2dd2c5cd101ff44e89694cb0137b3f4c1202a07523dc99175358fcdc4ffcabe2"


def test_layout_is_mmseg_standard(small_dataset):
    for split, n in (("train", 6), ("val", 3)):
        imgs = sorted(p.name for p in (small_dataset / "img_dir" / split).glob("*.png"))
        anns = sorted(p.name for p in (small_dataset / "ann_dir" / split).glob("*.png"))
        assert len(imgs) == n and imgs == anns
        label = cv2.imread(str(small_dataset / "ann_dir" / split / anns[0]), cv2.IMREAD_UNCHANGED)
        assert label.ndim == 2 and label.dtype == np.uint8 and label.max() < len(CLASSES)
    assert (small_dataset / "meta.json").is_file()


def test_each_object_has_one_cue_of_its_class_colour():
    cfg = SceneConfig(noise_std=0.0, cue_jitter=0.0)
    for i in range(5):
        image, label, objects = generate_scene(cfg, np.random.default_rng(i))
        assert objects, "a scene must contain at least one visible object"
        for obj in objects:
            r, c = obj.cue_center
            assert label[r, c] == obj.class_id
            assert tuple(image[r, c]) == CUE_COLOURS[obj.class_id]


def test_texture_does_not_tell_the_class():
    """Away from its cue, an object's appearance must not predict its class (otherwise no context is needed).

    Every texture of the shared pool is used by objects of several classes, and a nearest-centroid classifier
    on the mean colour of the non-cue pixels stays near chance, while the colour at the cue is exact.
    """
    cfg = SceneConfig(noise_std=0.0, cue_jitter=0.0)
    feats, classes, cue_hits = [], [], 0
    for i in range(120):
        image, label, objects = generate_scene(cfg, np.random.default_rng(1000 + i))
        yy, xx = np.mgrid[: cfg.size, : cfg.size]
        for obj in objects:
            r, c = obj.cue_center
            far = (label == obj.class_id) & (np.hypot(yy - r, xx - c) > 3 * cfg.cue_radius)
            if far.sum() < 20:
                continue
            feats.append(image[far].mean(0))
            classes.append(obj.class_id)
            cue_hits += int(
                np.argmin([np.abs(np.subtract(image[r, c], col)).sum() for col in CUE_COLOURS[1:]]) + 1
                == obj.class_id
            )
    feats, classes = np.asarray(feats), np.asarray(classes)
    half = len(feats) // 2
    centroids = np.stack([feats[:half][classes[:half] == k].mean(0) for k in range(1, len(CLASSES))])
    pred = np.argmin(((feats[half:, None] - centroids[None]) ** 2).sum(-1), axis=1) + 1
    accuracy = (pred == classes[half:]).mean()
    assert accuracy < 0.45, (
        f"appearance away from the cue predicts the class ({accuracy:.2f}); chance is 0.25"
    )
    assert cue_hits == len(classes)


def test_cue_radius_controls_difficulty(tmp_path):
    """Larger objects put their pixels farther from the cue: the stat written in meta.json must follow."""
    import json

    small = generate_dataset(tmp_path / "s", 4, 2, SceneConfig(size=96, object_radius=(8, 10)))
    large = generate_dataset(tmp_path / "l", 4, 2, SceneConfig(size=96, object_radius=(24, 28)))
    d_small = json.loads((small / "meta.json").read_text())["stats"]["train"]["mean_cue_distance_px"]
    d_large = json.loads((large / "meta.json").read_text())["stats"]["train"]["mean_cue_distance_px"]
    assert d_large > 1.5 * d_small


@pytest.mark.parametrize(
    "bad", [dict(cue_radius=0), dict(object_radius=(10, 80)), dict(num_objects=(3, 1)), dict(size=8)]
)
def test_bad_settings_name_the_setting(bad):
    key = next(iter(bad))
    with pytest.raises(ValueError, match=key):
        SceneConfig(**bad).validate()


def test_cli_writes_dataset(tmp_path, capsys):
    assert (
        main(
            [
                "--out",
                str(tmp_path / "d"),
                "--num-train",
                "2",
                "--num-val",
                "1",
                "--size",
                "64",
                "--object-radius",
                "10,14",
            ]
        )
        == 0
    )
    assert "wrote 2 train and 1 val" in capsys.readouterr().out
    assert len(list((tmp_path / "d/img_dir/train").glob("*.png"))) == 2


def _dataset_cfg(root: Path, split: str = "train"):
    cfg = Config.fromfile(str(BASE))
    ds = copy.deepcopy(cfg[f"{split}_dataloader"].dataset)
    ds.data_root = str(root)
    return ds


def test_registered_dataset_loads_through_the_pipeline(small_dataset):
    import mmseg_ranet  # noqa: F401

    init_default_scope("mmseg")
    dataset = DATASETS.build(_dataset_cfg(small_dataset))
    assert len(dataset) == 6
    assert dataset.metainfo["classes"] == CLASSES
    sample = dataset[0]
    assert tuple(sample["inputs"].shape) == (3, 64, 64)
    assert sample["data_samples"].gt_sem_seg.data.max() < len(CLASSES)


def test_missing_data_root_names_the_folder(tmp_path):
    import mmseg_ranet  # noqa: F401

    init_default_scope("mmseg")
    with pytest.raises(FileNotFoundError, match="does_not_exist"):
        DATASETS.build(_dataset_cfg(tmp_path / "does_not_exist"))


def test_label_of_wrong_size_names_both_files(small_dataset, tmp_path):
    import shutil

    import mmseg_ranet  # noqa: F401

    init_default_scope("mmseg")
    root = tmp_path / "broken"
    shutil.copytree(small_dataset, root)
    ann = root / "ann_dir/train/train_00000.png"
    cv2.imwrite(str(ann), np.zeros((40, 50), np.uint8))
    dataset = DATASETS.build(_dataset_cfg(root))
    with pytest.raises(ValueError, match=r"train_00000\.png.*50x40.*64x64"):
        dataset[0]


def test_corrupt_label_values_are_rejected(small_dataset, tmp_path):
    import shutil

    import mmseg_ranet  # noqa: F401

    init_default_scope("mmseg")
    root = tmp_path / "corrupt"
    shutil.copytree(small_dataset, root)
    ann = root / "ann_dir/train/train_00000.png"
    label = cv2.imread(str(ann), cv2.IMREAD_UNCHANGED)
    label[0, 0] = 77
    cv2.imwrite(str(ann), label)
    dataset = DATASETS.build(_dataset_cfg(root))
    with pytest.raises(ValueError, match=r"values \[77\]"):
        dataset[0]
