"""Which frame to correct next, and why: per-frame quality estimate plus a strategy (the agent, the gain
ranker, Worst or one of the rules a person would try: stride, farthest, uncertain_far).

The pieces are the ones ``python -m vos_recommender.recommend`` uses (:class:`WildQuality`, the strategies
of :mod:`vos_recommender.strategies`), loaded once per app instead of once per call. Without a
quality-estimator checkpoint the estimate is the segmentation model's own confidence, so the app
recommends without any ground truth in every configuration; a strategy that needs the ground truth (the
one-step lookahead) is refused.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vos_recommender.app.errors import AppInputError
from vos_recommender.app.quality_signal import describe_rank, quality_ranks
from vos_recommender.backends.base import VOSResult, probs_to_masks
from vos_recommender.recommend import to_probs
from vos_recommender.strategies import (
    DEFAULT_RULE,
    DEPLOYABLE_STRATEGIES,
    AgentStrategy,
    FarthestStrategy,
    RecommendationStrategy,
    WorstStrategy,
    build_strategy,
    deployable_strategy_name,
)

__all__ = ["ADVISOR_STRATEGIES", "QUALITY_STRATEGIES", "FrameAdvisor", "confidence_quality"]


#: Strategies the app can follow, with the words the page shows for them.
ADVISOR_STRATEGIES = {
    "agent": "learned agent",
    "worst": "worst frame",
    "uncertain_far": "far from annotated frames and likely wrong",
    "farthest": "farthest from annotated frames",
    "stride": "every fifth of the video",
    "linspace": "evenly spaced frames",
    "random": "random frame",
    "ranker": "largest expected gain (gain ranker)",
}

#: The strategies whose choice reads the quality estimate (the others measure from annotated frames).
QUALITY_STRATEGIES = frozenset(name for name, reads in DEPLOYABLE_STRATEGIES.items() if reads)


def confidence_quality(probs: np.ndarray) -> np.ndarray:
    """Per-frame quality from the model's confidence: no estimator, no ground truth.

    For each object, the mean top-class probability over the pixels where that object is at all likely
    (``p > 0.05``): a confident frame has sharp probabilities there, an uncertain one (drift, occlusion)
    has mixed ones. Averaged over objects; a frame where an object vanished scores 0 for it.

    Args:
        probs: ``T x (O+1) x H x W`` probabilities.

    Returns:
        ``T`` float32 values in ``[0, 1]``.
    """
    top = probs.max(axis=1)
    quality = np.zeros(probs.shape[0], dtype=np.float32)
    for t in range(probs.shape[0]):
        values = []
        for obj in range(1, probs.shape[1]):
            region = probs[t, obj] > 0.05
            values.append(float(top[t][region].mean()) if region.any() else 0.0)
        quality[t] = float(np.mean(values)) if values else 0.0
    return quality


def _load_checkpoint(option: str, what: str, source: Any, load: Callable[[Any], Any]) -> Any:
    """``load(source)``, where a path that is no file or does not load is an :class:`AppInputError` naming
    ``option`` and the file (a loaded object is passed to ``load`` as it is)."""
    if isinstance(source, (str, os.PathLike)) and not Path(source).is_file():
        raise AppInputError(f"{option}: {what} not found: {source}")
    try:
        return load(source)
    except Exception as err:  # noqa: BLE001 (any load failure is reported with the file name)
        raise AppInputError(f"{option}: cannot load {source}: {err}") from err


class FrameAdvisor:
    """Estimates every frame's quality and recommends the next frame to correct.

    Args:
        agent: Trained agent ``.zip`` (``python -m vos_recommender.train``), a loaded model, or None.
        quality: Wild quality-estimator checkpoint (``python -m vos_recommender.training.quality``) or None
            (use :func:`confidence_quality`).
        strategy: One of :data:`ADVISOR_STRATEGIES` (``agent`` needs ``agent``, ``ranker`` needs
            ``ranker``). None: the agent when one is given, else the ranker when one is given, else the best
            measured rule (:data:`vos_recommender.strategies.DEFAULT_RULE`): ``uncertain_far`` with
            ``quality``, ``stride`` without.
        ranker: Gain-ranker checkpoint (``python -m vos_recommender.training.ranker``), a loaded
            :class:`~vos_recommender.agent.ranker.GainRanker`, or None. It was trained on the wild
            estimator's quality, so it needs ``quality`` too (the model's confidence is another signal).

    Raises:
        AppInputError: If a checkpoint is missing or unreadable, or the strategy is unknown, needs the
            ground truth, or is ``agent`` or ``ranker`` without its checkpoint (``ranker`` also without
            ``quality``).
    """

    def __init__(
        self,
        agent: str | os.PathLike | Any | None = None,
        quality: str | os.PathLike | None = None,
        strategy: str | None = None,
        ranker: str | os.PathLike | Any | None = None,
    ):
        self.agent_name = str(agent) if isinstance(agent, (str, os.PathLike)) else None
        self.quality_name = str(quality) if quality is not None else None
        self.ranker_name = str(ranker) if isinstance(ranker, (str, os.PathLike)) else None
        self._agent: AgentStrategy | None = None
        self._wild = None
        self.strategy = self._strategy_name(strategy, agent, quality, ranker)
        self._rule: RecommendationStrategy | None = None
        if self.strategy != "agent":
            self._rule = build_strategy(self.strategy, ranker=self._load_ranker(ranker))
            agent = None  # the agent is not followed: not loaded either
        if agent is not None:
            self._agent = _load_checkpoint("--agent", "agent file", agent, AgentStrategy)
        if quality is not None:
            from vos_recommender.quality.estimator import WildQuality

            self._wild = _load_checkpoint(
                "--quality",
                "quality estimator checkpoint",
                quality,
                lambda path: WildQuality(checkpoint=path),
            )

    def _load_ranker(self, ranker: Any) -> Any:
        """The gain ranker the ``ranker`` strategy follows (None for the other strategies)."""
        if self.strategy != "ranker" or not isinstance(ranker, (str, os.PathLike)):
            return ranker if self.strategy == "ranker" else None
        from vos_recommender.agent.ranker import GainRanker

        return _load_checkpoint("--ranker", "gain ranker checkpoint", ranker, GainRanker.load)

    @staticmethod
    def _strategy_name(strategy: str | None, agent: Any, quality: Any, ranker: Any = None) -> str:
        """The strategy to follow, checked (errors name ``--strategy`` and the known names)."""
        if strategy is None:
            if agent is not None:
                return "agent"
            if ranker is None:
                return DEFAULT_RULE["with_quality" if quality is not None else "without_quality"]
            strategy = "ranker"
        try:
            name = deployable_strategy_name(strategy, "--strategy", agent, ranker, where="the app")
        except ValueError as err:
            raise AppInputError(str(err)) from None
        if name == "ranker" and quality is None:
            raise AppInputError(
                "--ranker: the gain ranker reads the wild estimator's quality, which it was trained on; give "
                "--quality (the model's confidence is another signal)"
            )
        return name

    @property
    def description(self) -> dict[str, str]:
        """What the page shows about the recommender."""
        return {
            "strategy": self.strategy,
            "label": ADVISOR_STRATEGIES[self.strategy],
            "agent": self.agent_name or ("loaded model" if self._agent is not None else "none"),
            "quality": "wild estimator" if self._wild is not None else "model confidence",
            "quality_checkpoint": self.quality_name or "none",
            "ranker": self.ranker_name or ("loaded model" if self.strategy == "ranker" else "none"),
        }

    def quality(
        self, frames: np.ndarray, masks: np.ndarray, probs: np.ndarray | None, num_objects: int
    ) -> np.ndarray | None:
        """Per-frame estimated quality (``T`` floats in ``[0, 1]``) of the current result.

        Returns None when there is nothing to estimate from: masks without probabilities (starting masks,
        or masks after an object was deleted) and no wild estimator; the model's confidence in a one-hot
        mask is 1 everywhere, which says nothing about the frame.
        """
        if probs is None:
            if self._wild is None:
                return None
            probs = to_probs(masks.astype(np.int64), num_objects)
        probs = probs[:, : num_objects + 1]
        if self._wild is not None:
            result = VOSResult(masks=probs_to_masks(probs), probs=probs, elapsed=0.0)
            return np.asarray(self._wild(frames, result, None, num_objects), dtype=np.float32)
        return confidence_quality(probs)

    def recommend(
        self,
        quality: Sequence[float | None],
        counts: np.ndarray,
        annotated: list[int],
        note: str | None = None,
    ) -> dict[str, Any]:
        """The next frame and the reason shown for it.

        Args:
            quality: ``T`` per-frame estimates, None where a frame's estimate is unknown.
            counts: ``T`` annotation counts.
            annotated: Frames annotated so far, in order.
            note: Why estimates are unknown (shown in the reason), or None.

        Returns:
            ``{"frame", "strategy", "reason", "value", "scores"}``: ``value`` is the agent's Q-value of the
            frame, its estimated quality for Worst, its ``(1 - q) x distance`` for uncertain_far and its
            distance for farthest (None for the others); ``scores`` every frame's Q-value (agent only) or
            rule score (uncertain_far, farthest). ``reason`` says in plain words why the frame was chosen
            and where its estimate stands in the video.

        A strategy that reads the estimate (agent, Worst, uncertain_far) with no frame estimated falls back
        to the frame farthest from the annotated ones and says so; with some frames unknown it chooses
        among the others (an unknown frame counts as the best estimated one, so it is never "worst").
        """
        values = np.array([np.nan if q is None else float(q) for q in quality], dtype=np.float64)
        known = ~np.isnan(values)
        uses_quality = self.strategy in QUALITY_STRATEGIES
        if uses_quality and not known.any():
            return self._without_estimate(len(values), counts, annotated, note)
        filled = values.copy()
        filled[~known] = values[known].max() if known.any() else 1.0
        answer = self._answer(filled.astype(np.float32), counts, annotated)
        missing = int((~known).sum())
        if uses_quality and missing:
            why = f": {note}" if note else ""
            answer["reason"] += f"; {missing} frame{'s' if missing > 1 else ''} without an estimate{why}"
        frame = answer["frame"]
        if known[frame] and answer["strategy"] != "start":
            place = describe_rank(quality_ranks(quality)[frame], int(known.sum()))
            if "estimated quality" not in answer["reason"]:
                place = f"estimated quality {values[frame]:.2f}, {place}"
            answer["reason"] += f" ({place})"
        return answer

    def _answer(self, quality: np.ndarray, counts: np.ndarray, annotated: list[int]) -> dict[str, Any]:
        """The strategy's frame, with every frame estimated."""
        if self._rule is not None and not isinstance(self._rule, WorstStrategy):
            return self._rule_answer(quality, counts, annotated)
        if self._agent is not None:
            scores = np.asarray(self._agent.scores(quality, counts), dtype=np.float64)
            frame = self._agent.recommend(quality, counts, annotated)
            return {
                "frame": int(frame),
                "strategy": "agent",
                "reason": self._agent.reason(frame, quality, counts, annotated),
                "value": float(scores[frame]),
                "scores": [float(s) for s in scores],
            }
        frame = WorstStrategy().recommend(quality, counts, annotated)
        return {
            "frame": int(frame),
            "strategy": "worst",
            "reason": WorstStrategy().reason(frame, quality, counts, annotated),
            "value": float(quality[frame]),
            "scores": None,
        }

    def _without_estimate(
        self, num_frames: int, counts: np.ndarray, annotated: list[int], note: str | None
    ) -> dict[str, Any]:
        """The recommendation of a strategy that reads the estimate when no frame has one."""
        why = f"no quality estimate ({note})" if note else "no quality estimate"
        if not len(annotated):
            frame = num_frames // 2
            reason = (
                f"{why}: start in the middle, where both directions propagate; a round measures every frame"
            )
        else:
            farthest = FarthestStrategy()
            frame = farthest.recommend(np.ones(num_frames), counts, annotated)
            reason = (
                f"{why}: run a round to measure every frame again; until then, the frame "
                + farthest.reason(frame, np.ones(num_frames), counts, annotated)
            )
        return {
            "frame": int(frame),
            "strategy": self.strategy,
            "reason": reason,
            "value": None,
            "scores": None,
        }

    def _rule_answer(self, quality: np.ndarray, counts: np.ndarray, annotated: list[int]) -> dict[str, Any]:
        """The recommendation of a rule and why, in plain words."""
        assert self._rule is not None
        if not len(annotated):  # starting masks, no round yet: the rules measure from annotated frames
            frame = len(quality) // 2
            return {
                "frame": frame,
                "strategy": self.strategy,
                "reason": "no frame annotated yet: start in the middle, where both directions propagate",
                "value": None,
                "scores": None,
            }
        self._rule.reset(len(quality), int(annotated[0]))  # Linspace's candidates are per video
        frame = int(self._rule.recommend(quality, counts, annotated))
        scores = getattr(self._rule, "scores", None)
        values = None if scores is None else np.asarray(scores(quality, counts, annotated), dtype=np.float64)
        return {
            "frame": frame,
            "strategy": self.strategy,
            "reason": self._rule.reason(frame, quality, counts, annotated),
            "value": None if values is None else float(values[frame]),
            "scores": None if values is None else [float(v) for v in values],
        }

    @staticmethod
    def first_frame(num_frames: int) -> dict[str, Any]:
        """The recommendation before any result exists: start in the middle, where both directions propagate."""
        frame = num_frames // 2
        return {
            "frame": frame,
            "strategy": "start",
            "reason": "no result yet: scribble on any frame where the objects are visible",
            "value": None,
            "scores": None,
        }
