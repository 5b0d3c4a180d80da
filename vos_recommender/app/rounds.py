"""Running a round: bring the backend up to date, propagate, estimate quality, recommend, save.

The backend keeps its own memory of earlier rounds (ATNet uses every scribble so far), so it must have
seen exactly the saved rounds before a new one. After a restart, an object added or deleted, or a
cancelled round, the backend is restarted and the saved rounds are replayed first (each one reported as a
progress phase, and cancellable between them).

Masks edited by hand since the last round go to the backend first, as their frames' annotations
(:meth:`~vos_recommender.backends.base.VOSBackend.set_annotated_mask`), then the strokes of the round's
frame; a round may have edited masks only.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from vos_recommender.app.errors import AppInputError, AppUnsupportedError
from vos_recommender.app.jobs import Job
from vos_recommender.app.state import AppRound
from vos_recommender.app.strokes import make_scribble
from vos_recommender.interaction.validation import check_scribble

if TYPE_CHECKING:
    from vos_recommender.app.annotator import Annotator
    from vos_recommender.backends import VOSBackend, VOSResult

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
    def _apply(backend: VOSBackend, round_: AppRound) -> VOSResult:
        """Give ``round_`` to the backend: its edited masks, then its strokes; returns the last result."""
        result = None
        for t, mask in round_.annotations.items():
            result = backend.set_annotated_mask(t, mask)
        if round_.has_strokes:
            result = backend.interact(round_.scribble, round_.frame)
        return result

    def _work(self, job: Job, round_: AppRound) -> None:
        app = self.annotator
        state, backend = app.state, app.backend
        objects, saved = state.num_objects, list(state.rounds)
        restart = self.synced != (objects, len(saved))
        count = (1 + len(saved) if restart else 0) + 3
        index = 0
        if restart:
            job.phase(index, count, "starting the model on the video")
            self.synced = None
            backend.start_video(app.video.frames, objects, video_id=app.video.name)
            for number, saved_round in enumerate(saved, start=1):
                index += 1
                job.phase(index, count, f"restoring round {number}/{len(saved)}", self.last_seconds)
                self._apply(backend, saved_round)
            index += 1
        job.phase(index, count, f"propagating from frame {round_.frame}", self.last_seconds)
        self.synced = None  # until the round is committed, the backend is ahead of the saved session
        tic = time.perf_counter()
        result = self._apply(backend, round_)
        self.last_seconds = time.perf_counter() - tic
        job.phase(index + 1, count, "estimating quality and the next frame")
        annotated = [*(t for r in saved for t in r.frames()), *round_.frames()]
        counts = np.bincount(annotated, minlength=state.num_frames)
        quality = app.advisor.quality(app.video.frames, result.masks, result.probs, objects)
        recommendation = app.advisor.recommend(quality, counts, annotated)
        job.phase(index + 2, count, "saving the session")
        round_.seconds, round_.finished_at = self.last_seconds, time.time()
        app.commit_round(job, round_, result.masks, quality, recommendation)
        self.synced = (objects, len(state.rounds))
