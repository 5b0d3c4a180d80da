"""DAVIS loader: round trip on generated data and clear errors on bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vos_recommender.data import (
    DavisDataset,
    davis_palette,
    generate_davis_dataset,
    load_frame_folder,
    read_mask,
    synthesize_video,
    write_mask,
)


@pytest.fixture(scope="module")
def davis_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_davis_dataset(
        tmp_path_factory.mktemp("davis"), num_train=2, num_val=1, num_frames=5, height=48, width=64, seed=7
    )


@pytest.fixture()
def davis_copy(davis_root: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(davis_root, dst)
    return dst


def test_palette_matches_davis_colours() -> None:
    palette = davis_palette()
    assert palette.shape == (256, 3)
    assert tuple(palette[0]) == (0, 0, 0)
    assert tuple(palette[1]) == (128, 0, 0)
    assert tuple(palette[2]) == (0, 128, 0)
    assert tuple(palette[3]) == (128, 128, 0)
    assert tuple(palette[4]) == (0, 0, 128)
    assert tuple(palette[255]) == (224, 224, 192)


def test_loader_round_trip_matches_generator(davis_root: Path) -> None:
    dataset = DavisDataset(davis_root, "train")
    assert dataset.sequences == ["synth-000", "synth-001"]
    assert len(dataset) == 2
    sample = dataset["synth-001"]
    assert sample.frames.shape == (5, 48, 64, 3) and sample.frames.dtype == np.uint8
    assert sample.masks.shape == (5, 48, 64) and sample.masks.dtype == np.uint8
    assert sample.frame_names == ["00000", "00001", "00002", "00003", "00004"]
    assert len(sample.scribbles) == 3
    assert dataset[1].name == "synth-001"


def test_loader_returns_what_the_generator_rendered(tmp_path: Path) -> None:
    """Masks are stored losslessly and frames within JPEG error of the rendered video."""
    rng = np.random.default_rng(11)
    video = synthesize_video(rng, 4, 48, 64, 2)
    seq_dir = tmp_path / "JPEGImages" / "480p" / "clip"
    seq_dir.mkdir(parents=True)
    for t in range(4):
        Image.fromarray(video.frames[t]).save(seq_dir / f"{t:05d}.jpg", quality=95)
        write_mask(tmp_path / "Annotations" / "480p" / "clip" / f"{t:05d}.png", video.masks[t])
    (tmp_path / "ImageSets" / "2017").mkdir(parents=True)
    (tmp_path / "ImageSets" / "2017" / "val.txt").write_text("clip\n")
    sample = DavisDataset(tmp_path, "val")["clip"]
    np.testing.assert_array_equal(sample.masks, video.masks)
    assert sample.num_objects == 2
    assert np.abs(sample.frames.astype(np.int16) - video.frames).mean() < 4.0
    assert sample.scribbles == []


def test_mask_write_read_round_trip(tmp_path: Path) -> None:
    mask = np.zeros((7, 9), dtype=np.uint8)
    mask[1:3, 2:5] = 1
    mask[4:6, 6:8] = 2
    mask[0, 0] = 255
    write_mask(tmp_path / "m.png", mask)
    with Image.open(tmp_path / "m.png") as img:
        assert img.mode == "P"
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png"), mask)


def test_void_pixels_are_kept(tmp_path: Path) -> None:
    mask = np.zeros((4, 4), dtype=np.uint8)
    mask[0] = 255
    write_mask(tmp_path / "v.png", mask)
    assert (read_mask(tmp_path / "v.png") == 255).sum() == 4


def test_missing_root_split_and_sequence(tmp_path: Path, davis_copy: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        DavisDataset(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"ImageSets/2017/test\.txt"):
        DavisDataset(davis_copy, "test")
    shutil.rmtree(davis_copy / "Annotations" / "480p" / "synth-002")
    with pytest.raises(FileNotFoundError, match=r"synth-002"):
        DavisDataset(davis_copy, "val")
    with pytest.raises(KeyError, match="unknown"):
        DavisDataset(davis_copy, "train")["unknown"]


def test_mask_size_mismatch_names_the_file(davis_copy: Path) -> None:
    bad = davis_copy / "Annotations" / "480p" / "synth-000" / "00002.png"
    write_mask(bad, np.zeros((10, 12), dtype=np.uint8))
    with pytest.raises(ValueError, match=r"00002\.png"):
        DavisDataset(davis_copy, "train")["synth-000"]


def test_frame_mask_count_mismatch(davis_copy: Path) -> None:
    (davis_copy / "Annotations" / "480p" / "synth-000" / "00004.png").unlink()
    with pytest.raises(ValueError, match="5 frames .* but 4 annotations"):
        DavisDataset(davis_copy, "train")["synth-000"]


def test_corrupt_png_names_the_file(davis_copy: Path) -> None:
    bad = davis_copy / "Annotations" / "480p" / "synth-001" / "00001.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    with pytest.raises(ValueError, match=r"synth-001/00001\.png"):
        DavisDataset(davis_copy, "train")["synth-001"]


def test_corrupt_jpeg_names_the_file(davis_copy: Path) -> None:
    bad = davis_copy / "JPEGImages" / "480p" / "synth-001" / "00003.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with pytest.raises(ValueError, match=r"synth-001/00003\.jpg"):
        DavisDataset(davis_copy, "train")["synth-001"]


def test_rgb_mask_is_rejected(davis_copy: Path) -> None:
    bad = davis_copy / "Annotations" / "480p" / "synth-001" / "00000.png"
    Image.fromarray(np.zeros((48, 64, 3), dtype=np.uint8)).save(bad)
    with pytest.raises(ValueError, match="palette"):
        DavisDataset(davis_copy, "train")["synth-001"]


def test_scribble_frame_count_must_match(davis_copy: Path) -> None:
    path = davis_copy / "Scribbles" / "synth-000" / "001.json"
    data = json.loads(path.read_text())
    data["scribbles"] = data["scribbles"][:-1]
    data.pop("annotated_frame")
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="001.json"):
        DavisDataset(davis_copy, "train")["synth-000"]


def test_davis_2016_style_split_lines(davis_copy: Path) -> None:
    lines = "/JPEGImages/480p/synth-000/00000.jpg /Annotations/480p/synth-000/00000.png\n"
    (davis_copy / "ImageSets" / "2016").mkdir(parents=True)
    (davis_copy / "ImageSets" / "2016" / "train.txt").write_text(lines)
    assert DavisDataset(davis_copy, "train", year="2016").sequences == ["synth-000"]


def test_load_frame_folder(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    for name in ("b", "a", "c"):
        Image.fromarray(rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)).save(tmp_path / f"{name}.png")
    (tmp_path / "notes.txt").write_text("ignored")
    frames, names = load_frame_folder(tmp_path)
    assert frames.shape == (3, 6, 8, 3)
    assert names == ["a", "b", "c"]
    Image.fromarray(np.zeros((5, 8, 3), dtype=np.uint8)).save(tmp_path / "d.png")
    with pytest.raises(ValueError, match=r"d\.png"):
        load_frame_folder(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_frame_folder(tmp_path / "missing")
