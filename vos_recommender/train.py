"""Train the frame-recommendation agent: ``python -m vos_recommender.train [--flags] [--config file]``.

Sections follow the order the algorithm runs: settings, data, environments, model, training, results.
Every setting is a field of :class:`~vos_recommender.config.TrainConfig` (``--help`` lists them with
their descriptions). A run writes to ``<runs_dir>/<name>/``:

* ``config.json`` / ``config.yaml``: the settings (nested: the environment's under ``env``);
* ``progress.csv`` and TensorBoard ``events.*``: SB3 logger output (``train/loss``, ``rollout/...``);
* ``episodes.csv``: one line per training episode (return, final J&F, AUC); on ``--resume`` it and the
  progress files are cut back to the restored step (:func:`vos_recommender.agent.training_logs.rewind_logs`);
* ``checkpoints/model_<steps>_steps.zip``: periodic checkpoints (SB3 ``CheckpointCallback``);
* ``resume/``: for ``--resume``, ``latest.json`` naming the newest complete state folder (model,
  optimiser, RNG states, replay buffer; written as one atomic unit, see :mod:`vos_recommender.agent.resume`);
* ``final_model.zip``: the trained agent; ``summary.json``: wall time and learning-curve summary.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, CheckpointCallback, EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import configure
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

import vos_recommender  # noqa: F401  (registers the environment id)
from vos_recommender.agent import EpisodeSeedWrapper, RecurrentDQN
from vos_recommender.agent.cache_callback import CacheStatsCallback
from vos_recommender.agent.resume import clean_resume_folder, current_state
from vos_recommender.agent.training_logs import (
    EPISODES_FILE,
    EpisodeLogCallback,
    learning_curve_summary,
    rewind_logs,
)
from vos_recommender.backends.cache_format import CacheFormatError
from vos_recommender.config import TrainConfig, parse_config, settings_from_dict
from vos_recommender.envs.config import EnvConfig
from vos_recommender.utils.atomic import atomic_write_text, remove_stale_temporaries
from vos_recommender.utils.nested_config import expand_aliases, to_dict

__all__ = [
    "EpisodeLogCallback",
    "NothingToResumeError",
    "check_resumable",
    "ensure_dataset",
    "env_config",
    "main",
    "make_env",
    "make_vec_envs",
    "train",
]

ENV_ID = "vos_recommender/FrameRecommendation-v0"


class NothingToResumeError(FileNotFoundError):
    """``--resume`` names a run that has no settings or no resume state yet; the message says what to do."""


def check_resumable(run_dir: Path) -> None:
    """Raise before anything is loaded or built when ``--resume`` cannot continue the run in ``run_dir``.

    Raises:
        NothingToResumeError: If the run folder has no ``config.json`` (another ``--name`` or
            ``--runs-dir``?) or no complete resume state (the run stopped before its first one).
    """
    saved = run_dir / "config.json"
    if not saved.is_file():
        raise NothingToResumeError(
            f"--resume: no run to resume at {run_dir} ({saved} missing); check --name and --runs-dir, or "
            "start the run without --resume"
        )
    try:
        current_state(run_dir / "resume")
    except FileNotFoundError as error:
        raise NothingToResumeError(
            f"--resume: the run at {run_dir} has no resume state to continue from ({error}). It stopped "
            "before writing its first one (one is written every --resume-every agent steps at an episode "
            "boundary, and when training ends or is interrupted). Start it again with --overwrite"
        ) from None
    except ValueError as error:
        raise NothingToResumeError(
            f"--resume: the run at {run_dir} cannot be continued ({error}). Start it again with --overwrite"
        ) from None


# ---------------------------------------------------------------------------- data
def ensure_dataset(
    root: str | os.PathLike,
    generate: bool = True,
    verbose: int = 1,
    hint: str = "drop --no-generate-if-missing",
) -> Path:
    """Return a DAVIS-layout dataset root, generating the synthetic one there when it is missing.

    Args:
        root: Dataset root.
        generate: Generate when ``root`` has no ``ImageSets/2017``.
        verbose: Print what happens.
        hint: How to fix a missing dataset, appended to the error.

    Raises:
        FileNotFoundError: If the dataset is missing and ``generate`` is False (the message names ``root``).
    """
    root = Path(root)
    if (root / "ImageSets" / "2017").is_dir():
        return root
    if not generate:
        raise FileNotFoundError(f"no DAVIS-layout dataset at {root} (ImageSets/2017 missing); {hint}")
    from vos_recommender.data.generate import generate_davis_dataset

    if verbose:
        print(f"Generating synthetic DAVIS-layout videos in {root} ...", flush=True)
    generate_davis_dataset(root)
    return root


def env_config(config: TrainConfig, split: str) -> EnvConfig:
    """The run's environment settings for ``split``, with ``max_frames`` resolved.

    ``env.episode.max_frames`` 0 becomes the longest video of the training split, so the training and
    the evaluation environments share one action space.
    """
    from vos_recommender.data.davis import DavisDataset

    episode = config.env.episode
    max_frames = episode.max_frames
    if max_frames <= 0:
        dataset = DavisDataset(training_data(config), split=episode.split)
        max_frames = max(len(dataset.frame_paths(seq)) for seq in dataset.sequences)
    return config.env.replace({"episode.split": split, "episode.max_frames": max_frames})


def training_data(config: TrainConfig) -> str:
    """The dataset root of a run (``env.episode.data_root``).

    Raises:
        ValueError: If the run names none.
    """
    if config.env.episode.data_root is None:
        raise ValueError("env.episode.data_root (--data) is empty: training needs a DAVIS-layout dataset")
    return config.env.episode.data_root


# ---------------------------------------------------------------------------- environments
def make_env(settings: EnvConfig) -> gym.Env:
    """One frame-recommendation environment, each episode seeded from (seed, episode index).

    Args:
        settings: The environment's settings.
    """
    return EpisodeSeedWrapper(gym.make(ENV_ID, config=settings))


def make_vec_envs(settings: EnvConfig, n_envs: int, seed: int, subprocess: bool | None = None) -> VecEnv:
    """``n_envs`` environments: ``DummyVecEnv`` for one, ``SubprocVecEnv`` for more.

    Args:
        settings: The environment's settings.
        n_envs: Number of environments.
        seed: Base seed (environment ``i`` uses ``seed + i``).
        subprocess: Force ``SubprocVecEnv`` (True) or ``DummyVecEnv`` (False); None: by ``n_envs``.
    """
    use_subprocess = n_envs > 1 if subprocess is None else subprocess
    vec_env_cls = SubprocVecEnv if use_subprocess else DummyVecEnv
    return make_vec_env(
        functools.partial(make_env, settings), n_envs=n_envs, seed=seed, vec_env_cls=vec_env_cls
    )


# ---------------------------------------------------------------------------- training
def train(config: TrainConfig, explicit: dict[str, Any] | None = None) -> Path:
    """Run (or resume) one training run.

    Args:
        config: Settings.
        explicit: Settings given explicitly on the command line, by dotted name (with ``resume``, these
            override the run's saved settings; the others come from the saved ``config.json``, nested or
            in the flat form of earlier versions).

    Returns:
        Path of ``final_model.zip``.

    Raises:
        NothingToResumeError: With ``resume``, if the run has no settings or no resume state yet.
    """
    run_dir = Path(config.runs_dir) / config.name
    if config.resume:
        check_resumable(run_dir)
        saved = run_dir / "config.json"
        settings = expand_aliases(json.loads(saved.read_text()), TrainConfig.FLAG_ALIASES)
        config = settings_from_dict(TrainConfig, {**settings, **(explicit or {}), "resume": True}, str(saved))
    elif (run_dir / "config.json").exists() and not config.overwrite:
        raise FileExistsError(
            f"{run_dir} already holds a run: pass --resume to continue it, --overwrite or another --name"
        )
    torch.set_num_threads(config.threads)
    if config.net.init_from and not config.resume and not Path(config.net.init_from).is_file():
        raise FileNotFoundError(f"--init-from: no gain ranker checkpoint at {config.net.init_from}")

    # Data
    data = training_data(config)
    ensure_dataset(data, config.generate_if_missing, config.verbose)
    from vos_recommender.data.davis import DavisDataset

    num_videos = len(DavisDataset(data, split=config.env.episode.split).sequences)
    settings = env_config(config, config.env.episode.split)

    # Settings next to the results
    run_dir.mkdir(parents=True, exist_ok=True)
    # What a killed process left half-written (model zips, replay buffers, unfinished resume states).
    remove_stale_temporaries(run_dir, older_than=0.0)
    if config.resume:
        clean_resume_folder(run_dir / "resume")
    else:  # a fresh run (--overwrite) must neither append to the old logs nor resume from the old state
        for stale in [run_dir / EPISODES_FILE, *run_dir.glob("progress.until_*.csv")]:
            stale.unlink(missing_ok=True)
        shutil.rmtree(run_dir / "resume", ignore_errors=True)
    record = to_dict(config)
    record["resume"] = False
    atomic_write_text(run_dir / "config.json", json.dumps(record, indent=2))
    try:
        import yaml

        atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(record, sort_keys=False))
    except ImportError:  # pragma: no cover - yaml ships with mmengine
        pass

    # Environments
    env = make_vec_envs(settings, config.n_envs, config.seed)
    formats = ["stdout", "csv", "tensorboard"] if config.verbose else ["csv", "tensorboard"]

    # Model
    resume_dir = run_dir / "resume"
    if config.resume:
        model = RecurrentDQN.load_resume_state(resume_dir, env)
        rewind_logs(run_dir, model.num_timesteps)
    else:
        model = RecurrentDQN(
            "FrameQPolicy",
            env,
            learning_rate=config.lr,
            buffer_size=config.buffer_size,
            batch_size=config.batch_size,
            gamma=config.gamma,
            reward_scale=config.reward_scale,
            reward_form=config.env.reward.mode,
            observation_layout=config.env.episode.observation,
            train_freq=config.train_freq,
            gradient_steps=config.gradient_steps,
            target_update_prob=config.target_update_prob,
            exploration_final_eps=config.exploration_final_eps,
            exploration_amplitude=config.exploration_amplitude,
            exploration_decay=config.exploration_decay,
            grad_clip=config.grad_clip,
            warmup_episodes=int(round(config.warmup_epochs * num_videos)),
            policy_kwargs={
                **config.net.policy_kwargs(),
                "optimizer_kwargs": {"weight_decay": config.weight_decay},
            },
            seed=config.seed,
            verbose=config.verbose,
        )
        if config.net.init_from:
            model.start_from_ranker(config.net.init_from)
    model.set_logger(configure(str(run_dir), formats))

    callbacks: list[BaseCallback] = [EpisodeLogCallback(run_dir / EPISODES_FILE)]
    if config.env.session.cache_dir:
        callbacks.append(CacheStatsCallback(verbose=config.verbose))
    if config.checkpoint_freq > 0:
        callbacks.append(
            CheckpointCallback(
                save_freq=max(1, config.checkpoint_freq // config.n_envs),
                save_path=str(run_dir / "checkpoints"),
                name_prefix="model",
            )
        )
    eval_env = None
    if config.eval_freq > 0:
        # Same VecEnv type as training, which SB3's EvalCallback checks.
        eval_env = make_vec_envs(
            env_config(config, config.eval_split), 1, config.seed + 10_000, subprocess=config.n_envs > 1
        )
        callbacks.append(
            EvalCallback(
                eval_env,
                n_eval_episodes=config.eval_episodes,
                eval_freq=max(1, config.eval_freq // config.n_envs),
                best_model_save_path=str(run_dir / "best"),
                log_path=str(run_dir / "eval"),
                deterministic=True,
            )
        )

    # Training
    remaining = config.total_timesteps - model.num_timesteps
    start = time.perf_counter()
    try:
        if remaining > 0:
            model.learn(
                remaining,
                callback=CallbackList(callbacks),
                log_interval=config.log_interval,
                reset_num_timesteps=not config.resume,
                progress_bar=config.progress_bar,
                resume_dir=resume_dir,
                resume_every=config.resume_every,
            )
    except KeyboardInterrupt:
        model.save_resume_state(resume_dir)
        print(
            f"\nInterrupted at step {model.num_timesteps}; continue with --resume --name {config.name}",
            file=sys.stderr,
        )
        raise
    finally:
        env.close()
        if eval_env is not None:
            eval_env.close()
    wall = time.perf_counter() - start

    # Results
    final = run_dir / "final_model.zip"
    model.save(final)
    summary = {
        "total_timesteps": int(model.num_timesteps),
        "updates": int(model.n_updates),
        "wall_seconds_this_session": wall,
        "warmup_episodes": model.warmup_episodes,
        "reward_mode": config.env.reward.mode,
        "observation_layout": config.env.episode.observation,
        "init_from": config.net.init_from,
        "learning_curve": learning_curve_summary(run_dir / EPISODES_FILE),
    }
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2))
    if config.verbose:
        print(f"Saved {final} ({model.num_timesteps} steps, {wall:.0f} s)")
    return final


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    config, explicit = parse_config(TrainConfig, argv, description=__doc__.splitlines()[0])
    try:
        train(config, explicit)
    except (
        CacheFormatError,
        NothingToResumeError,
        FileNotFoundError,
    ) as error:  # say what to do, no traceback
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    main()
