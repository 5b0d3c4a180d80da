"""Checkpoint input and output for the tools: safe writes, and loading under ``weights_only=True``.

Writing: mmengine's local file backend writes a checkpoint in place (``open(path, 'wb')``), so a crash or a
full disk mid-write leaves a truncated ``iter_N.pth`` that ``last_checkpoint`` may point at.
:class:`AtomicLocalBackend` writes to a temporary file in the same folder and renames it over the target,
so a checkpoint file is either the old one or the complete new one.

Loading: since torch 2.6, ``torch.load`` refuses any pickled object that is not a tensor or a plain container.
mmengine checkpoints carry such objects (the message hub's ``HistoryBuffer``, numpy scalars), so
``--resume``, ``load_from`` and testing a checkpoint all fail with ``UnpicklingError``. Allow-listing the
classes is not enough (the pickle also calls ``builtins.getattr``).

The switch here is narrow: it replaces mmengine's loader for *local files* only, and only in the
processes that call :func:`register_checkpoint_io` (``tools/train.py``, ``tools/test.py``,
``tools/visualize_regions.py``). Each file is first loaded with ``weights_only=True``; only when that fails
is it loaded as a full pickle, with a warning. A full pickle can run code: load only checkpoints you trust.
Set ``MMSEG_RANET_WEIGHTS_ONLY=1`` to refuse the fallback.
"""

from __future__ import annotations

import os
import os.path as osp
import pickle
import tempfile
from pathlib import Path

import torch
from mmengine.fileio import LocalBackend, register_backend
from mmengine.logging import print_log
from mmengine.runner.checkpoint import CheckpointLoader

_ENV_STRICT = "MMSEG_RANET_WEIGHTS_ONLY"


def atomic_write_bytes(data: bytes, filepath: str | os.PathLike) -> None:
    """Write ``data`` to ``filepath`` through a temporary file and an atomic rename."""
    path = Path(filepath)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend, with writes that cannot leave a partial file behind."""

    def put(self, obj: bytes, filepath) -> None:
        atomic_write_bytes(obj, filepath)

    def put_text(self, obj: str, filepath, encoding: str = "utf-8") -> None:
        atomic_write_bytes(obj.encode(encoding), filepath)


def load_trusted_local_checkpoint(filename: str, map_location=None):
    """Load a local checkpoint, falling back to a full pickle load for mmengine's own checkpoints."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f"checkpoint {filename!r} does not exist")
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if os.environ.get(_ENV_STRICT, "0") not in ("", "0"):
            raise pickle.UnpicklingError(
                f"checkpoint {filename!r} holds non-tensor objects and {_ENV_STRICT} is set, so it is not "
                "loaded as a full pickle. Unset it to load checkpoints you trust."
            ) from err
        print_log(
            f"{filename} holds non-tensor objects (as every mmengine checkpoint does); loading it with "
            f"weights_only=False. Only load checkpoints you trust (set {_ENV_STRICT}=1 to refuse).",
            logger="current",
        )
        return torch.load(filename, map_location=map_location, weights_only=False)
    except (RuntimeError, EOFError) as err:
        raise RuntimeError(
            f"checkpoint {filename!r} is unreadable (truncated or not a torch file): {err}"
        ) from err


def register_checkpoint_io() -> None:
    """Make mmengine write local files atomically and load local checkpoints as described above."""
    register_backend("local", AtomicLocalBackend, force=True, prefixes="")
    CheckpointLoader.register_scheme(prefixes="", loader=load_trusted_local_checkpoint, force=True)
