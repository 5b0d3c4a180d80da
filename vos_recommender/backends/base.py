"""The interface every interactive VOS backend implements.

A backend is the segmentation model inside the interaction loop. The loop is the one of the DAVIS
interactive benchmark and of the released frame-recommendation scripts:

1. ``start_video(frames, num_objects)`` once per episode (the model may pre-compute features);
2. ``interact(scribble, frame)`` once per round: the user's scribbles of this round, drawn on
   ``frame``, go in; label masks and per-object probabilities for every frame come out;
3. ``reset()`` forgets the video.

A backend that can save and restore its state between rounds (:meth:`VOSBackend.snapshot` and
:meth:`VOSBackend.restore`) can be *probed*: a round is tried on some frame and undone, as the
one-step-lookahead evaluation does for every candidate frame.

The scribble is a DAVIS scribble dict (``{"scribbles": [[stroke, ...] per frame], "sequence": ...}``,
stroke = ``{"path": [[x, y], ...] normalised by (W, H), "object_id": int, ...}``) holding the strokes
of the current round. Backends that need earlier rounds (ATNet uses every scribble so far) keep them
themselves: the loop never resends old strokes.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import time
from typing import Any

import numpy as np

__all__ = [
    "BackendNotAvailableError",
    "BackendState",
    "BackendStateError",
    "VOSBackend",
    "VOSResult",
    "backend_namespace",
    "scribble_frames",
]


class BackendNotAvailableError(RuntimeError):
    """Raised when a backend cannot run here (missing code, weights, checkpoint or module)."""


class BackendStateError(RuntimeError):
    """Raised when a backend's state between rounds cannot be saved or restored."""


@dataclasses.dataclass(frozen=True)
class BackendState:
    """A backend's state between two rounds, as :meth:`VOSBackend.snapshot` saves it.

    Attributes:
        backend: Registry name of the backend that saved it.
        frames: The video it was saved on (the same array object).
        num_objects: Its object count.
        video_id: Its name.
        annotated_frames: Frame of every round so far.
        rounds: What the backend's ``_round_state`` hook saved.
    """

    backend: str
    frames: Any
    num_objects: int
    video_id: str | None
    annotated_frames: tuple[int, ...]
    rounds: Any


@dataclasses.dataclass
class VOSResult:
    """What a backend returns after one round.

    Attributes:
        masks: ``T x H x W`` uint8 label masks (0 = background, ``1..O`` = objects).
        probs: ``T x (O+1) x H x W`` float32 probabilities; channel 0 is the background.
        elapsed: Seconds the backend itself spent on this round (for a replayed result: the time of
            the run that produced it).
        from_cache: True when the result was replayed from a cache rather than computed.
    """

    masks: np.ndarray
    probs: np.ndarray
    elapsed: float
    from_cache: bool = False

    def validate(self, num_frames: int, num_objects: int, height: int, width: int) -> None:
        """Check shapes and dtypes against the video.

        Args:
            num_frames: Expected ``T``.
            num_objects: Expected ``O``.
            height: Expected ``H``.
            width: Expected ``W``.

        Raises:
            ValueError: On any mismatch.
        """
        if self.masks.shape != (num_frames, height, width) or self.masks.dtype != np.uint8:
            raise ValueError(
                f"masks must be uint8 of shape {(num_frames, height, width)}, got "
                f"{self.masks.dtype} {self.masks.shape}"
            )
        want = (num_frames, num_objects + 1, height, width)
        if self.probs.shape != want or self.probs.dtype != np.float32:
            raise ValueError(
                f"probs must be float32 of shape {want}, got {self.probs.dtype} {self.probs.shape}"
            )


def backend_namespace(name: str, backend_kwargs: dict[str, Any] | None, defaults_revision: int = 0) -> str:
    """The JSON naming a backend and its settings in cache keys and goal statistics.

    Args:
        name: Registry name of the backend.
        backend_kwargs: Its constructor arguments as given.
        defaults_revision: :attr:`VOSBackend.defaults_revision` of the backend (left out when 0, so the
            namespaces recorded before revisions existed stay valid).
    """
    parts: list[Any] = [name, backend_kwargs or {}]
    if defaults_revision:
        parts.append({"defaults_revision": int(defaults_revision)})
    return json.dumps(parts, sort_keys=True, default=str)


def scribble_frames(scribble: dict[str, Any]) -> list[int]:
    """Indices of the frames that carry at least one stroke in a DAVIS scribble dict."""
    return [t for t, strokes in enumerate(scribble.get("scribbles", [])) if strokes]


class VOSBackend(abc.ABC):
    """Base class of interactive VOS backends.

    Subclasses implement :meth:`_start` and :meth:`_interact`; this class validates inputs, keeps the
    list of annotated frames (``self.annotated_frames``, one entry per round, repeats allowed), and
    measures ``elapsed``.

    Attributes:
        name: Registry name of the backend.
        frames: The current video, ``T x H x W x 3`` uint8, or None before :meth:`start_video`.
        num_objects: Number of objects ``O`` of the current video.
        annotated_frames: Frame of every round so far, in order.
        simulated_user: Settings of the DAVIS simulated user (the robot) the backend was evaluated
            with, e.g. ``{"min_nb_nodes": 2}`` for ATNet; empty for the davisinteractive defaults.
            Interaction sessions use them unless the caller sets the same keys explicitly.
        defaults_revision: Raised whenever what the backend computes with its default settings changes;
            part of the namespace of caches and goal statistics (:func:`backend_namespace`) when not 0, so
            results recorded under the old defaults are not replayed as if they were the new ones.
    """

    name: str = "base"
    simulated_user: dict[str, Any] = {}  # noqa: RUF012 (read-only class default, never mutated)
    defaults_revision: int = 0

    def __init__(self) -> None:
        self.frames: np.ndarray | None = None
        self.num_objects: int = 0
        self.annotated_frames: list[int] = []
        self.video_id: str | None = None

    # ------------------------------------------------------------------ public API
    def start_video(self, frames: np.ndarray, num_objects: int, video_id: str | None = None) -> None:
        """Start a new video (a new episode).

        Args:
            frames: ``T x H x W x 3`` uint8 RGB frames.
            num_objects: Number of objects ``O`` (ids ``1..O``); the object count is known at start,
                as the IPN contract requires.
            video_id: Optional name of the video (used by caches and logs).

        Raises:
            ValueError: If the frames or the object count are malformed.
        """
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"frames must be uint8 T x H x W x 3, got {frames.dtype} {frames.shape}")
        if int(num_objects) < 1:
            raise ValueError(f"num_objects must be >= 1, got {num_objects}")
        self.frames = frames
        self.num_objects = int(num_objects)
        self.annotated_frames = []
        self.video_id = video_id
        self._start()

    def interact(self, scribble: dict[str, Any], frame: int) -> VOSResult:
        """Apply one round of scribbles drawn on ``frame`` and re-segment the whole video.

        Args:
            scribble: DAVIS scribble dict with this round's strokes (only those on ``frame`` are
                used).
            frame: Index of the annotated frame.

        Returns:
            The new :class:`VOSResult` for every frame.

        Raises:
            RuntimeError: If no video was started.
            IndexError: If ``frame`` is outside the video.
        """
        if self.frames is None:
            raise RuntimeError(f"{type(self).__name__}.interact called before start_video")
        num_frames = self.frames.shape[0]
        if not 0 <= int(frame) < num_frames:
            raise IndexError(f"annotated frame {frame} outside the video (0..{num_frames - 1})")
        if len(scribble.get("scribbles", [])) != num_frames:
            raise ValueError(
                f"scribble has {len(scribble.get('scribbles', []))} frame lists, the video {num_frames} frames"
            )
        frame = int(frame)
        self.annotated_frames.append(frame)
        tic = time.perf_counter()
        masks, probs = self._interact(scribble, frame)
        elapsed = time.perf_counter() - tic
        result = VOSResult(
            masks=np.ascontiguousarray(masks, dtype=np.uint8),
            probs=np.ascontiguousarray(probs, dtype=np.float32),
            elapsed=float(elapsed),
        )
        _, height, width, _ = self.frames.shape
        result.validate(num_frames, self.num_objects, height, width)
        return result

    def snapshot(self) -> BackendState:
        """Save the state after the rounds so far, so that :meth:`restore` can undo later rounds.

        Raises:
            RuntimeError: Before :meth:`start_video`.
            BackendStateError: If this backend cannot save its state (its ``_round_state`` hook is not
                implemented).
        """
        if self.frames is None:
            raise RuntimeError(f"{type(self).__name__}.snapshot called before start_video")
        return BackendState(
            self.name,
            self.frames,
            self.num_objects,
            self.video_id,
            tuple(self.annotated_frames),
            self._round_state(),
        )

    def restore(self, state: BackendState) -> None:
        """Go back to a state saved by :meth:`snapshot` on the same video.

        Raises:
            BackendStateError: If the state was saved by another backend or on another video.
        """
        if (
            state.backend != self.name
            or state.frames is not self.frames
            or state.num_objects != self.num_objects
        ):
            raise BackendStateError(
                f"backend {self.name!r} cannot restore a state saved by backend {state.backend!r} on another "
                "video: restore only what this backend saved since its last start_video"
            )
        self.annotated_frames = list(state.annotated_frames)
        self.video_id = state.video_id
        self._restore_round_state(state.rounds)

    def reset(self) -> None:
        """Forget the current video and every round."""
        self.frames = None
        self.num_objects = 0
        self.annotated_frames = []
        self.video_id = None
        self._reset()

    # ------------------------------------------------------------------ hooks
    @abc.abstractmethod
    def _start(self) -> None:
        """Prepare for ``self.frames`` / ``self.num_objects`` (features, flows, state)."""

    @abc.abstractmethod
    def _interact(self, scribble: dict[str, Any], frame: int) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(masks T x H x W, probs T x (O+1) x H x W)`` after this round."""

    def _reset(self) -> None:  # noqa: B027 (optional hook, deliberately not abstract)
        """Drop backend-specific state (override when there is any)."""

    def _round_state(self) -> Any:
        """What the rounds so far left in this backend, as an independent copy (override to allow probing).

        Raises:
            BackendStateError: By default: the backend does not say how to save its state.
        """
        raise BackendStateError(
            f"backend {self.name!r} cannot save and restore its state between rounds, so a round cannot be "
            "tried and undone on it (record it behind a result cache, session.cache_dir, which restores "
            "by replaying the rounds)"
        )

    def _restore_round_state(self, state: Any) -> None:
        """Put back what :meth:`_round_state` saved (override with it)."""
        raise BackendStateError(f"backend {self.name!r} cannot restore its state between rounds")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def probs_to_masks(probs: np.ndarray) -> np.ndarray:
    """Label masks from ``T x (O+1) x H x W`` probabilities (arg-max over the class axis, the first class
    on ties).

    Compared class by class: each step reads whole contiguous planes, many times faster at 854 x 480 than
    ``np.argmax(probs, axis=1)``, which walks the class axis with a stride of a frame.
    """
    if probs.ndim != 4 or probs.shape[1] > 256:
        raise ValueError(f"probs must be T x (O+1) x H x W with at most 255 objects, got shape {probs.shape}")
    labels = np.zeros((probs.shape[0],) + probs.shape[2:], dtype=np.uint8)
    best = probs[:, 0].copy()
    for index in range(1, probs.shape[1]):
        plane = probs[:, index]
        labels[plane > best] = index
        np.maximum(best, plane, out=best)
    return labels


def objects_to_probs(object_probs: np.ndarray) -> np.ndarray:
    """Per-object foreground probabilities ``T x O x H x W`` -> normalised ``T x (O+1) x H x W``.

    The background is the probability that no object is present, ``prod_o (1 - p_o)``, and the
    result is renormalised over classes; this is the soft aggregation the released IPN code uses
    (there through a logit softmax, which gives the same normalised odds).
    """
    p = np.clip(object_probs.astype(np.float32), 1e-7, 1 - 1e-7)
    background = np.prod(1.0 - p, axis=1, keepdims=True)
    stacked = np.concatenate([background, p], axis=1)
    odds = stacked / (1.0 - stacked)
    return (odds / odds.sum(axis=1, keepdims=True)).astype(np.float32)
