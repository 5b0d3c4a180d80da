"""The tables and the plot of ``benchmarks/seg_experiments.py``: per-model summaries over seeds (mIoU,
time, region counts and region quality) and the difficulty-knob table and figure."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from benchmarks.common import markdown_table

#: Region quality columns of the tables (``RegionQualityMetric`` keys on val -> column heading).
REGION_QUALITY_COLUMNS: dict[str, str] = {
    "regions_per_segment": "regions / GT segment",
    "asa": "ASA",
    "ue": "UE",
    "boundary_recall": "boundary recall",
}


def mean_std(values: list[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def fmt_mean_std(values: list[float]) -> str:
    if not values:
        return "-"
    mean, std = mean_std(values)
    return f"{mean:.2f} ± {std:.2f}" if len(values) > 1 else f"{mean:.2f}"


def _ok(results: list[dict]) -> list[dict]:
    return [r for r in results if r.get("status") == "ok"]


def _regions_per_image(result: dict) -> float | None:
    """The run's mean region count on val: from the trained head's own pass, else from its validation's
    region metric (the ground-truth oracle's head needs the label, which that pass does not give it)."""
    count = result.get("regions", {}).get("mean", math.nan)
    if not math.isnan(count):
        return count
    return result.get("region_quality", {}).get("regions_per_image")


def summarise(label: str, results: list[dict]) -> dict:
    ok = _ok(results)
    mious = [r["mIoU"] for r in ok]
    walls = [r["wall_s"] for r in ok]
    iter_times = [r["iter_time_s"] for r in ok if r.get("iter_time_s") is not None]
    regions = [count for count in map(_regions_per_image, ok) if count is not None]
    mean, std = mean_std(mious)
    quality = {
        key: mean_std([r["region_quality"][key] for r in ok if key in r.get("region_quality", {})])
        for key in REGION_QUALITY_COLUMNS
    }
    return {
        "label": label,
        "region_quality": {k: v for k, v in quality.items() if not math.isnan(v[0])},
        "runs": len(results),
        "ok": len(ok),
        "mIoU_per_seed": {str(r["seed"]): r["mIoU"] for r in ok},
        "mIoU_mean": mean,
        "mIoU_std": std,
        "wall_s_mean": statistics.mean(walls) if walls else None,
        "iter_time_s_mean": statistics.mean(iter_times) if iter_times else None,
        "regions_mean": statistics.mean(regions) if regions else None,
        "mIoU_cell": fmt_mean_std(mious),
    }


def _cell_seconds(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def model_table(summaries: list[dict], configs: list[str], with_regions: bool = False) -> str:
    headers = ["model", "val mIoU (mean ± std)", "seeds", "wall s / run", "s / iter", "config"]
    if with_regions:
        headers[5:5] = ["regions / image"] + list(REGION_QUALITY_COLUMNS.values())
    rows = []
    for summary, config in zip(summaries, configs):
        row = [
            summary["label"],
            summary["mIoU_cell"],
            f"{summary['ok']}/{summary['runs']}",
            _cell_seconds(summary["wall_s_mean"]),
            _cell_seconds(summary["iter_time_s_mean"], 3),
            f"`{config}`",
        ]
        if with_regions:
            quality = summary.get("region_quality", {})
            cells = ["-" if summary["regions_mean"] is None else f"{summary['regions_mean']:.1f}"]
            for key in REGION_QUALITY_COLUMNS:
                mean, std = quality.get(key, (math.nan, math.nan))
                cells.append("-" if math.isnan(mean) else f"{mean:.2f} ± {std:.2f}")
            row[5:5] = cells
        rows.append(row)
    return markdown_table(headers, rows)


def knob_table(
    models: list[tuple[str, str]], cue_radii: list[int], stats: list[dict], cells: dict[tuple[str, int], dict]
) -> str:
    headers = ["cue radius (px)", "mean cue distance (px / stride-8 cells)"]
    headers += [label for label, _ in models]
    rows = []
    for cue, stat in zip(cue_radii, stats):
        row = [str(cue), f"{stat['mean_cue_distance_px']:.1f} / {stat['mean_cue_distance_stride8']:.2f}"]
        row += [cells[(label, cue)]["mIoU_cell"] for label, _ in models]
        rows.append(row)
    return markdown_table(headers, rows)


def plot_knob(
    models: list[tuple[str, str]],
    cue_radii: list[int],
    cells: dict[tuple[str, int], dict],
    out: Path,
    title: str,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for (label, _), marker in zip(models, "osD"):
        means = [cells[(label, cue)]["mIoU_mean"] for cue in cue_radii]
        stds = [cells[(label, cue)]["mIoU_std"] for cue in cue_radii]
        ax.errorbar(cue_radii, means, yerr=stds, marker=marker, capsize=3, label=label)
    ax.set_xlabel("cue radius in pixels (smaller = more object-level context needed)")
    ax.set_ylabel("val mIoU (%)")
    ax.set_xticks(cue_radii)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
