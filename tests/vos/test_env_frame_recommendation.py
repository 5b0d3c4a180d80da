"""The Gymnasium frame-recommendation environment."""

from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import vos_recommender  # noqa: F401  (registers the environment id)
from tests.vos.generated import generated_videos
from vos_recommender.envs import EnvConfig, FrameRecommendationEnv, GoalStatistics
from vos_recommender.envs.config import EpisodeConfig, RewardConfig
from vos_recommender.metrics.auc import round_auc


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return generated_videos(
        tmp_path_factory.mktemp("env_data"),
        num_train=2,
        num_val=0,
        num_frames=6,
        height=40,
        width=56,
        max_objects=2,
        seed=5,
    )


@pytest.fixture(scope="module")
def stats_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("goal_stats")


def _env(videos, stats_dir, render_mode=None, **settings):
    """An environment on ``videos`` whose settings are given by their flat names."""
    config = EnvConfig.from_dict(
        {"num_rounds": 3, "num_random_runs": 3, "stats_dir": stats_dir, "max_frames": 8, **settings}
    )
    return FrameRecommendationEnv(config, videos=videos, render_mode=render_mode)


@pytest.mark.parametrize("padding", [False, True])
def test_checkers_pass(videos, stats_dir, padding):
    # The checkers sample actions without masks: padded frames need invalid_action="skip".
    kwargs = dict(max_frames=8, invalid_action="skip") if padding else dict(max_frames=0)
    check_env(_env(videos, stats_dir, **kwargs), skip_render_check=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*unconventional shape")
        sb3_check_env(_env(videos, stats_dir, **kwargs), warn=True)


def test_skipped_padded_action(videos, stats_dir):
    env = _env(videos, stats_dir, invalid_action="skip")
    obs, info = env.reset(seed=0, options={"video": videos[0].name})
    obs2, reward, terminated, _, info2 = env.step(7)
    assert info2["invalid_action"] == 7 and reward == -1.0 and not terminated
    np.testing.assert_array_equal(obs2[1], obs[1])  # nothing was annotated
    np.testing.assert_array_equal(info2["jf"], info["jf"])
    with pytest.raises(ValueError, match="action 8 is outside"):
        env.step(8)


def test_registered_id_builds_the_env(videos, stats_dir):
    config = EnvConfig(
        episode=EpisodeConfig(num_rounds=2), reward=RewardConfig(num_random_runs=2, stats_dir=str(stats_dir))
    )
    env = gymnasium.make("vos_recommender/FrameRecommendation-v0", config=config, videos=videos)
    assert isinstance(env.unwrapped, FrameRecommendationEnv)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (3, 6) and env.action_space.n == 6
    assert env.unwrapped.config == config and env.unwrapped.num_rounds == 2
    # A nested mapping and the flat names read the same.
    nested = {"episode": {"num_rounds": 2}, "reward": {"num_random_runs": 2, "stats_dir": str(stats_dir)}}
    flat = {"num_rounds": 2, "num_random_runs": 2, "stats_dir": stats_dir}
    for settings in (nested, flat):
        made = gymnasium.make("vos_recommender/FrameRecommendation-v0", config=settings, videos=videos)
        assert made.unwrapped.config == config


def test_spaces_observation_and_masks(videos, stats_dir):
    env = _env(videos, stats_dir)
    obs, info = env.reset(seed=3, options={"video": videos[0].name})
    assert env.observation_space.contains(obs) and obs.dtype == np.float32
    n = videos[0].num_frames
    np.testing.assert_array_equal(obs[2], [1] * n + [0] * (8 - n))
    np.testing.assert_array_equal(env.action_masks(), obs[2] > 0)
    np.testing.assert_array_equal(info["action_mask"], env.action_masks())
    first = info["annotated_frames"][0]
    assert obs[1, first] == 1 and obs[1].sum() == 1
    np.testing.assert_allclose(obs[0, :n], info["jf"], atol=1e-6)  # oracle quality = true J&F
    assert np.all(obs[:, n:] == 0)


def test_invalid_actions_are_rejected_with_their_value(videos, stats_dir):
    env = _env(videos, stats_dir)
    env.reset(seed=0, options={"video": videos[0].name})
    with pytest.raises(ValueError, match="action 7 is a padded frame"):
        env.step(7)
    with pytest.raises(ValueError, match="action 8 is outside"):
        env.step(8)
    with pytest.raises(ValueError, match="action -1 is outside"):
        env.step(-1)
    with pytest.raises(ValueError, match="not an integer"):
        env.step(2.5)
    with pytest.raises(RuntimeError, match="reset"):
        _env(videos, stats_dir).step(0)


def test_seeded_episodes_are_deterministic(videos, stats_dir):
    def rollout(seed):
        env = _env(videos, stats_dir)
        obs, info = env.reset(seed=seed)
        trace = [obs, info["video"]]
        for action in (1, 4):
            obs, reward, terminated, truncated, info = env.step(action)
            trace += [obs, reward, terminated, info["jf"]]
        return trace

    a, b = rollout(11), rollout(11)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_rewards_on_a_hand_made_case(videos, tmp_path):
    env = _env(videos, tmp_path, num_rounds=3)
    name = videos[0].name
    # Plant the random-recommendation statistics so the expected goal reward is known.
    key = env.goal_statistics_key(name, 0)
    env.stats.put(key, {"mean": [0.5, 0.6, 0.7], "std": [0.1, 0.1, 0.05], "runs": []})
    obs, info = env.reset(seed=0, options={"video": name})
    first = info["annotated_frames"][0]
    repeat = first  # annotated once already: not among the least annotated -> -1
    obs, r1, term1, trunc1, info1 = env.step(repeat)
    assert r1 == -1.0 and info1["reward_aux"] == -1.0 and not term1 and trunc1 is False
    assert isinstance(r1, float) and isinstance(term1, bool)
    assert obs[1, first] == 2
    fresh = (first + 1) % videos[0].num_frames
    obs, r2, term2, _, info2 = env.step(fresh)
    p = info2["jf_mean"]
    expected_goal = (p - (0.7 + 0.05)) / 0.05
    assert term2 and r2 == pytest.approx(expected_goal) and info2["reward_aux"] == 1.0
    assert info1["reward_goal"] == pytest.approx((info1["jf_mean"] - 0.7) / 0.1)
    assert info2["auc"] == pytest.approx(
        round_auc(np.array([info["jf_mean"], info1["jf_mean"], p]), num_rounds=3)
    )
    with pytest.raises(RuntimeError, match="ended"):
        env.step(0)

    # The mean baseline and the released reward form (goal + aux at every round).
    released = _env(videos, tmp_path, num_rounds=3, reward_mode="released", goal_baseline="mean")
    released.stats.put(key, {"mean": [0.5, 0.6, 0.7], "std": [0.1, 0.1, 0.05], "runs": []})
    released.reset(seed=0, options={"video": name})
    _, r, _, _, info = released.step(repeat)
    assert r == pytest.approx((info["jf_mean"] - 0.6) / 0.1 - 1.0)


def test_goal_statistics_are_random_runs_and_cached(videos, tmp_path):
    env = _env(videos, tmp_path, num_random_runs=4)
    record = env.goal_statistics(videos[1].name)
    runs = np.asarray(record["runs"])
    assert runs.shape == (4, 3)
    np.testing.assert_allclose(record["mean"], runs.mean(axis=0))
    np.testing.assert_allclose(record["std"], runs.std(axis=0, ddof=1))
    np.testing.assert_allclose(runs[:, 0], runs[0, 0])  # round 1 is the same first scribble for all
    assert len(list(tmp_path.glob("*.json"))) == 1
    fresh = _env(videos, tmp_path, num_random_runs=4)
    calls = []
    fresh.backend.interact = lambda *a, **k: calls.append(a)  # would fail if the statistics were recomputed
    assert fresh.goal_statistics(videos[1].name) == record and not calls
    with pytest.raises(ValueError, match="num_runs"):
        GoalStatistics(tmp_path, num_runs=1)


def test_cache_is_hit_on_a_second_identical_episode(videos, stats_dir, tmp_path):
    env = _env(videos, stats_dir, cache_dir=tmp_path / "cache", info_timing=True)

    def episode():
        obs, info = env.reset(seed=0, options={"video": videos[0].name})
        jfs = [info["jf"]]
        for action in (2, 5):
            obs, _, _, _, info = env.step(action)
            jfs.append(info["jf"])
        return jfs, info

    before = env.backend.stats()
    first, _ = episode()
    after_first = env.backend.stats()
    scribble_files = list((tmp_path / "cache" / "scribbles").rglob("*.json"))
    assert len(scribble_files) == 2  # the two simulated corrections

    def no_robot(*args, **kwargs):
        raise AssertionError("the simulated user should have been replayed from the cache")

    env.robot.interact = no_robot
    second, info = episode()
    after_second = env.backend.stats()
    assert after_second["hits"] - after_first["hits"] == 3  # all three rounds replayed
    assert after_second["misses"] == after_first["misses"]
    assert after_first["misses"] > before["misses"] or after_first["hits"] > before["hits"]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert info["cache"] == after_second and info["step_time"] > 0 and "elapsed" in info


def test_constructor_validation(videos, stats_dir):
    with pytest.raises(ValueError, match="max_frames"):
        _env(videos, stats_dir, max_frames=3)
    with pytest.raises(ValueError, match="invalid_action"):
        _env(videos, stats_dir, invalid_action="ignore")
    with pytest.raises(ValueError, match="reward.mode must be one of .* got 'dense'"):
        _env(videos, stats_dir, reward_mode="dense")
    with pytest.raises(ValueError, match="data_root"):
        FrameRecommendationEnv()
    with pytest.raises(ValueError, match="session.backend: unknown VOS backend 'nope'"):
        _env(videos, stats_dir, backend="nope")
    with pytest.raises(ValueError, match="unknown setting episode.rounds"):
        FrameRecommendationEnv({"episode": {"rounds": 3}}, videos=videos)
    with pytest.raises(ValueError, match="unknown setting num_round "):
        FrameRecommendationEnv({"num_round": 3}, videos=videos)
    with pytest.raises(ValueError, match="episode.num_rounds must be int, got '3'"):
        FrameRecommendationEnv({"episode": {"num_rounds": "3"}}, videos=videos)
    with pytest.raises(TypeError, match="built objects"):
        FrameRecommendationEnv(videos=videos, backend="flow")


def test_statistics_keys_follow_content_and_settings(videos, stats_dir):
    import dataclasses

    env = _env(videos, stats_dir)
    key = env.goal_statistics_key(videos[0].name)
    assert key == _env(videos, stats_dir).goal_statistics_key(videos[0].name)
    altered = dataclasses.replace(videos[0], frames=255 - videos[0].frames)  # same name, other content
    assert _env([altered, videos[1]], stats_dir).goal_statistics_key(videos[0].name) != key
    assert _env(videos, stats_dir, num_rounds=4).goal_statistics_key(videos[0].name) != key
    assert _env(videos, stats_dir, backend_kwargs={"beta": 900.0}).goal_statistics_key(videos[0].name) != key
    assert env.goal_statistics_key(videos[0].name, 1) != key


def test_render_rgb_array(videos, stats_dir):
    env = _env(videos, stats_dir, render_mode="rgb_array")
    assert env.render() is None  # nothing to show before reset
    env.reset(seed=0, options={"video": videos[0].name})
    first = env.render()
    assert first.dtype == np.uint8 and first.ndim == 3 and first.shape[2] == 3
    height, width = videos[0].frames.shape[1:3]
    assert first.shape[0] > 3 * height and first.shape[1] > 4 * width  # frame strip (x3 scale) + plot
    # The annotated frame's tile shows the predicted masks blended over the frame.
    frame = env.unwrapped.episode.annotated[-1]
    masks = env.unwrapped.episode.result.masks[frame]
    assert (masks > 0).any()
    env.step((frame + 3) % videos[0].num_frames)
    second = env.render()
    assert second.shape == first.shape and second.dtype == np.uint8
    assert (second != first).any()  # a new round changes masks, scribbles, curve and counts
    assert np.array_equal(env.render(), second)  # rendering does not change the state
    with pytest.raises(ValueError, match="render_mode"):
        _env(videos, stats_dir, render_mode="human")


def test_render_draws_masks_and_scribbles():
    from vos_recommender.envs.render import CAPTION_HEIGHT, render_state
    from vos_recommender.interaction.scribbles import empty_scribble

    frames = np.full((5, 40, 60, 3), 128, np.uint8)
    masks = np.zeros((5, 40, 60), np.uint8)
    masks[:, 10:30, 20:40] = 1
    quality = np.array([0.9, 0.8, 0.2, 0.7, 0.6])
    counts = np.array([1, 0, 0, 0, 0])
    kwargs = dict(frames=frames, pred_masks=masks, quality=quality, counts=counts, annotated=[0])
    plain = render_state(scribbles=[], min_tile_height=40, **kwargs)
    scribble = empty_scribble("toy", 5)
    scribble["scribbles"][0] = [{"path": [[0.1, 0.1], [0.9, 0.1]], "object_id": 1}]
    drawn = render_state(scribbles=[(0, scribble)], min_tile_height=40, **kwargs)
    tile = drawn[CAPTION_HEIGHT : CAPTION_HEIGHT + 40, :60]
    assert (tile[20, 30] != 128).any()  # inside the mask: blended with the object colour
    assert np.array_equal(tile[35, 5], [128, 128, 128])  # background untouched
    assert (drawn != plain).any() and (drawn[CAPTION_HEIGHT + 4, 10:50] != 128).any()  # the stroke
    # The worst unannotated frame (2) fills the last tile; the plot changes with the quality.
    other = render_state(scribbles=[], min_tile_height=40, **{**kwargs, "quality": quality[::-1]})
    assert other.shape == plain.shape and (other != plain).any()
