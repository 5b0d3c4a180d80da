"""benchmarks/seg_paired.py and benchmarks/seg_long_schedule.py on small stored tables and run folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import seg_long_schedule as ls
from benchmarks import seg_paired as sp


def _table(path: Path, rows: dict[str, dict[int, float]]) -> None:
    payload = {
        "rows": [
            {"label": label, "mIoU_per_seed": {str(s): v for s, v in seeds.items()}}
            for label, seeds in rows.items()
        ]
    }
    path.write_text(json.dumps(payload))


def _run(root: Path, stem: str, seed: int, curve: list[tuple[int, float]], finished: bool = True) -> None:
    run = root / "runs" / stem / "cue3" / f"seed{seed}"
    scalars = run / "20260101_000000" / "vis_data" / "scalars.json"
    scalars.parent.mkdir(parents=True)
    lines = []
    for step, miou in curve:
        lines.append({"loss": 0.5, "time": 0.4, "step": step})
        lines.append({"mIoU": miou, "step": step})
    scalars.write_text("".join(json.dumps(line) + "\n" for line in lines))
    if finished:
        (run / "result.json").write_text(json.dumps({"status": "ok", "mIoU": curve[-1][1]}))


def test_paired_differences_pool_the_seeds_of_both_datasets(tmp_path, capsys):
    _table(
        tmp_path / "seg_main_long.json",
        {sp.PAPER: {0: 84.0, 1: 86.0, 2: 85.0}, sp.OCR: {0: 82.0, 1: 83.0, 2: 81.0}},
    )
    _table(
        tmp_path / "seg_objects_long.json",
        {sp.FCN: {0: 80.0, 1: 77.0, 2: 79.0}, sp.OCR: {0: 74.0, 1: 77.0, 2: 75.0}},
    )
    _table(tmp_path / "seg_objects_long_nl_paper_official.json", {sp.PAPER: {0: 79.0, 1: 78.0, 2: 79.0}})
    out = tmp_path / "out"
    assert sp.main(["--results-dir", str(tmp_path), "--out-dir", str(out)]) == 0
    comparisons = json.loads((out / "seg_long_paired.json").read_text())["comparisons"]
    by_name = {(c["first"], c["second"], tuple(c["datasets"])): c for c in comparisons}
    pooled = by_name[(sp.PAPER, sp.OCR, ("context", "objects"))]
    assert pooled["per_seed"] == {
        "context/0": 2.0,
        "context/1": 3.0,
        "context/2": 4.0,
        "objects/0": 5.0,
        "objects/1": 1.0,
        "objects/2": 4.0,
    }
    assert pooled["mean"] == pytest.approx(19 / 6) and (pooled["pairs_won"], pooled["pairs"]) == (6, 6)
    objects_fcn = by_name[(sp.PAPER, sp.FCN, ("objects",))]
    assert objects_fcn["mean"] == pytest.approx(0.0) and objects_fcn["pairs_lost"] == 1
    low, high = objects_fcn["ci95_t"]
    assert low < 0 < high
    # No NLHead row on the context scenes here: that comparison is left out and said so.
    assert (sp.PAPER, sp.NL, ("context",)) not in by_name
    assert "a model has no 600 x 8 row there" in capsys.readouterr().out
    assert "| RANet paper - OCRNet | context + objects" in (out / "seg_long_paired.md").read_text().replace(
        "  ", ""
    )


def test_long_schedule_table_reads_the_curves_of_finished_runs(tmp_path):
    results, long_root, long4x_root = tmp_path / "results", tmp_path / "long", tmp_path / "long4x"
    results.mkdir()
    _table(results / "seg_main_long.json", {"RANet paper": {0: 84.0, 1: 86.0, 2: 85.0}})
    stem = "ranet_r18-d8_1xb8-600_synthetic-128x128"
    _run(long_root, stem, 0, [(s, 40.0 + s / 20) for s in range(100, 700, 100)])
    _run(long4x_root, stem, 0, [(s, 50.0 + s / 100) for s in range(100, 2500, 100)])
    _run(long4x_root, "fcn_r18-d8_1xb8-600_synthetic-128x128", 0, [(100, 20.0)], finished=False)
    plot = tmp_path / "curves.png"
    argv = ["--long-root", str(long_root), "--long4x-root", str(long4x_root), "--results-dir", str(results)]
    assert ls.main(argv + ["--plot", str(plot), "--out-dir", str(tmp_path / "out")]) == 0
    assert plot.stat().st_size > 0
    data = json.loads((tmp_path / "out" / "seg_long_schedule.json").read_text())
    ranet = next(m for m in data["models"] if m["label"] == "RANet paper")
    assert ranet["long4x_curves"]["0"][-1] == [2400, 74.0] and len(ranet["long_curves"]["0"]) == 6
    fcn = next(m for m in data["models"] if m["label"] == "FCN (no context)")
    assert fcn["long4x_curves"] == {}  # a run without result.json is still running
    row = next(
        line
        for line in (tmp_path / "out" / "seg_long_schedule.md").read_text().splitlines()
        if "RANet paper" in line
    )
    # 600 x 8 over seeds, seed 0 at 300/400/500/600, 2400 x 8 at 600/1200/1800/2400, end minus the mean.
    assert "85.00 ± 1.00 (3)" in row and "55.0 / 60.0 / 65.0 / 70.0" in row
    assert "56.0 / 62.0 / 68.0 / 74.0" in row and "-11.00" in row
    # A run still training joins the table only when asked, and the table says so.
    assert (
        ls.main(argv + ["--plot", str(plot), "--out-dir", str(tmp_path / "now"), "--include-unfinished"]) == 0
    )
    data = json.loads((tmp_path / "now" / "seg_long_schedule.json").read_text())
    fcn = next(m for m in data["models"] if m["label"] == "FCN (no context)")
    assert fcn["long4x_curves"] == {"0": [[100, 20.0]]}
    markdown = (tmp_path / "now" / "seg_long_schedule.md").read_text()
    assert "Runs still training are included" in markdown and "20.0 at 100 (unfinished)" not in markdown
    fcn_row = next(line for line in markdown.splitlines() if line.startswith("| FCN"))
    assert "(unfinished: 20.0 at 100)" in fcn_row


def test_long_schedule_names_a_missing_run_folder(tmp_path, capsys):
    with pytest.raises(SystemExit):
        ls.main(["--long-root", str(tmp_path / "nowhere"), "--long4x-root", str(tmp_path)])
    error = capsys.readouterr().err
    assert "--long-root" in error and "nowhere is not a folder of runs" in error
