"""What the cache backend keys its entries by and what it returns: content hashes and lazy results."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from vos_recommender.backends.base import VOSResult

__all__ = ["CachedVOSResult", "scribble_hash", "video_hash"]


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


class CachedVOSResult(VOSResult):
    """A :class:`VOSResult` of the cache backend: ``masks`` and ``probs`` load separately, on first access.

    A replayed round usually needs neither (the environment reads the J and F stored with the entry);
    rendering or the simulated user need the masks, a learned quality estimator the probabilities.

    Args:
        key: The cache key of the entry.
        elapsed: The wrapped backend's seconds when the entry was recorded.
        from_cache: Whether the result was replayed.
        masks: The masks, when known.
        probs: The probabilities, when known.
        load_masks: Zero-argument callable giving the masks (needed without ``masks``).
        load_probs: Zero-argument callable giving the probabilities (needed without ``probs``).

    Attributes:
        key: The cache key of the entry (identifies the result's content).
        loaded: Whether the masks are in memory.
    """

    def __init__(
        self,
        key: str,
        elapsed: float,
        from_cache: bool,
        masks: np.ndarray | None = None,
        probs: np.ndarray | None = None,
        load_masks: Callable[[], np.ndarray] | None = None,
        load_probs: Callable[[], np.ndarray] | None = None,
    ) -> None:
        if (masks is None and load_masks is None) or (probs is None and load_probs is None):
            raise ValueError("CachedVOSResult needs each array or a loader for it")
        self.key = key
        self.elapsed = float(elapsed)
        self.from_cache = bool(from_cache)
        self._masks, self._probs = masks, probs
        self._load_masks, self._load_probs = load_masks, load_probs

    @property
    def loaded(self) -> bool:
        """Whether the masks are in memory."""
        return self._masks is not None

    @property
    def probs_loaded(self) -> bool:
        """Whether the probabilities are in memory."""
        return self._probs is not None

    @property  # type: ignore[override]
    def masks(self) -> np.ndarray:
        """``T x H x W`` uint8 label masks (loaded on first access)."""
        if self._masks is None:
            assert self._load_masks is not None
            self._masks = self._load_masks()
            self._load_masks = None
        return self._masks

    @masks.setter
    def masks(self, value: np.ndarray) -> None:
        self._masks = value

    @property  # type: ignore[override]
    def probs(self) -> np.ndarray:
        """``T x (O+1) x H x W`` float32 probabilities (loaded, or recomputed, on first access)."""
        if self._probs is None:
            assert self._load_probs is not None
            self._probs = self._load_probs()
            self._load_probs = None
        return self._probs

    @probs.setter
    def probs(self, value: np.ndarray) -> None:
        self._probs = value

    def __repr__(self) -> str:
        return (
            f"CachedVOSResult(key={self.key!r}, elapsed={self.elapsed!r}, from_cache={self.from_cache}, "
            f"loaded={self.loaded}, probs_loaded={self.probs_loaded})"
        )
