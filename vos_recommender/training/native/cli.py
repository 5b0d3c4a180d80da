"""The training command of the native IPN / ATNet / MANet networks on DAVIS-layout videos.

Usage::

    python -m vos_recommender.training.native --model ipn --config cpu \\
        --data data/davis_synth --name ipn_cpu --steps 2000
    python -m vos_recommender.training.native --model ipn --name ipn_cpu --steps 4000 --resume

The run folder ``<runs-dir>/<name>/`` holds:

* ``settings.json``: every setting of the run;
* ``metrics.jsonl``: one line per step (``step``, ``loss``, ``interaction``, ``propagation``, ``seconds``);
  on ``--resume`` lines after the restored step are dropped before the run appends;
* the weights in the native model's format (with ``--bn-batches N``, their batch-norm statistics recomputed
  over N fresh batches, :mod:`.batchnorm`; the resume state keeps the running ones), loadable strictly by the
  backend: ``I.pth`` and ``P.pth`` for IPN (``build_backend("ipn", config="cpu", weights=<run>)``), ``atnet.pth`` for ATNet
  (``build_backend("atnet", config="cpu", weights=<run>/atnet.pth)``), ``manet.pth`` for MANet
  (``build_backend("manet", config="cpu", weights=<run>/manet.pth)``);
* ``resume.pt``: networks, optimiser and both random generators at the last saved step, so ``--resume``
  continues exactly as an uninterrupted run would.

Every file is written atomically (:mod:`vos_recommender.utils.atomic`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vos_recommender.training.native.atnet import ATNetTrainer
from vos_recommender.training.native.batchnorm import recalibrated_copy
from vos_recommender.training.native.ipn import IPNTrainer
from vos_recommender.training.native.manet import MANetTrainer
from vos_recommender.training.native.samples import load_training_videos, make_sample
from vos_recommender.utils.atomic import (
    atomic_torch_save,
    atomic_write_json,
    atomic_write_text,
    remove_stale_temporaries,
)

__all__ = ["NativeTrainSettings", "main", "parse_args", "train"]

TRAINERS = {"ipn": IPNTrainer, "atnet": ATNetTrainer, "manet": MANetTrainer}
CONFIGS = ("cpu", "released")


@dataclasses.dataclass
class NativeTrainSettings:
    """Every setting of a training run."""

    model: str = "ipn"
    """Native model: ``ipn``, ``atnet`` or ``manet``."""
    config: str = "cpu"
    """Network size: ``cpu`` (trainable here) or ``released``."""
    data: str = "data/davis_synth"
    """DAVIS-layout dataset root (e.g. from ``python -m vos_recommender.data.generate``)."""
    split: str = "train"
    """Split to train on."""
    name: str = "native"
    """Run name: the run folder is ``<runs_dir>/<name>``."""
    runs_dir: str = "runs"
    """Folder of the run folders."""
    steps: int = 1000
    """Total optimisation steps (with ``--resume``: up to this many in all)."""
    batch_size: int = 4
    """Samples per step."""
    lr: float = 3e-4
    """Adam learning rate."""
    seed: int = 0
    """Random seed (samples and initialisation)."""
    save_every: int = 100
    """Write the weights and the resume state every this many steps (and at the end)."""
    threads: int = 2
    """Torch CPU threads."""
    bn_batches: int = 0
    """Batches over which the exported weights' batch-norm statistics are recomputed (0: keep the running ones).

    Measured both ways (``docs/recommender.md``): 16 batches helped ATNet after 101 steps and hurt MANet after
    128, so the running statistics stay the default."""
    max_minutes: float = 0.0
    """Stop (saving the state, so ``--resume`` continues) after this many minutes of training; 0: no limit."""
    resume: bool = False
    """Continue the run in the run folder from its last saved step."""
    overwrite: bool = False
    """Start afresh even if the run folder already holds a run."""


def parse_args(argv: list[str] | None = None) -> tuple[NativeTrainSettings, set[str]]:
    """Settings from the command line, and the names given explicitly.

    Raises:
        SystemExit: On an unknown flag or an invalid choice (argparse's message).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for field in dataclasses.fields(NativeTrainSettings):
        flag = "--" + field.name.replace("_", "-")
        if field.type in ("bool", bool):
            parser.add_argument(flag, action="store_true", default=None)
        else:
            kind = {"int": int, "float": float}.get(str(field.type), str)
            choices = {"model": sorted(TRAINERS), "config": CONFIGS}.get(field.name)
            parser.add_argument(flag, type=kind, choices=choices, default=None)
    given = {k: v for k, v in vars(parser.parse_args(argv)).items() if v is not None}
    return dataclasses.replace(NativeTrainSettings(), **given), set(given)


def _save(
    run_dir: Path,
    trainer: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    step: int,
    rng: np.random.Generator,
    exported: torch.nn.Module,
) -> None:
    for file_name, state in exported.state_dicts().items():
        atomic_torch_save(state, run_dir / file_name)
    atomic_torch_save(
        {
            "step": step,
            "trainer": trainer.state_dict(),
            "optimizer": optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": rng.bit_generator.state,
        },
        run_dir / "resume.pt",
    )


def _rewind_metrics(path: Path, step: int) -> None:
    # Steps after the restored state are played again, so their old lines must go.
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line cut short by a killed process
    atomic_write_text(path, "".join(line + "\n" for line in kept))


def train(settings: NativeTrainSettings, explicit: set[str] | None = None) -> Path:
    """Run (or resume) a training run; returns the run folder.

    Raises:
        FileNotFoundError: If the data folder is missing, or ``resume`` finds no run to continue.
        FileExistsError: If the run folder already holds a run and neither ``resume`` nor ``overwrite``.
        ValueError: If the data folder is not a DAVIS-layout dataset with videos in the split.
    """
    run_dir = Path(settings.runs_dir) / settings.name
    if settings.resume:
        saved = run_dir / "settings.json"
        if not saved.is_file() or not (run_dir / "resume.pt").is_file():
            raise FileNotFoundError(
                f"--resume: no run to resume at {run_dir} (settings.json or resume.pt missing)"
            )
        stored = json.loads(saved.read_text())
        overridable = ("steps", "threads", "save_every", "max_minutes")
        stored.update({k: getattr(settings, k) for k in (explicit or set()) if k in overridable})
        settings = dataclasses.replace(NativeTrainSettings(**stored), resume=True)
    elif (run_dir / "settings.json").exists() and not settings.overwrite:
        raise FileExistsError(f"{run_dir} already holds a run: pass --resume, --overwrite or another --name")
    if settings.model not in TRAINERS:
        raise ValueError(f"--model must be one of {sorted(TRAINERS)}, got {settings.model!r}")
    if settings.bn_batches < 0:
        raise ValueError(f"--bn-batches must be >= 0, got {settings.bn_batches}")
    if settings.batch_size < 2:
        # Batch normalisation in training mode needs two values per channel (the SE blocks pool to 1 x 1).
        raise ValueError(f"--batch-size must be at least 2, got {settings.batch_size}")
    torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)

    trainer = TRAINERS[settings.model](settings.config)
    videos = load_training_videos(settings.data, settings.split, getattr(trainer, "working_height", None))
    optimizer = torch.optim.Adam(trainer.parameters(), lr=settings.lr)
    start = 0
    remove_stale_temporaries(run_dir, older_than=0.0)  # what a killed process left half-written
    if settings.resume:
        state = torch.load(run_dir / "resume.pt", map_location="cpu", weights_only=True)
        trainer.load_state_dict(state["trainer"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        rng.bit_generator.state = state["numpy_rng"]
        start = int(state["step"])
        _rewind_metrics(run_dir / "metrics.jsonl", start)
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        # A fresh run (--overwrite) must neither append to the old log nor resume from the old state.
        (run_dir / "metrics.jsonl").unlink(missing_ok=True)
        (run_dir / "resume.pt").unlink(missing_ok=True)
    record = dataclasses.asdict(settings)
    record["resume"] = False
    atomic_write_json(run_dir / "settings.json", record, indent=2)

    trainer.train()
    tic = time.time()
    bar = tqdm(
        range(start + 1, settings.steps + 1),
        initial=start,
        total=settings.steps,
        desc=f"{settings.model}/{settings.config}",
        unit="step",
    )
    with open(run_dir / "metrics.jsonl", "a", encoding="utf-8") as log:
        for step in bar:
            losses = trainer.loss([make_sample(videos, rng) for _ in range(settings.batch_size)])
            optimizer.zero_grad()
            losses["total"].backward()
            optimizer.step()
            values = {k: float(v.item()) for k, v in losses.items()}
            log.write(
                json.dumps(
                    {
                        "step": step,
                        "loss": values["total"],
                        "interaction": values["interaction"],
                        "propagation": values["propagation"],
                        "seconds": time.time() - tic,
                    }
                )
                + "\n"
            )
            bar.set_postfix(loss=f"{values['total']:.4f}")
            out_of_time = settings.max_minutes > 0 and time.time() - tic > 60 * settings.max_minutes
            if step % settings.save_every == 0 or step == settings.steps or out_of_time:
                log.flush()
                exported = recalibrated_copy(
                    trainer,
                    lambda r: make_sample(videos, r),
                    settings.bn_batches,
                    settings.batch_size,
                    seed=settings.seed * 1_000_003 + step,
                )
                _save(run_dir, trainer, optimizer, step, rng, exported)
            if out_of_time:
                print(f"\nstopped at step {step} after {settings.max_minutes} min; continue with --resume")
                break
    if start >= settings.steps:
        print(f"{run_dir} is already at step {start} of {settings.steps}: nothing to do")
    return run_dir


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    settings, explicit = parse_args(argv)
    train(settings, explicit)
