"""Checkpoint input and output for the tools: safe writes, and loading under ``weights_only=True``.

Writing: mmengine's local file backend writes a checkpoint in place (``open(path, 'wb')``), so a crash or a
full disk mid-write leaves a truncated ``iter_N.pth`` that ``last_checkpoint`` may point at.
:class:`AtomicLocalBackend` writes through :mod:`mmseg_ranet.utils.atomic` instead, so a checkpoint file is
either the old one or the complete new one, with the permissions the umask gives.

Loading: since torch 2.6, ``torch.load`` refuses any pickled object that is not a tensor or a plain container.
mmengine checkpoints carry such objects (the message hub's ``HistoryBuffer``, numpy scalars), so
``--resume``, ``load_from`` and testing a checkpoint all fail with ``UnpicklingError``. Allow-listing the
classes is not enough (the pickle also calls ``builtins.getattr``).

The switch here is narrow: it replaces mmengine's loader for *local files* only, and only in the
processes that call :func:`register_checkpoint_io` (``tools/train.py``, ``tools/test.py``,
``tools/visualize_regions.py``). Each file is first loaded with ``weights_only=True``. Only when torch
refuses it for holding a class outside its allow-list ("Unsupported global") is it loaded as a full pickle,
with a warning; every other failure (random bytes, a text file, a truncated or empty file) is a
:class:`CorruptCheckpointError` naming the file. A full pickle can run code: load only checkpoints you
trust. Set ``MMSEG_RANET_WEIGHTS_ONLY=1`` to refuse the fallback.
"""

from __future__ import annotations

import os
import os.path as osp
import pickle

import torch
from mmengine.fileio import LocalBackend, register_backend
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader

from .atomic import atomic_write_bytes

_ENV_STRICT = "MMSEG_RANET_WEIGHTS_ONLY"
# torch's weights-only unpickler says this (and only this) when the file is a valid pickle that holds a
# class outside the allow-list; corrupt files fail with "Unsupported operand", KeyError, EOFError, ...
_REFUSED_GLOBAL = "Unsupported global"


class CorruptCheckpointError(RuntimeError):
    """A checkpoint file that is not a torch checkpoint, or is truncated or damaged."""


def _corrupt(filename: str, err: BaseException) -> CorruptCheckpointError:
    text = str(err)
    # torch's weights-only message is a page of advice; the cause follows this marker.
    text = text.split("WeightsUnpickler error:", 1)[-1]
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    reason = f"{type(err).__name__}: {first}"[:200]
    return CorruptCheckpointError(
        f"checkpoint {filename!r} is not a readable torch checkpoint (corrupt, truncated or another kind "
        f"of file; {reason})"
    )


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend, with writes that cannot leave a partial file behind."""

    def put(self, obj: bytes, filepath) -> None:
        atomic_write_bytes(obj, filepath)

    def put_text(self, obj: str, filepath, encoding: str = "utf-8") -> None:
        atomic_write_bytes(obj.encode(encoding), filepath)


def load_trusted_local_checkpoint(filename: str, map_location=None):
    """Load a local checkpoint, falling back to a full pickle load for mmengine's own checkpoints.

    Raises:
        FileNotFoundError: the file does not exist.
        CorruptCheckpointError: the file is not a readable torch checkpoint.
        pickle.UnpicklingError: the file needs a full pickle load and ``MMSEG_RANET_WEIGHTS_ONLY`` is set.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f"checkpoint {filename!r} does not exist")
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if _REFUSED_GLOBAL not in str(err):
            raise _corrupt(filename, err) from err
        if os.environ.get(_ENV_STRICT, "0") not in ("", "0"):
            raise pickle.UnpicklingError(
                f"checkpoint {filename!r} holds non-tensor objects and {_ENV_STRICT} is set, so it is not "
                "loaded as a full pickle. Unset it to load checkpoints you trust."
            ) from err
    except Exception as err:  # noqa: BLE001  (torch raises RuntimeError, EOFError, KeyError, ... here)
        raise _corrupt(filename, err) from err
    print_log(
        f"{filename} holds non-tensor objects (as every mmengine checkpoint does); loading it with "
        f"weights_only=False. Only load checkpoints you trust (set {_ENV_STRICT}=1 to refuse).",
        logger="current",
    )
    try:
        return torch.load(filename, map_location=map_location, weights_only=False)
    except Exception as err:  # noqa: BLE001  (a damaged pickle fails with any exception type)
        raise _corrupt(filename, err) from err


def register_checkpoint_io() -> None:
    """Make mmengine write local files atomically and load local checkpoints as described above."""
    register_backend("local", AtomicLocalBackend, force=True, prefixes="")
    CheckpointLoader.register_scheme(prefixes="", loader=load_trusted_local_checkpoint, force=True)
