"""Run logs: episode CSV, learning-curve summary, and cutting the logs back to a restored step."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from vos_recommender.agent.training_logs import (
    PROGRESS_STEP,
    learning_curve_summary,
    rewind_logs,
    truncate_csv,
)


def write_csv(path: Path, header: list[str], rows: list[list[object]], tail: str = "") -> None:
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
        stream.write(tail)


def read_column(path: Path, column: str) -> list[str]:
    with path.open(newline="") as stream:
        return [row[column] for row in csv.DictReader(stream)]


def test_truncate_csv_drops_rows_after_the_step_and_cut_lines(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    write_csv(path, ["timesteps", "value"], [[2, 0.1], [4, 0.2], [6, 0.3]], tail="8,")
    assert truncate_csv(path, "timesteps", 4) == 2
    assert read_column(path, "timesteps") == ["2", "4"]
    assert truncate_csv(tmp_path / "missing.csv", "timesteps", 4) == 0
    with pytest.raises(ValueError, match="log.csv.*'steps'"):
        truncate_csv(path, "steps", 4)


def test_rewind_logs_keeps_each_step_once(tmp_path: Path) -> None:
    header = ["timesteps", "episode_return", "episode_length", "final_jf", "auc", "video"]
    write_csv(
        tmp_path / "episodes.csv",
        header,
        [[2, 1.0, 2, 0.5, 0.4, "a"], [4, 2.0, 2, 0.6, 0.5, "b"], [6, 3.0, 2, 0.7, 0.6, "a"]],
    )
    write_csv(tmp_path / "progress.until_4.csv", [PROGRESS_STEP, "train/loss"], [[2, 0.5], [4, 0.4]])
    write_csv(tmp_path / "progress.csv", [PROGRESS_STEP, "train/loss"], [[6, 0.3], [8, 0.2], [10, 0.1]])
    rewind_logs(tmp_path, 8)
    assert read_column(tmp_path / "episodes.csv", "timesteps") == ["2", "4", "6"]
    assert not (tmp_path / "progress.csv").exists()
    assert read_column(tmp_path / "progress.until_8.csv", PROGRESS_STEP) == ["6", "8"]
    assert read_column(tmp_path / "progress.until_4.csv", PROGRESS_STEP) == ["2", "4"]
    assert [part["until_step"] for part in learning_curve_summary(tmp_path / "episodes.csv", parts=3)] == [
        2,
        4,
        6,
    ]
    # Back to step 4: later rows go everywhere, a progress file with nothing left is deleted.
    write_csv(tmp_path / "progress.csv", [PROGRESS_STEP, "train/loss"], [[10, 0.3]])
    rewind_logs(tmp_path, 4)
    assert read_column(tmp_path / "episodes.csv", "timesteps") == ["2", "4"]
    assert read_column(tmp_path / "progress.until_8.csv", PROGRESS_STEP) == []
    assert not (tmp_path / "progress.csv").exists()
