"""A resumed segmentation run continues exactly like the uninterrupted one."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmseg_ranet.datasets.generate import SceneConfig, generate_dataset

from .train_runs import DEMO, logged_losses, run, small_options


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return generate_dataset(
        tmp_path_factory.mktemp("resume_data"),
        6,
        2,
        SceneConfig(size=64, object_radius=(10, 16), cue_radius=2),
    )


@pytest.mark.slow
def test_four_iterations_and_resume_to_six_match_six_straight(data_root, tmp_path):
    # The demo config keeps its random flips (drawn in the main process with num_workers=0) and the
    # head's dropout, the two consumers of the generators that a resume used to lose.
    straight = tmp_path / "straight"
    res = run(["tools/train.py", str(DEMO), "--work-dir", str(straight), *small_options(data_root, 6)])
    assert res.returncode == 0, res.stderr[-3000:]
    resumed = tmp_path / "resumed"
    res = run(
        [
            "tools/train.py",
            str(DEMO),
            "--work-dir",
            str(resumed),
            "--resume",
            str(straight / "iter_4.pth"),
            *small_options(data_root, 6),
        ]
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "resumed epoch: 0, iter: 4" in res.stdout + res.stderr
    expected, got = logged_losses(straight), logged_losses(resumed)
    assert sorted(expected) == [1, 2, 3, 4, 5, 6] and sorted(got) == [5, 6], (expected, got)
    for step in (5, 6):
        assert got[step] == pytest.approx(expected[step], rel=1e-6, abs=1e-7), (step, expected, got)
