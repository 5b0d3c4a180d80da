"""A small frame-recommendation task with a known optimal policy, used by the agent tests.

It is fast (no segmentation), has a variable number of valid frames padded to a maximum, and its optimal
choice depends on the frames on both sides of a candidate, so a Q-network without context fails it.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env


@pytest.fixture(autouse=True)
def single_torch_thread():
    """Run torch on one thread: these networks are tiny, and on a busy machine thread hand-offs cost
    ten times the computation (measured: 200 toy steps take 1.1 s on one thread, 12 s on two)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


class WindowDeficitEnv(gym.Env):
    """Pick the frame whose neighbourhood has the lowest total quality.

    Each episode has ``n`` valid frames (uniform in ``[min_frames, max_frames]``) with uniform random
    quality; the other columns of the ``3 x max_frames`` observation (quality, annotation count,
    validity) are padding. Annotating frame ``i`` sets the quality of the frames within ``radius`` to 1.
    The reward is 1 when the chosen frame has the largest windowed deficit
    ``sum_{|j - i| <= radius, j < n} (1 - q_j)`` (the optimal choice), else 0. Optimal return: ``steps``;
    uniformly random choices get about ``steps / n``. ``info`` carries ``reward_goal`` (the reward) and
    ``reward_aux`` (+1 when a least-annotated frame was chosen, else -1), like the VOS environment.
    """

    metadata = {"render_modes": []}

    def __init__(self, max_frames: int = 10, min_frames: int = 5, steps: int = 3, radius: int = 1) -> None:
        super().__init__()
        self.max_frames, self.min_frames, self.steps, self.radius = max_frames, min_frames, steps, radius
        high = np.ones((3, max_frames), dtype=np.float32)
        high[1] = steps
        self.observation_space = spaces.Box(np.zeros_like(high), high, dtype=np.float32)
        self.action_space = spaces.Discrete(max_frames)
        self.n = max_frames
        self.q = np.zeros(max_frames, dtype=np.float32)
        self.h = np.zeros(max_frames, dtype=np.float32)
        self.t = 0

    def deficits(self) -> np.ndarray:
        """Windowed deficit of every valid frame."""
        return np.convolve(1.0 - self.q[: self.n], np.ones(2 * self.radius + 1), mode="same")

    def action_masks(self) -> np.ndarray:
        """Valid frames."""
        mask = np.zeros(self.max_frames, dtype=bool)
        mask[: self.n] = True
        return mask

    def _obs(self) -> np.ndarray:
        obs = np.zeros((3, self.max_frames), dtype=np.float32)
        obs[0, : self.n] = self.q[: self.n]
        obs[1, : self.n] = self.h[: self.n]
        obs[2, : self.n] = 1.0
        return obs

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.n = int(self.np_random.integers(self.min_frames, self.max_frames + 1))
        self.q = np.zeros(self.max_frames, dtype=np.float32)
        self.q[: self.n] = self.np_random.uniform(0.0, 1.0, self.n).astype(np.float32)
        self.h = np.zeros(self.max_frames, dtype=np.float32)
        self.t = 0
        return self._obs(), {"action_mask": self.action_masks()}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        a = int(action)
        if not 0 <= a < self.n:
            raise ValueError(f"invalid action {a} (valid 0..{self.n - 1})")
        deficits = self.deficits()
        reward = 1.0 if deficits[a] >= deficits.max() - 1e-6 else 0.0
        aux = 1.0 if self.h[a] == self.h[: self.n].min() else -1.0
        self.q[max(0, a - self.radius) : min(self.n, a + self.radius + 1)] = 1.0
        self.h[a] += 1
        self.t += 1
        info = {"action_mask": self.action_masks(), "reward_goal": reward, "reward_aux": aux}
        return self._obs(), float(reward), bool(self.t >= self.steps), False, info


def optimal_action(obs: np.ndarray, radius: int = 1) -> int:
    """The optimal frame of a :class:`WindowDeficitEnv` observation."""
    n = int(obs[2].sum())
    return int(np.argmax(np.convolve(1.0 - obs[0, :n], np.ones(2 * radius + 1), mode="same")))


def test_toy_env_passes_the_checkers() -> None:
    # The checkers step with unmasked random actions, so they get a variant without padding.
    gym_check_env(WindowDeficitEnv(min_frames=10), skip_render_check=True)
    sb3_check_env(WindowDeficitEnv(min_frames=10), warn=False)


def test_toy_env_optimal_policy_gets_full_return_and_padding_is_invalid() -> None:
    env = WindowDeficitEnv()
    for seed in range(5):
        obs, _ = env.reset(seed=seed)
        assert obs[2].sum() == env.n and not obs[:, env.n :].any()
        total, done = 0.0, False
        while not done:
            obs, reward, done, _, _ = env.step(optimal_action(obs))
            total += reward
        assert total == env.steps
    env.reset(seed=0)
    if env.n < env.max_frames:
        try:
            env.step(env.max_frames - 1)
        except ValueError:
            pass
        else:
            raise AssertionError("a padded frame was accepted")
