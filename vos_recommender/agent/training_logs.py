"""The log files of a training run: per-episode CSV, SB3's progress CSV, and rewinding them on resume.

A resumed run continues from its last resume state, which can be older than the last log line (the
process was killed between two states). The steps after the state are then played again, so on resume the
logs are cut back to the restored step first; otherwise those episodes would be counted twice in the
learning curve.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from vos_recommender.utils.atomic import atomic_write_text

__all__ = [
    "EPISODES_FILE",
    "PROGRESS_FILE",
    "EpisodeLogCallback",
    "learning_curve_summary",
    "rewind_logs",
    "truncate_csv",
]

EPISODES_FILE = "episodes.csv"
PROGRESS_FILE = "progress.csv"
#: Column of SB3's progress CSV holding the agent step of a row.
PROGRESS_STEP = "time/total_timesteps"


class EpisodeLogCallback(BaseCallback):
    """Appends one line per finished training episode to a CSV file and logs ``rollout/auc_mean``,
    ``rollout/final_jf_mean`` (means over the last ``window`` episodes).

    Args:
        path: CSV file (appended to, so a resumed run continues it).
        window: Episodes in the running means.
    """

    FIELDS = ("timesteps", "episode_return", "episode_length", "final_jf", "auc", "video")

    def __init__(self, path: str | os.PathLike, window: int = 20) -> None:
        super().__init__()
        self.path = Path(path)
        self.window = int(window)
        self.recent: list[tuple[float, float]] = []

    def _on_training_start(self) -> None:
        if not self.path.exists():
            with self.path.open("w", newline="") as stream:
                csv.writer(stream).writerow(self.FIELDS)

    def _on_step(self) -> bool:
        rows = []
        for done, info in zip(self.locals["dones"], self.locals["infos"]):
            if not done or "episode" not in info:
                continue
            final_jf, auc = float(info.get("jf_mean", np.nan)), float(info.get("auc", np.nan))
            rows.append(
                [
                    self.num_timesteps,
                    info["episode"]["r"],
                    info["episode"]["l"],
                    final_jf,
                    auc,
                    info.get("video", ""),
                ]
            )
            self.recent = (self.recent + [(final_jf, auc)])[-self.window :]
        if rows:
            with self.path.open("a", newline="") as stream:
                csv.writer(stream).writerows(rows)
            self.logger.record("rollout/final_jf_mean", float(np.mean([r[0] for r in self.recent])))
            self.logger.record("rollout/auc_mean", float(np.mean([r[1] for r in self.recent])))
        return True


def learning_curve_summary(path: str | os.PathLike, parts: int = 4) -> list[dict[str, float]]:
    """Mean return / final J&F / AUC of the training episodes in ``parts`` consecutive chunks."""
    with Path(path).open() as stream:
        rows = list(csv.DictReader(stream))
    if not rows:
        return []
    chunks = np.array_split(np.arange(len(rows)), min(parts, len(rows)))
    summary = []
    for chunk in chunks:
        subset = [rows[i] for i in chunk]
        summary.append(
            {
                "until_step": int(subset[-1]["timesteps"]),
                "episodes": len(subset),
                "return": float(np.mean([float(r["episode_return"]) for r in subset])),
                "final_jf": float(np.mean([float(r["final_jf"]) for r in subset])),
                "auc": float(np.mean([float(r["auc"]) for r in subset])),
            }
        )
    return summary


def _step_of(row: dict[str, str | None], column: str) -> float | None:
    try:
        return float(row[column])  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError):
        return None


def truncate_csv(path: str | os.PathLike, column: str, step: int) -> int:
    """Drop the rows of a CSV file whose ``column`` is above ``step``, rewriting it atomically.

    Rows whose step cannot be read (a line cut short by a killed process) are dropped too.

    Args:
        path: CSV file with a header line (nothing happens if it does not exist).
        column: Header of the step column.
        step: Last step to keep.

    Returns:
        The number of rows kept.

    Raises:
        ValueError: If the file has no ``column`` header.
    """
    path = Path(path)
    if not path.is_file():
        return 0
    with path.open(newline="") as stream:
        reader = csv.DictReader(stream)
        fields = reader.fieldnames or []
        if column not in fields:
            raise ValueError(f"{path}: no {column!r} column (header: {', '.join(fields)})")
        rows = list(reader)
    kept = []
    for row in rows:
        value = _step_of(row, column)
        # A line cut short has missing fields (None values); one with extra fields has a None key.
        if value is not None and value <= step and None not in row and None not in row.values():
            kept.append(row)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=fields)
    writer.writeheader()
    writer.writerows(kept)
    atomic_write_text(path, text.getvalue())
    return len(kept)


def rewind_logs(run_dir: str | os.PathLike, step: int) -> None:
    """Cut a run's logs back to the restored ``step`` before a resumed run appends to them.

    ``episodes.csv`` and every earlier progress file (``progress.until_*.csv``) lose their rows after
    ``step``. SB3's CSV writer starts ``progress.csv`` afresh, so the part of it up to ``step`` is kept
    as ``progress.until_<last step>.csv`` (nothing is kept when no row is left).

    Args:
        run_dir: The run folder.
        step: The agent step of the restored resume state.
    """
    run_dir = Path(run_dir)
    truncate_csv(run_dir / EPISODES_FILE, "timesteps", step)
    for earlier in sorted(run_dir.glob("progress.until_*.csv")):
        truncate_csv(earlier, PROGRESS_STEP, step)
    current = run_dir / PROGRESS_FILE
    if not current.is_file():
        return
    if current.stat().st_size == 0 or truncate_csv(current, PROGRESS_STEP, step) == 0:
        current.unlink()
        return
    with current.open(newline="") as stream:
        last = int(float(list(csv.DictReader(stream))[-1][PROGRESS_STEP]))
    target = run_dir / f"progress.until_{last}.csv"
    suffix = 1
    while target.exists():
        target = run_dir / f"progress.until_{last}.{suffix}.csv"
        suffix += 1
    os.replace(current, target)
