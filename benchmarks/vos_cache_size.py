"""Disk use and speed of the cache backend's entry formats, on the same generated videos and episodes.

One command::

    python benchmarks/vos_cache_size.py            # 2 videos of 25 frames at 120 x 216, 2 episodes of 8 rounds
    python benchmarks/vos_cache_size.py --quick    # smoke run, well under a minute

For each format it plays the same fixed episodes (random frames drawn once from ``--seed``) through a
``FrameRecommendationEnv`` with ``backend="flow"`` on an empty cache folder (**cold**: every round runs
the model and writes an entry), then again in a new environment on the filled folder (**warm, from
disk**), and then asks every replayed round of one more pass for its probabilities (what a learned
quality estimator needs when the entry does not hold its prediction yet). Formats:

* ``before``: the previous layout, float32 probabilities next to the masks, deflated at zlib level 6
  (``np.savez_compressed``'s level); ``store_probs="float32", compress=6`` writes the same files;
* ``none`` (the default), ``uint8``, ``float16``: ``store_probs`` at zlib level 1.

It then estimates the folder of a default training run plus its evaluation from the bytes per entry:
every round played writes at most one entry (fewer when histories repeat), so

    rounds = train steps + train episodes (round 1 of each) + goal-statistics episodes x rounds
             + evaluation sessions x 8 rounds

with the defaults of ``vos_recommender.train`` / ``vos_recommender.evaluate`` on the generated dataset
(8 training videos, 4 held-out videos with 3 first scribbles each). Writes
``benchmarks/results/vos_cache_size.md`` and ``.json`` and prints the Markdown table.
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

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.common import generated_episode_plans  # noqa: E402
from benchmarks.vos_env_throughput import plant_goal_statistics, play  # noqa: E402
from vos_recommender.envs import FrameRecommendationEnv  # noqa: E402

FORMATS = {
    "before": {"store_probs": "float32", "compress": 6},
    "none": {"store_probs": "none"},
    "uint8": {"store_probs": "uint8"},
    "float16": {"store_probs": "float16"},
}


def folder_bytes(folder: Path) -> dict[str, int]:
    """Bytes of a cache folder by part: arrays files, records, stored scribbles, other."""
    parts = {"arrays": 0, "records": 0, "scribbles": 0, "other": 0}
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        relative = path.relative_to(folder)
        if relative.parts[0] == "scribbles":
            part = "scribbles"
        elif len(relative.parts) == 2 and path.suffix == ".npz":
            part = "arrays"
        elif len(relative.parts) == 2 and path.suffix == ".json":
            part = "records"
        else:
            part = "other"
        parts[part] += path.stat().st_size
    return parts


def probs_pass(make_env, plans, num_rounds: int) -> float:
    """Seconds per round to get the probabilities of replayed rounds, in a new environment."""
    env = make_env()
    plant_goal_statistics(env, num_rounds)
    rounds, seconds = 0, 0.0
    for name, actions in plans:
        env.reset(seed=0, options={"video": name})
        for action in [None, *actions]:
            if action is not None:
                env.step(action)
            tic = time.perf_counter()
            env.unwrapped.episode.result.probs  # noqa: B018 (the access is what is timed)
            seconds += time.perf_counter() - tic
            rounds += 1
    return seconds / rounds


def default_run_rounds() -> dict[str, int]:
    """Rounds played (an upper bound of the entries written) by a default training run and evaluation."""
    from vos_recommender.config import TrainConfig
    from vos_recommender.evaluate import EvalConfig

    train, evaluate = TrainConfig(), EvalConfig()
    train_videos, val_videos, scribbles = 8, 4, 3
    rounds = train.env.episode.num_rounds
    episodes = train.total_timesteps // (rounds - 1)
    training = train.total_timesteps + episodes
    goal = train_videos * train.env.reward.num_random_runs * rounds
    strategies = evaluate.strategies.split(",")
    sessions_per_setting = val_videos * scribbles * (len(strategies) - 1 + evaluate.seeds)  # Random: seeds
    evaluation = len(evaluate.settings.split(",")) * sessions_per_setting * evaluate.env.episode.num_rounds
    # Evaluation's environments compute goal statistics too (2 random runs), on the held-out videos.
    evaluation += (
        len(evaluate.settings.split(",")) * val_videos * scribbles * 2 * evaluate.env.episode.num_rounds
    )
    return {"training": training, "goal_statistics": goal, "evaluation": evaluation}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="Bytes and steps/s of the cache backend's entry formats.")
    parser.add_argument("--quick", action="store_true", help="tiny videos and few episodes")
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--height", type=int, default=120)
    parser.add_argument("--width", type=int, default=216)
    parser.add_argument("--videos", type=int, default=2)
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--warm-repeats", type=int, default=9, help="warm passes per format (median)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", default=str(REPO / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    if args.quick:
        args.frames, args.height, args.width = 8, 48, 64
        args.videos, args.episodes, args.rounds, args.warm_repeats = 1, 1, 4, 3

    work = Path(tempfile.mkdtemp(prefix="vos_cache_size_"))
    videos, plans = generated_episode_plans(work / "data", args)
    common = dict(num_rounds=args.rounds, num_random_runs=2)
    print(
        f"{len(videos)} video(s) of {args.frames} frames {args.height}x{args.width}, {args.episodes} "
        f"episode(s) of {args.rounds} rounds",
        flush=True,
    )

    rows, makers = [], {}
    for label, kwargs in FORMATS.items():
        folder = work / f"cache_{label}"

        def make_env(folder=folder, kwargs=kwargs):
            return FrameRecommendationEnv(
                {"backend": "flow", "cache_dir": folder, "cache_kwargs": kwargs, **common}, videos=videos
            )

        makers[label] = make_env
        env = make_env()
        plant_goal_statistics(env, args.rounds)
        cold = play(env, plans)
        entries = env.backend.stats()["misses"]
        parts = folder_bytes(folder)
        total = sum(parts.values())
        rows.append(
            {
                "format": label,
                "settings": kwargs,
                "entries": entries,
                "bytes": parts,
                "bytes_total": total,
                "bytes_per_entry": total / entries,
                "bytes_per_episode": total / len(plans),
                "cold_steps_per_s": cold["steps"] / cold["seconds"],
                "warm_rates": [],
            }
        )
        print(
            f"  {label:8s} cold {cold['steps'] / cold['seconds']:6.2f} steps/s, {total / entries / 1e3:.1f} KB/entry"
        )
    # Warm passes take turns between the formats, so a change of the machine's load hits all of them.
    for _ in range(args.warm_repeats):
        for row in rows:
            env = makers[row["format"]]()
            plant_goal_statistics(env, args.rounds)
            run = play(env, plans)
            row["warm_rates"].append(run["steps"] / run["seconds"])
    for row in rows:
        row["warm_steps_per_s"] = float(np.median(row["warm_rates"]))
        row["probs_ms_per_replayed_round"] = 1000.0 * probs_pass(makers[row["format"]], plans, args.rounds)
        print(
            f"  {row['format']:8s} warm {row['warm_steps_per_s']:8.1f} steps/s (median of {args.warm_repeats}), "
            f"probs {row['probs_ms_per_replayed_round']:7.1f} ms",
            flush=True,
        )

    rounds = default_run_rounds()
    total_rounds = sum(rounds.values())
    before = rows[0]["bytes_per_entry"]
    lines = [
        f"Cache entry formats on {len(videos)} generated video(s) of {args.frames} frames at "
        f"{args.height}x{args.width}, {len(plans)} fixed episode(s) of {args.rounds} rounds, `flow` backend "
        f"(`{' '.join(['python benchmarks/vos_cache_size.py'] + (argv if argv is not None else sys.argv[1:]))}`, "
        f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} at the end: shared machine; "
        f"Python {platform.python_version()}).",
        "",
        "| format | KB/entry (arrays + record + scribble) | MB for these episodes | vs before | cold steps/s "
        "| warm steps/s (from disk, median) | probs of a replayed round (ms) | default run + evaluation (est.) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        parts = row["bytes"]
        per = row["bytes_per_entry"]
        estimate = per * total_rounds
        row["default_run_estimate_bytes"] = estimate
        lines.append(
            f"| {row['format']} | {per / 1e3:.1f} ({parts['arrays'] / row['entries'] / 1e3:.1f} + "
            f"{parts['records'] / row['entries'] / 1e3:.1f} + {parts['scribbles'] / row['entries'] / 1e3:.1f}) | "
            f"{row['bytes_total'] / 1e6:.2f} | {per / before:.3f}x | {row['cold_steps_per_s']:.2f} | "
            f"{row['warm_steps_per_s']:.0f} | {row['probs_ms_per_replayed_round']:.1f} | "
            f"{estimate / 1e9:.2f} GB |"
        )
    lines += [
        "",
        f"Default run estimate: {total_rounds} rounds ({rounds['training']} training, "
        f"{rounds['goal_statistics']} goal-statistics, {rounds['evaluation']} evaluation) x the measured "
        "bytes per entry; an upper bound, since repeated histories (replays) write nothing, and meaningful "
        "only when measured at the default video size (25 frames at 120x216). "
        "Cold and warm steps/s count `env.step` calls over the loop's wall time, resets included; "
        "warm rows read only the entries' records and are the median of passes that take turns between "
        "the formats, each in a new environment (nothing in memory). The probabilities column times the "
        "first access to "
        "`result.probs` of replayed rounds in a new environment: a load for the formats that store them, "
        "a rerun of the round by the wrapped backend for `none`.",
    ]
    table = "\n".join(lines)
    print()
    print(table)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = "vos_cache_size_quick" if args.quick else "vos_cache_size"
    (out / f"{name}.md").write_text(table + "\n", encoding="utf-8")
    payload = {"settings": vars(args), "default_run_rounds": rounds, "rows": rows}
    (out / f"{name}.json").write_text(json.dumps(payload, indent=1), encoding="utf-8")
    shutil.rmtree(work, ignore_errors=True)
    return payload


if __name__ == "__main__":
    main()
