"""Saving and loading the agent: atomic ``.zip`` writes and load errors that name the file.

SB3's ``save`` writes the destination in place (a crash leaves a truncated zip) and its ``load`` raises
many kinds of errors (zip, pickle, key, shape, space) that do not say which file was wrong.
:class:`CheckpointMixin` wraps both for :class:`~vos_recommender.agent.dqn.RecurrentDQN`, and gives it the
resume methods of :mod:`vos_recommender.agent.resume`.
"""

from __future__ import annotations

import functools
import io
import os
import pathlib
from collections.abc import Callable
from typing import Any, TypeVar

import torch as th
from stable_baselines3.common.type_aliases import GymEnv
from stable_baselines3.common.vec_env import VecEnv

from vos_recommender.atomic import atomic_path

__all__ = ["CheckpointMixin", "load_model", "resolve_checkpoint", "save_model"]

ModelT = TypeVar("ModelT")


def save_model(write: Callable[[Any], None], path: str | os.PathLike | io.BufferedIOBase) -> None:
    """Run ``write(target)`` (SB3's ``save``) so that ``path`` holds the old or the new file, never a part.

    Args:
        write: Writes the model to the path or buffer it is given.
        path: File path (``.zip`` appended when it has no suffix) or a writable buffer.
    """
    if isinstance(path, io.BufferedIOBase):
        write(path)
        return
    final = pathlib.Path(path)
    if final.suffix == "":
        final = final.with_suffix(".zip")
    with atomic_path(final, suffix=".zip") as tmp:
        write(tmp)


def resolve_checkpoint(path: str | os.PathLike) -> pathlib.Path:
    """The checkpoint file ``path`` names (``.zip`` may be left out, as in SB3).

    Raises:
        FileNotFoundError: If there is no such file.
    """
    candidate = pathlib.Path(path)
    if not candidate.is_file() and candidate.suffix == "" and candidate.with_suffix(".zip").is_file():
        candidate = candidate.with_suffix(".zip")
    if not candidate.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    return candidate


def load_model(
    read: Callable[[Any], ModelT],
    path: str | os.PathLike | io.BufferedIOBase,
    algorithm: str,
    policy_class: type,
) -> ModelT:
    """Run ``read(path)`` (SB3's ``load``) and turn its failures into errors that name the file.

    Args:
        read: Loads a model from a path or buffer.
        path: The ``.zip`` file (``.zip`` may be left out) or a readable buffer.
        algorithm: Name of the algorithm, for messages.
        policy_class: The policy class the checkpoint must hold.

    Returns:
        The model.

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file is not a loadable checkpoint of the algorithm, or holds another policy.
    """
    if isinstance(path, (str, os.PathLike)):
        path = resolve_checkpoint(path)
    try:
        model = read(path)
    except Exception as err:  # SB3 raises many kinds (zip, pickle, key, shape, space errors)
        raise ValueError(
            f"{path}: not a loadable {algorithm} checkpoint ({type(err).__name__}: {err})"
        ) from err
    policy = getattr(model, "policy", None)
    if not isinstance(policy, policy_class):
        raise ValueError(f"{path}: holds a {type(policy).__name__}, not a {policy_class.__name__}")
    return model


class CheckpointMixin:
    """``save`` / ``load`` with atomic writes and clear errors, plus the resume methods.

    Placed before :class:`~stable_baselines3.common.base_class.BaseAlgorithm` in the bases, so ``super()``
    reaches SB3's implementations. The class attribute ``checkpoint_policy`` names the policy class a
    checkpoint must hold.
    """

    checkpoint_policy: type = object

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
        save_model(functools.partial(super().save, exclude=exclude, include=include), path)  # type: ignore[misc]

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
            super().load,  # type: ignore[misc]
            env=env,
            device=device,
            custom_objects=custom_objects,
            print_system_info=print_system_info,
            force_reset=force_reset,
            **kwargs,
        )
        return load_model(read, path, cls.__name__, cls.checkpoint_policy)

    def save_resume_state(self, folder: str | os.PathLike) -> pathlib.Path:
        """Write everything needed to continue training exactly, as one atomic unit.

        See :func:`vos_recommender.agent.resume.save_resume_state`.

        Args:
            folder: The run's resume folder (created if needed).

        Returns:
            The folder of the new state.
        """
        from vos_recommender.agent.resume import save_resume_state

        return save_resume_state(self, folder)  # type: ignore[arg-type]

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
        from vos_recommender.agent.resume import load_resume_state

        return load_resume_state(cls, folder, env, device)
