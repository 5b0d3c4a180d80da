"""The paper's Table 1 from several evaluations (backend x dataset): AUC table, paired differences, verdicts.

Input: one ``results.json`` of ``python -m vos_recommender.evaluate`` per (backend, dataset). The AUC
table has one row per (setting, strategy) and one column per (dataset, backend), as the paper's; the
paired table lists Ours - Worst / Linspace / Random per (backend, dataset, setting); the verdict table
states per (backend, dataset) whether the paper's claim holds: Ours beats Worst in the wild setting
(bootstrap interval of Ours - Worst above zero) and is at least as good in the oracle setting (interval
not below zero). The round table shows where in a session Ours gains or loses against Worst: the paired
difference of the J&F after each round, and of the AUC over the rounds the agents were trained for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from vos_recommender.evaluation.paired import first_rounds, pair_means, paired_difference, round_differences
from vos_recommender.evaluation.report import marked_difference
from vos_recommender.utils.atomic import atomic_path

__all__ = [
    "auc_table",
    "claim_verdict",
    "paired_table",
    "plot_backend",
    "round_summary",
    "round_table",
    "verdict_table",
]

#: The rows of each setting, in order: the paper's baselines, the rules a person would try, the agent and the
#: one-step-lookahead ceiling.
STRATEGIES = ("Random", "Linspace", "Stride", "Farthest", "Worst", "UncertainFar", "Ours", "Lookahead")


def _columns(entries: Sequence[dict[str, Any]]) -> list[str]:
    return [f"{e['dataset']} / {e['backend']}" for e in entries]


def auc_table(entries: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown AUC table: rows (setting, strategy), columns (dataset, backend).

    Args:
        entries: ``{"backend", "dataset", "results"}`` dicts, ``results`` as written by ``evaluate``.

    Cells: mean AUC x100 ± 95% half-width over samples; Ours adds the seed spread (std of the per-seed
    mean AUC) as ``sd``.
    """
    lines = [
        "| setting | strategy | " + " | ".join(_columns(entries)) + " |",
        "|---|---|" + "---:|" * len(entries),
    ]
    settings: list[str] = []
    for entry in entries:
        settings += [s for s in entry["results"]["settings"] if s not in settings]
    for setting in settings:
        for strategy in STRATEGIES:
            cells, present = [], False
            for entry in entries:
                summary = entry["results"]["settings"].get(setting, {}).get(strategy)
                if summary is None:
                    cells.append("-")
                    continue
                present = True
                cell = f"{summary['auc']['mean']:.2f} ± {summary['auc']['ci95']:.2f}"
                spread = summary.get("seed_spread") or {}
                if strategy == "Ours" and spread.get("seeds", 0) > 1:
                    cell += f" (sd {spread['std']:.2f})"
                cells.append(cell)
            if present:
                lines.append(f"| {setting} | {strategy} | " + " | ".join(cells) + " |")
    return lines


def paired_table(entries: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown table of every paired difference of every (backend, dataset, setting)."""
    lines = [
        "| backend | dataset | setting | difference | mean | 95% CI (bootstrap) | 95% CI (t) | pairs won / lost "
        "| videos won / lost |",
        "|---|---|---|---|---:|---|---|---|---|",
    ]
    for entry in entries:
        for setting, comparisons in entry["results"].get("paired", {}).items():
            for name, d in comparisons.items():
                boot, t = d["ci95_bootstrap"], d["ci95_t"]
                lines.append(
                    f"| {entry['backend']} | {entry['dataset']} | {setting} | {name} | {d['mean']:+.2f} | "
                    f"[{boot[0]:+.2f}, {boot[1]:+.2f}] | [{t[0]:+.2f}, {t[1]:+.2f}] | "
                    f"{d['pairs_won']} / {d['pairs_lost']} of {d['pairs']} | "
                    f"{d['videos_won']} / {d['videos_lost']} of {d['videos']} |"
                )
    return lines


def claim_verdict(setting: str, difference: dict[str, Any] | None) -> str:
    """Whether the paper's claim about Ours - Worst holds in ``setting``, from the bootstrap interval.

    Wild: Ours must beat Worst (interval above zero). Oracle: Ours must be at least as good (interval not
    entirely below zero).
    """
    if difference is None:
        return "not measured"
    low, high = difference["ci95_bootstrap"]
    if setting == "wild":
        if low > 0:
            return "holds (Ours better, significant)"
        if high < 0:
            return "fails (Ours worse, significant)"
        return "not shown (interval includes 0)"
    if high < 0:
        return "fails (Ours worse, significant)"
    if low > 0:
        return "holds (Ours better, significant)"
    return "holds (no significant difference)"


def _with_interval(d: dict[str, Any]) -> str:
    """A paired difference as ``mean [low, high]`` of its 95% bootstrap interval."""
    low, high = d["ci95_bootstrap"]
    return f"{d['mean']:+.2f} [{low:+.2f}, {high:+.2f}]"


def verdict_table(entries: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown table: per (backend, dataset), Ours - Worst in each setting and the verdict."""
    lines = [
        "| backend | dataset | wild: Ours - Worst | verdict (beats Worst) | oracle: Ours - Worst "
        "| verdict (at least as good) |",
        "|---|---|---|---|---|---|",
    ]
    for entry in entries:
        cells = []
        for setting in ("wild", "oracle"):
            d = entry["results"].get("paired", {}).get(setting, {}).get("Ours - Worst")
            value = "-" if d is None else _with_interval(d)
            cells += [value, claim_verdict(setting, d)]
        lines.append(f"| {entry['backend']} | {entry['dataset']} | " + " | ".join(cells) + " |")
    return lines


def round_summary(
    sessions: Mapping[str, Mapping[str, list]], horizon: int, bootstrap: int = 10_000
) -> dict[str, dict[str, Any]]:
    """Ours - Worst per round and over the agents' training horizon, per setting that ran both.

    Args:
        sessions: ``results["sessions"]`` of ``evaluate``: setting -> strategy key -> sessions.
        horizon: Rounds per training episode of the agents (the AUC is taken over rounds 1..horizon).
        bootstrap: Bootstrap resamples.

    Returns:
        ``{setting: {"horizon": h, "auc": paired_difference, "rounds": [paired_difference per round]}}``.
    """
    summary = {}
    for setting, runs in sessions.items():
        if "ours" not in runs or "worst" not in runs:
            continue
        ours, worst = first_rounds(runs["ours"], horizon), first_rounds(runs["worst"], horizon)
        summary[setting] = {
            "horizon": horizon,
            "auc": paired_difference(
                pair_means(ours, horizon), pair_means(worst, horizon), bootstrap=bootstrap
            ),
            "rounds": round_differences(runs["ours"], runs["worst"], bootstrap=bootstrap),
        }
    return summary


def round_table(entries: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown table of :func:`round_summary` per (backend, dataset, setting); ``*``: interval excludes 0."""
    rows = [(e, s, r) for e in entries for s, r in e.get("rounds", {}).items()]
    if not rows:
        return []
    count = max(len(r["rounds"]) for _, _, r in rows)
    horizon = rows[0][2]["horizon"]
    lines = [
        f"| backend | dataset | setting | AUC rounds 1-{horizon} [95% CI] | "
        + " | ".join(f"J&F r{i}" for i in range(1, count + 1))
        + " |",
        "|---|---|---|---|" + "---:|" * count,
    ]
    for entry, setting, r in rows:
        cells = [marked_difference(d) for d in r["rounds"]] + ["-"] * (count - len(r["rounds"]))
        lines.append(
            f"| {entry['backend']} | {entry['dataset']} | {setting} | {_with_interval(r['auc'])} | "
            + " | ".join(cells)
            + " |"
        )
    return lines


def plot_backend(path: Path, backend: str, entries: Sequence[dict[str, Any]]) -> None:
    """Mean J&F against round for one backend: one panel per (dataset, setting), one curve per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    panels = [(e, s) for e in entries for s in e["results"]["settings"]]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.6), squeeze=False)
    for ax, (entry, setting) in zip(axes[0], panels):
        for name, summary in entry["results"]["settings"][setting].items():
            curve = summary["mean_curve"]
            ax.plot(range(1, len(curve) + 1), curve, marker="o", markersize=3, label=name)
        ax.set_title(f"{backend}: {entry['dataset']}, {setting}")
        ax.set_xlabel("round")
        ax.set_ylabel("mean J&F (x100)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=80)
    plt.close(fig)
