"""Pieces of benchmarks/seg_experiments.py: schedule options, log parsing, skipping, tables; one slow run."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import seg_experiments as se
from benchmarks import seg_runs as sr
from benchmarks import seg_tables as st
from tests.tracked_outputs import committed_outputs_untouched

REPO = Path(__file__).resolve().parents[2]

# The lines mmengine's LocalVisBackend writes to vis_data/scalars.json (trimmed): train records every
# logger interval, then one validation record.
SCALARS = [
    {
        "lr": 0.0018,
        "data_time": 0.004,
        "loss": 0.60,
        "decode.loss_ce": 0.4,
        "time": 0.20,
        "iter": 50,
        "step": 50,
    },
    {
        "lr": 0.0010,
        "data_time": 0.004,
        "loss": 0.40,
        "decode.loss_ce": 0.3,
        "time": 0.30,
        "iter": 100,
        "step": 100,
    },
    {"aAcc": 89.34, "mIoU": 47.3, "mAcc": 61.42, "data_time": 0.003, "time": 0.026, "step": 100},
]


def _write_scalars(work_dir: Path, stamp: str, records) -> Path:
    path = work_dir / stamp / "vis_data" / "scalars.json"
    path.parent.mkdir(parents=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_parse_scalars_reads_val_miou_and_mean_train_iteration_time(tmp_path):
    _write_scalars(tmp_path, "20260101_000000", SCALARS[:1] + [dict(SCALARS[2], mIoU=10.0, step=50)])
    newest = _write_scalars(tmp_path, "20260102_000000", SCALARS)
    assert sr.latest_scalars(tmp_path) == newest
    parsed = sr.parse_scalars(newest)
    assert parsed["mIoU"] == pytest.approx(47.3)
    assert parsed["step"] == 100
    assert parsed["iter_time_s"] == pytest.approx(0.25)  # the val record's "time" is not a train iteration


def test_parse_scalars_without_validation_fails(tmp_path):
    path = _write_scalars(tmp_path, "20260101_000000", SCALARS[:2])
    with pytest.raises(ValueError, match="no mIoU"):
        sr.parse_scalars(path)
    assert sr.latest_scalars(tmp_path / "missing") is None


def test_logged_losses_reads_every_train_loss_and_later_runs_win(tmp_path):
    # A first run logged iterations 50 and 100; a resumed one logged 100 again with another loss.
    _write_scalars(tmp_path, "20260101_000000", SCALARS)
    _write_scalars(tmp_path, "20260102_000000", [dict(SCALARS[1], loss=0.35), SCALARS[2]])
    assert sr.logged_losses(tmp_path) == {50: pytest.approx(0.60), 100: pytest.approx(0.35)}
    assert sr.logged_losses(tmp_path / "missing") == {}


def test_schedule_options_and_train_command(tmp_path):
    schedule = sr.Schedule("t", iters=120, batch_size=4, warmup=10, seeds=(0,), cue_radii=(3,))
    options = schedule.cfg_options()
    for expected in (
        "train_dataloader.batch_size=4",
        "train_cfg.max_iters=120",
        "train_cfg.val_interval=120",
        "param_scheduler.0.end=10",
        "param_scheduler.1.begin=10",
        "param_scheduler.1.end=120",
        "default_hooks.checkpoint.interval=120",
    ):
        assert expected in options
    run = sr.Run("FCN", se.MAIN_MODELS[0][1], 5, 2, schedule, tmp_path / "w", tmp_path / "d")
    assert run.name == "fcn_r18-d8_1xb8-600_synthetic-128x128/cue5/seed2"
    command = run_command = sr.train_command(run)
    assert command[1].endswith("tools/train.py") and command[2].endswith(se.MAIN_MODELS[0][1])
    assert command[command.index("--work-dir") + 1] == str(tmp_path / "w" / "runs" / run.name)
    assert "randomness.seed=2" in run_command
    assert f"train_dataloader.dataset.data_root={(tmp_path / 'd' / 'cue5').resolve()}" in command
    assert f"val_dataloader.dataset.data_root={(tmp_path / 'd' / 'cue5').resolve()}" in command
    assert sr._env()["OMP_NUM_THREADS"] == "1"


def test_long_schedules_validate_every_100_iterations_and_record_the_curve(tmp_path, monkeypatch):
    assert "train_cfg.val_interval=100" in sr.LONG.cfg_options()
    four = sr.SCHEDULES["long4x"]
    assert (four.iters, four.batch_size, four.warmup, four.seeds, four.val_interval) == (
        2400,
        8,
        200,
        (0,),
        100,
    )
    assert {"train_cfg.max_iters=2400", "train_cfg.val_interval=100", "param_scheduler.1.end=2400"} <= set(
        four.cfg_options()
    )
    with pytest.raises(ValueError, match="'bad': val_interval must be in 1..iters \\(50\\), got 100"):
        sr.Schedule("bad", iters=50, batch_size=2, warmup=5, seeds=(0,), cue_radii=(3,), val_interval=100)
    # --iters shorter than the validation interval validates once, at the end.
    seen = []
    monkeypatch.setattr(
        se, "run_all", lambda runs, *a, **k: seen.extend(runs) or [_result(1.0, 0)] * len(runs)
    )
    argv = [
        "main",
        "--schedule",
        "long",
        "--iters",
        "60",
        "--seeds",
        "0",
        "--only",
        "fcn_r18-d8_1xb8-600_synthetic-128x128",
    ]
    assert se.main(argv + ["--no-write", "--data-dir", str(tmp_path)]) == 0
    assert {run.schedule.val_interval for run in seen} == {60}
    # Every validation of the log is one point of the curve; mIoU and step stay those of the last one.
    records = SCALARS + [dict(SCALARS[1], step=200, iter=200), dict(SCALARS[2], mIoU=55.5, step=200)]
    path = _write_scalars(tmp_path, "20260103_000000", records)
    parsed = sr.parse_scalars(path)
    assert parsed["curve"] == [[100, 47.3], [200, 55.5]]
    assert (parsed["mIoU"], parsed["step"]) == (55.5, 200)


def test_every_listed_config_exists():
    for _, config in se.MAIN_MODELS + se.ABLATIONS:
        assert (REPO / config).is_file(), config
    assert [label for label, _ in se.KNOB_MODELS] == ["FCN (no context)", "Non-local (NLHead)", "RANet paper"]


def test_existing_result_is_skipped_without_training(tmp_path, monkeypatch):
    run = sr.Run("FCN", se.MAIN_MODELS[0][1], 3, 0, sr.QUICK, tmp_path, tmp_path / "d")
    run.work_dir.mkdir(parents=True)
    run.result_path.write_text(json.dumps({"status": "ok", "mIoU": 61.5, "seed": 0, "wall_s": 80.0}))

    def no_training(*args, **kwargs):
        raise AssertionError("a run with a result file must not train")

    monkeypatch.setattr(sr.subprocess, "run", no_training)
    assert sr.execute(run)["mIoU"] == 61.5


def test_missing_result_trains_and_stores_parsed_result(tmp_path, monkeypatch):
    run = sr.Run("FCN", se.MAIN_MODELS[0][1], 3, 1, sr.QUICK, tmp_path, tmp_path / "d")
    (run.work_dir / "stale").mkdir(parents=True)  # an interrupted run's leftovers are cleared first
    calls = []

    def fake_training(command, **kwargs):
        calls.append(command)
        assert not (run.work_dir / "stale").exists()
        _write_scalars(run.work_dir, "20260101_000000", SCALARS)
        (run.work_dir / f"iter_{run.schedule.iters}.pth").write_bytes(b"x")
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(sr.subprocess, "run", fake_training)
    result = sr.execute(run)
    assert len(calls) == 1
    assert result["mIoU"] == pytest.approx(47.3) and result["seed"] == 1 and result["status"] == "ok"
    assert json.loads(run.result_path.read_text())["mIoU"] == pytest.approx(47.3)
    assert not list(run.work_dir.glob("*.pth"))  # checkpoints are removed unless asked to keep them
    assert sr.execute(run)["mIoU"] == pytest.approx(47.3) and len(calls) == 1  # second call skips


def test_failed_training_is_reported_not_stored(tmp_path, monkeypatch):
    run = sr.Run("FCN", se.MAIN_MODELS[0][1], 3, 0, sr.QUICK, tmp_path, tmp_path / "d")

    def failing(command, stdout=None, **kwargs):
        stdout.write("Traceback\nRuntimeError: boom\n")
        return subprocess.CompletedProcess(command, 1)

    monkeypatch.setattr(sr.subprocess, "run", failing)
    assert sr.execute(run)["status"] == "failed"
    assert not run.result_path.exists()


def _result(miou, seed, wall=100.0, regions=None):
    result = {"status": "ok", "mIoU": miou, "seed": seed, "wall_s": wall, "iter_time_s": 0.2}
    if regions is not None:
        result["regions"] = {"mean": regions}
    return result


def test_summary_and_tables_hold_mean_and_sample_std():
    summary = st.summarise(
        "RANet paper", [_result(80.0, 0, regions=256), _result(84.0, 1, regions=250), _result(82.0, 2)]
    )
    assert summary["mIoU_mean"] == pytest.approx(82.0)
    assert summary["mIoU_std"] == pytest.approx(2.0)  # sample standard deviation over the seeds
    assert summary["mIoU_cell"] == "82.00 ± 2.00"
    assert summary["regions_mean"] == pytest.approx(253.0)
    failed = st.summarise("FCN", [_result(60.0, 0), {"status": "failed", "wall_s": 3.0}])
    assert failed["ok"] == 1 and failed["runs"] == 2 and failed["mIoU_cell"] == "60.00"
    table = st.model_table([summary, failed], ["a.py", "b.py"], with_regions=True)
    lines = table.splitlines()
    assert lines[0].startswith("| model") and "regions / image" in lines[0]
    assert "| RANet paper" in lines[2] and "82.00 ± 2.00" in lines[2] and "| 3/3" in lines[2]
    assert "253.0" in lines[2] and "`a.py`" in lines[2]
    assert "| 1/2" in lines[3] and "| -" in lines[3]
    assert st.fmt_mean_std([]) == "-"
    # A head that cannot count its regions without the label (the ground-truth oracle) falls back on its
    # validation's region metric.
    oracle = dict(_result(75.0, 0), regions={"mean": math.nan, "error": "needs the label maps"})
    oracle["region_quality"] = {"regions_per_image": 5.0}
    assert st.summarise("oracle", [oracle, _result(74.0, 1, regions=7)])["regions_mean"] == pytest.approx(6.0)


def test_knob_table_and_plot(tmp_path):
    cells = {}
    for label, _ in se.KNOB_MODELS:
        for cue, base in [(2, 40.0), (8, 80.0)]:
            cells[(label, cue)] = st.summarise(label, [_result(base, 0), _result(base + 2, 1)])
    stats = [
        {"cue_radius": 2, "mean_cue_distance_px": 16.0, "mean_cue_distance_stride8": 2.0},
        {"cue_radius": 8, "mean_cue_distance_px": 15.5, "mean_cue_distance_stride8": 1.94},
    ]
    table = st.knob_table(se.KNOB_MODELS, [2, 8], stats, cells).splitlines()
    assert "Non-local (NLHead)" in table[0]
    assert table[2].startswith("| 2 ") and "16.0 / 2.00" in table[2] and table[2].count("41.00 ± 1.41") == 3
    out = tmp_path / "knob.png"
    st.plot_knob(se.KNOB_MODELS, [2, 8], cells, out, "test")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_quick_main_end_to_end(tmp_path):
    """Two real trainings of 2 iterations each through tools/train.py, then the skip on a second call."""
    command = [sys.executable, str(REPO / "benchmarks/seg_experiments.py"), "knob", "--quick", "--iters", "2"]
    command += ["--cue-radii", "3", "--work-dir", str(tmp_path / "w"), "--data-dir", str(tmp_path / "d")]
    command += ["--no-write"]
    with committed_outputs_untouched():
        first = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr[-2000:]
    results = sorted((tmp_path / "w" / "runs").glob("*/cue3/seed0/result.json"))
    assert len(results) == 3
    for path in results:
        result = json.loads(path.read_text())
        assert result["status"] == "ok" and 0.0 <= result["mIoU"] <= 100.0 and result["step"] == 2
    ranet = json.loads(
        (tmp_path / "w/runs/ranet_r18-d8_1xb8-600_synthetic-128x128/cue3/seed0/result.json").read_text()
    )
    assert 1 <= ranet["regions"]["mean"] <= ranet["regions"]["grid_pixels"] == 256
    assert (tmp_path / "w" / "ranet_difficulty_knob_quick2it.png").is_file()
    second = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0 and second.stdout.count("[skip]") == 3


def test_out_dir_receives_the_tables_and_the_knob_plot(tmp_path, monkeypatch):
    def fake_run_all(runs, jobs, force, keep_checkpoints, report_only=False):
        return [_result(40.0 + run.seed, run.seed, regions=2 if run.is_ranet else None) for run in runs]

    def fake_stats(data_dir, cue_radius):
        return {"cue_radius": cue_radius, "mean_cue_distance_px": 16.0, "mean_cue_distance_stride8": 2.0}

    monkeypatch.setattr(se, "run_all", fake_run_all)
    monkeypatch.setattr(se, "dataset_stats", fake_stats)
    out = tmp_path / "out"
    with committed_outputs_untouched():
        assert se.main(["all", "--quick", "--out-dir", str(out), "--work-dir", str(tmp_path / "w")]) == 0
    names = {"seg_main_quick", "seg_ablations_quick", "seg_knob_quick"}
    assert {p.name for p in out.iterdir()} == {f"{n}.{s}" for n in names for s in ("md", "json")} | {
        "ranet_difficulty_knob_quick.png"
    }
    assert json.loads((out / "seg_knob_quick.json").read_text())["plot"] == str(
        out / "ranet_difficulty_knob_quick.png"
    )
    assert "| FCN (no context)" in (out / "seg_main_quick.md").read_text()


def test_only_selects_configs_by_file_name_ending():
    args = type("Args", (), {"only": ["128x128", "frozen-decision"]})()
    labels = [label for label, _ in se._selected(se.ABLATIONS, args)]
    assert labels == [se.ABLATIONS[0][0], "frozen W^g (decision_conv lr 0)"]
    args.only = None
    assert se._selected(se.MAIN_MODELS, args) == se.MAIN_MODELS
    args.only = ["no-such-config"]
    with pytest.raises(SystemExit, match="matches no config of this experiment"):
        se._selected(se.ABLATIONS, args)


def test_objects_runs_train_on_the_objects_data_under_their_own_names(tmp_path):
    config = se.OBJECTS_MODELS[3][1]
    run = sr.Run("RANet paper", config, 3, 1, sr.DEFAULT, tmp_path / "w", tmp_path / "d", scene="objects")
    assert run.name == "ranet_r18-d8_1xb8-600_synthetic-objects-128x128/objects-cue3/seed1"
    command = sr.train_command(run)
    assert f"train_dataloader.dataset.data_root={(tmp_path / 'd' / 'objects_cue3').resolve()}" in command
    # A context config appended to the objects rows does not reuse the context run's result.
    context = sr.Run("RANet", se.RANET, 3, 1, sr.DEFAULT, tmp_path / "w", tmp_path / "d")
    appended = dataclasses.replace(context, scene="objects")
    assert appended.name != context.name and appended.work_dir != context.work_dir
    assert appended.data_root != context.data_root


def test_objects_models_mirror_the_main_table():
    mirrored = se.OBJECTS_MODELS[: len(se.OBJECTS_MODELS) - len(se.OBJECTS_ABLATIONS)]
    assert se.OBJECTS_MODELS[len(mirrored) :] == se.OBJECTS_ABLATIONS
    labels = [label for label, _ in mirrored]
    assert labels == [label for label, _ in se.MAIN_MODELS if label not in ("PSPNet", "CCNet (CCHead)")]
    for _label, config in se.OBJECTS_ABLATIONS:
        assert (REPO / config).is_file() and "/ablations/" in config, config
    main = dict(se.MAIN_MODELS)
    for label, config in mirrored:
        assert (REPO / config).is_file(), config
        if "object regions" in label:
            # The object-region rows reuse the context configs: train_command points them at the objects data.
            assert config == main[label]
        else:
            assert config == main[label].replace("synthetic-128x128", "synthetic-objects-128x128")


def test_region_quality_is_read_from_the_validation_record(tmp_path):
    scalars = tmp_path / "scalars.json"
    records = [
        {"loss": 1.0, "time": 0.5, "step": 10},
        {"mIoU": 50.0, "region/asa": 0.9, "region/regions_per_segment": 1.5, "step": 20},
    ]
    scalars.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    parsed = sr.parse_scalars(scalars)
    assert parsed["region_quality"] == {"asa": 0.9, "regions_per_segment": 1.5}
    summary = st.summarise("x", [dict(parsed, status="ok", seed=0, wall_s=1.0)])
    assert summary["region_quality"]["asa"] == (0.9, 0.0)
    table = st.model_table([summary], ["c.py"], with_regions=True)
    assert "ASA" in table.splitlines()[0] and "0.90 ± 0.00" in table


def test_ensure_dataset_asks_for_the_scene(tmp_path, monkeypatch):
    calls = []

    def fake_generate(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(sr.subprocess, "run", fake_generate)
    assert sr.ensure_dataset(tmp_path, 3) == tmp_path / "cue3"
    assert sr.ensure_dataset(tmp_path, 2, "objects") == tmp_path / "objects_cue2"
    assert calls[0][-4:] == ["--out", str(tmp_path / "cue3"), "--cue-radius", "3"]  # unchanged for context
    assert calls[1][-6:] == [
        "--out",
        str(tmp_path / "objects_cue2"),
        "--cue-radius",
        "2",
        "--scene",
        "objects",
    ]


def test_long_schedule_and_the_objects_experiment(tmp_path, monkeypatch, capsys):
    assert (sr.LONG.iters, sr.LONG.batch_size, sr.LONG.warmup) == (600, 8, 50)
    assert "train_dataloader.batch_size=8" in sr.LONG.cfg_options()
    seen = []

    def fake_run_all(runs, jobs, force, keep_checkpoints, report_only=False):
        seen.extend(runs)
        return [
            _result(50.0 + i, run.seed, regions=30 if run.is_ranet else None) for i, run in enumerate(runs)
        ]

    monkeypatch.setattr(se, "run_all", fake_run_all)
    argv = ["objects", "--schedule", "long", "--seeds", "0", "--no-write", "--data-dir", str(tmp_path / "d")]
    assert se.main(argv) == 0
    assert {run.schedule.name for run in seen} == {"long"} and {run.scene for run in seen} == {"objects"}
    assert [run.config for run in seen] == [config for _, config in se.OBJECTS_MODELS]
    assert seen[0].work_root.name == "seg_experiments_long"
    out = capsys.readouterr().out
    assert "| RANet official" in out and "`--scene objects`" in out and "600 iterations of batch 8" in out
    with pytest.raises(SystemExit, match="contradict"):
        se.main(["objects", "--quick", "--schedule", "long"])


@pytest.mark.slow
def test_objects_experiment_end_to_end(tmp_path):
    """One real FCN training of 2 iterations on generated objects data, then the skip on a second call."""
    command = [
        sys.executable,
        str(REPO / "benchmarks/seg_experiments.py"),
        "objects",
        "--quick",
        "--iters",
        "2",
    ]
    command += ["--only", "fcn_r18-d8_1xb8-600_synthetic-objects-128x128", "--no-write"]
    command += ["--work-dir", str(tmp_path / "w"), "--data-dir", str(tmp_path / "d")]
    with committed_outputs_untouched():
        first = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr[-2000:]
    assert json.loads((tmp_path / "d/objects_cue3/meta.json").read_text())["config"]["scene"] == "objects"
    run = tmp_path / "w/runs/fcn_r18-d8_1xb8-600_synthetic-objects-128x128/objects-cue3/seed0"
    result = json.loads((run / "result.json").read_text())
    assert result["status"] == "ok" and 0.0 <= result["mIoU"] <= 100.0 and result["step"] == 2
    second = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0 and second.stdout.count("[skip]") == 1


def test_report_only_trains_nothing_and_marks_missing_runs(tmp_path, monkeypatch):
    stored = sr.Run("FCN", se.MAIN_MODELS[0][1], 3, 0, sr.QUICK, tmp_path, tmp_path / "d")
    missing = dataclasses.replace(stored, seed=1)
    stored.work_dir.mkdir(parents=True)
    stored.result_path.write_text(json.dumps({"status": "ok", "mIoU": 40.0, "seed": 0, "wall_s": 1.0}))

    def refuse(*args, **kwargs):
        raise AssertionError("report-only must not generate data or train")

    monkeypatch.setattr(sr, "ensure_dataset", refuse)
    monkeypatch.setattr(sr.subprocess, "run", refuse)
    results = sr.run_all([stored, missing], jobs=1, force=False, keep_checkpoints=False, report_only=True)
    assert results[0]["mIoU"] == 40.0 and results[1] == {"status": "missing"}
    summary = st.summarise("FCN", results)
    assert (summary["ok"], summary["runs"]) == (1, 2)
