"""The table of ``python -m vos_recommender.table1``: every finished evaluation collected into Markdown, its
JSON and one J&F-per-round plot per backend, with the machine it ran on."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from vos_recommender.config import TrainConfig, settings_from_dict
from vos_recommender.evaluation.table1 import (
    auc_table,
    paired_table,
    plot_backend,
    round_summary,
    round_table,
    verdict_table,
)
from vos_recommender.table1.steps import DATASETS, NATIVE, backend_spec
from vos_recommender.utils.atomic import atomic_write_json, atomic_write_text


def table_path(args: argparse.Namespace) -> Path:
    """Where the table goes: ``--out``, or ``<work>/table1.md``."""
    return Path(args.out) if args.out else Path(args.work) / "table1.md"


#: Options that only split the work between processes: the command that reproduces the table omits them.
SPLITTING = ("--only", "--eval-part", "--stats-shard", "--datasets")


def reproducing_argv(argv: list[str]) -> list[str]:
    """``argv`` without the options that split the work between processes."""
    kept, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item in SPLITTING:
            skip = True
        elif not item.startswith(tuple(f"{o}=" for o in SPLITTING)):
            kept.append(item)
    return kept


def write_table(
    args: argparse.Namespace,
    work: Path,
    backends: list[str],
    skipped: list[str],
    train_backend: str,
    timings: dict[str, float],
    machine: dict[str, Any],
) -> str:
    """Collect every finished evaluation into the table, its JSON and the per-backend plots."""
    entries, missing, estimators = [], [], {}
    for backend in backends:
        kwargs, tag = backend_spec(backend, args)
        metrics = work / "quality" / tag / "metrics.json"
        if metrics.is_file():
            estimators[backend] = json.loads(metrics.read_text())["heldout"]
        for dataset in DATASETS:
            path = work / "eval" / tag / dataset / "results.json"
            if not path.is_file():
                missing.append(f"{backend} / {dataset}")
                continue
            results = json.loads(path.read_text())
            rounds = round_summary(results.pop("sessions", {}), args.train_rounds, args.bootstrap)
            entries.append(
                {
                    "backend": backend,
                    "dataset": dataset,
                    "kwargs": kwargs,
                    "results": results,
                    "rounds": rounds,
                }
            )
    agent_config = work / "agents" / f"seed{args.agent_seeds.split(',')[0]}" / "config.json"
    if agent_config.is_file():  # the agents may come from an earlier invocation with other weights at hand
        saved = settings_from_dict(TrainConfig, json.loads(agent_config.read_text()), str(agent_config))
        train_backend = saved.env.session.backend
    out = table_path(args)
    out.parent.mkdir(parents=True, exist_ok=True)
    plots = []
    for backend in backends:
        mine = [e for e in entries if e["backend"] == backend]
        if mine:
            plot = out.with_name(f"{out.stem}_{backend}.png")
            plot_backend(plot, backend, mine)
            plots.append(f"[{backend}]({plot.name})")
    command = "OMP_NUM_THREADS=1 nice -n 5 python -m vos_recommender.table1 " + shlex.join(
        reproducing_argv(sys.argv[1:])
    )
    status = "complete" if not missing else "PARTIAL: missing " + ", ".join(missing)
    requested = {name.strip() for name in args.backends.split(",")}
    unrequested = [name for name in NATIVE if name not in requested]
    if unrequested:
        status += f" (for --backends {args.backends}; not requested: {', '.join(unrequested)})"
    lines = [
        "# Table 1 on generated data: frame recommendation on every backend, with paired statistics",
        "",
        f"Status: {status}.",
        "",
        f"Command: `{command.strip()}` (finished parts are kept in `{args.work}` and skipped on a rerun; the "
        "parts may also run as separate processes, e.g. `--only stats --stats-shard i/n`, `--only eval "
        "--eval-part baselines|oracle-agent|wild --datasets NAME`, then the command itself for the table).",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Machine: {machine['cpu']}, "
        f"{machine['cores']} cores shared with other work, one torch thread; load average "
        f"{machine['load_average_at_start']} at the start of this invocation.",
        "",
        "Protocol. Generated videos in the DAVIS layout, "
        f"{args.height}x{args.width} pixels. `default`: the generator's default preset (25 frames, 1-3 objects); "
        "`shifted`: `--preset shifted` with another seed (32 frames, 1-4 objects, 1.6x faster motion, up to 4 "
        "fast-motion bursts, 1-3 crossing distractors), the second test distribution as YouTube-VOS is in "
        f"the paper. {args.heldout_videos} held-out videos x {args.scribbles} first scribbles per dataset. "
        f"Agents: trained once on `{train_backend}` (oracle states, {args.train_rounds} rounds, seed reward form, "
        f"goal statistics from {args.num_random_runs} random runs) on the first {args.agent_videos} training "
        f"videos, {args.agent_steps} agent steps each at learning rate {args.agent_lr:g} (released: 5e-06), "
        f"training seeds {args.agent_seeds}; then evaluated unchanged on every backend and dataset. Wild "
        f"quality: one estimator per backend trained on that backend's outputs on {args.quality_videos} "
        f"training videos ({args.quality_epochs} epochs, tiny backbone). Evaluation: {args.rounds} rounds, "
        f"Random over {args.random_seeds} seeds, Ours pooled over the agent seeds.",
        "",
        "AUC of J&F (x100, the paper's round AUC), mean ± 95% half-width over sessions; Ours: (sd) = standard "
        "deviation of the per-seed mean AUC across the agent training seeds.",
        "",
        *auc_table(entries),
        "",
        "The paper's claim per (backend, dataset): Ours - Worst, mean [95% bootstrap interval over (video, "
        "scribble) pairs]; Ours averaged over its seeds on each pair.",
        "",
        *verdict_table(entries),
        "",
        "Paired differences of the AUC per (video, first scribble) (Ours and Random averaged over their seeds "
        "on each pair); a video is won when its mean difference over its scribbles is positive.",
        "",
        *paired_table(entries),
        "",
        f"Where in a session Ours gains or loses: Ours - Worst, paired as above, of the AUC over the "
        f"{args.train_rounds} rounds the agents were trained for, and of the J&F (x100) after each round "
        "(`*`: the 95% bootstrap interval excludes 0).",
        "",
        *round_table(entries),
        "",
        "Wild quality estimators, held-out Pearson r with the true J&F (per object / per frame): "
        + (
            "; ".join(
                f"{b}: {m['pearson_object']:.3f} / {m['pearson_frame']:.3f}" for b, m in estimators.items()
            )
            or "none yet"
        )
        + ".",
        "",
        "J&F against round per backend: " + (", ".join(plots) or "none yet") + ".",
        "",
        "Backends: "
        + "; ".join(
            f"{b} {kw or '(no weights needed)'}"
            for b, kw in {e["backend"]: e["kwargs"] for e in entries}.items()
        )
        + (f". Left out: {'; '.join(skipped)}" if skipped else "")
        + ".",
        "",
        "Wall time of each part (s; parts run at the same time shared the cores): "
        + (", ".join(f"{k} {v:.0f}" for k, v in timings.items()) or "none recorded")
        + ".",
    ]
    if args.notes:
        notes = Path(args.notes)
        if not notes.is_file():
            raise FileNotFoundError(f"--notes: no file at {notes}")
        lines += ["", "## Notes", "", notes.read_text().strip()]
    text = "\n".join(lines) + "\n"
    atomic_write_text(out, text)
    summary = {
        "status": status,
        "command": command,
        "machine": machine,
        "timings": timings,
        "entries": entries,
    }
    atomic_write_json(out.with_suffix(".json"), summary, indent=1)
    return text
