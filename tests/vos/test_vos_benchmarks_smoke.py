"""Smoke runs of the VOS benchmarks (``--quick``): they finish and write their tables into ``tmp_path`` only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tracked_outputs import committed_outputs_untouched

REPO = Path(__file__).resolve().parents[2]


def _run(script: str, out: Path) -> str:
    with committed_outputs_untouched():
        completed = subprocess.run(
            [sys.executable, str(REPO / "benchmarks" / script), "--quick", "--out-dir", str(out)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


@pytest.mark.slow
def test_env_throughput_quick(tmp_path):
    stdout = _run("vos_env_throughput.py", tmp_path)
    table = (tmp_path / "vos_env_throughput_quick.md").read_text()
    assert "| flow | none |" in table and table.strip().splitlines()[2] in stdout
    payload = json.loads((tmp_path / "vos_env_throughput_quick.json").read_text())
    rows = {(r["backend"], r["cache"]): r for r in payload["rows"]}
    assert set(rows) == {
        ("flow", "none"),
        ("learned (random init)", "none"),
        ("cache(flow)", "cold"),
        ("cache(flow)", "cold, uncompressed"),
        ("cache(flow)", "warm, from disk"),
        ("cache(flow)", "warm, in memory"),
    }
    assert all(r["steps"] > 0 and r["steps_per_s"] > 0 for r in rows.values())
    assert rows[("flow", "none")]["ratio_vs_flow"] == 1.0
    assert rows[("cache(flow)", "cold")]["cache_stats"]["hit_rate"] == 0.0
    assert rows[("cache(flow)", "warm, from disk")]["cache_stats"]["hit_rate"] == 1.0


@pytest.mark.slow
def test_baselines_quick(tmp_path):
    _run("vos_baselines.py", tmp_path)
    payload = json.loads((tmp_path / "vos_baselines_quick.json").read_text())
    assert set(payload["summary"]) == {"Random", "Linspace", "Worst"}
    for summary in payload["summary"].values():
        assert len(summary["jf_mean"]) == 4 and 0.0 <= summary["auc_mean"] <= 1.0
    # Every strategy starts from the same first round.
    firsts = {s: [c[0][0] for c in payload["curves"][s].values()] for s in payload["curves"]}
    assert firsts["Random"] == firsts["Linspace"] == firsts["Worst"]
    assert "| Worst |" in (tmp_path / "vos_baselines_quick.md").read_text()
