"""Running a round: bring the backend up to date, propagate, estimate quality, recommend, save.

The backend keeps its own memory of earlier rounds (ATNet uses every scribble so far), so it must have
seen exactly the saved rounds before a new one. After every round the backend's state is saved with the
session (``VOSBackend.save_state``), so after a restart of the app or a cancelled round the backend is
started on the video and continues from that file, without running any earlier round again. Only when
there is no such state (a backend that cannot write one, an object added or deleted since, a damaged
file) are the saved rounds replayed first (each one reported as a progress phase, and cancellable between
them).

Masks edited by hand since the last round go to the backend first, as their frames' annotations
(:meth:`~vos_recommender.backends.base.VOSBackend.set_annotated_mask`), then the strokes of the round's
frame; a round may have edited masks only.

While the backend propagates, each frame it finishes is kept in the job (``Job.frame_done``) so the page
shows the new masks frame by frame, and the progress is the share of frames done.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vos_recommender.app.errors import AppInputError, AppUnsupportedError
from vos_recommender.app.jobs import Job
from vos_recommender.app.state import BACKEND_CACHE, AppRound, backend_state_file
from vos_recommender.app.strokes import make_scribble
from vos_recommender.backends import BackendStateError
from vos_recommender.interaction.validation import check_scribble

if TYPE_CHECKING:
    from vos_recommender.app.annotator import Annotator
    from vos_recommender.backends import VOSBackend, VOSResult
    from vos_recommender.backends.base import FrameCallback

__all__ = ["RoundRunner"]


class RoundRunner:
    """Runs rounds of one :class:`Annotator` in worker threads.

    Attributes:
        synced: ``(num_objects, rounds)`` the backend has consumed, or None when it must be restarted.
        last_seconds: How long the backend's last round took (the next round's progress estimate).
    """

    def __init__(self, annotator: Annotator) -> None:
        self.annotator = annotator
        self.synced: tuple[int, int] | None = None
        self.last_seconds: float | None = None

    def invalidate(self) -> None:
        """Force a backend restart (and replay of the saved rounds) before the next round."""
        self.synced = None

    def start(self, frame: int, after: Job | None = None) -> Job:
        """Check the round can run, then start it in a thread.

        Args:
            frame: The frame whose draft strokes the round applies.
            after: A cancelled round still finishing the model's current call: the new round waits for it
                (as the phase "waiting for the cancelled round to finish") instead of being refused.

        Raises:
            AppInputError: With no object, neither strokes on ``frame`` nor edited masks, or a frame
                outside the video.
            AppUnsupportedError: With edited masks the backend cannot take.
        """
        app = self.annotator
        state = app.state
        if not 0 <= frame < state.num_frames:
            raise AppInputError(f"frame {frame} is outside the video (0..{state.num_frames - 1})")
        if state.num_objects == 0:
            raise AppInputError("add an object before running (there is nothing to segment yet)")
        strokes = state.drafts.get(frame) or []
        annotations = {t: state.masks[t].copy() for t in state.edited} if state.masks is not None else {}
        if not strokes and not annotations:
            raise AppInputError(f"draw at least one stroke on frame {frame} (or edit a mask) before running")
        if annotations and not app.backend.supports_annotated_masks:
            raise AppUnsupportedError(
                f"the {app.backend_name!r} backend cannot start from masks edited by hand (frames "
                f"{sorted(annotations)}); undo the edits, or open the video with --backend flow"
            )
        if not strokes and frame not in annotations:
            frame = state.edited[-1]  # a round of edited masks only: on the last edited frame
        scribble = make_scribble(app.video.name, state.num_frames, frame, strokes)
        check_scribble(
            scribble,
            state.num_frames,
            state.num_objects,
            source=f"frame {frame}",
            require_strokes=bool(strokes),
        )
        round_ = AppRound(frame, scribble, annotations=annotations)

        def work(job: Job) -> None:
            if after is not None and after.alive:
                job.phase(0, 1, "waiting for the cancelled round to finish the model's current step")
                while after.alive:
                    job.check_cancelled()
                    after.wait(0.05)
            self._work(job, round_)

        return Job("run", work, {"frame": frame}).start()

    @staticmethod
    def _apply(backend: VOSBackend, round_: AppRound, on_frame: FrameCallback | None = None) -> VOSResult:
        """Give ``round_`` to the backend: its edited masks, then its strokes; returns the last result."""
        result = None
        for t, mask in round_.annotations.items():
            result = backend.set_annotated_mask(t, mask, on_frame=on_frame)
        if round_.has_strokes:
            result = backend.interact(round_.scribble, round_.frame, on_frame=on_frame)
        return result

    def _saved_state(self, objects: int, rounds: int) -> Path | None:
        """The backend state file saved with the session after exactly these rounds and objects, if any."""
        app = self.annotator
        saved = app.state.backend_state
        if (
            saved is None
            or saved["backend"] != app.backend.name
            or (saved["objects"], saved["rounds"]) != (objects, rounds)
        ):
            return None
        path = app.session_dir / saved["file"]
        return path if path.is_file() else None

    def _restart(self, job: Job, objects: int, saved: list[AppRound]) -> int:
        """Start the backend on the video and bring it to the saved rounds; returns the phases used."""
        app, backend = self.annotator, self.annotator.backend
        state_file = self._saved_state(objects, len(saved))
        count = 4 if state_file is not None or not saved else 4 + len(saved)
        job.phase(0, count, "starting the model on the video")
        self.synced = None
        backend.start_video(app.video.frames, objects, video_id=app.video.name)
        if state_file is not None:
            try:
                backend.load_state(state_file)
                return 1
            except BackendStateError as err:
                warnings.warn(f"{err}; running the {len(saved)} saved rounds again instead", stacklevel=2)
                backend.start_video(app.video.frames, objects, video_id=app.video.name)
        for number, saved_round in enumerate(saved, start=1):
            job.phase(number, 4 + len(saved), f"restoring round {number}/{len(saved)}", self.last_seconds)
            self._apply(backend, saved_round)
        return 1 + len(saved)

    def _save_backend_state(self, objects: int, rounds: int) -> dict[str, Any] | None:
        """Write the backend's state after ``rounds`` rounds into the session folder (None if it cannot)."""
        app = self.annotator
        name = backend_state_file(rounds)
        try:
            app.backend.save_state(app.session_dir / name)
        except BackendStateError:
            return None  # such a backend is brought back by replaying the rounds
        except OSError as err:
            warnings.warn(f"cannot save the backend state into {app.session_dir}: {err}", stacklevel=2)
            return None
        return {"file": name, "backend": app.backend.name, "objects": objects, "rounds": rounds}

    def _work(self, job: Job, round_: AppRound) -> None:
        app = self.annotator
        state, backend = app.state, app.backend
        objects, saved = state.num_objects, list(state.rounds)
        index, count = 0, 3
        if self.synced != (objects, len(saved)):
            index = self._restart(job, objects, saved)
            count = index + 3
        job.phase(index, count, f"propagating from frame {round_.frame}", self.last_seconds)
        job.track_frames(state.num_frames)
        self.synced = None  # until the round is committed, the backend is ahead of the saved session
        tic = time.perf_counter()
        result = self._apply(backend, round_, on_frame=job.frame_done)
        self.last_seconds = time.perf_counter() - tic
        job.phase(index + 1, count, "estimating quality and the next frame")
        annotated = [*(t for r in saved for t in r.frames()), *round_.frames()]
        counts = np.bincount(annotated, minlength=state.num_frames)
        quality = app.advisor.quality(app.video.frames, result.masks, result.probs, objects)
        recommendation = app.advisor.recommend(quality, counts, annotated)
        job.phase(index + 2, count, "saving the session")
        round_.seconds, round_.finished_at = self.last_seconds, time.time()
        backend_state = self._save_backend_state(objects, len(saved) + 1)
        app.commit_round(job, round_, result.masks, quality, recommendation, backend_state)
        self.synced = (objects, len(state.rounds))
        # While the person looks and draws, the backend prepares the rest of its per-video work.
        backend.precompute(app.video.frames, app.session_dir / BACKEND_CACHE, frame=recommendation["frame"])
