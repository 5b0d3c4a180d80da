"""A backend that records another backend's results on disk and replays them.

Agent training runs the same (video, first scribble, frame sequence) many times, above all when the
goal reward's random-recommendation statistics are computed. A VOS result is a deterministic function
of the video, the backend and every round so far, so it is keyed by

    sha1(namespace, video hash, [(frame, sha1 of the round's strokes) for every round so far])

and stored as one compressed ``.npz`` file per entry (``<cache_dir>/<key[:2]>/<key>.npz``). Files are
written to a temporary name in the same folder and renamed with ``os.replace``, so a crash mid-write
leaves either no entry or a whole one; an unreadable entry is treated as a miss and rewritten.

On a hit the wrapped backend is not run at all. Its internal state then lags behind; at the next miss
the cache restarts it and replays the earlier rounds before running the new one, so results never
depend on which rounds happened to be cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from vos_recommender.backends.base import VOSBackend, VOSResult

__all__ = ["CachingBackend", "video_hash", "scribble_hash"]


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

    Attributes:
        hits: Rounds answered from the cache.
        misses: Rounds that ran the wrapped backend.
    """

    name = "cache"

    def __init__(
        self,
        backend: VOSBackend | str,
        cache_dir: str | os.PathLike,
        backend_kwargs: dict[str, Any] | None = None,
        namespace: str | None = None,
        store_dtype: str = "float32",
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
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        if namespace is None:
            namespace = json.dumps([self.inner.name, backend_kwargs or {}], sort_keys=True, default=str)
        self.namespace = namespace
        self.hits = 0
        self.misses = 0
        self._video_hash = ""
        self._history: list[tuple[dict[str, Any], int, str]] = []
        self._inner_rounds = -1  # rounds the wrapped backend has applied; -1 = video not started

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
        self._video_hash = video_hash(self.frames, self.num_objects)
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

    def entry_path(self, key: str) -> Path:
        """File of the entry with this key."""
        return self.cache_dir / key[:2] / f"{key}.npz"

    def interact(self, scribble: dict[str, Any], frame: int) -> VOSResult:
        """Replay the recorded result of this history, or compute, record and return it.

        Args:
            scribble: This round's DAVIS scribble dict.
            frame: Annotated frame.

        Returns:
            The result; ``from_cache`` tells whether it was replayed, ``elapsed`` is the wrapped
            backend's own time when the entry was recorded.
        """
        if self.frames is None:
            raise RuntimeError("CachingBackend.interact called before start_video")
        if not 0 <= int(frame) < self.frames.shape[0]:
            raise IndexError(f"annotated frame {frame} outside the video (0..{self.frames.shape[0] - 1})")
        frame = int(frame)
        self.annotated_frames.append(frame)
        self._history.append((scribble, frame, scribble_hash(scribble, frame)))
        key = self._key()
        path = self.entry_path(key)
        cached = self._load(path)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        result = self._compute(scribble, frame)
        probs = result.probs.astype(self.store_dtype)
        self._save(path, result.masks, probs, result.elapsed)
        return VOSResult(masks=result.masks, probs=probs.astype(np.float32), elapsed=result.elapsed)

    def _compute(self, scribble: dict[str, Any], frame: int) -> VOSResult:
        assert self.frames is not None
        if self._inner_rounds != len(self._history) - 1:
            # Bring the wrapped backend to the state just before this round.
            self.inner.start_video(self.frames, self.num_objects, video_id=self.video_id)
            for old_scribble, old_frame, _ in self._history[:-1]:
                self.inner.interact(old_scribble, old_frame)
        result = self.inner.interact(scribble, frame)
        self._inner_rounds = len(self._history)
        return result

    def _interact(self, scribble: dict[str, Any], frame: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError("CachingBackend overrides interact()")  # pragma: no cover

    # ------------------------------------------------------------------ storage
    def _load(self, path: Path) -> VOSResult | None:
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                return VOSResult(
                    masks=data["masks"].astype(np.uint8),
                    probs=data["probs"].astype(np.float32),
                    elapsed=float(data["elapsed"]),
                    from_cache=True,
                )
        except Exception:  # a foreign or damaged file: recompute and overwrite it
            return None

    def _save(self, path: Path, masks: np.ndarray, probs: np.ndarray, elapsed: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez_compressed(
                    handle,
                    masks=masks,
                    probs=probs,
                    elapsed=np.float64(elapsed),
                    recorded_at=np.float64(time.time()),
                )
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
