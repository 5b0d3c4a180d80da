"""Gymnasium environments (registered as ``vos_recommender/FrameRecommendation-v0``)."""

from vos_recommender.envs.config import EnvConfig, EpisodeConfig, RewardConfig, SessionConfig
from vos_recommender.envs.frame_recommendation import FrameRecommendationEnv
from vos_recommender.envs.goal_statistics import GoalStatistics

__all__ = [
    "EnvConfig",
    "EpisodeConfig",
    "FrameRecommendationEnv",
    "GoalStatistics",
    "RewardConfig",
    "SessionConfig",
]
