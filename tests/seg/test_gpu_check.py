"""benchmarks/gpu_check.py: pytest's summary counts, the device-test step, and (slow) its CPU dry run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import gpu_check
from tests.tracked_outputs import committed_outputs_untouched

ROOT = Path(__file__).resolve().parents[2]


def test_pytest_summary_counts():
    output = "....s\nsome log line in 3 places\n3 passed, 1 failed, 2 skipped, 40 deselected, 5 warnings in 2.10s\n"
    assert gpu_check.parse_pytest_summary(output) == {
        "passed": 3,
        "failed": 1,
        "skipped": 2,
        "deselected": 40,
    }
    assert gpu_check.parse_pytest_summary("=== 1 error in 0.3s ===") == {"errors": 1}
    assert gpu_check.parse_pytest_summary("== 12 deselected in 1.2s ==\nno tests ran") == {"deselected": 12}
    with pytest.raises(ValueError, match="no pytest summary line"):
        gpu_check.parse_pytest_summary("Traceback (most recent call last):\nImportError: boom")


def test_device_tests_are_selected_by_keyword_and_counted(tmp_path):
    tests = tmp_path / "test_devices.py"
    tests.write_text(
        "import pytest\n\n"
        "@pytest.mark.parametrize('device', ['cpu', 'cuda'])\n"
        "def test_op(device):\n    assert device in ('cpu', 'cuda')\n\n"
        "@pytest.mark.slow\n@pytest.mark.parametrize('device', ['cuda'])\n"
        "def test_slow_op(device):\n    raise AssertionError('slow tests are not run')\n"
    )
    result = gpu_check.run_device_tests([str(tests)], "cuda", timeout_s=300)
    assert result["status"] == "ok" and result["returncode"] == 0
    assert result["counts"] == {"passed": 1, "deselected": 2}
    assert [test_id.rsplit("/", 1)[-1] for test_id in result["passed"]] == ["test_devices.py::test_op[cuda]"]
    assert result["failed"] == result["error"] == []
    nothing = gpu_check.run_device_tests([str(tests)], "tpu", timeout_s=300)
    assert nothing["status"] == "no tests selected" and nothing["counts"]["deselected"] == 3


def test_bad_option_is_named(capsys):
    with pytest.raises(SystemExit):
        gpu_check.parse_args(["--budget", "0"])
    assert "--budget must be positive, got 0.0" in capsys.readouterr().err


@pytest.mark.slow
def test_dry_run_on_cpu_writes_the_table(tmp_path):
    with committed_outputs_untouched():
        completed = subprocess.run(
            [
                sys.executable,
                str(ROOT / "benchmarks" / "gpu_check.py"),
                "--dry-run",
                "--tests",
                "tests/seg/test_gpu_check.py",
                "-k",
                "summary_counts",
                "--repeats",
                "1",
                "--out-dir",
                str(tmp_path),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
        )
    assert completed.returncode == 0, completed.stderr[-2000:]
    payload = json.loads((tmp_path / "gpu_check_dry_run.json").read_text())
    assert (
        payload["dry_run"] is True and payload["device_type"] == "cpu" and payload["amp_dtype"] == "bfloat16"
    )
    assert payload["tests"]["status"] == "ok" and payload["tests"]["counts"]["passed"] == 1
    assert set(payload["heads"]) == {f"{h}/{p}" for h in gpu_check.HEAD_ROWS for p in ("fp32", "bfloat16")}
    assert all(cell["status"] == "ok" and cell["time_s"] > 0 for cell in payload["heads"].values())
    assert payload["slide"]["status"] == "ok" and payload["slide"]["windows"] == 1
    markdown = (tmp_path / "gpu_check_dry_run.md").read_text()
    assert (
        markdown.startswith("## GPU check: DRY RUN on the CPU") and "measures nothing about a GPU" in markdown
    )
