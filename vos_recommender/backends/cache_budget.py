"""The cache folder's disk budget: size accounting and least-recently-used eviction.

The files are the index. An entry's last use is the newest modification time of its files: writing an
entry sets it, and a replay touches the record (``os.utime``, at most once per ``touch_interval``
seconds per entry and process), so recording an access costs one system call and no shared file.

The folder's size is one count shared by every process writing into it, kept in
``<folder>/.budget.lock`` and changed only under an exclusive ``flock`` on that file: a scan sets it
when a budgeted process opens the folder, and every write adds its bytes to it. When the count passes
``max_bytes``, or the process has written ``rescan_fraction`` of the budget since its last scan (which
bounds the drift from files no process counted: a writer without a budget, files copied in), the
process rescans the folder under the same lock and deletes least recently used entries until the
folder is at ``low_water`` of the budget. Since every write is counted after its files are in place,
the count is never below what the writers left, and processes that finish leave the folder within the
budget (with a count per process, each would add what it has not seen the others add). An entry loses
its record before its arrays, so a reader sees a whole entry or none; a reader that read the record
just before finds the arrays gone and recomputes the round (the cache backend's repair path), so
eviction never yields a wrong result.

Files in ``side_folders`` (the simulated user's stored scribbles) count towards the budget (their
writer reports them with :meth:`DiskBudget.added`) and are evicted the same way, each file on its own:
their users recompute a missing one. Everything else in the folder (the goal-reward statistics, the
format file, temporary files of live writers) is neither counted nor touched.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from vos_recommender.backends.cache_format import parse_bytes

try:  # file locks exist on POSIX; elsewhere each process counts only its own writes
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["DiskBudget", "is_entry_folder"]

LOCK_FILE = ".budget.lock"


def is_entry_folder(name: str) -> bool:
    """Whether a subfolder of the cache holds entries (entries live under ``<key[:2]>/``)."""
    return len(name) == 2 and all(c in "0123456789abcdef" for c in name)


class _Item:
    """One evictable unit: an entry's files (record first) or one side file."""

    __slots__ = ("key", "last_used", "paths", "size")

    def __init__(self, key: str | None) -> None:
        self.key = key
        self.paths: list[Path] = []
        self.size = 0
        self.last_used = 0.0

    def add(self, path: Path, stat: os.stat_result) -> None:
        if path.suffix == ".json":
            self.paths.insert(0, path)  # the record goes first: without it the entry is absent
        else:
            self.paths.append(path)
        self.size += stat.st_size
        self.last_used = max(self.last_used, stat.st_mtime)


class DiskBudget:
    """Keeps a cache folder within ``max_bytes`` by deleting least recently used entries.

    Args:
        folder: The cache folder.
        max_bytes: Budget in bytes or a size such as ``"2GB"``
            (:func:`~vos_recommender.backends.cache_format.parse_bytes`); None or 0 counts sizes but
            never evicts.
        side_folders: Subfolders whose files count and are evicted one by one.
        low_water: Fraction of the budget an eviction brings the folder down to.
        rescan_fraction: Rescan after writing this fraction of the budget.
        touch_interval: Seconds between two access-time updates of one entry by one process.
        on_evict: Called with the key of every entry this process evicts (to drop it from memory).

    Attributes:
        usage: The folder's size as last counted (exact right after a scan; with a budget, the count
            shared by the processes writing into the folder).
        bytes_written: Bytes this process added.
        evictions: Entries this process deleted.
        evicted_bytes: Bytes of the entries and side files this process deleted.

    Raises:
        ValueError: If ``max_bytes`` is not a size or ``low_water`` is not in (0, 1].
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        max_bytes: int | str | None,
        side_folders: tuple[str, ...] = ("scribbles",),
        low_water: float = 0.9,
        rescan_fraction: float = 0.05,
        touch_interval: float = 30.0,
        on_evict: Callable[[str], None] | None = None,
    ) -> None:
        if not 0.0 < low_water <= 1.0:
            raise ValueError(f"low_water must be in (0, 1], got {low_water}")
        self.folder = Path(folder)
        self.max_bytes = parse_bytes(max_bytes, "max_bytes")
        self.side_folders = tuple(side_folders)
        self.low_water = float(low_water)
        self.rescan_fraction = float(rescan_fraction)
        self.touch_interval = float(touch_interval)
        self.on_evict = on_evict
        self.bytes_written = 0
        self.evictions = 0
        self.evicted_bytes = 0
        self._since_scan = 0
        self._touched: dict[str, float] = {}
        if self.max_bytes is None:
            self.usage = sum(item.size for item in self.scan())
        else:  # the shared count starts from a scan that no write can slip past
            with self._lock() as lock:
                self.usage = sum(item.size for item in self.scan())
                _write_count(lock, self.usage)

    # ------------------------------------------------------------------ accounting
    def scan(self) -> list[_Item]:
        """Every evictable unit in the folder, with its size and last use."""
        items: dict[str, _Item] = {}
        side: list[_Item] = []
        for top in _scandir(self.folder):
            if not top.is_dir(follow_symlinks=False):
                continue
            if is_entry_folder(top.name):
                for entry in _scandir(top.path):
                    stat = _stat(entry)
                    if stat is None or entry.name.startswith("."):
                        continue
                    key = entry.name.split(".", 1)[0]
                    items.setdefault(key, _Item(key)).add(Path(entry.path), stat)
            elif top.name in self.side_folders:
                for path, stat in _walk(Path(top.path)):
                    item = _Item(None)
                    item.add(path, stat)
                    side.append(item)
        return [*items.values(), *side]

    def added(self, nbytes: int, protect: str | None = None) -> None:
        """Count ``nbytes`` just written (negative: freed); evict when the folder is over the budget
        (never the entry ``protect``)."""
        self.bytes_written += nbytes
        self._since_scan += nbytes
        if self.max_bytes is None:
            self.usage += nbytes
            return
        with self._lock() as lock:
            shared = self.usage if lock is None else _read_count(lock)
            if shared is None:  # no count yet (a folder of an earlier version) or a damaged one
                self._evict_locked(lock, protect)
                return
            self.usage = shared + nbytes
            if self.usage > self.max_bytes or self._since_scan > self.rescan_fraction * self.max_bytes:
                self._evict_locked(lock, protect)
            else:
                _write_count(lock, self.usage)

    def touch(self, key: str, path: Path) -> None:
        """Record a use of an entry (its record's modification time), at most once per ``touch_interval``."""
        now = time.time()
        if now - self._touched.get(key, 0.0) < self.touch_interval:
            return
        if len(self._touched) > 65536:  # forget old keys: touching one again costs one more utime
            self._touched.clear()
        self._touched[key] = now
        with contextlib.suppress(OSError):  # evicted meanwhile: nothing to record
            os.utime(path, (now, now))

    # ------------------------------------------------------------------ eviction
    def enforce(self, protect: str | None = None) -> int:
        """Rescan under the folder lock and evict down to ``low_water`` of the budget if it is exceeded.

        Returns:
            The number of entries evicted.
        """
        with self._lock() as lock:
            return self._evict_locked(lock, protect)

    def _evict_locked(self, lock: int | None, protect: str | None) -> int:
        """:meth:`enforce` for a caller that holds the folder lock; sets the shared count."""
        items = self.scan()
        total = sum(item.size for item in items)
        evicted = 0
        if self.max_bytes is not None and total > self.max_bytes:
            target = self.low_water * self.max_bytes
            for item in sorted(items, key=lambda i: i.last_used):
                if total <= target:
                    break
                if protect is not None and item.key == protect:
                    continue
                total -= self._remove(item)
                if item.key is not None:
                    evicted += 1
        self.usage = total
        self._since_scan = 0
        _write_count(lock, total)
        self.evictions += evicted
        return evicted

    def _remove(self, item: _Item) -> int:
        removed = 0
        for path in item.paths:
            try:
                size = path.stat().st_size
                path.unlink()
            except OSError:  # another process removed it first
                continue
            removed += size
        self.evicted_bytes += removed
        if item.key is not None:
            self._touched.pop(item.key, None)
            if self.on_evict is not None:
                self.on_evict(item.key)
        return item.size

    @contextlib.contextmanager
    def _lock(self) -> Iterator[int | None]:
        """Hold the folder's exclusive lock; yields the lock file's descriptor (None without ``flock``)."""
        if fcntl is None:  # pragma: no cover - Windows
            yield None
            return
        fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)  # closing releases the lock


#: The shared count: a fixed-width decimal at the start of the lock file, so a rewrite never shortens it.
_COUNT_WIDTH = 20


def _read_count(lock: int) -> int | None:
    """The folder's size as counted by every writer (None when there is no readable count)."""
    text = os.pread(lock, _COUNT_WIDTH + 1, 0)
    try:
        return int(text) if len(text) == _COUNT_WIDTH + 1 else None
    except ValueError:
        return None


def _write_count(lock: int | None, nbytes: int) -> None:
    if lock is not None:
        os.pwrite(lock, f"{max(0, int(nbytes)):>{_COUNT_WIDTH}d}\n".encode(), 0)


def _scandir(folder: str | os.PathLike) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except OSError:  # removed meanwhile
        return []


def _stat(entry: os.DirEntry) -> os.stat_result | None:
    try:
        return entry.stat(follow_symlinks=False) if entry.is_file(follow_symlinks=False) else None
    except OSError:
        return None


def _walk(folder: Path) -> Iterator[tuple[Path, os.stat_result]]:
    for entry in _scandir(folder):
        if entry.name.startswith("."):  # a live writer's temporary file
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path))
            continue
        stat = _stat(entry)
        if stat is not None:
            yield Path(entry.path), stat
