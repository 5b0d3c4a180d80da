"""benchmarks/vos_agent_context_gain.py: the table of agents against the rules and the ranker, from evaluation folders."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.vos_agent_context_gain import main
from vos_recommender.metrics.auc import round_auc

PAIRS = [("a", 0), ("a", 1), ("b", 0)]


def _sessions(final: list[float]) -> list[dict]:
    return [{"video": v, "scribble": s, "jf": [0.5, 0.6, f]} for (v, s), f in zip(PAIRS, final)]


def _evaluation(folder, ours: list[float]) -> None:
    sessions = {
        "worst": _sessions([0.7, 0.7, 0.7]),
        "uncertain_far": _sessions([0.6, 0.8, 0.7]),
        "ranker": _sessions([0.8, 0.8, 0.8]),
        "ours": _sessions(ours),
    }
    folder.mkdir()
    payload = {
        "data": "d",
        "split": "val",
        "backend": "flow",
        "num_rounds": 3,
        "sessions": {"oracle": sessions},
    }
    (folder / "results.json").write_text(json.dumps(payload))


def test_table_of_agents_with_paired_differences(tmp_path):
    _evaluation(tmp_path / "eval_a", [0.9, 0.7, 0.8])
    _evaluation(tmp_path / "eval_b", [0.7, 0.7, 0.7])
    run = tmp_path / "run_a"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps({"total_timesteps": 12, "wall_seconds_this_session": 3.4}))
    out = tmp_path / "out"
    payload = main(
        [
            *("--agents", f"A=eval_a:{run}".replace("eval_a", str(tmp_path / "eval_a"))),
            *("--agents", f"B={tmp_path / 'eval_b'}", "--compare", "A-B", "--out-dir", str(out)),
        ]
    )
    auc = lambda final: round_auc([0.5, 0.6, final], 3) * 100  # noqa: E731
    expected_a = np.mean([auc(0.9), auc(0.7), auc(0.8)])
    assert payload["rows"]["A"]["auc"] == pytest.approx(expected_a)
    # A - Worst per pair: the last round weighs 1/6 -> (0.2, 0, 0.1) x 100 / 6.
    assert payload["rows"]["A"]["paired"]["Worst"]["mean"] == pytest.approx(np.mean([20, 0, 10]) / 6)
    assert payload["compare"]["A - B"]["mean"] == pytest.approx(np.mean([20, 0, 10]) / 6)
    assert payload["compare"]["ranker - worst"]["mean"] == pytest.approx(10 / 6)
    table = (out / "vos_agent_context_gain.md").read_text()
    assert "agent, A (12 steps, 3 s)" in table and "| agent, B " in table and "A - B: +1.67" in table
    with pytest.raises(SystemExit, match="no .*results.json"):
        main(["--agents", f"C={tmp_path / 'missing'}", "--out-dir", str(out)])
