"""Paired statistics of one strategy against another on the same (video, first scribble) pairs.

Every strategy is run on the same pairs, so the fair comparison is per pair: the difference of the two
AUCs on a pair removes the pair's difficulty, which dominates the spread of the unpaired means. A
strategy run several times per pair (Random with several seeds, Ours with several training seeds) is
first averaged over its runs on that pair. Reported per comparison: the mean difference, its 95% interval
by a percentile bootstrap over pairs and by Student t, and how many pairs and videos (a video's
difference: mean over its first scribbles) each strategy won.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from vos_recommender.metrics.auc import round_auc

__all__ = [
    "MIN_BOOTSTRAP",
    "compare_strategies",
    "first_rounds",
    "pair_means",
    "paired_difference",
    "round_differences",
    "seed_spread",
]

Pair = tuple[str, int]

#: Fewest bootstrap resamples of a paired interval (fewer make its 2.5 % and 97.5 % percentiles noise).
MIN_BOOTSTRAP = 100


def _session_auc(run: Mapping[str, Any], num_rounds: int) -> float:
    return float(round_auc(run["jf"], num_rounds) * 100)


def pair_means(runs: Iterable[Mapping[str, Any]], num_rounds: int) -> dict[Pair, float]:
    """Round AUC (x100) per (video, first scribble), averaged over the runs of that pair.

    Args:
        runs: Sessions with ``video``, ``scribble`` and ``jf`` (see ``vos_recommender.evaluate.run_session``).
        num_rounds: Rounds R of the round AUC.
    """
    return _per_pair(runs, lambda run: _session_auc(run, num_rounds))


def _per_pair(
    runs: Iterable[Mapping[str, Any]], value: Callable[[Mapping[str, Any]], float]
) -> dict[Pair, float]:
    """``value(run)`` per (video, first scribble), averaged over the runs of that pair, pairs sorted."""
    values: dict[Pair, list[float]] = defaultdict(list)
    for run in runs:
        values[(str(run["video"]), int(run["scribble"]))].append(value(run))
    return {pair: float(np.mean(v)) for pair, v in sorted(values.items())}


def first_rounds(runs: Iterable[Mapping[str, Any]], rounds: int) -> list[dict[str, Any]]:
    """The sessions cut after ``rounds`` rounds (J&F, frames and times), e.g. at an agent's training horizon.

    Raises:
        ValueError: If ``rounds`` < 1.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    cut = ("jf", "frames", "times")
    return [{k: (v[:rounds] if k in cut else v) for k, v in run.items()} for run in runs]


def round_differences(
    ours: Iterable[Mapping[str, Any]],
    other: Iterable[Mapping[str, Any]],
    bootstrap: int = 10_000,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Paired differences of the J&F (x100) after each round, round 1 first.

    Each side is averaged over its runs of a (video, first scribble) pair, as :func:`pair_means` does for
    the AUC; every round is then a :func:`paired_difference`. Rounds after a run's last keep its last J&F,
    the rule of :func:`vos_recommender.metrics.auc.round_auc`.
    """
    ours, other = list(ours), list(other)
    longest = max(len(run["jf"]) for run in ours + other)

    def at_round(runs: list[Mapping[str, Any]], index: int) -> dict[Pair, float]:
        return _per_pair(runs, lambda run: 100 * float(run["jf"][min(index, len(run["jf"]) - 1)]))

    return [
        paired_difference(at_round(ours, r), at_round(other, r), bootstrap=bootstrap, seed=seed)
        for r in range(longest)
    ]


def seed_spread(runs: Iterable[Mapping[str, Any]], num_rounds: int) -> dict[str, Any]:
    """Mean AUC (x100) of each seed over all its pairs, and their sample standard deviation.

    Args:
        runs: Sessions with ``seed`` and ``jf``.
        num_rounds: Rounds R of the round AUC.

    Returns:
        ``{"per_seed": [...], "std": float (NaN for one seed), "seeds": n}``.
    """
    by_seed: dict[int, list[float]] = defaultdict(list)
    for run in runs:
        by_seed[int(run.get("seed", 0))].append(_session_auc(run, num_rounds))
    per_seed = [float(np.mean(by_seed[s])) for s in sorted(by_seed)]
    std = float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else float("nan")
    return {"per_seed": per_seed, "std": std, "seeds": len(per_seed)}


def paired_difference(
    ours: Mapping[Pair, float],
    other: Mapping[Pair, float],
    bootstrap: int = 10_000,
    seed: int = 0,
    tie: float = 1e-9,
) -> dict[str, Any]:
    """Statistics of ``ours[pair] - other[pair]`` over the pairs both hold.

    Args:
        ours: Per-pair value of the first strategy (see :func:`pair_means`).
        other: Per-pair value of the second strategy, on the same pairs.
        bootstrap: Bootstrap resamples of the pairs (>= 100).
        seed: Seed of the resampling.
        tie: Absolute differences at most this count as ties.

    Returns:
        ``mean``, ``ci95_bootstrap`` and ``ci95_t`` (``[low, high]``), ``pairs``, ``pairs_won``,
        ``pairs_lost``, ``videos``, ``videos_won``, ``videos_lost``.

    Raises:
        ValueError: If the pairs differ (the message names some that only one side has), or there are none.
    """
    if bootstrap < MIN_BOOTSTRAP:
        raise ValueError(f"bootstrap must be >= {MIN_BOOTSTRAP} resamples, got {bootstrap}")
    only_ours, only_other = sorted(set(ours) - set(other)), sorted(set(other) - set(ours))
    if only_ours or only_other:
        raise ValueError(
            "paired statistics need the same (video, scribble) pairs on both sides; only in the first: "
            f"{only_ours[:3]}{'...' if len(only_ours) > 3 else ''}, only in the second: "
            f"{only_other[:3]}{'...' if len(only_other) > 3 else ''}"
        )
    if not ours:
        raise ValueError("paired statistics need at least one (video, scribble) pair")
    pairs = sorted(ours)
    diff = np.array([ours[p] - other[p] for p in pairs], dtype=np.float64)
    mean = float(diff.mean())
    rng = np.random.default_rng(seed)
    resampled = diff[rng.integers(0, diff.size, size=(bootstrap, diff.size))].mean(axis=1)
    boot = [float(v) for v in np.percentile(resampled, [2.5, 97.5])]
    if diff.size > 1:
        from scipy import stats

        half = float(stats.t.ppf(0.975, diff.size - 1) * diff.std(ddof=1) / np.sqrt(diff.size))
        t_interval = [mean - half, mean + half]
    else:
        t_interval = [float("nan"), float("nan")]
    by_video: dict[str, list[float]] = defaultdict(list)
    for (video, _), value in zip(pairs, diff):
        by_video[video].append(float(value))
    video_diff = np.array([np.mean(v) for v in by_video.values()])
    return {
        "mean": mean,
        "ci95_bootstrap": boot,
        "ci95_t": t_interval,
        "pairs": int(diff.size),
        "pairs_won": int(np.sum(diff > tie)),
        "pairs_lost": int(np.sum(diff < -tie)),
        "videos": int(video_diff.size),
        "videos_won": int(np.sum(video_diff > tie)),
        "videos_lost": int(np.sum(video_diff < -tie)),
    }


def compare_strategies(
    sessions: Mapping[str, list[Mapping[str, Any]]],
    num_rounds: int,
    names: Mapping[str, str],
    reference: str = "ours",
    bootstrap: int = 10_000,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Paired differences of ``reference`` against every other strategy of one setting.

    Args:
        sessions: Strategy key -> its sessions.
        num_rounds: Rounds R of the round AUC.
        names: Strategy key -> display name (``"ours"`` -> ``"Ours"``).
        reference: Key of the strategy compared against the others.
        bootstrap: Bootstrap resamples.
        seed: Seed of the resampling.

    Returns:
        ``{"Ours - Worst": paired_difference(...), ...}`` (empty when ``reference`` was not run).
    """
    if reference not in sessions:
        return {}
    ours = pair_means(sessions[reference], num_rounds)
    return {
        f"{names[reference]} - {names[key]}": paired_difference(
            ours, pair_means(runs, num_rounds), bootstrap=bootstrap, seed=seed
        )
        for key, runs in sessions.items()
        if key != reference
    }
