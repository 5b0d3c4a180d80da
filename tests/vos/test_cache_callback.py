"""The cache's statistics reach a training run's log."""

from __future__ import annotations

import pytest
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import DummyVecEnv

from tests.vos.generated import generated_videos
from vos_recommender.agent.cache_callback import CacheStatsCallback, vec_cache_stats
from vos_recommender.envs import EnvConfig, EpisodeConfig, FrameRecommendationEnv, RewardConfig, SessionConfig


class _Model:
    """What ``BaseCallback.init_callback`` reads of an algorithm."""

    def __init__(self, env, logger):
        self.env, self.logger, self.num_timesteps = env, logger, 0

    def get_env(self):
        return self.env


def test_cache_statistics_are_summed_over_environments_and_logged(tmp_path):
    videos = generated_videos(
        tmp_path / "data", num_train=1, num_val=0, num_frames=5, height=40, width=48, max_objects=1, seed=2
    )

    def make():
        config = EnvConfig(
            session=SessionConfig(cache_dir=str(tmp_path / "cache"), cache_budget="1GB"),
            episode=EpisodeConfig(num_rounds=3),
            reward=RewardConfig(num_random_runs=2, stats_dir=str(tmp_path / "stats")),
        )
        return FrameRecommendationEnv(config, videos=videos)

    vec = DummyVecEnv([make, make])
    assert vec_cache_stats(vec) is None  # nothing played yet
    for index in range(2):
        env = vec.envs[index].unwrapped
        env.reset(seed=0, options={"video": videos[0].name})
        env.step(1)
        env.step(3)
    per_env = [e.unwrapped.timing["cache"] for e in vec.envs]
    stats = vec_cache_stats(vec)
    assert stats["hits"] == sum(s["hits"] for s in per_env) > 0
    assert stats["misses"] == sum(s["misses"] for s in per_env) > 0
    assert stats["hit_rate"] == stats["hits"] / (stats["hits"] + stats["misses"])
    assert stats["max_bytes"] == 10**9 and stats["bytes"] > 0

    logger = configure(str(tmp_path / "log"), ["csv"])
    callback = CacheStatsCallback(every=2)
    callback.init_callback(_Model(vec, logger))
    callback.on_step()
    assert "cache/hits" not in logger.name_to_value
    callback.on_step()
    assert logger.name_to_value["cache/hits"] == stats["hits"]
    assert logger.name_to_value["cache/evictions"] == 0
    assert logger.name_to_value["cache/hit_rate"] == pytest.approx(stats["hit_rate"])
    with pytest.raises(ValueError, match="every"):
        CacheStatsCallback(every=0)
