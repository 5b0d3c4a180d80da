"""The gain ranker against the best rule across wild estimators: each estimator's cell, and pooled.

``benchmarks/vos_learned_recommender.py`` evaluates one wild estimator per work folder. This reads the kept
evaluation parts of several such folders (each the same protocol with another estimator, e.g. another
training seed or recipe) and reports, per dataset, the wild setting's paired AUC difference between a
learned part and the best rule, in each folder and pooled: every (video, first scribble) pair's AUC
averaged over the folders first (as the ranker's and Random's seeds are averaged within a folder), then
paired as there. Nothing is evaluated::

    python benchmarks/vos_estimator_seeds.py \\
        --works "mixed seed 0=work_dirs/vos_table1_20x3_qmixed,mixed seed 1=work_dirs/vos_table1_20x3_qmixed_s1" \\
        --part ranker

Writes ``benchmarks/results/vos_estimator_seeds.{md,json}`` (another folder with ``--out-dir``; ``--name``
names the files).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import add_out_dir, markdown_table, parse_labelled, write_results  # noqa: E402
from benchmarks.vos_learned_recommender import ROUNDS, RULES  # noqa: E402


def wild_auc(work: Path, dataset: str, part: str, key: str) -> dict:
    """Per-pair AUC (x100) of one row of a kept part, wild setting."""
    from vos_recommender.evaluation.paired import pair_means

    path = work / "eval_learned" / dataset / part / "results.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"no evaluation part at {path} (python benchmarks/vos_learned_recommender.py)"
        )
    return pair_means(json.loads(path.read_text())["sessions"]["wild"][key], ROUNDS)


def pooled(tables: list[dict]) -> dict:
    """Per-pair mean over folders (the folders must hold the same pairs)."""
    keys = set(tables[0])
    if any(set(t) != keys for t in tables):
        raise ValueError("the work folders hold different (video, scribble) pairs")
    return {key: float(np.mean([t[key] for t in tables])) for key in tables[0]}


def compare(rules: dict, learned: dict, bootstrap: int) -> dict:
    """The best rule (highest mean AUC) and the learned row's paired difference to it."""
    from vos_recommender.evaluation.paired import paired_difference

    best = max(RULES, key=lambda rule: np.mean(list(rules[rule].values())))
    diff = paired_difference(learned, rules[best], bootstrap=bootstrap, seed=0)
    return {
        "best_rule": best,
        "best_rule_auc": float(np.mean(list(rules[best].values()))),
        "learned_auc": float(np.mean(list(learned.values()))),
        "difference": diff,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--works", required=True, help="label=work folder, comma-separated")
    parser.add_argument(
        "--part", default="ranker", help="learned part of each folder (ranker, ablation0, ...)"
    )
    parser.add_argument("--datasets", default="default,shifted", help="held-out datasets")
    parser.add_argument("--bootstrap", type=int, default=10_000, help="bootstrap resamples")
    parser.add_argument("--name", default="vos_estimator_seeds", help="name of the result files")
    add_out_dir(parser)
    args = parser.parse_args(argv)
    try:
        works = [(label, Path(path)) for label, path in parse_labelled(args.works, "--works")]
    except ValueError as error:
        parser.error(str(error))
    rows, payload = [], {"command": "", "part": args.part, "cells": {}}
    for dataset in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        try:
            rules = {label: {r: wild_auc(w, dataset, "rules", r) for r in RULES} for label, w in works}
            learned = {label: wild_auc(w, dataset, args.part, "ranker") for label, w in works}
            together = {r: pooled([rules[label][r] for label, _ in works]) for r in RULES}
            cells = {label: compare(rules[label], learned[label], args.bootstrap) for label, _ in works}
            cells["pooled"] = compare(together, pooled(list(learned.values())), args.bootstrap)
        except (FileNotFoundError, ValueError) as error:
            parser.error(f"{dataset}: {error}")
        payload["cells"][dataset] = cells
        for label, cell in cells.items():
            d = cell["difference"]
            low, high = d["ci95_bootstrap"]
            rows.append(
                [
                    dataset,
                    label if label != "pooled" else f"pooled ({len(works)} folders)",
                    f"{cell['learned_auc']:.2f}",
                    f"{cell['best_rule']} {cell['best_rule_auc']:.2f}",
                    f"{d['mean']:+.2f} [{low:+.2f}, {high:+.2f}] ({d['pairs_won']}/{d['pairs_lost']})",
                ]
            )
    command = "python benchmarks/vos_estimator_seeds.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    payload["command"] = command
    markdown = "\n".join(
        [
            "# The gain ranker against the best rule across wild estimators",
            "",
            f"`{command}`",
            "",
            f"Wild setting, part `{args.part}`; folders: "
            + ", ".join(f"{label} = `{w}`" for label, w in works)
            + ".",
            "",
            markdown_table(
                ["dataset", "estimator", "ranker AUC", "best rule", "− best rule (95% CI) (won/lost)"], rows
            ),
            "",
            "Pooled: each (video, first scribble) pair's AUC averaged over the folders, rules and ranker alike, "
            "then paired; the best rule is the one of the highest pooled mean.",
            "",
        ]
    )
    print(markdown)
    write_results(args.name, markdown, payload, args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
