"""Atomic file writes: a reader or a crash never sees a half-written file.

Every writer goes to a temporary file in the destination's folder (same file system, so the final
``os.replace`` is atomic). The data is flushed to disk (``fsync``) before the rename and the folder after
it, so a power loss leaves the old or the new file, never an empty one. The temporary file is removed if
writing fails, and the result gets the permissions an ordinary ``open`` would give (``mkstemp`` makes
0600 files; the umask is applied instead). This is the only place in ``vos_recommender`` that renames a
file into place.

Temporary names start with ``.<name>.`` and end with ``.tmp`` (plus an optional suffix), so
:func:`remove_stale_temporaries` can clean what a killed process left behind.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_path",
    "atomic_torch_save",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "fsync_directory",
    "remove_stale_temporaries",
]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_directory(folder: str | os.PathLike) -> None:
    """Flush a folder's entries (a rename in it) to disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it over ``path`` when the block succeeds.

    Args:
        path: Destination file; parent folders are created.
        suffix: Extra suffix after ``.tmp`` (some writers pick the format from it, e.g. ``".png"``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        _fsync_file(tmp)
        os.replace(tmp, path)
        fsync_directory(path.parent)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write bytes atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path: str | os.PathLike, obj: Any, **dump_kwargs: Any) -> None:
    """Write ``obj`` as JSON atomically."""
    atomic_write_text(path, json.dumps(obj, **dump_kwargs))


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` atomically."""
    import torch  # imported here: the package's import must not pull in torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def remove_stale_temporaries(
    folder: str | os.PathLike, older_than: float = 3600.0, recursive: bool = True
) -> int:
    """Delete temporary files of interrupted atomic writes (``.<name>.*.tmp*``) older than ``older_than`` s.

    The age limit keeps the temporary files of writers that are still running (another process sharing a
    cache folder). Returns the number of files removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    cutoff = time.time() - older_than
    removed = 0
    pattern = "**/.*.tmp*" if recursive else ".*.tmp*"
    for candidate in folder.glob(pattern):
        try:
            if candidate.is_file() and candidate.stat().st_mtime < cutoff:
                candidate.unlink()
                removed += 1
        except OSError:
            continue
    return removed
