"""The on-disk store of the cache backend: one record and one arrays file per entry, changed as a unit.

Each entry is two files under ``<folder>/<key[:2]>/``:

* ``<key>.<digest>.npz`` — the masks and probabilities (compressed; about 2 MB for 25 frames of
  120 x 216). ``digest`` is the start of the SHA-1 of the file's bytes, so every write of an entry's
  arrays goes to a file of its own and no writer ever replaces another writer's arrays;
* ``<key>.json`` — a small record: the backend's time, the name and byte size of *its* arrays file and
  *derived* values that users of the entry attached to it (the environment stores the per-frame J and F
  of every object and a pointer to the simulated user's next scribble), so a replayed round usually
  needs neither the masks nor the probabilities.

Both files are written with :mod:`vos_recommender.atomic` (temporary file, fsync, rename), the arrays
before the record that names them. A record therefore always names a whole arrays file written for it:
two processes writing the same entry at once leave one of the two (record, arrays) pairs, never a
record of one with the arrays of the other. An entry counts as present only when its record is
readable and its arrays file exists with the size the record states. Arrays files of an entry that its
record no longer names are deleted by the next write of that entry once they are older than
``orphan_grace`` seconds (younger ones may belong to a writer that has not written its record yet).

Older layouts are still read: records of format 2 name ``<key>.npz``; an arrays file without a record
(the layout before records existed, or a writer that died between its two renames) is read once and
given a record. Temporary files of interrupted writes are removed when a store is opened
(:func:`vos_recommender.atomic.remove_stale_temporaries`, with an age limit that spares live writers).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from vos_recommender.atomic import atomic_write_bytes, atomic_write_json, remove_stale_temporaries

__all__ = ["RECORD_FORMAT", "CacheStore", "LRUDict"]

RECORD_FORMAT = 3
_READABLE_FORMATS = (2, RECORD_FORMAT)


class LRUDict(OrderedDict):
    """An ordered dict that keeps its ``capacity`` most recently used items."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = int(capacity)

    def get_recent(self, key: str) -> Any:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def put(self, key: str, value: Any) -> None:
        if self.capacity <= 0:
            return
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.capacity:
            self.popitem(last=False)


class CacheStore:
    """Entries (record + arrays) in a folder, with in-memory LRUs of records and decoded arrays.

    Args:
        folder: Folder of the entries (created if needed).
        memory_entries: Records kept in memory.
        memory_arrays: Decoded ``(masks, probs)`` pairs kept in memory.
        compress: Deflate the arrays files.
        stale_after: Age in seconds beyond which a temporary file counts as left by a dead writer.
        orphan_grace: Age in seconds beyond which an arrays file its record does not name is deleted.

    Raises:
        ValueError: On negative memory sizes.
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        memory_entries: int = 16384,
        memory_arrays: int = 4,
        compress: bool = True,
        stale_after: float = 3600.0,
        orphan_grace: float = 600.0,
    ) -> None:
        if memory_entries < 0 or memory_arrays < 0:
            raise ValueError(
                f"memory_entries and memory_arrays must be >= 0, got {memory_entries} and {memory_arrays}"
            )
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.compress = bool(compress)
        self.orphan_grace = float(orphan_grace)
        self.records = LRUDict(memory_entries)
        self.arrays = LRUDict(memory_arrays)
        self.removed_temporaries = remove_stale_temporaries(self.folder, older_than=stale_after)

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

    def _adopt(self, key: str) -> dict | None:
        """Give the newest readable arrays file of ``key`` that has no record a record."""
        candidates = sorted(self._arrays_candidates(key), key=lambda p: p.stat().st_mtime, reverse=True)
        for path in candidates:
            try:
                with np.load(path, allow_pickle=False) as data:
                    masks = data["masks"].astype(np.uint8)
                    probs = data["probs"].astype(np.float32)
                    elapsed = float(data["elapsed"])
                size = path.stat().st_size
            except Exception:  # a foreign, damaged or vanished file: try the next one
                continue
            record = {
                "format": RECORD_FORMAT,
                "elapsed": elapsed,
                "arrays": path.name,
                "npz_size": size,
                "derived": {},
            }
            self._write_record(key, record)
            self.arrays.put(key, (masks, probs))
            return record
        return None

    def _write_record(self, key: str, record: dict) -> None:
        self.records.put(key, record)
        atomic_write_json(self.record_path(key), record)

    # ------------------------------------------------------------------ entries
    def write(
        self, key: str, masks: np.ndarray, probs: np.ndarray, elapsed: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Write an entry's arrays, then the record naming them (keeping derived values already attached).

        Returns:
            ``(masks, probs as float32)``, as a later :meth:`load_arrays` returns them.
        """
        buffer = io.BytesIO()
        (np.savez_compressed if self.compress else np.savez)(
            buffer, masks=masks, probs=probs, elapsed=np.float64(elapsed), recorded_at=np.float64(time.time())
        )
        data = buffer.getvalue()
        name = f"{key}.{hashlib.sha1(data).hexdigest()[:16]}.npz"
        atomic_write_bytes(self.folder / key[:2] / name, data)
        old = self.record(key, check=False)
        record = {
            "format": RECORD_FORMAT,
            "elapsed": float(elapsed),
            "arrays": name,
            "npz_size": len(data),
            "derived": dict(old["derived"]) if old is not None else {},
        }
        self._write_record(key, record)
        arrays = (masks, probs.astype(np.float32))
        self.arrays.put(key, arrays)
        self._remove_orphans(key, keep=name)
        return arrays

    def _remove_orphans(self, key: str, keep: str) -> None:
        cutoff = time.time() - self.orphan_grace
        for path in self._arrays_candidates(key):
            try:
                if path.name != keep and path.stat().st_mtime < cutoff:
                    path.unlink()
            except OSError:  # another writer removed it first
                continue

    def load_arrays(self, key: str, record: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Decoded ``(masks uint8, probs float32)`` of an entry (memory first).

        Args:
            key: Entry key.
            record: The record the caller read; its arrays are loaded even if another writer has
                replaced the record since. None reads the current record.

        Raises:
            KeyError: If the entry has no record.
            Exception: Whatever reading a damaged arrays file raises (the caller recomputes the entry).
        """
        arrays = self.arrays.get_recent(key)
        if arrays is not None:
            return arrays
        if record is None:
            record = self.record(key, check=False)
        if record is None:
            raise KeyError(f"no cache entry {key} in {self.folder}")
        with np.load(self.arrays_path(key, record), allow_pickle=False) as data:
            arrays = (data["masks"].astype(np.uint8), data["probs"].astype(np.float32))
        self.arrays.put(key, arrays)
        return arrays

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
        record["derived"][name] = value
        self._write_record(key, record)
