"""The evaluation report: Markdown table, CSV, JSON and the J&F-per-round plot of ``evaluate``'s results."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from vos_recommender.utils.atomic import atomic_path, atomic_write_text

__all__ = ["marked_difference", "paired_lines", "round_lines", "table_header", "write_report"]


def table_header(num_rounds: int) -> list[str]:
    """The Markdown table's heading lines; the last-round column is named after ``num_rounds``."""
    return [
        f"| setting | strategy | AUC | J&F@{int(num_rounds)} | time AUC (DAVIS) | J&F@60s (DAVIS) "
        "| time AUC (per sample) | seed spread | samples |",
        "|---|---|---|---|---|---|---|---|---|",
    ]


def _seed_cell(summary: dict[str, Any]) -> str:
    spread = summary.get("seed_spread")
    if not spread or spread["seeds"] < 2:
        return "-"
    return f"{spread['std']:.2f} ({spread['seeds']} seeds)"


def _interval(values: list[float]) -> str:
    return f"[{values[0]:+.2f}, {values[1]:+.2f}]"


def paired_lines(paired: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """Markdown table of the paired differences: one row per (setting, comparison)."""
    lines = [
        "| setting | difference | mean | 95% CI (bootstrap) | 95% CI (t) | pairs won / lost | "
        "videos won / lost |",
        "|---|---|---|---|---|---|---|",
    ]
    for setting, comparisons in paired.items():
        for name, d in comparisons.items():
            lines.append(
                f"| {setting} | {name} | {d['mean']:+.2f} | {_interval(d['ci95_bootstrap'])} | "
                f"{_interval(d['ci95_t'])} | {d['pairs_won']} / {d['pairs_lost']} of {d['pairs']} | "
                f"{d['videos_won']} / {d['videos_lost']} of {d['videos']} |"
            )
    return lines


def marked_difference(d: dict[str, Any]) -> str:
    """A paired difference's mean, ``*`` when its 95% bootstrap interval excludes 0 (never "-0.00")."""
    low, high = d["ci95_bootstrap"]
    return f"{round(d['mean'], 2) + 0.0:+.2f}" + (" *" if low > 0 or high < 0 else "")


def round_lines(paired_rounds: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Markdown table of Ours - Worst after each round: one row per setting, ``*`` where the interval excludes 0."""
    count = max((len(r) for r in paired_rounds.values()), default=0)
    lines = [
        "| setting | " + " | ".join(f"r{i}" for i in range(1, count + 1)) + " |",
        "|---|" + "---:|" * count,
    ]
    for setting, rounds in paired_rounds.items():
        lines.append(f"| {setting} | " + " | ".join(marked_difference(d) for d in rounds) + " |")
    return lines


def _format(cell: dict[str, float]) -> str:
    if np.isnan(cell["ci95"]):
        return f"{cell['mean']:.2f}"
    return f"{cell['mean']:.2f} ± {cell['ci95']:.2f}"


def write_report(out: Path, results: dict[str, Any], notes: list[str]) -> None:
    """Write ``results.md``, ``results.csv``, ``results.json`` and ``jf_vs_round.png`` into ``out``.

    Args:
        out: Output folder.
        results: The results dictionary of :func:`vos_recommender.evaluate.evaluate`.
        notes: Lines listed under the table.
    """
    rows = []
    lines = table_header(results["num_rounds"])
    for setting, by_strategy in results["settings"].items():
        for name, summary in by_strategy.items():
            lines.append(
                f"| {setting} | {name} | {_format(summary['auc'])} | {_format(summary['jf_last'])} | "
                f"{_format(summary['time_auc'])} | {_format(summary['jf_at_60s'])} | "
                f"{_format(summary['time_auc_per_sample'])} | {_seed_cell(summary)} | {summary['samples']} |"
            )
            row = {"setting": setting, "strategy": name, "samples": summary["samples"]}
            for key in (
                "auc",
                "jf_last",
                "time_auc",
                "jf_at_60s",
                "time_auc_per_sample",
                "jf_at_60s_per_sample",
            ):
                for stat in ("mean", "std", "ci95"):
                    row[f"{key}_{stat}"] = summary[key][stat]
            rows.append(row)
    header = [
        f"Frame recommendation on {results['data']} ({results['split']}), backend {results['backend']}, "
        f"{results['num_rounds']} rounds. Values x100, mean ± 95% CI half-width over samples "
        "(video x first scribble, x seed for Random). AUC: paper's round AUC. time AUC / J&F@60s (DAVIS): "
        "the DAVIS service's summaries of one averaged curve (J&F over sample-object rows, time over "
        "samples, budget = rounds x longest single round; no spread); round time = drawing + backend "
        "seconds. time AUC (per sample): mean of per-sample time AUCs under the shared budget "
        f"{results['max_time']} (not the DAVIS definition).",
        "",
    ]
    if any(results.get("paired", {}).values()):
        lines += [
            "",
            "Paired differences of the round AUC (x100) per (video, first scribble); Ours and Random are "
            "averaged over their seeds on each pair. Seed spread: std of the per-seed mean AUC.",
            "",
            *paired_lines(results["paired"]),
        ]
    if results.get("paired_rounds"):
        lines += [
            "",
            "Ours - Worst of the J&F (x100) after each round, paired per (video, first scribble) "
            "(`*`: the 95% bootstrap interval excludes 0).",
            "",
            *round_lines(results["paired_rounds"]),
        ]
    text = "\n".join(header + lines + [""] + [f"* {note}" for note in notes]) + "\n"
    atomic_write_text(out / "results.md", text)
    with atomic_path(out / "results.csv") as tmp, open(tmp, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    atomic_write_text(out / "results.json", json.dumps(results, indent=2))
    _plot(out / "jf_vs_round.png", results)


def _plot(path: Path, results: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    settings = list(results["settings"])
    fig, axes = plt.subplots(1, len(settings), figsize=(5 * len(settings), 4), squeeze=False)
    for ax, setting in zip(axes[0], settings):
        for name, summary in results["settings"][setting].items():
            curve = summary["mean_curve"]
            ax.plot(range(1, len(curve) + 1), curve, marker="o", label=name)
        ax.set_title(f"{setting} setting")
        ax.set_xlabel("round")
        ax.set_ylabel("mean J&F (x100)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
