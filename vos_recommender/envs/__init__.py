"""Gymnasium environments (registered as ``vos_recommender/FrameRecommendation-v0``)."""

from vos_recommender.envs.frame_recommendation import FrameRecommendationEnv, GoalStatistics

__all__ = ["FrameRecommendationEnv", "GoalStatistics"]
