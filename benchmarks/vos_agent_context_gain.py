"""The agent on the context layout with the per-round-gain reward, from scratch and started from a gain ranker.

Reads evaluation folders written by ``python -m vos_recommender.evaluate`` (each with the same rules and the
ranker and one agent as ``Ours``) and the agents' run folders, and writes one table: every agent's AUC and
J&F@8 with its paired AUC difference to Worst, (1 - q) x distance and the ranker, the ranker's own paired
differences to the two rules, and paired differences between the agents. The commands that trained and
evaluated the agents are in ``docs/recommender.md`` ("The agent on the context layout ...")::

    python benchmarks/vos_agent_context_gain.py \\
        --agents "scratch=runs/rl/eval_scratch:runs/rl/scratch" \\
        --agents "from ranker=runs/rl/eval_from_ranker:runs/rl/from_ranker" \\
        --agents "from ranker, 500 steps=runs/rl/eval_from_ranker_500" --compare "from ranker-scratch"

Writes ``benchmarks/results/vos_agent_context_gain.{md,json}`` (another folder with ``--out-dir``).
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

from benchmarks.common import add_out_dir, markdown_table, write_results  # noqa: E402
from vos_recommender.evaluation.paired import pair_means, paired_difference  # noqa: E402

SETTING = "oracle"
RULES = (("worst", "Worst"), ("uncertain_far", "(1 - q) x distance"), ("ranker", "Ranker"))


def _diff(stats: dict) -> str:
    low, high = stats["ci95_bootstrap"]
    return f"{stats['mean']:+.2f} [{low:+.2f}, {high:+.2f}] ({stats['pairs_won']}/{stats['pairs_lost']})"


def _row_values(sessions: list[dict], num_rounds: int) -> tuple[float, float]:
    auc = float(np.mean(list(pair_means(sessions, num_rounds).values())))
    final = float(np.mean([np.asarray(s["jf"])[-1] * 100 for s in sessions]))
    return auc, final


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--agents",
        action="append",
        required=True,
        help="label=<evaluation folder>[:<run folder>], once per agent (with the run folder, the label shows its "
        "steps and training time; without, e.g. for a checkpoint, the label says which)",
    )
    parser.add_argument(
        "--compare", action="append", default=[], help="A-B: paired AUC of agent A minus agent B"
    )
    add_out_dir(parser)
    args = parser.parse_args(argv)

    evaluations, runs = {}, {}
    for spec in args.agents:
        label, _, folders = spec.partition("=")
        eval_dir, _, run_dir = folders.partition(":")
        if not label or not eval_dir:
            raise SystemExit(f"--agents: expected label=<evaluation folder>[:<run folder>], got {spec!r}")
        results = Path(eval_dir) / "results.json"
        if not results.is_file():
            raise SystemExit(
                f"--agents {spec!r}: no {results} (run python -m vos_recommender.evaluate first)"
            )
        evaluations[label] = json.loads(results.read_text())
        runs[label] = json.loads((Path(run_dir) / "summary.json").read_text()) if run_dir else None

    first = next(iter(evaluations.values()))
    num_rounds = int(first["num_rounds"])
    rule_sessions = first["sessions"][SETTING]
    rule_pairs = {key: pair_means(rule_sessions[key], num_rounds) for key, _ in RULES}
    rows, payload = [], {"setting": SETTING, "num_rounds": num_rounds, "rows": {}, "compare": {}}
    for key, name in RULES:
        auc, final = _row_values(rule_sessions[key], num_rounds)
        cells = [name, f"{auc:.2f}", f"{final:.2f}", "", "", ""]
        if key == "ranker":  # the ranker against the two rules (it is also the started agent before training)
            for column, (other, _) in enumerate(RULES[:2], start=3):
                stats = paired_difference(rule_pairs["ranker"], rule_pairs[other])
                cells[column] = _diff(stats)
                payload["compare"][f"ranker - {other}"] = stats
        rows.append(cells)
        payload["rows"][name] = {"auc": auc, "jf_final": final}
    agent_pairs = {}
    for label, evaluation in evaluations.items():
        sessions = evaluation["sessions"][SETTING]
        for key, _ in RULES:  # the rules must be the same sessions in every folder
            if pair_means(sessions[key], num_rounds) != rule_pairs[key]:
                raise SystemExit(f"{label}: its {key} sessions differ from the first folder's")
        agent_pairs[label] = pair_means(sessions["ours"], num_rounds)
        auc, final = _row_values(sessions["ours"], num_rounds)
        stats = {name: paired_difference(agent_pairs[label], rule_pairs[key]) for key, name in RULES}
        run = runs[label]
        trained = (
            f" ({run['total_timesteps']} steps, {run['wall_seconds_this_session']:.0f} s)" if run else ""
        )
        rows.append(
            [
                f"agent, {label}{trained}",
                f"{auc:.2f}",
                f"{final:.2f}",
                _diff(stats["Worst"]),
                _diff(stats["(1 - q) x distance"]),
                _diff(stats["Ranker"]),
            ]
        )
        payload["rows"][label] = {"auc": auc, "jf_final": final, "paired": stats, "run": run}
    for spec in args.compare:
        a, _, b = spec.rpartition("-")
        if a not in agent_pairs or b not in agent_pairs:
            raise SystemExit(f"--compare {spec!r}: both must be --agents labels ({', '.join(agent_pairs)})")
        payload["compare"][f"{a} - {b}"] = paired_difference(agent_pairs[a], agent_pairs[b])

    headers = ["row", "AUC", f"J&F@{num_rounds}", "− Worst", "− (1 - q) x distance", "− Ranker"]
    pairs = len(rule_pairs["worst"])
    lines = [
        "# The agent on the context layout with the per-round-gain reward (flow, oracle quality)",
        "",
        f"Command: `python benchmarks/vos_agent_context_gain.py {shlex.join(sys.argv[1:] if argv is None else argv)}`",
        "",
        f"Data: `{first['data']}` ({first['split']}), {pairs} (video, first scribble) pairs, "
        f"{num_rounds} rounds, backend {first['backend']}, oracle quality. Values x100; paired differences of "
        "the round AUC per pair, mean [95% bootstrap interval] (pairs won/lost). The ranker's row also shows "
        "Ranker − Worst and Ranker − (1 - q) x distance. Agent run times: wall seconds of `learn` on the shared "
        "2-core machine.",
        "",
        markdown_table(headers, rows),
        "",
    ]
    for name, stats in payload["compare"].items():
        if not name.startswith("ranker"):
            lines.append(f"* {name}: {_diff(stats)}")
    md_path, _ = write_results("vos_agent_context_gain", "\n".join(lines) + "\n", payload, args.out_dir)
    print(md_path.read_text())
    return payload


if __name__ == "__main__":
    main()
