"""benchmarks/vos_quality_estimators.py: every estimator judged on the same held-out samples."""

from __future__ import annotations

import json

import pytest

from benchmarks.common import parse_labelled
from benchmarks.vos_quality_estimators import main
from tests.vos.generated import seeded_estimator


def test_parse_labelled():
    assert parse_labelled("a=x.pt, b c=y/z.pt", "--estimators") == [("a", "x.pt"), ("b c", "y/z.pt")]
    for bad in ("x.pt", "=x.pt", "a=", ""):
        with pytest.raises(ValueError, match="--estimators"):
            parse_labelled(bad, "--estimators")


def test_estimators_are_compared_on_the_same_samples(tmp_path, capsys):
    from vos_recommender.data.generate import generate_davis_dataset

    generate_davis_dataset(
        tmp_path / "work" / "data" / "default",
        num_train=0,
        num_val=2,
        num_frames=4,
        height=32,
        width=48,
        seed=7,
    )
    first, second = seeded_estimator(tmp_path / "a.pt", 0), seeded_estimator(tmp_path / "b.pt", 1)
    argv = [
        "--estimators",
        f"one={first},two={second}",
        "--work",
        str(tmp_path / "work"),
        "--datasets",
        "default",
    ]
    assert main([*argv, "--rounds", "2", "--out-dir", str(tmp_path / "out")]) == 0
    payload = json.loads((tmp_path / "out" / "vos_quality_estimators.json").read_text())
    rows = payload["rows"]
    assert [(r["dataset"], r["estimator"]) for r in rows] == [("default", "one"), ("default", "two")]
    # 2 videos x 2 rounds x 4 frames, the same samples for both; different weights, different scores.
    assert rows[0]["num_frames"] == rows[1]["num_frames"] == 2 * 2 * 4
    assert rows[0]["num_object_samples"] == rows[1]["num_object_samples"]
    assert rows[0]["mse_object"] != rows[1]["mse_object"]
    assert "| default | one" in (tmp_path / "out" / "vos_quality_estimators.md").read_text().replace(
        "  ", " "
    )
    # Clear errors: a missing checkpoint, a missing dataset, crop sizes that differ.
    with pytest.raises(SystemExit):
        main(["--estimators", f"one={tmp_path / 'missing.pt'}", "--work", str(tmp_path / "work")])
    assert "no checkpoint at" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*argv[:4], "--datasets", "shifted", "--out-dir", str(tmp_path / "out")])
    assert "no dataset at" in capsys.readouterr().err
    other = seeded_estimator(tmp_path / "c.pt", 2, crop_size=32)
    with pytest.raises(SystemExit):
        main(["--estimators", f"one={first},big={other}", "--work", str(tmp_path / "work")])
    assert "differ in crop size" in capsys.readouterr().err
