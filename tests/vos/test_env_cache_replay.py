"""Episodes replayed from the cache equal computed ones, without loading masks or running the user."""

from __future__ import annotations

import numpy as np
import pytest

from tests.vos.generated import generated_videos
from vos_recommender.backends.cache import CachedVOSResult
from vos_recommender.envs import FrameRecommendationEnv


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return generated_videos(
        tmp_path_factory.mktemp("replay_data"),
        num_train=2,
        num_val=0,
        num_frames=6,
        height=48,
        width=64,
        max_objects=2,
        seed=7,
    )


def _env(videos, tmp_path, render_mode=None, quality=None, **settings):
    """An environment on ``videos`` whose settings are given by their flat names (``quality``: a built source)."""
    defaults = dict(num_rounds=4, num_random_runs=2, stats_dir=tmp_path / "stats")
    return FrameRecommendationEnv(
        {**defaults, **settings}, videos=videos, quality=quality, render_mode=render_mode
    )


def _episode(env, name, actions=(3, 0, 5)):
    obs, info = env.reset(seed=0, options={"video": name})
    trace = [obs, info["jf"], info["quality"], info["user_time"], info["auc"]]
    for action in actions:
        obs, reward, terminated, _, info = env.step(action)
        trace += [obs, reward, terminated, info["jf"], info["quality"], info["user_time"], info["auc"]]
    return trace


def test_replayed_episode_equals_the_computed_one_without_loading_masks(videos, tmp_path):
    name = videos[0].name
    plain = _env(videos, tmp_path, render_mode="rgb_array")
    reference = _episode(plain, name)
    reference_masks = plain.episode.result.masks.copy()
    reference_render = plain.render()

    cold = _env(videos, tmp_path, cache_dir=tmp_path / "cache")
    for a, b in zip(reference, _episode(cold, name)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    # A new environment on the filled cache: nothing in memory, everything read from disk.
    warm = _env(videos, tmp_path, cache_dir=tmp_path / "cache", render_mode="rgb_array")

    def fail(*args, **kwargs):
        raise AssertionError("a replayed round must not run the simulated user or the VOS model")

    warm.robot.interact = fail
    warm.backend.inner.interact = fail
    replayed = _episode(warm, name)
    for a, b in zip(reference, replayed):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    result = warm.episode.result
    assert isinstance(result, CachedVOSResult) and result.from_cache and not result.loaded
    stats = warm.backend.stats()
    assert stats["misses"] == 0 and stats["hits"] == 4
    # Rendering needs the masks: they load on demand and equal the computed ones.
    np.testing.assert_array_equal(warm.render(), reference_render)
    assert result.loaded
    np.testing.assert_array_equal(result.masks, reference_masks)


def test_a_new_branch_after_replayed_rounds_runs_the_model_from_the_start(videos, tmp_path):
    name = videos[1].name
    reference = _episode(_env(videos, tmp_path), name, actions=(2, 4, 1))
    _episode(_env(videos, tmp_path, cache_dir=tmp_path / "cache"), name, actions=(2, 4))
    warm = _env(videos, tmp_path, cache_dir=tmp_path / "cache")
    replayed = _episode(warm, name, actions=(2, 4, 1))  # rounds 1-3 replayed, round 4 computed
    assert warm.backend.stats()["misses"] == 1
    for a, b in zip(reference, replayed):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_wild_quality_is_replayed_with_the_entry(videos, tmp_path):
    import torch

    from vos_recommender.quality.estimator import QualityConfig, QualityNet, WildQuality

    def estimator(seed, bias):
        torch.manual_seed(seed)
        net = QualityNet(QualityConfig(width=4, crop_size=16, min_box=8))
        list(net.parameters())[-1].data.fill_(bias)  # the output bias: keep predictions inside (0, 1)
        return WildQuality(net=net)

    quality = estimator(0, 0.6)
    name = videos[0].name
    reference = _episode(_env(videos, tmp_path, quality=quality), name)
    _episode(_env(videos, tmp_path, quality=quality, cache_dir=tmp_path / "cache"), name)
    warm = _env(videos, tmp_path, quality=quality, cache_dir=tmp_path / "cache")
    calls = []
    predict = warm.quality.predict_objects
    warm.quality.predict_objects = lambda *a: calls.append(1) or predict(*a)
    replayed = _episode(warm, name)
    assert not calls  # every prediction came with its entry
    assert 0.0 < reference[2].min() and reference[2].max() < 1.0
    for a, b in zip(reference, replayed):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # Other weights: the stored predictions are not reused.
    other = estimator(1, 0.3)
    fresh = _env(videos, tmp_path, quality=other, cache_dir=tmp_path / "cache")
    _, info = fresh.reset(seed=0, options={"video": name})
    assert not np.array_equal(info["quality"], reference[2])


def test_goal_reward_off_skips_the_statistics(videos, tmp_path):
    env = _env(videos, tmp_path, goal_reward=False, num_random_runs=30)
    calls = []
    env.goal_statistics = lambda *a, **k: calls.append(a)
    env.reset(seed=0, options={"video": videos[0].name})
    _, reward, _, _, info = env.step(1)
    assert not calls and info["reward_goal"] == 0.0 and reward == info["reward_aux"]
