"""The training benchmark's comparison against another revision (``--baseline-ref``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.baseline_ref import comparison_table, strip_options, worktree_at
from tests.tracked_outputs import committed_outputs_untouched

REPO = Path(__file__).resolve().parents[2]


def payload(env_rate: float, grad_rate: float, load: float) -> dict:
    return {
        "rows": [
            {
                "env": "vos/flow",
                "n_envs": 1,
                "cache": "warm",
                "env_steps_per_s": env_rate,
                "grad_steps_per_s_in_learn": grad_rate,
            }
        ],
        "gradient_only": [{"env": "vos/flow", "grad_steps_per_s": grad_rate * 2}],
        "load_average_after": load,
    }


def test_strip_options_drops_both_spellings() -> None:
    argv = ["--quick", "--out-dir", "x", "--baseline-ref=HEAD", "--repeats", "2", "--n-envs", "1"]
    assert strip_options(argv, ("--out-dir", "--baseline-ref", "--repeats")) == ["--quick", "--n-envs", "1"]


def test_comparison_table_takes_the_best_run_of_each_side_and_the_ratio() -> None:
    base = [payload(10.0, 20.0, 3.0), payload(12.0, 18.0, 2.0)]
    new = [payload(30.0, 50.0, 3.5), payload(24.0, 60.0, 2.5)]
    table = comparison_table("abc123", base, new)
    assert "Baseline `abc123`" in table and "2 alternating run(s)" in table
    assert "| vos/flow | 1 | warm | 12.0 | 30.0 | 2.50x | 20.0 | 60.0 | 3.00x |" in table
    assert "| vos/flow | 40.0 | 120.0 | 3.00x |" in table


def test_unknown_baseline_ref_is_an_error_naming_it() -> None:
    with pytest.raises(SystemExit, match="no-such-ref"):
        with worktree_at(REPO, "no-such-ref"):
            pass


@pytest.mark.slow
def test_quick_comparison_against_head_runs_both_sides(tmp_path: Path) -> None:
    with committed_outputs_untouched():
        completed = subprocess.run(
            [
                sys.executable,
                str(REPO / "benchmarks" / "vos_train_throughput.py"),
                "--quick",
                "--n-envs",
                "1",
                "--baseline-ref",
                "HEAD",
                "--out-dir",
                str(tmp_path),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert completed.returncode == 0, completed.stderr[-3000:]
    text = (tmp_path / "vos_train_throughput_compare_quick.md").read_text()
    assert "Baseline `HEAD`" in text and "| vos/flow | 1 | warm |" in text
    data = json.loads((tmp_path / "vos_train_throughput_compare_quick.json").read_text())
    assert len(data["baseline"]) == len(data["current"]) == 1
    assert {r["cache"] for r in data["current"][0]["rows"]} == {"cold", "warm", "-"}
