"""What an annotation session holds (objects, draft strokes, rounds, latest masks) and how it is saved.

A session folder holds::

    session.json                    the manifest: objects, draft strokes, rounds (each by its file),
                                    the masks file, frames edited since the last round, quality,
                                    recommendation, the undo/redo history (see ``history``)
    rounds/001-<hash>.json ...      each round's scribble in the DAVIS format
    rounds/001-<hash>.npz           the masks a round took as annotations (edited by hand), if any
    masks/round_003-<token>.npz     the latest masks (after the latest round and mask edits); older
                                    ones while the history names them
    backend/state_003-<token>.npz   the backend's state after the latest round (when it can write one)
    backend-cache/                  the backend's per-video work, e.g. optical flow (a cache: may go)
    .lock                           held by the app that has the session open (see ``session_lock``)

Every change of a session is one atomic switch. The files a manifest names are never rewritten: a round
file is named by the hash of its content and a masks file by a new random token, so changed content goes
to new files. A save first writes (atomically, fsynced) the files the new manifest names that are not on
disk yet, then replaces ``session.json`` atomically, and only then deletes the files no manifest names any
more. A process killed at any file operation of a save therefore leaves the old manifest with all its
files, or the new one with all its files; leftovers of an interrupted save are deleted at the next save.
The backend state file is written by the backend (``VOSBackend.save_state``, atomically) before the switch
and named in the manifest with the object and round counts it belongs to.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import secrets
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from vos_recommender.app.errors import AppInputError
from vos_recommender.app.history import SessionHistory
from vos_recommender.app.strokes import check_strokes
from vos_recommender.app.video import AppVideo
from vos_recommender.interaction.scribbles import load_scribble, save_scribble
from vos_recommender.utils.atomic import atomic_path, atomic_write_json, remove_stale_temporaries

__all__ = [
    "BACKEND_CACHE",
    "MANIFEST",
    "MEMENTO_PARTS",
    "SESSION_ENTRIES",
    "AppObject",
    "AppRound",
    "SessionState",
    "backend_state_file",
    "load_session",
    "save_session",
]

#: 2: rounds and masks files never rewritten, the video fingerprinted by its pixels; 1 is still read.
FORMAT_VERSION = 2
MANIFEST = "session.json"
ROUNDS = "rounds"
MASKS = "masks"
BACKEND = "backend"
#: The backend's cache of per-video work (``VOSBackend.precompute``), kept with the session.
BACKEND_CACHE = "backend-cache"
#: Names in a session folder that belong to the session itself.
SESSION_ENTRIES = (MANIFEST, ROUNDS, MASKS, BACKEND, BACKEND_CACHE, ".lock")
# The names save_session gives round and masks files (format 1: without the hash or token).
_SAVED_NAMES = {
    ROUNDS: re.compile(r"\d{3,}(-[0-9a-f]{16})?\.json|\d{3,}-[0-9a-f]{16}\.npz"),
    MASKS: re.compile(r"round_\d{3,}(-[0-9a-f]{12})?\.npz"),
    BACKEND: re.compile(r"state_\d{3,}-[0-9a-f]{12}\.npz"),
}


@dataclasses.dataclass
class AppObject:
    """An object being segmented: its id (``1..O``, the mask value) and the name the user gave it."""

    id: int
    name: str


@dataclasses.dataclass
class AppRound:
    """One finished round: the frame the strokes were drawn on and the DAVIS scribble that was applied.

    A round also takes the masks edited by hand since the previous round as those frames' annotations
    (``annotations``); a round of mask edits only has an empty scribble and one of the edited frames as
    its frame.
    """

    frame: int
    scribble: dict[str, Any]
    seconds: float = 0.0
    finished_at: float = 0.0
    #: The file the last save or load found the scribble in (relative to the session folder), or None.
    file: str | None = None
    #: Frame -> ``H x W`` uint8 mask given to the backend as that frame's annotation before the strokes.
    annotations: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)
    #: The file the last save or load found ``annotations`` in, or None.
    annotations_file: str | None = None

    @property
    def has_strokes(self) -> bool:
        """True when the round applied strokes (not only masks)."""
        return bool(self.scribble["scribbles"][self.frame])

    def frames(self) -> list[int]:
        """The frames this round annotated: the strokes' frame and the frames of its masks."""
        return sorted({self.frame, *self.annotations})

    def entry(self) -> dict[str, Any]:
        """The round in ``session.json`` (by the file names of the last save)."""
        entry = {"frame": self.frame, "file": self.file, "seconds": self.seconds, "at": self.finished_at}
        if self.annotations:
            entry.update(annotations_file=self.annotations_file, mask_frames=sorted(self.annotations))
        return entry


def _read_round(folder: Path, entry: dict[str, Any]) -> AppRound:
    """The round a ``session.json`` entry names, with its files read from ``folder``.

    Raises:
        KeyError, TypeError, ValueError, OSError: On a damaged entry or file.
    """
    round_ = AppRound(
        int(entry["frame"]),
        load_scribble(folder / entry["file"]),
        float(entry["seconds"]),
        float(entry["at"]),
        str(entry["file"]),
    )
    if entry.get("annotations_file"):
        with np.load(folder / entry["annotations_file"], allow_pickle=False) as stored:
            round_.annotations = {
                int(t): stored[f"frame_{int(t)}"].astype(np.uint8) for t in entry["mask_frames"]
            }
        round_.annotations_file = str(entry["annotations_file"])
    return round_


#: The parts of a session a history memento can hold (see :meth:`SessionState.memento`).
MEMENTO_PARTS = ("drafts", "masks_file", "edited", "rounds", "quality", "quality_note", "recommendation")


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
        quality: Per-frame estimated quality of the latest masks (None where unknown: see
            :mod:`~vos_recommender.app.quality_signal`), or None before any result.
        quality_note: Why estimates are unknown, in plain words, or None.
        recommendation: The latest recommendation (see :class:`~vos_recommender.app.advisor.FrameAdvisor`).
        masks_file: The file the last save or load found the masks in, or None.
        edited: Frames whose masks were edited by hand since the last round, in order (the next round
            gives them to the backend as annotations).
        history: Undo and redo (:class:`~vos_recommender.app.history.SessionHistory`).
        backend_state: The backend's state after the rounds, or None: ``{"file", "backend", "objects",
            "rounds"}`` (the file relative to the session folder, the backend's name, the object and round
            counts it was saved with).
    """

    video_name: str
    fingerprint: str
    num_frames: int
    objects: list[AppObject] = dataclasses.field(default_factory=list)
    drafts: dict[int, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)
    rounds: list[AppRound] = dataclasses.field(default_factory=list)
    masks: np.ndarray | None = None
    quality: list[float | None] | None = None
    quality_note: str | None = None
    recommendation: dict[str, Any] | None = None
    masks_file: str | None = None
    edited: list[int] = dataclasses.field(default_factory=list)
    history: SessionHistory = dataclasses.field(default_factory=SessionHistory)
    backend_state: dict[str, Any] | None = None

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
        """How many times each frame was annotated: by rounds (strokes or masks) and by pending mask edits."""
        counts = np.zeros(self.num_frames, dtype=np.int64)
        for frame in self.annotated():
            counts[frame] += 1
        return counts

    def annotated(self) -> list[int]:
        """The frames every round annotated, in order, then the frames edited since the last round."""
        return [t for round_ in self.rounds for t in round_.frames()] + list(self.edited)

    def memento(self, parts: tuple[str, ...], frames: tuple[int, ...] = ()) -> dict[str, Any]:
        """The named parts of the session as they are now, for the undo history (JSON, files by name).

        The state must be saved (the masks and rounds files are named by the last save).

        Args:
            parts: Names from :data:`MEMENTO_PARTS`.
            frames: The frames whose drafts the ``drafts`` part holds.
        """
        unknown = set(parts) - set(MEMENTO_PARTS)
        if unknown:
            raise ValueError(f"unknown memento parts {sorted(unknown)}; use {MEMENTO_PARTS}")
        values = {
            "drafts": lambda: {str(t): list(self.drafts.get(t, [])) for t in frames},
            "masks_file": lambda: self.masks_file,
            "edited": lambda: list(self.edited),
            "rounds": lambda: [r.entry() for r in self.rounds],
            "quality": lambda: None if self.quality is None else list(self.quality),
            "quality_note": lambda: self.quality_note,
            "recommendation": lambda: self.recommendation,
        }
        if (
            "quality" in parts and "quality_note" not in parts
        ):  # an estimate and why it is unknown go together
            parts = (*parts, "quality_note")
        return {part: values[part]() for part in parts}

    def restore(self, memento: dict[str, Any], folder: str | os.PathLike) -> None:
        """Put back the parts a :meth:`memento` holds, reading masks and rounds from ``folder``."""
        folder = Path(folder)
        for key, strokes in memento.get("drafts", {}).items():
            if strokes:
                self.drafts[int(key)] = list(strokes)
            else:
                self.drafts.pop(int(key), None)
        if "masks_file" in memento and memento["masks_file"] != self.masks_file:
            masks = None
            if memento["masks_file"] is not None:
                with np.load(folder / memento["masks_file"], allow_pickle=False) as stored:
                    masks = stored["masks"].astype(np.uint8)
            # One assignment: a request reading the masks meanwhile sees the old ones or the new ones.
            self.masks, self.masks_file = masks, memento["masks_file"]
        if "edited" in memento:
            self.edited = [int(t) for t in memento["edited"]]
        if "rounds" in memento:
            self.rounds = [_read_round(folder, entry) for entry in memento["rounds"]]
        for key in ("quality", "quality_note", "recommendation"):
            if key in memento:
                setattr(self, key, memento[key])

    def to_json(self) -> dict[str, Any]:
        """The ``session.json`` content (rounds and masks by the file names of the last save)."""
        return {
            "format": FORMAT_VERSION,
            "video_name": self.video_name,
            "fingerprint": self.fingerprint,
            "num_frames": self.num_frames,
            "objects": [dataclasses.asdict(obj) for obj in self.objects],
            "drafts": {str(t): strokes for t, strokes in sorted(self.drafts.items()) if strokes},
            "rounds": [r.entry() for r in self.rounds],
            "masks_file": self.masks_file,
            "edited": list(self.edited),
            "history": self.history.to_json(),
            "backend_state": self.backend_state,
            "quality": self.quality,
            "quality_note": self.quality_note,
            "recommendation": self.recommendation,
            "saved_at": time.time(),
        }


def _round_file(index: int, scribble: dict[str, Any]) -> str:
    content = json.dumps(scribble, sort_keys=True, default=str).encode()
    return f"{ROUNDS}/{index + 1:03d}-{hashlib.sha1(content).hexdigest()[:16]}.json"


def _annotations_file(index: int, annotations: dict[int, np.ndarray]) -> str:
    digest = hashlib.sha1()
    for t in sorted(annotations):
        digest.update(f"{t}:{annotations[t].shape}".encode())
        digest.update(np.ascontiguousarray(annotations[t]).tobytes())
    return f"{ROUNDS}/{index + 1:03d}-{digest.hexdigest()[:16]}.npz"


def _remove_unnamed(folder: Path, named: set[str]) -> None:
    """Delete the round and masks files the manifest does not name, and interrupted writes' leftovers.

    Only files with the names a save gives (also those of format 1) are candidates: a ``masks`` folder of
    the user's own PNGs in a folder given as ``--session`` is left alone.
    """
    for sub, pattern in _SAVED_NAMES.items():
        for path in sorted((folder / sub).glob("*")):
            if pattern.fullmatch(path.name) and path.is_file() and f"{sub}/{path.name}" not in named:
                path.unlink()
    for sub in (folder, folder / ROUNDS, folder / MASKS, folder / BACKEND):  # not the user's export folders
        remove_stale_temporaries(sub, older_than=0.0, recursive=False)


def save_session(folder: str | os.PathLike, state: SessionState, rounds_changed: bool = True) -> None:
    """Write the session to ``folder`` as one atomic switch of ``session.json`` (see the module doc).

    Args:
        folder: Session folder (created).
        state: The state to save; its rounds' ``file`` and its ``masks_file`` are set to the saved files.
        rounds_changed: The rounds or the masks changed (False: only the manifest is written, e.g. after a
            stroke or an object rename; rounds and masks never saved are written all the same).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    round_files, annotation_files = [], []
    for index, round_ in enumerate(state.rounds):
        name = (
            round_.file
            if round_.file is not None and not rounds_changed
            else _round_file(index, round_.scribble)
        )
        if not (folder / name).is_file():  # a file of that name holds this content (named by its hash)
            save_scribble(folder / name, round_.scribble)
        round_files.append(name)
        if round_.annotations:
            if round_.annotations_file is None or rounds_changed:
                round_.annotations_file = _annotations_file(index, round_.annotations)
            if not (folder / round_.annotations_file).is_file():
                with atomic_path(folder / round_.annotations_file, suffix=".npz") as tmp:
                    np.savez_compressed(tmp, **{f"frame_{t}": m for t, m in round_.annotations.items()})
            annotation_files.append(round_.annotations_file)
    masks_file = None
    if state.masks is not None:
        masks_file = state.masks_file
        if masks_file is None or rounds_changed or not (folder / masks_file).is_file():
            masks_file = f"{MASKS}/round_{len(state.rounds):03d}-{secrets.token_hex(6)}.npz"
            with atomic_path(folder / masks_file, suffix=".npz") as tmp:
                np.savez_compressed(tmp, masks=state.masks)
    for round_, name in zip(state.rounds, round_files):
        round_.file = name
    state.masks_file = masks_file
    backend_file = state.backend_state["file"] if state.backend_state else None
    if backend_file is not None and not (folder / backend_file).is_file():
        state.backend_state = backend_file = None  # never written (e.g. a disk error): rounds replay instead
    atomic_write_json(folder / MANIFEST, state.to_json(), indent=1)  # the switch
    _remove_unnamed(
        folder, {*round_files, *annotation_files, masks_file, backend_file, *state.history.files()} - {None}
    )


def backend_state_file(rounds: int) -> str:
    """A new name (relative to the session folder) for the backend state after ``rounds`` rounds."""
    return f"{BACKEND}/state_{rounds:03d}-{secrets.token_hex(6)}.npz"


def _checked_drafts(drafts: dict[str, Any], state: SessionState, folder: Path) -> dict[int, list]:
    """The saved drafts, without those no request may send (e.g. a NaN time stored by an older version)."""
    checked = {}
    for key, strokes in drafts.items():
        try:
            checked[int(key)] = check_strokes(strokes, int(key), state.num_frames, state.num_objects)
        except (AppInputError, ValueError) as err:
            warnings.warn(f"{folder}: the unsent strokes of frame {key} are dropped: {err}", stacklevel=3)
    return checked


def load_session(folder: str | os.PathLike, video: AppVideo) -> SessionState | None:
    """Read the session saved in ``folder`` for ``video``; None when the folder holds none.

    Raises:
        AppInputError: If the session belongs to another video or its files are damaged.
    """
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise AppInputError(f"--session: cannot read {path}: {err}") from err
    # Format 1 fingerprinted the frame names, count and size only; it is upgraded at the next save.
    legacy = data.get("format") == 1
    if data.get("fingerprint") != (video.names_fingerprint() if legacy else video.fingerprint()):
        raise AppInputError(
            f"--session: {folder} holds a session of another video: {data.get('video_name')!r} "
            f"({data.get('num_frames')} frames) whose frames differ from those in {video.source} "
            f"({video.num_frames} frames); give another --session folder"
        )
    try:
        state = SessionState(data["video_name"], video.fingerprint(), int(data["num_frames"]))
        state.objects = [AppObject(int(o["id"]), str(o["name"])) for o in data["objects"]]
        state.drafts = _checked_drafts(data.get("drafts", {}), state, folder)
        state.rounds = [_read_round(folder, entry) for entry in data["rounds"]]
        state.edited = [int(t) for t in data.get("edited", [])]
        state.history = SessionHistory.from_json(data.get("history"))
        if data.get("masks_file"):
            with np.load(folder / data["masks_file"], allow_pickle=False) as stored:
                state.masks = stored["masks"].astype(np.uint8)
            state.masks_file = str(data["masks_file"])
        state.quality = data.get("quality")
        state.quality_note = data.get("quality_note")
        state.recommendation = data.get("recommendation")
        backend_state = data.get("backend_state")
        if backend_state is not None:
            state.backend_state = {
                "file": str(backend_state["file"]),
                "backend": str(backend_state["backend"]),
                "objects": int(backend_state["objects"]),
                "rounds": int(backend_state["rounds"]),
            }
    except (KeyError, TypeError, ValueError, OSError) as err:
        raise AppInputError(f"--session: the session in {folder} is damaged ({err})") from err
    return state
