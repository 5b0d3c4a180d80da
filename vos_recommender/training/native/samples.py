"""Training samples shared by the native models: a scribbled frame and a transfer pair near it.

One :class:`Sample` holds what both IPN and ATNet learn from, at the backend's working resolution:

* the *annotated* frame with the user's strokes and the object's previous result there (none in a first
  round: the generator's human-like scribble; otherwise a perturbed ground truth corrected by the
  simulated user), the interaction network's input;
* a *target* frame 1-3 frames away with the mask of its neighbour on the annotated side (a perturbed
  ground truth), the propagation / transfer network's input, guided by the annotated frame.

The videos and simulated previous masks are those of the ``learned`` backend's training
(:mod:`vos_recommender.training.videos`), shared rather than repeated; each model turns a sample into its
own input maps (:mod:`.ipn`, :mod:`.atnet`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from vos_recommender.training.videos import Video, load_videos, perturb_mask, soften

__all__ = ["Sample", "Video", "load_training_videos", "make_sample"]


@dataclasses.dataclass
class Sample:
    """One object on an annotated frame and on a target frame near it (all arrays ``H x W``).

    Attributes:
        frame: ``H x W x 3`` float32 RGB in ``[0, 1]`` of the annotated frame.
        strokes: DAVIS strokes drawn on the annotated frame this round (every object's).
        object_id: The object (1..O).
        prev: The object's previous probability on the annotated frame, or None in a first round.
        prev_labels: The previous label mask of the annotated frame (zeros in a first round).
        target: Ground truth of the object on the annotated frame (float32 0 / 1).
        next_frame: RGB of the target frame.
        neighbour: Probability of the object on the target's neighbour towards the annotated frame.
        neighbour_frame: RGB of that neighbour.
        next_target: Ground truth of the object on the target frame.
    """

    frame: np.ndarray
    strokes: list[dict[str, Any]]
    object_id: int
    prev: np.ndarray | None
    prev_labels: np.ndarray
    target: np.ndarray
    next_frame: np.ndarray
    neighbour: np.ndarray
    neighbour_frame: np.ndarray
    next_target: np.ndarray


def load_training_videos(root: str, split: str, working_height: int | None = None) -> list[Video]:
    """The split's videos at the backend's working resolution (frames taller than it are scaled down).

    Raises:
        FileNotFoundError: If ``root`` is not a folder.
        ValueError: If ``root`` is not a DAVIS-layout dataset or the split holds no video.
    """
    from pathlib import Path

    if not Path(root).is_dir():
        raise FileNotFoundError(
            f"--data {root}: no such folder (generate one with python -m vos_recommender.data.generate)"
        )
    try:
        probe = load_videos(root, split, 1.0)
    except (FileNotFoundError, OSError, KeyError, RuntimeError, ValueError) as err:
        raise ValueError(
            f"--data {root}: cannot read split {split!r} as a DAVIS-layout dataset: {err}"
        ) from err
    if working_height is None or probe[0].frames.shape[1] <= working_height:
        return probe
    return load_videos(root, split, working_height / probe[0].frames.shape[1])


def make_sample(videos: list[Video], rng: np.random.Generator, first_round_share: float = 0.4) -> Sample:
    """Draw one sample (consumes ``rng`` only, so a seeded generator repeats it)."""
    from vos_recommender.interaction.human import human_scribble
    from vos_recommender.interaction.robot import InteractiveRobot

    video = videos[int(rng.integers(len(videos)))]
    masks, num_frames = video.masks, len(video.frames)
    annotated = int(rng.integers(num_frames))
    object_id = int(rng.integers(1, video.num_objects + 1))
    gt = masks[annotated]
    if rng.random() < first_round_share:
        prev_labels = np.zeros_like(gt)
        scribble = human_scribble(masks[annotated : annotated + 1], 0, video.num_objects, video.name, rng)
        prev = None
    else:
        prev_labels = np.zeros_like(gt)
        for obj in range(1, video.num_objects + 1):
            prev_labels[perturb_mask(gt == obj, rng, strength=float(rng.uniform(0.5, 2.5)))] = obj
        scribble = InteractiveRobot().interact(video.name, prev_labels[None], gt[None], 0, video.num_objects)
        prev = soften(prev_labels == object_id, rng)
    distance = int(rng.integers(1, 4)) * (1 if rng.random() < 0.5 else -1)
    t = int(np.clip(annotated + distance, 0, num_frames - 1))
    neighbour_t = t - int(np.sign(t - annotated)) if t != annotated else t
    neighbour = soften(
        perturb_mask(masks[neighbour_t] == object_id, rng, strength=float(rng.uniform(0.0, 1.0))), rng
    )
    return Sample(
        frame=video.frames[annotated],
        strokes=list(scribble["scribbles"][0]),
        object_id=object_id,
        prev=prev,
        prev_labels=prev_labels,
        target=(gt == object_id).astype(np.float32),
        next_frame=video.frames[t],
        neighbour=neighbour,
        neighbour_frame=video.frames[neighbour_t],
        next_target=(masks[t] == object_id).astype(np.float32),
    )
