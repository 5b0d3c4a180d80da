"""Frame recommendation strategies: the paper's baselines (Random, Linspace, Worst) and the learned agent.

Every strategy answers one question per round: given the per-frame quality ``q`` (true J&F in the
oracle setting, the estimator's prediction in the wild), the annotation counts ``h`` and the frames
annotated so far (in order, the first one being round 1's), which frame should the user correct next?
"""

from __future__ import annotations

import abc
import os
from collections.abc import Sequence

import numpy as np

from vos_recommender.envs.observation import COUNT_ROW, build_observation
from vos_recommender.utils.registry import Registry

__all__ = [
    "AgentStrategy",
    "LinspaceStrategy",
    "RandomStrategy",
    "STRATEGIES",
    "RecommendationStrategy",
    "WorstStrategy",
    "build_strategy",
    "frame_observation",
    "linspace_candidates",
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


class RecommendationStrategy(abc.ABC):
    """Chooses the next frame to annotate."""

    name: str = "base"

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


class AgentStrategy(RecommendationStrategy):
    """The learned agent: greedy arg-max of its Q-values over the video's frames (repeats allowed).

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

    def observation(self, quality: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """The agent's observation of a video in the given state (counts clipped to ``max_count``)."""
        return frame_observation(quality, counts, max_count=self.max_count)

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


def _agent_strategy(seed: int | None = None, agent: object | None = None) -> AgentStrategy:
    if agent is None:
        raise ValueError("the 'ours' strategy needs a trained agent")
    return AgentStrategy(agent)


#: name -> builder called as ``builder(seed=..., agent=...)``; names are case-insensitive and ``agent``
#: is an alias of ``ours``.
STRATEGIES: Registry[RecommendationStrategy] = Registry(
    "strategy",
    {
        "random": lambda seed=None, agent=None: RandomStrategy(seed),
        "linspace": lambda seed=None, agent=None: LinspaceStrategy(),
        "worst": lambda seed=None, agent=None: WorstStrategy(),
        "ours": _agent_strategy,
    },
    aliases={"agent": "ours"},
    case_sensitive=False,
)


def build_strategy(name: str, seed: int | None = None, agent: object | None = None) -> RecommendationStrategy:
    """A strategy by name: ``random``, ``linspace``, ``worst`` or ``ours`` (needs ``agent``).

    Args:
        name: Strategy name (case-insensitive).
        seed: Seed of ``random``.
        agent: Model or checkpoint path of ``ours``.

    Raises:
        KeyError: If the name is unknown.
        ValueError: If ``ours`` is asked without an agent.
    """
    return STRATEGIES.build(name, seed=seed, agent=agent)
