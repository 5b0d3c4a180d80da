"""Train the wild-setting quality estimator on a backend's own results and report its correlation.

Usage::

    python -m vos_recommender.training.quality --data data/davis_synth --out runs/quality --backend flow

Sections run in this order: settings; sample collection (for every video: the human first scribble,
then simulated corrections on random frames, and after every round one crop per frame and object with
the object's true J&F, its mask being ``prob > 0.8``; ``--extra-data`` adds the training videos of
further datasets, e.g. videos of another style); training with MSE; evaluation on the held-out
split: Pearson correlation of the predicted and true per-object J&F and of the predicted per-frame
quality (mean over objects) with the true per-frame J&F of the label masks. The checkpoint
(``quality_estimator.pt``, written atomically), ``settings.json`` and ``metrics.json`` go to ``--out``.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from vos_recommender.config import parse_config
from vos_recommender.quality.estimator import QualityConfig, QualityNet, WildQuality, save_quality_checkpoint
from vos_recommender.utils.atomic import atomic_write_json


@dataclasses.dataclass
class QualityTrainSettings:
    """Every setting of a quality-estimator training run."""

    data: str = "data/davis_synth"
    """DAVIS-layout dataset root."""
    out: str = "runs/quality"
    """Run folder."""
    backend: str = "flow"
    """VOS backend whose outputs the estimator learns to judge."""
    backend_kwargs: str = "{}"
    """JSON constructor arguments of the backend (e.g. '{"checkpoint": "runs/learned_vos/learned_vos.pt"}')."""
    train_split: str = "train"
    """Split the samples are collected from."""
    extra_data: str = ""
    """Comma-separated further dataset roots whose ``train_split`` videos are added to the training
    samples (videos of another style, so the estimator also judges results on them)."""
    parts: int = 1
    """Cross-fitting: each dataset's training videos in this many contiguous parts (see ``leave_out``)."""
    leave_out: int = -1
    """With ``parts`` > 1: the part of every dataset's training videos left out of training, so this
    estimator's estimates on them are out of sample (as on new videos), e.g. for recording the gain
    ranker's wild quality on those videos (-1: none)."""
    eval_split: str = "val"
    """Held-out split for the correlation."""
    rounds: int = 4
    """Rounds per video (1 human scribble + corrections on random frames)."""
    passes: int = 2
    """Interaction episodes per training video (different random frames)."""
    backbone: str = "tiny"
    """'tiny' or 'resnet50'."""
    width: int = 16
    """First-block channels of the tiny backbone."""
    crop_size: int = 64
    """Crop side after resampling (released: 256)."""
    min_box: int = 32
    """Smallest box side before enlargement (released: 128)."""
    epochs: int = 15
    """Passes over the collected samples."""
    batch_size: int = 64
    """Samples per step."""
    lr: float = 1e-3
    """Adam learning rate."""
    seed: int = 0
    """Random seed."""
    threads: int = 2
    """Torch CPU threads."""

    def __post_init__(self) -> None:
        if self.parts < 1:
            raise ValueError(f"parts (--parts) must be >= 1, got {self.parts}")
        if self.leave_out != -1 and not (self.parts >= 2 and 0 <= self.leave_out < self.parts):
            raise ValueError(
                f"leave_out (--leave-out) {self.leave_out}: needs --parts >= 2 and a part in 0..parts-1 "
                f"(parts {self.parts})"
            )


def collect(
    settings: QualityTrainSettings,
    split: str,
    passes: int,
    rng: np.random.Generator,
    root: str | None = None,
    videos: Sequence[int] | None = None,
) -> dict:
    """Run the backend on a split of ``root`` (default ``settings.data``) and gather crops with their true J&F.

    ``videos``: indices into the split (default: all of them).

    Returns:
        ``{"crops": N x 4 x S x S, "target": N, "frame_key": N (video, pass, round, frame id),
        "objects": N, "frame_jf": {key: true per-frame J&F}}``.
    """
    from vos_recommender.backends import build_backend
    from vos_recommender.data.davis import DavisDataset
    from vos_recommender.interaction.robot import InteractiveRobot
    from vos_recommender.interaction.scribbles import scribble_frame
    from vos_recommender.metrics.jf import per_frame_jf

    cropper = WildQuality(net=QualityNet(_config(settings)))
    dataset = DavisDataset(root or settings.data, split=split)
    backend = build_backend(settings.backend, **json.loads(settings.backend_kwargs))
    robot = InteractiveRobot()
    crops, targets, keys, frame_jf = [], [], [], {}
    for index in range(len(dataset.sequences)) if videos is None else videos:
        video = dataset[index]
        for episode in range(passes):
            backend.start_video(video.frames, video.num_objects, video_id=video.name)
            if video.scribbles:
                scribble = video.scribbles[0]
                frame = scribble_frame(scribble)
            else:
                frame = int(rng.integers(video.num_frames))
                scribble = robot.interact(
                    video.name, np.zeros_like(video.masks), video.masks, frame, video.num_objects
                )
            for round_index in range(settings.rounds):
                result = backend.interact(scribble, frame)
                true_frame = per_frame_jf(video.masks, result.masks, video.num_objects)["JF"]
                for obj in range(1, video.num_objects + 1):
                    binary = (result.probs[:, obj] > 0.8).astype(np.uint8)
                    target = per_frame_jf((video.masks == obj).astype(np.uint8), binary, 1)["JF"]
                    obj_crops = cropper.crops(video.frames, result.probs[:, [0, obj]])
                    crops.append(obj_crops.astype(np.float16))
                    targets.append(target.astype(np.float32))
                    keys += [(index, episode, round_index, t) for t in range(video.num_frames)]
                for t in range(video.num_frames):
                    frame_jf[(index, episode, round_index, t)] = float(true_frame[t])
                frame = int(rng.integers(video.num_frames))
                scribble = robot.interact(video.name, result.masks, video.masks, frame, video.num_objects)
        print(f"[training.quality] collected {split} video {video.name}", flush=True)
    return {
        "crops": np.concatenate(crops),
        "target": np.concatenate(targets),
        "keys": keys,
        "frame_jf": frame_jf,
    }


def training_videos(settings: QualityTrainSettings, count: int) -> list[int]:
    """Indices of the training videos of a split of ``count`` videos: all of them, or without the part
    ``leave_out`` of ``parts`` contiguous parts (``numpy.array_split``'s: the first ones one longer)."""
    if settings.leave_out == -1:
        return list(range(count))
    left_out = set(np.array_split(np.arange(count), settings.parts)[settings.leave_out].tolist())
    return [index for index in range(count) if index not in left_out]


def extra_data_roots(settings: QualityTrainSettings) -> list[str]:
    """The roots of ``--extra-data`` (each must be a folder)."""
    roots = [part.strip() for part in settings.extra_data.split(",") if part.strip()]
    for root in roots:
        if not Path(root).is_dir():
            raise FileNotFoundError(f"--extra-data: {root!r} is not a dataset folder")
    return roots


def merge_samples(first: dict, second: dict, dataset_index: int) -> dict:
    """The samples of two :func:`collect` calls as one; ``second``'s frame keys get ``dataset_index`` in
    front, so the frames of two datasets never share a key."""
    keys = [(dataset_index, *key) for key in second["keys"]]
    frame_jf = dict(first["frame_jf"])
    frame_jf.update({(dataset_index, *key): value for key, value in second["frame_jf"].items()})
    return {
        "crops": np.concatenate([first["crops"], second["crops"]]),
        "target": np.concatenate([first["target"], second["target"]]),
        "keys": list(first["keys"]) + keys,
        "frame_jf": frame_jf,
    }


def _config(settings: QualityTrainSettings) -> QualityConfig:
    return QualityConfig(
        backbone=settings.backbone,
        width=settings.width,
        crop_size=settings.crop_size,
        min_box=settings.min_box,
    )


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation (NaN when either input is constant)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


@torch.no_grad()
def predict(net: QualityNet, crops: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Scores of stored crops (clipped to ``[0, 1]``)."""
    net.eval()
    out = [
        net(torch.from_numpy(crops[i : i + batch_size].astype(np.float32)))
        for i in range(0, len(crops), batch_size)
    ]
    return torch.cat(out).clamp(0, 1).numpy()


def evaluate(net: QualityNet, data: dict) -> dict:
    """Pearson r per object sample, per frame (prediction averaged over objects) and within a state (the
    frames of one round of one video, averaged over states)."""
    pred = predict(net, data["crops"])
    per_frame: dict[tuple, list[float]] = {}
    for key, value in zip(data["keys"], pred):
        per_frame.setdefault(key, []).append(float(value))
    frame_keys = sorted(per_frame)
    frame_pred = np.array([np.mean(per_frame[k]) for k in frame_keys])
    frame_true = np.array([data["frame_jf"][k] for k in frame_keys])
    # Within one state (video, episode, round): how well the estimate orders that state's frames, which
    # is what a recommender reading it needs; states of constant quality are skipped.
    states: dict[tuple, list[int]] = {}
    for index, key in enumerate(frame_keys):
        states.setdefault(tuple(key[:-1]), []).append(index)
    within = [pearson(frame_pred[rows], frame_true[rows]) for rows in states.values()]
    within = [r for r in within if np.isfinite(r)]
    return {
        "pearson_object": pearson(pred, data["target"]),
        "pearson_frame": pearson(frame_pred, frame_true),
        "pearson_within_state": float(np.mean(within)) if within else float("nan"),
        "mse_object": float(np.mean((pred - data["target"]) ** 2)),
        "num_object_samples": int(len(pred)),
        "num_frames": int(len(frame_keys)),
    }


def train(settings: QualityTrainSettings) -> dict:
    """Collect samples, train, evaluate, and write checkpoint, settings and metrics."""
    from vos_recommender.data.davis import DavisDataset

    extra_roots = extra_data_roots(settings)  # checked before anything is written or collected
    torch.manual_seed(settings.seed)
    torch.set_num_threads(settings.threads)
    rng = np.random.default_rng(settings.seed)
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "settings.json", dataclasses.asdict(settings), indent=2)
    tic = time.time()

    # ---- samples
    train_data = None
    for index, root in enumerate([settings.data, *extra_roots]):
        videos = training_videos(settings, len(DavisDataset(root, split=settings.train_split).sequences))
        samples = collect(settings, settings.train_split, settings.passes, rng, root, videos)
        train_data = samples if train_data is None else merge_samples(train_data, samples, index)
    eval_data = collect(settings, settings.eval_split, 1, rng)
    print(
        f"[training.quality] {len(train_data['target'])} training and {len(eval_data['target'])} held-out samples "
        f"({time.time() - tic:.0f}s)",
        flush=True,
    )

    # ---- training
    net = QualityNet(_config(settings))
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr)
    crops = torch.from_numpy(train_data["crops"].astype(np.float32))
    targets = torch.from_numpy(train_data["target"])
    generator = torch.Generator().manual_seed(settings.seed)
    for epoch in range(1, settings.epochs + 1):
        net.train()
        order = torch.randperm(len(crops), generator=generator)
        losses = []
        for start in range(0, len(order), settings.batch_size):
            idx = order[start : start + settings.batch_size]
            batch = crops[idx]
            if torch.rand(1, generator=generator).item() < 0.5:
                batch = batch.flip(-1)  # horizontal flip keeps the J&F
            loss = F.mse_loss(net(batch), targets[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        print(
            f"[training.quality] epoch {epoch}/{settings.epochs} train/mse {np.mean(losses):.4f}", flush=True
        )

    # ---- evaluation and outputs
    metrics = {
        "train": evaluate(net, train_data),
        "heldout": evaluate(net, eval_data),
        "backend": settings.backend,
        "seconds": time.time() - tic,
    }
    checkpoint = out / "quality_estimator.pt"
    save_quality_checkpoint(checkpoint, net, extra={"backend": settings.backend})
    metrics["checkpoint"] = str(checkpoint)
    atomic_write_json(out / "metrics.json", metrics, indent=2)
    print(
        f"[training.quality] held-out Pearson r: per object {metrics['heldout']['pearson_object']:.3f}, "
        f"per frame {metrics['heldout']['pearson_frame']:.3f}; wrote {checkpoint}",
        flush=True,
    )
    return metrics


def parse_args(argv: list[str] | None = None) -> QualityTrainSettings:
    """Build :class:`QualityTrainSettings` from an optional ``--config`` file and the command line (one flag per field)."""
    settings, _ = parse_config(QualityTrainSettings, argv, description=__doc__.splitlines()[0])
    return settings


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    try:
        settings = parse_args(argv)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    train(settings)


if __name__ == "__main__":
    main()
