"""Strict environment input: integer actions only, scribbles that fit the video, DAVIS object numbering."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from tests.vos.generated import generated_videos
from vos_recommender.envs import FrameRecommendationEnv
from vos_recommender.envs.actions import frame_index


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return generated_videos(
        tmp_path_factory.mktemp("strict_data"),
        num_train=2,
        num_val=0,
        num_frames=6,
        height=40,
        width=56,
        max_objects=2,
        seed=5,
    )


def _env(videos, tmp_path, **settings):
    """An environment on ``videos`` whose settings are given by their flat names."""
    defaults = dict(num_rounds=3, num_random_runs=2, stats_dir=tmp_path / "stats", max_frames=8)
    return FrameRecommendationEnv({**defaults, **settings}, videos=videos)


@pytest.mark.parametrize(
    "action, kind",
    [
        ("3", "str"),
        (True, "bool"),
        (False, "bool"),
        (np.bool_(True), "bool"),
        (3.0, "float"),
        (np.float32(3), "float32"),
        (np.array(3.0), r"ndarray of float64 \(\)"),
        (np.array([3]), r"ndarray of int64 \(1,\)"),
        (None, "NoneType"),
    ],
)
def test_non_integer_actions_are_refused_by_name(action, kind):
    with pytest.raises(
        ValueError, match=rf"action .* is not a frame index: it is not an integer \(got {kind}"
    ):
        frame_index(action)


@pytest.mark.parametrize(
    "action", [3, np.int64(3), np.int32(3), np.uint8(3), np.array(3), np.array(3, np.int16)]
)
def test_integer_actions_are_accepted(action):
    assert frame_index(action) == 3 and type(frame_index(action)) is int


def test_env_refuses_string_and_boolean_actions_and_takes_sampled_ones(videos, tmp_path):
    env = _env(videos, tmp_path, goal_reward=False)
    env.reset(seed=0, options={"video": videos[0].name})
    for action in ("3", True, np.bool_(False)):
        with pytest.raises(ValueError, match=f"action {action!r} is not a frame index"):
            env.step(action)
    assert env.unwrapped.episode.round == 1  # nothing was played
    sampled = env.action_space.sample(mask=env.action_masks().astype(np.int8))
    assert isinstance(sampled, np.integer)
    _, _, _, _, info = env.step(sampled)
    assert info["annotated_frames"][-1] == int(sampled)
    _, _, terminated, _, info = env.step(np.array(2))
    assert terminated and info["annotated_frames"][-1] == 2


def test_observation_is_the_shared_layout(videos, tmp_path):
    from vos_recommender.envs.observation import build_observation, observation_space

    env = _env(videos, tmp_path, goal_reward=False)
    assert env.observation_space == observation_space(8, 3)
    obs, info = env.reset(seed=0, options={"video": videos[1].name})
    obs, *_, info = env.step(info["annotated_frames"][0])
    counts = np.bincount(info["annotated_frames"], minlength=videos[1].num_frames)
    np.testing.assert_array_equal(obs, build_observation(info["quality"], counts, 8, max_count=3))


def _with_first_scribble(video, edit):
    scribbles = copy.deepcopy(video.scribbles)
    edit(scribbles[0])
    return dataclasses.replace(video, scribbles=scribbles)


def _strokes(scribble):
    return [stroke for strokes in scribble["scribbles"] for stroke in strokes]


def test_first_scribble_without_strokes_is_refused(videos, tmp_path):
    def clear(scribble):
        scribble["scribbles"] = [[] for _ in scribble["scribbles"]]
        scribble.pop("annotated_frame", None)

    video = _with_first_scribble(videos[0], clear)
    env = _env([video], tmp_path, goal_reward=False)
    env.reset(options={"scribble": 1})  # the video's other scribbles play
    with pytest.raises(
        ValueError, match=rf"video '{video.name}' scribble 0 has no strokes; the first round needs"
    ):
        env.reset(options={"scribble": 0})
    with pytest.raises(RuntimeError, match="reset"):  # the failed reset left no episode to continue
        env.step(1)
    # The goal statistics, which play the same first round, refuse it too.
    with pytest.raises(ValueError, match="scribble 0 has no strokes"):
        _env([video], tmp_path).reset(options={"scribble": 0})


def test_first_robot_scribble_without_strokes_is_refused(videos, tmp_path):
    # Without human scribbles the robot draws round 1 on an empty prediction; one-pixel objects give it
    # nothing to draw.
    masks = np.zeros_like(videos[0].masks)
    masks[:, 10, 10] = 1
    tiny = dataclasses.replace(videos[0], masks=masks, num_objects=1, scribbles=[])
    with pytest.raises(
        ValueError, match=rf"simulated user's first scribble on video '{tiny.name}' \(frame 0.*has no strokes"
    ):
        _env([tiny], tmp_path, goal_reward=False).reset()
    robot_first = dataclasses.replace(videos[0], scribbles=[])
    _, info = _env([robot_first], tmp_path, goal_reward=False).reset()
    assert info["annotated_frames"] == [int(np.argmax((videos[0].masks > 0).sum(axis=(1, 2))))]


def test_stroke_label_outside_the_video_is_refused(videos, tmp_path):
    video = videos[0]

    def relabel(scribble):
        _strokes(scribble)[0]["object_id"] = video.num_objects + 3

    bad = _with_first_scribble(video, relabel)
    frame = next(t for t, strokes in enumerate(bad.scribbles[0]["scribbles"]) if strokes)
    env = _env([bad], tmp_path, goal_reward=False)
    with pytest.raises(
        ValueError,
        match=rf"scribble 0: stroke 0 on frame {frame} has object_id {video.num_objects + 3}; the video's labels "
        rf"are the integers 0 \(background\) to {video.num_objects}",
    ):
        env.reset()


@pytest.mark.parametrize("point", [[1.25, 0.5], [0.5, -0.1], [float("nan"), 0.5]])
def test_stroke_point_outside_the_unit_square_is_refused(videos, tmp_path, point):
    def move(scribble):
        _strokes(scribble)[0]["path"][1] = point

    bad = _with_first_scribble(videos[1], move)
    with pytest.raises(
        ValueError, match=r"scribble 0: stroke 0 on frame \d+ has point \[.*\] outside \[0, 1\]"
    ):
        _env([bad], tmp_path, goal_reward=False).reset()


def test_object_id_gaps_are_refused(videos, tmp_path):
    video = videos[0]
    masks = np.where(video.masks > 0, 1, 0).astype(np.uint8)
    masks[0, :4, :4] = 5  # ids 1 and 5: objects 2..4 do not exist
    gap = dataclasses.replace(video, masks=masks, num_objects=5)
    with pytest.raises(
        ValueError,
        match=rf"video '{video.name}': object ids must be 1\.\.5 .* the masks hold ids \[1, 5\]: ids \[2, 3, 4\] "
        "are missing",
    ):
        _env([gap], tmp_path)
    fewer = dataclasses.replace(video, masks=masks, num_objects=1)
    with pytest.raises(ValueError, match=r"the masks hold ids \[1, 5\]: ids \[5\] exceed num_objects"):
        _env([fewer], tmp_path)
    _env([dataclasses.replace(gap, masks=np.where(masks == 5, 2, masks), num_objects=2)], tmp_path)


def test_object_id_gaps_in_a_dataset_folder_are_refused(tmp_path):
    from vos_recommender.data.davis import write_mask
    from vos_recommender.data.generate import generate_davis_dataset

    root = generate_davis_dataset(
        tmp_path / "gap", num_train=1, num_val=0, num_frames=4, height=40, width=56, max_objects=1, seed=3
    )
    folder = root / "Annotations" / "480p" / "synth-000"
    path = sorted(folder.glob("*.png"))[0]
    mask = np.zeros((40, 56), np.uint8)
    mask[:5, :5] = 4  # a lone object 4 next to object 1
    write_mask(path, mask)
    with pytest.raises(ValueError, match=r"video 'synth-000'.*ids \[1, 4\]: ids \[2, 3\] are missing"):
        FrameRecommendationEnv(
            {"data_root": root, "num_rounds": 2, "num_random_runs": 2, "stats_dir": tmp_path / "stats"}
        )
