"""Atomic file writes for the plugin: a reader or a crash never sees a half-written file.

Every writer goes to a temporary file in the destination's folder (same file system, so the final
``os.replace`` is atomic). The data is flushed to disk (``fsync``) before the rename and the folder after
it, so a power loss leaves the old or the new file, never an empty one. The temporary file is removed when
writing fails, and the result gets the permissions an ordinary ``open`` would give: ``mkstemp`` creates
0600 files, so ``0o666 & ~umask`` is applied before the rename.

Temporary names are ``.<name>.<random>.tmp``; :func:`remove_stale_temporaries` deletes the ones a killed
process left behind. This is the only module of ``mmseg_ranet`` that renames a file into place.

The plugin keeps its own copy instead of importing ``vos_recommender.utils.atomic``: importing that package pulls
in gymnasium and the RL stack, which a segmentation user does not need to install.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

__all__ = [
    "TEMP_NAME",
    "atomic_write_bytes",
    "atomic_write_text",
    "fsync_directory",
    "remove_stale_temporaries",
]

# What mkstemp(prefix=".<name>.", suffix=".tmp") produces: a dot, the target's name, 8 random characters.
TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


def _umask() -> int:
    # os.umask can only be read by setting it; set it straight back.
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


def atomic_write_bytes(data: bytes, filepath: str | os.PathLike) -> None:
    """Write ``data`` to ``filepath`` through a temporary file, ``fsync`` and an atomic rename.

    Args:
        data: The file's whole content.
        filepath: Destination; parent folders are created.
    """
    path = Path(filepath)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fsync_directory(path.parent)


def atomic_write_text(text: str, filepath: str | os.PathLike, encoding: str = "utf-8") -> None:
    """Write a text file atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(text.encode(encoding), filepath)


def remove_stale_temporaries(folder: str | os.PathLike, older_than: float = 3600.0) -> list[Path]:
    """Delete the temporary files of interrupted atomic writes in ``folder`` (not below it).

    Only names that match :data:`TEMP_NAME` and were last modified more than ``older_than`` seconds ago
    are removed; the age limit spares the temporary file of a writer that is still running.

    Returns:
        The removed paths.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    cutoff = time.time() - older_than
    removed = []
    for candidate in folder.iterdir():
        if not TEMP_NAME.match(candidate.name):
            continue
        try:
            if candidate.is_file() and candidate.stat().st_mtime < cutoff:
                candidate.unlink()
                removed.append(candidate)
        except OSError:
            continue
    return removed
