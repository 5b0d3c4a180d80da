"""The native ATNet backend: the round contract on a generated video, weights, errors and input encoding."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.vos.generated import generated_videos
from vos_recommender.backends import BACKENDS, build_backend
from vos_recommender.backends.native.atnet import NativeATNetBackend
from vos_recommender.backends.native.atnet_inputs import (
    blend_weight,
    bresenham,
    pad_info,
    propagation_order,
    scribble_maps,
)
from vos_recommender.interaction.robot import InteractiveRobot

MANIFEST = Path(__file__).parent / "data" / "manifests" / "atnet.json"


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    folder = tmp_path_factory.mktemp("atnet_video")
    videos = generated_videos(
        folder, split="val", num_train=0, num_val=1, num_frames=5, height=48, width=64, max_objects=2, seed=3
    )
    return videos[0]


def test_registry_names_point_at_native_and_authors_backends():
    from vos_recommender.backends.authors.atnet import ATNetBackend

    assert BACKENDS.get("atnet") is NativeATNetBackend and BACKENDS.get("atnet_authors") is ATNetBackend
    assert NativeATNetBackend.simulated_user == {"min_nb_nodes": 2} == ATNetBackend.simulated_user


def test_two_rounds_on_cpu_with_random_weights(video):
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match="randomly initialised"):
        backend = build_backend("atnet", config="cpu")
    num_frames, height, width = video.masks.shape
    backend.start_video(video.frames, video.num_objects, video_id=video.name)
    scribble = video.scribbles[0]
    frame = next(t for t, strokes in enumerate(scribble["scribbles"]) if strokes)
    first = backend.interact(scribble, frame)
    assert first.masks.shape == (num_frames, height, width) and first.masks.dtype == np.uint8
    assert first.probs.shape == (num_frames, video.num_objects + 1, height, width)
    np.testing.assert_allclose(first.probs.sum(axis=1), 1.0, atol=1e-5)
    raw = backend.object_probs
    assert raw.shape == (num_frames, video.num_objects, height, width)
    assert ((raw >= 0) & (raw <= 1)).all()
    # Returned probabilities are ATNet's [prod(1 - p), p_1 .. p_O] divided by their sum.
    unnormalised = np.concatenate([np.prod(1 - raw, axis=1, keepdims=True), raw], axis=1)
    np.testing.assert_allclose(first.probs, unnormalised / unnormalised.sum(axis=1, keepdims=True), atol=1e-6)
    # Labels follow ATNet's rule: the most probable object where it exceeds 0.8, else background.
    best = raw.max(axis=1)
    want = np.where(best > 0.8, raw.argmax(axis=1) + 1, 0)
    np.testing.assert_array_equal(first.masks, want)
    robot = InteractiveRobot(**backend.simulated_user)
    correction = robot.interact(video.name, first.masks, video.masks, nb_objects=video.num_objects)
    second = backend.interact(correction, int(correction["annotated_frame"]))
    assert len(backend._state["anno_r5"]) == 2  # the memory keeps one entry per round
    np.testing.assert_allclose(second.probs.sum(axis=1), 1.0, atol=1e-5)
    backend.reset()
    assert backend.object_probs is None


def test_manifest_shaped_checkpoint_loads_through_weights(tmp_path):
    gen = torch.Generator().manual_seed(0)
    state = {}
    for entry in json.loads(MANIFEST.read_text())["tensors"]:
        dtype = getattr(torch, entry["dtype"])
        state[entry["name"]] = (
            0.01 * torch.randn(entry["shape"], generator=gen)
            if dtype.is_floating_point
            else torch.zeros(entry["shape"], dtype=dtype)
        )
    path = tmp_path / "ATNet-checkpoint.pth"
    torch.save(state, path)
    backend = NativeATNetBackend(weights=path)
    assert torch.equal(backend.net.state_dict()["conv1x1.weight"], state["conv1x1.weight"])


def test_wrong_checkpoint_names_the_file_and_keys(tmp_path):
    path = tmp_path / "other-model.pth"
    torch.save({"head.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(ValueError, match=r"other-model\.pth.*missing.*encoder_6ch.*unexpected.*head\.weight"):
        NativeATNetBackend(weights=path, config="cpu")
    with pytest.raises(FileNotFoundError, match="absent.pth"):
        NativeATNetBackend(weights=tmp_path / "absent.pth", config="cpu")
    with pytest.raises(ValueError, match="config must be one of"):
        NativeATNetBackend(config="tiny")


def test_working_height_resizes_and_outputs_come_back_full_size():
    with pytest.warns(UserWarning):
        backend = NativeATNetBackend(
            config={"depth": 18, "mdim": 16, "working_height": 32}, dtype=torch.float64
        )
    frames = np.random.default_rng(0).integers(0, 255, size=(3, 64, 80, 3), dtype=np.uint8)
    backend.start_video(frames, 1)
    assert backend._state["size"] == (32, 40)
    scribble = {
        "sequence": "toy",
        "scribbles": [[], [{"path": [[0.5, 0.5], [0.6, 0.6]], "object_id": 1}], []],
    }
    result = backend.interact(scribble, 1)
    assert result.masks.shape == (3, 64, 80) and result.probs.shape == (3, 2, 64, 80)
    assert backend._state["prob_maps"].dtype == torch.float64 and result.probs.dtype == np.float32


# ------------------------------------------------------------------------------ input encoding
def test_bresenham_joins_points_and_keeps_both_ends():
    line = bresenham(np.array([[0, 0], [5, 2], [3, 7]]))
    assert line[0].tolist() == [0, 0] and line[-1].tolist() == [3, 7]
    assert [0, 0] in line.tolist() and [5, 2] in line.tolist()
    steps = np.abs(np.diff(line, axis=0)).max(axis=1)
    assert steps.max() <= 1  # connected (8-neighbourhood)
    assert bresenham(np.array([[2, 3]])).tolist() == [[2, 3]]


def test_scribble_maps_offset_dilation_and_negative_region():
    prev = np.zeros((20, 20), dtype=np.int64)
    prev[:, 10:] = 1
    strokes = [
        {"path": [[5 / 20, 6 / 20]], "object_id": 1},  # pixel (x=5, y=6) is written at [5, 4]
        {"path": [[15 / 20, 15 / 20]], "object_id": 2},  # negative for object 1, inside its previous mask
        {"path": [[3 / 20, 15 / 20]], "object_id": 2},  # negative outside object 1's previous mask: dropped
    ]
    positive, negative = scribble_maps(strokes, 1, prev, blur=False)
    # 5 x 5 ellipse: reaches 2 px along the axes, not at (2, 1)
    assert positive[5, 4] == 1 and positive[7, 4] == 1 and positive[5, 6] == 1 and positive[7, 5] == 0
    assert negative[14, 14] == 1 and negative[14, 2] == 0
    blurred, _ = scribble_maps(strokes, 1, prev)
    assert 0 < blurred[5, 4] < 1 and blurred.dtype == np.float32


def test_propagation_order_and_blending():
    assert propagation_order([2], 2, 6) == [2, 1, 0, 2, 3, 4, 5]
    # Stops 99% of the way (rounded) to the neighbouring annotated frames 1 and 7.
    assert propagation_order([1, 7, 4], 4, 10) == [4, 3, 2, 4, 5, 6]
    assert propagation_order([0, 0], 0, 3) == [0, 0, 1, 2]
    assert blend_weight(5, 4, [1, 7, 4], backward=False) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert blend_weight(2, 4, [1, 7, 4], backward=True) == pytest.approx(0.5 + 0.5 * 1 / 3)
    assert blend_weight(2, 4, [4], backward=True) == 1.0


def test_padding_adds_up_to_32_even_on_multiples():
    assert pad_info(96, 100) == ((16, 16), (14, 14))
    assert pad_info(33, 31) == ((15, 16), (0, 1))
