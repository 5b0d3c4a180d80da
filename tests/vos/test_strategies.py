"""The baselines behave as the paper describes, on hand-made cases."""

from __future__ import annotations

import numpy as np
import pytest

from vos_recommender.strategies import (
    LinspaceStrategy,
    RandomStrategy,
    WorstStrategy,
    build_strategy,
    frame_observation,
    linspace_candidates,
)


def test_random_is_uniform_over_all_frames_with_repeats() -> None:
    strategy = RandomStrategy(seed=0)
    quality, counts = np.zeros(5), np.zeros(5)
    picks = [strategy.recommend(quality, counts, [0]) for _ in range(5000)]
    frequencies = np.bincount(picks, minlength=5) / 5000
    np.testing.assert_allclose(frequencies, 0.2, atol=0.03)  # annotated frame 0 included: repeats allowed
    again = RandomStrategy(seed=0)
    assert [again.recommend(quality, counts, [0]) for _ in range(50)] == picks[:50]


def test_linspace_candidates_include_the_first_frame() -> None:
    assert linspace_candidates(80, 0) == [0, 10, 20, 30, 40, 50, 60, 70]
    assert linspace_candidates(80, 15) == [5, 15, 25, 35, 45, 55, 65, 75]
    assert linspace_candidates(25, 10) == [1, 4, 7, 10, 13, 16, 19, 23]  # 10 + k * 25/8, wrapped
    assert linspace_candidates(5, 2) == [0, 1, 2, 3, 4]  # fewer frames than candidates
    with pytest.raises(ValueError):
        linspace_candidates(10, 10)


def test_linspace_takes_candidates_in_ascending_order_skipping_annotated() -> None:
    strategy = LinspaceStrategy()
    strategy.reset(25, 10)
    quality, counts = np.zeros(25), np.zeros(25)
    annotated = [10]
    for _ in range(7):
        annotated.append(strategy.recommend(quality, counts, annotated))
    assert annotated == [10, 1, 4, 7, 13, 16, 19, 23]
    # A candidate the user already annotated is skipped.
    strategy.reset(25, 10)
    assert strategy.recommend(quality, counts, [10, 1, 4]) == 7
    # All candidates done: the frame farthest from every annotated frame.
    strategy.reset(5, 0)
    assert strategy.recommend(np.zeros(5), np.zeros(5), [0, 1, 2, 3, 4]) in range(5)
    strategy.reset(25, 10)
    assert strategy.recommend(quality, counts, [10, 1, 4, 7, 13, 16, 19, 23]) == 21  # 2 frames from 19 and 23


def test_worst_picks_lowest_quality_among_unannotated() -> None:
    strategy = WorstStrategy()
    quality = np.array([0.9, 0.1, 0.5, 0.05, 0.3])
    counts = np.zeros(5)
    assert strategy.recommend(quality, counts, [0]) == 3
    assert strategy.recommend(quality, counts, [0, 3]) == 1  # the worst frame is annotated: next worst
    assert strategy.recommend(np.array([0.2, 0.2, 0.2]), np.zeros(3), [0]) == 1  # ties: earliest
    assert strategy.recommend(quality, counts, [0, 1, 2, 3, 4]) == 3  # all annotated: overall lowest


def test_build_strategy_and_observation_layout() -> None:
    assert isinstance(build_strategy("Random", seed=1), RandomStrategy)
    assert isinstance(build_strategy("linspace"), LinspaceStrategy)
    assert isinstance(build_strategy("WORST"), WorstStrategy)
    with pytest.raises(ValueError):
        build_strategy("ours")
    with pytest.raises(KeyError):
        build_strategy("best")
    obs = frame_observation([0.5, 1.2], [1, 0], max_frames=4)
    np.testing.assert_array_equal(obs, [[0.5, 1.0, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0]])
    with pytest.raises(ValueError):
        frame_observation([0.5], [1, 0])


def test_frame_observation_is_the_environments_layout_with_clipped_counts() -> None:
    from vos_recommender.envs.observation import build_observation

    obs = frame_observation([0.5, 0.2, 0.9], [0, 7, 2], max_frames=5, max_count=3)
    np.testing.assert_array_equal(obs, build_observation([0.5, 0.2, 0.9], [0, 7, 2], 5, max_count=3))
    assert obs[1].tolist() == [0, 3, 2, 0, 0]
    assert frame_observation([0.5], [9])[1, 0] == 9  # no bound given: the counts stay as they are


def test_agent_strategy_clips_counts_to_the_agents_bound_and_uses_its_policy() -> None:
    from stable_baselines3.common.env_util import make_vec_env

    from tests.vos.test_agent_toy_env import WindowDeficitEnv
    from vos_recommender.agent import RecurrentDQN
    from vos_recommender.strategies import AgentStrategy

    model = RecurrentDQN(
        env=make_vec_env(WindowDeficitEnv, n_envs=1),
        seed=0,
        policy_kwargs={"embed_dim": 8, "lstm_dim": 8, "head_dim": 8},
    )
    bound = int(model.observation_space.high[1].max())
    strategy = AgentStrategy(model)
    assert strategy.max_count == bound
    quality, counts = np.linspace(0.2, 0.8, 6), np.array([0, bound + 5, 1, 0, 0, 0])
    clipped = counts.copy()
    clipped[1] = bound
    np.testing.assert_array_equal(
        strategy.scores(quality, counts), model.q_values(frame_observation(quality, clipped))
    )
    assert strategy.recommend(quality, counts, [1]) == int(np.argmax(strategy.scores(quality, counts)))
    assert AgentStrategy(model, max_count=2).observation(quality, counts)[1, 1] == 2
