"""benchmarks/app_round_timing.py: its options, the generated two-object video, and a smoke run."""

from __future__ import annotations

import argparse
import json
import zlib

import numpy as np
import pytest

from benchmarks.app_round_timing import STEPS, main, parse_size, table, two_object_seed
from tests.tracked_outputs import committed_outputs_untouched


def test_sizes_are_width_by_height_and_bad_ones_are_named():
    assert parse_size("854x480") == (854, 480)
    with pytest.raises(argparse.ArgumentTypeError, match="--sizes: '854' is not WIDTHxHEIGHT"):
        parse_size("854")
    with pytest.raises(argparse.ArgumentTypeError, match="--sizes: '8x8' is smaller than 16x16"):
        parse_size("8x8")


def test_the_seed_gives_two_objects():
    name = "timing-64x32x5"
    seed = two_object_seed(name, 0)
    assert int(np.random.default_rng([seed, zlib.crc32(name.encode())]).integers(1, 3)) == 2


def test_bad_options_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--rounds", "1", "--out-dir", str(tmp_path)])
    assert "--rounds must be at least 2" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--baseline", str(tmp_path / "missing.json"), "--out-dir", str(tmp_path)])
    assert "--baseline: cannot read" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--think", "-1", "--out-dir", str(tmp_path)])
    assert "--think must be >= 0 seconds" in capsys.readouterr().err


@pytest.mark.slow
def test_quick_run_writes_the_table(tmp_path):
    out = tmp_path / "results"
    with committed_outputs_untouched():
        assert main(["--quick", "--data-root", str(tmp_path / "data"), "--out-dir", str(out)]) == 0
    payload = json.loads((out / "app_round_timing_quick.json").read_text())
    (run,) = payload["runs"]
    assert run["size"] == "216x120x25" and run["load_average"] >= 0
    seconds = run["seconds"]
    assert all(seconds[key] > 0 for key, _ in STEPS)
    assert len(seconds["later_rounds"]) == 1 and seconds["replayed_after_restart"] == 0
    text = (out / "app_round_timing_quick.md").read_text()
    assert "| first round (with start-up)" in text and "| this code " in text
    rows = table(payload["runs"], "baseline")  # a later run shows this one beside it
    assert rows[0][:2] == ["baseline", "216x120x25"] and len(rows[0]) == 3 + len(STEPS) + 1
