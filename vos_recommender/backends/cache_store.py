"""The on-disk store of the cache backend: one record and one arrays file per entry, changed as a unit.

Each entry is two files under ``<folder>/<key[:2]>/``:

* ``<key>.<digest>.npz`` — the label masks and, only when asked (``store_probs``), the probabilities
  (:mod:`~vos_recommender.backends.cache_format`: a few KB per entry for 25 frames of 120 x 216 without
  probabilities). ``digest`` is the start of the SHA-1 of the file's bytes, so every write of an
  entry's arrays goes to a file of its own and no writer ever replaces another writer's arrays;
* ``<key>.json`` — a small record: the backend's time, the name and byte size of *its* arrays file, the
  precision of the stored probabilities and *derived* values that users of the entry attached to it
  (the environment stores the per-frame J and F of every object and a pointer to the simulated user's
  next scribble), so a replayed round usually needs neither the masks nor the probabilities.

Both files are written with :mod:`vos_recommender.utils.atomic` (temporary file, fsync, rename), the arrays
before the record that names them. A record therefore always names a whole arrays file written for it:
two processes writing the same entry at once leave one of the two (record, arrays) pairs, never a
record of one with the arrays of the other. An entry counts as present only when its record is
readable and its arrays file exists with the size the record states. Arrays files of an entry that its
record no longer names are deleted by the next write of that entry once they are older than
``orphan_grace`` seconds (younger ones may belong to a writer that has not written its record yet).
With a disk budget (:class:`~vos_recommender.backends.cache_budget.DiskBudget`) least recently used
entries are deleted, record first, whenever the folder outgrows it.

Older layouts are still read: records of format 2 name ``<key>.npz``; records of format 3 hold float32
or float16 probabilities; an arrays file without a record (the layout before records existed, or a
writer that died between its two renames) is read once and given a record. Temporary files of
interrupted writes are removed when a store is opened (:func:`vos_recommender.utils.atomic.remove_stale_temporaries`,
with an age limit that spares live writers).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from vos_recommender.backends.cache_budget import DiskBudget
from vos_recommender.backends.cache_format import (
    FOLDER_FORMAT,
    PROBS_FORMATS,
    decode_probs,
    encode_probs,
    npz_bytes,
    parse_bytes,
    read_folder_settings,
    recorded_budget,
    stored_probs,
    write_folder_settings,
)
from vos_recommender.backends.memory_lru import LRUDict
from vos_recommender.utils.atomic import atomic_write_bytes, atomic_write_json, remove_stale_temporaries

__all__ = ["RECORD_FORMAT", "CacheStore"]

RECORD_FORMAT = FOLDER_FORMAT
_READABLE_FORMATS = (2, 3, RECORD_FORMAT)
#: ``max_bytes`` default: the budget the folder recorded (none recorded: no budget).
FOLDER_BUDGET = "folder"


class CacheStore:
    """Entries (record + arrays) in a folder, with in-memory LRUs of records and decoded arrays.

    Args:
        folder: Folder of the entries (created if needed).
        memory_entries: Records kept in memory.
        memory_arrays: Entries whose decoded masks (and probabilities, once asked for) stay in memory.
        compress: Deflate the arrays files: True (zlib level 1), False, or a zlib level 0-9.
        stale_after: Age in seconds beyond which a temporary file counts as left by a dead writer.
        orphan_grace: Age in seconds beyond which an arrays file its record does not name is deleted.
        store_probs: Precision of the stored probabilities: ``"none"``, ``"uint8"``, ``"float16"``
            or ``"float32"`` (:mod:`~vos_recommender.backends.cache_format`).
        max_bytes: Disk budget of the folder (bytes, or a size such as ``"1GB"``; 0 or None: no
            budget). It is recorded in the folder; the default ``"folder"`` uses the recorded one.

    Attributes:
        budget: The folder's :class:`~vos_recommender.backends.cache_budget.DiskBudget`.

    Raises:
        ValueError: On negative memory sizes, an unknown ``store_probs`` or a malformed ``max_bytes``.
        CacheFormatError: If the folder was written by a newer version, or the budget recorded in it
            (used when ``max_bytes`` is not given) is not a size.
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        memory_entries: int = 16384,
        memory_arrays: int = 4,
        compress: bool | int = True,
        stale_after: float = 3600.0,
        orphan_grace: float = 600.0,
        store_probs: str = "none",
        max_bytes: int | float | str | None = FOLDER_BUDGET,
    ) -> None:
        if memory_entries < 0 or memory_arrays < 0:
            raise ValueError(
                f"memory_entries and memory_arrays must be >= 0, got {memory_entries} and {memory_arrays}"
            )
        if store_probs not in PROBS_FORMATS:
            raise ValueError(f"store_probs must be one of {list(PROBS_FORMATS)}, got {store_probs!r}")
        level = int(compress) if not isinstance(compress, bool) else (1 if compress else 0)
        if not 0 <= level <= 9:
            raise ValueError(f"compress must be a bool or a zlib level 0-9, got {compress!r}")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        settings = read_folder_settings(self.folder)
        recorded = settings.get("max_bytes") if settings is not None else None
        if isinstance(max_bytes, str) and max_bytes == FOLDER_BUDGET:
            budget = recorded_budget(self.folder, settings)
        else:  # a budget given replaces the recorded one, even one this version cannot read
            budget = parse_bytes(max_bytes)
        if settings is None or settings.get("format") != FOLDER_FORMAT or budget != recorded:
            write_folder_settings(self.folder, budget)
        self.compress = level > 0
        self.level = level
        self.store_probs = store_probs
        self.orphan_grace = float(orphan_grace)
        self.records = LRUDict(memory_entries)
        self.arrays = LRUDict(memory_arrays)
        self.removed_temporaries = remove_stale_temporaries(self.folder, older_than=stale_after)
        self.budget = DiskBudget(self.folder, budget, on_evict=self._forget)

    @property
    def max_bytes(self) -> int | None:
        """The folder's disk budget in bytes (None: none)."""
        return self.budget.max_bytes

    # ------------------------------------------------------------------ paths
    def record_path(self, key: str) -> Path:
        """Record (``.json``) of the entry with this key."""
        return self.folder / key[:2] / f"{key}.json"

    def arrays_path(self, key: str, record: dict) -> Path:
        """Arrays file that ``record`` names."""
        return self.folder / key[:2] / record["arrays"]

    def _arrays_candidates(self, key: str) -> list[Path]:
        folder = self.folder / key[:2]
        if not folder.is_dir():
            return []
        return [
            p for p in folder.glob(f"{key}*.npz") if p.name == f"{key}.npz" or p.name.startswith(f"{key}.")
        ]

    # ------------------------------------------------------------------ records
    def _read_record(self, key: str) -> dict | None:
        try:
            record = json.loads(self.record_path(key).read_text())
            if not isinstance(record, dict) or record.get("format") not in _READABLE_FORMATS:
                raise ValueError("not a cache record")
            float(record["elapsed"])
            if not isinstance(record.get("derived"), dict):
                raise ValueError("not a cache record")
            if record["format"] == 2:  # format 2 kept the arrays at a fixed name
                record["arrays"] = f"{key}.npz"
            if record["format"] < 4:  # formats 2 and 3 always stored the probabilities
                record["probs"] = "stored"
            record["format"] = RECORD_FORMAT
            if not isinstance(record.get("arrays"), str) or "/" in record["arrays"]:
                raise ValueError("not a cache record")
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return record

    def record(self, key: str, check: bool = True) -> dict | None:
        """The record of a present entry (memory first), or None.

        Args:
            key: Entry key.
            check: Require the arrays file to exist with the recorded size, and adopt an arrays file
                that has no record.
        """
        record = self.records.get_recent(key)
        if record is not None:
            return record
        record = self._read_record(key)
        if record is not None:
            if check:
                try:
                    size = self.arrays_path(key, record).stat().st_size
                except OSError:
                    size = -1
                if size != record.get("npz_size"):
                    return None
            self.records.put(key, record)
            return record
        return self._adopt(key) if check else None

    def used(self, key: str) -> None:
        """Record a replay of the entry (its last use, which the disk budget evicts by)."""
        self.budget.touch(key, self.record_path(key))

    def _adopt(self, key: str) -> dict | None:
        """Give the newest readable arrays file of ``key`` that has no record a record."""
        for path in self._newest_first(self._arrays_candidates(key)):
            try:
                with np.load(path, allow_pickle=False) as data:
                    masks = data["masks"].astype(np.uint8)
                    probs = decode_probs(data)
                    elapsed = float(data["elapsed"])
                size = path.stat().st_size
            except Exception:  # a foreign, damaged or vanished file: try the next one
                continue
            record = {
                "format": RECORD_FORMAT,
                "elapsed": elapsed,
                "arrays": path.name,
                "npz_size": size,
                "probs": "none" if probs is None else "stored",
                "derived": {},
            }
            self._write_record(key, record)
            self.arrays.put(key, {"masks": masks, "probs": probs})
            return record
        return None

    @staticmethod
    def _newest_first(paths) -> list[Path]:
        """``paths`` by modification time, newest first, without those that vanish meanwhile (another
        process sharing the folder may evict them between the listing and the ``stat``)."""
        dated = []
        for path in paths:
            try:
                dated.append((path.stat().st_mtime, path))
            except OSError:
                continue
        return [path for _, path in sorted(dated, key=lambda item: item[0], reverse=True)]

    def _write_record(self, key: str, record: dict) -> int:
        self.records.put(key, record)
        text = json.dumps(record)
        atomic_write_json(self.record_path(key), record)
        return len(text)

    def _forget(self, key: str) -> None:
        """Drop an evicted entry from memory."""
        self.records.pop(key, None)
        self.arrays.pop(key, None)

    # ------------------------------------------------------------------ entries
    def write(
        self, key: str, masks: np.ndarray, probs: np.ndarray, elapsed: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Write an entry's arrays, then the record naming them (keeping derived values already attached).

        Returns:
            ``(masks, probs)`` as a replay of the entry gives them: the probabilities at the stored
            precision (exact with ``store_probs="none"``, whose replays recompute them).
        """
        members = {"masks": masks, **encode_probs(probs, self.store_probs)}
        data = npz_bytes(
            {**members, "elapsed": np.float64(elapsed), "recorded_at": np.float64(time.time())}, self.level
        )
        name = f"{key}.{hashlib.sha1(data).hexdigest()[:16]}.npz"
        atomic_write_bytes(self.folder / key[:2] / name, data)
        old = self.record(key, check=False)
        record = {
            "format": RECORD_FORMAT,
            "elapsed": float(elapsed),
            "arrays": name,
            "npz_size": len(data),
            "probs": self.store_probs,
            "derived": dict(old["derived"]) if old is not None else {},
        }
        written = len(data) + self._write_record(key, record)
        arrays = {"masks": masks, "probs": stored_probs(probs.astype(np.float32), self.store_probs)}
        self.arrays.put(key, arrays)
        self._remove_orphans(key, keep=name)
        self.budget.added(written, protect=key)
        return arrays["masks"], arrays["probs"]

    def _remove_orphans(self, key: str, keep: str) -> None:
        cutoff = time.time() - self.orphan_grace
        for path in self._arrays_candidates(key):
            try:
                if path.name != keep and path.stat().st_mtime < cutoff:
                    path.unlink()
            except OSError:  # another writer removed it first
                continue

    def _load(self, key: str, record: dict | None, member: str) -> Any:
        arrays = self.arrays.get_recent(key)
        if arrays is not None and member in arrays:
            return arrays[member]
        if record is None:
            record = self.record(key, check=False)
        if record is None:
            raise KeyError(f"no cache entry {key} in {self.folder}")
        if member == "probs" and record.get("probs") == "none":
            return None
        with np.load(self.arrays_path(key, record), allow_pickle=False) as data:
            value = data["masks"].astype(np.uint8) if member == "masks" else decode_probs(data)
        if arrays is None:
            arrays = {}
            self.arrays.put(key, arrays)
        arrays[member] = value
        return value

    def load_masks(self, key: str, record: dict | None = None) -> np.ndarray:
        """Decoded ``T x H x W`` uint8 masks of an entry (memory first; the probabilities stay on disk).

        Args:
            key: Entry key.
            record: The record the caller read; its arrays are loaded even if another writer has
                replaced the record since. None reads the current record.

        Raises:
            KeyError: If the entry has no record.
            Exception: Whatever reading a damaged or evicted arrays file raises (the caller recomputes).
        """
        return self._load(key, record, "masks")

    def load_probs(self, key: str, record: dict | None = None) -> np.ndarray | None:
        """Decoded float32 probabilities of an entry, or None when they were not stored.

        Raises:
            KeyError: If the entry has no record.
            Exception: Whatever reading a damaged or evicted arrays file raises (the caller recomputes).
        """
        return self._load(key, record, "probs")

    def load_arrays(self, key: str, record: dict | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """``(masks uint8, probs float32 or None)`` of an entry (see :meth:`load_masks`)."""
        return self.load_masks(key, record), self.load_probs(key, record)

    # ------------------------------------------------------------------ derived values
    def derived(self, key: str, name: str) -> Any:
        """A value attached to an entry with :meth:`put_derived`, or None."""
        record = self.record(key, check=False)
        if record is None:
            return None
        return record["derived"].get(name)

    def put_derived(self, key: str, name: str, value: Any) -> None:
        """Attach a JSON-serialisable value to an entry (in memory and in its record).

        Raises:
            KeyError: If the entry has no record.
        """
        record = self.record(key, check=False)
        if record is None:
            raise KeyError(f"no cache entry {key} in {self.folder}")
        before = len(json.dumps(record))
        record["derived"][name] = value
        self.budget.added(self._write_record(key, record) - before, protect=key)
