"""The cache backend's statistics in a training run's log (SB3's logger: ``cache/hits``, ``cache/hit_rate``, ...)."""

from __future__ import annotations

from typing import Any

from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv

__all__ = ["CacheStatsCallback", "vec_cache_stats"]

#: Counts that add up over environments sharing one cache folder.
_SUMMED = ("hits", "misses", "evictions", "bytes_written", "repairs", "probs_recomputed")


def vec_cache_stats(env: VecEnv) -> dict[str, float] | None:
    """The cache statistics of a vectorised frame-recommendation environment (None without a cache).

    Counts are summed over the sub-environments; ``bytes`` (the folder's estimated size) and
    ``max_bytes`` are the largest any of them reports, since they share the folder.
    """
    reports = [timing.get("cache") for timing in env.get_attr("timing")]
    reports = [r for r in reports if r]
    if not reports:
        return None
    stats: dict[str, Any] = {k: sum(r.get(k, 0) for r in reports) for k in _SUMMED}
    stats["bytes"] = max(r.get("bytes", 0) for r in reports)
    stats["max_bytes"] = max(r.get("max_bytes", 0) for r in reports)
    rounds = stats["hits"] + stats["misses"]
    stats["hit_rate"] = stats["hits"] / rounds if rounds else 0.0
    return stats


class CacheStatsCallback(BaseCallback):
    """Records the cache's hits, misses, hit rate, evictions and bytes under ``cache/`` in the logger.

    Args:
        every: Agent steps (calls) between two reads of the environments' statistics (with
            ``SubprocVecEnv`` each read is a round trip to every worker).
        verbose: 1 prints the totals when training ends.

    Attributes:
        last: The statistics read last (None before the first read or without a cache).
    """

    def __init__(self, every: int = 100, verbose: int = 0) -> None:
        super().__init__(verbose)
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.every = int(every)
        self.last: dict[str, float] | None = None

    def _record(self) -> None:
        self.last = vec_cache_stats(self.training_env)
        if self.last is None:
            return
        for key, value in self.last.items():
            self.logger.record(f"cache/{key}", value)

    def _on_step(self) -> bool:
        if self.n_calls % self.every == 0:
            self._record()
        return True

    def _on_training_end(self) -> None:
        self._record()
        if self.verbose and self.last is not None:
            s = self.last
            print(
                f"Cache: {s['hits']} hits, {s['misses']} misses (hit rate {s['hit_rate']:.2f}), "
                f"{s['evictions']} evictions, {s['bytes_written'] / 1e6:.1f} MB written, folder "
                f"{s['bytes'] / 1e6:.1f} MB"
                + (f" of {s['max_bytes'] / 1e6:.0f} MB" if s["max_bytes"] else ""),
                flush=True,
            )
