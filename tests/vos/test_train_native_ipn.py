"""IPN's training inputs are the backend's, tensor for tensor; its loss counts small objects fully."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from vos_recommender.backends import build_backend
from vos_recommender.backends.native.ipn_scribbles import object_scribble_maps
from vos_recommender.training.native.ipn import IPNTrainer, soft_jaccard_loss
from vos_recommender.training.native.samples import load_training_videos, make_sample


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    from vos_recommender.data.generate import generate_davis_dataset

    root = tmp_path_factory.mktemp("native_train_ipn") / "davis"
    return str(
        generate_davis_dataset(root, num_train=2, num_val=0, num_frames=5, height=64, width=96, max_objects=2)
    )


def _samples(data: str, first_round: bool, count: int = 3):
    videos = load_training_videos(data, "train")
    rng = np.random.default_rng(0)
    found = []
    while len(found) < count:
        sample = make_sample(videos, rng)
        if (sample.prev is None) == first_round:
            found.append(sample)
    return videos, found


class _EncoderInputs:
    """Records what an ``Encoder`` is called with."""

    def __init__(self, encoder: torch.nn.Module) -> None:
        self.calls: list[tuple[torch.Tensor, ...]] = []
        encoder.register_forward_pre_hook(lambda _module, args: self.calls.append(args))


def test_first_round_trainer_inputs_equal_the_backends(tiny_data):
    # A whole first round through the backend: the interaction network's crops and the first
    # propagated frame's crops must be what the trainer feeds the same modules.
    videos, samples = _samples(tiny_data, first_round=True)
    trainer = IPNTrainer("cpu")
    with pytest.warns(UserWarning, match="random"):
        backend = build_backend("ipn", config="cpu")
    seen = _EncoderInputs(backend.interaction.Encoder)
    for sample in samples:
        video = next(v for v in videos if any(np.shares_memory(f, sample.frame) for f in v.frames))
        index = next(t for t, f in enumerate(video.frames) if np.shares_memory(f, sample.frame))
        backend.start_video(np.rint(video.frames * 255).astype(np.uint8), video.num_objects, video.name)
        scribble = {"scribbles": [[] for _ in video.frames]}
        scribble["scribbles"][index] = sample.strokes
        seen.calls.clear()
        backend.interact(scribble, index)
        interaction, _ = trainer.inputs(sample)
        backend_inputs = seen.calls[sample.object_id - 1]
        for name, mine, theirs in zip(("rgb", "prev", "positive", "negative"), interaction, backend_inputs):
            assert torch.allclose(mine, theirs[0], atol=1e-6), name
        backend.reset()


def test_correction_trainer_inputs_equal_the_networks(tiny_data):
    _, samples = _samples(tiny_data, first_round=False)
    trainer = IPNTrainer("cpu").eval()
    seen = _EncoderInputs(trainer.interaction.Encoder)
    for sample in samples:
        positive, negative = object_scribble_maps(sample.strokes, sample.object_id, sample.prev)
        seen.calls.clear()
        with torch.no_grad():
            trainer.interaction(
                torch.from_numpy(sample.frame.transpose(2, 0, 1).copy())[None],
                torch.from_numpy(sample.prev)[None],
                torch.from_numpy(positive)[None],
                torch.from_numpy(negative)[None],
            )
        interaction, _ = trainer.inputs(sample)
        for mine, theirs in zip(interaction, seen.calls[0]):
            assert torch.allclose(mine, theirs[0], atol=1e-6)
        # Background strokes over the previous mask are negative scribbles in a correction.
        assert interaction[3].sum() > 0 or not any(s["object_id"] == 0 for s in sample.strokes)


def _logits(foreground: torch.Tensor, confidence: float = 20.0) -> torch.Tensor:
    return torch.stack([-foreground, foreground], dim=1) * confidence


def test_soft_jaccard_counts_a_missed_small_object_fully():
    target = torch.zeros(1, 64, 64)
    target[0, 30:34, 30:34] = 1.0  # 0.4 % of the crop
    missed = _logits(torch.full((1, 64, 64), -1.0), confidence=2.0)
    assert soft_jaccard_loss(missed, target) > 0.9
    # The pixel-mean cross-entropy of missing it entirely is small: what the Jaccard term adds.
    assert F.cross_entropy(missed, target.long()) < 0.1
    found = _logits(target * 2 - 1)
    assert soft_jaccard_loss(found, target) < 1e-3
    assert soft_jaccard_loss(_logits(torch.full((1, 8, 8), -1.0)), torch.zeros(1, 8, 8)) < 1e-3


def test_trainer_loss_includes_the_jaccard_term(tiny_data):
    videos = load_training_videos(tiny_data, "train")
    rng = np.random.default_rng(1)
    samples = [make_sample(videos, rng) for _ in range(2)]
    trainer = IPNTrainer("cpu")
    losses = trainer.loss(samples)
    rgb, prev, pos, neg, target = (torch.stack(f) for f in zip(*(trainer.inputs(s)[0] for s in samples)))
    logits = trainer.interaction.Decoder(*trainer.interaction.Encoder(rgb, prev, pos, neg))
    binary = (target > 0.5).long()
    expected = F.cross_entropy(logits, binary) + soft_jaccard_loss(logits, binary.float())
    assert torch.allclose(losses["interaction"], expected, atol=1e-5)
    assert torch.allclose(losses["total"], losses["interaction"] + losses["propagation"])
