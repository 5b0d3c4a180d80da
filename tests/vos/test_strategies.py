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


# ---------------------------------------------------------------- the rules a person would try


def test_annotation_distance_is_the_distance_to_the_nearest_annotated_frame() -> None:
    from vos_recommender.strategies import annotation_distance

    assert annotation_distance(7, [2, 5, 2]).tolist() == [2, 1, 0, 1, 1, 0, 1]
    assert annotation_distance(1, [0]).tolist() == [0]
    with pytest.raises(ValueError, match="no annotated frame"):
        annotation_distance(4, [])
    with pytest.raises(ValueError, match="outside a video of 4 frames"):
        annotation_distance(4, [4])


def test_stride_order_steps_a_fifth_of_the_video_from_the_first_frame_and_wraps() -> None:
    from vos_recommender.strategies import stride_order

    assert stride_order(25, 7)[:10] == [7, 12, 17, 22, 2, 8, 13, 18, 23, 3]  # stride 5, then shifted by 1
    assert stride_order(24, 0)[:7] == [0, 5, 10, 15, 20, 1, 6]  # stride round(4.8) = 5 continues past the end
    assert stride_order(10, 0, parts=5) == [0, 2, 4, 6, 8, 1, 3, 5, 7, 9]
    assert stride_order(1, 0) == [0]
    assert sorted(stride_order(23, 11)) == list(range(23))
    with pytest.raises(ValueError, match="first_frame 3 outside"):
        stride_order(3, 3)


def test_stride_takes_the_next_unannotated_frame_of_its_order() -> None:
    from vos_recommender.strategies import StrideStrategy

    strategy = build_strategy("stride")
    assert isinstance(strategy, StrideStrategy)
    quality, counts = np.zeros(25), np.zeros(25)
    assert strategy.recommend(quality, counts, [7]) == 12
    assert strategy.recommend(quality, counts, [7, 12, 17, 22]) == 2  # wraps around
    assert strategy.recommend(quality, counts, [7, 17]) == 12  # an order frame annotated out of turn
    assert strategy.recommend(np.zeros(10), np.zeros(10), [0, 2, 4, 6, 8]) == 1  # the shifted cycle
    assert strategy.recommend(np.zeros(3), np.ones(3), [0, 1, 2]) == 0  # all annotated: after the latest
    assert strategy.recommend(np.zeros(3), np.ones(3), [1, 2, 0]) == 1  # order 1, 2, 0: after 0, 1 again
    assert strategy.recommend(np.zeros(1), np.ones(1), [0]) == 0  # one frame
    with pytest.raises(ValueError, match="anchored at the first annotated frame"):
        strategy.recommend(np.zeros(3), np.zeros(3), [])


def test_farthest_takes_the_largest_distance_earliest_on_ties() -> None:
    strategy = build_strategy("farthest")
    # distances 3 2 1 0 1 2 3 4 5 6
    assert strategy.recommend(np.zeros(10), np.zeros(10), [3]) == 9
    # distances 3 2 1 0 1 2 3 2 1 0: frames 0 and 6 tie
    assert strategy.recommend(np.zeros(10), np.zeros(10), [3, 9]) == 0
    # the video's centre annotated: both ends at distance 4, the earliest wins
    assert strategy.recommend(np.zeros(9), np.zeros(9), [4]) == 0
    # the quality is ignored
    assert strategy.recommend(np.linspace(1, 0, 9), np.zeros(9), [4]) == 0
    # every frame annotated: all distances 0, the least annotated frame
    assert strategy.recommend(np.zeros(3), np.array([2, 1, 1]), [0, 1, 2, 0]) == 1
    assert strategy.recommend(np.zeros(1), np.ones(1), [0]) == 0


def test_uncertain_far_weighs_the_error_by_the_distance() -> None:
    strategy = build_strategy("uncertain_far")
    quality = np.array([1.0, 0.2, 0.9, 0.5, 0.8, 1.0])
    # (1 - q) x d = 0, 0.8, 0.2, 1.5, 0.8, 0
    np.testing.assert_allclose(strategy.scores(quality, np.zeros(6), [0]), [0, 0.8, 0.2, 1.5, 0.8, 0])
    assert strategy.recommend(quality, np.zeros(6), [0]) == 3
    # Worst would take frame 1 (q 0.2); the frame far from the annotation and likely wrong wins here.
    assert build_strategy("worst").recommend(quality, np.zeros(6), [0]) == 1
    # ties of the score: the larger distance (frame 1: 0.5 x 1, frame 2: 0.25 x 2)
    assert strategy.recommend(np.array([1.0, 0.5, 0.75]), np.zeros(3), [0]) == 2
    # ties of score and distance: the lower quality (frame 0: 0.5 x 2, frame 4: 0.5 x 2 -> equal; both
    # q 0.5), then the earliest
    assert strategy.recommend(np.array([0.5, 0.9, 1.0, 0.9, 0.5]), np.zeros(5), [2]) == 0
    # every unannotated frame perfect (scores all 0): the farthest frame, earliest on ties
    assert strategy.recommend(np.ones(5), np.zeros(5), [2]) == 0
    # every frame annotated: the lowest quality, as Worst
    assert strategy.recommend(np.array([0.3, 0.1, 0.2]), np.ones(3), [0, 1, 2]) == 1
    assert strategy.recommend(np.array([0.4]), np.ones(1), [0]) == 0


def test_the_rules_and_the_lookahead_are_strategies_by_name() -> None:
    from vos_recommender.strategies import STRATEGIES, LookaheadStrategy

    assert {"stride", "farthest", "uncertain_far", "lookahead"} <= set(STRATEGIES.names())
    assert not any(
        build_strategy(n).uses_ground_truth for n in ("random", "stride", "farthest", "uncertain_far")
    )
    with pytest.raises(ValueError, match="needs the interactive session"):
        build_strategy("lookahead")
    assert LookaheadStrategy.uses_ground_truth
    with pytest.raises(ValueError, match="candidates must be >= 1"):
        LookaheadStrategy(object(), candidates=0)  # type: ignore[arg-type]
    capped = LookaheadStrategy(object(), candidates=4)  # type: ignore[arg-type]
    assert capped.candidate_frames(3) == [0, 1, 2]  # short video: every frame
    assert capped.candidate_frames(10) == [0, 3, 6, 9]  # evenly spaced


def test_each_strategy_says_why_in_plain_words() -> None:
    quality = np.array([0.9, 0.8, 0.2, 0.6, 0.4, 0.9, 0.7, 0.9, 0.9, 0.3])
    counts = np.zeros(10)
    reasons = {
        name: build_strategy(name, seed=0).reason(9, quality, counts, [0, 8])
        for name in ("random", "linspace", "stride", "farthest", "worst", "uncertain_far")
    }
    assert reasons == {
        "random": "a random frame",
        "linspace": "the next of 8 evenly spaced frames",
        "stride": "the next frame at a stride of 2 frames (1/5 of the video) from frame 0",
        "farthest": "farthest from annotated frames: 1 frame from the nearest annotated frame",
        "worst": "the lowest estimated quality (0.30) of the frames not annotated yet",
        "uncertain_far": "far from annotated frames and likely wrong: 1 frame from the nearest annotated frame, "
        "estimated quality 0.30",
    }
    assert build_strategy("farthest").reason(8, quality, counts, [0, 8]).endswith(": an annotated frame")


def test_deployable_strategy_names_are_checked_once_for_the_app_and_recommend():
    from vos_recommender.strategies import DEPLOYABLE_STRATEGIES, STRATEGIES, deployable_strategy_name

    assert deployable_strategy_name(" Uncertain_Far ") == "uncertain_far"
    assert deployable_strategy_name("Ours", agent="agent.zip") == "agent"
    assert deployable_strategy_name("ranker", ranker="r.pt") == "ranker"
    # Every strategy but the ground-truth lookahead can be followed without it ("ours" is the agent).
    assert set(STRATEGIES) - set(DEPLOYABLE_STRATEGIES) == {"lookahead", "ours"}
    with pytest.raises(
        ValueError, match="--strategy lookahead: it tries frames with the ground truth, which X"
    ):
        deployable_strategy_name("lookahead", "--strategy", where="X")
    with pytest.raises(ValueError, match="--strategy best: unknown; use one of agent, worst, uncertain_far"):
        deployable_strategy_name("best", "--strategy")
    with pytest.raises(ValueError, match="strategy agent needs a trained agent"):
        deployable_strategy_name("agent")
    with pytest.raises(ValueError, match="strategy ranker needs a trained gain ranker"):
        deployable_strategy_name("ranker")
