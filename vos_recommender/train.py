"""Train the frame-recommendation agent: ``python -m vos_recommender.train [--flags] [--config file]``.

Sections follow the order the algorithm runs: settings, data, environments, model, training, results.
Every setting is a field of :class:`~vos_recommender.config.TrainConfig` (``--help`` lists them with
their descriptions). A run writes to ``<runs_dir>/<name>/``:

* ``config.json`` / ``config.yaml``: the settings;
* ``progress.csv`` and TensorBoard ``events.*``: SB3 logger output (``train/loss``, ``rollout/...``);
* ``episodes.csv``: one line per training episode (return, final J&F, AUC); on ``--resume`` it and the
  progress files are cut back to the restored step (:func:`vos_recommender.training_logs.rewind_logs`);
* ``checkpoints/model_<steps>_steps.zip``: periodic checkpoints (SB3 ``CheckpointCallback``);
* ``resume/``: for ``--resume``, ``latest.json`` naming the newest complete state folder (model,
  optimiser, RNG states, replay buffer; written as one atomic unit, see :mod:`vos_recommender.agent.resume`);
* ``final_model.zip``: the trained agent; ``summary.json``: wall time and learning-curve summary.
"""

from __future__ import annotations

import dataclasses
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
from vos_recommender.agent.resume import clean_resume_folder
from vos_recommender.agent.training_logs import (
    EPISODES_FILE,
    EpisodeLogCallback,
    learning_curve_summary,
    rewind_logs,
)
from vos_recommender.backends.cache_format import CacheFormatError, parse_bytes
from vos_recommender.config import TrainConfig, parse_config
from vos_recommender.utils.atomic import atomic_write_text, remove_stale_temporaries

__all__ = [
    "EpisodeLogCallback",
    "ensure_dataset",
    "main",
    "make_env",
    "make_vec_envs",
    "train",
]

ENV_ID = "vos_recommender/FrameRecommendation-v0"


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


def env_settings(config: TrainConfig, split: str) -> dict[str, Any]:
    """Keyword arguments of ``FrameRecommendationEnv`` for a split, from the run settings."""
    from vos_recommender.data.davis import DavisDataset

    quality_kwargs = {"checkpoint": config.quality_checkpoint} if config.quality == "wild" else {}
    if config.quality == "wild" and not config.quality_checkpoint:
        raise ValueError(
            "--quality wild needs --quality-checkpoint (python -m vos_recommender.quality.train)"
        )
    max_frames = config.max_frames
    if max_frames <= 0:
        dataset = DavisDataset(config.data, split=config.split)
        max_frames = max(len(dataset.frame_paths(seq)) for seq in dataset.sequences)
    return {
        "data_root": str(config.data),
        "split": split,
        "backend": config.backend,
        "backend_kwargs": json.loads(config.backend_kwargs),
        "cache_dir": config.cache_dir or None,
        "cache_kwargs": {"max_bytes": parse_bytes(config.cache_budget, "--cache-budget") or 0},
        "quality": config.quality,
        "quality_kwargs": quality_kwargs,
        "num_rounds": config.num_rounds,
        "max_frames": max_frames,
        "reward_mode": config.reward_form,
        "goal_baseline": config.goal_baseline,
        "num_random_runs": config.num_random_runs,
        "stats_dir": config.stats_dir or None,
    }


# ---------------------------------------------------------------------------- environments
def make_env(settings: dict[str, Any]) -> gym.Env:
    """One frame-recommendation environment, each episode seeded from (seed, episode index).

    Args:
        settings: ``FrameRecommendationEnv`` keyword arguments.
    """
    return EpisodeSeedWrapper(gym.make(ENV_ID, **settings))


def make_vec_envs(settings: dict[str, Any], n_envs: int, seed: int, subprocess: bool | None = None) -> VecEnv:
    """``n_envs`` environments: ``DummyVecEnv`` for one, ``SubprocVecEnv`` for more.

    Args:
        settings: ``FrameRecommendationEnv`` keyword arguments.
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
        explicit: Settings given explicitly on the command line (with ``resume``, these override the
            run's saved settings; the others come from the saved ``config.json``).

    Returns:
        Path of ``final_model.zip``.
    """
    run_dir = Path(config.runs_dir) / config.name
    if config.resume:
        saved = run_dir / "config.json"
        if not saved.is_file():
            raise FileNotFoundError(f"--resume: no run to resume at {run_dir} ({saved} missing)")
        settings = json.loads(saved.read_text())
        settings.update(explicit or {})
        settings["resume"] = True
        config = TrainConfig(**settings)
    elif (run_dir / "config.json").exists() and not config.overwrite:
        raise FileExistsError(
            f"{run_dir} already holds a run: pass --resume to continue it, --overwrite or another --name"
        )
    torch.set_num_threads(config.threads)

    # Data
    ensure_dataset(config.data, config.generate_if_missing, config.verbose)
    from vos_recommender.data.davis import DavisDataset

    num_videos = len(DavisDataset(config.data, split=config.split).sequences)
    settings = env_settings(config, config.split)

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
    record = dataclasses.asdict(config)
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
            reward_form=config.reward_form,
            train_freq=config.train_freq,
            gradient_steps=config.gradient_steps,
            target_update_prob=config.target_update_prob,
            exploration_final_eps=config.exploration_final_eps,
            exploration_amplitude=config.exploration_amplitude,
            exploration_decay=config.exploration_decay,
            grad_clip=config.grad_clip,
            warmup_episodes=int(round(config.warmup_epochs * num_videos)),
            policy_kwargs={
                "embed_dim": config.embed_dim,
                "lstm_dim": config.lstm_dim,
                "head_dim": config.head_dim,
                "optimizer_kwargs": {"weight_decay": config.weight_decay},
            },
            seed=config.seed,
            verbose=config.verbose,
        )
    model.set_logger(configure(str(run_dir), formats))

    callbacks: list[BaseCallback] = [EpisodeLogCallback(run_dir / EPISODES_FILE)]
    if config.cache_dir:
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
            env_settings(config, config.eval_split), 1, config.seed + 10_000, subprocess=config.n_envs > 1
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
        "updates": int(model._n_updates),
        "wall_seconds_this_session": wall,
        "warmup_episodes": model.warmup_episodes,
        "reward_form": config.reward_form,
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
    except CacheFormatError as error:  # a cache folder this version cannot use: say so, no traceback
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    main()
