"""Exact, crash-safe resume of a training run.

A resume state is everything needed to continue training as if never interrupted: the model with its
optimiser and random generators (``model.zip``), the replay buffer with its sampling generator
(``replay_buffer.pkl``) and the step they belong to (``resume.json``). The three files must match, so they
form one atomic unit:

* each save writes a new folder ``<resume>/state-<step>-<random>/`` (every file written and fsynced
  through :mod:`vos_recommender.utils.atomic`);
* then a single atomic write of the pointer ``<resume>/latest.json`` makes it the current state;
* only then are older state folders deleted.

A process killed at any point therefore leaves the pointer naming a complete state (the old one or the
new one); folders that no pointer names are the remains of an interrupted save and are deleted when the
state is next loaded or saved.

:class:`ResumeCallback` writes states during ``learn`` (an SB3 callback), at points where the algorithm's
state equals the one after its last update: the start of a rollout, and the end of training.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv

from vos_recommender.agent.buffer import FrameReplayBuffer
from vos_recommender.utils.atomic import (
    atomic_path,
    atomic_write_json,
    fsync_directory,
    remove_stale_temporaries,
)

if TYPE_CHECKING:
    from vos_recommender.agent.dqn import RecurrentDQN

__all__ = [
    "POINTER",
    "ResumeCallback",
    "clean_resume_folder",
    "current_state",
    "env_episode_states",
    "load_resume_state",
    "save_resume_state",
]

#: The file naming the current complete state folder.
POINTER = "latest.json"
STATE_PREFIX = "state-"
# The flat layout written before state folders existed: still loaded, deleted once superseded.
_FLAT_FILES = ("model.zip", "replay_buffer.pkl", "resume.json")


def current_state(folder: str | os.PathLike) -> Path:
    """The folder of the newest complete resume state in ``folder``.

    Args:
        folder: A resume folder.

    Returns:
        The state folder named by ``latest.json`` (or ``folder`` itself for the older flat layout).

    Raises:
        FileNotFoundError: If ``folder`` holds no resume state, or the pointer names a missing folder.
        ValueError: If the pointer is unreadable.
    """
    folder = Path(folder)
    pointer = folder / POINTER
    if pointer.is_file():
        try:
            name = json.loads(pointer.read_text())["state"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{pointer}: unreadable resume pointer ({err})") from err
        state = folder / str(name)
        if not state.is_dir():
            raise FileNotFoundError(f"{pointer} names {state}, which does not exist")
        return state
    if (folder / "resume.json").is_file():
        return folder
    raise FileNotFoundError(f"no resume state in {folder} ({pointer} missing)")


def clean_resume_folder(folder: str | os.PathLike) -> int:
    """Delete what interrupted saves left in a resume folder: unnamed state folders, temporary files.

    Args:
        folder: A resume folder (nothing happens if it does not exist).

    Returns:
        The number of folders and files removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    removed = remove_stale_temporaries(folder, older_than=0.0)
    try:
        keep = current_state(folder)
    except (FileNotFoundError, ValueError):
        return removed  # nothing complete to keep: leave the folders for inspection
    for child in folder.iterdir():
        if child.is_dir() and child.name.startswith(STATE_PREFIX) and child != keep:
            shutil.rmtree(child, ignore_errors=True)
            removed += 1
    if keep != folder:
        for name in _FLAT_FILES:
            if (folder / name).is_file():
                (folder / name).unlink()
                removed += 1
    return removed


def env_episode_states(env: VecEnv | None) -> list[list[int]] | None:
    """``[base seed, episode]`` of every environment's running episode (None without
    :class:`~vos_recommender.agent.wrappers.EpisodeSeedWrapper`)."""
    if env is None or not env.has_attr("episode_state"):
        return None
    return [[int(seed), int(episode)] for seed, episode in env.env_method("episode_state")]


def save_resume_state(model: RecurrentDQN, folder: str | os.PathLike) -> Path:
    """Write a new resume state of ``model`` and make it the current one, atomically.

    The model remembers its environments' running episodes first
    (:meth:`~vos_recommender.agent.dqn.RecurrentDQN.remember_env_episodes`), so loading puts them back.

    Args:
        model: The algorithm.
        folder: The run's resume folder (created if needed).

    Returns:
        The new state folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = Path(tempfile.mkdtemp(prefix=f"{STATE_PREFIX}{int(model.num_timesteps):09d}-", dir=folder))
    model.remember_env_episodes()
    model.save(state / "model.zip")
    with atomic_path(state / "replay_buffer.pkl", suffix=".pkl") as tmp:
        model.save_replay_buffer(tmp)
    meta = {
        "num_timesteps": int(model.num_timesteps),
        "n_updates": model.n_updates,
        "buffer_pos": int(model.replay_buffer.pos),
        "buffer_full": bool(model.replay_buffer.full),
        "n_envs": int(model.n_envs),
        "at_episode_start": model.at_episode_start,
    }
    atomic_write_json(state / "resume.json", meta, indent=2)
    fsync_directory(folder)  # the new folder's entry is on disk before the pointer names it
    atomic_write_json(
        folder / POINTER, {"state": state.name, "num_timesteps": meta["num_timesteps"]}, indent=2
    )
    clean_resume_folder(folder)
    return state


def load_resume_state(
    cls: type[Any], folder: str | os.PathLike, env: VecEnv, device: th.device | str = "auto"
) -> Any:
    """Rebuild a model from the newest complete state in ``folder`` and put ``env`` back where it was.

    Environments wrapped in :class:`~vos_recommender.agent.wrappers.EpisodeSeedWrapper` restart the
    episode that was running at the checkpoint with its original seed; when the checkpoint was taken at
    an episode boundary (the usual case) training then continues exactly as if never interrupted.

    Args:
        cls: The algorithm class (``RecurrentDQN``).
        folder: The resume folder.
        env: Freshly built environments (same kind and count as at the checkpoint).
        device: Torch device.

    Returns:
        The model, ready for ``learn(..., reset_num_timesteps=False)``.

    Raises:
        FileNotFoundError: If there is no resume state or one of its files is missing.
        ValueError: If the files are unreadable or do not belong together.
    """
    clean_resume_folder(folder)
    state = current_state(folder)
    meta_path, model_path, buffer_path = (
        state / "resume.json",
        state / "model.zip",
        state / "replay_buffer.pkl",
    )
    for required in (meta_path, model_path, buffer_path):
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
    model = cls.load(model_path, env=env, device=device, force_reset=False)
    if model.num_timesteps != meta["num_timesteps"]:
        raise ValueError(
            f"{model_path} is at step {model.num_timesteps} but {meta_path} says {meta['num_timesteps']}"
        )
    try:
        model.load_replay_buffer(buffer_path)
    except Exception as err:  # pickle and SB3 raise many kinds
        raise ValueError(f"{buffer_path}: unreadable replay buffer ({err})") from err
    buffer = model.replay_buffer
    if not isinstance(buffer, FrameReplayBuffer) or (buffer.pos, buffer.full) != (
        meta["buffer_pos"],
        meta["buffer_full"],
    ):
        raise ValueError(f"{buffer_path} does not belong to {model_path}")
    model.restore_environment()
    return model


class ResumeCallback(BaseCallback):
    """Write resume states during ``learn``: every ``every`` agent steps at an episode boundary, and at the end.

    A state is written at the start of a rollout (the algorithm's state then equals the one after the
    previous updates, so resuming repeats nothing) once at least ``every`` steps passed since the last one
    and every environment starts a new episode, and always when training ends.

    Args:
        folder: The run's resume folder.
        every: Agent steps between states (0: only at the end).
        verbose: 1 prints each state written.
    """

    def __init__(self, folder: str | os.PathLike, every: int = 0, verbose: int = 0) -> None:
        super().__init__(verbose)
        if every < 0:
            raise ValueError(f"every must be >= 0 agent steps, got {every}")
        self.folder = Path(folder)
        self.every = int(every)
        self.next_save: int | None = None

    def _save(self) -> None:
        state = save_resume_state(self.model, self.folder)  # type: ignore[arg-type]
        if self.verbose >= 1:
            print(f"Resume state at step {self.model.num_timesteps}: {state}")

    def _on_training_start(self) -> None:
        self.next_save = self.model.num_timesteps + self.every if self.every > 0 else None

    def _on_rollout_start(self) -> None:
        model = self.model
        if self.next_save is not None and model.num_timesteps >= self.next_save and model.at_episode_start:
            self._save()
            self.next_save = model.num_timesteps + self.every

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        self._save()
