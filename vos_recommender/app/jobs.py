"""Long steps run in a worker thread as a :class:`Job` the page polls: phase, progress, cancel.

Within a phase that reports frames (:meth:`Job.frame_done`: a backend that propagates frame by frame),
the progress is the share of frames done, and each finished frame's mask is kept for the page to show
while the round runs. Within other phases (a backend that segments every frame in one call) it is the
elapsed time over the time the same phase took last (capped below 1); between phases (restoring each
earlier round, propagating, estimating quality, saving) it is exact. Cancelling is honoured at every phase
boundary and at every finished frame; a result that arrives after a cancel is dropped.
"""

from __future__ import annotations

import itertools
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["Job", "JobCancelled"]

_ids = itertools.count(1)


class JobCancelled(Exception):
    """Raised inside a job's work when the user cancelled it."""


class Job:
    """One long step (a round) running in a thread.

    Args:
        kind: What the job does (``"run"``).
        work: Called as ``work(job)`` in the thread; raises :class:`JobCancelled` to stop early.
        details: Extra fields reported with the job (e.g. the frame).

    Attributes:
        state: ``"running"``, ``"done"``, ``"cancelled"`` or ``"failed"``.
        error: The failure's message (``"failed"`` only).
    """

    def __init__(self, kind: str, work: Callable[[Job], Any], details: dict[str, Any] | None = None) -> None:
        self.id = next(_ids)
        self.kind = kind
        self.details = dict(details or {})
        self.state = "running"
        self.error: str | None = None
        self.message = "starting"
        #: Messages of the phases passed through, in order.
        self.history: list[str] = []
        self.started = time.monotonic()
        self.finished: float | None = None
        self._work = work
        self._cancel = threading.Event()
        self._control = threading.Lock()
        self._committing = False
        self._phase_index = 0
        self._phase_count = 1
        self._phase_start = self.started
        self._phase_expected: float | None = None
        self._frames_total = 0
        self._counting_frames = False
        self._frame_masks: dict[int, np.ndarray] = {}
        self._phase_message = ""
        self._thread = threading.Thread(target=self._run, name=f"app-job-{self.id}", daemon=True)

    def start(self) -> Job:
        """Start the worker thread; returns the job."""
        self._thread.start()
        return self

    # ------------------------------------------------------------------ called by the work
    def phase(self, index: int, count: int, message: str, expected_seconds: float | None = None) -> None:
        """Enter phase ``index`` of ``count`` (raises :class:`JobCancelled` if the user cancelled)."""
        self.check_cancelled()
        self._phase_index, self._phase_count = index, max(count, 1)
        self._phase_start, self._phase_expected = time.monotonic(), expected_seconds
        self._counting_frames = False
        self.message = message
        self.history.append(message)

    def track_frames(self, total: int) -> None:
        """The current phase finishes ``total`` frames, reported by :meth:`frame_done` (progress by frames)."""
        self._frames_total = max(int(total), 1)
        self._counting_frames = True
        self._frame_masks = {}
        self._phase_message = self.message
        self.message = f"{self._phase_message}: 0/{self._frames_total} frames"

    def frame_done(self, t: int, mask: np.ndarray) -> None:
        """Frame ``t``'s new mask is final (kept for :meth:`frame_mask`); raises :class:`JobCancelled` if the
        user cancelled, which stops the backend between two frames."""
        self.check_cancelled()
        self._frame_masks[int(t)] = mask
        if self._counting_frames:
            self.message = f"{self._phase_message}: {len(self._frame_masks)}/{self._frames_total} frames"

    def frame_mask(self, t: int) -> np.ndarray | None:
        """The mask the running round gave frame ``t`` so far (None before the frame is done)."""
        return self._frame_masks.get(int(t))

    @property
    def frames_done(self) -> list[int]:
        """The frames whose new mask is known, in the order they were finished."""
        return list(self._frame_masks)

    def check_cancelled(self) -> None:
        """Raise :class:`JobCancelled` when a cancel was asked."""
        if self._cancel.is_set():
            raise JobCancelled

    def begin_commit(self) -> None:
        """Last cancel point: raises :class:`JobCancelled` if cancelled, else later cancels are refused."""
        with self._control:
            self.check_cancelled()
            self._committing = True
            self.message = "saving"

    # ------------------------------------------------------------------ control
    def cancel(self) -> None:
        """Ask the job to stop; it is reported as cancelled at once and its result will be dropped."""
        with self._control:
            if self.state != "running" or self._committing:
                return
            self._cancel.set()
            self.state = "cancelled"
            self.message = "cancelled"

    @property
    def cancel_requested(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._cancel.is_set()

    @property
    def alive(self) -> bool:
        """True while the worker thread runs (also briefly after a cancel, until the step returns)."""
        return self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> Job:
        """Block until the worker thread ends; returns the job."""
        self._thread.join(timeout)
        return self

    @property
    def progress(self) -> float:
        """Fraction done in ``[0, 1]``."""
        if self.state == "done":
            return 1.0
        within = 0.0
        if self._counting_frames:
            within = min(len(self._frame_masks) / self._frames_total, 0.95)
        elif self._phase_expected:
            within = min((time.monotonic() - self._phase_start) / self._phase_expected, 0.95)
        return min((self._phase_index + within) / self._phase_count, 0.99)

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the page."""
        end = self.finished if self.finished is not None else time.monotonic()
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "message": self.message,
            "progress": round(self.progress, 3),
            "elapsed": round(end - self.started, 2),
            "error": self.error,
            # Cancelled, but the model's current call still runs: it cannot be interrupted from Python.
            "finishing": self.state == "cancelled" and self.alive,
            "frames_done": self.frames_done,
            "frames_total": self._frames_total,
            **self.details,
        }

    def _run(self) -> None:
        try:
            self._work(self)
            if self.state == "running":
                self.state, self.message = "done", "done"
        except JobCancelled:
            self.state, self.message = "cancelled", "cancelled"
        except Exception as err:  # noqa: BLE001 (the page shows the message; the trace goes to the log)
            traceback.print_exc()
            self.state, self.error = "failed", f"{type(err).__name__}: {err}"
            self.message = "failed"
        finally:
            self.finished = time.monotonic()
