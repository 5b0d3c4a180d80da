"""The native IPN backend: IVOS-W's per-round contract on CPU, weights, and IPN's scribble inputs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from tests.vos.generated import generated_videos
from tests.vos.test_native_ipn import manifest_state
from vos_recommender.backends import BACKENDS, build_backend
from vos_recommender.backends.native.ipn import NativeIPNBackend, soft_aggregate
from vos_recommender.backends.native.ipn_scribbles import blend_weights, object_scribble_maps
from vos_recommender.interaction.robot import InteractiveRobot


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return generated_videos(
        tmp_path_factory.mktemp("ipn"),
        split="val",
        num_train=0,
        num_val=1,
        num_frames=6,
        height=64,
        width=96,
        max_objects=2,
        seed=1,
    )[0]


def test_registry_names():
    assert BACKENDS.get("ipn") is NativeIPNBackend
    assert BACKENDS.get("ipn_authors").__module__ == "vos_recommender.backends.authors.ipn"
    assert NativeIPNBackend.simulated_user == {"min_nb_nodes": 4}


def test_two_rounds_on_cpu_with_random_weights(video):
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match="random weights"):
        backend = build_backend("ipn", config="cpu")
    num_objects = video.num_objects
    t, h, w = video.masks.shape
    backend.start_video(video.frames, num_objects, video_id=video.name)
    first = video.scribbles[0]
    f1 = int(first["annotated_frame"])
    r1 = backend.interact(first, f1)
    assert r1.masks.shape == (t, h, w) and r1.probs.shape == (t, num_objects + 1, h, w)
    np.testing.assert_allclose(r1.probs.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(r1.masks, r1.probs.argmax(axis=1))
    # Round 2 on another frame: frames beyond the first annotated frame keep round 1's result (blend
    # weight 0), frames between the two change.
    f2 = 0 if f1 > 1 else t - 1
    scribble = InteractiveRobot(seed=0).interact(video.name, r1.masks, video.masks, frame=f2)
    r2 = backend.interact(scribble, f2)
    np.testing.assert_allclose(r2.probs.sum(axis=1), 1.0, atol=1e-5)
    beyond = range(f1, t) if f2 < f1 else range(0, f1 + 1)
    for frame in beyond:
        np.testing.assert_allclose(r2.probs[frame], r1.probs[frame], atol=1e-6)
    assert not np.allclose(r2.probs[f2], r1.probs[f2])
    assert backend.annotated_frames == [f1, f2]
    backend.reset()
    assert backend._probs is None and backend._targets == []


def test_weights_folder_loads_manifest_shaped_checkpoints_strictly(tmp_path):
    states = {file: manifest_state(file, seed=i) for i, file in enumerate(("I.pth", "P.pth"))}
    torch.save({f"module.{k}": v for k, v in states["I.pth"].items()}, tmp_path / "I.pth")
    torch.save(states["P.pth"], tmp_path / "P.pth")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no random-weights warning when both files are given
        backend = NativeIPNBackend(weights=tmp_path)
    assert torch.equal(backend.interaction.Encoder.conv1_m.bias, states["I.pth"]["Encoder.conv1_m.bias"])
    assert torch.equal(backend.propagation.SEFA.fc2.weight, states["P.pth"]["SEFA.fc2.weight"])


def test_wrong_checkpoint_is_named_with_its_bad_keys(tmp_path):
    state = manifest_state("I.pth")
    state.pop("Decoder.ResFM.conv1.weight")
    torch.save(state, tmp_path / "I.pth")
    torch.save(manifest_state("P.pth"), tmp_path / "P.pth")
    with pytest.raises(ValueError, match=r"I\.pth.*missing keys: Decoder\.ResFM\.conv1\.weight"):
        NativeIPNBackend(weights=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"empty/I\.pth"):
        NativeIPNBackend(weights=tmp_path / "empty")
    with pytest.raises(ValueError, match="config must be one of"):
        NativeIPNBackend(config="tiny")


def test_object_scribble_maps_use_background_strokes_only_on_previous_foreground():
    strokes = [
        {"path": [[0.5, 0.5]], "object_id": 1},
        {"path": [[0.1, 0.1]], "object_id": 0},
        {"path": [[0.9, 0.9]], "object_id": 0},
        {"path": [[0.5, 0.1]], "object_id": 2},
    ]
    prev = np.zeros((21, 21), np.float32)
    prev[18, 18] = 0.9  # the object was wrongly predicted under the second background stroke
    positive, negative = object_scribble_maps(strokes, 1, prev)
    assert positive.sum() == 13 and positive[10, 10] == 1  # one point dilated twice by a cross
    assert negative.sum() == 13 and negative[18, 18] == 1 and negative[2, 2] == 0
    assert positive[2, 10] == 0  # object 2's stroke is ignored
    first_round, none = object_scribble_maps(strokes, 1, np.full((21, 21), -1, np.float32))
    assert none.sum() == 0 and first_round.sum() == 13


def test_blend_weights_fall_to_the_neighbouring_annotated_frames():
    left, right, weights = blend_weights(4, [2, 7], 10)
    assert (left, right) == (2, 7)
    np.testing.assert_allclose(weights, [0, 0, 0, 0.5, 1, 2 / 3, 1 / 3, 0, 0, 0])
    assert blend_weights(3, [], 5) == (0, 4, [1.0] * 5)


def test_soft_aggregate_normalises_and_ranks_objects():
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.1]])[:, None, :, None]  # O=2, T=1, H=2, W=1
    out = soft_aggregate(probs)
    assert out.shape == (1, 3, 2, 1)
    torch.testing.assert_close(out.sum(dim=1), torch.ones(1, 2, 1))
    assert out[0, :, 0, 0].argmax() == 1 and out[0, :, 1, 0].argmax() == 0
