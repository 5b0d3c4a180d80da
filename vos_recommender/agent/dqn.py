"""Double DQN over a per-frame Q-network, with SB3's algorithm interface.

The algorithm of Yin et al., "Learning to Recommend Frame for Interactive Video Object Segmentation in
the Wild" (CVPR 2021). SB3's ``DQN`` needs a fixed action count and has no action masking; this class
keeps its shape (``learn`` / ``predict`` / ``save`` / ``load``, SB3's logger and callbacks) on top of
:class:`~stable_baselines3.common.off_policy_algorithm.OffPolicyAlgorithm`, with

* the :class:`~vos_recommender.agent.qnet.FrameQPolicy` (one Q-value per frame, any frame count);
* masked exploration and greedy choice (padded frames are never chosen);
* the double-DQN target: the online network picks ``argmax_a Q(s_{t+1}, a)`` over valid frames, the
  target network evaluates it;
* the released training details: per-parameter gradient value clamp, target network copied with a
  fixed probability after each update, exponential epsilon schedule, replay buffer seeded with random
  play before learning.
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import tempfile
import time
import warnings
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.vec_env import VecEnv
from torch.nn import functional as F

from vos_recommender.agent.buffer import FrameReplayBuffer
from vos_recommender.agent.qnet import FrameQPolicy, split_observation

__all__ = ["RecurrentDQN", "valid_action_masks"]

SelfRecurrentDQN = TypeVar("SelfRecurrentDQN", bound="RecurrentDQN")

REWARD_FORMS = ("seed", "released")


def valid_action_masks(observation: np.ndarray, action_masks: np.ndarray | None = None) -> np.ndarray:
    """Boolean ``B x N`` masks of selectable frames from the validity row of ``B x (F+1) x N`` observations.

    Args:
        observation: Batched observations (last row: 1 for frames of the video, 0 for padding).
        action_masks: Optional extra ``B x N`` (or ``N``) masks, combined with AND.

    Returns:
        The masks.
    """
    masks = np.asarray(observation)[:, -1, :] > 0.5
    if action_masks is not None:
        masks = masks & np.asarray(action_masks, dtype=bool).reshape(masks.shape)
    return masks


def _atomic_target(path: pathlib.Path) -> pathlib.Path:
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(handle)
    return pathlib.Path(tmp)


class RecurrentDQN(OffPolicyAlgorithm):
    """Double DQN with a bidirectional-LSTM per-frame Q-network and masked actions.

    Args:
        policy: Policy class or alias (``"FrameQPolicy"``).
        env: Environment (or its gymnasium id) with ``Box(F+1, N)`` observations whose last row marks
            valid frames, and ``Discrete(N)`` actions.
        learning_rate: Adam learning rate or schedule (released: 5e-6).
        buffer_size: Replay capacity in transitions (the released value is not published; 20k holds every
            transition of the default run).
        learning_starts: Agent steps with uniformly random valid actions before the policy acts
            (default 0: the buffer is seeded with ``warmup_episodes`` of random play instead, as released).
        batch_size: Transitions per update (released: 32).
        gamma: Discount (released: 0.95).
        reward_scale: ``delta``, the scale of both reward terms (released: 0.1).
        reward_form: ``"seed"`` (default, the paper's target: ``delta * r_goal`` at the last step,
            ``delta * r_aux + gamma * Q_tgt`` before it, one MSE) or ``"released"`` (the released code:
            ``MSE(Q, gamma * Q_tgt + delta * r_aux) + MSE(Q, delta * r_goal)`` at every step, no done flag;
            needs ``info["reward_goal"]`` and ``info["reward_aux"]`` from the environment).
        train_freq: Update every ``train_freq`` environment steps (SB3 semantics; released: 1).
        gradient_steps: Updates per training call (released: 1).
        target_update_prob: Probability of copying the online network into the target network after each
            update (released: 0.05).
        exploration_final_eps: ``epsilon`` floor (released: 0.25).
        exploration_amplitude: ``epsilon`` decaying part (released: 0.45).
        exploration_decay: ``epsilon`` decay constant in actions (released: 1000); ``epsilon(n) =
            final + amplitude * exp(-n / decay)``, ``n`` = agent actions taken.
        grad_clip: Per-parameter gradient value clamp ``[-c, c]`` (released: 1; 0 disables).
        warmup_episodes: Episodes of uniformly random valid actions stored before learning; they do not
            count as agent steps (released: 10 epochs over the training videos, which
            ``python -m vos_recommender.train`` sets from the number of videos).
        replay_buffer_kwargs: Extra :class:`FrameReplayBuffer` arguments.
        policy_kwargs: :class:`FrameQPolicy` arguments (network sizes, optimiser).
        stats_window_size: Episodes averaged in ``rollout/`` logs.
        tensorboard_log: TensorBoard folder (None: none unless a logger is set).
        verbose: 0 silent, 1 info.
        seed: Seed of the network initialisation, exploration, target copies, replay sampling and the
            environments.
        device: Torch device.
        _init_setup_model: Build the networks now (SB3 internals; ``load`` passes False).
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {"FrameQPolicy": FrameQPolicy}
    policy: FrameQPolicy
    replay_buffer: FrameReplayBuffer

    def __init__(
        self,
        policy: str | type[FrameQPolicy] = "FrameQPolicy",
        env: GymEnv | str | None = None,
        learning_rate: float | Schedule = 5e-6,
        buffer_size: int = 20_000,
        learning_starts: int = 0,
        batch_size: int = 32,
        gamma: float = 0.95,
        reward_scale: float = 0.1,
        reward_form: str = "seed",
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = 1,
        target_update_prob: float = 0.05,
        exploration_final_eps: float = 0.25,
        exploration_amplitude: float = 0.45,
        exploration_decay: float = 1000.0,
        grad_clip: float = 1.0,
        warmup_episodes: int = 0,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ) -> None:
        if reward_form not in REWARD_FORMS:
            raise ValueError(f"reward_form must be one of {REWARD_FORMS}, got {reward_form!r}")
        if not 0.0 <= target_update_prob <= 1.0:
            raise ValueError(f"target_update_prob must be in [0, 1], got {target_update_prob}")
        if exploration_decay <= 0:
            raise ValueError(f"exploration_decay must be > 0, got {exploration_decay}")
        super().__init__(
            policy,
            env,  # type: ignore[arg-type]
            learning_rate,
            buffer_size=buffer_size,
            learning_starts=learning_starts,
            batch_size=batch_size,
            tau=1.0,
            gamma=gamma,
            train_freq=train_freq,
            gradient_steps=gradient_steps,
            action_noise=None,
            replay_buffer_class=FrameReplayBuffer,
            replay_buffer_kwargs=replay_buffer_kwargs,
            optimize_memory_usage=False,
            policy_kwargs=policy_kwargs,
            stats_window_size=stats_window_size,
            tensorboard_log=tensorboard_log,
            verbose=verbose,
            device=device,
            support_multi_env=True,
            monitor_wrapper=True,
            seed=seed,
            sde_support=False,
            supported_action_spaces=(spaces.Discrete,),
        )
        self.reward_scale = float(reward_scale)
        self.reward_form = reward_form
        self.target_update_prob = float(target_update_prob)
        self.exploration_final_eps = float(exploration_final_eps)
        self.exploration_amplitude = float(exploration_amplitude)
        self.exploration_decay = float(exploration_decay)
        self.exploration_rate = self.exploration_final_eps + self.exploration_amplitude
        self.grad_clip = float(grad_clip)
        self.warmup_episodes = int(warmup_episodes)
        self.warmup_done = False
        self.target_updates = 0
        # Generators owned by the algorithm (pickled with it) so exploration and target copies are
        # reproducible and survive save/load; created in _setup_model unless restored by load().
        self._explore_rng: np.random.Generator | None = None
        self._target_rng: np.random.Generator | None = None
        self._resume_env_episodes: list[list[int]] | None = None
        if _init_setup_model:
            self._setup_model()

    # ------------------------------------------------------------------ set-up
    def _setup_model(self) -> None:
        streams = np.random.SeedSequence(self.seed).spawn(3)
        self.replay_buffer_kwargs.setdefault("seed", int(streams[0].generate_state(1)[0]))
        super()._setup_model()
        if self._explore_rng is None:
            self._explore_rng = np.random.default_rng(streams[1])
        if self._target_rng is None:
            self._target_rng = np.random.default_rng(streams[2])
        self.q_net = self.policy.q_net
        self.q_net_target = self.policy.q_net_target
        self.exploration_rate = self.epsilon(self.num_timesteps)

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "q_net", "q_net_target"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        return ["policy", "policy.optimizer"], []

    # ------------------------------------------------------------------ acting
    def epsilon(self, actions_taken: int) -> float:
        """Exploration rate after ``actions_taken`` agent actions: ``final + amplitude * exp(-n / decay)``."""
        return float(
            self.exploration_final_eps
            + self.exploration_amplitude * np.exp(-float(actions_taken) / self.exploration_decay)
        )

    def _random_valid_actions(self, masks: np.ndarray) -> np.ndarray:
        assert self._explore_rng is not None
        actions = np.empty(len(masks), dtype=np.int64)
        for row, mask in enumerate(masks):
            valid = np.flatnonzero(mask)
            if valid.size == 0:
                raise ValueError("an observation has no valid frame to choose (its validity row is all zero)")
            actions[row] = valid[self._explore_rng.integers(valid.size)]
        return actions

    def q_values(self, observation: np.ndarray, action_masks: np.ndarray | None = None) -> np.ndarray:
        """Online Q-values of observations of any frame count.

        Args:
            observation: ``(F+1) x N`` or ``B x (F+1) x N`` observation(s).
            action_masks: Optional masks of allowed frames (AND with the validity row).

        Returns:
            ``N`` or ``B x N`` float array, ``-inf`` at excluded frames.
        """
        obs = np.asarray(observation, dtype=np.float32)
        single = obs.ndim == 2
        batch = obs[None] if single else obs
        masks = valid_action_masks(
            batch, None if action_masks is None else np.asarray(action_masks).reshape(len(batch), -1)
        )
        self.policy.set_training_mode(False)
        with th.no_grad():
            features, _ = split_observation(th.as_tensor(batch, device=self.device))
            values = self.q_net(features, th.as_tensor(masks, device=self.device)).cpu().numpy()
        return values[0] if single else values

    def predict(  # type: ignore[override]
        self,
        observation: np.ndarray,
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
        action_masks: np.ndarray | None = None,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """Choose frames: masked greedy, or epsilon-greedy over valid frames when not deterministic.

        Args:
            observation: ``(F+1) x N`` or ``B x (F+1) x N`` observation(s); ``N`` may differ from training.
            state: Unused (the LSTM runs over the frames of one observation, not over time); returned
                unchanged, for the SB3 recurrent interface.
            episode_start: Unused, for the SB3 recurrent interface.
            deterministic: Greedy when True; otherwise each row explores with probability
                ``self.exploration_rate`` (a uniformly random valid frame).
            action_masks: Optional ``N`` / ``B x N`` masks of allowed frames (AND with the validity row).

        Returns:
            ``(actions, state)``; actions is a NumPy integer for one observation, else a length-``B`` array.

        Raises:
            ValueError: If an observation has no allowed frame.
        """
        obs = np.asarray(observation, dtype=np.float32)
        single = obs.ndim == 2
        batch = obs[None] if single else obs
        masks = valid_action_masks(
            batch, None if action_masks is None else np.asarray(action_masks).reshape(len(batch), -1)
        )
        if not masks.any(axis=1).all():
            raise ValueError("an observation has no allowed frame (validity row and action mask exclude all)")
        values = self.q_values(batch, masks)
        actions = values.argmax(axis=1).astype(np.int64)
        if not deterministic:
            assert self._explore_rng is not None
            explore = self._explore_rng.random(len(batch)) < self.exploration_rate
            if explore.any():
                actions[explore] = self._random_valid_actions(masks[explore])
        return (actions[0] if single else actions), state

    def _sample_action(
        self, learning_starts: int, action_noise: Any = None, n_envs: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        # SB3's version samples the whole action space; padded frames must never be chosen.
        assert self._last_obs is not None, "self._last_obs was not set"
        obs = np.asarray(self._last_obs)
        if self.num_timesteps < learning_starts:
            actions = self._random_valid_actions(valid_action_masks(obs))
        else:
            actions, _ = self.predict(obs, deterministic=False)
        actions = np.asarray(actions, dtype=np.int64).reshape(n_envs)
        return actions, actions

    def _on_step(self) -> None:
        self.exploration_rate = self.epsilon(self.num_timesteps)
        self.logger.record("rollout/exploration_rate", self.exploration_rate)

    def _store_transition(self, replay_buffer, buffer_action, new_obs, reward, dones, infos) -> None:  # type: ignore[no-untyped-def,override]
        super()._store_transition(replay_buffer, buffer_action, new_obs, reward, dones, infos)
        # Which environments start a new episode now: resume checkpoints are written at such points.
        self._last_episode_starts = np.asarray(dones, dtype=bool).copy()

    # ------------------------------------------------------------------ learning
    def _fill_with_random_play(self, episodes: int, progress_bar: bool = False) -> None:
        """Store ``episodes`` whole episodes of uniformly random valid actions (not agent steps)."""
        assert self.env is not None and self._last_obs is not None
        finished = 0
        transitions = 0
        bar = None
        if progress_bar and episodes > 0:
            from tqdm.auto import tqdm

            bar = tqdm(total=episodes, desc="replay warm-up (random play)", unit="episode")
        while finished < episodes:
            actions = self._random_valid_actions(valid_action_masks(np.asarray(self._last_obs)))
            new_obs, rewards, dones, infos = self.env.step(actions)
            self._store_transition(self.replay_buffer, actions, new_obs, rewards, dones, infos)
            finished += int(np.sum(dones))
            transitions += self.env.num_envs
            if bar is not None and np.any(dones):
                bar.update(min(int(np.sum(dones)), episodes - bar.n))
        if bar is not None:
            bar.close()
        if self.verbose >= 1 and episodes > 0:
            print(f"Replay buffer seeded with {finished} random episodes ({transitions} transitions)")
        self.logger.record("rollout/warmup_transitions", transitions)

    def train(self, gradient_steps: int, batch_size: int = 32) -> None:
        """Run ``gradient_steps`` double-DQN updates on replayed batches.

        Args:
            gradient_steps: Number of updates.
            batch_size: Transitions per update.
        """
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        losses, q_means = [], []
        for _ in range(gradient_steps):
            batch = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)
            features, mask = split_observation(batch.observations)
            next_features, next_mask = split_observation(batch.next_observations)
            with th.no_grad():
                next_actions = self.q_net(next_features, next_mask).argmax(dim=1, keepdim=True)
                next_q = self.q_net_target(next_features, next_mask).gather(1, next_actions)
                next_q = th.where(th.isfinite(next_q), next_q, th.zeros_like(next_q))
            q = self.q_net(features, mask).gather(1, batch.actions.long())
            if self.reward_form == "seed":
                target = self.reward_scale * batch.rewards + (1.0 - batch.dones) * self.gamma * next_q
                loss = F.mse_loss(q, target)
            else:
                if th.isnan(batch.goal_rewards).any() or th.isnan(batch.aux_rewards).any():
                    raise ValueError(
                        "reward_form='released' needs info['reward_goal'] and info['reward_aux'] from the "
                        "environment (FrameRecommendationEnv reports both)"
                    )
                loss = F.mse_loss(
                    q, self.gamma * next_q + self.reward_scale * batch.aux_rewards
                ) + F.mse_loss(q, self.reward_scale * batch.goal_rewards)
            self.policy.optimizer.zero_grad()
            loss.backward()
            if self.grad_clip > 0:
                for parameter in self.q_net.parameters():
                    if parameter.grad is not None:
                        parameter.grad.clamp_(-self.grad_clip, self.grad_clip)
            self.policy.optimizer.step()
            self._n_updates += 1
            assert self._target_rng is not None
            if self._target_rng.random() < self.target_update_prob:
                self.q_net_target.load_state_dict(self.q_net.state_dict())
                self.target_updates += 1
            losses.append(loss.item())
            q_means.append(q.mean().item())
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", float(np.mean(losses)))
        self.logger.record("train/q_mean", float(np.mean(q_means)))
        self.logger.record("train/target_updates", self.target_updates)

    def learn(  # type: ignore[override]
        self: SelfRecurrentDQN,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "RecurrentDQN",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
        resume_dir: str | os.PathLike | None = None,
        resume_every: int = 0,
    ) -> SelfRecurrentDQN:
        """Train for ``total_timesteps`` agent steps.

        Before the first agent step the replay buffer is seeded with ``warmup_episodes`` random episodes
        (once per model). Each iteration collects ``train_freq`` steps with epsilon-greedy masked actions
        and runs ``gradient_steps`` updates.

        Args:
            total_timesteps: Agent steps (over all environments) to take.
            callback: SB3 callback(s) (``CheckpointCallback``, ``EvalCallback``, ...).
            log_interval: Dump logs every ``log_interval`` episodes.
            tb_log_name: TensorBoard run name.
            reset_num_timesteps: Start counting from 0 (False continues a loaded model).
            progress_bar: Show a tqdm/rich progress bar.
            resume_dir: Folder for resume checkpoints (model, replay buffer, RNG states); None: none.
            resume_every: Write one after at least this many agent steps, at the next point where every
                environment starts a new episode (0: only at the end).

        Returns:
            self.
        """
        total_timesteps, callback = self._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        if not self.warmup_done:
            self._fill_with_random_play(self.warmup_episodes, progress_bar)
            self.warmup_done = True
            self.start_time = time.time_ns()  # time/fps counts agent steps only
        callback.on_training_start(locals(), globals())
        assert self.env is not None
        next_resume = self.num_timesteps + resume_every if resume_every > 0 else None
        while self.num_timesteps < total_timesteps:
            rollout = self.collect_rollouts(
                self.env,
                train_freq=self.train_freq,  # type: ignore[arg-type]
                action_noise=None,
                callback=callback,
                learning_starts=self.learning_starts,
                replay_buffer=self.replay_buffer,
                log_interval=log_interval,
            )
            if not rollout.continue_training:
                break
            if self.num_timesteps > 0 and self.num_timesteps > self.learning_starts:
                gradient_steps = (
                    self.gradient_steps if self.gradient_steps >= 0 else rollout.episode_timesteps
                )
                if gradient_steps > 0:
                    self.train(batch_size=self.batch_size, gradient_steps=gradient_steps)
            if (
                resume_dir is not None
                and next_resume is not None
                and self.num_timesteps >= next_resume
                and np.all(self._last_episode_starts)
            ):
                self.save_resume_state(resume_dir)
                next_resume = self.num_timesteps + resume_every
        if resume_dir is not None:
            self.save_resume_state(resume_dir)
        callback.on_training_end()
        return self

    # ------------------------------------------------------------------ saving
    def save(
        self,
        path: str | pathlib.Path | io.BufferedIOBase,
        exclude: Any = None,
        include: Any = None,
    ) -> None:
        """Save to a ``.zip`` (SB3 format), atomically: a temporary file in the same folder, then rename.

        Args:
            path: File path (``.zip`` appended when it has no suffix) or a writable buffer.
            exclude: Extra attribute names not to save.
            include: Attribute names to save although excluded by default.
        """
        if isinstance(path, io.BufferedIOBase):
            super().save(path, exclude=exclude, include=include)
            return
        final = pathlib.Path(path)
        if final.suffix == "":
            final = final.with_suffix(".zip")
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = _atomic_target(final)
        try:
            super().save(tmp, exclude=exclude, include=include)
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                tmp.unlink()

    @classmethod
    def load(  # type: ignore[override]
        cls: type[SelfRecurrentDQN],
        path: str | pathlib.Path | io.BufferedIOBase,
        env: GymEnv | None = None,
        device: th.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs: Any,
    ) -> SelfRecurrentDQN:
        """Load a model saved by :meth:`save`.

        Args:
            path: The ``.zip`` file (or buffer).
            env: Environment to attach (its spaces must match the saved ones); None for prediction only.
            device: Torch device.
            custom_objects: Objects replacing saved ones (SB3 semantics).
            print_system_info: Print the saving and current systems.
            force_reset: Reset the environment at the next ``learn`` (SB3 semantics).
            **kwargs: Attributes to override after loading.

        Returns:
            The model.

        Raises:
            FileNotFoundError: If the file does not exist.
            ValueError: If the file is not a readable checkpoint of this algorithm, or does not fit ``env``
                (the message names the file).
        """
        if isinstance(path, (str, os.PathLike)):
            candidate = pathlib.Path(path)
            if not candidate.is_file() and candidate.suffix == "" and candidate.with_suffix(".zip").is_file():
                candidate = candidate.with_suffix(".zip")
            if not candidate.is_file():
                raise FileNotFoundError(f"checkpoint not found: {path}")
            path = candidate
        try:
            model = super().load(
                path,
                env=env,
                device=device,
                custom_objects=custom_objects,
                print_system_info=print_system_info,
                force_reset=force_reset,
                **kwargs,
            )
        except Exception as err:  # SB3 raises many kinds (zip, pickle, key, shape, space errors)
            raise ValueError(
                f"{path}: not a loadable {cls.__name__} checkpoint ({type(err).__name__}: {err})"
            ) from err
        if not isinstance(model.policy, FrameQPolicy):
            raise ValueError(f"{path}: holds a {type(model.policy).__name__}, not a FrameQPolicy")
        return model

    # ------------------------------------------------------------------ resuming
    def _env_episode_states(self) -> list[list[int]] | None:
        env = self.env
        if env is None or not env.has_attr("episode_state"):
            return None
        return [[int(seed), int(episode)] for seed, episode in env.env_method("episode_state")]

    def save_resume_state(self, folder: str | os.PathLike) -> None:
        """Write everything needed to continue training exactly: model, optimiser, RNGs, replay buffer.

        Files (each written atomically; ``resume.json`` last, naming the step of the others):
        ``model.zip``, ``replay_buffer.pkl``, ``resume.json``.

        Args:
            folder: Target folder (created if needed).
        """
        folder = pathlib.Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self._resume_env_episodes = self._env_episode_states()
        self.save(folder / "model.zip")
        buffer_tmp = _atomic_target(folder / "replay_buffer.pkl")
        try:
            self.save_replay_buffer(buffer_tmp)
            os.replace(buffer_tmp, folder / "replay_buffer.pkl")
        finally:
            if buffer_tmp.exists():
                buffer_tmp.unlink()
        meta = {
            "num_timesteps": int(self.num_timesteps),
            "n_updates": int(self._n_updates),
            "buffer_pos": int(self.replay_buffer.pos),
            "buffer_full": bool(self.replay_buffer.full),
            "n_envs": int(self.n_envs),
            "at_episode_start": bool(np.all(self._last_episode_starts)),
        }
        meta_tmp = _atomic_target(folder / "resume.json")
        try:
            meta_tmp.write_text(json.dumps(meta, indent=2))
            os.replace(meta_tmp, folder / "resume.json")
        finally:
            if meta_tmp.exists():
                meta_tmp.unlink()

    @classmethod
    def load_resume_state(
        cls: type[SelfRecurrentDQN], folder: str | os.PathLike, env: VecEnv, device: th.device | str = "auto"
    ) -> SelfRecurrentDQN:
        """Rebuild a model from :meth:`save_resume_state` and put ``env`` back where training left it.

        Environments wrapped in :class:`~vos_recommender.agent.wrappers.EpisodeSeedWrapper` restart the
        episode that was running at the checkpoint with its original seed; when the checkpoint was taken at
        an episode boundary (the usual case) training then continues exactly as if never interrupted.

        Args:
            folder: Folder written by :meth:`save_resume_state`.
            env: Freshly built environments (same kind and count as at the checkpoint).
            device: Torch device.

        Returns:
            The model, ready for ``learn(..., reset_num_timesteps=False)``.

        Raises:
            FileNotFoundError: If a resume file is missing.
            ValueError: If the files are unreadable or do not belong together.
        """
        folder = pathlib.Path(folder)
        meta_path = folder / "resume.json"
        for required in (meta_path, folder / "model.zip", folder / "replay_buffer.pkl"):
            if not required.is_file():
                raise FileNotFoundError(f"resume file missing: {required}")
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"{meta_path}: unreadable ({err})") from err
        if int(meta.get("n_envs", env.num_envs)) != env.num_envs:
            raise ValueError(
                f"{meta_path}: saved with {meta['n_envs']} environments, resuming with {env.num_envs}"
            )
        model = cls.load(folder / "model.zip", env=env, device=device, force_reset=False)
        if model.num_timesteps != meta["num_timesteps"]:
            raise ValueError(
                f"{folder / 'model.zip'} is at step {model.num_timesteps} but {meta_path} says {meta['num_timesteps']}"
            )
        try:
            model.load_replay_buffer(folder / "replay_buffer.pkl")
        except Exception as err:
            raise ValueError(f"{folder / 'replay_buffer.pkl'}: unreadable replay buffer ({err})") from err
        buffer = model.replay_buffer
        if not isinstance(buffer, FrameReplayBuffer) or (buffer.pos, buffer.full) != (
            meta["buffer_pos"],
            meta["buffer_full"],
        ):
            raise ValueError(f"{folder / 'replay_buffer.pkl'} does not belong to {folder / 'model.zip'}")
        model._restore_environment()
        return model

    def _restore_environment(self) -> None:
        assert self.env is not None
        episodes = self._resume_env_episodes
        if episodes is not None and self.env.has_attr("set_pending_episode"):
            for index, (base_seed, episode) in enumerate(episodes):
                self.env.env_method("set_pending_episode", base_seed, episode, indices=[index])
        saved = None if self._last_obs is None else np.asarray(self._last_obs).copy()
        self._last_obs = self.env.reset()  # type: ignore[assignment]
        if saved is None or episodes is None or not np.array_equal(saved, self._last_obs):
            warnings.warn(
                "the environments could not be put back into their checkpoint state (checkpoint taken "
                "mid-episode or environments not wrapped in EpisodeSeedWrapper); the running episodes restart",
                stacklevel=2,
            )
            self._last_episode_starts = np.ones(self.env.num_envs, dtype=bool)
