"""Has 600 x 8 levelled off? Val mIoU curves of the 600 x 8 and the 4x longer (2400 x 8) runs.

    python benchmarks/seg_long_schedule.py   # after the runs below; writes seg_long_schedule.* and the plot

The runs are those of ``seg_experiments.py`` on the context scenes, validated every 100 iterations:

    python benchmarks/seg_experiments.py main --schedule long4x --only fcn_r18-d8_1xb8-600_synthetic-128x128 \
        ocrnet_r18-d8_1xb8-600_synthetic-128x128 ranet_r18-d8_1xb8-600_synthetic-128x128
    python benchmarks/seg_experiments.py main --schedule long --seeds 0 --tag curves --only <the same>
    python benchmarks/seg_experiments.py main --schedule long --only nonlocal_r18-d8_1xb8-600_synthetic-128x128 --tag nl

Each curve is read from the run's mmengine scalar log (``<run>/<timestamp>/vis_data/scalars.json``, every
validation's mIoU and step). The table gives, per model, the 600 x 8 result over seeds 0-2 (the stored
``seg_main_long*.json`` tables), the seed-0 600 x 8 curve, the seed-0 2400 x 8 curve at 600, 1200, 1800
and 2400 iterations (its learning rate decays over 2400 iterations, so its value at 600 is not a 600 x 8
result), and the 2400 x 8 end minus the 600 x 8 mean. The plot (``docs/ranet_long_schedule.png``) shows
every curve found.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import RESULTS, ROOT, add_out_dir, markdown_table, write_results  # noqa: E402
from benchmarks.seg_runs import LONG, LONG4X, latest_scalars, parse_scalars  # noqa: E402

#: (label as in the tables, config stem) of the models compared.
MODELS: list[tuple[str, str]] = [
    ("FCN (no context)", "fcn_r18-d8_1xb8-600_synthetic-128x128"),
    ("Non-local (NLHead)", "nonlocal_r18-d8_1xb8-600_synthetic-128x128"),
    ("OCRNet", "ocrnet_r18-d8_1xb8-600_synthetic-128x128"),
    ("RANet paper", "ranet_r18-d8_1xb8-600_synthetic-128x128"),
]
#: The stored 600 x 8 tables of the context scenes (final val mIoU per seed).
LONG_TABLES = ("seg_main_long.json", "seg_main_long_nl.json")
#: Iterations of the 4x run shown in the table, and of the 600 x 8 curve.
LONG4X_STEPS = (600, 1200, 1800, 2400)
LONG_STEPS = (300, 400, 500, 600)


def run_curves(work_root: Path, stem: str, unfinished: bool = False) -> dict[int, list[list[float]]]:
    """Seed -> [[iteration, val mIoU], ...] of every finished run (``result.json``) of ``stem`` on cue 3;
    with ``unfinished`` also the validations so far of runs still training."""
    curves = {}
    for seed_dir in sorted((work_root / "runs" / stem / "cue3").glob("seed*")):
        scalars = latest_scalars(seed_dir)
        if scalars is None or not ((seed_dir / "result.json").exists() or unfinished):
            continue
        try:
            curves[int(seed_dir.name[len("seed") :])] = parse_scalars(scalars)["curve"]
        except ValueError:  # still training, no validation yet
            continue
    return curves


def stored_finals(results_dir: Path) -> dict[str, dict[int, float]]:
    """Label -> {seed: final val mIoU} of the stored 600 x 8 tables."""
    finals: dict[str, dict[int, float]] = {}
    for name in LONG_TABLES:
        path = results_dir / name
        if path.exists():
            for row in json.loads(path.read_text())["rows"]:
                finals.setdefault(row["label"], {}).update(
                    {int(s): float(v) for s, v in row["mIoU_per_seed"].items()}
                )
    return finals


def _at(curve: list[list[float]], step: int) -> float | None:
    return next((miou for s, miou in curve if s == step), None)


def _cells(curve: list[list[float]] | None, steps) -> str:
    if not curve:
        return "-"
    return " / ".join("-" if _at(curve, s) is None else f"{_at(curve, s):.1f}" for s in steps)


def build(long_root: Path, long4x_root: Path, results_dir: Path, unfinished: bool = False) -> dict:
    finals = stored_finals(results_dir)
    models = []
    for label, stem in MODELS:
        seeds = finals.get(label, {})
        mean = statistics.mean(seeds.values()) if seeds else None
        std = statistics.stdev(seeds.values()) if len(seeds) > 1 else None
        models.append(
            {
                "label": label,
                "config_stem": stem,
                "long_final_per_seed": seeds,
                "long_final_mean": mean,
                "long_final_std": std,
                "long_curves": run_curves(long_root, stem, unfinished),
                "long4x_curves": run_curves(long4x_root, stem, unfinished),
            }
        )
    return {"models": models}


def table(data: dict) -> str:
    headers = [
        "model",
        "600 x 8 final (seeds)",
        f"600 x 8 seed 0 at {' / '.join(map(str, LONG_STEPS))}",
        f"2400 x 8 seed 0 at {' / '.join(map(str, LONG4X_STEPS))}",
        "2400 x 8 end - 600 x 8 mean",
    ]
    rows = []
    for model in data["models"]:
        mean, std = model["long_final_mean"], model["long_final_std"]
        seeds = len(model["long_final_per_seed"])
        final = "-"
        if mean is not None:
            final = (f"{mean:.2f} ± {std:.2f}" if std is not None else f"{mean:.2f}") + f" ({seeds})"
        curve4x = model["long4x_curves"].get(0)
        cells4x = _cells(curve4x, LONG4X_STEPS)
        if curve4x and curve4x[-1][0] < LONG4X.iters:
            cells4x += f" (unfinished: {curve4x[-1][1]:.1f} at {curve4x[-1][0]})"
        end = _at(curve4x, LONG4X.iters) if curve4x else None
        gain = "-" if end is None or mean is None else f"{end - mean:+.2f}"
        rows.append(
            [
                model["label"],
                final,
                _cells(model["long_curves"].get(0), LONG_STEPS),
                cells4x,
                gain,
            ]
        )
    return markdown_table(headers, rows)


def plot(data: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.2, 4.4), dpi=120)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for model, colour in zip(data["models"], colours):
        for seed, curve in sorted(model["long4x_curves"].items()):
            steps, values = zip(*curve)
            ax.plot(steps, values, color=colour, lw=1.8, label=f"{model['label']}, 2400 x 8, seed {seed}")
        for index, (_seed, curve) in enumerate(sorted(model["long_curves"].items())):
            steps, values = zip(*curve)
            label = f"{model['label']}, 600 x 8" if index == 0 else None
            ax.plot(steps, values, color=colour, lw=1.0, ls="--", marker=".", label=label)
        if model["long_final_mean"] is not None and model["long_final_std"] is not None:
            ax.errorbar(
                [LONG.iters],
                [model["long_final_mean"]],
                yerr=[model["long_final_std"]],
                color=colour,
                marker="s",
                capsize=3,
                label=f"{model['label']}, 600 x 8 final ({len(model['long_final_per_seed'])} seeds)",
            )
    ax.axvline(LONG.iters, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("training iteration (batch 8)")
    ax.set_ylabel("val mIoU (%)")
    ax.set_title(
        "context scenes: val mIoU every 100 iterations (squares: 600 x 8 mean ± std over seeds 0-2)",
        fontsize=8,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6.5, loc="lower right")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--long-root", type=Path, default=ROOT / "work_dirs" / "seg_experiments_long", help="600 x 8 runs"
    )
    parser.add_argument(
        "--long4x-root",
        type=Path,
        default=ROOT / "work_dirs" / "seg_experiments_long4x",
        help="2400 x 8 runs",
    )
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS, help="folder of the stored 600 x 8 tables"
    )
    parser.add_argument(
        "--plot", type=Path, default=ROOT / "docs" / "ranet_long_schedule.png", help="where the figure goes"
    )
    parser.add_argument(
        "--include-unfinished",
        action="store_true",
        help="also the validations so far of runs still training (said so under the table)",
    )
    add_out_dir(parser)
    args = parser.parse_args(argv)
    for option in ("long_root", "long4x_root"):
        if not getattr(args, option).is_dir():
            parser.error(f"--{option.replace('_', '-')} {getattr(args, option)} is not a folder of runs")
    data = build(args.long_root, args.long4x_root, args.results_dir, args.include_unfinished)
    data["include_unfinished"] = args.include_unfinished
    if not any(model["long_curves"] or model["long4x_curves"] for model in data["models"]):
        parser.error(
            f"no finished run of {[stem for _, stem in MODELS]} under {args.long_root} or {args.long4x_root}"
        )
    plot(data, args.plot)
    markdown = (
        "## Val mIoU against schedule length, context scenes\n\n"
        + table(data)
        + "\n\n`python benchmarks/seg_long_schedule.py` "
        f"([plot](../../docs/{args.plot.name})). 600 x 8: warm-up {LONG.warmup}, poly decay to 600; "
        f"2400 x 8: warm-up {LONG4X.warmup}, poly decay to 2400 (its value at 600 iterations is mid-schedule). "
        "Both validate every 100 iterations. Final results over seeds 0-2 from "
        + ", ".join(f"`{name}`" for name in LONG_TABLES)
        + "; curves from each run's `scalars.json`."
        + (
            " **Runs still training are included** (`--include-unfinished`): a curve that stops before its "
            "schedule's end is one of them."
            if args.include_unfinished
            else ""
        )
    )
    data["plot"] = str(args.plot.relative_to(ROOT)) if args.plot.is_relative_to(ROOT) else str(args.plot)
    write_results("seg_long_schedule", markdown, data, args.out_dir)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
