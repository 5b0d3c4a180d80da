"""The environment on a budgeted cache: bounded folder, reported statistics, unchanged episodes."""

from __future__ import annotations

import numpy as np
import pytest

from tests.vos.generated import generated_videos
from vos_recommender.envs import FrameRecommendationEnv


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return generated_videos(
        tmp_path_factory.mktemp("budget_data"),
        num_train=2,
        num_val=0,
        num_frames=6,
        height=48,
        width=64,
        max_objects=2,
        seed=3,
    )


def _env(videos, tmp_path, **kwargs):
    return FrameRecommendationEnv(
        {"num_rounds": 3, "num_random_runs": 2, "stats_dir": tmp_path / "stats", **kwargs}, videos=videos
    )


def _episode(env, name, actions):
    obs, info = env.reset(seed=0, options={"video": name})
    trace = [obs, info["jf"], info["quality"]]
    for action in actions:
        obs, reward, _, _, info = env.step(action)
        trace += [obs, reward, info["jf"], info["quality"]]
    return trace


def _entries_bytes(folder):
    return sum(p.stat().st_size for p in folder.glob("??/*")) + sum(
        p.stat().st_size for p in (folder / "scribbles").rglob("*") if p.is_file()
    )


def test_a_budgeted_cache_stays_small_and_replays_equal_computed_episodes(videos, tmp_path):
    plans = [(v.name, (a, b)) for v in videos for a in range(6) for b in (0, 5)]
    plain = _env(videos, tmp_path)
    reference = {plan: _episode(plain, plan[0], plan[1]) for plan in plans[-3:]}
    budget = 40_000
    cache_dir = tmp_path / "cache"
    env = _env(videos, tmp_path, cache_dir=cache_dir, cache_kwargs={"max_bytes": budget})
    for name, actions in plans:
        _episode(env, name, actions)
    stats = env.unwrapped.timing["cache"]
    assert stats["evictions"] > 0 and stats["max_bytes"] == budget
    assert stats["bytes_written"] > budget >= _entries_bytes(cache_dir)
    # A new environment on the folder takes its budget from it; recent episodes replay, all equal.
    warm = _env(videos, tmp_path, cache_dir=cache_dir)
    for (name, actions), trace in reference.items():
        for a, b in zip(trace, _episode(warm, name, actions)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    stats = warm.backend.stats()
    assert stats["max_bytes"] == budget and stats["hits"] > 0


def test_the_stored_scribbles_are_counted_in_the_budget_as_they_are_written(videos, tmp_path):
    cache_dir = tmp_path / "cache"
    env = _env(videos, tmp_path, cache_dir=cache_dir, cache_kwargs={"max_bytes": "10MB"})
    _episode(env, videos[0].name, (1, 4))  # two corrections by the simulated user, both stored
    assert list((cache_dir / "scribbles").rglob("*.json"))
    assert env.unwrapped.timing["cache"]["bytes"] == _entries_bytes(cache_dir)
