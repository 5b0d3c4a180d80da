"""Learned frame recommendation for interactive VOS."""

import gymnasium

# Registration only records the entry point; the environment module (and torch) load on gymnasium.make.
if "vos_recommender/FrameRecommendation-v0" not in gymnasium.registry:
    gymnasium.register(
        id="vos_recommender/FrameRecommendation-v0",
        entry_point="vos_recommender.envs.frame_recommendation:FrameRecommendationEnv",
    )
