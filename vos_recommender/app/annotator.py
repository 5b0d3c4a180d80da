"""The annotation session as a Python API: objects, strokes, mask edits, rounds, undo/redo, recommendation.

The HTTP server is a thin layer over :class:`Annotator`; tests and the benchmark's simulated user drive
this class directly or through HTTP and get the same behaviour.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from vos_recommender.app.advisor import FrameAdvisor
from vos_recommender.app.errors import AppBusyError, AppInputError, AppNotFoundError, AppUnsupportedError
from vos_recommender.app.jobs import Job
from vos_recommender.app.mask_edits import MaskEdit, apply_mask_edit, check_mask_edit
from vos_recommender.app.quality_signal import quality_view
from vos_recommender.app.rounds import RoundRunner
from vos_recommender.app.session_lock import SessionLock
from vos_recommender.app.state import (
    BACKEND_CACHE,
    AppObject,
    AppRound,
    SessionState,
    load_session,
    save_session,
)
from vos_recommender.app.strokes import check_draft_size, check_strokes, remove_object_strokes
from vos_recommender.app.video import AppVideo
from vos_recommender.backends import BackendNotAvailableError, build_backend

__all__ = ["MAX_NAME_LENGTH", "MAX_OBJECTS", "Annotator"]

#: Longest object name (characters).
MAX_NAME_LENGTH = 100
#: Most objects (palette PNG ids 1..254; 255 is void).
MAX_OBJECTS = 254


def _build_backend(name: str, kwargs: dict[str, Any]):
    try:
        return build_backend(name, **kwargs)
    except KeyError as err:
        raise AppInputError(f"--backend: {err.args[0] if err.args else err}") from err
    except (BackendNotAvailableError, FileNotFoundError, TypeError, ValueError) as err:
        raise AppInputError(f"--backend {name}: cannot build it with {kwargs}: {err}") from err


class Annotator:
    """One video's annotation session.

    Args:
        video: The opened video.
        session_dir: Where the session is saved after every change; an existing session there continues.
        backend: Backend registry name (``flow``, ``learned``, ``ipn``, ``manet``, ``atnet``, ``cache``...).
        backend_kwargs: The backend's constructor arguments (e.g. ``{"weights": ...}``).
        advisor: The :class:`FrameAdvisor` (default: ``FrameAdvisor()``, the stride).

    The session folder stays locked (:class:`~vos_recommender.app.session_lock.SessionLock`) until
    :meth:`close`, so a second app on the same folder is refused. From the start the backend computes its
    per-video work (the flow backend's optical flow) in the background and keeps it in
    ``<session>/backend-cache`` (``VOSBackend.precompute``), where rounds after a restart find it.

    Raises:
        AppInputError: On a backend that cannot be built or a session of another video.
        SessionInUseError: If another app has the session folder open.
    """

    def __init__(
        self,
        video: AppVideo,
        session_dir: str | os.PathLike,
        backend: str = "flow",
        backend_kwargs: dict[str, Any] | None = None,
        advisor: FrameAdvisor | None = None,
    ) -> None:
        self.video = video
        self.session_dir = Path(session_dir)
        self.backend_name = backend
        self.backend = _build_backend(backend, dict(backend_kwargs or {}))
        self.advisor = advisor or FrameAdvisor()
        self.lock = threading.RLock()
        self.session_lock = SessionLock(self.session_dir).acquire()
        try:
            loaded = load_session(self.session_dir, video)
            self.resumed = loaded is not None
            self.state = loaded or SessionState.new(video)
            self.mask_version = len(self.state.rounds)
            self.runner = RoundRunner(self)
            self.job: Job | None = None
            if self.state.recommendation is None:
                self.refresh_recommendation(
                    probs=None, note="the starting masks carry no probabilities; --quality estimates them"
                )
            save_session(self.session_dir, self.state, rounds_changed=not self.resumed)
            # While the person draws, the backend computes its per-video work (or reads it back), that
            # for a first round on the recommended frame first.
            start = self.state.recommendation["frame"] if self.state.recommendation else None
            self.backend.precompute(video.frames, self.session_dir / BACKEND_CACHE, frame=start)
        except BaseException:
            self.session_lock.release()
            raise

    def close(self) -> None:
        """Release the session folder (a running round is cancelled first; the session stays saved)."""
        job = self.cancel()
        if job is not None:
            job.wait(60)
        self.backend.stop_precompute()
        self.session_lock.release()

    def __enter__(self) -> Annotator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ helpers
    @property
    def busy(self) -> bool:
        """True while a round's worker thread runs."""
        return self.job is not None and self.job.alive

    def _require_idle(self, what: str) -> None:
        if self.busy:
            if self.job is not None and self.job.cancel_requested:
                raise AppBusyError(
                    f"cannot {what} yet: the cancelled round is still finishing the model's current step "
                    "(it cannot be interrupted); try again in a moment"
                )
            raise AppBusyError(f"cannot {what} while a round is running; wait or cancel it first")

    def _object(self, object_id: int) -> AppObject:
        for obj in self.state.objects:
            if obj.id == object_id:
                return obj
        raise AppNotFoundError(
            f"no object with id {object_id} (objects: {[o.id for o in self.state.objects]})"
        )

    def _record(self, label: str, parts: tuple[str, ...], frames: tuple[int, ...] = ()) -> None:
        """Make the change about to happen undoable (call before changing ``parts``)."""
        self.state.history.record(label, self.state.memento(parts, frames))

    def _has_result(self) -> bool:
        state = self.state
        return state.masks is not None and state.num_objects > 0 and int(state.masks.max(initial=0)) > 0

    def refresh_recommendation(self, probs: np.ndarray | None, note: str | None = None) -> None:
        """Recompute the quality estimate and the recommendation from the current masks.

        Args:
            probs: The backend's ``T x (O+1) x H x W`` probabilities of the masks, or None (masks alone:
                only a wild estimator can estimate them; else every frame's estimate is unknown).
            note: Why the estimate is unknown when it is (shown with the recommendation).
        """
        state = self.state
        if not self._has_result():
            state.quality, state.quality_note = None, None
            state.recommendation = FrameAdvisor.first_frame(state.num_frames)
            return
        quality = self.advisor.quality(self.video.frames, state.masks, probs, state.num_objects)
        if quality is None:
            state.quality = [None] * state.num_frames
            state.quality_note = note or "the masks carry no probabilities to estimate from"
        else:
            state.quality, state.quality_note = [float(q) for q in quality], None
        state.recommendation = self.advisor.recommend(
            state.quality, state.counts(), state.annotated(), state.quality_note
        )

    def mark_quality_stale(self, why: str, frames: Iterable[int] | None = None) -> None:
        """Mark the estimate of ``frames`` (None: every frame) unknown, and recommend again without it.

        Called when the masks changed without a round (an object added or deleted, a mask edited by hand):
        the old estimate no longer describes them, and no number is better than a wrong one. The next
        round estimates every frame again. The caller saves the session.

        Args:
            why: Why, in plain words (e.g. ``'out of date since object 2 ("ball") was deleted'``).
            frames: The frames whose masks changed, or None for all.
        """
        with self.lock:
            state = self.state
            if state.quality is None or not self._has_result():
                self.refresh_recommendation(probs=None, note=why)
                return
            stale = list(range(state.num_frames)) if frames is None else [int(t) for t in frames]
            outside = [t for t in stale if not 0 <= t < state.num_frames]
            if outside:
                raise AppInputError(f"frame {outside[0]} is outside the video (0..{state.num_frames - 1})")
            quality = list(state.quality)  # a new list: the undo history may hold the old one
            for t in stale:
                quality[t] = None
            state.quality, state.quality_note = quality, why
            state.recommendation = self.advisor.recommend(
                state.quality, state.counts(), state.annotated(), why
            )

    def save(self, rounds_changed: bool = False) -> None:
        """Save the session (atomically)."""
        if not self.session_lock.held:
            raise AppBusyError(f"the session {self.session_dir} was closed; open it again to change it")
        save_session(self.session_dir, self.state, rounds_changed=rounds_changed)

    @staticmethod
    def _name(name: str | None, default: str) -> str:
        if name is not None and not isinstance(name, str):
            raise AppInputError(f"an object name must be a string, got {type(name).__name__}")
        name = (name or "").strip() or default
        if not name:
            raise AppInputError("an object name cannot be empty")
        if len(name) > MAX_NAME_LENGTH:
            raise AppInputError(f"an object name has at most {MAX_NAME_LENGTH} characters, got {len(name)}")
        return name

    # ------------------------------------------------------------------ objects
    def add_object(self, name: str | None = None) -> AppObject:
        """Add an object (id ``O + 1``); the backend restarts with the new count at the next run."""
        with self.lock:
            self._require_idle("add an object")
            if self.state.num_objects >= MAX_OBJECTS:
                raise AppInputError(f"at most {MAX_OBJECTS} objects (palette PNG ids 1..{MAX_OBJECTS})")
            new_id = self.state.num_objects + 1
            obj = AppObject(new_id, self._name(name, f"object {new_id}"))
            self.state.objects.append(obj)
            if self.state.quality is not None:
                self.mark_quality_stale(f'out of date since object {new_id} ("{obj.name}") was added')
            self.state.backend_state = None  # saved with another object count
            self.runner.invalidate()
            self.save()
            return obj

    def rename_object(self, object_id: int, name: str) -> AppObject:
        """Rename an object."""
        with self.lock:
            name = self._name(name, "")
            obj = self._object(object_id)
            obj.name = name
            self.save()
            return obj

    def delete_object(self, object_id: int) -> None:
        """Delete an object, its strokes in every round and draft, and its mask; later ids shift down by one."""
        with self.lock:
            self._require_idle("delete an object")
            deleted = self._object(object_id)
            state = self.state
            state.objects = [
                AppObject(o.id - (o.id > object_id), o.name) for o in state.objects if o.id != object_id
            ]
            state.drafts = {t: remove_object_strokes(s, object_id) for t, s in state.drafts.items()}
            for round_ in state.rounds:
                round_.scribble["scribbles"] = [
                    remove_object_strokes(s, object_id) for s in round_.scribble["scribbles"]
                ]
            state.rounds = [r for r in state.rounds if r.has_strokes or r.annotations]
            for round_ in state.rounds:
                for mask in round_.annotations.values():
                    mask[mask == object_id] = 0
                    mask[mask > object_id] -= 1
                round_.annotations_file = None  # changed content: a new file at the save below
            state.history.clear()  # older mementos name object ids that now mean other objects
            if state.masks is not None:
                masks = state.masks
                masks[masks == object_id] = 0
                masks[masks > object_id] -= 1
            state.backend_state = None  # saved with other objects and rounds
            self.runner.invalidate()
            self.mark_quality_stale(f'out of date since object {object_id} ("{deleted.name}") was deleted')
            self.mask_version += 1
            self.save(rounds_changed=True)

    # ------------------------------------------------------------------ strokes and rounds
    def set_strokes(self, frame: int, strokes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Replace the draft strokes of ``frame`` (the page sends the whole list after each edit)."""
        with self.lock:
            checked = check_strokes(strokes, frame, self.state.num_frames, self.state.num_objects)
            check_draft_size(self.state.drafts, frame, checked)
            if self.job is not None and self.job.alive and self.job.details.get("frame") == frame:
                raise AppBusyError(
                    f"frame {frame} is being run; draw on it again when the round has finished"
                )
            if checked == self.state.drafts.get(frame, []):
                return checked
            self._record(f"strokes on frame {frame}", ("drafts",), (frame,))
            if checked:
                self.state.drafts[frame] = checked
            else:
                self.state.drafts.pop(frame, None)
            self.save()
            return checked

    # ------------------------------------------------------------------ mask edits
    def edit_mask(self, frame: int, edit: Any) -> MaskEdit:
        """Edit the mask of ``frame`` by hand (see :mod:`vos_recommender.app.mask_edits`).

        The frame then counts as annotated, and the next round gives its mask to the backend as the
        frame's annotation (:meth:`~vos_recommender.backends.base.VOSBackend.set_annotated_mask`), so
        propagation starts from it. Undoable.

        Raises:
            AppInputError: On a bad edit.
            AppNotFoundError: On a frame outside the video.
            AppUnsupportedError: If the backend cannot take a mask as an annotation.
            AppBusyError: While a round runs.
        """
        with self.lock:
            self._require_idle("edit a mask")
            state = self.state
            if not isinstance(frame, int) or isinstance(frame, bool) or not 0 <= frame < state.num_frames:
                raise AppNotFoundError(f"frame {frame!r} is outside the video (0..{state.num_frames - 1})")
            checked = check_mask_edit(edit, frame, state.num_objects)
            if not self.backend.supports_annotated_masks:
                raise AppUnsupportedError(
                    f"the {self.backend_name!r} backend cannot start from a mask edited by hand, so masks "
                    "cannot be edited in this session; correct them with strokes, or open the video with "
                    "--backend flow"
                )
            current = state.masks[frame] if state.masks is not None else None
            if current is None:
                current = np.zeros(self.video.size, dtype=np.uint8)
            edited = apply_mask_edit(current, checked, self.video.frames[frame])
            if np.array_equal(edited, current):
                return checked
            verb = (
                "erase"
                if checked.erase
                else {"brush": "brush", "polygon": "lasso fill", "segment": "click"}[checked.op]
            )
            self._record(f"{verb} on frame {frame}", ("masks_file", "edited", "quality", "recommendation"))
            if state.masks is None:
                state.masks = np.zeros((state.num_frames, *self.video.size), dtype=np.uint8)
            state.masks[frame] = edited
            if frame not in state.edited:
                state.edited.append(frame)
            # The frame is annotated now and its old estimate describes masks that are gone.
            self.mark_quality_stale(f"frame {frame} was edited by hand since the last round", frames=[frame])
            self.mask_version += 1
            self.save(rounds_changed=True)
            return checked

    # ------------------------------------------------------------------ undo and redo
    def undo(self) -> str:
        """Undo the last stroke change, mask edit or round; returns what was undone.

        Raises:
            AppInputError: When there is nothing to undo.
            AppBusyError: While a round runs.
        """
        with self.lock:
            self._require_idle("undo")
            entry = self.state.history.pop_undo()
            if entry is None:
                raise AppInputError("nothing to undo")
            self.state.history.push_redo(entry["label"], self._swap(entry["parts"]))
            self.save()  # after the push: the history names the files the undone change made
            return entry["label"]

    def redo(self) -> str:
        """Redo the last undone change; returns what was redone.

        Raises:
            AppInputError: When there is nothing to redo.
            AppBusyError: While a round runs.
        """
        with self.lock:
            self._require_idle("redo")
            entry = self.state.history.pop_redo()
            if entry is None:
                raise AppInputError("nothing to redo")
            self.state.history.push_undo(entry["label"], self._swap(entry["parts"]))
            self.save()
            return entry["label"]

    def _swap(self, memento: dict[str, Any]) -> dict[str, Any]:
        """Put ``memento`` back (unsaved); returns the same parts as they were."""
        frames = tuple(int(t) for t in memento.get("drafts", {}))
        current = self.state.memento(tuple(memento), frames)
        self.state.restore(memento, self.session_dir)
        if "rounds" in memento:
            self.runner.invalidate()  # the backend has seen other rounds than the session now holds
        if "masks_file" in memento:
            self.mask_version += 1
        return current

    def start_round(self, frame: int) -> Job:
        """Start a round on ``frame`` with its draft strokes, in the background; returns the job.

        After a cancel, the cancelled round may still be finishing the model's current call; the new round
        then waits for it by itself (its first phase says so) rather than being refused.
        """
        with self.lock:
            finishing = self.job if self.busy and self.job.cancel_requested else None
            if finishing is None:
                self._require_idle("start a round")
            self.job = self.runner.start(int(frame), after=finishing)
            return self.job

    def run_round(self, frame: int, timeout: float | None = None) -> Job:
        """Run a round on ``frame`` and wait for it (the synchronous form of :meth:`start_round`)."""
        job = self.start_round(frame).wait(timeout)
        if job.state == "failed":
            raise RuntimeError(job.error)
        return job

    def commit_round(
        self,
        job: Job,
        round_: AppRound,
        masks: np.ndarray,
        quality: np.ndarray,
        recommendation: dict[str, Any],
        backend_state: dict[str, Any] | None = None,
    ) -> None:
        """Keep a finished round: its scribble, the new masks, quality and recommendation, then save.

        Past ``job.begin_commit()`` a cancel no longer drops the round. The strokes the round applied leave
        the frame's drafts; strokes drawn on the frame while it ran stay.

        Args:
            job: The round's job.
            round_: The round (frame, scribble, seconds, time).
            masks: ``T x H x W`` label masks after the round.
            quality: ``T`` per-frame quality after the round.
            recommendation: The advisor's next frame.
            backend_state: The backend's state saved after the round (see
                :attr:`~vos_recommender.app.state.SessionState.backend_state`), or None.
        """
        with self.lock:
            job.begin_commit()
            state = self.state
            parts = ("drafts", "masks_file", "edited", "rounds", "quality", "recommendation")
            self._record(f"round on frame {round_.frame}", parts, (round_.frame,))
            state.edited = [t for t in state.edited if t not in round_.annotations]
            state.rounds.append(round_)
            state.masks = masks
            state.quality, state.quality_note = [float(q) for q in quality], None
            state.recommendation = recommendation
            state.backend_state = backend_state
            applied = round_.scribble["scribbles"][round_.frame]
            remaining = state.drafts.get(round_.frame, [])
            if remaining[: len(applied)] == applied:
                remaining = remaining[len(applied) :]
            if remaining:
                state.drafts[round_.frame] = remaining
            else:
                state.drafts.pop(round_.frame, None)
            self.mask_version += 1
            self.save(rounds_changed=True)

    def cancel(self) -> Job | None:
        """Cancel the running round, if any."""
        if self.job is not None:
            self.job.cancel()
        return self.job

    def snapshot(self) -> dict[str, Any]:
        """Everything the page shows, as JSON."""
        from vos_recommender.app.render import object_colour

        with self.lock:
            state, (height, width) = self.state, self.video.size
            return {
                "video": {
                    "name": self.video.name,
                    "source": self.video.source,
                    "num_frames": state.num_frames,
                    "height": height,
                    "width": width,
                    "frame_names": self.video.frame_names,
                },
                "objects": [
                    {"id": o.id, "name": o.name, "colour": object_colour(o.id)} for o in state.objects
                ],
                "rounds": [
                    {"frame": r.frame, "seconds": r.seconds, "mask_frames": sorted(r.annotations)}
                    for r in state.rounds
                ],
                "counts": state.counts().tolist(),
                "drafts": {str(t): s for t, s in state.drafts.items()},
                "quality": state.quality,
                "quality_view": quality_view(state.quality, state.quality_note),
                "recommendation": state.recommendation,
                "advisor": self.advisor.description,
                "backend": self.backend_name,
                "has_masks": state.masks is not None,
                "edited": list(state.edited),
                "can_edit_masks": self.backend.supports_annotated_masks,
                "history": state.history.summary(),
                "mask_version": self.mask_version,
                "job": self.job.to_dict() if self.job is not None else None,
                "session_dir": str(self.session_dir),
                "resumed": self.resumed,
                "time": time.time(),
            }
