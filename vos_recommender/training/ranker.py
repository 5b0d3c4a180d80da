"""Train the gain ranker on measured gains and compare its picks with the rules' on held-out states.

Usage::

    python -m vos_recommender.training.ranker --gains runs/gains/flow.npz --quality wild --out runs/ranker/wild.pt

The gains file (``python -m vos_recommender.training.gains``) holds states of interactive sessions and,
for every frame, what correcting it next gained. The ranker (:class:`~vos_recommender.agent.ranker.GainRanker`)
reads each state in its observation layout, with the true J&F as quality (``--quality oracle``) or the
estimator's (``wild``), and learns the gains by regression (``--loss mse``) or as a distribution over the
frames (``listwise``: cross-entropy against a softmax of the gains). The videos are split: ``--val-videos``
of them (the last ones) are held out, and on their states every rule's pick and the ranker's are scored by
the gain that pick actually measured (``metrics``: mean gain of the pick and its regret, best gain minus it,
in J&F points x 100). The checkpoint and ``<out>.json`` (settings and metrics) are written.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from torch.nn import functional as F

from vos_recommender.agent.ranker import GainRanker, RankerConfig
from vos_recommender.config import parse_config
from vos_recommender.strategies import build_strategy
from vos_recommender.training.gains import load_gains
from vos_recommender.utils.atomic import atomic_write_json

__all__ = ["RankerTrainSettings", "fit", "main", "observations", "rule_picks", "score_picks", "train"]

LOSSES = ("mse", "listwise")
#: Rules scored beside the ranker on the held-out states.
RULES = ("stride", "farthest", "worst", "uncertain_far")


@dataclasses.dataclass
class RankerTrainSettings:
    """Every setting of a ranker training run."""

    gains: str = "runs/gains/gains.npz"
    """Gains file (python -m vos_recommender.training.gains)."""
    out: str = "runs/ranker/ranker.pt"
    """Checkpoint; the settings and metrics go to the same name with .json."""
    quality: str = "wild"
    """Quality the ranker reads: oracle (true J&F) or wild (the estimator's, recorded in the gains file)."""
    layout: str = "context"
    """Observation layout: context (distances, position, round, slope) or paper (quality and counts only)."""
    recurrent: bool = True
    """Bidirectional LSTM over frames (false: each frame scored from its own features)."""
    width: int = 16
    """Width of the encoder, LSTM and head."""
    loss: str = "mse"
    """mse (regression on the gains) or listwise (cross-entropy against softmax(gain / temperature))."""
    temperature: float = 0.02
    """Listwise target's temperature, in J&F."""
    epochs: int = 400
    """Full-batch passes over the training states."""
    lr: float = 3e-3
    """Adam learning rate."""
    weight_decay: float = 1e-4
    """Adam weight decay."""
    val_videos: int = 4
    """Hold out the last this many videos of the gains file (0: train on all, no held-out metrics)."""
    seed: int = 0
    """Seed of the initial weights."""
    threads: int = 1
    """Torch CPU threads."""
    verbose: int = 1
    """0: quiet, 1: the loss every 100 epochs and the metrics."""

    def __post_init__(self) -> None:
        if self.quality not in ("oracle", "wild"):
            raise ValueError(f"quality (--quality) must be oracle or wild, got {self.quality!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss (--loss) must be one of {list(LOSSES)}, got {self.loss!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs (--epochs) must be >= 1, got {self.epochs}")
        if not self.temperature > 0:
            raise ValueError(f"temperature (--temperature) must be > 0, got {self.temperature}")


def state_quality(data: dict[str, np.ndarray], quality: str) -> np.ndarray:
    """Per-frame quality of every state: the true J&F (``oracle``) or the recorded estimate (``wild``).

    Raises:
        ValueError: If ``wild`` is asked of a file recorded without an estimator.
    """
    if quality == "oracle":
        return data["jf"]
    estimate = data["estimate"]
    if np.isnan(estimate[data["valid"]]).any():
        raise ValueError(
            "quality=wild: the gains file holds no estimated quality (record it with --quality-checkpoint)"
        )
    return estimate


def observations(ranker: GainRanker, quality: np.ndarray, data: dict[str, np.ndarray]) -> np.ndarray:
    """Every state's observation in the ranker's layout (``S x rows x N``)."""
    width = quality.shape[1]
    out = []
    for row in range(len(quality)):
        n = int(data["valid"][row].sum())
        out.append(ranker.observation(quality[row, :n], data["counts"][row, :n], max_frames=width))
    return np.stack(out)


def fit(
    ranker: GainRanker,
    obs: np.ndarray,
    gains: np.ndarray,
    epochs: int = 400,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    loss: str = "mse",
    temperature: float = 0.02,
    verbose: int = 0,
) -> list[float]:
    """Fit ``ranker`` to the gains of the given states (full batch, Adam).

    Args:
        ranker: The ranker (trained in place).
        obs: ``S x rows x N`` observations in its layout.
        gains: ``S x N`` measured gains (NaN where not measured: left out of the loss).
        epochs: Full-batch steps.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        loss: ``mse`` or ``listwise``.
        temperature: Listwise target's temperature (J&F units).
        verbose: Print the loss every 100 epochs.

    Returns:
        The loss of every epoch.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {list(LOSSES)}, got {loss!r}")
    x = th.as_tensor(obs, dtype=th.float32)
    target = th.as_tensor(np.nan_to_num(gains, nan=0.0), dtype=th.float32) * ranker.config.gain_scale
    measured = th.as_tensor(~np.isnan(gains)) & th.as_tensor(obs[:, -1] > 0.5)
    optimiser = th.optim.Adam(ranker.net.parameters(), lr=lr, weight_decay=weight_decay)
    history = []
    ranker.net.train()
    for epoch in range(epochs):
        optimiser.zero_grad()
        predicted = ranker.forward(x)
        if loss == "mse":
            value = ((predicted - target) ** 2)[measured].mean()
        else:
            scale = ranker.config.gain_scale * temperature
            wanted = F.softmax((target / scale).masked_fill(~measured, float("-inf")), dim=1)
            logits = F.log_softmax(predicted.masked_fill(~measured, float("-inf")), dim=1)
            value = -(wanted * logits.masked_fill(~measured, 0.0)).sum(dim=1).mean()
        value.backward()
        optimiser.step()
        history.append(float(value.detach()))
        if verbose and (epoch + 1) % 100 == 0:
            print(f"[ranker] epoch {epoch + 1}/{epochs} loss {history[-1]:.5f}", flush=True)
    ranker.net.eval()
    return history


def rule_picks(name: str, quality: np.ndarray, data: dict[str, np.ndarray]) -> np.ndarray:
    """The frame a rule picks in every state (its quality: ``quality``)."""
    picks = []
    for row in range(len(quality)):
        n = int(data["valid"][row].sum())
        annotated = [int(a) for a in data["annotated"][row] if a >= 0]
        rule = build_strategy(name)
        rule.reset(n, annotated[0])
        picks.append(rule.recommend(quality[row, :n], data["counts"][row, :n], annotated))
    return np.asarray(picks)


def score_picks(picks: np.ndarray, gains: np.ndarray) -> dict[str, float]:
    """Mean measured gain of the picks and mean regret (best gain minus it), both in J&F x 100."""
    taken = gains[np.arange(len(picks)), picks]
    best = np.nanmax(gains, axis=1)
    return {"gain": float(np.mean(taken) * 100), "regret": float(np.mean(best - taken) * 100)}


def train(settings: RankerTrainSettings) -> dict[str, Any]:
    """Train, score on the held-out videos, write the checkpoint and ``<out>.json``."""
    th.set_num_threads(settings.threads)
    tic = time.perf_counter()
    data = load_gains(settings.gains)
    quality = state_quality(data, settings.quality)
    ranker = GainRanker(
        RankerConfig(
            layout=settings.layout,
            num_rounds=int(data["num_rounds"]),
            recurrent=settings.recurrent,
            embed_dim=settings.width,
            lstm_dim=settings.width,
            head_dim=settings.width,
        ),
        seed=settings.seed,
    )
    obs = observations(ranker, quality, data)
    videos = np.unique(data["video"])
    if settings.val_videos >= len(videos):
        raise ValueError(
            f"val_videos (--val-videos) {settings.val_videos} leaves no training video of {len(videos)}"
        )
    held = (
        np.isin(data["video"], videos[len(videos) - settings.val_videos :]) if settings.val_videos else None
    )
    train_rows = ~held if held is not None else np.ones(len(obs), dtype=bool)
    history = fit(
        ranker,
        obs[train_rows],
        data["gains"][train_rows],
        settings.epochs,
        settings.lr,
        settings.weight_decay,
        settings.loss,
        settings.temperature,
        settings.verbose,
    )
    metrics: dict[str, Any] = {"train_states": int(train_rows.sum()), "final_loss": history[-1]}
    if held is not None and held.any():
        with th.no_grad():
            predicted = ranker.forward(th.as_tensor(obs[held])).numpy()
        part = {key: value[held] for key, value in data.items() if np.ndim(value) and len(value) == len(held)}
        gains = part["gains"]
        scored = {"ranker": score_picks(predicted.argmax(axis=1), gains)}
        for rule in RULES:
            scored[rule] = score_picks(rule_picks(rule, quality[held], part), gains)
        scored["best (ceiling)"] = score_picks(np.nanargmax(gains, axis=1), gains)
        metrics.update(val_states=int(held.sum()), held_out=scored)
    ranker.info = {
        "settings": dataclasses.asdict(settings),
        "metrics": metrics,
        "parameters": ranker.num_parameters(),
    }
    out = Path(settings.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ranker.save(out)
    report = {**ranker.info, "seconds": time.perf_counter() - tic, "checkpoint": str(out)}
    atomic_write_json(out.with_suffix(".json"), report, indent=1)
    if settings.verbose:
        print(json.dumps(metrics, indent=1), flush=True)
    return report


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    try:
        settings, _ = parse_config(RankerTrainSettings, argv, description=__doc__.splitlines()[0])
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    train(settings)


if __name__ == "__main__":
    main()
