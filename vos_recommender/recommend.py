"""Which frame should I annotate next? For your own video and your own segmentation model.

Give the frames, your model's current result (label masks or per-object probabilities) and the frames
you annotated so far; the wild quality estimator predicts every frame's quality, the trained agent
scores every frame, and the best-scoring frame is returned. With ``--strategy`` a rule chooses instead:
``worst`` (lowest estimated quality), ``uncertain_far`` (far from annotated frames and likely wrong:
``(1 - q) x distance``), ``farthest``, ``stride`` (every T/5 frames from the first annotated frame),
``linspace`` or ``random``; ``stride``, ``farthest``, ``linspace`` and ``random`` need no quality
estimator; ``ranker`` (with ``--ranker``, a gain ranker of ``python -m vos_recommender.training.ranker``)
picks the frame whose correction it predicts to raise the mean J&F most. Without an agent and without
``--strategy`` the recommendation is ``uncertain_far``, the best measured rule with an estimator
(``vos_recommender.strategies.DEFAULT_RULE``). The one-step lookahead needs the ground truth and is
refused. The answer says why the frame was chosen in plain words.

Python::

    from vos_recommender.recommend import recommend_next_frame
    frame = recommend_next_frame("video/frames", "video/masks", [0, 12], "runs/recommender/final_model.zip",
                                 quality_path="runs/quality/quality_estimator.pt")

Command line::

    python -m vos_recommender.recommend --frames video/frames --masks video/masks --annotated 0,12 \\
        --agent runs/recommender/final_model.zip --quality runs/quality/quality_estimator.pt
    python -m vos_recommender.recommend --frames video/frames --masks video/masks --annotated 0,12 \\
        --strategy uncertain_far --quality runs/quality/quality_estimator.pt
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vos_recommender.strategies import DEPLOYABLE_STRATEGIES

__all__ = [
    "RECOMMEND_STRATEGIES",
    "Recommendation",
    "load_masks_or_probs",
    "main",
    "recommend",
    "recommend_next_frame",
    "to_probs",
]

DEFAULT_QUALITY = "runs/quality/quality_estimator.pt"
#: Strategies ``recommend`` follows (``agent`` needs an agent, ``ranker`` a gain ranker); those marked
#: False need no quality.
RECOMMEND_STRATEGIES = DEPLOYABLE_STRATEGIES
MASK_SUFFIXES = (".png",)


@dataclasses.dataclass
class Recommendation:
    """The answer.

    Attributes:
        frame: Frame to annotate next.
        scores: Score of every frame (higher: better to annotate): the agent's Q-values, ``(1 - q) x
            distance`` for uncertain_far, the distance for farthest, the predicted gain for ranker; None for
            the other rules.
        quality: Predicted quality of every frame (the agent's input, with the annotation counts); None
            for a rule that does not read it.
        counts: Annotation count of every frame.
        strategy: The strategy that chose the frame.
        reason: Why, in plain words.
    """

    frame: int
    scores: np.ndarray | None
    quality: np.ndarray | None
    counts: np.ndarray
    strategy: str = "agent"
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "frame": self.frame,
            "strategy": self.strategy,
            "reason": self.reason,
            "scores": None if self.scores is None else [float(s) for s in self.scores],
            "quality": None if self.quality is None else [float(q) for q in self.quality],
            "counts": [int(c) for c in self.counts],
        }


def load_masks_or_probs(source: str | os.PathLike | np.ndarray) -> np.ndarray:
    """Read the current segmentation: a folder of label PNGs, a ``.npy`` file, or an array.

    Args:
        source: Folder of ``T`` mask PNGs (object ids as palette indices, sorted by name), a ``.npy``
            file, or an array: ``T x H x W`` integer labels or ``T x (O+1) x H x W`` float probabilities
            (channel 0 = background).

    Returns:
        The array as read.

    Raises:
        FileNotFoundError: If the path does not exist or the folder holds no PNG.
        ValueError: If the content is unreadable.
    """
    if isinstance(source, np.ndarray):
        return source
    path = Path(source)
    if path.is_dir():
        from vos_recommender.data.davis import read_mask

        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in MASK_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"no .png masks in {path}")
        masks = [read_mask(p) for p in files]
        shapes = {m.shape for m in masks}
        if len(shapes) != 1:
            raise ValueError(f"masks in {path} differ in size: {sorted(shapes)}")
        return np.stack(masks)
    if path.is_file():
        try:
            return np.load(path, allow_pickle=False)
        except Exception as err:
            raise ValueError(f"cannot read {path} as a .npy array ({err})") from err
    raise FileNotFoundError(f"masks/probabilities not found: {path}")


def to_probs(masks_or_probs: np.ndarray, num_objects: int | None = None) -> np.ndarray:
    """``T x (O+1) x H x W`` float32 probabilities from labels (one-hot) or probabilities (checked).

    Args:
        masks_or_probs: ``T x H x W`` integer labels or ``T x (O+1) x H x W`` probabilities.
        num_objects: Object count ``O`` (default: the largest label, or the channels minus one).

    Raises:
        ValueError: On a wrong shape, negative labels or probabilities outside ``[0, 1]``.
    """
    array = np.asarray(masks_or_probs)
    if array.ndim == 3:
        if not np.issubdtype(array.dtype, np.integer):
            if not np.all(np.equal(np.mod(array, 1), 0)):
                raise ValueError("3-D masks must hold integer object ids (T x H x W)")
            array = array.astype(np.int64)
        if array.min(initial=0) < 0:
            raise ValueError("mask labels must be >= 0")
        objects = int(array.max(initial=0)) if num_objects is None else int(num_objects)
        if objects < 1:
            raise ValueError("the masks hold no object (every label is 0); give num_objects or real masks")
        if array.max(initial=0) > objects:
            raise ValueError(f"mask labels go up to {array.max()} but num_objects={objects}")
        return (array[:, None] == np.arange(objects + 1)[None, :, None, None]).astype(np.float32)
    if array.ndim == 4:
        probs = array.astype(np.float32)
        if probs.shape[1] < 2:
            raise ValueError(
                f"probabilities need background + objects channels (T x (O+1) x H x W), got {probs.shape}"
            )
        if num_objects is not None and probs.shape[1] != num_objects + 1:
            raise ValueError(
                f"probabilities have {probs.shape[1] - 1} object channels but num_objects={num_objects}"
            )
        if not np.all(np.isfinite(probs)) or probs.min() < -1e-6 or probs.max() > 1 + 1e-6:
            raise ValueError("probabilities must be finite and in [0, 1]")
        return np.clip(probs, 0.0, 1.0)
    raise ValueError(f"expected T x H x W labels or T x (O+1) x H x W probabilities, got shape {array.shape}")


def _load_frames(frames: str | os.PathLike | np.ndarray) -> np.ndarray:
    if isinstance(frames, np.ndarray):
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"frames must be T x H x W x 3, got shape {frames.shape}")
        return frames.astype(np.uint8) if frames.dtype != np.uint8 else frames
    from vos_recommender.data.davis import load_frame_folder

    return load_frame_folder(frames)[0]


def recommend(
    frames: str | os.PathLike | np.ndarray,
    masks_or_probs: str | os.PathLike | np.ndarray,
    annotated_frames: Sequence[int],
    agent_path: str | os.PathLike | Any | None = None,
    quality_path: str | os.PathLike | None = None,
    num_objects: int | None = None,
    quality: np.ndarray | None = None,
    strategy: str | None = None,
    ranker_path: str | os.PathLike | Any | None = None,
) -> Recommendation:
    """Recommend the next frame to annotate, with every frame's score.

    Args:
        frames: Folder of frames (sorted by name) or a ``T x H x W x 3`` uint8 array.
        masks_or_probs: Current segmentation: folder of label PNGs, ``.npy`` file or array
            (``T x H x W`` labels or ``T x (O+1) x H x W`` probabilities); see :func:`load_masks_or_probs`.
        annotated_frames: Frames annotated so far (repeats count twice); the order matters only to
            ``stride``, anchored at the first one.
        agent_path: Agent ``.zip`` (``python -m vos_recommender.train``) or a loaded ``RecurrentDQN``
            (needed by the ``agent`` strategy only).
        quality_path: Wild quality estimator checkpoint (default ``runs/quality/quality_estimator.pt``).
        num_objects: Object count (default: inferred from the masks/probabilities).
        quality: Per-frame quality to use instead of the estimator (e.g. your own estimate in [0, 1]).
        strategy: One of :data:`RECOMMEND_STRATEGIES` (case-insensitive; ``ours`` is ``agent``). None: the
            agent when one is given, else the best measured rule with an estimator,
            ``DEFAULT_RULE["with_quality"]`` (``uncertain_far``; the app does the same, docs/app.md).
        ranker_path: Gain ranker checkpoint (``python -m vos_recommender.training.ranker``) or a loaded
            ``GainRanker`` (needed by the ``ranker`` strategy only).

    Returns:
        A :class:`Recommendation`.

    Raises:
        FileNotFoundError: If an input file or folder is missing.
        ValueError: If inputs do not fit together (frame count vs mask count, sizes, annotated indices),
            the strategy is unknown or needs the ground truth, or ``agent`` has no agent.
    """
    name = _strategy_name(strategy, agent_path, ranker_path)
    video = _load_frames(frames)
    raw = load_masks_or_probs(masks_or_probs)
    num_frames = video.shape[0]
    # Shapes are checked before the content: a crop of the masks may hold no object, and that message
    # would hide the real problem.
    frames_name = "frames" if isinstance(frames, np.ndarray) else f"frames ({frames})"
    masks_name = (
        "masks_or_probs" if isinstance(masks_or_probs, np.ndarray) else f"masks_or_probs ({masks_or_probs})"
    )
    if raw.ndim not in (3, 4):
        raise ValueError(
            f"{masks_name}: expected T x H x W labels or T x (O+1) x H x W probabilities, got shape {raw.shape}"
        )
    if raw.shape[0] != num_frames:
        raise ValueError(
            f"{num_frames} frames but {raw.shape[0]} masks/probability maps: they must match one to one "
            f"({frames_name}, {masks_name})"
        )
    if tuple(raw.shape[-2:]) != tuple(video.shape[1:3]):
        raise ValueError(
            f"{frames_name} are {tuple(video.shape[1:3])} (H, W) but {masks_name} are {tuple(raw.shape[-2:])}: "
            "the masks must cover the whole frames (no crop or resize)"
        )
    probs = to_probs(raw, num_objects)
    counts = np.zeros(num_frames, dtype=np.int64)
    for index in annotated_frames:
        if isinstance(index, bool) or not float(index).is_integer():
            raise ValueError(f"annotated frame {index!r} is not an integer index")
        if not 0 <= int(index) < num_frames:
            raise ValueError(
                f"annotated frame {index} is out of range: the video has {num_frames} frames (0..{num_frames - 1})"
            )
        counts[int(index)] += 1

    if quality is None and RECOMMEND_STRATEGIES[name]:
        from vos_recommender.backends.base import VOSResult, probs_to_masks
        from vos_recommender.quality.estimator import WildQuality

        checkpoint = Path(quality_path) if quality_path is not None else Path(DEFAULT_QUALITY)
        if not checkpoint.is_file():
            raise FileNotFoundError(
                f"quality estimator checkpoint not found: {checkpoint} (train one with "
                "python -m vos_recommender.training.quality, or pass quality= / --quality)"
            )
        estimator = WildQuality(checkpoint=checkpoint)
        result = VOSResult(masks=probs_to_masks(probs), probs=probs, elapsed=0.0)
        quality = estimator(video, result, None, probs.shape[1] - 1)
    if quality is not None:
        quality = np.asarray(quality, dtype=np.float32).reshape(-1)
        if quality.size != num_frames:
            raise ValueError(f"{quality.size} quality values for {num_frames} frames")

    from vos_recommender.strategies import AgentStrategy, build_strategy

    annotated = [int(a) for a in annotated_frames]
    if name != "agent" and not annotated:
        raise ValueError(f"the {name} strategy recommends from the annotated frames: give at least one")
    # A rule that ignores the quality sees a neutral one (it is not reported).
    seen = quality if quality is not None else np.ones(num_frames, dtype=np.float32)
    chooser = (
        AgentStrategy(agent_path) if name == "agent" else build_strategy(name, seed=None, ranker=ranker_path)
    )
    if annotated:
        chooser.reset(num_frames, annotated[0])
    frame = int(chooser.recommend(seen, counts, annotated))
    if name == "agent":
        scores = chooser.scores(seen, counts)
    elif hasattr(chooser, "scores"):
        scores = np.asarray(chooser.scores(seen, counts, annotated), dtype=np.float64)
    else:
        scores = None
    reason = chooser.reason(frame, seen, counts, annotated)
    return Recommendation(frame, scores, quality, counts, strategy=name, reason=reason)


def _strategy_name(strategy: str | None, agent_path: Any, ranker_path: Any = None) -> str:
    """The strategy to follow, checked (errors name the known strategies)."""
    from vos_recommender.strategies import DEFAULT_RULE, deployable_strategy_name

    if strategy is None:
        return "agent" if agent_path is not None else DEFAULT_RULE["with_quality"]
    return deployable_strategy_name(strategy, "strategy", agent=agent_path, ranker=ranker_path)


def recommend_next_frame(
    frames: str | os.PathLike | np.ndarray,
    masks_or_probs: str | os.PathLike | np.ndarray,
    annotated_frames: Sequence[int],
    agent_path: str | os.PathLike | Any | None = None,
    quality_path: str | os.PathLike | None = None,
    num_objects: int | None = None,
    return_scores: bool = False,
    strategy: str | None = None,
) -> int | tuple[int, np.ndarray | None]:
    """The next frame to annotate (and, with ``return_scores``, every frame's score).

    Args:
        frames: Folder of frames or ``T x H x W x 3`` array.
        masks_or_probs: Folder of label PNGs, ``.npy`` file or array of labels / probabilities.
        annotated_frames: Frames annotated so far.
        agent_path: Trained agent ``.zip`` (or a loaded model).
        quality_path: Wild quality estimator checkpoint (default ``runs/quality/quality_estimator.pt``).
        num_objects: Object count (default: inferred).
        return_scores: Also return the ``T`` scores.
        strategy: See :func:`recommend`.

    Returns:
        The frame index, or ``(frame, scores)``.
    """
    answer = recommend(
        frames, masks_or_probs, annotated_frames, agent_path, quality_path, num_objects, strategy=strategy
    )
    return (answer.frame, answer.scores) if return_scores else answer.frame


def _parse_annotated(text: str) -> list[int]:
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part != ""]
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"--annotated must be comma-separated frame indices, got {text!r}"
        ) from err


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; prints the frame (and JSON details with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", required=True, help="folder of the video's frames (sorted by name)")
    parser.add_argument(
        "--masks", required=True, help="folder of label PNGs, or a .npy of labels / probabilities"
    )
    parser.add_argument(
        "--annotated", required=True, type=_parse_annotated, help="annotated frames, e.g. 0,12"
    )
    parser.add_argument(
        "--strategy",
        default=None,
        help=f"which frame to recommend: {', '.join(RECOMMEND_STRATEGIES)} "
        "(default: agent with --agent, else uncertain_far)",
    )
    parser.add_argument(
        "--agent",
        default=None,
        help="trained agent .zip (python -m vos_recommender.train; for --strategy agent)",
    )
    parser.add_argument(
        "--ranker",
        default=None,
        help="gain ranker checkpoint (python -m vos_recommender.training.ranker; for --strategy ranker)",
    )
    parser.add_argument(
        "--quality", default=None, help=f"wild quality estimator checkpoint (default {DEFAULT_QUALITY})"
    )
    parser.add_argument("--num-objects", type=int, default=None, help="object count (default: inferred)")
    parser.add_argument("--json", action="store_true", help="print frame, scores, quality and counts as JSON")
    args = parser.parse_args(argv)
    try:
        answer = recommend(
            args.frames,
            args.masks,
            args.annotated,
            args.agent,
            args.quality,
            args.num_objects,
            strategy=args.strategy,
            ranker_path=args.ranker,
        )
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(answer.to_dict()))
    else:
        print(answer.frame)
        print(f"why: {answer.reason}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
