"""The agent beyond the paper: the context observation end to end, the per-round-gain reward, and the
Q-network started from a gain ranker."""

from __future__ import annotations

import json

import numpy as np
import pytest
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import DummyVecEnv

from tests.vos.test_agent_toy_env import single_torch_thread  # noqa: F401  (autouse fixture)
from vos_recommender.agent import RecurrentDQN
from vos_recommender.agent.ranker import GainRanker, RankerConfig
from vos_recommender.envs import FrameRecommendationEnv
from vos_recommender.envs.config import RewardConfig
from vos_recommender.metrics.auc import remaining_round_weight, round_auc, round_weights
from vos_recommender.strategies import AgentStrategy
from vos_recommender.train import main

ROUNDS = 4


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory):
    from vos_recommender.data.generate import generate_davis_dataset

    return generate_davis_dataset(
        tmp_path_factory.mktemp("context_gain_data"),
        num_train=2,
        num_val=0,
        num_frames=6,
        height=40,
        width=56,
        max_objects=1,
        seed=4,
    )


@pytest.fixture(scope="module")
def videos(dataset_root):
    from vos_recommender.data.davis import DavisDataset

    dataset = DavisDataset(dataset_root, split="train")
    return [dataset[i] for i in range(len(dataset.sequences))]


def _env(videos, layout="context", mode="gain", **settings):
    config = {
        "backend": "flow",
        "num_rounds": ROUNDS,
        "reward.mode": mode,
        "episode.observation": layout,
        "max_frames": 7,  # one padded column
        **settings,
    }
    return FrameRecommendationEnv(config, videos=videos)


def _counts(info, num_frames):
    return np.bincount(info["annotated_frames"], minlength=num_frames)


# ------------------------------------------------------------------ the per-round-gain reward
def test_round_weights_sum_to_the_auc():
    assert round_weights(8).tolist() == [1 / 8] * 7 + [1 / 16]
    assert remaining_round_weight(1, 8) == pytest.approx(7.5 / 8)
    assert remaining_round_weight(8, 8) == pytest.approx(0.5 / 8)
    jf = np.array([0.3, 0.5, 0.45, 0.7, 0.8])
    gains = np.diff(jf)
    rebuilt = jf[0] * remaining_round_weight(1, 5) + sum(
        g * remaining_round_weight(s, 5) for s, g in enumerate(gains, start=2)
    )
    assert rebuilt == pytest.approx(round_auc(jf, num_rounds=5), abs=1e-12)
    with pytest.raises(ValueError, match="round_number"):
        remaining_round_weight(0, 8)


def test_gain_reward_return_is_the_auc_minus_its_first_round_constant(videos):
    env = _env(videos)
    assert not env.goal_reward_enabled  # no random-recommendation statistics are played
    video = videos[0]
    for actions in ([5, 0, 3], [2, 2, 4]):  # a repeat is allowed and gains what it gains
        _, info = env.reset(options={"video": video.name})
        first = info["jf_mean"]
        rewards, jf = [], [first]
        for action in actions:
            _, reward, terminated, _, info = env.step(action)
            rewards.append(reward)
            jf.append(info["jf_mean"])
            assert info["reward_goal"] == 0.0
        assert terminated
        constant = first * remaining_round_weight(1, ROUNDS)
        assert sum(rewards) == pytest.approx(info["auc"] - constant, abs=1e-9)
        assert info["auc"] == pytest.approx(round_auc(jf, num_rounds=ROUNDS), abs=1e-9)
        # Each step pays its own gain times the AUC weight still ahead of it.
        expected = [(jf[s - 1] - jf[s - 2]) * remaining_round_weight(s, ROUNDS) for s in range(2, ROUNDS + 1)]
        np.testing.assert_allclose(rewards, expected, atol=1e-12)
    with pytest.raises(ValueError, match=r"reward.mode must be one of \['seed', 'released', 'gain'\]"):
        RewardConfig(mode="auc")


# ------------------------------------------------------------------ the context layout end to end
class ObservationCheck(BaseCallback):
    """At every training step, the observation the environment gave and what AgentStrategy builds from the
    same quality and counts."""

    def __init__(self, max_count: int) -> None:
        super().__init__()
        self.max_count = max_count
        self.pairs: list[tuple[np.ndarray, np.ndarray]] = []

    def _on_step(self) -> bool:
        info, done = self.locals["infos"][0], self.locals["dones"][0]
        obs = info["terminal_observation"] if done else self.locals["new_obs"][0]
        strategy = AgentStrategy(self.model)
        n = len(info["quality"])
        built = strategy.observation(info["quality"], _counts(info, n))
        self.pairs.append((np.asarray(obs), built))
        return True


def _agent(env, layout="context", width=16, **kwargs):
    return RecurrentDQN(
        "FrameQPolicy",
        env,
        learning_rate=1e-3,
        batch_size=4,
        gamma=1.0,
        reward_form="gain",
        observation_layout=layout,
        warmup_episodes=1,
        policy_kwargs={"embed_dim": width, "lstm_dim": width, "head_dim": width},
        seed=0,
        **kwargs,
    )


def test_context_agent_strategy_sees_what_the_environment_showed_in_training(videos, tmp_path):
    env = DummyVecEnv([lambda: _env(videos)])
    model = _agent(env)
    check = ObservationCheck(ROUNDS)
    model.learn(9, callback=check)
    assert len(check.pairs) == 9
    for obs, built in check.pairs:
        assert obs.shape == (8, 7) and built.shape == (8, 6)
        np.testing.assert_array_equal(obs[:, :6], built)
        assert not obs[:, 6].any()  # the padded column
    # The layout travels in the checkpoint: a loaded agent builds the same observation and picks the same frame.
    model.save(tmp_path / "agent.zip")
    strategy = AgentStrategy(tmp_path / "agent.zip")
    assert strategy.layout == "context" and strategy.max_count == ROUNDS
    single = _env(videos)
    obs, info = single.reset(options={"video": videos[1].name})
    quality, counts = info["quality"], _counts(info, 6)
    np.testing.assert_array_equal(strategy.observation(quality, counts), obs[:, :6])
    action, _ = model.predict(obs, deterministic=True, action_masks=single.action_masks())
    assert strategy.recommend(quality, counts, info["annotated_frames"]) == int(action)
    # A paper-layout agent keeps the paper observation (3 rows).
    paper = _agent(DummyVecEnv([lambda: _env(videos, layout="paper", mode="seed")]), layout="paper")
    assert AgentStrategy(paper).observation(quality, counts).shape == (3, 6)
    with pytest.raises(ValueError, match=r"observation_layout='paper' has 3 rows .* have 8"):
        _agent(env, layout="paper")


# ------------------------------------------------------------------ started from a gain ranker
def _ranker(layout="context", rounds=ROUNDS, width=16):
    config = RankerConfig(layout=layout, num_rounds=rounds, embed_dim=width, lstm_dim=width, head_dim=width)
    return GainRanker(config, seed=3)


def test_q_network_started_from_a_ranker_ranks_as_the_ranker(videos, tmp_path):
    ranker = _ranker()
    ranker.save(tmp_path / "ranker.pt")
    model = _agent(DummyVecEnv([lambda: _env(videos)]))
    before = AgentStrategy(model)
    rng = np.random.default_rng(0)
    state = (rng.uniform(size=6), np.array([1, 0, 0, 2, 0, 0]))
    assert not np.allclose(before.scores(*state), ranker.scores(*state) * ranker.config.gain_scale)
    model.start_from_ranker(tmp_path / "ranker.pt")
    strategy = AgentStrategy(model)
    for _ in range(5):
        quality, counts = rng.uniform(size=6), rng.integers(0, 3, size=6)
        counts[rng.integers(6)] += 1  # at least one annotated frame
        q, gains = strategy.scores(quality, counts), ranker.scores(quality, counts)
        np.testing.assert_allclose(q, gains * ranker.config.gain_scale, rtol=1e-5, atol=1e-6)
        assert np.argsort(-q, kind="stable").tolist() == np.argsort(-gains, kind="stable").tolist()
        assert strategy.recommend(quality, counts, []) == int(np.argmax(gains))
    # The target network starts from the same weights.
    for online, target in zip(model.q_net.parameters(), model.q_net_target.parameters()):
        assert np.array_equal(online.detach().numpy(), target.detach().numpy())


def test_starting_from_a_ranker_of_another_shape_says_what_differs(videos):
    model = _agent(DummyVecEnv([lambda: _env(videos)]))
    with pytest.raises(ValueError, match=r"embed_dim: ranker 8, agent 16; lstm_dim: ranker 8, agent 16"):
        model.start_from_ranker(_ranker(width=8))
    with pytest.raises(ValueError, match=r"observation layout \(env.episode.observation\): ranker 'paper'"):
        model.start_from_ranker(_ranker(layout="paper"))
    with pytest.raises(ValueError, match=r"rounds \(env.episode.num_rounds\): ranker 8, agent 4"):
        model.start_from_ranker(_ranker(rounds=8))


def test_training_command_context_gain_and_ranker_start(dataset_root, tmp_path):
    ranker = _ranker(rounds=3, width=8)
    ranker.save(tmp_path / "ranker.pt")
    runs = tmp_path / "runs"

    def args(init_from):
        return [
            *("--data", str(dataset_root), "--runs-dir", str(runs), "--name", "ctx", "--overwrite"),
            *("--cache-dir", str(tmp_path / "cache"), "--num-rounds", "3", "--warmup-epochs", "1"),
            *("--env.episode.observation", "context", "--env.reward.mode", "gain", "--gamma", "1.0"),
            *("--embed-dim", "8", "--lstm-dim", "8", "--head-dim", "8", "--init-from", str(init_from)),
            *("--total-timesteps", "4", "--batch-size", "4", "--lr", "0"),
            *("--checkpoint-freq", "0", "--resume-every", "0", "--no-progress-bar", "--verbose", "0"),
        ]

    with pytest.raises(SystemExit, match=r"--init-from: no gain ranker checkpoint at .*missing\.pt"):
        main(args(tmp_path / "missing.pt"))
    main(args(tmp_path / "ranker.pt"))
    run = runs / "ctx"
    summary = json.loads((run / "summary.json").read_text())
    assert summary["observation_layout"] == "context" and summary["reward_mode"] == "gain"
    assert summary["init_from"] == str(tmp_path / "ranker.pt")
    strategy = AgentStrategy(run / "final_model.zip")
    assert strategy.layout == "context" and strategy.max_count == 3
    # Learning rate 0: the trained weights are still the ranker's, so the agent ranks as the ranker.
    quality, counts = np.linspace(0.9, 0.2, 6), np.array([1, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(
        strategy.scores(quality, counts), ranker.scores(quality, counts) * ranker.config.gain_scale, rtol=1e-5
    )
