"""Exact resume: the random number generators' states travel in the checkpoint.

mmengine restores the model, optimizer, schedulers, message hub and iteration on ``--resume``, and
``IterBasedTrainLoop`` replays the data loader up to the resumed iteration (so the sampler order and the
data workers, seeded from ``randomness.seed``, are back where they were). It does not restore the
generators of the main process (``random``, numpy, torch, CUDA): the resumed run continues from the state
that seeding and model initialisation left, not from the one the interrupted run had reached. Dropout
masks, and random augmentations run in the main process (``num_workers=0``), then differ from the
uninterrupted run from the first resumed iteration on.

:class:`RNGStateHook` saves those states in ``checkpoint['meta']['rng_states']`` and restores them after
the replay, right before the first resumed batch is drawn (the replay itself draws random numbers). It
also keeps validation from consuming the training generators, so that a run that validates at a
checkpoint iteration and its resumed copy (which does not validate there again) stay in step.

Limits: only rank 0 writes checkpoints, so every process restores rank 0's states. That is exact with
the default ``randomness.diff_rank_seed=False`` (all ranks draw the same sequences); with
``diff_rank_seed=True`` the other ranks keep their freshly seeded states. A resume on a different number
of processes or data workers cannot replay the same data and is not exact.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.runner import IterBasedTrainLoop
from mmseg.registry import HOOKS

_META_KEY = "rng_states"


def capture_rng_states() -> dict[str, Any]:
    """The states of the ``random``, numpy, torch and (when present) CUDA generators of this process."""
    return {
        "python": random.getstate(),
        # The legacy global generator is the one mmcv's transforms draw from.
        "numpy": np.random.get_state(),  # noqa: NPY002
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def restore_rng_states(states: dict[str, Any]) -> None:
    """Put back states returned by :func:`capture_rng_states`."""
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])  # noqa: NPY002
    torch.set_rng_state(states["torch"])
    if states.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class _RestoreAfterReplay:
    """Iterator proxy that restores the generators once ``replay`` batches have been drawn."""

    def __init__(self, iterator, replay: int, states: dict[str, Any]) -> None:
        self._iterator = iterator
        self._replay = replay
        self._states: dict[str, Any] | None = states

    def __iter__(self):
        return self

    def __next__(self):
        if self._replay == 0 and self._states is not None:
            restore_rng_states(self._states)
            self._states = None
        self._replay = max(self._replay - 1, 0)
        return next(self._iterator)

    def __getattr__(self, name: str):
        return getattr(self._iterator, name)


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Save the generators' states in checkpoints and restore them on resume (see the module docstring).

    ``tools/train.py`` adds it to every run; a config may list it in ``custom_hooks`` for other launchers.
    """

    # Above RuntimeInfoHook and the loggers: nothing else should draw between the save and the restore.
    priority = "VERY_HIGH"

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None
        self._before_val: dict[str, Any] | None = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault("meta", {})[_META_KEY] = capture_rng_states()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        # Kept until before_train: a plain load_from (fine-tuning, iteration 0) must not restore them.
        self._pending = checkpoint.get("meta", {}).get(_META_KEY)

    def before_train(self, runner) -> None:
        states, self._pending = self._pending, None
        if states is None or (runner.iter == 0 and runner.epoch == 0):
            return
        if get_rank() != 0 and (runner.cfg.get("randomness") or {}).get("diff_rank_seed", False):
            return
        loop = runner.train_loop
        if isinstance(loop, IterBasedTrainLoop) and loop.iter > 0:
            # The loop replays `iter` batches before the first new one; restoring now would let the
            # replay consume the restored states.
            loop.dataloader_iterator = _RestoreAfterReplay(loop.dataloader_iterator, loop.iter, states)
        else:
            restore_rng_states(states)

    def before_val(self, runner) -> None:
        self._before_val = capture_rng_states()

    def after_val(self, runner) -> None:
        if self._before_val is not None:
            restore_rng_states(self._before_val)
            self._before_val = None
