"""Throughput of the frame-recommendation environment for each VOS backend that runs here.

One command::

    python benchmarks/vos_env_throughput.py            # 25 frames of 120 x 216, 8 rounds
    python benchmarks/vos_env_throughput.py --quick    # smoke run, under a minute

It generates videos (DAVIS layout) in a temporary folder and plays the same fixed episodes
(random frame choices drawn once from ``--seed``) with:

* ``flow`` without a cache (the reference of the ratio column);
* ``learned`` without a cache, with a randomly initialised checkpoint unless ``--learned-checkpoint``
  names a trained one (throughput only: the masks of a random network are meaningless);
* ``cache`` around ``flow``: **cold** (empty cache folder: the model runs and every entry is written),
  **warm, from disk** (a new environment on the filled folder, so nothing is in memory; the files are
  in the OS page cache after the cold run) and **warm, in memory** (the same episodes again in an
  environment whose LRU already holds the entries).

Steps/s counts ``env.step`` calls divided by the wall time of the whole loop, resets included (a
reset runs round 1). The goal reward's random-recommendation statistics are planted before timing
(they cost 30 episodes per video and are cached separately), so they are not part of any figure.

Writes ``benchmarks/results/vos_env_throughput.md`` and ``.json`` and prints the Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.common import generated_episode_plans  # noqa: E402
from vos_recommender.envs import FrameRecommendationEnv  # noqa: E402


def random_learned_checkpoint(path: Path, seed: int = 0) -> Path:
    """Write a randomly initialised checkpoint of the learned backend's networks."""
    import torch

    from vos_recommender.backends.learned import InteractionNet, PropagationNet, save_checkpoint

    torch.manual_seed(seed)
    save_checkpoint(path, InteractionNet(width=16), PropagationNet(width=16), {"width": 16, "scale": 0.5})
    return path


def plant_goal_statistics(env: FrameRecommendationEnv, num_rounds: int) -> None:
    """Give every video placeholder statistics, so resets never run the 30 random episodes."""
    for name in env.video_names:
        key = env.goal_statistics_key(name, 0)
        env.stats.put(key, {"mean": [0.5] * num_rounds, "std": [0.1] * num_rounds, "runs": []})


def play(env: FrameRecommendationEnv, plans: list[tuple[str, list[int]]]) -> dict:
    """Play the planned episodes; return steps, wall seconds and seconds inside ``step``."""
    steps, step_seconds = 0, 0.0
    start = time.perf_counter()
    for name, actions in plans:
        env.reset(seed=0, options={"video": name})
        for action in actions:
            tic = time.perf_counter()
            env.step(action)
            step_seconds += time.perf_counter() - tic
            steps += 1
    return {"steps": steps, "seconds": time.perf_counter() - start, "step_seconds": step_seconds}


def measure(make_env, plans, repeats: int, fresh_each_repeat: bool, num_rounds: int) -> dict:
    """Run ``plans`` ``repeats`` times and sum the timings (new environment per repeat if asked)."""
    env = make_env()
    plant_goal_statistics(env, num_rounds)
    total = {"steps": 0, "seconds": 0.0, "step_seconds": 0.0}
    for repeat in range(repeats):
        if fresh_each_repeat and repeat > 0:
            env = make_env()
            plant_goal_statistics(env, num_rounds)
        run = play(env, plans)
        for k in total:
            total[k] += run[k]
    cache = getattr(env.backend, "stats", None)
    total["cache"] = cache() if cache else None
    return total


def _ratio(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}x"
    return f"{value:.1f}x" if value >= 1 else f"{value:.2f}x"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description="Steps/s of the frame-recommendation environment per backend."
    )
    parser.add_argument("--quick", action="store_true", help="tiny videos and few episodes (< 1 min)")
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--height", type=int, default=120)
    parser.add_argument("--width", type=int, default=216)
    parser.add_argument("--videos", type=int, default=2, help="generated videos")
    parser.add_argument(
        "--episodes", type=int, default=2, help="planned episodes (each of num_rounds rounds)"
    )
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument(
        "--warm-repeats", type=int, default=50, help="replays of the episodes on a warm cache"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--learned-checkpoint", default=None, help="trained learned-backend checkpoint")
    parser.add_argument("--skip-learned", action="store_true")
    parser.add_argument("--out-dir", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    if args.quick:
        args.frames, args.height, args.width = 8, 48, 64
        args.videos, args.episodes, args.rounds, args.warm_repeats = 1, 1, 4, 20

    work = Path(tempfile.mkdtemp(prefix="vos_env_throughput_"))
    videos, plans = generated_episode_plans(work / "data", args)
    common = dict(num_rounds=args.rounds, num_random_runs=2)

    def make(**settings):
        return FrameRecommendationEnv({**common, **settings}, videos=videos)

    if args.learned_checkpoint:
        learned_ckpt, learned_label = (
            Path(args.learned_checkpoint),
            f"learned ({Path(args.learned_checkpoint).name})",
        )
    else:
        learned_ckpt = random_learned_checkpoint(work / "learned_random.pt", args.seed)
        learned_label = "learned (random init)"

    cache_dir = work / "cache"
    rows = []

    def add(label, cache, make_env, repeats=1, fresh=False):
        result = measure(make_env, plans, repeats, fresh, args.rounds)
        result.update(backend=label, cache=cache, cache_stats=result.pop("cache"))
        rows.append(result)
        print(f"  {label:24s} {cache:18s} {result['steps'] / result['seconds']:10.1f} steps/s", flush=True)

    print(
        f"{len(videos)} video(s) of {args.frames} frames {args.height}x{args.width}, {args.episodes} episode(s) "
        f"of {args.rounds} rounds",
        flush=True,
    )
    add("flow", "none", lambda: make(backend="flow"))
    if not args.skip_learned:
        add(
            learned_label,
            "none",
            lambda: make(backend="learned", backend_kwargs={"checkpoint": str(learned_ckpt)}),
        )
    make_cached = lambda: make(backend="flow", cache_dir=cache_dir)  # noqa: E731
    add("cache(flow)", "cold", make_cached)
    add(
        "cache(flow)",
        "cold, uncompressed",
        lambda: make(backend="flow", cache_dir=work / "cache_raw", cache_kwargs={"compress": False}),
    )
    add("cache(flow)", "warm, from disk", make_cached, repeats=max(2, args.warm_repeats // 5), fresh=True)
    warm_env = make_cached()
    plant_goal_statistics(warm_env, args.rounds)
    play(warm_env, plans)  # fill the in-memory LRU
    add("cache(flow)", "warm, in memory", lambda: warm_env, repeats=args.warm_repeats)

    reference = rows[0]["steps"] / rows[0]["seconds"]
    lines = [
        f"Environment throughput on {len(videos)} generated video(s) of {args.frames} frames at "
        f"{args.height}x{args.width}, {args.episodes} fixed episode(s) of {args.rounds} rounds "
        f"(`{' '.join(['python benchmarks/vos_env_throughput.py'] + (argv if argv is not None else sys.argv[1:]))}`, "
        f"{os.cpu_count()} CPU cores (load average {os.getloadavg()[0]:.1f} at the end: shared machine), "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}).",
        "",
        "| backend | cache | steps | steps/s | ms/step (in step) | vs flow uncached | cache hit rate |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        rate = row["steps"] / row["seconds"]
        row["steps_per_s"] = rate
        row["ms_per_step_in_step"] = 1000.0 * row["step_seconds"] / row["steps"]
        row["ratio_vs_flow"] = rate / reference
        stats = row["cache_stats"]
        hit = f"{stats['hit_rate']:.2f}" if stats else "-"
        lines.append(
            f"| {row['backend']} | {row['cache']} | {row['steps']} | {rate:.1f} | "
            f"{row['ms_per_step_in_step']:.2f} | {_ratio(row['ratio_vs_flow'])} | {hit} |"
        )
    lines += [
        "",
        "steps/s = `env.step` calls / wall time of the loop including resets (a reset runs round 1); "
        "ms/step counts the time inside `step` only. Goal-reward statistics were planted, not timed. "
        "The hit rate is cumulative for the environment measured (the in-memory row's environment also "
        "played the episodes once before timing). "
        + (
            "The learned backend used a randomly initialised checkpoint (throughput only)."
            if not args.learned_checkpoint and not args.skip_learned
            else ""
        ),
    ]
    table = "\n".join(lines)
    print()
    print(table)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = "vos_env_throughput_quick" if args.quick else "vos_env_throughput"
    (out / f"{name}.md").write_text(table + "\n", encoding="utf-8")
    payload = {
        "settings": {k: v for k, v in vars(args).items()},
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "rows": rows,
    }
    (out / f"{name}.json").write_text(json.dumps(payload, indent=1), encoding="utf-8")
    shutil.rmtree(work, ignore_errors=True)
    return payload


if __name__ == "__main__":
    main()
