"""YouTube-VOS loader and its conversion to the DAVIS layout (module and command line)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vos_recommender.data import DavisDataset, YouTubeVOSDataset, convert_youtube_vos, write_mask


def _make_youtube_vos(root: Path, with_gap: bool = False) -> None:
    """A two-video YouTube-VOS folder with non-contiguous object ids and 5-frame spacing."""
    rng = np.random.default_rng(0)
    meta = {"videos": {}}
    for vid, ids in (("0a1b2c", (3, 5)), ("ffee01", (2,))):
        img_dir = root / "train" / "JPEGImages" / vid
        ann_dir = root / "train" / "Annotations" / vid
        img_dir.mkdir(parents=True)
        ann_dir.mkdir(parents=True)
        meta["videos"][vid] = {"objects": {str(i): {"category": "thing", "frames": []} for i in ids}}
        for t in range(0, 20, 5):
            name = f"{t:05d}"
            Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(img_dir / f"{name}.jpg")
            if with_gap and vid == "ffee01" and t == 10:
                continue
            mask = np.zeros((24, 32), dtype=np.uint8)
            for k, obj in enumerate(ids):
                mask[4 + 6 * k : 8 + 6 * k, 2 + t : 8 + t] = obj
            write_mask(ann_dir / f"{name}.png", mask)
    (root / "train" / "meta.json").write_text(json.dumps(meta))


def test_youtube_vos_raw_layout(tmp_path: Path) -> None:
    _make_youtube_vos(tmp_path / "ytvos")
    dataset = YouTubeVOSDataset(tmp_path / "ytvos", "train")
    assert dataset.sequences == ["0a1b2c", "ffee01"]
    sample = dataset["0a1b2c"]
    assert sample.frames.shape == (4, 24, 32, 3)
    assert sample.frame_names == ["00000", "00005", "00010", "00015"]
    assert sample.num_objects == 5
    assert sample.scribbles == []


def test_youtube_vos_missing_annotation(tmp_path: Path) -> None:
    _make_youtube_vos(tmp_path / "ytvos", with_gap=True)
    with pytest.raises(ValueError, match="00010"):
        YouTubeVOSDataset(tmp_path / "ytvos")["ffee01"]
    lenient = YouTubeVOSDataset(tmp_path / "ytvos", require_all_masks=False)
    assert lenient["ffee01"].frame_names == ["00000", "00005", "00015"]
    with pytest.raises(FileNotFoundError, match="valid"):
        YouTubeVOSDataset(tmp_path / "ytvos", "valid")


def test_youtube_vos_converts_to_davis_layout(tmp_path: Path) -> None:
    _make_youtube_vos(tmp_path / "ytvos")
    out = convert_youtube_vos(tmp_path / "ytvos", tmp_path / "davis", "train")
    dataset = DavisDataset(out, "train")
    assert dataset.sequences == ["0a1b2c", "ffee01"]
    sample = dataset["0a1b2c"]
    assert sample.num_objects == 2  # ids 3 and 5 renumbered 1 and 2
    assert set(np.unique(sample.masks).tolist()) == {0, 1, 2}
    raw = YouTubeVOSDataset(tmp_path / "ytvos")["0a1b2c"]
    np.testing.assert_array_equal(sample.frames, raw.frames)  # copied byte for byte
    np.testing.assert_array_equal(sample.masks == 2, raw.masks == 5)
    with Image.open(out / "Annotations" / "480p" / "0a1b2c" / "00000.png") as img:
        assert img.mode == "P"


def test_convert_command_line(tmp_path: Path) -> None:
    from vos_recommender.data.convert import main as convert_main

    _make_youtube_vos(tmp_path / "ytvos", with_gap=True)
    with pytest.raises(ValueError, match="require_all_masks"):
        convert_main(["--src", str(tmp_path / "ytvos"), "--dst", str(tmp_path / "strict")])
    convert_main(
        ["--src", str(tmp_path / "ytvos"), "--dst", str(tmp_path / "out"), "--dst-split", "val"]
        + ["--skip-unannotated", "--max-sequences", "1"]
    )
    assert DavisDataset(tmp_path / "out", "val").sequences == ["0a1b2c"]
