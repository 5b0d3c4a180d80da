"""Generator presets: the default output is pinned byte for byte; ``shifted`` is a different distribution."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from vos_recommender.data.generate import PRESETS, generate_davis_dataset, get_preset
from vos_recommender.data.generate import main as generate_main
from vos_recommender.data.synthesis import MotionSettings, synthesize_video

SMALL = dict(num_train=2, num_val=1, num_frames=6, height=64, width=96, max_objects=3)
#: SHA-256 of every file (relative path + bytes, sorted) of ``generate_davis_dataset(seed=3, **SMALL)``,
#: recorded before the presets existed: the default data sets must never change.
DEFAULT_DIGEST = "fa8aadb3c92fdb7a5761783cc8b2107ed23097c54dc224efb2f2a9f25c49285a"


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_default_output_is_byte_identical_to_the_pinned_digest(tmp_path: Path) -> None:
    root = generate_davis_dataset(tmp_path / "d", seed=3, **SMALL)
    assert tree_digest(root) == DEFAULT_DIGEST
    again = generate_davis_dataset(tmp_path / "p", seed=3, preset="default", **SMALL)
    assert tree_digest(again) == DEFAULT_DIGEST


def test_shifted_preset_changes_the_videos_and_is_recorded(tmp_path: Path) -> None:
    root = generate_davis_dataset(tmp_path / "s", seed=3, preset="shifted", **SMALL)
    assert tree_digest(root) != DEFAULT_DIGEST
    info = json.loads((root / "generation.json").read_text())
    assert info["preset"]["name"] == "shifted"
    assert info["preset"]["motion"]["speed_scale"] == PRESETS["shifted"].motion.speed_scale


def test_shifted_motion_is_faster_and_has_more_distractors() -> None:
    shifted = PRESETS["shifted"].motion
    distractors, speeds = {"default": [], "shifted": []}, {"default": [], "shifted": []}
    for seed in range(6):
        for name, motion in (("default", MotionSettings()), ("shifted", shifted)):
            video = synthesize_video(np.random.default_rng(seed), 12, 64, 96, 1, motion=motion)
            distractors[name].append(sum(layer["label"] == 0 for layer in video.events))
            ys, xs = [], []
            for mask in video.masks:
                yy, xx = np.nonzero(mask == 1)
                ys.append(yy.mean() if yy.size else np.nan)
                xs.append(xx.mean() if xx.size else np.nan)
            steps = np.hypot(np.diff(xs), np.diff(ys))
            speeds[name].append(np.nanmean(steps))
    assert min(distractors["shifted"]) >= shifted.min_distractors >= 1
    assert max(distractors["default"]) <= 2
    assert np.mean(speeds["shifted"]) > 1.2 * np.mean(speeds["default"])


def test_command_line_preset_fills_length_and_objects(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    generate_main(["--out", str(out), "--preset", "shifted", "--num-train", "0", "--num-val", "1",
                   "--height", "40", "--width", "64"])  # fmt: skip
    info = json.loads((out / "generation.json").read_text())
    assert info["num_frames"] == PRESETS["shifted"].num_frames
    assert info["max_objects"] == PRESETS["shifted"].max_objects
    frames = list((out / "JPEGImages" / "480p" / "synth-000").glob("*.jpg"))
    assert len(frames) == PRESETS["shifted"].num_frames
    generate_main(["--out", str(tmp_path / "cli2"), "--preset", "shifted", "--frames", "5",
                   "--num-train", "0", "--num-val", "1", "--height", "40", "--width", "64"])  # fmt: skip
    assert json.loads((tmp_path / "cli2" / "generation.json").read_text())["num_frames"] == 5


def test_bad_preset_and_motion_settings_are_named() -> None:
    with pytest.raises(KeyError, match="unknown generator preset 'wild'.*shifted"):
        get_preset("wild")
    with pytest.raises(ValueError, match="speed_scale must be > 0, got 0"):
        MotionSettings(speed_scale=0)
    with pytest.raises(ValueError, match="min_distractors <= max_distractors, got 3 and 1"):
        MotionSettings(min_distractors=3, max_distractors=1)
    with pytest.raises(KeyError, match="unknown generator preset"):
        generate_davis_dataset("/nonexistent-never-written", preset="nope", **SMALL)
