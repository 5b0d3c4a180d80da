"""Smoke run of the benchmarks (``--quick``): the scripts run end to end and write their tables.

Timings are never asserted; only that every measured cell finished and the outputs are well-formed. Every
run writes into ``tmp_path`` and leaves the committed results as they were.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tracked_outputs import committed_outputs_untouched

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, out: Path) -> str:
    with committed_outputs_untouched():
        completed = subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--out-dir", str(out)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return completed.stdout


@pytest.mark.slow
def test_boundary_table_benchmark_quick(tmp_path):
    stdout = _run("bench_boundary_table.py", tmp_path)
    assert "| map" in stdout and "compiled C++/OpenMP" in stdout
    payload = json.loads((tmp_path / "boundary_table_quick.json").read_text())
    cells = payload["cells"]
    measured = {key: cell for key, cell in cells.items() if not key.startswith("agreement/")}
    assert measured and all(cell["status"] == "ok" for cell in measured.values()), measured
    agreement = cells["agreement/12"]
    assert agreement["status"] == "ok"
    # The three implementations compute the same D.
    assert agreement["compiled_vs_grouped"]["value"] <= 1e-6
    assert agreement["compiled_vs_per_pair"]["value"] <= 1e-6
    assert (tmp_path / "boundary_table_quick.md").read_text().startswith("## Boundary term D")


@pytest.mark.slow
def test_heads_benchmark_quick(tmp_path):
    stdout = _run("bench_heads.py", tmp_path)
    assert "NLHead" in stdout and "RANetHead" in stdout
    payload = json.loads((tmp_path / "heads_quick.json").read_text())
    cells = payload["cells"]
    assert cells and all(cell["status"] == "ok" for cell in cells.values()), cells
    assert all(cell["time_s"] > 0 and cell["peak_mib"] >= 0 for cell in cells.values())


@pytest.mark.slow
def test_semantic_table_benchmark_quick(tmp_path):
    stdout = _run("bench_semantic_table.py", tmp_path)
    assert "## Semantic term E" in stdout
    payload = json.loads((tmp_path / "semantic_table_quick.json").read_text())
    assert payload["cells"] and all(cell["status"] == "ok" for cell in payload["cells"].values())
    # The PyTorch and the compiled operators compute the same E (float32 rounding only).
    for check in payload["agreement"].values():
        assert check["status"] == "ok" and check["value"] <= 1e-5
        assert check["grad"] <= 1e-5 * check["grad_scale"]


@pytest.mark.slow
def test_region_linkage_benchmark_quick(tmp_path):
    stdout = _run("bench_region_linkage.py", tmp_path)
    assert "## Average-linkage regions" in stdout
    cells = json.loads((tmp_path / "region_linkage_quick.json").read_text())["cells"]
    assert set(cells) == {"scipy/17", "torch/17"} and all(cell["status"] == "ok" for cell in cells.values())
    # Both paths make the same regions of the generated scene.
    assert cells["scipy/17"]["roots_sha1"] == cells["torch/17"]["roots_sha1"]


@pytest.mark.slow
def test_cityscapes_inference_benchmark_small_image(tmp_path):
    with committed_outputs_untouched():
        completed = subprocess.run(
            [
                sys.executable,
                str(ROOT / "benchmarks" / "bench_cityscapes_inference.py"),
                "--size",
                "96",
                "160",
                "--output",
                "cityscapes",
                "--out-dir",
                str(tmp_path),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert completed.returncode == 0, completed.stderr[-2000:]
    payload = json.loads((tmp_path / "cityscapes.json").read_text())
    for mode in ("slide", "whole"):
        cell = payload["cells"][mode]
        assert cell["status"] == "ok" and cell["windows"] == 1 and cell["time_s"] > 0
