"""The interface every interactive VOS backend implements.

A backend is the segmentation model inside the interaction loop. The loop is the one of the DAVIS
interactive benchmark and of the released frame-recommendation scripts:

1. ``start_video(frames, num_objects)`` once per episode (the model may pre-compute features);
2. ``interact(scribble, frame)`` once per round: the user's scribbles of this round, drawn on
   ``frame``, go in; label masks and per-object probabilities for every frame come out;
3. ``reset()`` forgets the video.

A backend that can take a mask as a frame's annotation (:meth:`VOSBackend.set_annotated_mask`, e.g. a mask
a person painted by hand) propagates from it as from a frame segmented from scribbles; the others raise
:class:`BackendNotSupportedError`.

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
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vos_recommender.utils.atomic import atomic_path

__all__ = [
    "BackendNotAvailableError",
    "BackendNotSupportedError",
    "BackendState",
    "BackendStateError",
    "VOSBackend",
    "FrameCallback",
    "VOSResult",
    "backend_namespace",
    "scribble_frames",
]

#: Called as ``on_frame(t, mask)`` by :meth:`VOSBackend.interact` as soon as frame ``t``'s ``H x W`` label
#: mask of the round is final (at most once per frame; backends that segment all frames at once never call it).
FrameCallback = Callable[[int, np.ndarray], None]


class BackendNotAvailableError(RuntimeError):
    """Raised when a backend cannot run here (missing code, weights, checkpoint or module)."""


class BackendNotSupportedError(RuntimeError):
    """Raised when a backend is asked for something it cannot do (e.g. take a mask as an annotation)."""


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
        self._on_frame: FrameCallback | None = None

    # ------------------------------------------------------------------ public API
    def precompute(  # noqa: B027 (optional, deliberately not abstract: most backends have no such work)
        self, frames: np.ndarray, cache_dir: str | os.PathLike | None = None, frame: int | None = None
    ) -> None:
        """Prepare the per-video work that does not depend on the scribbles (e.g. optical flow).

        A later :meth:`start_video` on the same ``frames`` array uses it: what was computed is kept (in
        ``cache_dir`` on disk, where a later process finds it again), and with ``frame`` the work starts at
        once in the background, what a round on that frame needs first (this call returns at once; call
        it again between rounds, with the next frame, to use the time a person draws). Backends without
        such work do nothing (the default).

        Args:
            frames: ``T x H x W x 3`` uint8 RGB frames, the array later given to :meth:`start_video`.
            cache_dir: Folder where the results are kept on disk (None: memory only).
            frame: The frame the next round will most likely be annotated on, or None.
        """

    def stop_precompute(self) -> None:  # noqa: B027 (optional, as precompute)
        """Stop the background work :meth:`precompute` or a round started (the default: there is none)."""

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

    def interact(
        self, scribble: dict[str, Any], frame: int, on_frame: FrameCallback | None = None
    ) -> VOSResult:
        """Apply one round of scribbles drawn on ``frame`` and re-segment the whole video.

        Args:
            scribble: DAVIS scribble dict with this round's strokes (only those on ``frame`` are
                used).
            frame: Index of the annotated frame.
            on_frame: Called with each frame's final mask as soon as it is known, for backends that
                propagate frame by frame (see :data:`FrameCallback`).

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
        self._on_frame = on_frame
        try:
            masks, probs = self._interact(scribble, frame)
        finally:
            self._on_frame = None
        return self._result(masks, probs, time.perf_counter() - tic)

    @property
    def supports_annotated_masks(self) -> bool:
        """True when :meth:`set_annotated_mask` is implemented (the ``_set_annotated_mask`` hook is)."""
        return type(self)._set_annotated_mask is not VOSBackend._set_annotated_mask

    def set_annotated_mask(
        self, frame: int, mask: np.ndarray, on_frame: FrameCallback | None = None
    ) -> VOSResult:
        """Take ``mask`` as the annotation of ``frame`` (a round annotated with a mask, not with strokes).

        The mask replaces what the backend had on that frame and is propagated from like a frame
        segmented from scribbles; the frame counts as annotated (``annotated_frames``).

        Args:
            frame: Index of the annotated frame.
            mask: ``H x W`` label mask (0 = background, ``1..O`` = objects).
            on_frame: As for :meth:`interact`.

        Returns:
            The new :class:`VOSResult` for every frame.

        Raises:
            RuntimeError: If no video was started.
            IndexError: If ``frame`` is outside the video.
            ValueError: If the mask's shape or labels do not fit the video.
            BackendNotSupportedError: If this backend cannot take a mask as an annotation.
        """
        if self.frames is None:
            raise RuntimeError(f"{type(self).__name__}.set_annotated_mask called before start_video")
        if not self.supports_annotated_masks:
            raise BackendNotSupportedError(
                f"backend {self.name!r} cannot take a mask as a frame's annotation (only scribbles); "
                "use a backend that can, e.g. 'flow'"
            )
        num_frames, height, width, _ = self.frames.shape
        if not 0 <= int(frame) < num_frames:
            raise IndexError(f"annotated frame {frame} outside the video (0..{num_frames - 1})")
        mask = np.asarray(mask)
        if mask.shape != (height, width) or not np.issubdtype(mask.dtype, np.integer):
            raise ValueError(
                f"mask must be an integer {height} x {width} label image, got {mask.dtype} {mask.shape}"
            )
        if mask.size and (int(mask.min()) < 0 or int(mask.max()) > self.num_objects):
            raise ValueError(
                f"mask labels must be 0..{self.num_objects}, got {int(mask.min())}..{int(mask.max())}"
            )
        frame = int(frame)
        self.annotated_frames.append(frame)
        tic = time.perf_counter()
        self._on_frame = on_frame
        try:
            masks, probs = self._set_annotated_mask(frame, mask.astype(np.uint8))
        finally:
            self._on_frame = None
        return self._result(masks, probs, time.perf_counter() - tic)

    def _result(self, masks: np.ndarray, probs: np.ndarray, elapsed: float) -> VOSResult:
        """The checked :class:`VOSResult` of a round's hook output."""
        assert self.frames is not None
        num_frames = self.frames.shape[0]
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

    def save_state(self, path: str | os.PathLike) -> None:
        """Write the state after the rounds so far to ``path`` (a ``.npz`` file, written atomically).

        :meth:`load_state` in another process, after :meth:`start_video` on the same video with the same
        object count, continues from it exactly as this backend would, without running the rounds again.

        Raises:
            RuntimeError: Before :meth:`start_video`.
            BackendStateError: If this backend cannot write its state (its ``_state_arrays`` hook is not
                implemented).
        """
        if self.frames is None:
            raise RuntimeError(f"{type(self).__name__}.save_state called before start_video")
        arrays = self._state_arrays()
        header = {
            "backend": self.name,
            "num_objects": self.num_objects,
            "shape": list(self.frames.shape),
            "annotated_frames": list(self.annotated_frames),
            "arrays": sorted(arrays),
        }
        if any(key.startswith("__") for key in arrays):
            raise BackendStateError(f"backend {self.name!r}: state array names may not start with '__'")
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, __header__=np.array(json.dumps(header)), **arrays)

    def load_state(self, path: str | os.PathLike) -> None:
        """Continue from a state :meth:`save_state` wrote (after :meth:`start_video` on the same video).

        Raises:
            RuntimeError: Before :meth:`start_video`.
            BackendStateError: If the file cannot be read, or was written by another backend, for another
                frame size or object count (the message names the file and the difference).
        """
        if self.frames is None:
            raise RuntimeError(f"{type(self).__name__}.load_state called before start_video")
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as stored:
                header = json.loads(str(stored["__header__"]))
                arrays = {key: stored[key] for key in header["arrays"]}
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise BackendStateError(f"cannot read the backend state {path}: {err}") from err
        want = {"backend": self.name, "num_objects": self.num_objects, "shape": list(self.frames.shape)}
        for key, value in want.items():
            if header.get(key) != value:
                raise BackendStateError(
                    f"the backend state {path} was saved with {key} {header.get(key)!r}, not {value!r}"
                )
        self._load_state_arrays(arrays)
        self.annotated_frames = [int(t) for t in header["annotated_frames"]]

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

    def _set_annotated_mask(self, frame: int, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Take the ``H x W`` uint8 ``mask`` as ``frame``'s annotation; return ``(masks, probs)`` like
        :meth:`_interact` (override in backends that can; :attr:`supports_annotated_masks` checks it)."""
        raise BackendNotSupportedError(f"backend {self.name!r} cannot take a mask as a frame's annotation")

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

    def _state_arrays(self) -> dict[str, np.ndarray]:
        """The state after the rounds so far as named arrays (override to allow :meth:`save_state`).

        Raises:
            BackendStateError: By default: the backend does not say how to write its state.
        """
        raise BackendStateError(
            f"backend {self.name!r} cannot write its state to a file; it is brought back by running the "
            "saved rounds again"
        )

    def _load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Put back what :meth:`_state_arrays` returned (override with it).

        Raises:
            BackendStateError: When the arrays do not fit the current video.
        """
        raise BackendStateError(f"backend {self.name!r} cannot read its state from a file")

    def _frame_done(self, t: int, mask: np.ndarray) -> None:
        """Report frame ``t``'s final mask of the running round to the caller's ``on_frame``, if any."""
        if self._on_frame is not None:
            self._on_frame(int(t), mask)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def probs_to_masks(probs: np.ndarray) -> np.ndarray:
    """Label masks from ``T x (O+1) x H x W`` probabilities (arg-max over the class axis, the first class
    on ties).

    Compared class by class (a running maximum): each step reads whole contiguous planes, which gives
    ``np.argmax(probs, axis=1)`` exactly and is several times faster at 854 x 480 than that reduction over
    the class axis (strided by a frame); with NaNs it is that arg-max.
    """
    probs = np.asarray(probs)
    if probs.ndim != 4 or probs.shape[1] > 256:
        raise ValueError(f"probs must be T x (O+1) x H x W with at most 255 objects, got shape {probs.shape}")
    if np.isnan(probs).any():
        return np.argmax(probs, axis=1).astype(np.uint8)
    best = probs[:, 0].copy()
    labels = np.zeros(best.shape, dtype=np.uint8)
    for cls in range(1, probs.shape[1]):
        channel = probs[:, cls]
        labels[channel > best] = cls
        np.maximum(best, channel, out=best)
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
