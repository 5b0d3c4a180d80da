"""Paired statistics per (video, first scribble): means over seeds, differences, intervals, wins and losses."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from vos_recommender.evaluation.paired import (
    compare_strategies,
    first_rounds,
    pair_means,
    paired_difference,
    round_differences,
    seed_spread,
)

R = 4


def constant_run(video: str, scribble: int, level: float, seed: int = 0) -> dict:
    """A session whose J&F is ``level`` in every round: its AUC x100 is ``100 * level * (R - 0.5) / R``."""
    return {"video": video, "scribble": scribble, "seed": seed, "jf": [level] * R}


def auc(level: float) -> float:
    return 100 * level * (R - 0.5) / R


def test_pair_means_average_the_seeds_of_each_pair() -> None:
    runs = [constant_run("a", 0, 0.2, 0), constant_run("a", 0, 0.6, 1), constant_run("b", 1, 0.5, 0)]
    means = pair_means(runs, R)
    assert set(means) == {("a", 0), ("b", 1)}
    assert means[("a", 0)] == pytest.approx(auc(0.4))
    assert means[("b", 1)] == pytest.approx(auc(0.5))


def test_seed_spread_is_the_std_of_per_seed_means() -> None:
    runs = [constant_run("a", 0, 0.2, 0), constant_run("b", 0, 0.4, 0), constant_run("a", 0, 0.7, 1)]
    runs.append(constant_run("b", 0, 0.9, 1))
    spread = seed_spread(runs, R)
    assert spread["seeds"] == 2
    assert spread["per_seed"] == pytest.approx([auc(0.3), auc(0.8)])
    assert spread["std"] == pytest.approx(np.std([auc(0.3), auc(0.8)], ddof=1))
    assert np.isnan(seed_spread(runs[:2], R)["std"])


def test_paired_difference_mean_intervals_and_counts() -> None:
    ours = {("a", 0): 5.0, ("a", 1): 2.0, ("b", 0): 1.0, ("b", 1): -4.0, ("c", 0): 3.0}
    other = {pair: 1.0 for pair in ours}
    d = paired_difference(ours, other, bootstrap=2000, seed=1)
    diff = np.array([4.0, 1.0, 0.0, -5.0, 2.0])
    assert d["mean"] == pytest.approx(diff.mean())
    half = stats.t.ppf(0.975, 4) * diff.std(ddof=1) / np.sqrt(5)
    assert d["ci95_t"] == pytest.approx([diff.mean() - half, diff.mean() + half])
    low, high = d["ci95_bootstrap"]
    assert diff.min() <= low < d["mean"] < high <= diff.max()
    assert (d["pairs"], d["pairs_won"], d["pairs_lost"]) == (5, 3, 1)  # the zero difference is a tie
    # per video: a +2.5 (won), b -2.5 (lost), c +2 (won)
    assert (d["videos"], d["videos_won"], d["videos_lost"]) == (3, 2, 1)


def test_constant_difference_has_a_collapsed_interval() -> None:
    ours = {("v", i): 3.0 + i for i in range(6)}
    other = {("v", i): 1.0 + i for i in range(6)}
    d = paired_difference(ours, other, bootstrap=500)
    assert d["ci95_bootstrap"] == pytest.approx([2.0, 2.0])
    assert d["ci95_t"] == pytest.approx([2.0, 2.0])


def test_bootstrap_interval_covers_the_true_mean_of_noisy_pairs() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(60, 10, 200)  # pair difficulty, shared by both strategies
    ours = {(f"v{i}", 0): float(b + 1.0 + rng.normal(0, 1)) for i, b in enumerate(base)}
    other = {(f"v{i}", 0): float(b) for i, b in enumerate(base)}
    d = paired_difference(ours, other)
    assert d["ci95_bootstrap"][0] < 1.0 < d["ci95_bootstrap"][1]
    assert d["ci95_bootstrap"][0] > 0  # pairing removes the difficulty spread (std 10) from the test


def test_mismatched_pairs_and_bad_settings_are_named() -> None:
    with pytest.raises(ValueError, match=r"only in the first: \[\('b', 0\)\]"):
        paired_difference({("a", 0): 1.0, ("b", 0): 1.0}, {("a", 0): 1.0})
    with pytest.raises(ValueError, match="at least one"):
        paired_difference({}, {})
    with pytest.raises(ValueError, match="bootstrap must be >= 100 resamples, got 10"):
        paired_difference({("a", 0): 1.0}, {("a", 0): 0.0}, bootstrap=10)


def test_compare_strategies_names_each_difference() -> None:
    sessions = {
        "random": [constant_run("a", 0, 0.2, s) for s in range(3)],
        "worst": [constant_run("a", 0, 0.5)],
        "ours": [constant_run("a", 0, 0.6, 0), constant_run("a", 0, 0.4, 1)],
    }
    names = {"random": "Random", "worst": "Worst", "ours": "Ours"}
    result = compare_strategies(sessions, R, names, bootstrap=100)
    assert set(result) == {"Ours - Random", "Ours - Worst"}
    assert result["Ours - Worst"]["mean"] == pytest.approx(0.0, abs=1e-9)
    assert result["Ours - Random"]["mean"] == pytest.approx(auc(0.5) - auc(0.2))
    assert compare_strategies({"worst": sessions["worst"]}, R, names) == {}


def test_first_rounds_cut_every_per_round_list() -> None:
    run = {
        "video": "a",
        "scribble": 0,
        "seed": 1,
        "jf": [0.1, 0.2, 0.3],
        "frames": [4, 9, 2],
        "times": [1, 2, 3],
    }
    (cut,) = first_rounds([run], 2)
    assert cut == {
        "video": "a",
        "scribble": 0,
        "seed": 1,
        "jf": [0.1, 0.2],
        "frames": [4, 9],
        "times": [1, 2],
    }
    assert run["jf"] == [0.1, 0.2, 0.3]  # the input is not changed
    with pytest.raises(ValueError, match="rounds must be >= 1, got 0"):
        first_rounds([run], 0)


def test_round_differences_by_hand() -> None:
    ours = [
        {"video": "a", "scribble": 0, "jf": [0.5, 0.7, 0.8]},
        {"video": "a", "scribble": 0, "jf": [0.5, 0.5, 0.6]},  # a second seed: averaged on the pair
        {"video": "b", "scribble": 0, "jf": [0.2, 0.6]},  # stopped early: keeps its last J&F
    ]
    worst = [
        {"video": "a", "scribble": 0, "jf": [0.5, 0.5, 0.9]},
        {"video": "b", "scribble": 0, "jf": [0.2, 0.4, 0.5]},
    ]
    rounds = round_differences(ours, worst, bootstrap=200)
    assert len(rounds) == 3
    # round 2: a (0.6 - 0.5), b (0.6 - 0.4); round 3: a (0.7 - 0.9), b (0.6 - 0.5); x100
    assert [r["mean"] for r in rounds] == pytest.approx([0.0, 15.0, -5.0])
    assert (rounds[1]["pairs_won"], rounds[2]["pairs_won"], rounds[2]["pairs_lost"]) == (2, 1, 1)
