"""The goal-reward baseline: J&F per round under random frame recommendation, cached on disk."""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vos_recommender.utils.atomic import atomic_write_json

if TYPE_CHECKING:
    from vos_recommender.session import InteractionSession

__all__ = ["GoalStatistics", "goal_reward", "video_fingerprint"]


def video_fingerprint(video: Any) -> str:
    """Content hash of a video (frames, masks, scribbles): statistics never mix same-named videos."""
    digest = hashlib.sha1()
    digest.update(np.ascontiguousarray(video.frames).tobytes())
    digest.update(np.ascontiguousarray(video.masks).tobytes())
    digest.update(json.dumps(video.scribbles, sort_keys=True, default=str).encode())
    return digest.hexdigest()


class GoalStatistics:
    """Mean and standard deviation of J&F under random recommendation, per round, cached on disk.

    For a (video, first scribble) pair, ``num_runs`` episodes choose every later frame uniformly at
    random (repeats allowed); after each round the mean per-frame J&F is recorded. The statistics of
    round ``r`` are ``mean`` and ``std(ddof=1)`` over the runs. They cost ``num_runs`` full episodes
    per video, so they are stored as JSON under ``cache_dir`` (written atomically) and keyed by
    everything they depend on.

    Args:
        cache_dir: Folder of the JSON files (None keeps them in memory only).
        num_runs: Random episodes per (video, first scribble) (paper: 30).
        seed: Seed of the random frame choices.
    """

    def __init__(self, cache_dir: str | os.PathLike | None, num_runs: int = 30, seed: int = 0) -> None:
        if num_runs < 2:
            raise ValueError(f"num_runs must be >= 2 for a standard deviation, got {num_runs}")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.num_runs = int(num_runs)
        self.seed = int(seed)
        self._memory: dict[str, dict] = {}
        self._fingerprints: dict[str, tuple[Any, str]] = {}

    def key(self, namespace: str, video: str, scribble_index: int, num_rounds: int) -> str:
        """Key of one statistics record."""
        payload = json.dumps([namespace, video, scribble_index, num_rounds, self.num_runs, self.seed])
        return hashlib.sha1(payload.encode()).hexdigest()

    def video_key(self, namespace: str, video: Any, scribble_index: int, num_rounds: int) -> str:
        """Key of the record of ``video`` (by name and content) under ``namespace`` (backend, user)."""
        known = self._fingerprints.get(video.name)
        if known is None or known[0] is not video:
            known = self._fingerprints[video.name] = (video, video_fingerprint(video))
        return self.key(namespace, f"{video.name}:{known[1]}", scribble_index, num_rounds)

    def get(self, key: str) -> dict | None:
        """A stored record, or None (also for a damaged file, which is then recomputed)."""
        if key in self._memory:
            return self._memory[key]
        if self.cache_dir is not None:
            path = self.cache_dir / f"{key}.json"
            if path.is_file():
                try:
                    record = json.loads(path.read_text())
                except (json.JSONDecodeError, OSError):
                    return None
                self._memory[key] = record
                return record
        return None

    def put(self, key: str, record: dict) -> None:
        """Store a record (atomically when on disk)."""
        self._memory[key] = record
        if self.cache_dir is None:
            return
        atomic_write_json(self.cache_dir / f"{key}.json", record)

    def record(
        self, session: InteractionSession, namespace: str, video: Any, scribble_index: int, num_rounds: int
    ) -> dict:
        """The stored record of ``video``, or :meth:`compute` it through ``session`` and store it."""
        key = self.video_key(namespace, video, scribble_index, num_rounds)
        record = self.get(key)
        if record is None:
            record = self.compute(session, video, scribble_index, num_rounds)
            self.put(key, record)
        return record

    def compute(self, session: InteractionSession, video: Any, scribble_index: int, num_rounds: int) -> dict:
        """Play ``num_runs`` random-recommendation episodes through ``session`` and summarise them.

        The runs drive the same interaction session as the environment's episodes (same backend,
        simulated user and cache), so a random run and an agent's episode that pick the same frames
        replay each other's rounds. The session's current episode is replaced.

        Args:
            session: The interaction session.
            video: The video (a ``VideoSample``).
            scribble_index: Index of its first scribble.
            num_rounds: Rounds per episode.

        Returns:
            ``{"mean": [...], "std": [...], "runs": [[P per round] per run]}``, lists indexed by round - 1.
        """
        rng = np.random.default_rng([self.seed, zlib.crc32(video.name.encode()), scribble_index])
        runs = []
        for _ in range(self.num_runs):
            outcome = session.start(video, scribble_index, with_quality=False)
            curve = [float(outcome.jf.mean())]
            for _ in range(num_rounds - 1):
                outcome = session.correct(int(rng.integers(video.num_frames)), with_quality=False)
                curve.append(float(outcome.jf.mean()))
            runs.append(curve)
        values = np.asarray(runs)
        return {
            "mean": values.mean(axis=0).tolist(),
            "std": values.std(axis=0, ddof=1).tolist(),
            "runs": runs,
        }


def goal_reward(
    record: dict, performance: float, round_number: int, baseline: str, min_sigma: float
) -> float:
    """``r_goal``: how far a mean J&F after round ``round_number`` (1-based) lies above random recommendation.

    Args:
        record: Statistics record (``mean`` and ``std`` per round).
        performance: Mean per-frame J&F after the round.
        round_number: The round, 1-based.
        baseline: ``"mean"``: ``(P - mu) / sigma``; ``"mean_plus_std"``: ``(P - (mu + sigma)) / sigma``.
        min_sigma: Floor of ``sigma``.
    """
    mu = float(record["mean"][round_number - 1])
    sigma = max(float(record["std"][round_number - 1]), min_sigma)
    reference = mu + sigma if baseline == "mean_plus_std" else mu
    return float((performance - reference) / sigma)
