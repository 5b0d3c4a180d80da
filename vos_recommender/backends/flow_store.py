"""The optical flow of one video between neighbouring frames, both ways: computed once, on demand, kept on disk.

The flow backend propagates masks with the dense optical flow from each frame to its neighbours
(``2 (T - 1)`` flows per video, about 0.1 s each at 854x480 on one core). They depend on the frames only,
so a :class:`FlowStore` computes each one the first time it is asked for and keeps it:

* in memory, for every later round on the video;
* on disk when given a folder (one ``.npy`` file per flow in ``<folder>/flow-<method>-<video hash>/``,
  written atomically), so that a restarted app reads them back instead of computing them again. A file that
  cannot be read or does not hold a finite ``H x W x 2`` float32 flow is computed again and replaced
  (with a warning naming it);
* ahead of time with :meth:`FlowStore.prefetch`: a background thread computes the flows a round will
  need, in the order it needs them (:meth:`FlowStore.propagation_order`), while the caller does other work
  (the random walker on the annotated frame), or every flow while a person draws. A flow asked for while
  the thread is computing it is waited for, never computed twice.
"""

from __future__ import annotations

import hashlib
import os
import threading
import warnings
from pathlib import Path

import cv2
import numpy as np

from vos_recommender.utils.atomic import atomic_path, remove_stale_temporaries

__all__ = ["FLOW_METHODS", "FlowStore", "dense_flow"]

#: The optical-flow methods :func:`dense_flow` knows.
FLOW_METHODS = ("dis", "farneback")


def dense_flow(src_gray: np.ndarray, dst_gray: np.ndarray, method: str = "dis") -> np.ndarray:
    """Dense optical flow from ``src_gray`` to ``dst_gray`` (``H x W x 2``, ``(dx, dy)`` per pixel).

    Args:
        src_gray: ``H x W`` uint8 frame the flow starts from.
        dst_gray: ``H x W`` uint8 frame the flow points into.
        method: ``"dis"`` (OpenCV DIS, medium preset) or ``"farneback"``.

    Returns:
        Float32 flow such that ``src(y, x)`` corresponds to ``dst(y + dy, x + dx)``.
    """
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return dis.calc(src_gray, dst_gray, None)
    if method == "farneback":
        return cv2.calcOpticalFlowFarneback(src_gray, dst_gray, None, 0.5, 3, 15, 3, 5, 1.2, 0)
    raise ValueError(f"unknown optical flow method {method!r}; use 'dis' or 'farneback'")


def _video_key(frames: np.ndarray, method: str) -> str:
    digest = hashlib.sha1(repr((frames.shape, str(frames.dtype), method)).encode())
    digest.update(np.ascontiguousarray(frames).data)
    return digest.hexdigest()[:20]


class FlowStore:
    """The flows between neighbouring frames of one video, each computed at most once.

    Args:
        frames: ``T x H x W x 3`` uint8 RGB frames (kept by reference: the store belongs to this array).
        method: ``"dis"`` or ``"farneback"`` (see :func:`dense_flow`).
        cache_dir: Folder of the on-disk cache (None: memory only). Flows go to a subfolder named by the
            method and the hash of the frames, so one folder can serve several videos.

    Raises:
        ValueError: On malformed frames or an unknown method.
    """

    def __init__(
        self, frames: np.ndarray, method: str = "dis", cache_dir: str | os.PathLike | None = None
    ) -> None:
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 T x H x W x 3, got {frames.dtype} {frames.shape}")
        if method not in FLOW_METHODS:
            raise ValueError(f"unknown optical flow method {method!r}; use 'dis' or 'farneback'")
        self.frames = frames
        self.method = method
        self.num_frames = int(frames.shape[0])
        self.folder: Path | None = None
        if cache_dir is not None:  # created by the first flow written into it
            self.folder = Path(cache_dir) / f"flow-{method}-{_video_key(frames, method)}"
            if self.folder.is_dir():
                remove_stale_temporaries(self.folder, older_than=60.0, recursive=False)
        self._gray: list[np.ndarray | None] = [None] * self.num_frames
        self._flows: dict[tuple[str, int], np.ndarray] = {}
        self._locks = {key: threading.Lock() for key in self.keys()}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ what there is
    def keys(self) -> list[tuple[str, int]]:
        """Every flow of the video: ``("prev", t)`` (frame t to t-1) and ``("next", t)`` (frame t to t+1)."""
        return [("prev", t) for t in range(1, self.num_frames)] + [
            ("next", t) for t in range(self.num_frames - 1)
        ]

    @staticmethod
    def propagation_order(
        annotated: list[int], frame: int, num_frames: int, others: bool = False
    ) -> list[tuple[str, int]]:
        """The flows a propagation from the ``annotated`` frames uses, nearest ``frame`` first; with
        ``others``, every other flow of the video after them (for later rounds), again nearest first.

        Forward from the first annotated frame every frame after it needs its ``prev`` flow; backward from
        the last one every frame before it needs its ``next`` flow.
        """
        first, last = min(annotated), max(annotated)
        needed = {("prev", t) for t in range(first + 1, num_frames)} | {("next", t) for t in range(last)}
        every = [("prev", t) for t in range(1, num_frames)] + [("next", t) for t in range(num_frames - 1)]
        keys = every if others else [key for key in every if key in needed]
        return sorted(
            keys, key=lambda key: (key not in needed, abs(key[1] - frame), key[0] == "next", key[1])
        )

    @property
    def computed(self) -> int:
        """How many flows are in memory."""
        return len(self._flows)

    # ------------------------------------------------------------------ flows
    def from_prev(self, t: int) -> np.ndarray:
        """The flow from frame ``t`` to frame ``t - 1`` (``H x W x 2`` float32; ``t >= 1``)."""
        return self.get(("prev", t))

    def from_next(self, t: int) -> np.ndarray:
        """The flow from frame ``t`` to frame ``t + 1`` (``H x W x 2`` float32; ``t <= T - 2``)."""
        return self.get(("next", t))

    def get(self, key: tuple[str, int]) -> np.ndarray:
        """The flow ``key`` (see :meth:`keys`): from memory, else from disk, else computed now.

        Raises:
            KeyError: If the video has no such flow.
        """
        flow = self._flows.get(key)
        if flow is not None:
            return flow
        if key not in self._locks:
            raise KeyError(f"no flow {key} in a video of {self.num_frames} frames (see FlowStore.keys)")
        with self._locks[key]:
            return self._load_or_compute(key)

    def _load_or_compute(self, key: tuple[str, int]) -> np.ndarray:
        flow = self._flows.get(key)
        if flow is not None:
            return flow
        flow = self._read(key)
        if flow is None:
            direction, t = key
            flow = dense_flow(self._grey(t), self._grey(t - 1 if direction == "prev" else t + 1), self.method)
            flow = np.ascontiguousarray(flow, dtype=np.float32)
            self._write(key, flow)
        self._flows[key] = flow
        return flow

    def _grey(self, t: int) -> np.ndarray:
        grey = self._gray[t]
        if grey is None:
            grey = self._gray[t] = cv2.cvtColor(self.frames[t], cv2.COLOR_RGB2GRAY)
        return grey

    # ------------------------------------------------------------------ disk
    def path(self, key: tuple[str, int]) -> Path | None:
        """The file that holds flow ``key`` on disk (None without a cache folder)."""
        return None if self.folder is None else self.folder / f"{key[0]}_{key[1]:05d}.npy"

    def _read(self, key: tuple[str, int]) -> np.ndarray | None:
        path = self.path(key)
        if path is None or not path.is_file():
            return None
        height, width = self.frames.shape[1:3]
        try:
            flow = np.load(path, allow_pickle=False)
            problem = None
            if flow.shape != (height, width, 2) or flow.dtype != np.float32:
                problem = f"holds {flow.dtype} {flow.shape}, not float32 {(height, width, 2)}"
            elif not np.isfinite(flow).all():
                problem = "holds values that are not finite"
        except (OSError, ValueError) as err:
            problem = f"cannot be read ({err})"
        if problem is not None:
            warnings.warn(f"optical-flow cache: {path} {problem}; computing it again", stacklevel=4)
            return None
        return flow

    def _write(self, key: tuple[str, int], flow: np.ndarray) -> None:
        path = self.path(key)
        if path is None:
            return
        try:
            with atomic_path(path, suffix=".npy") as tmp:
                np.save(tmp, flow, allow_pickle=False)
        except OSError as err:  # a full or read-only disk costs the cache, not the round
            warnings.warn(f"optical-flow cache: cannot write {path}: {err}", stacklevel=4)

    # ------------------------------------------------------------------ ahead of time
    def prefetch(self, keys: list[tuple[str, int]]) -> threading.Thread:
        """Compute the flows ``keys`` in this order in a background thread; returns the thread.

        Flows another thread is computing are skipped (that thread stores them); a prefetch still running
        is stopped first, after the flow under way. :meth:`stop` ends it the same way.
        """
        self.stop(wait=True)
        unknown = [key for key in keys if key not in self._locks]
        if unknown:
            raise KeyError(
                f"no flows {unknown[:3]} in a video of {self.num_frames} frames (see FlowStore.keys)"
            )
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._prefetch, args=(list(keys),), name="flow-prefetch", daemon=True
        )
        self._thread.start()
        return self._thread

    def _prefetch(self, order: list[tuple[str, int]]) -> None:
        for key in order:
            if self._stop.is_set():
                return
            lock = self._locks[key]
            if key in self._flows or not lock.acquire(blocking=False):
                continue
            try:
                self._load_or_compute(key)
            except Exception as err:  # noqa: BLE001 (the round that needs this flow computes it and raises)
                warnings.warn(f"optical flow {key} could not be computed ahead of time: {err}", stacklevel=2)
                return
            finally:
                lock.release()

    def stop(self, wait: bool = True) -> None:
        """Stop a :meth:`prefetch` thread after the flow it is computing (and wait for it)."""
        self._stop.set()
        if wait and self._thread is not None:
            self._thread.join()
