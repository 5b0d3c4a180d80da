"""A resumed segmentation run continues exactly like the uninterrupted one."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.seg_runs import logged_losses
from mmseg_ranet.datasets.generate import SceneConfig, generate_dataset

from .train_runs import DEMO, run, small_options


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


def _draw() -> tuple:
    import random

    import numpy as np
    import torch

    return random.random(), float(np.random.rand()), float(torch.rand(1))  # noqa: NPY002


def test_rng_states_restore_after_the_replayed_batches():
    from mmseg_ranet.utils.rng_state import _RestoreAfterReplay, capture_rng_states

    saved = capture_rng_states()
    expected = _draw()  # what the interrupted run drew right after its checkpoint
    proxy = _RestoreAfterReplay(iter(range(10)), replay=3, states=saved)
    replayed = []
    for _ in range(3):
        replayed.append(next(proxy))
        assert _draw() != expected  # the replay (and start-up) draw from other states
    assert replayed == [0, 1, 2]
    assert next(proxy) == 3  # the first new batch: the saved states are back before it is drawn
    assert _draw() == expected


def test_hook_saves_states_and_keeps_validation_out_of_the_training_generators():
    from types import SimpleNamespace

    from mmseg_ranet.utils.rng_state import RNGStateHook, capture_rng_states, restore_rng_states

    hook = RNGStateHook()
    checkpoint: dict = {"meta": {}}
    hook.before_save_checkpoint(None, checkpoint)
    assert set(checkpoint["meta"]["rng_states"]) == {"python", "numpy", "torch", "cuda"}
    _draw()

    state = capture_rng_states()
    expected = _draw()
    restore_rng_states(state)
    hook.before_val(None)
    _draw()  # validation draws
    hook.after_val(None)
    assert _draw() == expected

    # A checkpoint loaded for fine-tuning (iteration 0) must not reset the generators.
    hook.after_load_checkpoint(None, checkpoint)
    state = capture_rng_states()
    expected = _draw()
    restore_rng_states(state)
    hook.before_train(SimpleNamespace(iter=0, epoch=0))
    assert _draw() == expected
