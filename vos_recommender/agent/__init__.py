"""The learned frame recommender: per-frame Q-network, replay buffer and the recurrent double-DQN."""

from vos_recommender.agent.buffer import FrameReplayBuffer, FrameReplaySamples
from vos_recommender.agent.dqn import RecurrentDQN
from vos_recommender.agent.qnet import FrameQNetwork, FrameQPolicy
from vos_recommender.agent.resume import ResumeCallback
from vos_recommender.agent.wrappers import EpisodeSeedWrapper, episode_seed

__all__ = [
    "EpisodeSeedWrapper",
    "FrameQNetwork",
    "FrameQPolicy",
    "FrameReplayBuffer",
    "FrameReplaySamples",
    "RecurrentDQN",
    "ResumeCallback",
    "episode_seed",
]
