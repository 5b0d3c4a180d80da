"""Region context versus pixel attention on the generated datasets: trainings, ablations, difficulty knob.

Every run is one training of the project's ``tools/train.py`` in a fresh process (``OMP_NUM_THREADS=1``,
``--cfg-options randomness.seed=S`` and the shared experiment schedule); val mIoU is read back from
mmengine's scalar log (``<work_dir>/<timestamp>/vis_data/scalars.json``). Nothing here trains or evaluates
by itself.

    python benchmarks/seg_experiments.py main          # 7 models x 3 seeds: FCN, PSPNet, NL, CCNet, OCRNet, RANet x2
    python benchmarks/seg_experiments.py ablations     # RANet ablation configs x 3 seeds
    python benchmarks/seg_experiments.py knob          # FCN, NL, RANet x cue radius x 3 seeds, plus the plot
    python benchmarks/seg_experiments.py all --jobs 2  # all three (about an hour on 2 cores)
    python benchmarks/seg_experiments.py all --quick   # reduced schedule and sweep, one seed (minutes)
    python benchmarks/seg_experiments.py objects       # FCN, NL, OCRNet, RANet x2 on the objects scenes
    python benchmarks/seg_experiments.py objects --schedule long   # the same at the demo's 600 x 8
    python benchmarks/seg_experiments.py main --schedule long4x --only <stems>   # 2400 x 8, seed 0

``objects`` trains on the generator's ``--scene objects`` data (touching objects of different classes that
share one texture, where pooling over the pixel's own object is needed: ``mmseg_ranet.datasets.oracles``);
``all`` stays main + ablations + knob.

Schedules (``--schedule``; ``--quick`` is ``--schedule quick``): ``default`` 300 iterations x batch 4
(models end at 30-40 mIoU on the context data, far from converged), ``quick`` 30 x 2 (a smoke run),
``long`` 600 x 8, the demo configs' own schedule (the RANet demo reaches about 82 mIoU with it on the
context data), ``long4x`` 2400 x 8 with one seed (whether 600 x 8 has levelled off:
``benchmarks/seg_long_schedule.py``). ``long`` and ``long4x`` validate every 100 iterations, so every run
stores its val mIoU curve (``curve`` in its result). Cost of ``long``, measured with one FCN run of 40
iterations at batch 8 on the objects data (one thread, 2026-11-30, 2 cores at load average 11-13): 3.6 s
per iteration of wall time and about 0.9 s of CPU time. The main table's 0.19 s per iteration at batch 4 (load 2.6) puts a free core at about 0.4 s
per iteration at batch 8, so a ``long`` run takes about 5-10 min per model with a free core (600 x
0.4-0.9 s, plus under a minute of start-up and validation), RANet about a fifth more, and
``objects --schedule long`` (5 models x 3 seeds) about 1.2-2.5 h of one core; at the load measured it
would be about 36 min per run.

A run whose ``result.json`` exists is not repeated (an interrupted experiment continues where it stopped;
``--force`` reruns). Runs are shared between experiments: the RANet paper run of the main table is also the
K = 8 row of the ablations and the cue-radius-3 point of the knob sweep.

Outputs: ``benchmarks/results/seg_{main,ablations,knob,objects}[_<schedule>][_<tag>].{md,json}`` and
``docs/ranet_difficulty_knob[_<schedule>].png``, or all of them in ``--out-dir``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import RESULTS, ROOT, machine_description, write_results  # noqa: E402
from benchmarks.seg_runs import (  # noqa: E402
    DATA_DIR,
    QUICK,
    SCHEDULES,
    Run,
    Schedule,
    dataset_stats,
    log,
    regions_worker,
    run_all,
)
from benchmarks.seg_tables import knob_table, model_table, plot_knob, summarise  # noqa: E402

RANET = "configs/ranet/ranet_r18-d8_1xb8-600_synthetic-128x128.py"
ABLATION_DIR = "configs/ranet/ablations/ranet_r18-d8_1xb8-600_synthetic-128x128"
OBJECT_REGIONS = "configs/ranet/ranet_r18-d8_1xb8-600_synthetic-128x128_object-regions.py"

#: The main table: (label, config). Same backbone (ResNetV1c-18-D8, width 32), head width 128, data, crop.
MAIN_MODELS: list[tuple[str, str]] = [
    ("FCN (no context)", "configs/fcn/fcn_r18-d8_1xb8-600_synthetic-128x128.py"),
    ("PSPNet", "configs/pspnet/pspnet_r18-d8_1xb8-600_synthetic-128x128.py"),
    ("Non-local (NLHead)", "configs/nonlocal_net/nonlocal_r18-d8_1xb8-600_synthetic-128x128.py"),
    ("CCNet (CCHead)", "configs/ccnet/ccnet_r18-d8_1xb8-600_synthetic-128x128.py"),
    ("OCRNet", "configs/ocrnet/ocrnet_r18-d8_1xb8-600_synthetic-128x128.py"),
    ("RANet paper", RANET),
    ("RANet official", "configs/ranet/ranet_r18-d8_1xb8-600_synthetic-128x128_official.py"),
    ("RANet object regions", OBJECT_REGIONS),
    ("RANet object regions, connected components", ABLATION_DIR + "_object-regions_components.py"),
    ("RANet object regions, 1 region / image", ABLATION_DIR + "_object-regions_forced-image.py"),
    ("RANet object regions, 1 region / cell", ABLATION_DIR + "_object-regions_forced-pixel.py"),
    ("RANet object regions, GT segments (oracle)", ABLATION_DIR + "_object-regions_forced-ground-truth.py"),
]

#: The RANet ablations: (label, config). The first row is the unchanged paper variant (K = 8).
ABLATIONS: list[tuple[str, str]] = [
    ("paper variant (K = 8, masked, full JSD, learnable W^g)", RANET),
    ("no boundary term (D = 0)", ABLATION_DIR + "_no-boundary.py"),
    ("no semantic term (E = 0)", ABLATION_DIR + "_no-semantic.py"),
    ("K = 1", ABLATION_DIR + "_k1.py"),
    ("K = 4", ABLATION_DIR + "_k4.py"),
    ("K = 16", ABLATION_DIR + "_k16.py"),
    ("unmasked attentions", ABLATION_DIR + "_unmasked.py"),
    ("binary JSD (released form)", ABLATION_DIR + "_binary-jsd.py"),
    ("frozen W^g (decision_conv lr 0)", ABLATION_DIR + "_frozen-decision.py"),
    ("1 region / image", ABLATION_DIR + "_forced-image.py"),
    ("GT segments (oracle)", ABLATION_DIR + "_forced-ground-truth.py"),
    (
        "object regions, end points in the decision only",
        ABLATION_DIR + "_object-regions_decision-endpoints.py",
    ),
]

#: The objects experiment: the same models on the generator's ``objects`` scenes.
OBJECTS_MODELS: list[tuple[str, str]] = [
    ("FCN (no context)", "configs/fcn/fcn_r18-d8_1xb8-600_synthetic-objects-128x128.py"),
    ("Non-local (NLHead)", "configs/nonlocal_net/nonlocal_r18-d8_1xb8-600_synthetic-objects-128x128.py"),
    ("OCRNet", "configs/ocrnet/ocrnet_r18-d8_1xb8-600_synthetic-objects-128x128.py"),
    ("RANet paper", "configs/ranet/ranet_r18-d8_1xb8-600_synthetic-objects-128x128.py"),
    ("RANet official", "configs/ranet/ranet_r18-d8_1xb8-600_synthetic-objects-128x128_official.py"),
    ("RANet object regions", OBJECT_REGIONS),
    ("RANet object regions, connected components", ABLATION_DIR + "_object-regions_components.py"),
    ("RANet object regions, 1 region / image", ABLATION_DIR + "_object-regions_forced-image.py"),
    ("RANet object regions, 1 region / cell", ABLATION_DIR + "_object-regions_forced-pixel.py"),
    ("RANet object regions, GT segments (oracle)", ABLATION_DIR + "_object-regions_forced-ground-truth.py"),
    # ---- More RANet rows go in OBJECTS_ABLATIONS: (label, any RANet config). Every run of this experiment
    # trains on the objects data whatever the config's own data_root (train_command overrides it), and its
    # run name carries the scene, so a context config listed here never reuses a context run's result.
]
#: Rows of the objects experiment only: one switch of the object-region preset at a time, on or off.
OBJECTS_ABLATIONS: list[tuple[str, str]] = [
    ("RANet object regions, no partition loss", ABLATION_DIR + "_object-regions_no-partition-loss.py"),
    ("RANet paper, boundary end points", ABLATION_DIR + "_boundary-endpoints.py"),
    ("RANet paper, W^g not trained through J", ABLATION_DIR + "_detached-decision.py"),
    (
        "RANet object regions, end points in the decision only",
        ABLATION_DIR + "_object-regions_decision-endpoints.py",
    ),
    ("RANet paper, 1 region / image", ABLATION_DIR + "_forced-image.py"),
    ("RANet paper, GT segments (oracle)", ABLATION_DIR + "_forced-ground-truth.py"),
]
OBJECTS_MODELS += OBJECTS_ABLATIONS

#: The difficulty sweep: models and the generator's cue radius (smaller cue = more context needed).
KNOB_MODELS: list[tuple[str, str]] = [MAIN_MODELS[0], MAIN_MODELS[2], MAIN_MODELS[5]]
DEFAULT_CUE_RADIUS = 3


# ----------------------------------------------------------------------------------------------------
# Experiments


def _selected(models, args) -> list[tuple[str, str]]:
    """The models of an experiment, restricted by ``--only`` to configs whose stem ends with one of its values."""
    if not args.only:
        return list(models)
    chosen = [(label, config) for label, config in models if Path(config).stem.endswith(tuple(args.only))]
    if not chosen:
        stems = "\n  ".join(Path(config).stem for _, config in models)
        raise SystemExit(
            f"--only {' '.join(args.only)} matches no config of this experiment; its configs are:\n  {stems}"
        )
    return chosen


def _runs(models, schedule, args, seeds, cue_radius=DEFAULT_CUE_RADIUS, scene="context") -> list[Run]:
    return [
        Run(label, config, cue_radius, seed, schedule, args.work_dir, args.data_dir, scene=scene)
        for label, config in models
        for seed in seeds
    ]


def _footer(
    schedule: Schedule, seeds, command: str, machine: dict, elapsed: float, scene: str = "context"
) -> str:
    generator = "`mmseg_ranet.datasets.generate`" + ("" if scene == "context" else f" `--scene {scene}`")
    return (
        f"Generated data ({generator}, 400 train / 100 val images, 128x128). "
        f"`{command}`: {schedule.iters} iterations of batch {schedule.batch_size} "
        f"(AdamW lr 2e-3, warm-up {schedule.warmup}), seeds {', '.join(map(str, seeds))}, "
        f"one thread per run. Machine: {machine['cpu']}, {machine['cores']} cores, torch {machine['torch']}, "
        f"load average {machine['load_average_at_start']} at start, {machine['date_utc']}; "
        f"{elapsed / 60:.1f} min for this invocation (runs whose result already existed were not repeated)."
    )


def experiment_main(args, schedule: Schedule, seeds, command: str) -> None:
    start, machine = time.monotonic(), machine_description()
    models = _selected(MAIN_MODELS, args)
    runs = _runs(models, schedule, args, seeds)
    results = run_all(runs, args.jobs, args.force, args.keep_checkpoints, args.report_only)
    summaries = [
        summarise(label, [r for run, r in zip(runs, results) if run.label == label]) for label, _ in models
    ]
    table = model_table(summaries, [config for _, config in models], with_regions=True)
    markdown = table + "\n\n" + _footer(schedule, seeds, command, machine, time.monotonic() - start)
    _publish("seg_main", schedule, markdown, {"machine": machine, "rows": summaries, "runs": results}, args)


def experiment_objects(args, schedule: Schedule, seeds, command: str) -> None:
    """The main table's models on the objects scenes, where only the pixel's own object holds its cue."""
    start, machine = time.monotonic(), machine_description()
    models = _selected(OBJECTS_MODELS, args)
    runs = _runs(models, schedule, args, seeds, scene="objects")
    results = run_all(runs, args.jobs, args.force, args.keep_checkpoints, args.report_only)
    summaries = [
        summarise(label, [r for run, r in zip(runs, results) if run.label == label]) for label, _ in models
    ]
    table = model_table(summaries, [config for _, config in models], with_regions=True)
    footer = _footer(schedule, seeds, command, machine, time.monotonic() - start, scene="objects")
    markdown = table + "\n\n" + footer
    _publish(
        "seg_objects", schedule, markdown, {"machine": machine, "rows": summaries, "runs": results}, args
    )


def experiment_ablations(args, schedule: Schedule, seeds, command: str) -> None:
    start, machine = time.monotonic(), machine_description()
    models = _selected(ABLATIONS, args)
    runs = _runs(models, schedule, args, seeds)
    results = run_all(runs, args.jobs, args.force, args.keep_checkpoints, args.report_only)
    summaries = [
        summarise(label, [r for run, r in zip(runs, results) if run.label == label]) for label, _ in models
    ]
    table = model_table(summaries, [config for _, config in models], with_regions=True)
    markdown = table + "\n\n" + _footer(schedule, seeds, command, machine, time.monotonic() - start)
    _publish(
        "seg_ablations", schedule, markdown, {"machine": machine, "rows": summaries, "runs": results}, args
    )


def experiment_knob(args, schedule: Schedule, seeds, command: str) -> None:
    start, machine = time.monotonic(), machine_description()
    cue_radii = list(args.cue_radii or schedule.cue_radii)
    runs = [run for cue in cue_radii for run in _runs(KNOB_MODELS, schedule, args, seeds, cue)]
    results = run_all(runs, args.jobs, args.force, args.keep_checkpoints, args.report_only)
    cells = {}
    for label, _ in KNOB_MODELS:
        for cue in cue_radii:
            picked = [r for run, r in zip(runs, results) if run.label == label and run.cue_radius == cue]
            cells[(label, cue)] = summarise(label, picked)
    stats = [dataset_stats(args.data_dir, cue) for cue in cue_radii]
    table = knob_table(KNOB_MODELS, cue_radii, stats, cells)
    markdown = table + "\n\n" + _footer(schedule, seeds, command, machine, time.monotonic() - start)
    suffix = "" if schedule.name == "default" else f"_{schedule.name}"
    # --no-write keeps the plot out of docs/ as well (next to the runs); --out-dir puts it beside the tables.
    plot_dir = args.work_dir if args.no_write else (args.out_dir or ROOT / "docs")
    plot = plot_dir / f"ranet_difficulty_knob{suffix}.png"
    title = f"generated data, {schedule.iters} it x batch {schedule.batch_size}, seeds {','.join(map(str, seeds))}"
    plot_knob(KNOB_MODELS, cue_radii, cells, plot, title)
    payload = {
        "machine": machine,
        "datasets": stats,
        "cells": [
            dict(cue_radius=cue, **cells[(label, cue)]) for cue in cue_radii for label, _ in KNOB_MODELS
        ],
        "runs": results,
        "plot": str(plot.relative_to(ROOT)) if plot.is_relative_to(ROOT) else str(plot),
    }
    _publish("seg_knob", schedule, markdown, payload, args)
    log(f"plot: {plot}")


def _publish(name: str, schedule: Schedule, markdown: str, payload: dict, args) -> None:
    suffix = "" if schedule.name == "default" else f"_{schedule.name}"
    payload["schedule"] = {
        "name": schedule.name,
        "iters": schedule.iters,
        "batch_size": schedule.batch_size,
        "warmup": schedule.warmup,
        "cfg_options": schedule.cfg_options(),
    }
    if args.no_write:
        md_path = json_path = None
    else:
        tag = f"_{args.tag}" if args.tag else ""
        md_path, json_path = write_results(name + suffix + tag, markdown, payload, args.out_dir or RESULTS)
    log("\n" + markdown + "\n")
    if md_path:
        log(f"wrote {md_path} and {json_path.name}")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "experiment", choices=["main", "ablations", "knob", "objects", "all"], help="what to run"
    )
    parser.add_argument(
        "--schedule",
        choices=sorted(SCHEDULES),
        default="default",
        help="training schedule (see the docstring)",
    )
    parser.add_argument("--quick", action="store_true", help="the quick schedule (one seed, two cue radii)")
    parser.add_argument("--seeds", type=int, nargs="+", help="seeds (default 0 1 2; quick: 0)")
    parser.add_argument("--iters", type=int, help="override the schedule's iteration count")
    parser.add_argument("--batch-size", type=int, help="override the schedule's batch size")
    parser.add_argument(
        "--only", nargs="+", help="run only the configs whose file name (without .py) ends with one of these"
    )
    parser.add_argument("--cue-radii", type=int, nargs="+", help="cue radii of the knob sweep")
    parser.add_argument("--jobs", type=int, default=1, help="trainings at once (each one thread)")
    parser.add_argument(
        "--work-dir", type=Path, help="runs and generated data (default work_dirs/seg_experiments)"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=DATA_DIR, help="generated datasets (one per cue radius)"
    )
    parser.add_argument("--force", action="store_true", help="rerun runs whose result file exists")
    parser.add_argument("--keep-checkpoints", action="store_true", help="keep each run's final checkpoint")
    parser.add_argument("--no-write", action="store_true", help="print the tables only (no results files)")
    parser.add_argument(
        "--out-dir",
        type=Path,
        help="folder of the tables and the knob plot (default: tables in benchmarks/results, plot in docs)",
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="train nothing: tables from the stored results (missing runs shown)",
    )
    parser.add_argument("--tag", help="append _TAG to the results file names (e.g. for a subset of the rows)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["regions"]:
        regions_worker(*argv[1:4])
        return 0
    args = parse_args(argv)
    if args.quick and args.schedule not in ("default", "quick"):
        raise SystemExit(f"--quick and --schedule {args.schedule} contradict each other; give one")
    schedule = QUICK if args.quick else SCHEDULES[args.schedule]
    if args.iters or args.batch_size:
        iters, batch_size = args.iters or schedule.iters, args.batch_size or schedule.batch_size
        warmup = max(1, round(iters * schedule.warmup / schedule.iters))
        name = (
            schedule.name
            + (f"{iters}it" if args.iters else "")
            + (f"b{batch_size}" if args.batch_size else "")
        )
        val_interval = min(schedule.val_interval, iters) if schedule.val_interval else None
        schedule = dataclasses.replace(
            schedule, name=name, iters=iters, batch_size=batch_size, warmup=warmup, val_interval=val_interval
        )
    seeds = tuple(args.seeds) if args.seeds else schedule.seeds
    default_root = "work_dirs/seg_experiments" + ("" if schedule.name == "default" else f"_{schedule.name}")
    args.work_dir = (args.work_dir or ROOT / default_root).resolve()
    command = "python benchmarks/seg_experiments.py " + " ".join(argv)
    experiments = ["main", "ablations", "knob"] if args.experiment == "all" else [args.experiment]
    for experiment in experiments:
        log(
            f"== {experiment} ({schedule.name}: {schedule.iters} it x batch {schedule.batch_size}, seeds {seeds})"
        )
        run_experiment = {
            "main": experiment_main,
            "ablations": experiment_ablations,
            "knob": experiment_knob,
            "objects": experiment_objects,
        }[experiment]
        run_experiment(args, schedule, seeds, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
