"""Smoke run of the cache-format benchmark (``--quick``): it finishes and its numbers hang together."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tracked_outputs import committed_outputs_untouched

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_cache_size_quick(tmp_path):
    with committed_outputs_untouched():
        completed = subprocess.run(
            [
                sys.executable,
                str(REPO / "benchmarks" / "vos_cache_size.py"),
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
    payload = json.loads((tmp_path / "vos_cache_size_quick.json").read_text())
    rows = {row["format"]: row for row in payload["rows"]}
    assert set(rows) == {"before", "none", "uint8", "float16"}
    assert all(row["entries"] == rows["before"]["entries"] > 0 for row in rows.values())
    # Masks only is the smallest, the previous float32 layout the largest.
    sizes = [rows[f]["bytes_per_entry"] for f in ("none", "uint8", "float16", "before")]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1] / 5
    assert all(row["warm_steps_per_s"] > 0 and row["default_run_estimate_bytes"] > 0 for row in rows.values())
    assert "| none |" in (tmp_path / "vos_cache_size_quick.md").read_text()
