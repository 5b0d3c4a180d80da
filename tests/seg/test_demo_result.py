"""tools/demo_result.py: the last step of ``make demo`` reads the test mIoU that tools/test.py wrote."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _tool():
    spec = importlib.util.spec_from_file_location("demo_result", REPO / "tools/demo_result.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write(work_dir: Path, stamp: str, metrics: dict) -> None:
    (work_dir / stamp).mkdir(parents=True)
    (work_dir / stamp / f"{stamp}.json").write_text(json.dumps(metrics))


def test_prints_the_newest_test_miou_next_to_the_expected_range(tmp_path, capsys):
    tool = _tool()
    _write(tmp_path, "20260101_000000", {"aAcc": 90.0, "mIoU": 70.0, "step": 600})
    _write(tmp_path, "20260102_000000", {"aAcc": 95.0, "mIoU": 83.41, "step": 600})
    (tmp_path / "20260102_000000" / "vis_data").mkdir()
    (tmp_path / "20260102_000000" / "vis_data" / "scalars.json").write_text('{"mIoU": 1.0}')
    tool.main([str(tmp_path)])
    out = capsys.readouterr().out
    low, high = tool.EXPECTED_MIOU
    assert out.startswith("test mIoU 83.41 (expected "), out
    assert f"{low:.2f}-{high:.2f}" in out and tool.MEASURED_ON in out
    assert 0 < low <= high <= 100 and tool.MEASURED_ON


def test_a_work_dir_without_a_test_result_is_named(tmp_path):
    tool = _tool()
    _write(tmp_path, "20260101_000000", {"aAcc": 90.0})
    with pytest.raises(SystemExit, match=f"no test result with an mIoU in '{tmp_path}'"):
        tool.main([str(tmp_path)])
