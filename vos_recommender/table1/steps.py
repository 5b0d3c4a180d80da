"""The steps of ``python -m vos_recommender.table1``: the backends, the data, the agents, the wild quality
estimators and the evaluations (one function per step, each keeping what it made under ``--work``).

Every agent's training and every evaluation embeds one :class:`~vos_recommender.envs.config.EnvConfig`:
the training or evaluation command's defaults, put on one backend by :func:`backend_env`."""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path
from typing import Any

from vos_recommender.envs.config import EnvConfig

NATIVE = ("ipn", "manet", "atnet")
DATASETS = ("default", "shifted")


def log(message: str) -> None:
    print(f"[table1 {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---------------------------------------------------------------------------- backends
def _digest(weights: Path) -> str:
    """A short hash of a weights file (or of every file of a weights folder, names included)."""
    files = [weights] if weights.is_file() else sorted(p for p in weights.iterdir() if p.is_file())
    sha = hashlib.sha1()
    for path in files:
        sha.update(path.name.encode())
        sha.update(path.read_bytes())
    return sha.hexdigest()[:10]


def learned_checkpoint(args: argparse.Namespace) -> Path:
    """The ``learned`` backend's checkpoint: ``--learned-checkpoint``, or the one trained under ``--work``."""
    if args.learned_checkpoint:
        return Path(args.learned_checkpoint)
    return Path(args.work) / "learned" / "learned_vos.pt"


def weights_path(name: str, args: argparse.Namespace) -> Path | None:
    """Where a backend's weights are looked for; None for a backend that needs none."""
    if name == "learned":
        return learned_checkpoint(args)
    if name not in NATIVE:
        return None
    weights = Path(args.native_weights) / f"{name}.pth"
    if not weights.is_file() and (Path(args.native_weights) / name).is_dir():
        weights = Path(args.native_weights) / name  # IPN's released layout: a folder with I.pth and P.pth
    return weights


def backend_spec(name: str, args: argparse.Namespace) -> tuple[dict[str, Any], str] | None:
    """Constructor arguments and a cache tag of a backend; None for one whose weights are missing.

    The cache keys name the weights by path only, so the tag carries a digest of the weights: new weights
    never replay old results.
    """
    weights = weights_path(name, args)
    if weights is None:
        return {}, name
    if name == "learned":
        return ({"checkpoint": str(weights)}, f"learned-{_digest(weights)}") if weights.is_file() else None
    if weights.exists():
        return {
            "config": args.native_config,
            "weights": str(weights),
        }, f"{name}-{args.native_config}-{_digest(weights)}"
    if args.allow_random_weights:
        return {"config": args.native_config}, f"{name}-{args.native_config}-random"
    return None


def backend_env(
    base: EnvConfig, name: str, kwargs: dict[str, Any], tag: str, work: Path, **changes: Any
) -> EnvConfig:
    """``base`` (an ``EnvConfig``) on one backend: the backend, its arguments, and its cache and
    goal-statistics folders under ``work`` (named by the backend's tag); ``changes`` by dotted name."""
    return base.replace(
        {
            "session.backend": name,
            "session.backend_kwargs": kwargs,
            "session.cache_dir": str(work / "cache" / tag),
            "reward.stats_dir": str(work / "stats" / tag),
            **changes,
        }
    )


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
    from vos_recommender.train import env_config

    index, count = (int(v) for v in shard.split("/"))
    if not 0 <= index < count:
        raise ValueError(f"--stats-shard must be i/n with 0 <= i < n, got {shard!r}")
    env = FrameRecommendationEnv(env_config(config, config.env.episode.split))
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
    from vos_recommender.config import TrainConfig, settings_from_dict

    config = settings_from_dict(TrainConfig, json.loads(saved.read_text()), str(saved))
    kept = {
        "total_timesteps": config.total_timesteps,
        "lr": config.lr,
        "num_rounds": config.env.episode.num_rounds,
    }
    asked = {"total_timesteps": args.agent_steps, "lr": args.agent_lr, "num_rounds": args.train_rounds}
    differ = {key: (kept[key], value) for key, value in asked.items() if kept[key] != value}
    if differ:
        detail = ", ".join(f"{key} {old} there, {new} asked" for key, (old, new) in differ.items())
        raise SystemExit(
            f"{run_dir} holds an agent trained with other settings ({detail}): move the folder away to "
            "train anew, or pass its settings"
        )


def train_agents(
    args: argparse.Namespace, work: Path, roots: dict[str, Path], train_backend: str
) -> list[Path]:
    from vos_recommender.config import TrainConfig, training_env
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
            generate_if_missing=False,
            env=backend_env(
                training_env(),
                train_backend,
                kwargs,
                tag,
                work,
                **{
                    "episode.data_root": str(roots["agent"]),
                    "episode.split": "train",
                    "episode.num_rounds": args.train_rounds,
                    "reward.num_random_runs": args.num_random_runs,
                },
            ),
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


def train_learned_backend(args: argparse.Namespace, work: Path, roots: dict[str, Path]) -> Path:
    """Train the ``learned`` backend on the quality estimators' training videos (kept once written)."""
    from vos_recommender.training.learned import TrainSettings, train

    checkpoint = learned_checkpoint(args)
    if checkpoint.is_file():
        log(f"learned backend: kept {checkpoint}")
        return checkpoint
    if args.learned_checkpoint:
        raise SystemExit(f"--learned-checkpoint: no file at {checkpoint}")
    log(f"learned backend: training {args.learned_steps} steps on {args.quality_videos} videos")
    # The generated videos are already small (64x112): the networks run at their full size.
    train(
        TrainSettings(
            data=str(roots["default"]),
            out=str(checkpoint.parent),
            steps=args.learned_steps,
            scale=1.0,
            threads=1,
        )
    )
    return checkpoint


def train_quality(args: argparse.Namespace, work: Path, roots: dict[str, Path], backend: str) -> Path:
    from vos_recommender.training.quality import QualityTrainSettings, train

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
#: same cost can run as separate processes. Random, Linspace, Stride and Farthest ignore the quality, so
#: they run in the oracle setting only and the merged wild setting borrows their sessions (so does the
#: Lookahead of ``--lookahead``, added to the parts that run Random).
PARTS = {
    "both": ("oracle,wild", "random,linspace,stride,farthest,worst,uncertain_far,ours"),
    "oracle": ("oracle", "random,linspace,stride,farthest,worst,uncertain_far,ours"),
    "wild": ("wild", "worst,uncertain_far,ours"),
    "baselines": ("oracle", "random,linspace,stride,farthest"),
    "oracle-agent": ("oracle", "worst,uncertain_far,ours"),
}
#: Strategy keys the merged evaluation needs per setting.
NEEDED = {
    "oracle": ("random", "linspace", "stride", "farthest", "worst", "uncertain_far", "ours"),
    "wild": ("worst", "uncertain_far", "ours"),
}


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
    from vos_recommender.evaluate import EvalConfig, evaluate, evaluation_env

    kwargs, tag = backend_spec(backend, args)
    out = work / "eval" / tag / dataset
    if (out / "results.json").is_file():
        log(f"eval {backend} {dataset}: kept {out}")
        return out / "results.json"
    settings, strategies = PARTS[args.eval_part]
    if args.lookahead and "random" in strategies.split(","):
        strategies += ",lookahead"
    part_out = out if args.eval_part == "both" else out / f"{args.eval_part}-part"
    config = EvalConfig(
        agent=",".join(str(p) for p in agents),
        env=backend_env(
            evaluation_env(),
            backend,
            kwargs,
            tag,
            work,
            **{
                "episode.data_root": str(root),
                "episode.split": "val",
                "episode.num_rounds": args.rounds,
                "session.quality_checkpoint": str(quality),
            },
        ),
        generate_if_missing=False,
        settings=settings,
        strategies=strategies,
        seeds=args.random_seeds,
        scribbles=args.scribbles,
        max_videos=args.heldout_videos,
        bootstrap=args.bootstrap,
        lookahead_candidates=args.lookahead_candidates,
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
    merge_parts(out, config, lookahead=args.lookahead)
    return out / "results.json"


def merge_parts(out: Path, config: Any, lookahead: bool = False) -> bool:
    """Write ``out/results.*`` from its ``*-part`` evaluations once they hold every setting and strategy.

    Args:
        out: The evaluation's folder (parts in ``*-part/``).
        config: The ``EvalConfig`` of a part (the merged one differs in settings, strategies and folder).
        lookahead: The oracle parts also ran the Lookahead, which the merge then needs.

    Returns:
        True when the merged results were written.
    """
    import dataclasses

    from vos_recommender.evaluate import QUALITY_FREE, STRATEGY_NAMES, build_results
    from vos_recommender.evaluation.report import write_report

    needed = {"oracle": NEEDED["oracle"] + (("lookahead",) if lookahead else ()), "wild": NEEDED["wild"]}
    if (out / "results.json").is_file():
        return False
    found: dict[str, dict[str, list]] = {"oracle": {}, "wild": {}}
    parts = sorted(out.glob("*-part/results.json"))
    for path in parts:
        for setting, by_strategy in json.loads(path.read_text())["sessions"].items():
            found[setting].update(by_strategy)
    if any(key not in found[s] for s, keys in needed.items() for key in keys):
        return False
    oracle = {key: found["oracle"][key] for key in needed["oracle"]}
    shared = [key for key in needed["oracle"] if key in QUALITY_FREE]
    sessions = {"oracle": oracle, "wild": {**{k: oracle[k] for k in shared}, **found["wild"]}}
    sessions["wild"] = {key: sessions["wild"][key] for key in needed["oracle"]}
    merged = dataclasses.replace(
        config, settings="oracle,wild", strategies=",".join(needed["oracle"]), out=str(out)
    )
    notes = [
        f"Merged from {', '.join(p.parent.name for p in parts)} (run as separate processes); "
        f"{', '.join(STRATEGY_NAMES[k] for k in shared)} ignore the observed quality: their sessions are "
        "shared by both settings."
    ]
    write_report(out, build_results(merged, sessions), notes)
    log(f"merged {len(parts)} parts into {out}")
    return True
