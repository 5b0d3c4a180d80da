"""Saving and loading the agent: atomic ``.zip`` writes and load errors that name the file.

SB3's ``save`` writes the destination in place (a crash leaves a truncated zip) and its ``load`` raises
many kinds of errors (zip, pickle, key, shape, space) that do not say which file was wrong.
:func:`save_model` and :func:`load_model` wrap both; :class:`~vos_recommender.agent.dqn.RecurrentDQN`'s
``save`` and ``load`` call them.
"""

from __future__ import annotations

import io
import os
import pathlib
from collections.abc import Callable
from typing import Any, TypeVar

from vos_recommender.utils.atomic import atomic_path

__all__ = ["load_model", "resolve_checkpoint", "save_model"]

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
