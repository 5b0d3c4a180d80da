"""The J&F-against-distance benchmark of the native backends: binning, backend choice, smoke run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.vos_native_distance import backends_to_run, distance_bins, main, parse_args
from tests.tracked_outputs import committed_outputs_untouched


def test_distance_bins_group_frames_by_distance_from_the_annotated_one():
    jf = np.arange(12, dtype=float) / 10
    bins = distance_bins(jf, annotated=2)
    assert bins["0"] == [0.2]
    assert bins["1"] == [0.1, 0.3]
    assert bins["2-3"] == [0.0, 0.4, 0.5]
    assert bins["4-7"] == [0.6, 0.7, 0.8, 0.9]
    assert bins["8+"] == [1.0, 1.1]


def test_random_weights_only_when_no_native_model_has_weights():
    rows = backends_to_run(parse_args([]))
    assert [r[1] for r in rows] == ["flow", "ipn", "atnet", "manet"]
    assert all("random weights" in r[0] for r in rows[1:])
    rows = backends_to_run(parse_args(["--ipn-weights", "run", "--learned-checkpoint", "l.pt"]))
    assert [r[1] for r in rows] == ["flow", "learned", "ipn"]
    assert rows[2][2] == {"config": "cpu", "weights": "run"}
    rows = backends_to_run(parse_args(["--manet-weights", "m.pth"]))
    assert [r[1] for r in rows] == ["flow", "manet"]
    assert rows[1][2] == {"config": "cpu", "weights": "m.pth"}


def test_missing_data_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")])


def test_quick_run_writes_table(tmp_path):
    with committed_outputs_untouched():
        report = main(["--quick", "--out", str(tmp_path / "table")])
    saved = json.loads((tmp_path / "table.json").read_text())
    assert saved["videos"] == report["videos"] == 2
    assert [row["backend"].split()[0] for row in saved["rows"]] == ["flow", "ipn", "atnet", "manet"]
    flow = saved["rows"][0]["jf_by_distance"]
    assert 0.0 <= flow["0"] <= 1.0 and flow["8+"] is None  # 6-frame videos have no frame 8 away
    table = (tmp_path / "table.md").read_text()
    assert "| flow |" in table and "random weights" in table and "load_average" in table
