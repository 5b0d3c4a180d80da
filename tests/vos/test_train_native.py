"""Training the native IPN / ATNet: run folder, strict loading into the backends, exact resume, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vos_recommender.backends import build_backend
from vos_recommender.training.native import NativeTrainSettings, parse_args, train
from vos_recommender.training.native.samples import load_training_videos, make_sample


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    from vos_recommender.data.generate import generate_davis_dataset

    root = tmp_path_factory.mktemp("native_train") / "davis"
    return str(
        generate_davis_dataset(root, num_train=2, num_val=1, num_frames=5, height=64, width=96, max_objects=2)
    )


def _settings(data: str, runs: str, model: str, **kwargs) -> NativeTrainSettings:
    base = {
        "model": model,
        "config": "cpu",
        "data": data,
        "runs_dir": runs,
        "name": model,
        "batch_size": 2,
        "steps": 2,
        "threads": 1,
        "save_every": 1,
    }
    base.update(kwargs)
    return NativeTrainSettings(**base)


def _losses(run_dir) -> list[float]:
    return [json.loads(line)["loss"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _one_round(backend, data: str) -> np.ndarray:
    from vos_recommender.data.davis import DavisDataset

    video = DavisDataset(data, split="val")[0]
    frame = next(t for t, strokes in enumerate(video.scribbles[0]["scribbles"]) if strokes)
    backend.start_video(video.frames, int(video.num_objects), video.name)
    result = backend.interact(video.scribbles[0], frame)
    assert result.masks.shape == video.masks.shape
    return result.probs


@pytest.mark.parametrize(
    ("model", "files", "weights"),
    [
        ("ipn", ["I.pth", "P.pth"], lambda run: {"weights": run}),
        ("atnet", ["atnet.pth"], lambda run: {"weights": run / "atnet.pth"}),
    ],
)
def test_training_writes_run_folder_loadable_by_backend(tiny_data, tmp_path, model, files, weights):
    run_dir = train(_settings(tiny_data, str(tmp_path), model))
    for name in ["settings.json", "metrics.jsonl", "resume.pt", *files]:
        assert (run_dir / name).is_file(), name
    assert json.loads((run_dir / "settings.json").read_text())["model"] == model
    losses = _losses(run_dir)
    assert len(losses) == 2 and all(np.isfinite(losses))
    backend = build_backend(model, config="cpu", **weights(run_dir))  # strict loading: raises on any mismatch
    trained = dict(backend.net.state_dict() if model == "atnet" else backend.interaction.state_dict())
    saved = torch.load(run_dir / files[0], weights_only=True)
    assert all(torch.equal(trained[k], v) for k, v in saved.items())
    probs = _one_round(backend, tiny_data)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)


def test_resume_continues_exactly(tiny_data, tmp_path):
    whole = train(_settings(tiny_data, str(tmp_path), "ipn", name="whole", steps=3))
    part = train(_settings(tiny_data, str(tmp_path), "ipn", name="part", steps=1))
    settings, explicit = parse_args(
        ["--name", "part", "--runs-dir", str(tmp_path), "--steps", "3", "--resume"]
    )
    train(settings, explicit)
    assert _losses(part) == _losses(whole)
    assert len(_losses(part)) == 3
    for name in ("I.pth", "P.pth"):
        a, b = torch.load(whole / name, weights_only=True), torch.load(part / name, weights_only=True)
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_drops_log_lines_after_the_saved_step(tiny_data, tmp_path):
    run_dir = train(_settings(tiny_data, str(tmp_path), "ipn", steps=1))
    with open(run_dir / "metrics.jsonl", "a") as log:  # a step logged by a process killed before saving
        log.write(json.dumps({"step": 2, "loss": -1.0}) + "\n")
        log.write('{"step": 3, "lo')  # cut short by the kill
    train(_settings(tiny_data, str(tmp_path), "ipn", steps=2, resume=True), {"steps"})
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2] and -1.0 not in _losses(run_dir)


def test_clear_errors(tiny_data, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        train(_settings(str(tmp_path / "nowhere"), str(tmp_path), "ipn"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty"):
        train(_settings(str(tmp_path / "empty"), str(tmp_path), "ipn", name="e"))
    with pytest.raises(ValueError, match="bn-batches"):
        train(_settings(tiny_data, str(tmp_path), "atnet", name="n", bn_batches=-1))
    with pytest.raises(ValueError, match="batch-size"):
        train(_settings(tiny_data, str(tmp_path), "atnet", name="b", batch_size=1))
    with pytest.raises(FileNotFoundError, match="no run to resume"):
        train(_settings(tiny_data, str(tmp_path), "ipn", name="missing", resume=True))
    with pytest.raises(SystemExit):
        parse_args(["--model", "nosuchmodel"])


def test_existing_run_needs_resume_or_overwrite(tiny_data, tmp_path):
    train(_settings(tiny_data, str(tmp_path), "atnet", steps=1, batch_size=2))
    with pytest.raises(FileExistsError, match="--resume"):
        train(_settings(tiny_data, str(tmp_path), "atnet", steps=1))


def test_samples_are_seeded_and_stay_near_the_annotated_frame(tiny_data):
    videos = load_training_videos(tiny_data, "train")
    first = make_sample(videos, np.random.default_rng(3))
    again = make_sample(videos, np.random.default_rng(3))
    assert first.strokes == again.strokes and np.array_equal(first.neighbour, again.neighbour)
    rng = np.random.default_rng(0)
    for _ in range(20):
        sample = make_sample(videos, rng)
        assert sample.frame.shape[:2] == sample.target.shape == sample.next_target.shape
        assert set(np.unique(sample.target)) <= {0.0, 1.0}
        assert sample.prev is None or (0.0 <= sample.prev.min() and sample.prev.max() <= 1.0)
        if sample.prev is None:  # a first round: nothing segmented yet
            assert not sample.prev_labels.any()
