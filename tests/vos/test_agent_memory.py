"""The Q-network's LSTM carries information between frames: a task only cross-frame context can solve.

In the spirit of sb3-contrib's LSTM tests (an environment a memory-less policy cannot solve): in
:class:`MarkedSuccessorEnv` the rewarding frame is the one right after a marked frame, and that frame's
own features are drawn from the same distribution as every other unmarked frame. A Q-network that
scores each frame from its own features alone (``recurrent=False``) can do no better than a uniformly
random unmarked frame; the bidirectional LSTM sees the preceding frame and can be optimal.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from tests.vos.test_agent_toy_env import single_torch_thread  # noqa: F401  (autouse fixture)
from vos_recommender.agent import RecurrentDQN
from vos_recommender.agent.qnet import FrameQNetwork


class MarkedSuccessorEnv(gym.Env):
    """Choose the frame that follows the marked frame.

    Each episode has ``n`` valid frames (uniform in ``[min_frames, max_frames]``), padded to
    ``max_frames`` columns of a ``3 x max_frames`` observation (feature, annotation count, validity, as
    in the VOS environment). One frame ``k`` (uniform in ``[0, n - 2]``) is marked with feature 1; every
    other valid frame has a uniform random feature in ``[0, noise]``, the same distribution whether or
    not it is frame ``k + 1``. One step per episode: reward 1 for choosing ``k + 1``, else 0.

    Optimal return 1; without looking at frame ``k`` the best is a uniformly random unmarked frame,
    ``1 / (n - 1)`` (about 0.15 for ``n`` in ``[6, 10]``).
    """

    metadata = {"render_modes": []}

    def __init__(self, max_frames: int = 10, min_frames: int = 6, noise: float = 0.5) -> None:
        super().__init__()
        self.max_frames, self.min_frames, self.noise = max_frames, min_frames, noise
        high = np.ones((3, max_frames), dtype=np.float32)
        self.observation_space = spaces.Box(np.zeros_like(high), high, dtype=np.float32)
        self.action_space = spaces.Discrete(max_frames)
        self.n = max_frames
        self.marked = 0
        self.features = np.zeros(max_frames, dtype=np.float32)

    def _obs(self) -> np.ndarray:
        obs = np.zeros((3, self.max_frames), dtype=np.float32)
        obs[0, : self.n] = self.features[: self.n]
        obs[2, : self.n] = 1.0
        return obs

    def action_masks(self) -> np.ndarray:
        """Valid frames."""
        mask = np.zeros(self.max_frames, dtype=bool)
        mask[: self.n] = True
        return mask

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.n = int(self.np_random.integers(self.min_frames, self.max_frames + 1))
        self.marked = int(self.np_random.integers(0, self.n - 1))
        self.features = np.zeros(self.max_frames, dtype=np.float32)
        self.features[: self.n] = self.np_random.uniform(0.0, self.noise, self.n).astype(np.float32)
        self.features[self.marked] = 1.0
        return self._obs(), {"action_mask": self.action_masks()}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        a = int(action)
        if not 0 <= a < self.n:
            raise ValueError(f"invalid action {a} (valid 0..{self.n - 1})")
        reward = 1.0 if a == self.marked + 1 else 0.0
        info = {"action_mask": self.action_masks(), "reward_goal": reward, "reward_aux": 0.0}
        return self._obs(), reward, True, False, info


def memory_vec_env(seed: int):
    return make_vec_env(MarkedSuccessorEnv, n_envs=1, seed=seed)


def train_and_evaluate(recurrent: bool, timesteps: int, seed: int = 0, eval_episodes: int = 200) -> float:
    """Mean greedy return on held-out episodes after a seeded training run of ``timesteps`` steps.

    Both variants get the same seed, environment episodes, hyper-parameters and budget; only
    ``recurrent`` differs.
    """
    model = RecurrentDQN(
        env=memory_vec_env(seed=seed),
        learning_rate=3e-3,
        warmup_episodes=64,
        exploration_decay=150,
        exploration_final_eps=0.05,
        gamma=0.0,
        reward_scale=1.0,
        target_update_prob=0.1,
        seed=seed,
        policy_kwargs={"embed_dim": 16, "lstm_dim": 16, "head_dim": 16, "recurrent": recurrent},
    )
    assert (model.q_net.lstm is not None) == recurrent
    model.learn(timesteps)
    mean, _ = evaluate_policy(
        model, memory_vec_env(seed=1000 + seed), n_eval_episodes=eval_episodes, deterministic=True
    )
    return float(mean)


def test_memory_env_passes_the_checker_and_rewards_only_the_successor() -> None:
    gym_check_env(MarkedSuccessorEnv(min_frames=10), skip_render_check=True)
    env = MarkedSuccessorEnv()
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        n = int(obs[2].sum())
        marked = int(np.flatnonzero(obs[0] == 1.0)[0])
        assert marked < n - 1 and (obs[0, :n] <= 1.0).all() and not obs[:, n:].any()
        rewards = []
        for action in range(n):
            env.reset(seed=seed)
            rewards.append(env.step(action)[1])
        assert rewards == [1.0 if a == marked + 1 else 0.0 for a in range(n)]


def test_per_frame_option_sees_no_other_frame() -> None:
    import torch

    torch.manual_seed(0)
    net = FrameQNetwork(in_features=2, embed_dim=8, lstm_dim=8, head_dim=8, recurrent=False)
    features = torch.rand(1, 6, 2)
    changed = features.clone()
    changed[0, 2] += 1.0
    before, after = net(features), net(changed)
    assert torch.equal(before[0, [0, 1, 3, 4, 5]], after[0, [0, 1, 3, 4, 5]]) and before[0, 2] != after[0, 2]
    recurrent = FrameQNetwork(in_features=2, embed_dim=8, lstm_dim=8, head_dim=8)
    assert not torch.equal(recurrent(features)[0, 0], recurrent(changed)[0, 0])


def test_lstm_beats_per_frame_network_on_the_memory_task() -> None:
    lstm = train_and_evaluate(recurrent=True, timesteps=400)
    per_frame = train_and_evaluate(recurrent=False, timesteps=400)
    # Optimal 1.0; the per-frame network cannot beat a random unmarked frame (about 0.15).
    assert lstm > 0.8, (lstm, per_frame)
    assert per_frame < 0.35, (lstm, per_frame)
    assert lstm - per_frame > 0.5, (lstm, per_frame)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_lstm_beats_per_frame_network_longer_runs_other_seeds(seed: int) -> None:
    # A longer budget does not let the per-frame network catch up: the information is not in its input.
    lstm = train_and_evaluate(recurrent=True, timesteps=1500, seed=seed, eval_episodes=500)
    per_frame = train_and_evaluate(recurrent=False, timesteps=1500, seed=seed, eval_episodes=500)
    assert lstm > 0.9 and per_frame < 0.3, (lstm, per_frame)
