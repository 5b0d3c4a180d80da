"""The learned frame recommender: per-frame Q-network, replay buffer and the recurrent double-DQN."""

from vos_recommender.agent.buffer import FrameReplayBuffer, FrameReplaySamples
from vos_recommender.agent.dqn import RecurrentDQN, valid_action_masks
from vos_recommender.agent.qnet import FrameQNetwork, FrameQPolicy, split_observation
from vos_recommender.agent.wrappers import EpisodeSeedWrapper, episode_seed

__all__ = [
    "EpisodeSeedWrapper",
    "FrameQNetwork",
    "FrameQPolicy",
    "FrameReplayBuffer",
    "FrameReplaySamples",
    "RecurrentDQN",
    "episode_seed",
    "split_observation",
    "valid_action_masks",
]
