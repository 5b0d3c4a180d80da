"""Per-strategy summaries of evaluation sessions: round AUC, last-round J&F and the DAVIS time summaries."""

from __future__ import annotations

from typing import Any

import numpy as np

from vos_recommender.metrics.auc import davis_summary, per_sample_time_summary, round_auc

__all__ = ["spread", "summarise"]


def spread(values: np.ndarray) -> tuple[float, float, float]:
    """Mean, sample standard deviation and Student-t 95% half-width of the mean (NaN below two values)."""
    from scipy import stats

    mean = float(np.mean(values))
    if values.size < 2:
        return mean, float("nan"), float("nan")
    std = float(np.std(values, ddof=1))
    half = float(stats.t.ppf(0.975, values.size - 1) * std / np.sqrt(values.size))
    return mean, std, half


def summarise(
    sessions: list[dict[str, Any]], num_rounds: int, max_time: float, max_t: float | None = None
) -> dict[str, Any]:
    """Metrics of a list of sessions (J&F values x100).

    ``auc`` and ``jf_last`` are per-sample values: mean, std and 95% CI half-width over sessions.
    ``time_auc`` and ``jf_at_60s`` follow the DAVIS service (one averaged curve, J&F weighted by object
    count, its own budget, davisinteractive's time-out ``max_t`` when given), so they have no spread;
    ``time_auc_per_sample`` and ``jf_at_60s_per_sample`` are the per-sample form under ``max_time``.

    Args:
        sessions: Outputs of :func:`vos_recommender.evaluate.run_session` (``objects`` defaults to 1;
            a ``sequence`` or ``video`` name lets the time-out's budget average objects over sequences).
        num_rounds: Rounds R of the round AUC.
        max_time: Time budget of the per-sample time AUC.
        max_t: davisinteractive's time-out in seconds per object for ``time_auc`` / ``jf_at_60s``
            (see :func:`vos_recommender.metrics.davis_summary`); ``None``: none, davisinteractive's
            default.
    """
    jf = [s["jf"] for s in sessions]
    times = [s["times"] for s in sessions]
    objects = [int(s.get("objects", 1)) for s in sessions]
    per_sample_time = per_sample_time_summary(jf, times, max_time=max_time)
    per_sample = {
        "auc": np.array([round_auc(s["jf"], num_rounds) for s in sessions]) * 100,
        "jf_last": np.array([s["jf"][-1] for s in sessions]) * 100,
        "time_auc_per_sample": per_sample_time["auc"] * 100,
        "jf_at_60s_per_sample": per_sample_time["jf_at_t"] * 100,
    }
    result: dict[str, Any] = {"samples": len(sessions)}
    for key, values in per_sample.items():
        mean, std, half = spread(values)
        result[key] = {"mean": mean, "std": std, "ci95": half}
    names = [s.get("sequence", s.get("video")) for s in sessions]
    sequences = names if all(isinstance(name, str) for name in names) else None
    davis = davis_summary(jf, times, objects, t=60.0, max_t=max_t, sequences=sequences)
    result["time_auc"] = {"mean": davis["auc"] * 100, "std": float("nan"), "ci95": float("nan")}
    result["jf_at_60s"] = {"mean": davis["jf_at_t"] * 100, "std": float("nan"), "ci95": float("nan")}
    result["davis_max_time"] = davis["max_time"]
    result["davis_max_t"] = max_t
    result["mean_curve"] = (np.mean(jf, axis=0) * 100).tolist()
    return result
