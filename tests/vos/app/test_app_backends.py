"""Any backend by name: the learned backend with its checkpoint, the native IPN / MANet / ATNet adapters."""

from __future__ import annotations

import warnings

import pytest

from tests.vos.app.conftest import first_strokes, open_session


def test_learned_backend_runs_with_its_checkpoint(app_video, tmp_path):
    import torch

    from vos_recommender.backends.learned import InteractionNet, PropagationNet, save_checkpoint

    frames_dir, video = app_video
    torch.manual_seed(0)
    checkpoint = tmp_path / "learned_vos.pt"
    save_checkpoint(checkpoint, InteractionNet(width=4), PropagationNet(width=4), {"width": 4, "scale": 0.5})
    annotator = open_session(frames_dir, tmp_path / "s", video, "learned", {"checkpoint": str(checkpoint)})
    frame, strokes = first_strokes(video)
    annotator.set_strokes(frame, strokes)
    assert annotator.run_round(frame).state == "done"
    assert annotator.state.masks.shape == video.masks.shape
    assert annotator.snapshot()["backend"] == "learned"


@pytest.mark.parametrize("name", ["ipn", "manet", "atnet"])
def test_native_adapters_build_by_name(app_video, tmp_path, name):
    frames_dir, video = app_video
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no released weights here: random initialisation, with a warning
        annotator = open_session(frames_dir, tmp_path / "s", video, name)
    assert annotator.backend.name == name


@pytest.mark.slow
@pytest.mark.parametrize("name", ["atnet", "ipn"])
def test_native_adapters_run_a_round(app_video, tmp_path, name):
    frames_dir, video = app_video
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        annotator = open_session(frames_dir, tmp_path / "s", video, name)
        frame, strokes = first_strokes(video)
        annotator.set_strokes(frame, strokes)
        assert annotator.run_round(frame).state == "done"
    assert annotator.state.masks.shape == video.masks.shape and annotator.state.quality is not None
