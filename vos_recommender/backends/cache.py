"""A backend that records another backend's results on disk and replays them.

Agent training runs the same (video, first scribble, frame sequence) many times, above all when the
goal reward's random-recommendation statistics are computed. A VOS result is a deterministic function
of the video, the backend and every round so far, so it is keyed by

    sha1(namespace, video hash, [(frame, sha1 of the round's strokes) for every round so far])

Entries live in a :class:`~vos_recommender.backends.cache_store.CacheStore`: per entry an arrays file
(masks and probabilities) and a small record (the backend's time and *derived* values that users of
the entry attached to it, e.g. the environment's per-frame J and F), written atomically and as a unit.
A hit only reads the record (or finds it in memory): the result it returns loads its masks and
probabilities on first access. An arrays file that turns out unreadable when loaded is recomputed from
the history of that round.

On a hit the wrapped backend is not run at all. Its internal state then lags behind; at the next miss
the cache restarts it and replays the earlier rounds before running the new one, so results never
depend on which rounds happened to be cached.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Union

import numpy as np

from vos_recommender.backends.base import VOSBackend, VOSResult
from vos_recommender.backends.cache_store import CacheStore, LRUDict

__all__ = ["CachedVOSResult", "CachingBackend", "scribble_hash", "video_hash"]


#: A scribble dict, or a zero-argument callable returning it (resolved only when the wrapped
#: backend has to run).
ScribbleLike = Union[dict, Callable[[], dict]]


def video_hash(frames: np.ndarray, num_objects: int) -> str:
    """Content hash of a video (frames bytes, shape and object count)."""
    digest = hashlib.sha1()
    digest.update(repr((frames.shape, str(frames.dtype), int(num_objects))).encode())
    digest.update(np.ascontiguousarray(frames).tobytes())
    return digest.hexdigest()


def scribble_hash(scribble: dict[str, Any], frame: int) -> str:
    """Hash of the strokes a backend sees in one round (those on ``frame``), in canonical JSON."""
    strokes = scribble["scribbles"][frame]
    canonical = [
        {
            "path": np.round(np.asarray(s["path"], dtype=np.float64), 6).tolist(),
            "object_id": int(s["object_id"]),
        }
        for s in strokes
    ]
    return hashlib.sha1(json.dumps([frame, canonical], sort_keys=True).encode()).hexdigest()


def _resolve(scribble: ScribbleLike) -> dict:
    return scribble() if callable(scribble) else scribble


class CachedVOSResult(VOSResult):
    """A :class:`VOSResult` of the cache backend: ``masks`` / ``probs`` are loaded on first access.

    Attributes:
        key: The cache key of the entry (identifies the result's content).
        loaded: Whether the arrays are in memory.
    """

    def __init__(
        self,
        key: str,
        elapsed: float,
        from_cache: bool,
        loader: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None,
        masks: np.ndarray | None = None,
        probs: np.ndarray | None = None,
    ) -> None:
        if loader is None and (masks is None or probs is None):
            raise ValueError("CachedVOSResult needs a loader or both arrays")
        self.key = key
        self.elapsed = float(elapsed)
        self.from_cache = bool(from_cache)
        self._loader = loader
        self._masks = masks
        self._probs = probs

    def _load(self) -> None:
        assert self._loader is not None
        self._masks, self._probs = self._loader()
        self._loader = None

    @property
    def loaded(self) -> bool:
        """Whether the masks and probabilities are in memory."""
        return self._masks is not None

    @property  # type: ignore[override]
    def masks(self) -> np.ndarray:
        """``T x H x W`` uint8 label masks (loaded on first access)."""
        if self._masks is None:
            self._load()
        assert self._masks is not None
        return self._masks

    @masks.setter
    def masks(self, value: np.ndarray) -> None:
        self._masks = value

    @property  # type: ignore[override]
    def probs(self) -> np.ndarray:
        """``T x (O+1) x H x W`` float32 probabilities (loaded on first access)."""
        if self._probs is None:
            self._load()
        assert self._probs is not None
        return self._probs

    @probs.setter
    def probs(self, value: np.ndarray) -> None:
        self._probs = value

    def __repr__(self) -> str:
        return (
            f"CachedVOSResult(key={self.key!r}, elapsed={self.elapsed!r}, from_cache={self.from_cache}, "
            f"loaded={self.loaded})"
        )


class CachingBackend(VOSBackend):
    """Wraps a backend; records its results on disk and replays them for identical histories.

    Args:
        backend: The wrapped backend, as an instance or a registry name.
        cache_dir: Folder of the entries (created if needed).
        backend_kwargs: Constructor arguments when ``backend`` is a name.
        namespace: Part of every key, separating backends and settings that share a folder. Defaults
            to the wrapped backend's name plus ``backend_kwargs``; set it explicitly when an instance
            is passed whose settings matter.
        store_dtype: ``"float32"`` (exact) or ``"float16"`` (half the disk; the first, computed result
            is rounded the same way, so replays still equal it).
        memory_entries: Entry records (small: timing, sizes, derived values) kept in memory (LRU).
        memory_arrays: Entries whose decoded masks and probabilities are kept in memory (LRU; each is
            ``T x H x W x (O+2) x 4`` bytes or so, about 12 MB at 25 x 120 x 216 with 3 objects).
        compress: Deflate the ``.npz`` files. Compression is most of the cost of recording an entry
            (about 0.2 s for 25 x 120 x 216 with 3 objects on a slow core, for files about 2.7 times
            smaller); False writes them uncompressed.

    Attributes:
        store: The entries on disk (:class:`~vos_recommender.backends.cache_store.CacheStore`).
        hits: Rounds answered from the cache.
        misses: Rounds that ran the wrapped backend.
        repairs: Entries whose record was fine but whose arrays were unreadable when loaded, and
            which were therefore recomputed.
    """

    name = "cache"

    def __init__(
        self,
        backend: VOSBackend | str,
        cache_dir: str | os.PathLike,
        backend_kwargs: dict[str, Any] | None = None,
        namespace: str | None = None,
        store_dtype: str = "float32",
        memory_entries: int = 16384,
        memory_arrays: int = 4,
        compress: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(backend, str):
            from vos_recommender.backends import build_backend

            if backend == "cache":
                raise ValueError("the cache backend cannot wrap another cache backend")
            self.inner = build_backend(backend, **(backend_kwargs or {}))
        else:
            self.inner = backend
        if store_dtype not in ("float32", "float16"):
            raise ValueError(f"store_dtype must be 'float32' or 'float16', got {store_dtype!r}")
        self.store_dtype = np.dtype(store_dtype)
        self.store = CacheStore(cache_dir, memory_entries, memory_arrays, compress=compress)
        self.compress = self.store.compress
        self.cache_dir = self.store.folder
        if namespace is None:
            namespace = json.dumps([self.inner.name, backend_kwargs or {}], sort_keys=True, default=str)
        self.namespace = namespace
        self.hits = 0
        self.misses = 0
        self.repairs = 0
        self._records = self.store.records
        self._arrays = self.store.arrays
        # id(frames) -> (frames, hash): the hash of a 25-frame video costs milliseconds per episode.
        self._video_hashes = LRUDict(64)
        self._video_hash = ""
        self._history: list[tuple[ScribbleLike, int, str]] = []
        self._inner_rounds = -1  # rounds the wrapped backend has applied; -1 = video not started

    @property
    def simulated_user(self) -> dict[str, Any]:  # type: ignore[override]
        """The wrapped backend's simulated-user settings.

        They are not part of the key: a result depends on the scribbles, whose digests are.
        """
        return dict(self.inner.simulated_user)

    @property
    def hit_rate(self) -> float:
        """Fraction of rounds answered from the cache (0 before any round)."""
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def stats(self) -> dict[str, float]:
        """``{"hits", "misses", "hit_rate"}``."""
        return {"hits": self.hits, "misses": self.misses, "hit_rate": self.hit_rate}

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
        self._inner_rounds = -1

    def _reset(self) -> None:
        self._history = []
        self._inner_rounds = -1
        self.inner.reset()

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

    def interact(self, scribble: ScribbleLike, frame: int, scribble_digest: str | None = None) -> VOSResult:
        """Replay the recorded result of this history, or compute, record and return it.

        Args:
            scribble: This round's DAVIS scribble dict, or a zero-argument callable returning it (called
                only if the wrapped backend has to run, now or at a later miss).
            frame: Annotated frame.
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
            history = list(self._history)
            return CachedVOSResult(
                key,
                elapsed=record["elapsed"],
                from_cache=True,
                loader=lambda: self._load_arrays(key, record, history),
            )
        self.misses += 1
        masks, probs, elapsed = self._compute(key)
        return CachedVOSResult(key, elapsed=elapsed, from_cache=False, masks=masks, probs=probs)

    def _compute(self, key: str) -> tuple[np.ndarray, np.ndarray, float]:
        """Run the wrapped backend for the current history, store and return the entry."""
        assert self.frames is not None
        if self._inner_rounds != len(self._history) - 1:
            # Bring the wrapped backend to the state just before this round.
            self.inner.start_video(self.frames, self.num_objects, video_id=self.video_id)
            for old_scribble, old_frame, _ in self._history[:-1]:
                self.inner.interact(_resolve(old_scribble), old_frame)
        scribble, frame, _ = self._history[-1]
        result = self.inner.interact(_resolve(scribble), frame)
        self._inner_rounds = len(self._history)
        masks, probs = self._store(key, result.masks, result.probs, result.elapsed)
        return masks, probs, result.elapsed

    def _store(
        self, key: str, masks: np.ndarray, probs: np.ndarray, elapsed: float
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.store.write(key, masks, probs.astype(self.store_dtype), elapsed)

    def _load_arrays(
        self, key: str, record: dict, history: list[tuple[ScribbleLike, int, str]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Decoded arrays of the entry ``record`` describes; recomputed from ``history`` if unreadable."""
        try:
            return self.store.load_arrays(key, record)
        except Exception:  # damaged or gone after its record was read: recompute from this round's history
            return self._recompute(key, history)

    def _recompute(
        self, key: str, history: list[tuple[ScribbleLike, int, str]]
    ) -> tuple[np.ndarray, np.ndarray]:
        assert self.frames is not None
        self.repairs += 1
        self.inner.start_video(self.frames, self.num_objects, video_id=self.video_id)
        result = None
        for scribble, frame, _ in history:
            result = self.inner.interact(_resolve(scribble), frame)
        assert result is not None
        self._inner_rounds = -1  # it now holds that (possibly older) history: restart it at the next miss
        return self._store(key, result.masks, result.probs, result.elapsed)

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
