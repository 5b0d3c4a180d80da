"""The weight-free flow backend: random walker on scribbles + optical-flow propagation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tests.vos.generated import generated_videos
from vos_recommender.backends import build_backend
from vos_recommender.backends.flow import FlowBackend, warp_probs
from vos_recommender.interaction.robot import InteractiveRobot
from vos_recommender.interaction.scribbles import empty_scribble, scribble_frame
from vos_recommender.metrics.jf import per_frame_jf


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return generated_videos(
        tmp_path_factory.mktemp("flow_data"),
        num_train=6,
        num_val=0,
        num_frames=10,
        height=48,
        width=80,
        seed=3,
    )


def test_warp_matches_shift_reference():
    rng = np.random.default_rng(0)
    probs = rng.uniform(size=(3, 20, 30)).astype(np.float32)
    probs /= probs.sum(axis=0, keepdims=True)
    flow = np.zeros((20, 30, 2), np.float32)
    flow[..., 0] = -2.0  # the new pixel (y, x) reads the source at (y, x - 2): content moves right by 2
    flow[..., 1] = 1.0
    warped = warp_probs(probs, flow)
    ref = np.empty_like(probs)
    for y in range(20):
        for x in range(30):
            ref[:, y, x] = probs[:, min(max(y + 1, 0), 19), min(max(x - 2, 0), 29)]
    np.testing.assert_allclose(warped, ref, atol=1e-5)


def test_two_square_video_segments_and_propagates():
    # A bright square moving right by 2 px per frame on a dark textured background.
    rng = np.random.default_rng(1)
    t, h, w = 6, 40, 60
    frames = np.empty((t, h, w, 3), np.uint8)
    gt = np.zeros((t, h, w), np.uint8)
    for i in range(t):
        frames[i] = rng.integers(20, 60, size=(h, w, 3))
        frames[i, 12:28, 10 + 2 * i : 26 + 2 * i] = rng.integers(190, 230, size=(16, 16, 3))
        gt[i, 12:28, 10 + 2 * i : 26 + 2 * i] = 1
    scribble = empty_scribble("square", t)
    scribble["scribbles"][2] = [
        {"path": [[16 / w, 20 / h], [26 / w, 20 / h]], "object_id": 1},
        {"path": [[2 / w, 4 / h], [55 / w, 4 / h], [55 / w, 36 / h]], "object_id": 0},
    ]
    backend = FlowBackend()
    backend.start_video(frames, 1)
    result = backend.interact(scribble, 2)
    assert result.masks.dtype == np.uint8 and result.probs.dtype == np.float32
    assert result.probs.shape == (t, 2, h, w)
    np.testing.assert_allclose(result.probs.sum(axis=1), 1.0, atol=1e-4)
    jf = per_frame_jf(gt, result.masks, 1)["JF"]
    assert jf[2] > 0.95 and jf.min() > 0.8


def _first_round(backend, video):
    scribble = video.scribbles[0]
    frame = scribble_frame(scribble)
    backend.start_video(video.frames, video.num_objects, video_id=video.name)
    result = backend.interact(scribble, frame)
    return frame, result, per_frame_jf(video.masks, result.masks, video.num_objects)["JF"]


def test_quality_decays_with_distance_from_the_annotated_frame(videos):
    near, far = [], []
    for video in videos:
        frame, _, jf = _first_round(FlowBackend(), video)
        distance = np.abs(np.arange(len(jf)) - frame)
        near.append(jf[distance <= 1].mean())
        far.append(jf[distance >= 5].mean())
    assert np.mean(near) > np.mean(far) + 0.1


def test_correcting_the_worst_frame_improves_it(videos):
    robot = InteractiveRobot()
    gains, means = [], []
    for video in videos:
        backend = FlowBackend()
        _, result, jf = _first_round(backend, video)
        worst = int(np.argmin(jf))
        scribble = robot.interact(video.name, result.masks, video.masks, worst, video.num_objects)
        corrected = backend.interact(scribble, worst)
        jf2 = per_frame_jf(video.masks, corrected.masks, video.num_objects)["JF"]
        gains.append(jf2[worst] - jf[worst])
        means.append(jf2.mean() - jf.mean())
        assert backend.annotated_frames[-1] == worst
    assert np.mean(gains) > 0.1 and np.mean(means) > 0.0


def test_deterministic_and_selected_by_name(videos):
    video = videos[0]
    _, first, _ = _first_round(build_backend("flow"), video)
    _, second, _ = _first_round(build_backend("flow"), video)
    np.testing.assert_array_equal(first.masks, second.masks)
    np.testing.assert_array_equal(first.probs, second.probs)


def test_farneback_option_and_bad_options(videos):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, result, jf = _first_round(FlowBackend(flow_method="farneback"), videos[1])
    assert result.masks.shape == videos[1].masks.shape and np.isfinite(jf).all()
    with pytest.raises(ValueError, match="optical flow"):
        FlowBackend(flow_method="lucas")
    with pytest.raises(ValueError, match="colour_space"):
        FlowBackend(colour_space="hsv")
