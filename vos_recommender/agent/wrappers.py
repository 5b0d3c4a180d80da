"""Environment wrapper that makes every episode a function of (seed, episode index).

SB3's vectorised environments reset finished episodes themselves, with the environment's running
random state. To resume an interrupted run exactly, the environment must be put back into the state
it had at the checkpoint; an environment whose episode ``k`` is always reset with a seed derived from
``(base_seed, k)`` can be, by resetting it with ``pending_episode = k``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["EpisodeSeedWrapper", "episode_seed"]


def episode_seed(base_seed: int, episode: int) -> int:
    """The reset seed of episode ``episode`` of a wrapper seeded with ``base_seed`` (a 32-bit integer)."""
    return int(np.random.SeedSequence([int(base_seed) & 0xFFFFFFFF, int(episode)]).generate_state(1)[0])


class EpisodeSeedWrapper(gym.Wrapper):
    """Reset every episode with a seed derived from a base seed and the episode's index.

    Args:
        env: The environment.
        seed: Base seed (a seed passed to :meth:`reset` replaces it and restarts the count at 0).

    Attributes:
        episode_index: Number of resets done so far (the running episode has index ``episode_index - 1``).
        pending_episode: When set, the next reset starts this episode index, ignoring a passed seed
            (used to restore the state of a checkpoint).
    """

    def __init__(self, env: gym.Env, seed: int = 0) -> None:
        super().__init__(env)
        self.base_seed = int(seed)
        self.episode_index = 0
        self.pending_episode: int | None = None

    def episode_state(self) -> tuple[int, int]:
        """``(base_seed, index of the running episode)``, what :meth:`set_pending_episode` restores."""
        return self.base_seed, self.episode_index - 1

    def set_pending_episode(self, base_seed: int, episode: int) -> None:
        """Make the next reset start episode ``episode`` of base seed ``base_seed``.

        Args:
            base_seed: Base seed of the episode sequence.
            episode: Episode index.
        """
        self.base_seed = int(base_seed)
        self.pending_episode = int(episode)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        """Reset with the seed of the next episode.

        Args:
            seed: New base seed (restarts the episode count), unless ``pending_episode`` is set.
            options: Passed to the wrapped environment.

        Returns:
            ``(observation, info)`` of the wrapped environment.
        """
        if self.pending_episode is not None:
            self.episode_index = int(self.pending_episode)
            self.pending_episode = None
        elif seed is not None:
            self.base_seed = int(seed)
            self.episode_index = 0
        this_seed = episode_seed(self.base_seed, self.episode_index)
        self.episode_index += 1
        return self.env.reset(seed=this_seed, options=options)
