"""The simulated user of an interactive session: first scribbles, robot corrections and their replay files."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from vos_recommender.interaction.robot import InteractiveRobot
from vos_recommender.interaction.scribbles import Scribble, load_scribble, save_scribble
from vos_recommender.interaction.validation import check_scribble

__all__ = ["LazyScribble", "SimulatedUser", "drawing_seconds", "robot_settings"]

logger = logging.getLogger(__name__)


def robot_settings(
    backend_settings: dict[str, Any] | None, explicit: dict[str, Any] | None, backend_name: str = "backend"
) -> dict[str, Any]:
    """The robot settings of a session: the backend's declared ones, overridden key by key by explicit ones.

    Args:
        backend_settings: The backend's ``simulated_user`` (the settings it was evaluated with).
        explicit: ``robot_kwargs`` given by the caller; they win.
        backend_name: Used in the log line.

    Returns:
        The merged settings (a new dict). Which source each key came from is logged at INFO level.
    """
    defaults = dict(backend_settings or {})
    given = dict(explicit or {})
    merged = {**defaults, **given}
    for key in sorted(merged):
        if key in given and key in defaults and given[key] != defaults[key]:
            source = f"explicit (overrides {backend_name}'s {defaults[key]!r})"
        else:
            source = "explicit" if key in given else f"{backend_name}'s declared setting"
        logger.info("simulated user: %s=%r from %s", key, merged[key], source)
    return merged


def drawing_seconds(scribble: Scribble) -> float:
    """Drawing time of a scribble's strokes in seconds (``max end_time - min start_time``, ms in the file)."""
    strokes = [s for frame in scribble["scribbles"] for s in frame if "start_time" in s and "end_time" in s]
    if not strokes:
        return 0.0
    return float(max(s["end_time"] for s in strokes) - min(s["start_time"] for s in strokes)) / 1000.0


class LazyScribble:
    """A scribble stored on disk, loaded on first call (the cache backend needs it only on a miss).

    Args:
        path: The scribble's JSON file.
        fallback: Zero-argument callable that recomputes (and rewrites) the scribble when the file is
            missing or damaged.
    """

    def __init__(self, path: Path, fallback) -> None:
        self.path = path
        self.fallback = fallback
        self._value: Scribble | None = None

    def __call__(self) -> Scribble:
        if self._value is None:
            try:
                self._value = load_scribble(self.path)
            except (OSError, ValueError):
                self._value = self.fallback()
        return self._value


class SimulatedUser:
    """The user of a simulated session: the dataset's first scribbles and the DAVIS robot's corrections.

    The robot's scribble is a function of the frame's prediction and ground truth; with ``store_dir``
    it is written there once and read back afterwards (it costs more to recompute than a cached VOS
    round).

    Args:
        robot_kwargs: :class:`InteractiveRobot` settings.
        store_dir: Folder of the stored scribbles (None: recompute every time).
        on_stored: Called with the size in bytes of every scribble written to ``store_dir`` (a cache
            folder's disk budget counts them).
    """

    def __init__(
        self,
        robot_kwargs: dict[str, Any] | None = None,
        store_dir: str | os.PathLike | None = None,
        on_stored: Callable[[int], None] | None = None,
    ) -> None:
        self.robot_kwargs = dict(robot_kwargs or {})
        self.robot = InteractiveRobot(**self.robot_kwargs)
        self.store_dir = Path(store_dir) if store_dir is not None else None
        self.on_stored = on_stored
        #: Short hash of the robot settings, part of every name derived from its scribbles.
        self.key = hashlib.sha1(
            json.dumps(
                [self.robot_kwargs, InteractiveRobot.ALGORITHM_VERSION], sort_keys=True, default=str
            ).encode()
        ).hexdigest()[:16]

    def first_scribble(self, video: Any, index: int) -> tuple[Scribble, int]:
        """Round 1's scribble and frame: the video's scribble ``index``, or the robot's on an empty prediction.

        Raises:
            IndexError: If the video has scribbles but not ``index``.
            ValueError: If the scribble does not fit the video or has no strokes.
        """
        if video.scribbles:
            if not 0 <= index < len(video.scribbles):
                raise IndexError(
                    f"video {video.name!r} has {len(video.scribbles)} scribbles, asked for {index}"
                )
            scribble = video.scribbles[index]
            frame = check_scribble(
                scribble,
                video.num_frames,
                video.num_objects,
                source=f"video {video.name!r} scribble {index}",
                require_strokes=True,
            )
            return scribble, int(frame)
        # No human scribble: the robot corrects an empty prediction on the frame with the most object pixels.
        frame = int(np.argmax([(m > 0).sum() for m in video.masks]))
        scribble = self.robot.interact(
            video.name, np.zeros_like(video.masks), video.masks, frame, video.num_objects
        )
        source = (
            f"the simulated user's first scribble on video {video.name!r} (frame {frame}, objects too small?)"
        )
        check_scribble(scribble, video.num_frames, video.num_objects, source=source, require_strokes=True)
        return scribble, frame

    def correction(self, video: Any, pred_masks: np.ndarray, frame: int) -> Scribble:
        """The robot's correction on ``frame`` (read back from the store when it was written before)."""
        if self.store_dir is None:
            return self.robot.interact(video.name, pred_masks, video.masks, frame, video.num_objects)
        path = self.path(video, pred_masks, frame)
        if path.is_file():
            try:
                return load_scribble(path)
            except ValueError:
                pass  # damaged file: recompute and overwrite
        scribble = self.robot.interact(video.name, pred_masks, video.masks, frame, video.num_objects)
        save_scribble(path, scribble)
        if self.on_stored is not None:
            with contextlib.suppress(OSError):  # evicted already: nothing left to count
                self.on_stored(path.stat().st_size)
        return scribble

    def path(self, video: Any, pred_masks: np.ndarray, frame: int) -> Path:
        """File of the robot's scribble, keyed by the frame's prediction and ground truth."""
        if self.store_dir is None:
            raise RuntimeError("this simulated user stores no scribbles (store_dir=None)")
        digest = hashlib.sha1()
        digest.update(
            json.dumps(
                [video.name, frame, video.num_objects, self.robot_kwargs, InteractiveRobot.ALGORITHM_VERSION],
                sort_keys=True,
            ).encode()
        )
        digest.update(np.ascontiguousarray(pred_masks[frame]).tobytes())
        digest.update(np.ascontiguousarray(video.masks[frame]).tobytes())
        key = digest.hexdigest()
        return self.store_dir / key[:2] / f"{key}.json"
