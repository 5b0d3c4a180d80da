"""What an annotation session holds (objects, draft strokes, rounds, latest masks) and how it is saved.

A session folder holds::

    session.json            objects, draft strokes, rounds, quality, recommendation (written last)
    rounds/001.json ...     each round's scribble in the DAVIS format
    masks/round_003.npz     the masks after the latest round (older ones are removed)

Every file is written atomically, and ``session.json`` (which names the current masks file) is written
after the files it refers to, so a crash at any point leaves the previous complete session on disk.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from vos_recommender.app.video import AppInputError, AppVideo
from vos_recommender.interaction.scribbles import load_scribble, save_scribble
from vos_recommender.utils.atomic import atomic_path, atomic_write_json, remove_stale_temporaries

__all__ = ["AppObject", "AppRound", "SessionState", "load_session", "save_session"]

FORMAT_VERSION = 1


@dataclasses.dataclass
class AppObject:
    """An object being segmented: its id (``1..O``, the mask value) and the name the user gave it."""

    id: int
    name: str


@dataclasses.dataclass
class AppRound:
    """One finished round: the frame the strokes were drawn on and the DAVIS scribble that was applied."""

    frame: int
    scribble: dict[str, Any]
    seconds: float = 0.0
    finished_at: float = 0.0


@dataclasses.dataclass
class SessionState:
    """Everything the user made in a session.

    Attributes:
        video_name: The sequence name.
        fingerprint: :meth:`AppVideo.fingerprint` of the video it belongs to.
        num_frames: ``T``.
        objects: Objects, ids ``1..O`` in order.
        drafts: Strokes drawn but not run yet, per frame (DAVIS stroke dicts).
        rounds: Finished rounds, in order.
        masks: ``T x H x W`` uint8 latest masks, or None.
        quality: Per-frame estimated quality of the latest masks, or None.
        recommendation: The latest recommendation (see :class:`~vos_recommender.app.advisor.FrameAdvisor`).
    """

    video_name: str
    fingerprint: str
    num_frames: int
    objects: list[AppObject] = dataclasses.field(default_factory=list)
    drafts: dict[int, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)
    rounds: list[AppRound] = dataclasses.field(default_factory=list)
    masks: np.ndarray | None = None
    quality: list[float] | None = None
    recommendation: dict[str, Any] | None = None

    @classmethod
    def new(cls, video: AppVideo) -> SessionState:
        """A fresh session; objects found in the video's starting masks are listed as ``object k``."""
        state = cls(video.name, video.fingerprint(), video.num_frames)
        if video.masks is not None:
            state.masks = video.masks.copy()
            count = int(video.masks.max(initial=0))
            state.objects = [AppObject(k, f"object {k}") for k in range(1, count + 1)]
        return state

    @property
    def num_objects(self) -> int:
        """Number of objects ``O``."""
        return len(self.objects)

    def counts(self) -> np.ndarray:
        """How many rounds annotated each frame."""
        counts = np.zeros(self.num_frames, dtype=np.int64)
        for round_ in self.rounds:
            counts[round_.frame] += 1
        return counts

    def annotated(self) -> list[int]:
        """Frame of every round, in order."""
        return [round_.frame for round_ in self.rounds]

    def to_json(self, masks_file: str | None) -> dict[str, Any]:
        """The ``session.json`` content (rounds by file name, masks by file name)."""
        return {
            "format": FORMAT_VERSION,
            "video_name": self.video_name,
            "fingerprint": self.fingerprint,
            "num_frames": self.num_frames,
            "objects": [dataclasses.asdict(obj) for obj in self.objects],
            "drafts": {str(t): strokes for t, strokes in sorted(self.drafts.items()) if strokes},
            "rounds": [
                {
                    "frame": r.frame,
                    "file": f"rounds/{i + 1:03d}.json",
                    "seconds": r.seconds,
                    "at": r.finished_at,
                }
                for i, r in enumerate(self.rounds)
            ],
            "masks_file": masks_file,
            "quality": self.quality,
            "recommendation": self.recommendation,
            "saved_at": time.time(),
        }


def save_session(folder: str | os.PathLike, state: SessionState, rounds_changed: bool = True) -> None:
    """Write the session to ``folder`` (atomically, ``session.json`` last).

    Args:
        folder: Session folder (created).
        state: The state to save.
        rounds_changed: Rewrite the round files and masks (False: only ``session.json``, e.g. after a
            stroke or an object rename).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    masks_file = f"masks/round_{len(state.rounds):03d}.npz" if state.masks is not None else None
    if rounds_changed:
        for index, round_ in enumerate(state.rounds):
            save_scribble(folder / "rounds" / f"{index + 1:03d}.json", round_.scribble)
        for stale in sorted((folder / "rounds").glob("*.json"))[len(state.rounds) :]:
            stale.unlink()
        if state.masks is not None and masks_file is not None:
            with atomic_path(folder / masks_file, suffix=".npz") as tmp:
                np.savez_compressed(tmp, masks=state.masks)
    atomic_write_json(folder / "session.json", state.to_json(masks_file), indent=1)
    if rounds_changed:
        for old in (folder / "masks").glob("round_*.npz"):
            if masks_file is None or old.name != Path(masks_file).name:
                old.unlink()


def load_session(folder: str | os.PathLike, video: AppVideo) -> SessionState | None:
    """Read the session saved in ``folder`` for ``video``; None when the folder holds none.

    Raises:
        AppInputError: If the session belongs to another video or its files are damaged.
    """
    folder = Path(folder)
    path = folder / "session.json"
    if not path.is_file():
        return None
    remove_stale_temporaries(folder, older_than=0.0)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise AppInputError(f"--session: cannot read {path}: {err}") from err
    if data.get("fingerprint") != video.fingerprint():
        raise AppInputError(
            f"--session: {folder} holds a session of video {data.get('video_name')!r} "
            f"({data.get('num_frames')} frames), not of {video.source} ({video.num_frames} frames); "
            "give another --session folder"
        )
    try:
        state = SessionState(data["video_name"], data["fingerprint"], int(data["num_frames"]))
        state.objects = [AppObject(int(o["id"]), str(o["name"])) for o in data["objects"]]
        state.drafts = {int(t): list(strokes) for t, strokes in data.get("drafts", {}).items()}
        for entry in data["rounds"]:
            scribble = load_scribble(folder / entry["file"])
            state.rounds.append(
                AppRound(int(entry["frame"]), scribble, float(entry["seconds"]), float(entry["at"]))
            )
        if data.get("masks_file"):
            with np.load(folder / data["masks_file"], allow_pickle=False) as stored:
                state.masks = stored["masks"].astype(np.uint8)
        state.quality = data.get("quality")
        state.recommendation = data.get("recommendation")
    except (KeyError, TypeError, ValueError, OSError) as err:
        raise AppInputError(f"--session: the session in {folder} is damaged ({err})") from err
    return state
