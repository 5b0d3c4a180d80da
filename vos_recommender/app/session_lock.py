"""One app per session folder: an exclusive lock on ``<session>/.lock``.

Two apps saving into one folder would overwrite each other's rounds without a word, so the app takes an
``fcntl.flock`` lock on the folder's ``.lock`` file while the session is open and writes its process id,
host and start time into it. A second app finds the lock held and is refused with a message naming that
process. The operating system releases the lock when its process ends, however it ends, so a lock file
left by a process that died is simply taken over.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import IO

from vos_recommender.app.errors import AppInputError, SessionInUseError

__all__ = ["LOCK_FILE", "SessionLock"]

LOCK_FILE = ".lock"


def _describe(text: str) -> str:
    try:
        holder = json.loads(text)
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(holder["since"])))
        return f"process {int(holder['pid'])} on {holder['host']} (since {since})"
    except (ValueError, KeyError, TypeError):
        return "another process"


class SessionLock:
    """The exclusive lock of one session folder.

    Args:
        folder: The session folder (created on :meth:`acquire`).
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self._file: IO[str] | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._file is not None

    def acquire(self) -> SessionLock:
        """Take the lock; returns ``self``.

        Raises:
            SessionInUseError: If another process (or another session object here) holds it.
            AppInputError: If the folder or its lock file cannot be created or opened.
        """
        if self._file is not None:
            return self
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 (held open while locked)
        except OSError as err:
            raise AppInputError(f"--session: cannot lock the session folder {self.folder}: {err}") from err
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = _describe(handle.read())
            handle.close()
            raise SessionInUseError(
                f"--session: {self.folder} is open in another app ({holder}); close that app first or "
                "give another --session folder"
            ) from None
        except OSError as err:
            handle.close()
            raise AppInputError(f"--session: cannot lock the session folder {self.folder}: {err}") from err
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}))
        handle.flush()
        self._file = handle
        return self

    def release(self) -> None:
        """Give the lock up (the file stays; the next app takes it over)."""
        if self._file is None:
            return
        handle, self._file = self._file, None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        finally:
            handle.close()
