"""Frame recommendation strategies: the paper's baselines (Random, Linspace, Worst), the rules a person
would try (Stride, Farthest, UncertainFar), the one-step-lookahead ceiling, the learned agent and the gain
ranker (trained on what annotating each frame actually gained).

Every strategy answers one question per round: given the per-frame quality ``q`` (true J&F in the
oracle setting, the estimator's prediction in the wild), the annotation counts ``h`` and the frames
annotated so far (in order, the first one being round 1's), which frame should the user correct next?

The rules read the annotated frames from that list and measure distances in frames
(:func:`annotation_distance`). The lookahead is not a rule a user can follow: it tries every candidate
frame on the interactive session itself, with the simulated user and the ground truth, so it exists for
evaluation only (``uses_ground_truth``; the app and ``recommend`` refuse it).
"""

from __future__ import annotations

import abc
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from vos_recommender.envs.observation import COUNT_ROW, build_observation
from vos_recommender.utils.registry import Registry

if TYPE_CHECKING:
    from vos_recommender.session import InteractionSession

__all__ = [
    "AgentStrategy",
    "DEFAULT_RULE",
    "DEPLOYABLE_STRATEGIES",
    "FarthestStrategy",
    "LinspaceStrategy",
    "LookaheadStrategy",
    "RandomStrategy",
    "RankerStrategy",
    "STRATEGIES",
    "RecommendationStrategy",
    "StrideStrategy",
    "UncertainFarStrategy",
    "WorstStrategy",
    "annotation_distance",
    "build_strategy",
    "deployable_strategy_name",
    "frame_observation",
    "linspace_candidates",
    "stride_order",
]


def frame_observation(
    quality: np.ndarray, counts: np.ndarray, max_frames: int | None = None, max_count: int | None = None
) -> np.ndarray:
    """The environment's observation of one video (see :func:`vos_recommender.envs.observation.build_observation`).

    Args:
        quality: ``T`` per-frame quality in ``[0, 1]``.
        counts: ``T`` annotation counts.
        max_frames: Pad to this many columns (default ``T``).
        max_count: Clip the counts to this value, as the environment clips them to its ``num_rounds``
            (default: no clip).

    Returns:
        ``3 x max_frames`` float32 array.
    """
    return build_observation(quality, counts, max_frames=max_frames, max_count=max_count)


def annotation_distance(num_frames: int, annotated: Sequence[int]) -> np.ndarray:
    """Distance in frames from every frame to the nearest annotated frame.

    Args:
        num_frames: Frames of the video.
        annotated: Frames annotated so far (repeats allowed).

    Returns:
        ``num_frames`` int64 distances (0 on annotated frames).

    Raises:
        ValueError: If no frame is annotated or one lies outside the video.
    """
    marks = np.asarray([int(a) for a in annotated], dtype=np.int64)
    if marks.size == 0:
        raise ValueError("annotated: no annotated frame to measure distances from (round 1 annotates one)")
    if marks.min() < 0 or marks.max() >= num_frames:
        raise ValueError(
            f"annotated: frames {sorted(set(marks.tolist()))} outside a video of {num_frames} frames"
        )
    frames = np.arange(int(num_frames), dtype=np.int64)
    return np.abs(frames[:, None] - np.unique(marks)[None, :]).min(axis=1)


def _first_by(*keys: np.ndarray) -> int:
    """Index of the first frame in the order of ``keys`` (the first key ascending, then the next, ...;
    remaining ties: the lowest index)."""
    return int(np.lexsort(tuple(reversed(keys)))[0])


class RecommendationStrategy(abc.ABC):
    """Chooses the next frame to annotate."""

    name: str = "base"
    #: True for a strategy that needs the ground truth (evaluation only; the app and ``recommend``
    #: refuse it).
    uses_ground_truth: bool = False

    def reset(self, num_frames: int, first_frame: int) -> None:
        """Start a new interactive session.

        Args:
            num_frames: Frames of the video.
            first_frame: Frame annotated in round 1.
        """
        return None  # stateless strategies need no set-up

    @abc.abstractmethod
    def recommend(self, quality: np.ndarray, counts: np.ndarray, annotated: Sequence[int]) -> int:
        """The next frame.

        Args:
            quality: ``T`` per-frame quality.
            counts: ``T`` annotation counts.
            annotated: Frames annotated so far, in order.

        Returns:
            A frame index in ``[0, T)``.
        """

    def reason(self, frame: int, quality: np.ndarray, counts: np.ndarray, annotated: Sequence[int]) -> str:
        """Why ``frame`` was chosen, in plain words (what the app and ``recommend`` show).

        Args:
            frame: The recommended frame.
            quality: ``T`` per-frame quality it was chosen on.
            counts: ``T`` annotation counts.
            annotated: Frames annotated so far, in order.
        """
        return f"{self.name} strategy"


def _away(frame: int, num_frames: int, annotated: Sequence[int]) -> str:
    """``frame``'s distance to the nearest annotated frame, in words."""
    distance = int(annotation_distance(num_frames, annotated)[frame])
    if distance == 0:
        return "an annotated frame"
    return f"{distance} frame{'s' if distance > 1 else ''} from the nearest annotated frame"


class RandomStrategy(RecommendationStrategy):
    """Uniform over all frames, repeats allowed (the paper's Random).

    Args:
        seed: Seed of the generator (None: fresh entropy).
    """

    name = "Random"

    def __init__(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    def recommend(self, quality: np.ndarray, counts: np.ndarray, annotated: Sequence[int]) -> int:
        """A uniformly random frame; see :meth:`RecommendationStrategy.recommend`."""
        return int(self.rng.integers(len(quality)))

    def reason(self, frame: int, quality: np.ndarray, counts: np.ndarray, annotated: Sequence[int]) -> str:
        """See :meth:`RecommendationStrategy.reason`."""
        return "a random frame"


def linspace_candidates(num_frames: int, first_frame: int, count: int = 8) -> list[int]:
    """``count`` evenly spaced frames that include ``first_frame``, ascending (duplicates removed).

    The spacing is ``num_frames / count``; positions ``first_frame + k * spacing`` wrap around the video
    and are rounded to the nearest frame.

    Args:
        num_frames: Frames of the video.
        first_frame: The frame annotated in round 1.
        count: Number of evenly spaced frames (the paper: 8, one per round).

    Returns:
        Sorted frame indices.
    """
    if not 0 <= first_frame < num_frames:
        raise ValueError(f"first_frame {first_frame} outside a video of {num_frames} frames")
    spacing = num_frames / count
    positions = {int(np.floor(first_frame + k * spacing + 0.5)) % num_frames for k in range(count)}
    return sorted(positions)


class LinspaceStrategy(RecommendationStrategy):
    """8 evenly spaced frames including the first annotated one, taken in ascending order, skipping
    annotated frames (the paper's Linspace). Once every candidate is annotated (more rounds than
    candidates, or very short videos) it picks the frame farthest from all annotated frames.

    Args:
        count: Number of evenly spaced frames (paper: 8).
    """

    name = "Linspace"

    def __init__(self, count: int = 8) -> None:
        self.count = int(count)
        self.candidates: list[int] = []

    def reset(self, num_frames: int, first_frame: int) -> None:
        """Compute the candidates of a new session; see :meth:`RecommendationStrategy.reset`."""
        self.candidates = linspace_candidates(num_frames, first_frame, self.count)

    def recommend(self, quality: np.ndarray, counts: np.ndarray, annotated: Sequence[int]) -> int:
        """The first candidate not annotated yet; see :meth:`RecommendationStrategy.recommend`."""
        if not self.candidates:
            self.reset(len(quality), int(annotated[0]) if annotated else 0)
        done = set(int(a) for a in annotated)
        for frame in self.candidates:
            if frame not in done:
                return frame
        frames = np.arange(len(quality))
        distance = np.min(np.abs(frames[:, None] - np.asarray(sorted(done))[None, :]), axis=1)
        return int(np.argmax(distance))

    def reason(self, frame: int, quality: np.ndarray, counts: np.ndarray, annotated: Sequence[int]) -> str:
        """See :meth:`RecommendationStrategy.reason`."""
        return f"the next of {self.count} evenly spaced frames"


class WorstStrategy(RecommendationStrategy):
    """The frame of lowest quality among frames not annotated yet (the paper's Worst; true quality in
    the oracle setting, predicted quality in the wild). Ties go to the earliest frame; when every
    frame is annotated, the lowest quality overall."""

    name = "Worst"

    def recommend(self, quality: np.ndarray, counts: np.ndarray, annotated: Sequence[int]) -> int:
        """See :meth:`RecommendationStrategy.recommend`."""
        quality = np.asarray(quality, dtype=np.float64)
        free = np.ones(len(quality), dtype=bool)
        free[[int(a) for a in annotated]] = False
        if not free.any():
            return int(np.argmin(quality))
        return int(np.flatnonzero(free)[np.argmin(quality[free])])

    def reason(self, frame: int, quality: np.ndarray, counts: np.ndarray, annotated: Sequence[int]) -> str:
        """See :meth:`RecommendationStrategy.reason`."""
        value = float(quality[frame])
        if int(frame) in {int(a) for a in annotated}:  # every frame annotated: the lowest overall
            return f"the lowest estimated quality ({value:.2f}); every frame is annotated already"
        return f"the lowest estimated quality ({value:.2f}) of the frames not annotated yet"


def stride_order(num_frames: int, first_frame: int, parts: int = 5) -> list[int]:
    """Every frame in the order of a fixed stride from the first annotated frame, wrapping around.

    The stride is ``max(1, round(num_frames / parts))``: ``first, first + s, first + 2s, ...`` modulo
    ``num_frames``; when that cycle closes before covering the video, the cycle shifted by one frame
    follows, and so on.

    Args:
        num_frames: Frames of the video.
        first_frame: The frame annotated in round 1.
        parts: The stride is a ``1 / parts`` of the video (default 5: every ``T/5`` frames).

    Returns:
        A permutation of ``range(num_frames)`` starting with ``first_frame``.

    Raises:
        ValueError: If ``first_frame`` is outside the video or ``parts < 1``.
    """
    if not 0 <= first_frame < num_frames:
        raise ValueError(f"first_frame {first_frame} outside a video of {num_frames} frames")
    if parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
    stride = max(1, round(num_frames / parts))
    order: list[int] = []
    seen: set[int] = set()
    for offset in range(stride):
        for k in range(num_frames):
            frame = (first_frame + offset + k * stride) % num_frames
            if frame not in seen:
                seen.add(frame)
                order.append(frame)
    return order


class StrideStrategy(RecommendationStrategy):
    """Every ``T/5`` frames: the next unannotated frame of :func:`stride_order` anchored at the first
    annotated frame (what a user does without advice). Once every frame is annotated, the frame after the
    latest annotated one in that order.

    Args:
        parts: The stride is ``round(T / parts)`` frames (default 5).
    """

    name = "Stride"

    def __init__(self, parts: int = 5) -> None:
        if int(parts) < 1:
            raise ValueError(f"parts must be >= 1, got {parts}")
        self.parts = int(parts)

    def recommend(self, quality: np.ndarray, counts: np.ndarray, annotated: Sequence[int]) -> int:
        """See :meth:`RecommendationStrategy.recommend`; the first entry of ``annotated`` is the anchor."""
        if not len(annotated):
            raise ValueError("annotated: the stride is anchored at the first annotated frame; none given")
        order = stride_order(len(quality), int(annotated[0]), self.parts)
        done = {int(a) for a in annotated}
        for frame in order:
            if frame not in done:
                return frame
        return order[(order.index(int(annotated[-1])) + 1) % len(order)]

    def reason(self, frame: int, quality: np.ndarray, counts: np.ndarray, annotated: Sequence[int]) -> str:
        """See :meth:`RecommendationStrategy.reason`."""
        step = max(1, round(len(quality) / self.parts))
        return (
            f"the next frame at a stride of {step} frame{'s' if step > 1 else ''} "
            f"(1/{self.parts} of the video) from frame {int(annotated[0])}"
        )


class FarthestStrategy(RecommendationStrategy):
    """The frame farthest (in frames) from every annotated frame: the largest distance to the nearest
    annotated frame. Ties go to the earliest frame; when every frame is annotated (all distances 0), to
    the least annotated frame, then the earliest."""

    name = "Farthest"

    def scores(self, quality: np.ndarray, counts: np.ndarray, annotated: Sequence[int]) -> np.ndarray:
        """Every frame's distance to the nearest annotated frame."""
        return annotation_distance(len(quality), annotated).astype(np.float64)

    def recommend(self, quality: np.ndarray, counts: np.ndarray, annotated: Sequence[int]) -> int:
        """See :meth:`RecommendationStrategy.recommend`."""
        distance = self.scores(quality, counts, annotated)
        return _first_by(-distance, np.asarray(counts, dtype=np.float64))

    def reason(self, frame: int, quality: np.ndarray, counts: np.ndarray, annotated: Sequence[int]) -> str:
        """See :meth:`RecommendationStrategy.reason`."""
        return f"farthest from annotated frames: {_away(frame, len(quality), annotated)}"


class UncertainFarStrategy(RecommendationStrategy):
    """Likely wrong and far from the annotations: the arg-max of ``(1 - q) x d``, ``q`` the observed
    quality (true J&F in the oracle setting, the estimate in the wild) and ``d`` the distance in frames to
    the nearest annotated frame. Ties (also when every score is 0) go to the larger distance, then the
    lower quality, then the earliest frame: with every frame annotated that is Worst's lowest quality."""

    name = "UncertainFar"

    def scores(self, quality: np.ndarray, counts: np.ndarray, annotated: Sequence[int]) -> np.ndarray:
        """Every frame's ``(1 - q) x d``."""
        quality = np.clip(np.asarray(quality, dtype=np.float64), 0.0, 1.0)
        return (1.0 - quality) * annotation_distance(len(quality), annotated)

    def recommend(self, quality: np.ndarray, counts: np.ndarray, annotated: Sequence[int]) -> int:
        """See :meth:`RecommendationStrategy.recommend`."""
        score = self.scores(quality, counts, annotated)
        distance = annotation_distance(len(quality), annotated).astype(np.float64)
        return _first_by(-score, -distance, np.asarray(quality, dtype=np.float64))

    def reason(self, frame: int, quality: np.ndarray, counts: np.ndarray, annotated: Sequence[int]) -> str:
        """See :meth:`RecommendationStrategy.reason`."""
        return (
            f"far from annotated frames and likely wrong: {_away(frame, len(quality), annotated)}, "
            f"estimated quality {float(quality[frame]):.2f}"
        )


class LookaheadStrategy(RecommendationStrategy):
    """One-step lookahead (a ceiling for evaluation; it uses the ground truth): every candidate frame is
    tried on the interactive session with the simulated user's correction and undone
    (:meth:`~vos_recommender.session.InteractionSession.probe`), and the frame whose round gives the
    highest mean J&F (the largest gain) is chosen. Ties go to the earliest frame; annotated frames are
    candidates too (a repeat is sometimes the best choice).

    Cost: one backend round per candidate per recommendation (``probes`` counts them).

    Args:
        session: The started session whose rounds are being chosen (in evaluation, the environment's
            ``session``).
        candidates: Try at most this many frames: every frame of videos up to that length, else that
            many evenly spaced ones (``round(linspace(0, T - 1, candidates))``). None: every frame.

    Raises:
        ValueError: If ``candidates`` is below 1.
    """

    name = "Lookahead"
    uses_ground_truth = True

    def __init__(self, session: InteractionSession, candidates: int | None = None) -> None:
        if candidates is not None and int(candidates) < 1:
            raise ValueError(f"candidates must be >= 1 (or None: every frame), got {candidates}")
        self.session = session
        self.candidates = None if candidates is None else int(candidates)
        self.probes = 0
        self.last_scores: np.ndarray | None = None

    def candidate_frames(self, num_frames: int) -> list[int]:
        """The frames tried in a video of ``num_frames`` frames."""
        if self.candidates is None or self.candidates >= num_frames:
            return list(range(num_frames))
        return sorted({int(round(x)) for x in np.linspace(0, num_frames - 1, self.candidates)})

    def recommend(self, quality: np.ndarray, counts: np.ndarray, annotated: Sequence[int]) -> int:
        """See :meth:`RecommendationStrategy.recommend`; ``last_scores`` keeps every tried frame's mean
        J&F after its round (NaN for frames not tried).

        Raises:
            RuntimeError: If the session has not started.
            ValueError: If the session's video does not have ``len(quality)`` frames.
            BackendStateError: If the session's backend cannot be probed (the message names it).
        """
        video = self.session.video
        if video is None:
            raise RuntimeError("the lookahead needs a started session (InteractionSession.start)")
        if video.num_frames != len(quality):
            raise ValueError(
                f"the lookahead's session holds video {video.name!r} of {video.num_frames} frames, "
                f"but the quality has {len(quality)}"
            )
        scores = np.full(len(quality), np.nan)
        for frame in self.candidate_frames(len(quality)):
            scores[frame] = float(self.session.probe(frame).jf.mean())
            self.probes += 1
        self.last_scores = scores
        return int(np.nanargmax(scores))

    def reason(self, frame: int, quality: np.ndarray, counts: np.ndarray, annotated: Sequence[int]) -> str:
        """See :meth:`RecommendationStrategy.reason`."""
        if self.last_scores is None or np.isnan(self.last_scores[frame]):
            return "one-step lookahead"
        return (
            f"one-step lookahead: mean J&F {self.last_scores[frame]:.3f} after correcting it (ground truth)"
        )


class AgentStrategy(RecommendationStrategy):
    """The learned agent: greedy arg-max of its Q-values over the video's frames (repeats allowed).

    The observation is built in the layout the agent was trained on (its ``observation_layout``, saved in
    the checkpoint: ``paper``, or ``context`` for an agent trained with ``env.episode.observation
    context``), so an agent sees here what its environment showed it in training.

    Args:
        model: A :class:`~vos_recommender.agent.RecurrentDQN` or the path of its ``.zip``.
        max_count: Clip annotation counts to this value, as the environment does with its ``num_rounds``
            (default: the bound of the agent's observation space, i.e. the ``num_rounds`` it trained with).
    """

    name = "Ours"

    def __init__(self, model: object, max_count: int | None = None) -> None:
        if isinstance(model, (str, os.PathLike)):
            from vos_recommender.agent import RecurrentDQN

            model = RecurrentDQN.load(model, device="cpu")
        self.model = model
        if max_count is None:
            space = getattr(model, "observation_space", None)
            high = getattr(space, "high", None)
            if high is not None and np.ndim(high) == 2 and np.isfinite(high[COUNT_ROW]).all():
                max_count = int(np.max(high[COUNT_ROW]))
        self.max_count = max_count
        #: The agent's observation layout (checkpoints written before layouts existed read ``paper``).
        self.layout = str(getattr(model, "observation_layout", "paper"))

    def observation(self, quality: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """The agent's observation of a video in the given state, in its layout (counts clipped to
        ``max_count``)."""
        return build_observation(quality, counts, max_count=self.max_count, layout=self.layout)

    def scores(self, quality: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Q-value of every frame.

        Args:
            quality: ``T`` per-frame quality.
            counts: ``T`` annotation counts.
        """
        return self.model.q_values(self.observation(quality, counts))  # type: ignore[attr-defined]

    def recommend(self, quality: np.ndarray, counts: np.ndarray, annotated: Sequence[int]) -> int:
        """The agent's greedy frame (its policy's arg-max); see :meth:`RecommendationStrategy.recommend`."""
        action, _ = self.model.predict(self.observation(quality, counts), deterministic=True)  # type: ignore[attr-defined]
        return int(action)

    def reason(self, frame: int, quality: np.ndarray, counts: np.ndarray, annotated: Sequence[int]) -> str:
        """See :meth:`RecommendationStrategy.reason`."""
        value = float(self.scores(quality, counts)[frame])
        return f"the learned agent expects correcting it to help most (Q = {value:.3f})"


class RankerStrategy(RecommendationStrategy):
    """The gain ranker: the frame whose correction it predicts to raise the mean J&F most
    (:class:`~vos_recommender.agent.ranker.GainRanker`, trained on measured gains by
    ``python -m vos_recommender.training.ranker``). Ties go to the earliest frame; annotated frames are
    candidates too.

    Args:
        model: A :class:`~vos_recommender.agent.ranker.GainRanker` or the path of its checkpoint.
    """

    name = "Ranker"

    def __init__(self, model: object) -> None:
        if isinstance(model, (str, os.PathLike)):
            from vos_recommender.agent.ranker import GainRanker

            model = GainRanker.load(model)
        self.model = model

    def scores(self, quality: np.ndarray, counts: np.ndarray, annotated: Sequence[int] = ()) -> np.ndarray:
        """Predicted gain in mean J&F of correcting each frame next."""
        return self.model.scores(quality, counts)  # type: ignore[attr-defined]

    def recommend(self, quality: np.ndarray, counts: np.ndarray, annotated: Sequence[int]) -> int:
        """See :meth:`RecommendationStrategy.recommend`."""
        return int(np.argmax(self.scores(quality, counts, annotated)))

    def reason(self, frame: int, quality: np.ndarray, counts: np.ndarray, annotated: Sequence[int]) -> str:
        """See :meth:`RecommendationStrategy.reason`."""
        gain = float(self.scores(quality, counts, annotated)[frame]) * 100
        return (
            f"correcting it is expected to help most (about {gain:+.1f} J&F points over the video): "
            f"{_away(frame, len(quality), annotated)}, estimated quality {float(quality[frame]):.2f}"
        )


def _ranker_strategy(ranker: object | None = None, **_: object) -> RankerStrategy:
    if ranker is None:
        raise ValueError(
            "the 'ranker' strategy needs a trained gain ranker (python -m vos_recommender.training.ranker)"
        )
    return RankerStrategy(ranker)


def _agent_strategy(seed: int | None = None, agent: object | None = None, **_: object) -> AgentStrategy:
    if agent is None:
        raise ValueError("the 'ours' strategy needs a trained agent")
    return AgentStrategy(agent)


def _lookahead_strategy(
    session: InteractionSession | None = None, candidates: int | None = None, **_: object
) -> LookaheadStrategy:
    if session is None:
        raise ValueError(
            "the 'lookahead' strategy needs the interactive session it tries frames on (evaluation only: "
            "it uses the ground truth)"
        )
    return LookaheadStrategy(session, candidates)


#: name -> builder called as ``builder(seed=..., agent=..., session=..., candidates=..., ranker=...)``; names are
#: case-insensitive; ``agent`` is an alias of ``ours``.
STRATEGIES: Registry[RecommendationStrategy] = Registry(
    "strategy",
    {
        "random": lambda seed=None, **_: RandomStrategy(seed),
        "linspace": lambda **_: LinspaceStrategy(),
        "stride": lambda **_: StrideStrategy(),
        "farthest": lambda **_: FarthestStrategy(),
        "worst": lambda **_: WorstStrategy(),
        "uncertain_far": lambda **_: UncertainFarStrategy(),
        "lookahead": _lookahead_strategy,
        "ranker": _ranker_strategy,
        "ours": _agent_strategy,
    },
    aliases={"agent": "ours"},
    case_sensitive=False,
)

#: The rule followed without an agent and without a named strategy (the app, ``recommend``), with a quality
#: estimate and without one. With an estimate, (1 - q) x distance: on the refined ``flow`` and the DAVIS
#: robot it is the best rule of Table 1's default wild cell and never behind the best rule by more than its
#: interval in a wild cell, while Worst on the same estimate falls behind the stride on shifted videos
#: (-1.88 [-3.52, -0.45]; docs/recommender.md, "The gain ranker"); in the app's own measurement it is
#: +0.011 [-0.019, +0.041] J&F@5 over the stride against Worst's +0.004 (docs/app.md).
#: Without an estimate the model's confidence misleads Worst, and the stride was ahead of every rule
#: (docs/app.md, "Is the recommendation worth following?").
DEFAULT_RULE = {"with_quality": "uncertain_far", "without_quality": "stride"}

#: The strategies that recommend without the ground truth (the ones the app and ``recommend`` follow),
#: each with whether its choice reads the quality estimate.
DEPLOYABLE_STRATEGIES = {
    "agent": True,
    "worst": True,
    "uncertain_far": True,
    "farthest": False,
    "stride": False,
    "linspace": False,
    "random": False,
    "ranker": True,
}


def deployable_strategy_name(
    strategy: str,
    option: str = "strategy",
    agent: object | None = None,
    ranker: object | None = None,
    where: str = "a video of your own",
) -> str:
    """Check the name of a strategy followed without the ground truth (the app, ``recommend``).

    Args:
        strategy: The name given (case-insensitive; ``ours`` is ``agent``).
        option: How the caller's user gave it (``--strategy``, ``strategy``), named in the errors.
        agent: The agent, if any (``agent`` needs one).
        ranker: The gain ranker, if any (``ranker`` needs one).
        where: What has no ground truth, for the lookahead's error.

    Returns:
        The canonical name, a key of :data:`DEPLOYABLE_STRATEGIES`.

    Raises:
        ValueError: If the strategy is unknown, needs the ground truth, or is ``agent`` or ``ranker``
            without its checkpoint; the message names ``option`` and the strategies that can be followed.
    """
    name = str(strategy).strip().lower()
    name = "agent" if name == "ours" else name
    known = ", ".join(DEPLOYABLE_STRATEGIES)
    if name in STRATEGIES and name not in DEPLOYABLE_STRATEGIES:
        raise ValueError(
            f"{option} {strategy}: it tries frames with the ground truth, which {where} does not have (an "
            f"evaluation ceiling: python -m vos_recommender.evaluate --strategies {name}); use one of {known}"
        )
    if name not in DEPLOYABLE_STRATEGIES:
        raise ValueError(f"{option} {strategy}: unknown; use one of {known}")
    if name == "agent" and agent is None:
        raise ValueError(f"{option} agent needs a trained agent (--agent; python -m vos_recommender.train)")
    if name == "ranker" and ranker is None:
        raise ValueError(
            f"{option} ranker needs a trained gain ranker (--ranker; python -m vos_recommender.training.ranker)"
        )
    return name


def build_strategy(
    name: str,
    seed: int | None = None,
    agent: object | None = None,
    session: InteractionSession | None = None,
    candidates: int | None = None,
    ranker: object | None = None,
) -> RecommendationStrategy:
    """A strategy by name: ``random``, ``linspace``, ``stride``, ``farthest``, ``worst``,
    ``uncertain_far``, ``lookahead`` (needs ``session``), ``ranker`` (needs ``ranker``) or ``ours`` (needs
    ``agent``).

    Args:
        name: Strategy name (case-insensitive).
        seed: Seed of ``random``.
        agent: Model or checkpoint path of ``ours``.
        session: The started interactive session ``lookahead`` tries frames on.
        candidates: ``lookahead``'s cap on the frames tried per round (None: every frame).
        ranker: Gain ranker or checkpoint path of ``ranker``.

    Raises:
        KeyError: If the name is unknown.
        ValueError: If ``ours`` is asked without an agent, ``lookahead`` without a session or ``ranker``
            without a ranker.
    """
    return STRATEGIES.build(
        name, seed=seed, agent=agent, session=session, candidates=candidates, ranker=ranker
    )
