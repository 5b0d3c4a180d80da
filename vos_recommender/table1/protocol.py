"""The paper's Table 1 on generated data, with paired statistics, for every backend.

One command runs the whole protocol; every finished part is kept on disk and skipped when the command is
run again, so an interrupted run continues where it stopped::

    OMP_NUM_THREADS=1 nohup nice -n 5 python -m vos_recommender.table1 --backends flow,atnet > table1.log 2>&1 &
    python -m vos_recommender.table1 --quick          # tiny sizes (a smoke run of the same code)

Protocol (as the paper's, scaled to the machine):

1. Data (``<work>/data``): ``default`` (the generator's default preset: ``--quality-videos`` training
   videos and ``--heldout-videos`` held-out ones) and ``shifted`` (``--preset shifted``, another seed:
   faster motion, more bursts and distractors, up to four objects, longer videos; held-out only), the
   second test distribution as YouTube-VOS is in the paper. The agents train on the first
   ``--agent-videos`` training videos (the same files: a video depends only on the seed and its name).
2. Agents: trained once, on ``--train-backend`` in the oracle setting, one per ``--agent-seeds``, with the
   goal statistics from ``--num-random-runs`` random runs (cached in ``<work>/stats``).
3. A wild quality estimator per backend, trained on that backend's own outputs on the
   ``--quality-videos`` training videos (``vos_recommender.training.quality``).
4. Evaluation per backend x dataset (``vos_recommender.evaluate``): both settings, Random / Linspace /
   Stride / Farthest / Worst / UncertainFar / Ours (and with ``--lookahead`` the one-step-lookahead
   ceiling), ``--heldout-videos`` x ``--scribbles`` (video, first scribble) pairs, all agents unchanged,
   Random over ``--random-seeds`` seeds, paired statistics.
5. The table (``--out``, default ``<work>/table1.md``): AUC per (setting, strategy) x (dataset, backend), paired differences with
   bootstrap and t intervals, wins and losses, the verdict on the paper's claim, and one J&F-per-round
   plot per backend; with the command, the date and the machine's load.

Native backends (``ipn``, ``manet``, ``atnet``) run at ``--native-config`` size with the weights
``<--native-weights>/<name>.pth`` (or the folder ``<name>/``, IPN's layout); a native backend without
weights is left out (and the table says so) unless ``--allow-random-weights``. The ``learned`` backend (the
small IPN-style networks of ``vos_recommender.backends.learned``) uses ``--learned-checkpoint``, or is
trained first (step ``learned``: ``--learned-steps`` steps on the quality estimators' training videos).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from vos_recommender.table1.report import write_table
from vos_recommender.table1.steps import (
    DATASETS,
    PARTS,
    backend_spec,
    learned_checkpoint,
    log,
    make_data,
    run_evaluation,
    train_agents,
    train_learned_backend,
    train_quality,
    weights_path,
)
from vos_recommender.utils.atomic import atomic_write_json
from vos_recommender.utils.machine import machine_description

#: The steps of ``--only``, in the order they run.
STEPS = ("data", "learned", "agents", "quality", "eval", "table")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add(
        "--work",
        default="work_dirs/vos_table1",
        help="folder of data, agents, estimators, caches, evaluations",
    )
    add(
        "--out",
        default="",
        help="the table (a .json and plots beside it; default: <work>/table1.md)",
    )
    add("--backends", default="flow,atnet,ipn,manet", help="comma-separated backends to evaluate")
    add(
        "--train-backend",
        default="atnet",
        help="backend the agents are trained on (falls back to flow without weights)",
    )
    add("--native-config", default="cpu", help="size of the native backends")
    add(
        "--native-weights",
        default="work_dirs/native_weights",
        help="folder with <name>.pth of the native backends",
    )
    add("--allow-random-weights", action="store_true", help="run native backends without trained weights")
    add(
        "--learned-checkpoint",
        default="",
        help="checkpoint of the learned backend (default: train one under --work, see --learned-steps)",
    )
    add("--learned-steps", type=int, default=600, help="training steps of the learned backend")
    add("--height", type=int, default=64, help="frame height of the generated videos")
    add("--width", type=int, default=112, help="frame width of the generated videos")
    add("--quality-videos", type=int, default=32, help="training videos of the quality estimators")
    add("--agent-videos", type=int, default=8, help="training videos of the agents (the first ones)")
    add("--heldout-videos", type=int, default=20, help="held-out videos per dataset")
    add("--scribbles", type=int, default=3, help="first scribbles per held-out video")
    add("--agent-seeds", default="0,1,2", help="comma-separated training seeds of the agent")
    add("--agent-steps", type=int, default=3000, help="agent training steps (the default run: 2000)")
    add(
        "--agent-lr",
        type=float,
        default=1e-4,
        help="Adam learning rate of the agents (released: 5e-6, which does not move the agent in a "
        "schedule of a few thousand steps; see docs/recommender.md)",
    )
    add("--train-rounds", type=int, default=5, help="rounds per training episode (paper: 5)")
    add("--num-random-runs", type=int, default=30, help="random runs of the goal statistics (paper: 30)")
    add("--rounds", type=int, default=8, help="rounds per evaluation session (paper: 8)")
    add("--random-seeds", type=int, default=3, help="seeds of Random per pair")
    add("--quality-epochs", type=int, default=15, help="epochs of the quality estimators")
    add("--bootstrap", type=int, default=10_000, help="bootstrap resamples of the paired intervals")
    add(
        "--stats-shard",
        default="0/1",
        help="i/n: compute only every n-th goal-statistics record from the i-th",
    )
    add("--notes", default="", help="Markdown file appended to the table under 'Notes' (the analysis)")
    add(
        "--lookahead",
        action="store_true",
        help="add the one-step-lookahead ceiling (ground truth; one backend round per candidate frame per round)",
    )
    add(
        "--lookahead-candidates",
        type=int,
        default=0,
        help="lookahead: at most this many evenly spaced candidate frames per round (0: every frame)",
    )
    add("--eval-part", default="both", choices=sorted(PARTS), help="evaluate both settings, or one part")
    add("--datasets", default="default,shifted", help="comma-separated test datasets to evaluate on")
    add(
        "--only",
        default="",
        help="comma-separated steps to run: data,learned,agents,quality,eval,table (default all); "
        "'stats' alone: only the agents' goal statistics",
    )
    add(
        "--quick",
        action="store_true",
        help="tiny sizes for a smoke run (flow and learned only, 2 videos, 3 rounds)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.height, args.width = 40, 64
        args.quality_videos, args.agent_videos, args.heldout_videos, args.scribbles = 2, 2, 2, 1
        args.agent_seeds, args.agent_steps, args.train_rounds = "0,1", 40, 3
        args.num_random_runs, args.rounds, args.random_seeds = 2, 3, 2
        args.quality_epochs, args.bootstrap, args.learned_steps = 1, 200, 4
    if args.heldout_videos < 1 or args.quality_videos < args.agent_videos or args.agent_videos < 1:
        parser.error("need --heldout-videos >= 1 and 1 <= --agent-videos <= --quality-videos")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    machine = machine_description()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    steps = {s.strip() for s in args.only.split(",") if s.strip()} or set(STEPS)
    unknown = steps - set(STEPS) - {"stats"}
    if steps == {"stats"}:  # only the agents' goal statistics (a shard of them)
        steps = {"data", "agents"}
    if unknown:
        raise SystemExit(f"--only: unknown steps {sorted(unknown)}; known: {', '.join(STEPS)}")

    def available(name: str) -> bool:
        # The learned backend without --learned-checkpoint is trained by the 'learned' step, after the data.
        trained_here = name == "learned" and not args.learned_checkpoint and "learned" in steps
        return trained_here or backend_spec(name, args) is not None

    backends, skipped = [], []
    for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if args.quick and name not in ("flow", "learned"):
            continue
        if available(name):
            backends.append(name)
        else:
            skipped.append(f"{name} (no weights at {weights_path(name, args)})")
            log(f"leaving out {name}: no weights at {weights_path(name, args)}")
    train_backend = args.train_backend
    if not available(train_backend) or (args.quick and train_backend != "flow"):
        log(f"agents train on flow: {train_backend} has no weights")
        train_backend = "flow"
    # Wall times of every part, over all invocations (parts kept from an earlier one keep their time).
    timings_file = work / "timings.json"
    timings: dict[str, float] = json.loads(timings_file.read_text()) if timings_file.is_file() else {}

    def timed(key: str, made: Path, fn, *fn_args):
        """Run one part; record its wall time unless ``made`` existed before (the part was only kept)."""
        kept = made.exists()
        start = time.perf_counter()
        value = fn(*fn_args)
        seconds = time.perf_counter() - start
        if not kept or key not in timings:
            timings[key] = seconds
            # Several invocations may run at once: merge with what the others recorded meanwhile.
            merged = json.loads(timings_file.read_text()) if timings_file.is_file() else {}
            merged[key] = seconds
            timings.update(merged)
            atomic_write_json(timings_file, merged, indent=1)
        return value

    def tag(backend: str) -> str:
        return backend_spec(backend, args)[1]

    seeds = [int(s) for s in args.agent_seeds.split(",")]
    roots = timed("data", work / "data" / "shifted" / "generation.json", make_data, args, work)
    if "learned" in steps and "learned" in {*backends, train_backend}:
        timed("learned", learned_checkpoint(args), train_learned_backend, args, work, roots)
    agents = [work / "agents" / f"seed{seed}" / "final_model.zip" for seed in seeds]
    if "agents" in steps:
        timed("agents", agents[-1], train_agents, args, work, roots, train_backend)
    for backend in backends:
        if not steps & {"quality", "eval"}:
            break
        quality = work / "quality" / tag(backend) / "quality_estimator.pt"
        if "quality" in steps:
            made = quality.parent / "metrics.json"
            timed(f"quality {backend}", made, train_quality, args, work, roots, backend)
        if "eval" not in steps:
            continue
        for dataset in [d for d in DATASETS if d in args.datasets.split(",")]:
            timed(
                f"eval {backend} {dataset}",
                work / "eval" / tag(backend) / dataset / "results.json",
                run_evaluation,
                args,
                work,
                roots[dataset],
                dataset,
                backend,
                agents,
                quality,
            )
    if "table" in steps:
        print(write_table(args, work, backends, skipped, train_backend, timings, machine), flush=True)


if __name__ == "__main__":
    main()
