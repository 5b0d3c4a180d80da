"""Summaries of J&F over interaction rounds.

Two conventions exist and both are offered, each under its own name:

* :func:`round_auc` — the frame-recommendation paper (Yin et al., CVPR 2021): the area under the
  curve ``[0, m_1, ..., m_R]`` over the round index with unit spacing, divided by ``R`` (R = 8).
  With the trapezoid rule this is ``(m_1 + ... + m_{R-1} + m_R / 2) / R``.
* :func:`time_auc` and :func:`jf_at_time` — the DAVIS interactive challenge (davis-interactive's
  ``summarize_report``): the curve starts at ``(0 s, 0)``, has one point per round at the cumulative
  time when that round finished, and ends with a flat segment to the time budget. The AUC is the
  trapezoid area normalised by that budget; J&F@60s is the curve *linearly interpolated* at 60 s
  (``np.interp``), not the value of the last round finished by then.

For a data set, the DAVIS service summarises one averaged curve: J&F averaged over all (sample,
object) rows, so a sequence with more objects weighs more; time averaged over samples; the budget the
number of rounds times the longest single round of any sample, or with a time-out ``max_t`` (seconds
per object) the mean object count of the sequences times ``max_t``, and a sample's rounds that end
after ``max_t`` times its object count are not evaluated (they keep the last evaluated J&F, at no
time). :func:`average_curves`, :func:`davis_time_budget` and :func:`davis_summary` follow those
definitions, and :func:`time_auc` / :func:`jf_at_time` given every sample's rounds (``S x R``) do too. The project's earlier form,
one time AUC per sample under a shared budget and then the mean over samples (each sample weighing the
same), stays available as :func:`per_sample_time_summary`; on the same data the two differ (see
``docs/recommender.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "apply_time_out",
    "average_curves",
    "average_curves_per_sample",
    "davis_summary",
    "davis_time_budget",
    "jf_at_time",
    "per_sample_time_summary",
    "remaining_round_weight",
    "round_auc",
    "round_weights",
    "time_auc",
    "time_curve",
]


def _as_rounds(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise ValueError(f"{name} must hold at least one round")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr}")
    return arr


def round_auc(jf_per_round: Sequence[float] | np.ndarray, num_rounds: int = 8) -> float:
    """Area under the J&F-versus-round curve, as the frame-recommendation paper reports it.

    The curve is ``[0, m_1, ..., m_R]`` at round indices ``0..R`` (unit spacing), integrated with the
    trapezoid rule and divided by ``R``. A run that stopped early (fewer than ``num_rounds`` values)
    keeps its last J&F for the missing rounds, the rule davis-interactive applies to samples that hit
    the time-out.

    Args:
        jf_per_round: J&F after each round, ``m_1..m_k`` with ``k <= num_rounds``.
        num_rounds: Number of rounds R (8 in the paper).

    Returns:
        ``(m_1 + ... + m_{R-1} + m_R / 2) / R``.

    Raises:
        ValueError: If more than ``num_rounds`` values or none are given.
    """
    values = _as_rounds(jf_per_round, "jf_per_round")
    if num_rounds < 1:
        raise ValueError(f"num_rounds must be >= 1, got {num_rounds}")
    if values.size > num_rounds:
        raise ValueError(f"got {values.size} rounds of J&F but num_rounds={num_rounds}")
    if values.size < num_rounds:
        values = np.concatenate([values, np.full(num_rounds - values.size, values[-1])])
    curve = np.concatenate([[0.0], values])
    return float(np.trapezoid(curve, dx=1.0) / num_rounds)


def round_weights(num_rounds: int = 8) -> np.ndarray:
    """The weight of each round's J&F in :func:`round_auc`: ``AUC = sum_t w_t m_t`` with ``w_t = 1 / R``
    for ``t < R`` and ``1 / (2R)`` for the last round.

    Returns:
        ``num_rounds`` float64 weights, for rounds ``1..R``.
    """
    if num_rounds < 1:
        raise ValueError(f"num_rounds must be >= 1, got {num_rounds}")
    weights = np.full(num_rounds, 1.0 / num_rounds)
    weights[-1] /= 2.0
    return weights


def remaining_round_weight(round_number: int, num_rounds: int = 8) -> float:
    """``sum_{t >= s} w_t`` of :func:`round_weights` from round ``s = round_number`` (1-based) on.

    Since ``m_t = m_1 + sum_{2 <= s <= t} g_s`` with ``g_s = m_s - m_{s-1}`` the gain of round ``s``,
    ``round_auc = m_1 * remaining_round_weight(1) + sum_s g_s * remaining_round_weight(s)``: a reward of
    ``g_s * remaining_round_weight(s)`` per round sums, undiscounted, to the AUC minus a constant of the
    first round. That is ``(R - s + 1/2) / R``.

    Raises:
        ValueError: If ``round_number`` is not in ``1..num_rounds``.
    """
    if not 1 <= round_number <= num_rounds:
        raise ValueError(f"round_number must be in 1..{num_rounds}, got {round_number}")
    return float(round_weights(num_rounds)[round_number - 1 :].sum())


def time_curve(
    jf_per_round: Sequence[float] | np.ndarray,
    times: Sequence[float] | np.ndarray,
    max_time: float | None = None,
    cumulative: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """The DAVIS challenge curve of J&F against accumulated time.

    Args:
        jf_per_round: J&F after each round.
        times: Seconds each round took (``cumulative=False``, what davis-interactive records per
            interaction) or the cumulative time at the end of each round (``cumulative=True``).
        max_time: Time budget that closes the curve. ``None`` uses davis-interactive's rule without an
            explicit time-out: number of rounds x the longest round.
        cumulative: Whether ``times`` are already cumulative.

    Returns:
        ``(time, jf)`` arrays: ``[0, c_1, ..., c_k, max_time]`` and ``[0, m_1, ..., m_k, m_k]``.

    Raises:
        ValueError: On length mismatch, negative or decreasing times, or a budget shorter than the run.
    """
    values = _as_rounds(jf_per_round, "jf_per_round")
    t = _as_rounds(times, "times")
    if t.size != values.size:
        raise ValueError(f"{values.size} J&F values but {t.size} times")
    if np.any(t < 0):
        raise ValueError("times must be non-negative")
    if cumulative:
        if np.any(np.diff(t) < 0):
            raise ValueError("cumulative times must not decrease")
        durations = np.diff(np.concatenate([[0.0], t]))
        cum = t
    else:
        durations = t
        cum = np.cumsum(t)
    if max_time is None:
        max_time = float(values.size * durations.max())
    if max_time < cum[-1] - 1e-9:
        raise ValueError(f"max_time={max_time} is shorter than the run's total time {cum[-1]}")
    time = np.concatenate([[0.0], cum, [max_time]])
    jf = np.concatenate([[0.0], values, values[-1:]])
    return time, jf


def time_auc(
    jf_per_round: Sequence[float] | np.ndarray,
    times: Sequence[float] | np.ndarray,
    max_time: float | None = None,
    cumulative: bool = False,
    objects: Sequence[int] | np.ndarray | None = None,
    max_t: float | None = None,
    sequences: Sequence[str] | None = None,
) -> float:
    """DAVIS challenge AUC: area under J&F versus accumulated time, divided by the time budget.

    Given one run (1-D ``jf_per_round`` and ``times``) this is that run's curve. Given every sample of
    a data set (``S x R`` arrays of per-round seconds) it is the DAVIS service's AUC: the curve
    averaged as :func:`average_curves` does and closed at davisinteractive's default budget (rounds x
    the longest single round of any sample, or the time-out's budget with ``max_t``), as
    :func:`davis_summary`. An already averaged curve has lost the longest single round, so its default
    budget (rounds x its longest averaged round) is shorter than davisinteractive's: pass the samples.

    Args:
        jf_per_round: J&F after each round (``R``), or of every sample (``S x R``).
        times: Per-round seconds (same shape), or cumulative seconds with ``cumulative=True`` (one run).
        max_time: Time budget; ``None`` for davisinteractive's default (see :func:`time_curve`).
        cumulative: Whether ``times`` are already cumulative (one run only).
        objects: Objects per sample (``S x R`` input; see :func:`average_curves`).
        max_t: davisinteractive's time-out in seconds per object (see :func:`davis_summary`).
        sequences: Sequence name of every sample, for the time-out's budget (see :func:`davis_summary`).

    Returns:
        The normalised area in ``[0, 1]``; ``0`` when the budget is zero.
    """
    if _is_samples(jf_per_round) or max_t is not None:
        if cumulative:
            raise ValueError("cumulative=True takes the times of one run; give per-round seconds for samples")
        jf, tm = _as_samples(jf_per_round, times)
        return davis_summary(jf, tm, objects, max_t=max_t, sequences=sequences, max_time=max_time)["auc"]
    time, jf = time_curve(jf_per_round, times, max_time, cumulative)
    if time.max() == 0:
        return 0.0
    return float(np.trapezoid(jf, x=time) / time.max())


def _is_samples(values: object) -> bool:
    return np.asarray(values, dtype=np.float64).ndim == 2


def _as_samples(jf_per_round: object, times: object) -> tuple[np.ndarray, np.ndarray]:
    """``S x R`` arrays; one run's 1-D rounds become one sample."""
    jf = np.asarray(jf_per_round, dtype=np.float64)
    tm = np.asarray(times, dtype=np.float64)
    return (jf[None], tm[None]) if jf.ndim == 1 else (jf, tm)


def jf_at_time(
    jf_per_round: Sequence[float] | np.ndarray,
    times: Sequence[float] | np.ndarray,
    t: float = 60.0,
    max_time: float | None = None,
    cumulative: bool = False,
    objects: Sequence[int] | np.ndarray | None = None,
    max_t: float | None = None,
    sequences: Sequence[str] | None = None,
) -> float:
    """J&F at a given accumulated time (J&F@60s), by linear interpolation of the DAVIS curve.

    davis-interactive evaluates ``np.interp(60, time, jf)`` on the curve of :func:`time_curve`, so a
    time between two rounds gives a value between their J&F, and before the first round finishes the
    value rises linearly from 0. Past the budget the last J&F holds. ``S x R`` samples give the DAVIS
    service's averaged curve, as in :func:`time_auc`.

    Args:
        jf_per_round: J&F after each round (``R``), or of every sample (``S x R``).
        times: Per-round seconds, or cumulative seconds with ``cumulative=True`` (one run).
        t: Time in seconds at which to read the curve.
        max_time: Time budget; see :func:`time_curve`.
        cumulative: Whether ``times`` are already cumulative.
        objects: Objects per sample (``S x R`` input).
        max_t: davisinteractive's time-out in seconds per object (see :func:`davis_summary`).
        sequences: Sequence name of every sample (see :func:`davis_summary`).

    Returns:
        The interpolated J&F.
    """
    if _is_samples(jf_per_round) or max_t is not None:
        if cumulative:
            raise ValueError("cumulative=True takes the times of one run; give per-round seconds for samples")
        jf, tm = _as_samples(jf_per_round, times)
        summary = davis_summary(jf, tm, objects, t=t, max_t=max_t, sequences=sequences, max_time=max_time)
        return summary["jf_at_t"]
    time, jf = time_curve(jf_per_round, times, max_time, cumulative)
    return float(np.interp(t, time, jf))


def _sample_matrices(jf_per_round: object, times: object) -> tuple[np.ndarray, np.ndarray]:
    jf = np.asarray(jf_per_round, dtype=np.float64)
    tm = np.asarray(times, dtype=np.float64)
    if jf.ndim != 2 or jf.shape != tm.shape or jf.size == 0:
        raise ValueError(f"expected two non-empty S x R arrays of equal shape, got {jf.shape} and {tm.shape}")
    if not (np.all(np.isfinite(jf)) and np.all(np.isfinite(tm))):
        raise ValueError("J&F values and times must be finite")
    if np.any(tm < 0):
        raise ValueError("times must be non-negative")
    return jf, tm


def average_curves(
    jf_per_round: Sequence[Sequence[float]] | np.ndarray,
    times: Sequence[Sequence[float]] | np.ndarray,
    objects: Sequence[int] | np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The DAVIS service's averaged curve: J&F over (sample, object) rows, time over samples.

    A sample's J&F per round is the mean over its objects (and frames), so averaging over (sample,
    object) rows weights each sample by its object count.

    Args:
        jf_per_round: ``S x R`` J&F of S samples (sequence and starting scribble) over R rounds.
        times: ``S x R`` per-round seconds.
        objects: Objects per sample (default: one each, which is :func:`average_curves_per_sample`).

    Returns:
        ``(mean_jf, mean_times)`` of length R, ready for :func:`time_auc` / :func:`jf_at_time`.

    Raises:
        ValueError: If the shapes differ, a value is not finite, or an object count is not positive.
    """
    jf, tm = _sample_matrices(jf_per_round, times)
    if objects is None:
        weights = np.ones(jf.shape[0])
    else:
        weights = np.asarray(objects, dtype=np.float64).reshape(-1)
        if weights.shape != (jf.shape[0],) or np.any(weights < 1):
            raise ValueError(f"objects must hold one count >= 1 per sample ({jf.shape[0]}), got {objects!r}")
    return (weights[:, None] * jf).sum(axis=0) / weights.sum(), tm.mean(axis=0)


def average_curves_per_sample(
    jf_per_round: Sequence[Sequence[float]] | np.ndarray, times: Sequence[Sequence[float]] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """J&F and time per round averaged over samples, every sample weighing the same (not the DAVIS weighting).

    Args:
        jf_per_round: ``S x R`` J&F.
        times: ``S x R`` per-round seconds.

    Returns:
        ``(mean_jf, mean_times)`` of length R.
    """
    return average_curves(jf_per_round, times, objects=None)


def davis_time_budget(times: Sequence[Sequence[float]] | np.ndarray) -> float:
    """The DAVIS service's default budget: number of rounds x the longest single round of any sample.

    Args:
        times: ``S x R`` per-round seconds.

    Returns:
        ``R * max(times)`` in seconds.
    """
    tm = np.asarray(times, dtype=np.float64)
    if tm.ndim != 2 or tm.size == 0:
        raise ValueError(f"expected a non-empty S x R array of times, got shape {tm.shape}")
    return float(tm.shape[1] * tm.max())


def apply_time_out(
    jf_per_round: Sequence[Sequence[float]] | np.ndarray,
    times: Sequence[Sequence[float]] | np.ndarray,
    max_t: float,
    objects: Sequence[int] | np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """davisinteractive's time-out: rounds that end after ``max_t`` x objects seconds are not evaluated.

    ``DavisInteractiveSession.submit_masks`` refuses a submission made more than ``max_t`` seconds per
    object after its sample started, and the service's summary fills every missing round with the
    last evaluated round's J&F (0 before any) at a cost of 0 seconds.

    Args:
        jf_per_round: ``S x R`` J&F.
        times: ``S x R`` per-round seconds.
        max_t: Seconds per object (davisinteractive's ``max_time`` / ``max_t``).
        objects: Objects per sample (default one each).

    Returns:
        ``(jf, times)`` with the timed-out rounds replaced.

    Raises:
        ValueError: If ``max_t`` is not a positive finite number, or on bad shapes.
    """
    jf, tm = _sample_matrices(jf_per_round, times)
    if isinstance(max_t, bool) or not isinstance(max_t, (int, float)) or not np.isfinite(max_t) or max_t <= 0:
        raise ValueError(f"max_t must be a positive number of seconds per object, got {max_t!r}")
    counts = _object_counts(objects, jf.shape[0])
    evaluated = np.cumsum(tm, axis=1) <= max_t * counts[:, None]
    # Rounds after the first refused one are refused too (the session moves on to the next sample).
    evaluated = np.cumprod(evaluated, axis=1).astype(bool)
    out_jf, out_tm = jf.copy(), np.where(evaluated, tm, 0.0)
    for row in range(jf.shape[0]):
        last = 0.0
        for col in range(jf.shape[1]):
            if evaluated[row, col]:
                last = jf[row, col]
            else:
                out_jf[row, col] = last
    return out_jf, out_tm


def _object_counts(objects: Sequence[int] | np.ndarray | None, samples: int) -> np.ndarray:
    if objects is None:
        return np.ones(samples)
    counts = np.asarray(objects, dtype=np.float64).reshape(-1)
    if counts.shape != (samples,) or np.any(counts < 1):
        raise ValueError(f"objects must hold one count >= 1 per sample ({samples}), got {objects!r}")
    return counts


def davis_summary(
    jf_per_round: Sequence[Sequence[float]] | np.ndarray,
    times: Sequence[Sequence[float]] | np.ndarray,
    objects: Sequence[int] | np.ndarray | None = None,
    t: float = 60.0,
    max_t: float | None = None,
    sequences: Sequence[str] | None = None,
    max_time: float | None = None,
) -> dict[str, Any]:
    """Time AUC and J&F@t of a data set as the DAVIS service computes them: from one averaged curve.

    Without ``max_t`` the budget is :func:`davis_time_budget`. With ``max_t`` (davisinteractive's
    time-out, seconds per object) the rounds past each sample's time-out are dropped as
    :func:`apply_time_out` does and the budget is ``max_t`` times the mean object count of the
    sequences (``EvaluationService.summarize_report``: ``avg_nb_objects * max_t``).

    Args:
        jf_per_round: ``S x R`` J&F of every sample.
        times: ``S x R`` per-round seconds.
        objects: Objects per sample (see :func:`average_curves`).
        t: Time of the J&F read-out (60 s in the challenge).
        max_t: Time-out in seconds per object; ``None``: none (davisinteractive's default).
        sequences: Sequence name of every sample. With ``max_t``, the mean object count is taken over
            distinct sequences as davisinteractive does (over samples when not given; the two agree
            when every sequence has as many samples).
        max_time: An explicit budget instead of davisinteractive's.

    Returns:
        ``{"auc", "jf_at_t", "max_time", "time", "jf"}``: the area of the averaged curve divided by
        the budget, the curve interpolated at ``t``, the budget, and the curve itself.

    Raises:
        ValueError: On bad shapes or values, or ``sequences`` that do not match the samples.
    """
    jf, tm = _sample_matrices(jf_per_round, times)
    counts = _object_counts(objects, jf.shape[0])
    if max_t is None:
        budget = davis_time_budget(tm)
    else:
        jf, tm = apply_time_out(jf, tm, max_t, counts)
        budget = float(max_t) * _mean_objects_per_sequence(counts, sequences)
    if max_time is not None:
        budget = float(max_time)
    mean_jf, mean_tm = average_curves(jf, tm, counts)
    # Each averaged round is at most the longest single round, so the averaged run fits the budget.
    curve_time, curve_jf = time_curve(mean_jf, mean_tm, max_time=budget)
    area = 0.0 if curve_time.max() == 0 else float(np.trapezoid(curve_jf, x=curve_time) / curve_time.max())
    return {
        "auc": area,
        "jf_at_t": float(np.interp(t, curve_time, curve_jf)),
        "max_time": budget,
        "time": curve_time.tolist(),
        "jf": curve_jf.tolist(),
    }


def _mean_objects_per_sequence(counts: np.ndarray, sequences: Sequence[str] | None) -> float:
    if sequences is None:
        return float(counts.mean())
    names = list(sequences)
    if len(names) != len(counts):
        raise ValueError(f"sequences must name every sample ({len(counts)}), got {len(names)} names")
    per_sequence: dict[str, float] = {}
    for name, count in zip(names, counts):
        if per_sequence.setdefault(name, float(count)) != float(count):
            raise ValueError(f"sequence {name!r} has samples with different object counts")
    return float(np.mean(list(per_sequence.values())))


def per_sample_time_summary(
    jf_per_round: Sequence[Sequence[float]] | np.ndarray,
    times: Sequence[Sequence[float]] | np.ndarray,
    max_time: float,
    t: float = 60.0,
) -> dict[str, np.ndarray]:
    """One time AUC and J&F@t per sample under a shared budget (the project's earlier form, not DAVIS's).

    Args:
        jf_per_round: ``S x R`` J&F.
        times: ``S x R`` per-round seconds.
        max_time: Budget shared by every sample.
        t: Time of the J&F read-out.

    Returns:
        ``{"auc": S values, "jf_at_t": S values}``; their means are the per-sample summaries.
    """
    jf, tm = _sample_matrices(jf_per_round, times)
    return {
        "auc": np.array([time_auc(j, s, max_time=max_time) for j, s in zip(jf, tm)]),
        "jf_at_t": np.array([jf_at_time(j, s, t, max_time=max_time) for j, s in zip(jf, tm)]),
    }
