"""RecurrentDQN: masking, epsilon schedule, the double-DQN targets, learning, callbacks, save/load, resume."""

from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from stable_baselines3 import DQN
from stable_baselines3.common.callbacks import CallbackList, CheckpointCallback, EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

from tests.vos.test_agent_toy_env import (
    WindowDeficitEnv,
    single_torch_thread,  # noqa: F401  (autouse fixture)
)
from vos_recommender.agent import EpisodeSeedWrapper, FrameReplayBuffer, RecurrentDQN
from vos_recommender.agent.resume import current_state

SMALL_NET = {"embed_dim": 16, "lstm_dim": 16, "head_dim": 16}


def toy_vec_env(n_envs: int = 1, seed: int = 0, vec_env_cls: type = DummyVecEnv) -> DummyVecEnv:
    return make_vec_env(
        lambda: EpisodeSeedWrapper(WindowDeficitEnv()), n_envs=n_envs, seed=seed, vec_env_cls=vec_env_cls
    )


def small_model(env, **kwargs) -> RecurrentDQN:
    settings = {"learning_rate": 1e-3, "seed": 0, "warmup_episodes": 5, "policy_kwargs": dict(SMALL_NET)}
    settings.update(kwargs)
    return RecurrentDQN(env=env, **settings)


def parameters(model: RecurrentDQN) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.policy.parameters()]


def test_released_defaults() -> None:
    model = RecurrentDQN(env=toy_vec_env())
    assert model.learning_rate == 5e-6 and model.batch_size == 32 and model.gamma == 0.95
    assert model.reward_scale == 0.1 and model.target_update_prob == 0.05 and model.grad_clip == 1.0
    assert model.reward_form == "seed"
    assert model.policy.optimizer.defaults["weight_decay"] == 5e-4
    assert isinstance(model.policy.optimizer, torch.optim.Adam)
    assert sum(p.numel() for p in model.q_net.parameters()) == 182_017
    assert isinstance(model.replay_buffer, FrameReplayBuffer)
    # epsilon = 0.25 + 0.45 exp(-n / 1000)
    for n in (0, 500, 1000, 5000):
        assert model.epsilon(n) == pytest.approx(0.25 + 0.45 * np.exp(-n / 1000))
    with pytest.raises(ValueError):
        RecurrentDQN(env=toy_vec_env(), reward_form="other")


def test_exploration_and_greedy_never_choose_padded_frames() -> None:
    env = toy_vec_env()
    model = small_model(env)
    obs = np.zeros((64, 3, 10), dtype=np.float32)
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 11, size=64)
    for row, length in enumerate(lengths):
        obs[row, 0, :length] = rng.random(length)
        obs[row, 2, :length] = 1.0
    model.exploration_rate = 1.0
    for _ in range(20):
        actions, _ = model.predict(obs, deterministic=False)
        assert (actions < lengths).all()
    greedy, _ = model.predict(obs, deterministic=True)
    assert (greedy < lengths).all()
    # A length the model was not trained on works too (the network is length-agnostic).
    longer = np.zeros((3, 40), dtype=np.float32)
    longer[0], longer[2, :33] = rng.random(40), 1.0
    assert int(model.predict(longer, deterministic=True)[0]) < 33
    # Explicit action masks restrict the choice further, in exploration as well.
    allowed = np.zeros((64, 10), dtype=bool)
    allowed[:, 0] = True
    assert (model.predict(obs, deterministic=False, action_masks=allowed)[0] == 0).all()


def reference_loss(model: RecurrentDQN, batch, form: str) -> float:
    """Slow per-sample double-DQN loss, written from the equations of the design notes."""
    losses = []
    for i in range(batch.observations.shape[0]):
        obs = batch.observations[i].numpy()
        nxt = batch.next_observations[i].numpy()
        q = model.q_values(obs)[int(batch.actions[i])]
        online_next = model.q_values(nxt)
        valid = np.flatnonzero(nxt[2] > 0.5)
        best = valid[np.argmax(online_next[valid])]  # the policy net chooses ...
        with torch.no_grad():
            target_next = model.q_net_target(
                torch.as_tensor(nxt[:2].T[None]), torch.as_tensor(nxt[2][None] > 0.5)
            )[0, best].item()  # ... the target net evaluates
        delta, gamma = model.reward_scale, model.gamma
        if form == "seed":
            done = float(batch.dones[i])
            target = delta * float(batch.rewards[i]) + (1 - done) * gamma * target_next
            losses.append((q - target) ** 2)
        else:
            td = gamma * target_next + delta * float(batch.aux_rewards[i])
            goal = delta * float(batch.goal_rewards[i])
            losses.append(((q - td) ** 2, (q - goal) ** 2))
    if form == "seed":
        return float(np.mean(losses))
    return float(np.mean([a for a, _ in losses]) + np.mean([b for _, b in losses]))


@pytest.mark.parametrize("form", ["seed", "released"])
def test_training_loss_matches_double_dqn_reference(form: str) -> None:
    model = small_model(
        toy_vec_env(), reward_form=form, batch_size=16, warmup_episodes=10, target_update_prob=0.0
    )
    model.learn(30)  # fills the buffer and moves online and target networks apart
    model.set_logger(configure(None, []))
    buffer_rng = copy.deepcopy(model.replay_buffer.rng)
    batch = model.replay_buffer.sample(16)
    expected = reference_loss(model, batch, form)
    model.replay_buffer.rng = buffer_rng  # train() draws the same batch
    model.train(gradient_steps=1, batch_size=16)
    assert model.logger.name_to_value["train/loss"] == pytest.approx(expected, rel=1e-4, abs=1e-7)


def test_gradient_value_clamp_and_target_copy_probability() -> None:
    model = small_model(toy_vec_env(), reward_scale=1000.0, target_update_prob=0.0, warmup_episodes=4)
    model.learn(10)
    seen = []
    step = model.policy.optimizer.step

    def recording_step(*args, **kwargs):
        seen.append(max(p.grad.abs().max().item() for p in model.q_net.parameters()))
        return step(*args, **kwargs)

    model.policy.optimizer.step = recording_step
    target_before = [p.clone() for p in model.q_net_target.parameters()]
    model.train(gradient_steps=3, batch_size=8)
    assert (
        seen and max(seen) <= 1.0 + 1e-6 and max(seen) == pytest.approx(1.0)
    )  # large rewards saturate the clamp
    assert all(torch.equal(a, b) for a, b in zip(target_before, model.q_net_target.parameters()))
    model.target_update_prob = 1.0
    model.train(gradient_steps=1, batch_size=8)
    assert all(torch.equal(a, b) for a, b in zip(model.q_net.parameters(), model.q_net_target.parameters()))


def test_learn_logs_through_sb3_logger(tmp_path: Path) -> None:
    env = toy_vec_env(n_envs=2)
    model = small_model(env, warmup_episodes=4)
    model.set_logger(configure(str(tmp_path), ["csv", "tensorboard"]))
    model.learn(120, log_interval=2)
    header = (tmp_path / "progress.csv").read_text().splitlines()[0].split(",")
    for key in ("train/loss", "rollout/ep_rew_mean", "rollout/exploration_rate", "time/total_timesteps"):
        assert key in header
    assert list(tmp_path.glob("events.out.tfevents*"))
    assert model.num_timesteps == 120
    # 4 warm-up episodes of 3 steps (2 envs may overshoot by one step each) plus the 120 agent steps.
    assert model.replay_buffer.pos * 2 >= 120 + 12


def test_learning_beats_random_on_the_toy_task() -> None:
    env = toy_vec_env(seed=0)
    model = small_model(
        env,
        learning_rate=2e-3,
        warmup_episodes=50,
        exploration_decay=300,
        exploration_final_eps=0.05,
        gamma=0.0,
        reward_scale=1.0,
    )
    eval_env = toy_vec_env(seed=123)
    untrained = evaluate_policy(model, eval_env, n_eval_episodes=60, deterministic=True)[0]
    model.learn(600)
    trained = evaluate_policy(model, eval_env, n_eval_episodes=60, deterministic=True)[0]
    model.exploration_rate = 1.0
    random = evaluate_policy(model, eval_env, n_eval_episodes=60, deterministic=False)[0]
    # Optimal return is 3; uniformly random choice gets about 3 / 7.5.
    assert trained > random + 1.0 and trained > untrained + 0.8, (untrained, trained, random)


def test_seeded_training_is_reproducible() -> None:
    runs = []
    for _ in range(2):
        model = small_model(toy_vec_env(seed=3), seed=3)
        model.learn(60)
        runs.append(parameters(model))
    for a, b in zip(*runs):
        assert torch.equal(a, b)
    other = small_model(toy_vec_env(seed=4), seed=4)
    other.learn(60)
    assert not all(torch.equal(a, b) for a, b in zip(runs[0], parameters(other)))


def test_save_load_gives_identical_predictions(tmp_path: Path) -> None:
    model = small_model(toy_vec_env())
    model.learn(30)
    model.save(tmp_path / "agent")
    assert (tmp_path / "agent.zip").is_file() and not list(tmp_path.glob(".*tmp*"))
    loaded = RecurrentDQN.load(tmp_path / "agent.zip")
    obs = np.stack([toy_vec_env(seed=s).reset()[0] for s in range(8)])
    np.testing.assert_array_equal(model.q_values(obs), loaded.q_values(obs))
    np.testing.assert_array_equal(
        model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0]
    )
    assert loaded.policy.net_kwargs == model.policy.net_kwargs
    for a, b in zip(model.q_net_target.parameters(), loaded.q_net_target.parameters()):
        assert torch.equal(a, b)
    # With an environment it keeps training.
    RecurrentDQN.load(tmp_path / "agent.zip", env=toy_vec_env()).learn(6)


def test_corrupt_or_mismatched_checkpoints_are_rejected_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nothing.zip"):
        RecurrentDQN.load(tmp_path / "nothing.zip")
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"this is not a zip file")
    with pytest.raises(ValueError, match="garbage.zip"):
        RecurrentDQN.load(garbage)
    model = small_model(toy_vec_env())
    model.save(tmp_path / "good.zip")
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes((tmp_path / "good.zip").read_bytes()[:500])
    with pytest.raises(ValueError, match="truncated.zip"):
        RecurrentDQN.load(truncated)
    # A zip whose parameters were replaced by another network's.
    swapped = tmp_path / "swapped.zip"
    other = small_model(toy_vec_env(), policy_kwargs={"embed_dim": 8, "lstm_dim": 8, "head_dim": 8})
    other.save(tmp_path / "other.zip")
    with zipfile.ZipFile(tmp_path / "good.zip") as src, zipfile.ZipFile(tmp_path / "other.zip") as alt:
        with zipfile.ZipFile(swapped, "w") as out:
            for name in src.namelist():
                out.writestr(name, (alt if name == "policy.pth" else src).read(name))
    with pytest.raises(ValueError, match="swapped.zip"):
        RecurrentDQN.load(swapped)
    # Another algorithm's checkpoint.
    dqn = DQN("MlpPolicy", WindowDeficitEnv(min_frames=10), learning_starts=0, buffer_size=100)
    dqn.save(tmp_path / "sb3_dqn.zip")
    with pytest.raises(ValueError, match="sb3_dqn.zip"):
        RecurrentDQN.load(tmp_path / "sb3_dqn.zip")
    # An environment whose spaces differ.
    wrong_env = make_vec_env(lambda: WindowDeficitEnv(max_frames=12), n_envs=1)
    with pytest.raises(ValueError, match="good.zip"):
        RecurrentDQN.load(tmp_path / "good.zip", env=wrong_env)


def test_checkpoint_and_eval_callbacks_work_unchanged(tmp_path: Path) -> None:
    model = small_model(toy_vec_env())
    checkpoints = CheckpointCallback(
        save_freq=20, save_path=str(tmp_path / "ckpt"), name_prefix="agent", save_replay_buffer=True
    )
    evaluation = EvalCallback(
        toy_vec_env(seed=9),
        n_eval_episodes=3,
        eval_freq=30,
        best_model_save_path=str(tmp_path / "best"),
        log_path=str(tmp_path / "eval"),
    )
    model.learn(60, callback=CallbackList([checkpoints, evaluation]))
    saved = sorted(p.name for p in (tmp_path / "ckpt").glob("agent_*_steps.zip"))
    assert saved == ["agent_20_steps.zip", "agent_40_steps.zip", "agent_60_steps.zip"]
    assert (tmp_path / "ckpt" / "agent_replay_buffer_60_steps.pkl").is_file()
    reloaded = RecurrentDQN.load(tmp_path / "ckpt" / "agent_60_steps.zip")
    assert reloaded.num_timesteps == 60
    results = np.load(tmp_path / "eval" / "evaluations.npz")
    assert results["timesteps"].tolist() == [30, 60] and results["results"].shape == (2, 3)
    assert (tmp_path / "best" / "best_model.zip").is_file()
    assert np.isfinite(evaluation.best_mean_reward)


def test_resume_continues_exactly(tmp_path: Path) -> None:
    # Episodes are 3 steps long: 30 + 30 steps splits at an episode boundary.
    full = small_model(toy_vec_env(seed=5), seed=5)
    full.learn(60)

    first = small_model(toy_vec_env(seed=5), seed=5)
    first.learn(30, resume_dir=tmp_path / "resume")
    del first
    resumed = RecurrentDQN.load_resume_state(tmp_path / "resume", toy_vec_env(seed=77))
    assert resumed.num_timesteps == 30
    resumed.learn(30, reset_num_timesteps=False)
    assert resumed.num_timesteps == 60
    for a, b in zip(parameters(full), parameters(resumed)):
        assert torch.equal(a, b)
    assert resumed.n_updates == full.n_updates > 0 and resumed.target_updates == full.target_updates


def test_resume_files_are_checked(tmp_path: Path) -> None:
    model = small_model(toy_vec_env())
    model.learn(9, resume_dir=tmp_path / "resume")
    with pytest.raises(ValueError, match="environments"):
        RecurrentDQN.load_resume_state(tmp_path / "resume", toy_vec_env(n_envs=2))
    state = current_state(tmp_path / "resume")
    (state / "replay_buffer.pkl").write_bytes(b"broken")
    with pytest.raises(ValueError, match="replay_buffer.pkl"):
        RecurrentDQN.load_resume_state(tmp_path / "resume", toy_vec_env())
    (state / "resume.json").unlink()
    with pytest.raises(FileNotFoundError, match="resume.json"):
        RecurrentDQN.load_resume_state(tmp_path / "resume", toy_vec_env())


def test_subproc_vec_env() -> None:
    env = toy_vec_env(n_envs=2, vec_env_cls=SubprocVecEnv)
    try:
        model = small_model(env, warmup_episodes=2)
        model.learn(20)
        assert model.num_timesteps == 20
        assert env.env_method("action_masks")[0].dtype == bool
    finally:
        env.close()


def test_resume_from_mid_episode_restarts_the_running_episode(tmp_path: Path) -> None:
    from stable_baselines3.common.callbacks import StopTrainingOnMaxEpisodes

    model = small_model(toy_vec_env(seed=6), seed=6, warmup_episodes=1)
    # Stop during the 5th agent step (SB3 stops before storing it): the second 3-step episode is running.
    stopper = StopTrainingOnMaxEpisodes(max_episodes=100)
    stopper._on_step = lambda: stopper.n_calls < 5  # type: ignore[method-assign]
    model.learn(30, callback=stopper, resume_dir=tmp_path / "resume")
    assert model.num_timesteps == 5
    assert (
        json.loads((current_state(tmp_path / "resume") / "resume.json").read_text())["at_episode_start"]
        is False
    )
    with pytest.warns(UserWarning, match="restart"):
        resumed = RecurrentDQN.load_resume_state(tmp_path / "resume", toy_vec_env(seed=6))
    resumed.learn(5, reset_num_timesteps=False)
    assert resumed.num_timesteps == 10
