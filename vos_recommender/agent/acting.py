"""How the recurrent DQN acts: the epsilon schedule, Q-values, masked epsilon-greedy choice, SB3's action hook.

A mixin of :class:`~vos_recommender.agent.dqn.RecurrentDQN` (kept apart from the learning code): it reads
the algorithm's ``policy``, ``device``, exploration settings and its exploration generator.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th

from vos_recommender.agent.exploration import epsilon_greedy, exponential_epsilon
from vos_recommender.agent.masks import choice_masks, random_choice

__all__ = ["ActingMixin"]


class ActingMixin:
    """Acting half of :class:`~vos_recommender.agent.dqn.RecurrentDQN`."""

    def epsilon(self, actions_taken: int) -> float:
        """Exploration rate after ``actions_taken`` agent actions: ``final + amplitude * exp(-n / decay)``."""
        return exponential_epsilon(
            actions_taken, self.exploration_final_eps, self.exploration_amplitude, self.exploration_decay
        )

    def q_values(self, observation: np.ndarray, action_masks: np.ndarray | None = None) -> np.ndarray:
        """Online Q-values of observations of any frame count.

        Args:
            observation: ``(F+1) x N`` or ``B x (F+1) x N`` observation(s).
            action_masks: Optional ``N`` / ``B x N`` masks of frames that may be chosen; excluded frames
                get ``-inf`` but stay in the network's input, so the other values do not change.

        Returns:
            ``N`` or ``B x N`` float array, ``-inf`` at padded and excluded frames.
        """
        obs = np.asarray(observation, dtype=np.float32)
        single = obs.ndim == 2
        self.policy.set_training_mode(False)
        with th.no_grad():
            values = self.policy.q_values(
                th.as_tensor(obs[None] if single else obs, device=self.device), action_masks
            )
        values = values.cpu().numpy()
        return values[0] if single else values

    def predict(  # type: ignore[override]
        self,
        observation: np.ndarray,
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
        action_masks: np.ndarray | None = None,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """Choose frames: the policy's masked greedy choice, epsilon-greedy when not deterministic.

        As in SB3's ``DQN.predict``, exploration is the algorithm's and the greedy choice the policy's
        (:meth:`FrameQPolicy.predict`); here exploration is drawn per observation, among allowed frames.

        Args:
            observation: ``(F+1) x N`` or ``B x (F+1) x N`` observation(s); ``N`` may differ from training.
            state: Unused (the LSTM runs over the frames of one observation, not over time); returned
                unchanged, for the SB3 recurrent interface.
            episode_start: Unused, for the SB3 recurrent interface.
            deterministic: Greedy when True; otherwise each row explores with probability
                ``self.exploration_rate`` (a uniformly random allowed frame).
            action_masks: Optional ``N`` / ``B x N`` masks of frames that may be chosen (the Q-network
                still reads every valid frame).

        Returns:
            ``(actions, state)``; actions is a NumPy integer for one observation, else a length-``B`` array.

        Raises:
            ValueError: If an observation has no allowed frame.
        """
        obs = np.asarray(observation, dtype=np.float32)
        single = obs.ndim == 2
        batch = obs[None] if single else obs
        actions, _ = self.policy.predict(batch, action_masks=action_masks)
        actions = np.asarray(actions, dtype=np.int64)
        if not deterministic:
            assert self._explore_rng is not None
            allowed = choice_masks(batch, action_masks)
            actions = epsilon_greedy(actions, allowed, self.exploration_rate, self._explore_rng)
        return (actions[0] if single else actions), state

    def _sample_action(
        self, learning_starts: int, action_noise: Any = None, n_envs: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        # SB3's version samples the whole action space; padded frames must never be chosen.
        assert self._last_obs is not None, "self._last_obs was not set"
        obs = np.asarray(self._last_obs)
        if self.num_timesteps < learning_starts:
            assert self._explore_rng is not None
            actions = random_choice(choice_masks(obs), self._explore_rng)
        else:
            actions, _ = self.predict(obs, deterministic=False)
        actions = np.asarray(actions, dtype=np.int64).reshape(n_envs)
        return actions, actions
