"""The gain ranker against the rules and the one-step-lookahead ceiling, Table 1's protocol on ``flow``.

One command, after the Table 1 data and wild estimator exist (``python -m vos_recommender.table1 --only
data,quality --backends flow``) and the rankers are trained (``python -m vos_recommender.training.gains``,
then ``python -m vos_recommender.training.ranker``)::

    python benchmarks/vos_learned_recommender.py --ranker runs/ranker/oracle.pt --ranker-wild runs/ranker/wild.pt \\
        --ablation "paper layout=runs/ranker/paper_oracle.pt:runs/ranker/paper_wild.pt" --lookahead default

Without ``--ranker`` only the rules and the ceiling are evaluated (how much headroom is there?).

For each held-out dataset (``default`` and ``shifted`` of ``--work``), interactive sessions of 8 rounds run
through ``vos_recommender.evaluate`` on the first ``--videos`` videos x ``--scribbles`` first scribbles, in the
oracle and the wild setting: the rules (Random over ``--seeds`` seeds, Linspace, Stride, Farthest, Worst,
UncertainFar), the ranker (``--ranker``; ``--ranker-wild`` in the wild setting), each ``--ablation`` ranker,
and on the datasets of ``--lookahead`` the one-step-lookahead ceiling (it ignores the observed quality: its
sessions run once, in the oracle setting, and serve both). Each part is an evaluation folder under
``<work>/eval_learned/<dataset>/<part>``, kept when it exists (rerun to continue; the folder records the
backend and the cache keys carry the backend's ``defaults_revision``, but a folder evaluated by older code
is kept as well: remove it, or pass another ``--work``, after the backend or the simulated user changed).
``--parts`` evaluates only some parts (to run parts as separate processes); the report takes every part
that exists. Reported per (dataset,
setting): AUC and J&F@5 (x100) of every row, and for every learned row the paired AUC difference to the
best rule of that cell (highest mean AUC among the rules) with its bootstrap 95% interval, pairs won/lost,
and the share of the gap between that rule and the lookahead it closes; the other rules get the same paired
difference (how far behind the best one they are), and the lookahead row's is the headroom left above it.

Writes ``benchmarks/results/vos_learned_recommender.{md,json}`` (another folder with ``--out-dir``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import add_out_dir, machine_description, markdown_table, write_results  # noqa: E402

RULES = ("random", "linspace", "stride", "farthest", "worst", "uncertain_far")
NAMES = {
    "random": "Random",
    "linspace": "Linspace",
    "stride": "Stride T/5",
    "farthest": "Farthest",
    "worst": "Worst",
    "uncertain_far": "(1 - q) x distance",
    "lookahead": "Lookahead (ceiling, ground truth)",
}
ROUNDS = 8
PARTS = ("rules", "lookahead", "learned")


def evaluate_part(
    args, dataset: str, part: str, strategies: str, settings: str, ranker: str = "", ranker_wild: str = ""
):
    """Sessions of one part (an evaluation folder, kept when it exists); None when the part is neither
    there nor to be computed by this run (``--parts``)."""
    from vos_recommender.evaluate import EvalConfig, evaluate, evaluation_env

    work = Path(args.work)
    out = work / "eval_learned" / dataset / part
    kind = part if part in ("rules", "lookahead") else "learned"
    if not (out / "results.json").is_file():
        if kind not in args.parts:
            return None
        env = evaluation_env().replace(
            {
                "session.backend": "flow",
                "session.cache_dir": str(work / "cache_learned"),
                "session.quality_checkpoint": args.quality,
                "episode.data_root": str(work / "data" / dataset),
                "episode.split": "val",
                "episode.num_rounds": ROUNDS,
                "reward.stats_dir": str(work / "stats"),
            }
        )
        evaluate(
            EvalConfig(
                agent="none",
                ranker=ranker,
                ranker_wild=ranker_wild,
                env=env,
                generate_if_missing=False,
                settings=settings,
                strategies=strategies,
                paired_reference=strategies.split(",")[0],
                seeds=args.seeds,
                scribbles=args.scribbles,
                max_videos=args.videos,
                bootstrap=args.bootstrap,
                lookahead_candidates=args.lookahead_candidates,
                out=str(out),
                verbose=1,
            )
        )
    return json.loads((out / "results.json").read_text())["sessions"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--work", default="work_dirs/vos_table1", help="Table 1 work folder (data, estimator)"
    )
    parser.add_argument(
        "--quality", default="", help="wild estimator (default: <work>/quality/flow/quality_estimator.pt)"
    )
    parser.add_argument(
        "--ranker",
        default="",
        help="gain ranker of the oracle setting (and the wild one without --ranker-wild); none: rules only",
    )
    parser.add_argument("--ranker-wild", default="", help="gain ranker of the wild setting")
    parser.add_argument(
        "--ablation",
        action="append",
        default=[],
        help="another ranker row: 'label=oracle.pt[:wild.pt]' (repeatable)",
    )
    parser.add_argument("--datasets", default="default,shifted", help="held-out datasets of --work")
    parser.add_argument("--videos", type=int, default=10, help="first held-out videos per dataset")
    parser.add_argument("--scribbles", type=int, default=2, help="first scribbles per video")
    parser.add_argument("--seeds", type=int, default=3, help="seeds of Random")
    parser.add_argument(
        "--lookahead",
        default="",
        help="datasets that get the one-step-lookahead ceiling row (comma-separated)",
    )
    parser.add_argument(
        "--lookahead-candidates", type=int, default=0, help="lookahead: candidate cap (0: every frame)"
    )
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help="evaluation parts this run may compute (comma-separated of rules, lookahead, learned); the "
        "others are read when their folder exists and left out of the report otherwise",
    )
    parser.add_argument("--bootstrap", type=int, default=10_000, help="bootstrap resamples")
    add_out_dir(parser)
    args = parser.parse_args(argv)
    args.parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    if args.parts - set(PARTS):
        parser.error(f"--parts: unknown parts {sorted(args.parts - set(PARTS))}; known: {', '.join(PARTS)}")
    if args.ablation and not args.ranker:
        parser.error("--ablation needs --ranker")
    args.quality = args.quality or str(Path(args.work) / "quality" / "flow" / "quality_estimator.pt")
    from vos_recommender.evaluation.paired import pair_means, paired_difference

    learned = {"ranker": ("Ranker", args.ranker, args.ranker_wild)} if args.ranker else {}
    for index, spec in enumerate(args.ablation):
        label, _, paths = spec.partition("=")
        oracle, _, wild = paths.partition(":")
        if not label or not oracle:
            parser.error(f"--ablation {spec!r}: expected 'label=oracle.pt[:wild.pt]'")
        learned[f"ablation{index}"] = (f"Ranker, {label}", oracle, wild)
    machine = machine_description()
    tic = time.perf_counter()
    cells: dict = {}
    payload: dict = {
        "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
        "machine": machine,
        "cells": {},
    }
    for dataset in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        if dataset in args.lookahead.split(","):
            lookahead = evaluate_part(args, dataset, "lookahead", "lookahead", "oracle")
        else:
            lookahead = None
        sessions = evaluate_part(args, dataset, "rules", ",".join(RULES), "oracle,wild")
        # The learned parts do not need the rules' (another process may still be computing them).
        parts = {
            key: evaluate_part(args, dataset, key, "ranker", "oracle,wild", oracle, wild)
            for key, (_, oracle, wild) in learned.items()
        }
        if sessions is None:
            print(f"[learned] {dataset}: no rules part yet, so no table (run --parts rules)", flush=True)
            continue
        if lookahead is not None:
            for setting in sessions:
                sessions[setting]["lookahead"] = lookahead["oracle"]["lookahead"]
        for key, part in parts.items():
            if part is None:
                continue
            for setting in sessions:
                sessions[setting][key] = part[setting]["ranker"]
        for setting, by_key in sessions.items():
            auc = {k: pair_means(runs, ROUNDS) for k, runs in by_key.items()}
            mean_auc = {k: float(np.mean(list(v.values()))) for k, v in auc.items()}
            best_rule = max(RULES, key=lambda k: mean_auc[k])
            cell = {"best_rule": best_rule, "rows": {}}
            for key, runs in by_key.items():
                row = {
                    "auc": mean_auc[key],
                    "jf5": float(np.mean([100 * run["jf"][min(4, len(run["jf"]) - 1)] for run in runs])),
                    "sessions": len(runs),
                }
                if key != best_rule:
                    diff = paired_difference(auc[key], auc[best_rule], bootstrap=args.bootstrap, seed=0)
                    row["vs_best_rule"] = diff
                    if key in learned and "lookahead" in mean_auc:
                        gap = mean_auc["lookahead"] - mean_auc[best_rule]
                        row["gap_closed"] = diff["mean"] / gap if gap > 0 else float("nan")
                cell["rows"][key] = row
            cells[(dataset, setting)] = cell
            payload["cells"][f"{dataset}/{setting}"] = cell
    seconds = time.perf_counter() - tic
    labels = {**NAMES, **{k: v[0] for k, v in learned.items()}}
    order = [*RULES, *learned, "lookahead"]
    lines = [
        "# Gain ranker vs the rules (Table 1 protocol, flow)"
        if learned
        else "# The rules and the one-step-lookahead ceiling (Table 1 protocol, flow)",
        "",
        f"Command: `{payload['command']}`",
        "",
        f"Held-out generated videos of `{args.work}/data/<dataset>` (64x112): the first {args.videos} x "
        f"{args.scribbles} first scribbles per dataset, {ROUNDS} rounds, Random over {args.seeds} seeds, "
        f"backend flow, simulated DAVIS robot. Wild quality: {args.quality}. "
        + (
            f"Rankers: oracle {args.ranker}, wild {args.ranker_wild or args.ranker}."
            if learned
            else "Rules only."
        ),
        f"Run time {seconds:.0f} s (evaluation parts kept from earlier runs not counted; their times in "
        f"docs/recommender.md) on {machine['cpu']} ({machine['cores']} cores, load "
        f"{machine['load_average_at_start']}), {machine['date_utc']}.",
        "",
    ]
    for (dataset, setting), cell in cells.items():
        rows = []
        for key in order:
            if key not in cell["rows"]:
                continue
            row = cell["rows"][key]
            versus, closed = "", ""
            if "vs_best_rule" in row:
                d = row["vs_best_rule"]
                low, high = d["ci95_bootstrap"]
                versus = f"{d['mean']:+.2f} [{low:+.2f}, {high:+.2f}] ({d['pairs_won']}/{d['pairs_lost']})"
                closed = f"{100 * row['gap_closed']:.0f}%" if "gap_closed" in row else ""
            mark = " (best rule)" if key == cell["best_rule"] else ""
            rows.append([labels[key] + mark, f"{row['auc']:.2f}", f"{row['jf5']:.1f}", versus, closed])
        lines += [
            f"## {dataset}, {setting}",
            "",
            markdown_table(
                [
                    "strategy",
                    "AUC",
                    "J&F@5",
                    "vs best rule, AUC (95% CI) (won/lost)",
                    "gap to lookahead closed",
                ],
                rows,
            ),
            "",
        ]
    lines.append(
        "AUC: the paper's area under J&F over rounds [0, m1..m8] / 8 (x100). The paired difference is over "
        "(video, first scribble) pairs (Random averaged over its seeds), with a bootstrap 95% interval; "
        "won/lost counts pairs. Gap closed: (learned - best rule) / (lookahead - best rule)."
    )
    markdown = "\n".join(lines) + "\n"
    payload["seconds"] = seconds
    print(markdown)
    write_results("vos_learned_recommender", markdown, payload, args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
