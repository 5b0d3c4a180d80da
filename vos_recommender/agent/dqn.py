"""Double DQN over a per-frame Q-network, with SB3's algorithm interface.

The algorithm of Yin et al., "Learning to Recommend Frame for Interactive Video Object Segmentation in
the Wild" (CVPR 2021). SB3's ``DQN`` needs a fixed action count and has no action masking; this class
keeps its shape (``learn`` / ``predict`` / ``save`` / ``load``, SB3's logger and callbacks) on top of
:class:`~stable_baselines3.common.off_policy_algorithm.OffPolicyAlgorithm`, with

* the :class:`~vos_recommender.agent.qnet.FrameQPolicy` (one Q-value per frame, any frame count);
* masked exploration and greedy choice (padded frames are never chosen);
* the double-DQN target: the online network picks ``argmax_a Q(s_{t+1}, a)`` over valid frames, the
  target network evaluates it;
* the released training details: gradient value clipping, target network copied with a
  fixed probability after each update, exponential epsilon schedule, replay buffer seeded with random
  play before learning.
"""

from __future__ import annotations

import functools
import io
import os
import pathlib
import time
import warnings
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, ConvertCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.vec_env import VecEnv

from vos_recommender.agent.buffer import FrameReplayBuffer
from vos_recommender.agent.exploration import epsilon_greedy, exponential_epsilon
from vos_recommender.agent.loss import REWARD_FORMS, double_dqn_loss
from vos_recommender.agent.masks import choice_masks, random_choice
from vos_recommender.agent.persistence import load_model, save_model
from vos_recommender.agent.qnet import FrameQPolicy
from vos_recommender.agent.ranker import GainRanker
from vos_recommender.agent.resume import (
    ResumeCallback,
    env_episode_states,
    load_resume_state,
    save_resume_state,
)
from vos_recommender.envs.observation import COUNT_ROW, LAYOUTS, num_rows

__all__ = ["RecurrentDQN"]

SelfRecurrentDQN = TypeVar("SelfRecurrentDQN", bound="RecurrentDQN")


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
            ``delta * r_aux + gamma * Q_tgt`` before it, one MSE), ``"released"`` (the released code:
            ``MSE(Q, gamma * Q_tgt + delta * r_aux) + MSE(Q, delta * r_goal)`` at every step, no done flag;
            needs ``info["reward_goal"]`` and ``info["reward_aux"]`` from the environment) or ``"gain"``
            (the environment's per-round-gain reward, ``reward.mode="gain"``: ``delta * r + gamma *
            Q_tgt``, one MSE, as the seed form).
        observation_layout: The environment's observation layout (``paper`` or ``context``,
            :mod:`vos_recommender.envs.observation`); saved with the model, so whoever loads it builds the
            same observation (:class:`~vos_recommender.strategies.AgentStrategy`). Its row count must match
            the observation space's.
        train_freq: Update every ``train_freq`` environment steps (SB3 semantics; released: 1).
        gradient_steps: Updates per training call (released: 1).
        target_update_prob: Probability of copying the online network into the target network after each
            update (released: 0.05).
        exploration_final_eps: ``epsilon`` floor (released: 0.25).
        exploration_amplitude: ``epsilon`` decaying part (released: 0.45).
        exploration_decay: ``epsilon`` decay constant in actions (released: 1000); ``epsilon(n) =
            final + amplitude * exp(-n / decay)``, ``n`` = agent actions taken.
        grad_clip: Gradient value clip ``[-c, c]`` of every parameter (released: 1; 0 disables).
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
        observation_layout: str = "paper",
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
        if observation_layout not in LAYOUTS:
            raise ValueError(f"observation_layout must be one of {list(LAYOUTS)}, got {observation_layout!r}")
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
        self.observation_layout = observation_layout
        space = getattr(self, "observation_space", None)
        if space is not None and space.shape[0] != num_rows(observation_layout):
            raise ValueError(
                f"observation_layout={observation_layout!r} has {num_rows(observation_layout)} rows but the "
                f"environment's observations have {space.shape[0]} (episode.observation of the environment?)"
            )
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

    def _on_step(self) -> None:
        self.exploration_rate = self.epsilon(self.num_timesteps)
        self.logger.record("rollout/exploration_rate", self.exploration_rate)

    def _store_transition(self, replay_buffer, buffer_action, new_obs, reward, dones, infos) -> None:  # type: ignore[no-untyped-def,override]
        super()._store_transition(replay_buffer, buffer_action, new_obs, reward, dones, infos)
        # Which environments start a new episode now: resume checkpoints are written at such points.
        self._last_episode_starts = np.asarray(dones, dtype=bool).copy()

    def start_from_ranker(self, ranker: GainRanker | str | os.PathLike) -> GainRanker:
        """Start the online and the target Q-network from a gain ranker's weights (same architecture).

        The ranker predicts the gain of correcting each frame, scaled by its ``gain_scale``; copied here, the
        Q-network ranks the frames of every state as the ranker does until training changes it.

        Args:
            ranker: A :class:`~vos_recommender.agent.ranker.GainRanker` or the path of its checkpoint.

        Returns:
            The ranker.

        Raises:
            ValueError: If the ranker's layout, rounds, recurrence or widths differ from the agent's
                (the message names both values and the setting to change).
        """
        source = str(ranker) if isinstance(ranker, (str, os.PathLike)) else "the ranker"
        if isinstance(ranker, (str, os.PathLike)):
            ranker = GainRanker.load(ranker)
        config, net = ranker.config, self.policy.net_kwargs
        high = np.asarray(self.observation_space.high)[COUNT_ROW]
        rounds = int(np.max(high)) if np.isfinite(high).all() else None
        mismatches = [
            f"{name}: ranker {theirs!r}, agent {ours!r}"
            for name, theirs, ours in (
                ("observation layout (env.episode.observation)", config.layout, self.observation_layout),
                ("rounds (env.episode.num_rounds)", config.num_rounds, rounds),
                ("recurrent", config.recurrent, net["recurrent"]),
                ("embed_dim", config.embed_dim, net["embed_dim"]),
                ("lstm_dim", config.lstm_dim, net["lstm_dim"]),
                ("head_dim", config.head_dim, net["head_dim"]),
            )
            if theirs != ours
        ]
        if mismatches:
            raise ValueError(
                f"cannot start the Q-network from {source}: the architectures differ ({'; '.join(mismatches)})"
            )
        state = ranker.net.state_dict()
        self.q_net.load_state_dict(state)
        self.q_net_target.load_state_dict(state)
        return ranker

    # ------------------------------------------------------------------ acting
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

    def _fill_with_random_play(self, episodes: int, progress_bar: bool = False) -> int:
        """Store ``episodes`` whole episodes of uniformly random valid actions in the replay buffer.

        They are not agent steps: ``num_timesteps`` does not move (the released replay warm-up).

        Args:
            episodes: Episodes to finish (over all environments).
            progress_bar: Show a tqdm bar.

        Returns:
            The number of transitions stored.
        """
        env = self.env
        assert env is not None and self._last_obs is not None and self._explore_rng is not None
        finished = transitions = 0
        bar = None
        if progress_bar and episodes > 0:
            from tqdm.auto import tqdm

            bar = tqdm(total=episodes, desc="replay warm-up (random play)", unit="episode")
        while finished < episodes:
            actions = random_choice(choice_masks(np.asarray(self._last_obs)), self._explore_rng)
            new_obs, rewards, dones, infos = env.step(actions)
            self._store_transition(self.replay_buffer, actions, new_obs, rewards, dones, infos)
            finished += int(np.sum(dones))
            transitions += env.num_envs
            if bar is not None and np.any(dones):
                bar.update(min(int(np.sum(dones)), episodes - bar.n))
        if bar is not None:
            bar.close()
        if self.verbose >= 1 and episodes > 0:
            print(f"Replay buffer seeded with {finished} random episodes ({transitions} transitions)")
        self.logger.record("rollout/warmup_transitions", transitions)
        return transitions

    # ------------------------------------------------------------------ learning
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
            loss, q = double_dqn_loss(
                self.q_net, self.q_net_target, batch, self.gamma, self.reward_scale, self.reward_form
            )
            self.policy.optimizer.zero_grad()
            loss.backward()
            if self.grad_clip > 0:
                th.nn.utils.clip_grad_value_(self.q_net.parameters(), self.grad_clip)
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

    def _setup_learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        reset_num_timesteps: bool = True,
        tb_log_name: str = "run",
        progress_bar: bool = False,
    ) -> tuple[int, BaseCallback]:
        # SB3's set-up, then (once per model) the random-play warm-up of the replay buffer, which does not
        # count as agent steps; OffPolicyAlgorithm.learn then runs its usual loop.
        total_timesteps, callback = super()._setup_learn(
            total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar
        )
        if not self.warmup_done:
            self._fill_with_random_play(self.warmup_episodes, progress_bar)
            self.warmup_done = True
            self.start_time = time.time_ns()  # time/fps counts agent steps only
        return total_timesteps, callback

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
        """Train for ``total_timesteps`` agent steps (SB3's ``OffPolicyAlgorithm.learn``).

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
            resume_dir: Folder for resume states (model, replay buffer, RNG states); None: none. Adds a
                :class:`~vos_recommender.agent.resume.ResumeCallback`.
            resume_every: Write one after at least this many agent steps, at the next point where every
                environment starts a new episode (0: only at the end).

        Returns:
            self.
        """
        if resume_dir is not None:
            saver = ResumeCallback(resume_dir, resume_every)
            given = callback if isinstance(callback, list) else [] if callback is None else [callback]
            callback = CallbackList(
                [c if isinstance(c, BaseCallback) else ConvertCallback(c) for c in given] + [saver]
            )
        return super().learn(
            total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )

    # ------------------------------------------------------------------ saving and resuming
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
        save_model(functools.partial(super().save, exclude=exclude, include=include), path)

    @classmethod
    def load(
        cls,
        path: str | pathlib.Path | io.BufferedIOBase,
        env: GymEnv | None = None,
        device: th.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs: Any,
    ) -> Any:
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
        read = functools.partial(
            super().load,
            env=env,
            device=device,
            custom_objects=custom_objects,
            print_system_info=print_system_info,
            force_reset=force_reset,
            **kwargs,
        )
        return load_model(read, path, cls.__name__, FrameQPolicy)

    @property
    def n_updates(self) -> int:
        """Gradient updates done so far."""
        return int(self._n_updates)

    @property
    def at_episode_start(self) -> bool:
        """True when every environment starts a new episode with its next step (where resume states go)."""
        return bool(np.all(self._last_episode_starts))

    def remember_env_episodes(self) -> None:
        """Record the environments' running episodes (seed and index), saved with the model.

        :meth:`restore_environment` restarts them after a load; environments without
        :class:`~vos_recommender.agent.wrappers.EpisodeSeedWrapper` record nothing.
        """
        self._resume_env_episodes = env_episode_states(self.env)

    def restore_environment(self) -> None:
        """Reset the attached environments into the episodes recorded by :meth:`remember_env_episodes`.

        When the observations then differ from the saved ones (a state taken mid-episode, or environments
        that cannot replay an episode), the running episodes restart, with a warning.
        """
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
                stacklevel=4,
            )
            self._last_episode_starts = np.ones(self.env.num_envs, dtype=bool)

    def save_resume_state(self, folder: str | os.PathLike) -> pathlib.Path:
        """Write everything needed to continue training exactly, as one atomic unit.

        See :func:`vos_recommender.agent.resume.save_resume_state`.

        Args:
            folder: The run's resume folder (created if needed).

        Returns:
            The folder of the new state.
        """
        return save_resume_state(self, folder)

    @classmethod
    def load_resume_state(
        cls, folder: str | os.PathLike, env: VecEnv, device: th.device | str = "auto"
    ) -> Any:
        """Rebuild a model from the newest complete resume state and put ``env`` back where it was.

        See :func:`vos_recommender.agent.resume.load_resume_state`.

        Args:
            folder: The resume folder written by :meth:`save_resume_state`.
            env: Freshly built environments (same kind and count as at the checkpoint).
            device: Torch device.

        Returns:
            The model, ready for ``learn(..., reset_num_timesteps=False)``.
        """
        return load_resume_state(cls, folder, env, device)
