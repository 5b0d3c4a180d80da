"""Train the ``learned`` VOS backend's interaction and propagation networks on DAVIS-layout videos.

Usage::

    python -m vos_recommender.training.learned --data data/davis_synth --out runs/learned_vos

Sections run in this order: settings, data (videos down-scaled to the network resolution), training
samples (simulated previous masks and scribbles), the training loop of both networks, and the
checkpoint (``<out>/learned_vos.pt``, written atomically) with ``<out>/settings.json`` and
``<out>/metrics.json`` next to it.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from vos_recommender.backends.learned import (
    InteractionNet,
    PropagationNet,
    resize_maps,
    save_checkpoint,
    scribble_maps,
)
from vos_recommender.config import parse_config
from vos_recommender.training.videos import Video, load_videos, perturb_mask, soften
from vos_recommender.utils.atomic import atomic_write_json


@dataclasses.dataclass
class TrainSettings:
    """Every setting of a training run."""

    data: str = "data/davis_synth"
    """DAVIS-layout dataset root (e.g. from ``vos_recommender.data.generate``)."""
    out: str = "runs/learned_vos"
    """Run folder for the checkpoint, settings and metrics."""
    split: str = "train"
    """Split to train on."""
    steps: int = 600
    """Optimisation steps for each network."""
    batch_size: int = 12
    """Samples per step."""
    lr: float = 2e-3
    """Adam learning rate."""
    width: int = 16
    """Channels of the first network level."""
    scale: float = 0.5
    """Network resolution relative to the video frames."""
    seed: int = 0
    """Random seed."""
    interaction_pool: int = 600
    """Interaction samples generated before training (objects of frames with simulated scribbles)."""
    log_every: int = 50
    """Print the running loss every this many steps."""
    threads: int = 2
    """Torch CPU threads."""


def interaction_samples(
    videos: list[Video], count: int, rng: np.random.Generator, thickness: int = 3
) -> list:
    """Interaction samples made with the same scribble sources the backend meets.

    Round-1 samples use the generator's human-like scribble on an empty prediction; correction
    samples run the simulated user on a perturbed prediction. Strokes are rasterised at full
    resolution and down-scaled exactly as :class:`~vos_recommender.backends.learned.LearnedBackend`
    does at run time.

    Returns:
        A list of ``(rgb 3xhxw, prev 1xhxw, pos, neg, target)`` tuples.
    """
    from vos_recommender.interaction.human import human_scribble
    from vos_recommender.interaction.robot import InteractiveRobot
    from vos_recommender.interaction.scribbles import rasterize_scribble

    robot = InteractiveRobot()
    samples = []
    while len(samples) < count:
        video = videos[int(rng.integers(len(videos)))]
        t = int(rng.integers(len(video.frames)))
        gt = video.full_masks[t]
        height, width = gt.shape
        h, w = video.size
        if rng.random() < 0.4:
            pred = np.zeros_like(gt)
            scribble = human_scribble(video.full_masks[t : t + 1], 0, video.num_objects, video.name, rng)
        else:
            pred = np.zeros_like(gt)
            for obj in range(1, video.num_objects + 1):
                pred[perturb_mask(gt == obj, rng, strength=float(rng.uniform(0.5, 2.5)))] = obj
            scribble = robot.interact(video.name, pred[None], gt[None], 0, video.num_objects)
        strokes = rasterize_scribble(scribble, 0, height, width, thickness=thickness)
        for obj in range(1, video.num_objects + 1):
            positive, negative = scribble_maps(strokes, obj)
            prev = soften(pred == obj, rng) if pred.any() else np.zeros_like(positive)
            samples.append(
                (
                    video.frames[t].transpose(2, 0, 1),
                    resize_maps(prev, h, w)[None],
                    resize_maps(positive, h, w, binary=True)[None],
                    resize_maps(negative, h, w, binary=True)[None],
                    (video.masks[t] == obj).astype(np.float32)[None],
                )
            )
    return samples


def propagation_sample(videos: list[Video], rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """One propagation sample: ``(rgb, prev prob, ref rgb, ref prob, target)``."""
    video = videos[int(rng.integers(len(videos)))]
    frames, masks, num_objects = video.frames, video.masks, video.num_objects
    num_frames = len(frames)
    t = int(rng.integers(num_frames))
    step = 1 if rng.random() < 0.5 else -1
    prev_t = int(np.clip(t - step, 0, num_frames - 1))
    ref_t = int(rng.integers(num_frames))
    obj = int(rng.integers(1, num_objects + 1))
    target = (masks[t] == obj).astype(np.float32)
    prev = soften(perturb_mask(masks[prev_t] == obj, rng, strength=float(rng.uniform(0.0, 1.0))), rng)
    ref = (masks[ref_t] == obj).astype(np.float32)
    return (
        frames[t].transpose(2, 0, 1),
        prev[None],
        frames[ref_t].transpose(2, 0, 1),
        ref[None],
        target[None],
    )


def batch(samples: list[tuple[np.ndarray, ...]]) -> list[torch.Tensor]:
    """Stack samples field by field into float tensors."""
    return [torch.from_numpy(np.stack(field)).float() for field in zip(*samples)]


def train(settings: TrainSettings) -> dict:
    """Train both networks, write the checkpoint and return the metrics."""
    torch.manual_seed(settings.seed)
    torch.set_num_threads(settings.threads)
    rng = np.random.default_rng(settings.seed)
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "settings.json", dataclasses.asdict(settings), indent=2)

    # ---- data
    videos = load_videos(settings.data, settings.split, settings.scale)
    print(
        f"[training.learned] {len(videos)} videos from {settings.data} ({settings.split}), scale {settings.scale}"
    )

    # ---- networks
    interaction = InteractionNet(width=settings.width)
    propagation = PropagationNet(width=settings.width)
    opt_i = torch.optim.Adam(interaction.parameters(), lr=settings.lr)
    opt_p = torch.optim.Adam(propagation.parameters(), lr=settings.lr)

    # ---- interaction samples (a fixed pool: the simulated user is the costly part)
    pool = interaction_samples(videos, settings.interaction_pool, rng)
    print(f"[training.learned] {len(pool)} interaction samples", flush=True)

    # ---- training loop
    history: dict[str, list[float]] = {"interaction": [], "propagation": []}
    tic = time.time()
    for step in range(1, settings.steps + 1):
        picks = rng.integers(len(pool), size=settings.batch_size)
        rgb, prev, pos, neg, target = batch([pool[i] for i in picks])
        loss_i = F.binary_cross_entropy_with_logits(interaction(rgb, prev, pos, neg), target)
        opt_i.zero_grad()
        loss_i.backward()
        opt_i.step()

        rgb, prev, ref_rgb, ref_prob, target = batch(
            [propagation_sample(videos, rng) for _ in range(settings.batch_size)]
        )
        loss_p = F.binary_cross_entropy_with_logits(propagation(rgb, prev, ref_rgb, ref_prob), target)
        opt_p.zero_grad()
        loss_p.backward()
        opt_p.step()

        history["interaction"].append(loss_i.item())
        history["propagation"].append(loss_p.item())
        if step % settings.log_every == 0 or step == settings.steps:
            window = slice(-settings.log_every, None)
            print(
                f"[training.learned] step {step}/{settings.steps} "
                f"loss/interaction {np.mean(history['interaction'][window]):.4f} "
                f"loss/propagation {np.mean(history['propagation'][window]):.4f} "
                f"({time.time() - tic:.0f}s)",
                flush=True,
            )

    # ---- checkpoint
    checkpoint = out / "learned_vos.pt"
    save_checkpoint(checkpoint, interaction, propagation, {"width": settings.width, "scale": settings.scale})
    head = max(1, settings.steps // 10)
    metrics = {
        "checkpoint": str(checkpoint),
        "seconds": time.time() - tic,
        "loss_interaction_first": float(np.mean(history["interaction"][:head])),
        "loss_interaction_last": float(np.mean(history["interaction"][-head:])),
        "loss_propagation_first": float(np.mean(history["propagation"][:head])),
        "loss_propagation_last": float(np.mean(history["propagation"][-head:])),
    }
    atomic_write_json(out / "metrics.json", metrics, indent=2)
    print(f"[training.learned] wrote {checkpoint}")
    return metrics


def parse_args(argv: list[str] | None = None) -> TrainSettings:
    """Build :class:`TrainSettings` from an optional ``--config`` file and the command line (one flag per field)."""
    settings, _ = parse_config(TrainSettings, argv, description=__doc__.splitlines()[0])
    return settings


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    train(parse_args(argv))


if __name__ == "__main__":
    main()
