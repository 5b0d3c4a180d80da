"""The paper's Table 1 on generated data, with paired statistics, for every backend.

One command runs the whole protocol; every finished part is kept on disk and skipped when the command is
run again, so an interrupted run continues where it stopped::

    OMP_NUM_THREADS=1 nohup nice -n 5 python benchmarks/vos_table1.py --backends flow,atnet > table1.log 2>&1 &
    python benchmarks/vos_table1.py --quick          # tiny sizes (a smoke run of the same code)

Protocol (as the paper's, scaled to the machine):

1. Data (``<work>/data``): ``default`` (the generator's default preset: ``--quality-videos`` training
   videos and ``--heldout-videos`` held-out ones) and ``shifted`` (``--preset shifted``, another seed:
   faster motion, more bursts and distractors, up to four objects, longer videos; held-out only), the
   second test distribution as YouTube-VOS is in the paper. The agents train on the first
   ``--agent-videos`` training videos (the same files: a video depends only on the seed and its name).
2. Agents: trained once, on ``--train-backend`` in the oracle setting, one per ``--agent-seeds``, with the
   goal statistics from ``--num-random-runs`` random runs (cached in ``<work>/stats``).
3. A wild quality estimator per backend, trained on that backend's own outputs on the
   ``--quality-videos`` training videos (``vos_recommender.quality.train``).
4. Evaluation per backend x dataset (``vos_recommender.evaluate``): both settings, Random / Linspace /
   Worst / Ours, ``--heldout-videos`` x ``--scribbles`` (video, first scribble) pairs, all agents
   unchanged, Random over ``--random-seeds`` seeds, paired statistics.
5. The table (``--out``): AUC per (setting, strategy) x (dataset, backend), paired differences with
   bootstrap and t intervals, wins and losses, the verdict on the paper's claim, and one J&F-per-round
   plot per backend; with the command, the date and the machine's load.

Native backends (``ipn``, ``manet``, ``atnet``) run at ``--native-config`` size with the weights
``<--native-weights>/<name>.pth`` (or the folder ``<name>/``, IPN's layout); a native backend without weights is left out (and the table says so)
unless ``--allow-random-weights``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.common import machine_description  # noqa: E402
from vos_recommender.atomic import atomic_write_json, atomic_write_text  # noqa: E402
from vos_recommender.evaluation.table1 import (  # noqa: E402
    auc_table,
    paired_table,
    plot_backend,
    round_summary,
    round_table,
    verdict_table,
)

NATIVE = ("ipn", "manet", "atnet")
DATASETS = ("default", "shifted")


def log(message: str) -> None:
    print(f"[table1 {time.strftime('%H:%M:%S')}] {message}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add(
        "--work",
        default="work_dirs/vos_table1",
        help="folder of data, agents, estimators, caches, evaluations",
    )
    add("--out", default="benchmarks/results/vos_table1.md", help="the table (a .json and plots beside it)")
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
    add("--eval-part", default="both", choices=sorted(PARTS), help="evaluate both settings, or one part")
    add("--datasets", default="default,shifted", help="comma-separated test datasets to evaluate on")
    add(
        "--only",
        default="",
        help="comma-separated steps to run: data,agents,quality,eval,table (default all); "
        "'stats' alone: only the agents' goal statistics",
    )
    add("--quick", action="store_true", help="tiny sizes for a smoke run (flow only, 2 videos, 3 rounds)")
    args = parser.parse_args(argv)
    if args.quick:
        args.height, args.width = 40, 64
        args.quality_videos, args.agent_videos, args.heldout_videos, args.scribbles = 2, 2, 2, 1
        args.agent_seeds, args.agent_steps, args.train_rounds = "0,1", 40, 3
        args.num_random_runs, args.rounds, args.random_seeds = 2, 3, 2
        args.quality_epochs, args.bootstrap = 1, 200
    if args.heldout_videos < 1 or args.quality_videos < args.agent_videos or args.agent_videos < 1:
        parser.error("need --heldout-videos >= 1 and 1 <= --agent-videos <= --quality-videos")
    return args


# ---------------------------------------------------------------------------- backends
def backend_spec(name: str, args: argparse.Namespace) -> tuple[dict[str, Any], str] | None:
    """Constructor arguments and a cache tag of a backend; None for a native one without weights."""
    if name not in NATIVE:
        return {}, name
    weights = Path(args.native_weights) / f"{name}.pth"
    if not weights.is_file() and (Path(args.native_weights) / name).is_dir():
        weights = Path(args.native_weights) / name  # IPN's released layout: a folder with I.pth and P.pth
    if weights.exists():
        files = [weights] if weights.is_file() else sorted(p for p in weights.iterdir() if p.is_file())
        sha = hashlib.sha1()
        for path in files:
            sha.update(path.name.encode())
            sha.update(path.read_bytes())
        digest = sha.hexdigest()[:10]
        # The cache keys name the weights by path only: the digest keeps new weights from replaying old results.
        return {
            "config": args.native_config,
            "weights": str(weights),
        }, f"{name}-{args.native_config}-{digest}"
    if args.allow_random_weights:
        return {"config": args.native_config}, f"{name}-{args.native_config}-random"
    return None


# ---------------------------------------------------------------------------- steps
def make_data(args: argparse.Namespace, work: Path) -> dict[str, Path]:
    from vos_recommender.data.generate import PRESETS, generate_davis_dataset

    size = {"height": args.height, "width": args.width}
    plans = {
        "default": dict(num_train=args.quality_videos, num_val=args.heldout_videos, seed=0),
        "agent": dict(num_train=args.agent_videos, num_val=0, seed=0),
        "shifted": dict(
            num_train=0,
            num_val=args.heldout_videos,
            seed=1,
            preset="shifted",
            num_frames=PRESETS["shifted"].num_frames,
            max_objects=PRESETS["shifted"].max_objects,
        ),
    }
    roots = {}
    for name, plan in plans.items():
        root = work / "data" / name
        record = root / "generation.json"
        if record.is_file():
            info = json.loads(record.read_text())
            wanted = (len(info["splits"]["train"]), len(info["splits"]["val"]), info["height"], info["width"])
            if wanted != (plan["num_train"], plan["num_val"], args.height, args.width):
                raise ValueError(
                    f"{root} holds another data set ({wanted}); remove it or pick another --work"
                )
            log(f"data {name}: kept {root}")
        else:
            log(f"data {name}: generating {root}")
            generate_davis_dataset(root, **plan, **size)
        roots[name] = root
    return roots


def goal_statistics(config: Any, shard: str) -> int:
    """Compute (or find cached) the goal statistics of every training (video, first scribble) pair.

    Done before training so that several processes (``--stats-shard i/n``) can share the work and the
    seeds, trained afterwards, find every record in the cache.

    Returns:
        Number of records of this shard.
    """
    from vos_recommender.envs import FrameRecommendationEnv
    from vos_recommender.train import env_settings

    index, count = (int(v) for v in shard.split("/"))
    if not 0 <= index < count:
        raise ValueError(f"--stats-shard must be i/n with 0 <= i < n, got {shard!r}")
    env = FrameRecommendationEnv(**env_settings(config, config.split))
    pairs = [(name, k) for name in env.video_names for k in range(max(1, len(env.videos[name].scribbles)))]
    mine = pairs[index::count]
    for number, (name, k) in enumerate(mine, start=1):
        env.goal_statistics(name, k)
        log(f"goal statistics {number}/{len(mine)} ({name}, scribble {k}) ready")
    env.close()
    return len(mine)


def kept_settings(run_dir: Path, args: argparse.Namespace) -> None:
    """Refuse to keep or resume an agent trained with another schedule than the one asked for."""
    saved = run_dir / "config.json"
    if not saved.is_file():
        return
    config = json.loads(saved.read_text())
    asked = {"total_timesteps": args.agent_steps, "lr": args.agent_lr, "num_rounds": args.train_rounds}
    differ = {key: (config.get(key), value) for key, value in asked.items() if config.get(key) != value}
    if differ:
        detail = ", ".join(f"{key} {old} there, {new} asked" for key, (old, new) in differ.items())
        raise SystemExit(
            f"{run_dir} holds an agent trained with other settings ({detail}): move the folder away to "
            "train anew, or pass its settings"
        )


def train_agents(
    args: argparse.Namespace, work: Path, roots: dict[str, Path], train_backend: str
) -> list[Path]:
    from vos_recommender.config import TrainConfig
    from vos_recommender.train import train

    kwargs, tag = backend_spec(train_backend, args)
    paths = []
    for seed in [int(s) for s in args.agent_seeds.split(",")]:
        name = f"seed{seed}"
        final = work / "agents" / name / "final_model.zip"
        paths.append(final)
        kept_settings(work / "agents" / name, args)
        if final.is_file():
            log(f"agent {name}: kept {final}")
            continue
        resume = (work / "agents" / name / "resume" / "latest.json").is_file()
        log(
            f"agent {name}: training on {train_backend} ({args.agent_steps} steps{', resumed' if resume else ''})"
        )
        config = TrainConfig(
            name=name,
            runs_dir=str(work / "agents"),
            seed=seed,
            resume=resume,
            overwrite=not resume,
            progress_bar=False,
            verbose=0,
            data=str(roots["agent"]),
            generate_if_missing=False,
            split="train",
            backend=train_backend,
            backend_kwargs=json.dumps(kwargs),
            cache_dir=str(work / "cache" / tag),
            stats_dir=str(work / "stats" / tag),
            num_rounds=args.train_rounds,
            num_random_runs=args.num_random_runs,
            total_timesteps=args.agent_steps,
            lr=args.agent_lr,
            checkpoint_freq=max(args.agent_steps // 4, 1),
            resume_every=max(args.agent_steps // 10, 1),
        )
        goal_statistics(config, args.stats_shard)
        if args.only == "stats":
            break
        train(config)
    return paths


def train_quality(args: argparse.Namespace, work: Path, roots: dict[str, Path], backend: str) -> Path:
    from vos_recommender.quality.train import QualityTrainSettings, train

    kwargs, tag = backend_spec(backend, args)
    out = work / "quality" / tag
    checkpoint = out / "quality_estimator.pt"
    if (out / "metrics.json").is_file() and checkpoint.is_file():
        log(f"quality {backend}: kept {checkpoint}")
        return checkpoint
    log(f"quality {backend}: training on {args.quality_videos} videos")
    train(
        QualityTrainSettings(
            data=str(roots["default"]),
            out=str(out),
            backend=backend,
            backend_kwargs=json.dumps(kwargs),
            epochs=args.quality_epochs,
            threads=1,
        )
    )
    return checkpoint


#: ``--eval-part``: the settings and strategies of each part of an evaluation, so that parts of about the
#: same cost can run as separate processes. Random and Linspace ignore the quality, so they run in the
#: oracle setting only and the merged wild setting borrows their sessions.
PARTS = {
    "both": ("oracle,wild", "random,linspace,worst,ours"),
    "oracle": ("oracle", "random,linspace,worst,ours"),
    "wild": ("wild", "worst,ours"),
    "baselines": ("oracle", "random,linspace"),
    "oracle-agent": ("oracle", "worst,ours"),
}
#: Strategy keys the merged evaluation needs per setting.
NEEDED = {"oracle": ("random", "linspace", "worst", "ours"), "wild": ("worst", "ours")}


def run_evaluation(
    args: argparse.Namespace,
    work: Path,
    root: Path,
    dataset: str,
    backend: str,
    agents: list[Path],
    quality: Path,
) -> Path:
    """Evaluate one (backend, dataset), or one part of it (``--eval-part``), and merge finished parts."""
    from vos_recommender.evaluate import EvalConfig, evaluate

    kwargs, tag = backend_spec(backend, args)
    out = work / "eval" / tag / dataset
    if (out / "results.json").is_file():
        log(f"eval {backend} {dataset}: kept {out}")
        return out / "results.json"
    settings, strategies = PARTS[args.eval_part]
    part_out = out if args.eval_part == "both" else out / f"{args.eval_part}-part"
    config = EvalConfig(
        agent=",".join(str(p) for p in agents),
        data=str(root),
        generate_if_missing=False,
        split="val",
        backend=backend,
        backend_kwargs=json.dumps(kwargs),
        cache_dir=str(work / "cache" / tag),
        stats_dir=str(work / "stats" / tag),
        quality_checkpoint=str(quality),
        settings=settings,
        strategies=strategies,
        num_rounds=args.rounds,
        seeds=args.random_seeds,
        scribbles=args.scribbles,
        max_videos=args.heldout_videos,
        bootstrap=args.bootstrap,
        out=str(part_out),
        verbose=1,
    )
    if (part_out / "results.json").is_file():
        log(f"eval {backend} {dataset} {args.eval_part} part: kept {part_out}")
    else:
        log(
            f"eval {backend} {dataset}{'' if args.eval_part == 'both' else ' ' + args.eval_part + ' part'}: running"
        )
        evaluate(config)
    merge_parts(out, config)
    return out / "results.json"


def merge_parts(out: Path, config: Any) -> bool:
    """Write ``out/results.*`` from its ``*-part`` evaluations once they hold every setting and strategy.

    Returns:
        True when the merged results were written.
    """
    import dataclasses

    from vos_recommender.eval_report import write_report
    from vos_recommender.evaluate import build_results

    if (out / "results.json").is_file():
        return False
    found: dict[str, dict[str, list]] = {"oracle": {}, "wild": {}}
    parts = sorted(out.glob("*-part/results.json"))
    for path in parts:
        for setting, by_strategy in json.loads(path.read_text())["sessions"].items():
            found[setting].update(by_strategy)
    if any(key not in found[s] for s, keys in NEEDED.items() for key in keys):
        return False
    oracle = {key: found["oracle"][key] for key in NEEDED["oracle"]}
    sessions = {"oracle": oracle, "wild": {**{k: oracle[k] for k in ("random", "linspace")}, **found["wild"]}}
    sessions["wild"] = {key: sessions["wild"][key] for key in NEEDED["oracle"]}
    merged = dataclasses.replace(config, settings="oracle,wild", strategies=PARTS["both"][1], out=str(out))
    notes = [
        f"Merged from {', '.join(p.parent.name for p in parts)} (run as separate processes); Random and "
        "Linspace ignore the quality: their sessions are shared by both settings."
    ]
    write_report(out, build_results(merged, sessions), notes)
    log(f"merged {len(parts)} parts into {out}")
    return True


# ---------------------------------------------------------------------------- table
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
        train_backend = json.loads(agent_config.read_text()).get("backend", train_backend)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plots = []
    for backend in backends:
        mine = [e for e in entries if e["backend"] == backend]
        if mine:
            plot = out.with_name(f"{out.stem}_{backend}.png")
            plot_backend(plot, backend, mine)
            plots.append(f"[{backend}]({plot.name})")
    command = "OMP_NUM_THREADS=1 nice -n 5 python benchmarks/vos_table1.py " + shlex.join(
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


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    machine = machine_description()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    steps = {s.strip() for s in args.only.split(",") if s.strip()} or {
        "data",
        "agents",
        "quality",
        "eval",
        "table",
    }
    unknown = steps - {"data", "agents", "quality", "eval", "table", "stats"}
    if steps == {"stats"}:  # only the agents' goal statistics (a shard of them)
        steps = {"data", "agents"}
    if unknown:
        raise SystemExit(
            f"--only: unknown steps {sorted(unknown)}; known: data, agents, quality, eval, table"
        )
    backends, skipped = [], []
    for name in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if args.quick and name != "flow":
            continue
        if backend_spec(name, args) is None:
            skipped.append(f"{name} (no weights at {Path(args.native_weights) / (name + '.pth')})")
            log(f"leaving out {name}: no weights at {Path(args.native_weights) / (name + '.pth')}")
        else:
            backends.append(name)
    train_backend = args.train_backend
    if backend_spec(train_backend, args) is None or (args.quick and train_backend != "flow"):
        log(f"agents train on flow: {train_backend} has no weights")
        train_backend = "flow"
    # Wall times of every part, over all invocations (parts kept from an earlier one keep their time).
    timings_file = work / "timings.json"
    timings: dict[str, float] = json.loads(timings_file.read_text()) if timings_file.is_file() else {}

    def timed(key: str, fn, *fn_args):
        start = time.perf_counter()
        value = fn(*fn_args)
        seconds = time.perf_counter() - start
        if seconds > 1 or key not in timings:  # a kept part takes no time: keep the time it took to make
            timings[key] = seconds
            # Several invocations may run at once: merge with what the others recorded meanwhile.
            merged = json.loads(timings_file.read_text()) if timings_file.is_file() else {}
            merged[key] = seconds
            timings.update(merged)
            atomic_write_json(timings_file, merged, indent=1)
        return value

    roots = timed("data", make_data, args, work)
    agents = []
    if steps & {"agents", "eval"}:
        agents = timed("agents", train_agents, args, work, roots, train_backend) if "agents" in steps else []
    for backend in backends:
        if not steps & {"quality", "eval"}:
            break
        quality = (
            timed(f"quality {backend}", train_quality, args, work, roots, backend)
            if "quality" in steps
            else work / "quality" / backend_spec(backend, args)[1] / "quality_estimator.pt"
        )
        if "eval" not in steps:
            continue
        if not agents:
            agents = [
                work / "agents" / f"seed{int(s)}" / "final_model.zip" for s in args.agent_seeds.split(",")
            ]
        for dataset in [d for d in DATASETS if d in args.datasets.split(",")]:
            timed(
                f"eval {backend} {dataset}",
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
