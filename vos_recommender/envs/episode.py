"""The record of one episode: the rounds played, the frames annotated, the latest outcome and the clocks."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from vos_recommender.backends import VOSResult
from vos_recommender.envs.observation import build_observation
from vos_recommender.metrics.auc import round_auc
from vos_recommender.session import RoundOutcome

__all__ = ["Episode"]


@dataclasses.dataclass
class Episode:
    """What an episode of the frame-recommendation environment has done so far.

    Attributes:
        video: The episode's video (a ``VideoSample``).
        scribble_index: Index of its first scribble.
        max_frames: Width of the padded observation.
        round: Rounds played (round 1 is the first scribble).
        counts: Annotation count per frame (``max_frames``, zero on padding).
        quality: Latest per-frame quality (``max_frames``, zero on padding).
        result: Latest VOS result (None until round 1 has played).
        jf: Latest per-frame true J&F.
        jf_rounds: Mean J&F after each round.
        annotated: Frame annotated in each round.
        scribbles: ``(frame, scribble)`` of each round (a replayed one loads when called).
        elapsed_total: Backend seconds of all rounds.
        user_time: Simulated drawing seconds of all scribbles.
    """

    video: Any
    scribble_index: int
    max_frames: int
    round: int = 0
    counts: np.ndarray = dataclasses.field(init=False)
    quality: np.ndarray = dataclasses.field(init=False)
    result: VOSResult | None = None
    jf: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0))
    jf_rounds: list[float] = dataclasses.field(default_factory=list)
    annotated: list[int] = dataclasses.field(default_factory=list)
    scribbles: list[tuple[int, Any]] = dataclasses.field(default_factory=list)
    elapsed_total: float = 0.0
    user_time: float = 0.0

    def __post_init__(self) -> None:
        self.counts = np.zeros(self.max_frames, dtype=np.int64)
        self.quality = np.zeros(self.max_frames, dtype=np.float32)

    @property
    def num_frames(self) -> int:
        """Frames of the video."""
        return self.video.num_frames

    def record(self, outcome: RoundOutcome) -> None:
        """Take a played round into the record."""
        self.round += 1
        self.counts[outcome.frame] += 1
        self.annotated.append(outcome.frame)
        self.scribbles.append((outcome.frame, outcome.scribble))
        self.result, self.jf = outcome.result, outcome.jf
        self.jf_rounds.append(float(outcome.jf.mean()))
        self.quality[: self.num_frames] = outcome.quality
        self.elapsed_total += outcome.result.elapsed
        self.user_time += outcome.seconds

    def pass_round(self) -> None:
        """A round without a correction: the segmentation and its J&F stay."""
        self.round += 1
        self.jf_rounds.append(float(self.jf.mean()))

    def least_annotated(self, frame: int) -> bool:
        """Whether ``frame`` is among the least annotated frames of the video (``argmin h``)."""
        return bool(self.counts[frame] == self.counts[: self.num_frames].min())

    def observation(self, num_rounds: int, layout: str = "paper") -> np.ndarray:
        """The ``rows x max_frames`` observation of ``layout``
        (:func:`vos_recommender.envs.observation.build_observation`)."""
        n = self.num_frames
        return build_observation(
            self.quality[:n], self.counts[:n], self.max_frames, max_count=num_rounds, layout=layout
        )

    def info(self, num_rounds: int) -> dict[str, Any]:
        """The episode's part of the environment's ``info``."""
        return {
            "video": self.video.name,
            "scribble_index": self.scribble_index,
            "round": self.round,
            "jf": self.jf.astype(np.float32),
            "jf_mean": float(self.jf.mean()),
            "quality": self.quality[: self.num_frames].copy(),
            "auc": float(round_auc(np.asarray(self.jf_rounds), num_rounds=num_rounds)),
            "annotated_frames": list(self.annotated),
            "user_time": float(self.user_time),
        }
