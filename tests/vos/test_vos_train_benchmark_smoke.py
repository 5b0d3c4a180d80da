"""Smoke run of the training-throughput benchmark (``--quick``): it finishes and writes its tables."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tracked_outputs import committed_outputs_untouched

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_train_throughput_quick(tmp_path: Path) -> None:
    with committed_outputs_untouched():
        completed = subprocess.run(
            [
                sys.executable,
                str(REPO / "benchmarks" / "vos_train_throughput.py"),
                "--quick",
                "--out-dir",
                str(tmp_path),
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert completed.returncode == 0, completed.stderr[-3000:]
    table = (tmp_path / "vos_train_throughput_quick.md").read_text()
    assert table.strip().splitlines()[2] in completed.stdout
    payload = json.loads((tmp_path / "vos_train_throughput_quick.json").read_text())
    rows = {(r["env"], r["n_envs"], r["cache"]): r for r in payload["rows"]}
    assert set(rows) == {
        (env, n, cache)
        for n in (1, 2)
        for env, cache in (("vos/flow", "cold"), ("vos/flow", "warm"), ("toy", "-"))
    }
    for row in rows.values():
        assert row["steps"] >= 48 and row["grad_steps"] > 0
        assert (
            row["env_steps_per_s"] > 0
            and row["env_only_steps_per_s"] > 0
            and row["grad_steps_per_s_in_learn"] > 0
        )
        assert row["ratio_learn_vs_env_only"] == pytest.approx(
            row["env_steps_per_s"] / row["env_only_steps_per_s"]
        )
    for n in (1, 2):
        warm = rows[("vos/flow", n, "warm")]
        # Same seed: the warm run plays the cold run's episodes, all from the cache.
        assert warm["same_episodes_as_cold"] is True
        assert warm["learn_cache"]["hit_rate"] == 1.0 and warm["env_only_cache"]["hit_rate"] == 1.0
        assert rows[("vos/flow", n, "cold")]["env_only_cache"]["misses"] > 0
        assert rows[("toy", n, "-")]["learn_cache"] is None
    assert {g["env"] for g in payload["gradient_only"]} == {"vos/flow", "toy"}
    assert all(g["grad_steps_per_s"] > 0 for g in payload["gradient_only"])
