"""Evaluate frame recommendation strategies: ``python -m vos_recommender.evaluate --agent runs/<name>/final_model.zip``.

On held-out videos, every strategy (the paper's Random, Linspace and Worst; the rules a person would try:
Stride every T/5 frames, Farthest from every annotated frame, UncertainFar = arg-max of (1 - q) x distance
to the nearest annotation; Ours = the trained agent; Ranker = the gain ranker, ``--ranker``, trained on
measured gains; and, when asked, Lookahead, the one-step-lookahead
ceiling that tries every candidate frame with the ground truth) runs full interactive sessions (8 rounds by
default) with the simulated user, in the oracle setting (state quality = true J&F) and the wild setting
(state quality = the learned estimator's prediction). Reported per (setting, strategy), over samples =
(video, first scribble[, seed for Random]):

* ``AUC``: the paper's area under J&F over rounds ``[0, m_1..m_8]`` divided by 8 (x100);
* ``J&F@R``: J&F after the last round R (x100);
* ``time AUC`` and ``J&F@60s``: the DAVIS challenge summaries over accumulated time (x100), with the time
  of a round = the simulated user's drawing time of its scribble + the backend's seconds, computed as the
  DAVIS service does: one curve per (setting, strategy), J&F averaged over (sample, object) rows and time
  over samples, budget = rounds x the longest single round
  (:func:`~vos_recommender.metrics.auc.davis_summary`). The project's earlier per-sample form (one time
  AUC per sample under a shared budget, the longer of 60 s and the longest session, then the mean) is
  kept in the CSV/JSON as ``time_auc_per_sample`` / ``jf_at_60s_per_sample``;
* the spread: sample standard deviation and the 95% confidence half-width of the mean (Student t).

Ours may be several agents (``--agent a.zip,b.zip,c.zip``: training seeds). Its row pools their
sessions, and ``seed spread`` is the standard deviation of the per-seed mean AUC. Below the table, the
paired differences of the reference strategy (``--paired-reference``, default Ours) against every other
one per (video, first scribble) (Ours and Random averaged over their seeds on each pair) with 95%
intervals (bootstrap over pairs and Student t) and the pairs and videos won and lost
(:mod:`vos_recommender.evaluation.paired`).

Random, Linspace, Stride, Farthest and Lookahead ignore the observed quality, so they are run once (in
the first setting's environment) and their rows repeat in the other setting. Lookahead costs one backend
round per candidate frame per recommendation (``--lookahead-candidates`` caps the candidates); the
notes report its probes. Outputs in ``--out``: ``results.md``, ``results.csv``, ``results.json`` (with
every curve and the paired statistics) and ``jf_vs_round.png``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from vos_recommender.config import env_flag_aliases, parse_config
from vos_recommender.envs.config import EnvConfig, EpisodeConfig, RewardConfig, SessionConfig
from vos_recommender.evaluation.paired import (
    MIN_BOOTSTRAP,
    compare_strategies,
    round_differences,
    seed_spread,
)
from vos_recommender.evaluation.report import write_report
from vos_recommender.evaluation.summary import summarise
from vos_recommender.metrics.auc import round_auc
from vos_recommender.strategies import AgentStrategy, RecommendationStrategy, build_strategy
from vos_recommender.train import ensure_dataset
from vos_recommender.utils.nested_config import to_dict

__all__ = ["EvalConfig", "build_results", "evaluate", "evaluation_env", "main", "run_session", "summarise"]

STRATEGY_NAMES = {
    "random": "Random",
    "linspace": "Linspace",
    "stride": "Stride",
    "farthest": "Farthest",
    "worst": "Worst",
    "uncertain_far": "UncertainFar",
    "lookahead": "Lookahead",
    "ranker": "Ranker",
    "ours": "Ours",
}
#: Strategies that do not read the observed quality: one run serves both settings.
QUALITY_FREE = ("random", "linspace", "stride", "farthest", "lookahead")
#: The strategies evaluated by default (Lookahead is asked for by name: it runs a round per candidate).
DEFAULT_STRATEGIES = "random,linspace,stride,farthest,worst,uncertain_far,ours"
DEFAULT_DATA = "data/davis_synth"


def evaluation_env() -> EnvConfig:
    """The environment settings evaluation starts from: the paper's protocol (8 rounds) on the held-out
    split, the goal reward off (no random runs), the replay cache and the wild estimator of
    ``python -m vos_recommender.training.quality``. The quality source is set per setting."""
    return EnvConfig(
        session=SessionConfig(
            cache_dir="data/cache/vos", quality_checkpoint="runs/quality/quality_estimator.pt"
        ),
        episode=EpisodeConfig(data_root=DEFAULT_DATA, split="val", num_rounds=8),
        reward=RewardConfig(stats_dir="data/cache/goal_stats", goal_reward=False),
    )


@dataclasses.dataclass
class EvalConfig:
    """Every setting of one evaluation."""

    agent: str = "runs/recommender/final_model.zip"
    """Trained agent (.zip written by python -m vos_recommender.train); comma-separated: one per training seed."""
    ranker: str = ""
    """Gain ranker checkpoint(s) of the ranker strategy (python -m vos_recommender.training.ranker); comma-separated: one per training seed."""
    ranker_wild: str = ""
    """Gain ranker checkpoint(s) used instead of --ranker in the wild setting (empty: --ranker)."""
    env: EnvConfig = dataclasses.field(default_factory=evaluation_env)
    """The environment's settings (vos_recommender.envs.EnvConfig); session.quality is set per --settings."""
    generate: bool = False
    """Write synthetic videos at <env.episode.data_root> when it holds no dataset (any path but the default needs it)."""
    generate_if_missing: bool = True
    """Generate the synthetic dataset at the default <env.episode.data_root> when it is missing."""
    train_quality_if_missing: bool = False
    """Train a quick quality estimator into the checkpoint's folder when it is missing."""
    settings: str = "oracle,wild"
    """Comma-separated settings to evaluate."""
    strategies: str = DEFAULT_STRATEGIES
    """Comma-separated strategies: random, linspace, stride, farthest, worst, uncertain_far, ours, lookahead, ranker."""
    lookahead_candidates: int = 0
    """Lookahead: try at most this many evenly spaced frames per round (0: every frame)."""
    paired_reference: str = "ours"
    """Strategy whose paired differences against every other strategy are reported."""
    seeds: int = 3
    """Sessions per (video, scribble) for Random (different seeds)."""
    scribbles: int = 0
    """First scribbles used per video (0: all the dataset has)."""
    max_videos: int = 0
    """Use only the first this many videos of the split (0: all)."""
    seed: int = 0
    """Base seed of Random."""
    bootstrap: int = 10_000
    """Bootstrap resamples of the (video, scribble) pairs for the paired intervals."""
    max_t: float = 0.0
    """davisinteractive's time-out for time AUC / J&F@60s (DAVIS), in seconds per object (0: none, its default)."""
    out: str = ""
    """Output folder (default: <agent folder>/eval)."""
    threads: int = 1
    """Torch CPU threads."""
    verbose: int = 1
    """0: quiet, 1: progress and the table."""

    #: The flat flags and setting names of earlier versions, kept as aliases of the nested settings.
    FLAG_ALIASES: ClassVar[dict[str, str]] = env_flag_aliases(
        "data",
        "split",
        "backend",
        "backend_kwargs",
        "cache_dir",
        "stats_dir",
        "quality_checkpoint",
        "num_rounds",
    )

    def __post_init__(self) -> None:
        if isinstance(self.max_t, bool) or not math.isfinite(self.max_t) or self.max_t < 0:
            raise ValueError(
                f"max_t (--max-t) must be a number of seconds per object >= 0, got {self.max_t!r}"
            )
        # Checked here, when the settings are parsed: the intervals are computed after every session ran.
        if self.bootstrap < MIN_BOOTSTRAP:
            raise ValueError(
                f"bootstrap (--bootstrap) must be >= {MIN_BOOTSTRAP} resamples for the paired 95% intervals, "
                f"got {self.bootstrap}"
            )


def _make_env(config: EvalConfig, quality: str, max_frames: int) -> Any:
    from vos_recommender.envs import FrameRecommendationEnv

    return FrameRecommendationEnv(
        config.env.replace({"session.quality": quality, "episode.max_frames": max_frames})
    )


def run_session(env: Any, strategy: RecommendationStrategy, video: str, scribble: int) -> dict[str, Any]:
    """One interactive session of ``env.num_rounds`` rounds where ``strategy`` picks the frames.

    Args:
        env: A ``FrameRecommendationEnv`` (unwrapped).
        strategy: The recommendation strategy.
        video: Video name.
        scribble: Index of its first scribble.

    Returns:
        ``{"jf": [...], "times": [...], "frames": [...], "objects": k}``: mean J&F after each round,
        seconds of each round (drawing + backend), annotated frames, the video's object count (its
        weight in the DAVIS average).
    """
    obs, info = env.reset(options={"video": video, "scribble": scribble})
    objects = int(env.episode.video.num_objects)
    n = int(obs[2].sum())
    strategy.reset(n, int(info["annotated_frames"][0]))
    jf = [info["jf_mean"]]
    times = [info["user_time"] + env.timing["elapsed"]]
    drawn = info["user_time"]
    done = False
    while not done:
        frame = strategy.recommend(obs[0, :n], obs[1, :n], info["annotated_frames"])
        obs, _, terminated, truncated, info = env.step(frame)
        done = terminated or truncated
        jf.append(info["jf_mean"])
        times.append(info["user_time"] - drawn + env.timing["elapsed"])
        drawn = info["user_time"]
    return {"jf": jf, "times": times, "frames": list(info["annotated_frames"]), "objects": objects}


def build_results(config: EvalConfig, sessions: dict[str, dict[str, list]]) -> dict[str, Any]:
    """Summaries, seed spreads and paired statistics of the sessions of every setting and strategy.

    Args:
        config: The evaluation's settings (recorded; ``num_rounds``, ``bootstrap`` and ``seed`` are used).
        sessions: Setting -> strategy key -> sessions of :func:`run_session` with ``video``,
            ``scribble`` and ``seed``. Sessions of several runs (e.g. one per setting) can be merged here.

    Returns:
        The results dictionary that :func:`evaluate` writes to ``results.json``.
    """
    results: dict[str, Any] = {
        "data": str(config.env.episode.data_root),
        "split": config.env.episode.split,
        "backend": config.env.session.backend,
        "num_rounds": config.env.episode.num_rounds,
        "config": to_dict(config),
        "settings": {},
        "sessions": sessions,
    }
    budgets = {}
    for setting, by_strategy in sessions.items():
        longest = max(sum(run["times"]) for runs in by_strategy.values() for run in runs)
        budgets[setting] = max(60.0, float(np.ceil(longest)))
        results["settings"][setting] = {}
        for key, runs in by_strategy.items():
            summary = summarise(
                runs, config.env.episode.num_rounds, budgets[setting], max_t=config.max_t or None
            )
            summary["seed_spread"] = seed_spread(runs, config.env.episode.num_rounds)
            results["settings"][setting][STRATEGY_NAMES[key]] = summary
    results["max_time"] = budgets
    results["paired"] = {
        setting: compare_strategies(
            by_strategy,
            config.env.episode.num_rounds,
            STRATEGY_NAMES,
            reference=config.paired_reference,
            bootstrap=config.bootstrap,
            seed=config.seed,
        )
        for setting, by_strategy in sessions.items()
    }
    # Where in a session Ours gains or loses against Worst: the paired J&F difference after each round.
    results["paired_rounds"] = {
        setting: round_differences(
            by_strategy["ours"], by_strategy["worst"], bootstrap=config.bootstrap, seed=config.seed
        )
        for setting, by_strategy in sessions.items()
        if "ours" in by_strategy and "worst" in by_strategy
    }
    return results


def evaluate(config: EvalConfig) -> dict[str, Any]:
    """Run every (setting, strategy) and write the table, CSV, JSON and plot.

    Args:
        config: Settings.

    Returns:
        The results dictionary written to ``results.json``.
    """
    import torch

    from vos_recommender.data.davis import DavisDataset

    torch.set_num_threads(config.threads)
    # A mistyped --data must not silently become a fresh synthetic dataset that results are reported on.
    data = config.env.episode.data_root
    if data is None:
        raise ValueError("env.episode.data_root (--data) is empty: evaluation needs a DAVIS-layout dataset")
    generate = config.generate or (config.generate_if_missing and data == DEFAULT_DATA)
    ensure_dataset(
        data,
        generate,
        config.verbose,
        hint="check --data, or pass --generate to write synthetic videos there",
    )
    agent_paths = [Path(p.strip()) for p in config.agent.split(",") if p.strip()]
    if not agent_paths:
        raise ValueError(f"--agent names no agent file: {config.agent!r}")
    out = Path(config.out) if config.out else agent_paths[0].parent / "eval"
    out.mkdir(parents=True, exist_ok=True)
    strategies = [s.strip().lower() for s in config.strategies.split(",") if s.strip()]
    unknown = sorted(set(strategies) - set(STRATEGY_NAMES))
    if unknown:
        raise KeyError(f"--strategies: unknown strategies {unknown}; known: {', '.join(STRATEGY_NAMES)}")
    if config.paired_reference not in STRATEGY_NAMES:
        raise KeyError(
            f"--paired-reference: unknown strategy {config.paired_reference!r}; known: {', '.join(STRATEGY_NAMES)}"
        )
    if config.lookahead_candidates < 0:
        raise ValueError(
            f"--lookahead-candidates must be >= 0 (0: every frame), got {config.lookahead_candidates}"
        )
    settings = [s.strip().lower() for s in config.settings.split(",") if s.strip()]
    notes: list[str] = []
    agents = []
    if "ours" in strategies:
        from vos_recommender.agent import RecurrentDQN

        for path in agent_paths:
            if not path.is_file():
                raise FileNotFoundError(f"--agent: no trained agent at {path}")
            agents.append(RecurrentDQN.load(path, device="cpu"))
            notes.append(
                f"Ours (seed {len(agents) - 1}): {path} ({agents[-1].num_timesteps} training steps, "
                f"reward form {agents[-1].reward_form})."
            )
    rankers: dict[str, list] = {}
    if "ranker" in strategies:
        from vos_recommender.agent.ranker import GainRanker

        for setting in settings:
            paths = config.ranker_wild if setting == "wild" and config.ranker_wild else config.ranker
            names = [p.strip() for p in paths.split(",") if p.strip()]
            if not names:
                raise ValueError("--strategies ranker needs --ranker (a gain ranker checkpoint)")
            rankers[setting] = [GainRanker.load(name) for name in names]
            notes.append(f"Ranker ({setting}): {', '.join(names)}.")
    session = config.env.session
    if "wild" in settings and not Path(session.quality_checkpoint).is_file():
        if config.train_quality_if_missing:
            from vos_recommender.training.quality import QualityTrainSettings
            from vos_recommender.training.quality import train as train_quality

            produced = train_quality(
                QualityTrainSettings(
                    data=data,
                    out=str(Path(session.quality_checkpoint or "runs/quality/quality_estimator.pt").parent),
                    backend=session.backend,
                    backend_kwargs=json.dumps(session.backend_kwargs),
                )
            )
            config = dataclasses.replace(
                config, env=config.env.replace({"session.quality_checkpoint": produced["checkpoint"]})
            )
            notes.append(f"Wild quality estimator trained for this evaluation: {produced['checkpoint']}.")
        else:
            settings.remove("wild")
            message = (
                f"WILD SETTING SKIPPED: no quality estimator checkpoint at {session.quality_checkpoint} "
                "(train one with python -m vos_recommender.training.quality, or pass --train-quality-if-missing)."
            )
            notes.append(message)
            print(message, flush=True)
    if not settings:
        raise ValueError("no setting left to evaluate")

    dataset = DavisDataset(data, split=config.env.episode.split)
    videos = dataset.sequences[: config.max_videos] if config.max_videos > 0 else list(dataset.sequences)
    samples = []
    max_frames = 1
    for name in videos:
        video = dataset[name]
        count = max(1, len(video.scribbles))
        count = min(count, config.scribbles) if config.scribbles > 0 else count
        samples += [(name, index) for index in range(count)]
        max_frames = max(max_frames, video.num_frames)

    sessions: dict[str, dict[str, list]] = {setting: {} for setting in settings}
    for setting in settings:
        env = _make_env(config, setting, max_frames)
        for key in strategies:
            if key in QUALITY_FREE and setting != settings[0]:
                sessions[setting][key] = sessions[settings[0]][key]
                continue
            runs = []
            repeats = {
                "random": config.seeds,
                "ours": len(agents),
                "ranker": len(rankers.get(setting, [])),
            }.get(key, 1)
            probes, tic = 0, time.perf_counter()
            for repeat in range(repeats):
                for video, scribble in samples:
                    if key == "ours":
                        strategy: RecommendationStrategy = AgentStrategy(
                            agents[repeat], max_count=config.env.episode.num_rounds
                        )
                    else:
                        strategy = build_strategy(
                            key,
                            seed=config.seed + repeat,
                            session=env.session,
                            candidates=config.lookahead_candidates or None,
                            ranker=rankers[setting][repeat] if key == "ranker" else None,
                        )
                    runs.append(
                        {
                            "video": video,
                            "scribble": scribble,
                            "seed": repeat,
                            **run_session(env, strategy, video, scribble),
                        }
                    )
                    probes += getattr(strategy, "probes", 0)
            sessions[setting][key] = runs
            if key == "lookahead":
                recommendations = len(runs) * (config.env.episode.num_rounds - 1)
                notes.append(
                    f"Lookahead ({setting}): {probes} probed rounds for {recommendations} recommendations "
                    f"({probes / max(1, recommendations):.1f} per recommendation; candidates: "
                    f"{config.lookahead_candidates or 'every frame'}), {time.perf_counter() - tic:.0f} s."
                )
            if config.verbose:
                mean_auc = np.mean([round_auc(r["jf"], config.env.episode.num_rounds) for r in runs]) * 100
                print(
                    f"[evaluate] {setting:6s} {STRATEGY_NAMES[key]:8s} {len(runs)} sessions, AUC {mean_auc:.2f}",
                    flush=True,
                )
        shared = [STRATEGY_NAMES[k] for k in strategies if k in QUALITY_FREE]
        if len(settings) > 1 and shared and setting == settings[0]:
            notes.append(
                f"{', '.join(shared)} ignore the observed quality: their sessions are shared by both settings."
            )

    results = build_results(config, sessions)
    write_report(out, results, notes)
    if config.verbose:
        print((out / "results.md").read_text())
        print(f"Wrote {out}/results.md, results.csv, results.json, jf_vs_round.png")
    return results


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    try:
        config, _ = parse_config(EvalConfig, argv, description=__doc__.splitlines()[0])
    except ValueError as error:  # a bad setting: its name and value, before anything runs
        raise SystemExit(f"error: {error}") from None
    evaluate(config)


if __name__ == "__main__":
    main()
