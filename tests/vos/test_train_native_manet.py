"""Training the native MANet: run folder loadable by the backend, exact resume, the backend's inputs."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from vos_recommender.backends import build_backend
from vos_recommender.backends.native.manet import rough_roi
from vos_recommender.interaction.scribbles import rasterize_scribble
from vos_recommender.nets.manet import MANET_CONFIGS
from vos_recommender.training.native import NativeTrainSettings, parse_args, train
from vos_recommender.training.native.manet import MANetTrainer
from vos_recommender.training.native.samples import load_training_videos, make_sample


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    from vos_recommender.data.generate import generate_davis_dataset

    root = tmp_path_factory.mktemp("native_train_manet") / "davis"
    return str(
        generate_davis_dataset(root, num_train=2, num_val=1, num_frames=5, height=64, width=96, max_objects=2)
    )


@pytest.fixture
def small_cpu_config(monkeypatch):
    # The cpu size embeds frames at 240 x 432; the tiny videos' own size keeps these tests short. The
    # trainer and the backend read the same table, so both see the smaller input.
    monkeypatch.setitem(MANET_CONFIGS, "cpu", dataclasses.replace(MANET_CONFIGS["cpu"], input_size=(64, 96)))


def _settings(data: str, runs: str, **kwargs) -> NativeTrainSettings:
    base = {
        "model": "manet",
        "config": "cpu",
        "data": data,
        "runs_dir": runs,
        "name": "manet",
        "batch_size": 2,
        "steps": 2,
        "threads": 1,
        "save_every": 1,
    }
    base.update(kwargs)
    return NativeTrainSettings(**base)


def _losses(run_dir) -> list[float]:
    return [json.loads(line)["loss"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_manet_training_writes_run_folder_loadable_by_backend(tiny_data, tmp_path, small_cpu_config):
    run_dir = train(_settings(tiny_data, str(tmp_path)))
    for name in ("settings.json", "metrics.jsonl", "resume.pt", "manet.pth"):
        assert (run_dir / name).is_file(), name
    losses = _losses(run_dir)
    assert len(losses) == 2 and all(np.isfinite(losses))
    backend = build_backend("manet", config="cpu", weights=run_dir / "manet.pth")  # strict loading
    saved = torch.load(run_dir / "manet.pth", weights_only=True)
    trained = backend.model.state_dict()
    assert all(torch.equal(trained[k], v) for k, v in saved.items())
    # The weights changed from their initialisation: the run trained something.
    torch.manual_seed(0)
    fresh = dict(MANetTrainer("cpu").net.named_parameters())
    assert any(not torch.equal(fresh[k], saved[k]) for k in fresh)
    from vos_recommender.data.davis import DavisDataset

    video = DavisDataset(tiny_data, split="val")[0]
    frame = next(t for t, strokes in enumerate(video.scribbles[0]["scribbles"]) if strokes)
    backend.start_video(video.frames, int(video.num_objects), video.name)
    result = backend.interact(video.scribbles[0], frame)
    assert result.masks.shape == video.masks.shape
    assert np.allclose(result.probs.sum(axis=1), 1.0, atol=1e-4)


def test_manet_resume_continues_exactly(tiny_data, tmp_path, small_cpu_config):
    whole = train(_settings(tiny_data, str(tmp_path), name="whole", steps=3))
    part = train(_settings(tiny_data, str(tmp_path), name="part", steps=1))
    settings, explicit = parse_args(
        ["--name", "part", "--runs-dir", str(tmp_path), "--steps", "3", "--resume"]
    )
    train(settings, explicit)
    assert _losses(part) == _losses(whole) and len(_losses(part)) == 3
    a, b = (torch.load(run / "manet.pth", weights_only=True) for run in (whole, part))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_manet_trainer_inputs_are_the_backends(tiny_data):
    videos = load_training_videos(tiny_data, "train")
    trainer = MANetTrainer("cpu")
    with pytest.warns(UserWarning, match="random"):
        backend = build_backend("manet", config="cpu")
    rng = np.random.default_rng(0)
    seen = {True: 0, False: 0}
    while min(seen.values()) < 2:
        sample = make_sample(videos, rng)
        seen[sample.prev is None] += 1
        uint8 = np.rint(sample.frame * 255).astype(np.uint8)
        assert np.allclose(trainer.image(sample.frame), backend._preprocess(uint8), atol=1e-4)
        size = (60, 108)
        labels = trainer.scribble_labels(sample, size)
        drawn = torch.from_numpy(
            rasterize_scribble({"scribbles": [sample.strokes]}, 0, *size).astype(np.int64)
        )
        if sample.prev is None:  # round 1: the backend keeps only the box around the strokes
            drawn = rough_roi(drawn)
        # The backend's ids, read as the object against the rest.
        expected = torch.where(drawn == -1, drawn, (drawn == sample.object_id).long())
        assert torch.equal(labels, expected)
        assert (labels == 1).any() or not any(s["object_id"] == sample.object_id for s in sample.strokes)


def test_manet_loss_adds_the_jaccard_term():
    from torch.nn import functional as F

    from vos_recommender.training.native.ipn import soft_jaccard_loss

    logits = torch.randn(2, 8, 12, generator=torch.Generator().manual_seed(0))
    target = np.zeros((8, 12), np.float32)
    target[2:5, 3:7] = 1.0
    binary = torch.from_numpy(target).long()[None]
    expected = F.cross_entropy(logits[None], binary) + soft_jaccard_loss(logits[None], binary.float())
    assert torch.allclose(MANetTrainer._loss(logits, target), expected, atol=1e-6)
    # A head that labels everything "rest" is penalised fully by the Jaccard term.
    rest = torch.stack([torch.full((8, 12), 3.0), torch.full((8, 12), -3.0)])
    assert MANetTrainer._loss(rest, target) > F.cross_entropy(rest[None], binary) + 0.9
