"""Paired seed differences of the 600 x 8 segmentation tables: the numbers the documentation quotes.

    python benchmarks/seg_paired.py     # reads benchmarks/results/seg_*_long*.json, writes seg_long_paired.*

Every model of a table is trained with the same seeds (0, 1, 2) on the same data, so a comparison of two
models is per seed: the difference of their val mIoU with one seed removes what that seed does to both.
For each comparison the table gives the per-seed differences, their mean, the 95% Student-t interval and
the 95% percentile-bootstrap interval over the seeds (the project's paired statistics,
``vos_recommender.evaluation.paired.paired_difference``, with a (dataset, seed) pair in place of a
(video, scribble) pair) and the seeds won and lost. A pooled comparison takes the seeds of both datasets
as its pairs (6 pairs). With 3 pairs the t-interval is wide and the bootstrap interval, which can only
span the observed differences, is too narrow to lean on; the documentation quotes the t-interval.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import RESULTS, add_out_dir, markdown_table, write_results  # noqa: E402

#: Result tables of each dataset at 600 x 8 (rows are read by their model label).
DATASETS: dict[str, tuple[str, ...]] = {
    "context": ("seg_main_long.json", "seg_main_long_nl.json"),
    "objects": ("seg_objects_long.json", "seg_objects_long_nl_paper_official.json"),
}
PAPER, FCN, OCR, NL = "RANet paper", "FCN (no context)", "OCRNet", "Non-local (NLHead)"
#: (first model, second model, datasets whose seeds are the pairs).
COMPARISONS: list[tuple[str, str, tuple[str, ...]]] = [
    (PAPER, FCN, ("context",)),
    (PAPER, OCR, ("context",)),
    (PAPER, NL, ("context",)),
    (PAPER, FCN, ("objects",)),
    (PAPER, OCR, ("objects",)),
    (PAPER, NL, ("objects",)),
    (PAPER, OCR, ("context", "objects")),
    (OCR, NL, ("context",)),
]


def per_seed(results_dir: Path, dataset: str) -> dict[str, dict[int, float]]:
    """Model label -> {seed: val mIoU} over the dataset's result tables that exist."""
    rows: dict[str, dict[int, float]] = {}
    for name in DATASETS[dataset]:
        path = Path(results_dir) / name
        if not path.exists():
            continue
        for row in json.loads(path.read_text())["rows"]:
            rows.setdefault(row["label"], {}).update(
                {int(seed): float(v) for seed, v in row["mIoU_per_seed"].items()}
            )
    return rows


def compare(results_dir: Path, first: str, second: str, datasets: tuple[str, ...], bootstrap: int = 10_000):
    """The paired difference ``first - second`` over the seeds both have on ``datasets``; ``None`` when
    one model has no row on one of them."""
    from vos_recommender.evaluation.paired import paired_difference

    ours, other = {}, {}
    for dataset in datasets:
        rows = per_seed(results_dir, dataset)
        if first not in rows or second not in rows:
            return None
        seeds = sorted(set(rows[first]) & set(rows[second]))
        ours.update({(dataset, seed): rows[first][seed] for seed in seeds})
        other.update({(dataset, seed): rows[second][seed] for seed in seeds})
    result = paired_difference(ours, other, bootstrap=bootstrap)
    result["per_seed"] = {f"{d}/{s}": round(ours[(d, s)] - other[(d, s)], 2) for d, s in sorted(ours)}
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--results-dir", type=Path, default=RESULTS, help="folder of the seg_*_long*.json tables"
    )
    parser.add_argument("--output", default="seg_long_paired", help="name of the result files")
    add_out_dir(parser)
    args = parser.parse_args(argv)
    rows, payload = [], []
    for first, second, datasets in COMPARISONS:
        result = compare(args.results_dir, first, second, datasets)
        if result is None:
            print(f"skipped {first} - {second} on {'+'.join(datasets)}: a model has no 600 x 8 row there")
            continue
        low_t, high_t = result["ci95_t"]
        low_b, high_b = result["ci95_bootstrap"]
        rows.append(
            [
                f"{first} - {second}",
                " + ".join(datasets),
                ", ".join(f"{v:+.2f}" for v in result["per_seed"].values()),
                f"{result['mean']:+.2f}",
                "- (one pair)" if result["pairs"] < 2 else f"[{low_t:+.2f}, {high_t:+.2f}]",
                "- (one pair)" if result["pairs"] < 2 else f"[{low_b:+.2f}, {high_b:+.2f}]",
                f"{result['pairs_won']} / {result['pairs_lost']} of {result['pairs']}",
            ]
        )
        payload.append(dict(first=first, second=second, datasets=list(datasets), **result))
    headers = [
        "comparison",
        "scenes",
        "per seed",
        "mean",
        "95% CI (t)",
        "95% CI (bootstrap)",
        "seeds won / lost",
    ]
    sources = ", ".join(f"`{name}`" for names in DATASETS.values() for name in names)
    markdown = (
        "## Paired seed differences of val mIoU, 600 x 8\n\n"
        + markdown_table(headers, rows)
        + f"\n\n`python benchmarks/seg_paired.py`, from {sources} (the seeds both models have, 0-2 where "
        "complete; the pooled row pairs the seeds of both datasets). Intervals: Student t and percentile bootstrap (10000 "
        "resamples) over the pairs."
    )
    write_results(args.output, markdown, {"comparisons": payload}, args.out_dir)
    print(markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
