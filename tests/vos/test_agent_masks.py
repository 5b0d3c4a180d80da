"""Action masks restrict the choice, not the context the Q-network reads."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.vos.test_agent_dqn import small_model, toy_vec_env
from tests.vos.test_agent_toy_env import single_torch_thread  # noqa: F401  (autouse fixture)
from vos_recommender.agent.masks import choice_masks, random_choice, require_choice


def observations(batch: int = 4, frames: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    obs = np.zeros((batch, 3, frames), dtype=np.float32)
    obs[:, 0] = rng.random((batch, frames))
    obs[:, 1] = rng.integers(0, 3, size=(batch, frames))
    obs[:, 2] = 1.0
    obs[0, :, 6:] = 0.0  # the first video is 6 frames long: 2 padded frames
    return obs


def test_masking_a_frame_leaves_the_other_frames_values_unchanged() -> None:
    model = small_model(toy_vec_env())
    obs = observations()
    free = model.q_values(obs)
    allowed = np.ones((4, 8), dtype=bool)
    allowed[:, 3] = False
    allowed[1, 0] = False
    masked = model.q_values(obs, allowed)
    assert np.isneginf(masked[:, 3]).all() and np.isneginf(masked[1, 0])
    keep = allowed & (obs[:, 2] > 0.5)
    np.testing.assert_array_equal(masked[keep], free[keep])
    # The policy's tensor path gives the same values.
    policy_values = model.policy.q_values(torch.as_tensor(obs), allowed).detach().numpy()
    np.testing.assert_allclose(policy_values, masked, rtol=1e-6)


def test_a_masked_frame_is_never_chosen() -> None:
    model = small_model(toy_vec_env())
    obs = observations(batch=16, seed=1)
    greedy_free = model.predict(obs, deterministic=True)[0]
    allowed = np.ones((16, 8), dtype=bool)
    allowed[np.arange(16), greedy_free] = False  # forbid each row's favourite
    greedy = model.predict(obs, deterministic=True, action_masks=allowed)[0]
    assert allowed[np.arange(16), greedy].all()
    assert (greedy != greedy_free).all()
    # The new choice is the best remaining frame of unchanged values.
    values = np.where(allowed, model.q_values(obs), -np.inf)
    np.testing.assert_array_equal(greedy, values.argmax(axis=1))
    model.exploration_rate = 1.0
    for _ in range(10):
        explored = model.predict(obs, deterministic=False, action_masks=allowed)[0]
        assert allowed[np.arange(16), explored].all()


def test_choice_masks_and_the_no_choice_check() -> None:
    obs = observations()
    valid = choice_masks(obs)
    assert valid.tolist()[0] == [True] * 6 + [False] * 2
    one_row = np.zeros(8, dtype=bool)
    one_row[[1, 7]] = True
    combined = choice_masks(obs, one_row)  # an N mask applies to every observation
    assert combined[0].tolist() == [False, True] + [False] * 6 and combined[1, 7]
    tensor = choice_masks(torch.as_tensor(obs), torch.as_tensor(one_row))
    assert torch.equal(tensor, torch.as_tensor(combined))
    with pytest.raises(ValueError, match="do not fit"):
        choice_masks(obs, np.ones(5, dtype=bool))
    with pytest.raises(ValueError, match="no allowed frame"):
        require_choice(combined & False)
    picks = random_choice(np.tile(one_row, (50, 1)), np.random.default_rng(0))
    assert set(picks.tolist()) == {1, 7}
    model = small_model(toy_vec_env())
    padding_only = np.zeros((1, 8), dtype=bool)
    padding_only[0, 7] = True  # frame 7 of video 0 is padding
    with pytest.raises(ValueError, match="no allowed frame"):
        model.predict(obs[:1], deterministic=True, action_masks=padding_only)


def test_padding_content_never_reaches_the_values() -> None:
    """The context is the validity row: what padded columns hold changes no value and no choice."""
    model = small_model(toy_vec_env(), warmup_episodes=4, target_update_prob=0.0)
    model.learn(12)
    obs = observations(batch=1)
    noisy = obs.copy()
    noisy[0, :2, 6:] = 50.0  # garbage in the padded columns of the 6-frame video
    np.testing.assert_array_equal(model.q_values(obs), model.q_values(noisy))
    assert model.predict(noisy, deterministic=True)[0] < 6
