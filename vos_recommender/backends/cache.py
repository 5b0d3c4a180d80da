"""A backend that records another backend's results on disk and replays them.

Agent training runs the same (video, first scribble, frame sequence) many times, above all when the
goal reward's random-recommendation statistics are computed. A VOS result is a deterministic function
of the video, the backend and every round so far, so it is keyed by

    sha1(namespace, video hash, [(frame, sha1 of the round's strokes) for every round so far])

Entries live in a :class:`~vos_recommender.backends.cache_store.CacheStore`: per entry an arrays file
(the label masks, and the probabilities only when asked: ``store_probs``) and a small record (the
backend's time and *derived* values that users of the entry attached to it, e.g. the environment's
per-frame J and F), written atomically and as a unit. A hit only reads the record (or finds it in
memory): the result it returns loads its masks, and separately its probabilities, on first access.
Probabilities that were not stored are recomputed by the wrapped backend when asked for; an arrays
file that turns out unreadable (damaged, or evicted by the disk budget) is recomputed the same way.

On a hit the wrapped backend is not run at all. Its internal state then lags behind; when it has to
run, the cache continues it from the rounds it has applied if those are a prefix of the wanted history
and restarts it otherwise, so results never depend on which rounds happened to be cached. For the same
reason the cache can always save and restore its state between rounds (a round tried and undone): it
saves its history, and the wrapped backend's state when that backend can save it; otherwise the wrapped
backend is restarted from the history the next time it has to run.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Union

import numpy as np

from vos_recommender.backends.base import (
    BackendStateError,
    FrameCallback,
    VOSBackend,
    VOSResult,
    backend_namespace,
)
from vos_recommender.backends.cache_result import CachedVOSResult, scribble_hash, video_hash
from vos_recommender.backends.cache_store import FOLDER_BUDGET, CacheStore
from vos_recommender.backends.memory_lru import LRUDict

__all__ = ["CachedVOSResult", "CachingBackend", "scribble_hash", "video_hash"]


#: A scribble dict, or a zero-argument callable returning it (resolved only when the wrapped
#: backend has to run).
ScribbleLike = Union[dict, Callable[[], dict]]
History = list[tuple[ScribbleLike, int, str]]


def _resolve(scribble: ScribbleLike) -> dict:
    return scribble() if callable(scribble) else scribble


class CachingBackend(VOSBackend):
    """Wraps a backend; records its results on disk and replays them for identical histories.

    Args:
        backend: The wrapped backend, as an instance or a registry name.
        cache_dir: Folder of the entries (created if needed).
        backend_kwargs: Constructor arguments when ``backend`` is a name.
        namespace: Part of every key, separating backends and settings that share a folder. Defaults
            to the wrapped backend's name plus ``backend_kwargs``; set it explicitly when an instance
            is passed whose settings matter.
        store_probs: What an entry keeps of the probabilities: ``"none"`` (default; a consumer that
            asks a replayed result for them gets them recomputed by the wrapped backend, exactly),
            ``"uint8"`` (quantised to 1/255, about 80 KB per entry of 25 x 120 x 216 with 3 objects),
            ``"float16"`` or ``"float32"``. With the lossy settings the computed result is rounded the
            same way, so replays equal it. Entries keep the precision they were recorded with.
        memory_entries: Entry records (small: timing, sizes, derived values) kept in memory (LRU).
        memory_arrays: Entries whose decoded masks (and probabilities) are kept in memory (LRU).
        compress: Deflate the ``.npz`` files (True: zlib level 1; or a level 0-9).
        max_bytes: Disk budget of the folder, e.g. ``"1GB"``; least recently used entries are evicted
            beyond it (:class:`~vos_recommender.backends.cache_budget.DiskBudget`). It is recorded in
            the folder; the default uses the recorded one (none: no budget); 0 removes it.
        store_dtype: Deprecated name of ``store_probs`` (``"float32"`` or ``"float16"``).

    Attributes:
        store: The entries on disk (:class:`~vos_recommender.backends.cache_store.CacheStore`).
        hits: Rounds answered from the cache.
        misses: Rounds that ran the wrapped backend.
        repairs: Entries whose record was fine but whose arrays were unreadable (damaged, or evicted
            after the record was read) when loaded, and which were therefore recomputed.
        probs_recomputed: Replayed results whose probabilities were asked for but not stored.
    """

    name = "cache"

    def __init__(
        self,
        backend: VOSBackend | str,
        cache_dir: str | os.PathLike,
        backend_kwargs: dict[str, Any] | None = None,
        namespace: str | None = None,
        store_probs: str = "none",
        memory_entries: int = 16384,
        memory_arrays: int = 4,
        compress: bool | int = True,
        max_bytes: int | float | str | None = FOLDER_BUDGET,
        store_dtype: str | None = None,
    ) -> None:
        super().__init__()
        if isinstance(backend, str):
            from vos_recommender.backends import build_backend

            if backend == "cache":
                raise ValueError("the cache backend cannot wrap another cache backend")
            self.inner = build_backend(backend, **(backend_kwargs or {}))
        else:
            self.inner = backend
        if store_dtype is not None:
            if store_dtype not in ("float32", "float16"):
                raise ValueError(f"store_dtype must be 'float32' or 'float16', got {store_dtype!r}")
            warnings.warn("store_dtype is deprecated; use store_probs", DeprecationWarning, stacklevel=2)
            store_probs = store_dtype
        self.store = CacheStore(
            cache_dir,
            memory_entries,
            memory_arrays,
            compress=compress,
            store_probs=store_probs,
            max_bytes=max_bytes,
        )
        self.store_probs = self.store.store_probs
        self.compress = self.store.compress
        self.cache_dir = self.store.folder
        if namespace is None:
            namespace = backend_namespace(self.inner.name, backend_kwargs, self.inner.defaults_revision)
        self.namespace = namespace
        self.hits = 0
        self.misses = 0
        self.repairs = 0
        self.probs_recomputed = 0
        self._records = self.store.records
        self._arrays = self.store.arrays
        # id(frames) -> (frames, hash): the hash of a 25-frame video costs milliseconds per episode.
        self._video_hashes = LRUDict(64)
        self._video_hash = ""
        self._history: History = []
        # (frame, stroke hash) of the rounds the wrapped backend has applied; None: not started.
        self._applied: list[tuple[int, str]] | None = None

    @property
    def simulated_user(self) -> dict[str, Any]:  # type: ignore[override]
        """The wrapped backend's simulated-user settings.

        They are not part of the key: a result depends on the scribbles, whose digests are.
        """
        return dict(self.inner.simulated_user)

    @property
    def defaults_revision(self) -> int:  # type: ignore[override]
        """The wrapped backend's :attr:`~vos_recommender.backends.base.VOSBackend.defaults_revision`."""
        return self.inner.defaults_revision

    @property
    def hit_rate(self) -> float:
        """Fraction of rounds answered from the cache (0 before any round)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    @property
    def evictions(self) -> int:
        """Entries this process evicted to keep the folder within its disk budget."""
        return self.store.budget.evictions

    def stats(self) -> dict[str, float]:
        """Hits, misses, hit rate, evictions and bytes of the cache, as numbers.

        Returns:
            ``hits``, ``misses``, ``hit_rate``, ``evictions`` (entries this process evicted),
            ``bytes_written`` (by this process), ``bytes`` (the folder's estimated size: entries and
            stored scribbles), ``max_bytes`` (0: no budget), ``repairs`` and ``probs_recomputed``.
        """
        budget = self.store.budget
        return {
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": self.hit_rate,
            "evictions": budget.evictions,
            "bytes_written": budget.bytes_written,
            "bytes": budget.usage,
            "max_bytes": budget.max_bytes or 0,
            "repairs": self.repairs,
            "probs_recomputed": self.probs_recomputed,
        }

    # ------------------------------------------------------------------ hooks
    def _start(self) -> None:
        assert self.frames is not None
        # Frames are not expected to change in place after start_video (the same object keeps its hash).
        known = self._video_hashes.get_recent(str(id(self.frames)))
        if known is not None and known[0] is self.frames and known[2] == self.num_objects:
            self._video_hash = known[1]
        else:
            self._video_hash = video_hash(self.frames, self.num_objects)
            self._video_hashes.put(str(id(self.frames)), (self.frames, self._video_hash, self.num_objects))
        self._history = []
        self._applied = None

    def _reset(self) -> None:
        self._history = []
        self._applied = None
        self.inner.reset()

    def _round_state(self) -> Any:
        # The wrapped backend lags behind the history on hits; it is saved with the rounds it applied
        # when it can be, and otherwise restarted from the history the next time it has to run.
        try:
            inner = self.inner.snapshot() if self.inner.frames is not None else None
        except BackendStateError:
            inner = None
        return list(self._history), self._applied, inner

    def _restore_round_state(self, state: Any) -> None:
        history, applied, inner = state
        self._history = list(history)
        if inner is not None and self.inner.frames is inner.frames:
            self.inner.restore(inner)
            self._applied = applied
        else:
            self._applied = None

    def _key(self) -> str:
        rounds = [(frame, digest) for _, frame, digest in self._history]
        payload = json.dumps([self.namespace, self._video_hash, rounds])
        return hashlib.sha1(payload.encode()).hexdigest()

    def entry_path(self, key: str) -> Path | None:
        """Arrays file of the entry with this key, as its record names it (None without a record)."""
        record = self.store.record(key, check=False)
        return None if record is None else self.store.arrays_path(key, record)

    def record_path(self, key: str) -> Path:
        """Record (``.json``) of the entry with this key."""
        return self.store.record_path(key)

    def interact(
        self,
        scribble: ScribbleLike,
        frame: int,
        on_frame: FrameCallback | None = None,
        scribble_digest: str | None = None,
    ) -> VOSResult:
        """Replay the recorded result of this history, or compute, record and return it.

        Args:
            scribble: This round's DAVIS scribble dict, or a zero-argument callable returning it (called
                only if the wrapped backend has to run, now or later).
            frame: Annotated frame.
            on_frame: Passed to the wrapped backend's run of this round (a replayed result reports no
                frames).
            scribble_digest: :func:`scribble_hash` of ``(scribble, frame)`` when the caller knows it
                (required when ``scribble`` is a callable).

        Returns:
            A :class:`CachedVOSResult`; ``from_cache`` tells whether it was replayed, ``elapsed`` is the
            wrapped backend's own time when the entry was recorded, ``key`` identifies the entry.
        """
        if self.frames is None:
            raise RuntimeError("CachingBackend.interact called before start_video")
        if not 0 <= int(frame) < self.frames.shape[0]:
            raise IndexError(f"annotated frame {frame} outside the video (0..{self.frames.shape[0] - 1})")
        frame = int(frame)
        if scribble_digest is None:
            if callable(scribble):
                raise ValueError("a lazily loaded scribble needs its scribble_digest")
            scribble_digest = scribble_hash(scribble, frame)
        self.annotated_frames.append(frame)
        self._history.append((scribble, frame, scribble_digest))
        key = self._key()
        record = self.store.record(key)
        if record is not None:
            self.hits += 1
            self.store.used(key)
            history = list(self._history)
            return CachedVOSResult(
                key,
                elapsed=record["elapsed"],
                from_cache=True,
                load_masks=lambda: self._load_masks(key, record, history),
                load_probs=lambda: self._load_probs(key, record, history),
            )
        self.misses += 1
        result = self._run_inner(self._history, on_frame)
        masks, probs = self._store(key, result.masks, result.probs, result.elapsed)
        return CachedVOSResult(key, elapsed=result.elapsed, from_cache=False, masks=masks, probs=probs)

    def _run_inner(self, history: History, on_frame: FrameCallback | None = None) -> VOSResult:
        """The wrapped backend's result after ``history``, continuing it when it holds a prefix."""
        assert self.frames is not None
        target = [(frame, digest) for _, frame, digest in history]
        applied, self._applied = self._applied, None  # unknown until every round below has run
        if applied is None or len(applied) >= len(target) or applied != target[: len(applied)]:
            self.inner.start_video(self.frames, self.num_objects, video_id=self.video_id)
            applied = []
        result = None
        pending = history[len(applied) :]
        for index, (scribble, frame, digest) in enumerate(pending):
            last = index == len(pending) - 1
            result = self.inner.interact(_resolve(scribble), frame, on_frame=on_frame if last else None)
            applied = [*applied, (frame, digest)]
        assert result is not None
        self._applied = applied
        return result

    def _store(
        self, key: str, masks: np.ndarray, probs: np.ndarray, elapsed: float
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.store.write(key, masks, probs, elapsed)

    def _load_masks(self, key: str, record: dict, history: History) -> np.ndarray:
        """Decoded masks of the entry ``record`` describes; recomputed from ``history`` if unreadable."""
        try:
            return self.store.load_masks(key, record)
        except Exception:  # damaged or evicted after its record was read: recompute from the history
            return self._recompute(key, record, history)[0]

    def _load_probs(self, key: str, record: dict, history: History) -> np.ndarray:
        """Probabilities of the entry: stored ones, else the wrapped backend's for ``history``."""
        try:
            probs = self.store.load_probs(key, record)
        except Exception:  # damaged or evicted after its record was read
            return self._recompute(key, record, history)[1]
        if probs is not None:
            return probs
        self.probs_recomputed += 1
        result = self._run_inner(history)
        if self.store_probs == "none":
            return result.probs
        # This cache keeps probabilities: add them to the entry (rounded as a replay will give them).
        return self._store(key, result.masks, result.probs, record["elapsed"])[1]

    def _recompute(self, key: str, record: dict, history: History) -> tuple[np.ndarray, np.ndarray]:
        self.repairs += 1
        result = self._run_inner(history)
        return self._store(key, result.masks, result.probs, record["elapsed"])

    def _interact(self, scribble: dict[str, Any], frame: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError("CachingBackend overrides interact()")  # pragma: no cover

    # ------------------------------------------------------------------ derived values
    def derived(self, key: str, name: str) -> Any:
        """A value attached to an entry with :meth:`put_derived`, or None.

        Args:
            key: The entry's key (``CachedVOSResult.key``).
            name: Name of the value; include in it everything the value depends on besides the entry.
        """
        return self.store.derived(key, name)

    def put_derived(self, key: str, name: str, value: Any) -> None:
        """Attach a JSON-serialisable value to an entry (kept in memory and in the entry's record).

        Args:
            key: The entry's key.
            name: Name of the value.
            value: JSON-serialisable value (floats round-trip exactly).

        Raises:
            KeyError: If there is no such entry.
        """
        self.store.put_derived(key, name, value)
