"""The paper's Table 1 from several evaluations (backend x dataset): AUC table, paired differences, verdicts.

Input: one ``results.json`` of ``python -m vos_recommender.evaluate`` per (backend, dataset). The AUC
table has one row per (setting, strategy) and one column per (dataset, backend), as the paper's; the
paired table lists Ours - Worst / Linspace / Random per (backend, dataset, setting); the verdict table
states per (backend, dataset) whether the paper's claim holds: Ours beats Worst in the wild setting
(bootstrap interval of Ours - Worst above zero) and is at least as good in the oracle setting (interval
not below zero).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vos_recommender.atomic import atomic_path

__all__ = ["auc_table", "claim_verdict", "paired_table", "plot_backend", "verdict_table"]

STRATEGIES = ("Random", "Linspace", "Worst", "Ours")


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
            value = (
                "-"
                if d is None
                else f"{d['mean']:+.2f} [{d['ci95_bootstrap'][0]:+.2f}, {d['ci95_bootstrap'][1]:+.2f}]"
            )
            cells += [value, claim_verdict(setting, d)]
        lines.append(f"| {entry['backend']} | {entry['dataset']} | " + " | ".join(cells) + " |")
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
