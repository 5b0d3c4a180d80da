"""Transition replay buffer for the frame Q-network.

The Q-network's LSTM runs over the *frame axis inside one observation*, not over time, so (as in the
released code) single transitions ``(s_t, a_t, r_t, s_{t+1}, done)`` are all a training step needs and
SB3's :class:`~stable_baselines3.common.buffers.ReplayBuffer` is reused. It is extended in two ways:

* the two reward terms of the environment (``info["reward_goal"]`` and ``info["reward_aux"]``) are
  stored next to the scalar reward, because the released training form applies them in two separate
  losses;
* sampling draws from a generator owned by the buffer instead of NumPy's global one, so the sampled
  batches are reproducible and their random state travels with the pickled buffer when a run is
  resumed.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.vec_env import VecNormalize

__all__ = ["FrameReplayBuffer", "FrameReplaySamples"]


class FrameReplaySamples(NamedTuple):
    """A batch of transitions (tensors; ``actions``, ``dones``, rewards are ``B x 1``)."""

    observations: th.Tensor
    actions: th.Tensor
    next_observations: th.Tensor
    dones: th.Tensor
    rewards: th.Tensor
    goal_rewards: th.Tensor
    aux_rewards: th.Tensor


class FrameReplayBuffer(ReplayBuffer):
    """SB3 replay buffer that also keeps the goal and auxiliary reward terms and owns its RNG.

    Args:
        buffer_size: Capacity in transitions (over all environments).
        observation_space: Observation space.
        action_space: Action space.
        device: Torch device of the sampled tensors.
        n_envs: Number of parallel environments.
        optimize_memory_usage: Not supported (the next observation of a terminal step is needed).
        handle_timeout_termination: Treat time-limit truncation as non-terminal (SB3's default).
        seed: Seed of the sampling generator (the algorithm passes one derived from its own seed).
    """

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        device: th.device | str = "auto",
        n_envs: int = 1,
        optimize_memory_usage: bool = False,
        handle_timeout_termination: bool = True,
        seed: int | None = None,
    ) -> None:
        if optimize_memory_usage:
            raise ValueError("FrameReplayBuffer does not support optimize_memory_usage=True")
        super().__init__(
            buffer_size,
            observation_space,
            action_space,
            device=device,
            n_envs=n_envs,
            optimize_memory_usage=False,
            handle_timeout_termination=handle_timeout_termination,
        )
        # NaN marks "the environment did not report this term"; the released loss refuses such samples.
        self.goal_rewards = np.full((self.buffer_size, self.n_envs), np.nan, dtype=np.float32)
        self.aux_rewards = np.full((self.buffer_size, self.n_envs), np.nan, dtype=np.float32)
        self.rng = np.random.default_rng(seed)

    def seed(self, seed: int | None) -> None:
        """Reseed the sampling generator.

        Args:
            seed: Integer seed (None: fresh entropy).
        """
        self.rng = np.random.default_rng(seed)

    def add(
        self,
        obs: np.ndarray,
        next_obs: np.ndarray,
        action: np.ndarray,
        reward: np.ndarray,
        done: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        """Store one step of every environment (see SB3's ``ReplayBuffer.add``).

        Args:
            obs: ``n_envs x ...`` observations.
            next_obs: ``n_envs x ...`` next observations (terminal ones for finished episodes).
            action: ``n_envs`` actions.
            reward: ``n_envs`` rewards.
            done: ``n_envs`` done flags.
            infos: Per-environment info dicts; ``reward_goal`` / ``reward_aux`` are stored when present.
        """
        position = self.pos
        self.goal_rewards[position] = [float(info.get("reward_goal", np.nan)) for info in infos]
        self.aux_rewards[position] = [float(info.get("reward_aux", np.nan)) for info in infos]
        super().add(obs, next_obs, action, reward, done, infos)

    def sample(self, batch_size: int, env: VecNormalize | None = None) -> FrameReplaySamples:  # type: ignore[override]
        """Uniformly sample stored transitions (with replacement) with the buffer's own generator.

        Args:
            batch_size: Number of transitions.
            env: Optional ``VecNormalize`` to normalise observations and rewards with.

        Returns:
            A :class:`FrameReplaySamples` batch.

        Raises:
            ValueError: If the buffer is empty.
        """
        upper = self.buffer_size if self.full else self.pos
        if upper == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        batch_inds = self.rng.integers(0, upper, size=batch_size)
        return self._get_samples(batch_inds, env=env)

    def _get_samples(self, batch_inds: np.ndarray, env: VecNormalize | None = None) -> FrameReplaySamples:  # type: ignore[override]
        env_indices = self.rng.integers(0, self.n_envs, size=len(batch_inds))
        dones = self.dones[batch_inds, env_indices] * (1 - self.timeouts[batch_inds, env_indices])
        data = (
            self._normalize_obs(self.observations[batch_inds, env_indices, :], env),
            self.actions[batch_inds, env_indices, :],
            self._normalize_obs(self.next_observations[batch_inds, env_indices, :], env),
            dones.reshape(-1, 1),
            self._normalize_reward(self.rewards[batch_inds, env_indices].reshape(-1, 1), env),
            self.goal_rewards[batch_inds, env_indices].reshape(-1, 1),
            self.aux_rewards[batch_inds, env_indices].reshape(-1, 1),
        )
        return FrameReplaySamples(*tuple(map(self.to_torch, data)))
