"""Training throughput of ``RecurrentDQN.learn``: environment steps/s and gradient steps/s.

One command::

    python benchmarks/vos_train_throughput.py            # full run (a few minutes)
    python benchmarks/vos_train_throughput.py --quick    # smoke run, under a minute
    python benchmarks/vos_train_throughput.py --n-envs 1 --baseline-ref 6d66b12 --repeats 2
        # the same measurement on another revision too (temporary git worktree, one subprocess per run,
        # runs alternating), then both and their ratio: benchmarks/results/vos_train_throughput_compare.md

Environments, each for ``--n-envs`` (default ``1 2``; more than one uses ``SubprocVecEnv``):

* ``FrameRecommendationEnv`` with the ``flow`` backend behind the replay cache, on generated videos
  (DAVIS layout, temporary folder). The **cold** run trains on an empty cache folder (every VOS round
  is computed and written); the **warm** run trains a fresh model with the same seed on a fresh
  environment over the filled folder. Training is deterministic for a seed, so the warm run plays
  exactly the episodes of the cold run and every round is a cache hit (the hit rate column checks it).
  Goal-reward statistics are planted before timing (they are cached separately), as in
  ``vos_env_throughput.py``.
* the toy task of the agent tests (``WindowDeficitEnv``: no segmentation at all).

Columns:

* **env steps/s (learn)**: agent steps / wall time of ``learn`` (acting, environment, updates);
* **env-only steps/s**: the baseline measured in the same run: the same episodes (same reset seeds,
  the actions recorded during ``learn``) replayed through a fresh vectorised environment without the
  agent (warm rows replay on the warm cache, cold rows on a new empty cache folder);
* **learn / env-only**: the ratio of the two: the share of the environment's own speed that training
  keeps;
* **grad steps/s (in learn)**: updates / time spent inside ``train()`` during ``learn``;
* **collect steps/s**: agent steps / (``learn`` time minus ``train()`` time): acting plus environment.

A second table gives gradient steps/s alone: ``--grad-steps`` updates on the filled replay buffer of
each environment (batch 32, the released network), so the frame count is the only difference.

Torch runs on ``--threads`` threads (default 1: the network is small, and on a shared machine more
threads mostly add hand-off cost). ``--code-root`` measures the ``vos_recommender`` of another checkout. Writes ``benchmarks/results/vos_train_throughput.md`` and ``.json`` (``_quick`` with
``--quick``) and prints the Markdown tables.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from stable_baselines3.common.env_util import make_vec_env  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _code_root(argv: list[str]) -> Path:
    """The checkout whose ``vos_recommender`` is measured (``--code-root``; default: this one)."""
    for i, arg in enumerate(argv):
        if arg == "--code-root" and i + 1 < len(argv):
            return Path(argv[i + 1]).resolve()
        if arg.startswith("--code-root="):
            return Path(arg.split("=", 1)[1]).resolve()
    return REPO


CODE_ROOT = _code_root(sys.argv[1:])
if not (CODE_ROOT / "vos_recommender").is_dir():
    raise SystemExit(f"--code-root {CODE_ROOT} holds no vos_recommender package")
sys.path.insert(0, str(CODE_ROOT))

from tests.vos.test_agent_toy_env import WindowDeficitEnv  # noqa: E402
from vos_recommender.agent import EpisodeSeedWrapper, RecurrentDQN  # noqa: E402
from vos_recommender.data.davis import DavisDataset  # noqa: E402
from vos_recommender.data.generate import generate_davis_dataset  # noqa: E402
from vos_recommender.envs import FrameRecommendationEnv  # noqa: E402


class ActionRecorder(gym.Wrapper):
    """Records the actions taken in each episode, and reports the VOS cache statistics if any."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.episodes: list[list[int]] = []

    def reset(self, **kwargs: Any) -> tuple[Any, dict]:
        self.episodes.append([])
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        self.episodes[-1].append(int(action))
        return self.env.step(action)

    def recorded(self) -> list[list[int]]:
        """Actions of every episode started so far (the last one may be unfinished)."""
        return self.episodes

    def cache_stats(self) -> dict | None:
        """Hits, misses and hit rate of the cache backend (None without a cache)."""
        stats = getattr(getattr(self.env.unwrapped, "backend", None), "stats", None)
        return stats() if callable(stats) else None


def plant_goal_statistics(env: FrameRecommendationEnv, num_rounds: int) -> None:
    """Placeholder goal statistics for every video, so resets never run the random episodes."""
    for name in env.video_names:
        key = env.goal_statistics_key(name, 0)
        env.stats.put(key, {"mean": [0.5] * num_rounds, "std": [0.1] * num_rounds, "runs": []})


def make_vos_env(data_root: str, cache_dir: str, num_rounds: int) -> gym.Env:
    env = FrameRecommendationEnv(
        {
            "session": {"backend": "flow", "cache_dir": cache_dir},
            "episode": {"data_root": data_root, "split": "train", "num_rounds": num_rounds},
            "reward": {"num_random_runs": 2},
        }
    )
    plant_goal_statistics(env, num_rounds)
    return ActionRecorder(EpisodeSeedWrapper(env))


def make_toy_env() -> gym.Env:
    return ActionRecorder(EpisodeSeedWrapper(WindowDeficitEnv()))


def vec_env(factory, n_envs: int, seed: int) -> VecEnv:
    cls = SubprocVecEnv if n_envs > 1 else DummyVecEnv
    kwargs = {"start_method": "fork"} if n_envs > 1 else None
    return make_vec_env(factory, n_envs=n_envs, seed=seed, vec_env_cls=cls, vec_env_kwargs=kwargs)


def timed_learn(env: VecEnv, timesteps: int, seed: int) -> dict:
    """Train a released-size model for ``timesteps`` agent steps; time ``learn`` and its ``train`` calls."""
    model = RecurrentDQN(env=env, seed=seed, learning_starts=32, warmup_episodes=0, verbose=0)
    spent = {"train_seconds": 0.0}
    original_train = model.train

    def train(gradient_steps: int, batch_size: int = 100) -> None:
        tic = time.perf_counter()
        original_train(gradient_steps=gradient_steps, batch_size=batch_size)
        spent["train_seconds"] += time.perf_counter() - tic

    model.train = train  # type: ignore[method-assign]
    tic = time.perf_counter()
    model.learn(timesteps)
    seconds = time.perf_counter() - tic
    return {
        "model": model,
        "steps": int(model.num_timesteps),
        "seconds": seconds,
        "train_seconds": spent["train_seconds"],
        "grad_steps": model.n_updates,
        "episodes": env.env_method("recorded"),
        "cache": env.env_method("cache_stats"),
    }


def replay(env: VecEnv, episodes: list[list[list[int]]]) -> dict:
    """Step ``env`` through the recorded actions of each sub-environment (same reset seeds), no agent."""
    env.reset()
    n = env.num_envs
    queues = [[a for episode in per_env for a in episode] for per_env in episodes]
    steps = min(len(q) for q in queues)
    tic = time.perf_counter()
    for t in range(steps):
        env.step(np.array([queues[i][t] for i in range(n)]))
    seconds = time.perf_counter() - tic
    return {"steps": steps * n, "seconds": seconds, "cache": env.env_method("cache_stats")}


def merge_cache(stats: list[dict | None]) -> dict | None:
    if not stats or stats[0] is None:
        return None
    hits = sum(s["hits"] for s in stats)
    misses = sum(s["misses"] for s in stats)
    return {"hits": hits, "misses": misses, "hit_rate": hits / max(1, hits + misses)}


def gradient_only(model: RecurrentDQN, steps: int) -> dict:
    """Updates on the model's filled buffer, timed alone."""
    model.train(gradient_steps=2, batch_size=model.batch_size)  # first-call allocations
    tic = time.perf_counter()
    model.train(gradient_steps=steps, batch_size=model.batch_size)
    seconds = time.perf_counter() - tic
    return {"grad_steps": steps, "seconds": seconds, "grad_steps_per_s": steps / seconds}


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="Environment and gradient steps/s of RecurrentDQN.learn.")
    parser.add_argument("--quick", action="store_true", help="tiny videos and short runs (< 1 min)")
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--height", type=int, default=120)
    parser.add_argument("--width", type=int, default=216)
    parser.add_argument("--videos", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5, help="interaction rounds per episode")
    parser.add_argument("--vos-steps", type=int, default=160, help="agent steps per VOS learn run")
    parser.add_argument("--toy-steps", type=int, default=600, help="agent steps per toy learn run")
    parser.add_argument("--grad-steps", type=int, default=300, help="updates of the gradient-only table")
    parser.add_argument("--n-envs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", default=str(REPO / "benchmarks" / "results"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (torch.set_num_threads)")
    parser.add_argument(
        "--code-root",
        default=str(REPO),
        help="checkout whose vos_recommender is measured (default: this one)",
    )
    parser.add_argument(
        "--baseline-ref",
        default=None,
        help="also measure this git revision (temporary worktree, same arguments, same invocation) and "
        "print both and their ratio",
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="with --baseline-ref: alternating runs of each, best kept"
    )
    raw_argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.baseline_ref is not None:
        return compare_with(args, raw_argv)
    if args.quick:
        args.frames, args.height, args.width, args.videos = 8, 48, 64, 1
        args.rounds, args.vos_steps, args.toy_steps, args.grad_steps = 4, 48, 60, 20
    torch.set_num_threads(args.threads)

    work = Path(tempfile.mkdtemp(prefix="vos_train_throughput_"))
    root = generate_davis_dataset(
        work / "data",
        num_train=args.videos,
        num_val=0,
        num_frames=args.frames,
        height=args.height,
        width=args.width,
        seed=args.seed,
    )
    assert len(DavisDataset(root, split="train").sequences) == args.videos
    rows: list[dict] = []
    grads: list[dict] = []

    def record(env_name: str, n_envs: int, cache: str, run: dict, base: dict) -> None:
        row = {
            "env": env_name,
            "n_envs": n_envs,
            "cache": cache,
            "steps": run["steps"],
            "learn_seconds": run["seconds"],
            "train_seconds": run["train_seconds"],
            "grad_steps": run["grad_steps"],
            "env_steps_per_s": run["steps"] / run["seconds"],
            "grad_steps_per_s_in_learn": run["grad_steps"] / max(run["train_seconds"], 1e-9),
            "collect_steps_per_s": run["steps"] / max(run["seconds"] - run["train_seconds"], 1e-9),
            "env_only_steps": base["steps"],
            "env_only_seconds": base["seconds"],
            "env_only_steps_per_s": base["steps"] / base["seconds"],
            "learn_cache": merge_cache(run["cache"]),
            "env_only_cache": merge_cache(base["cache"]),
            "same_episodes_as_cold": run.get("same_episodes_as_cold"),
        }
        row["ratio_learn_vs_env_only"] = row["env_steps_per_s"] / row["env_only_steps_per_s"]
        rows.append(row)
        print(
            f"  {env_name:10s} n_envs={n_envs} {cache:5s} learn {row['env_steps_per_s']:8.1f} steps/s, "
            f"env-only {row['env_only_steps_per_s']:9.1f} steps/s, "
            f"grad {row['grad_steps_per_s_in_learn']:7.1f}/s",
            flush=True,
        )

    for n_envs in args.n_envs:
        label = "SubprocVecEnv" if n_envs > 1 else "DummyVecEnv"
        print(f"n_envs = {n_envs} ({label})", flush=True)
        cache_dir = work / f"cache_{n_envs}"
        vos = functools.partial(make_vos_env, str(root), str(cache_dir), args.rounds)
        cold_env = vec_env(vos, n_envs, args.seed)
        cold = timed_learn(cold_env, args.vos_steps, args.seed)
        cold_env.close()
        cold_base_env = vec_env(
            functools.partial(make_vos_env, str(root), str(work / f"cache_{n_envs}_replay"), args.rounds),
            n_envs,
            args.seed,
        )
        cold_base = replay(cold_base_env, cold["episodes"])
        cold_base_env.close()
        record("vos/flow", n_envs, "cold", cold, cold_base)
        warm_env = vec_env(vos, n_envs, args.seed)
        warm = timed_learn(warm_env, args.vos_steps, args.seed)
        warm_env.close()
        warm["same_episodes_as_cold"] = warm["episodes"] == cold["episodes"]
        if not warm["same_episodes_as_cold"]:
            print("  warning: the warm run's actions differ from the cold run's", flush=True)
        warm_base_env = vec_env(vos, n_envs, args.seed)
        warm_base = replay(warm_base_env, warm["episodes"])
        warm_base_env.close()
        record("vos/flow", n_envs, "warm", warm, warm_base)
        if n_envs == args.n_envs[0]:
            grads.append(
                {"env": "vos/flow", "frames": args.frames, **gradient_only(warm["model"], args.grad_steps)}
            )

        toy_env = vec_env(make_toy_env, n_envs, args.seed)
        toy = timed_learn(toy_env, args.toy_steps, args.seed)
        toy_env.close()
        toy_base_env = vec_env(make_toy_env, n_envs, args.seed)
        toy_base = replay(toy_base_env, toy["episodes"])
        toy_base_env.close()
        record("toy", n_envs, "-", toy, toy_base)
        if n_envs == args.n_envs[0]:
            grads.append({"env": "toy", "frames": 10, **gradient_only(toy["model"], args.grad_steps)})

    command = " ".join(
        ["python benchmarks/vos_train_throughput.py"] + (argv if argv is not None else sys.argv[1:])
    )
    lines = [
        f"`RecurrentDQN.learn` throughput (`{command}`): released network (128/128/128, batch 32, one update "
        f"per agent step after 32 random steps), torch on {args.threads} thread(s), code from `{args.code_root}`; VOS: {args.videos} generated video(s) of "
        f"{args.frames} frames at {args.height}x{args.width}, {args.rounds} rounds per episode, flow backend "
        f"behind the replay cache; toy: `WindowDeficitEnv` (10 frames, 3 steps). {os.cpu_count()} CPU cores "
        f"(load average {os.getloadavg()[0]:.1f} at the end: shared machine), "
        f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"torch {torch.__version__}.",
        "",
        "| env | n_envs | cache | agent steps | env steps/s (learn) | env-only steps/s | learn / env-only "
        "| grad steps | grad steps/s (in learn) | collect steps/s | cache hit rate (learn) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        hit = row["learn_cache"]
        lines.append(
            f"| {row['env']} | {row['n_envs']} | {row['cache']} | {row['steps']} | {_fmt(row['env_steps_per_s'])} "
            f"| {_fmt(row['env_only_steps_per_s'])} | {row['ratio_learn_vs_env_only']:.3f}x | {row['grad_steps']} "
            f"| {_fmt(row['grad_steps_per_s_in_learn'])} | {_fmt(row['collect_steps_per_s'])} "
            f"| {'-' if hit is None else format(hit['hit_rate'], '.2f')} |"
        )
    lines += [
        "",
        "| env | frames | gradient steps (filled buffer) | seconds | grad steps/s |",
        "|---|---:|---:|---:|---:|",
    ]
    for grad in grads:
        lines.append(
            f"| {grad['env']} | {grad['frames']} | {grad['grad_steps']} | {grad['seconds']:.2f} "
            f"| {_fmt(grad['grad_steps_per_s'])} |"
        )
    lines += [
        "",
        "env steps/s (learn) = agent steps / wall time of `learn`; env-only = the same episodes and actions "
        "replayed without the agent (cold rows on a new empty cache, warm rows on the filled cache); "
        "grad steps/s (in learn) = updates / time inside `train()`; collect steps/s = agent steps / (learn "
        "time - train time). The warm run trains a fresh model with the same seed and replays the cold run's "
        "episodes (`same_episodes_as_cold` in the JSON). Goal-reward statistics were planted, not timed.",
    ]
    table = "\n".join(lines)
    print()
    print(table)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = "vos_train_throughput_quick" if args.quick else "vos_train_throughput"
    (out / f"{name}.md").write_text(table + "\n", encoding="utf-8")
    payload = {
        "settings": dict(vars(args)),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "rows": rows,
        "gradient_only": grads,
    }
    (out / f"{name}.json").write_text(json.dumps(payload, indent=1), encoding="utf-8")
    shutil.rmtree(work, ignore_errors=True)
    return payload


def compare_with(args: argparse.Namespace, argv: list[str]) -> dict:
    """Run the benchmark on ``--baseline-ref`` and on the current code; print both and their ratios."""
    from baseline_ref import comparison_table, run_against, strip_options, worktree_at

    if args.repeats < 1:
        raise SystemExit(f"--repeats must be >= 1, got {args.repeats}")
    passed = strip_options(argv, ("--baseline-ref", "--out-dir", "--code-root", "--repeats"))
    script = Path(__file__).resolve()
    base: list[dict] = []
    now: list[dict] = []
    with (
        tempfile.TemporaryDirectory(prefix="vos_train_compare_") as tmp,
        worktree_at(REPO, args.baseline_ref) as tree,
    ):
        # Alternating runs, so a change in the machine's load touches both sides alike.
        for repeat in range(args.repeats):
            for name, root, runs in (("base", tree, base), ("now", REPO, now)):
                folder = Path(tmp) / f"{name}_{repeat}"
                folder.mkdir()
                runs.append(run_against(script, root, passed, folder))
    table = comparison_table(args.baseline_ref, base, now)
    command = " ".join(["python benchmarks/vos_train_throughput.py", *argv])
    text = f"`{command}`\n\n{table}\n"
    print()
    print(text)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    name = "vos_train_throughput_compare" + ("_quick" if args.quick else "")
    (out / f"{name}.md").write_text(text, encoding="utf-8")
    payload = {"baseline_ref": args.baseline_ref, "repeats": args.repeats, "baseline": base, "current": now}
    (out / f"{name}.json").write_text(json.dumps(payload, indent=1, default=str), encoding="utf-8")
    return payload


if __name__ == "__main__":
    main()
