"""Round-index AUC (the paper) and time-based AUC / J&F@60s (the DAVIS challenge)."""

from __future__ import annotations

import numpy as np
import pytest

from vos_recommender.metrics import average_curves, jf_at_time, round_auc, time_auc, time_curve


def test_round_auc_constant_curve() -> None:
    for m in (0.0, 0.5, 0.731):
        assert round_auc([m] * 8) == pytest.approx(m * 7.5 / 8)


def test_round_auc_formula_on_random_values() -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        m = rng.random(8)
        expected = (m[:7].sum() + m[7] / 2) / 8
        assert round_auc(m) == pytest.approx(expected)
        # Trapezoids written out one by one over [0, m1, ..., m8].
        curve = np.concatenate([[0.0], m])
        by_hand = sum((curve[i] + curve[i + 1]) / 2 for i in range(8)) / 8
        assert round_auc(m) == pytest.approx(by_hand)


def test_round_auc_pads_short_runs_and_rejects_long_ones() -> None:
    assert round_auc([0.4, 0.6]) == pytest.approx(round_auc([0.4] + [0.6] * 7))
    assert round_auc([0.2, 0.5, 0.9], num_rounds=3) == pytest.approx((0.2 + 0.5 + 0.45) / 3)
    with pytest.raises(ValueError):
        round_auc([0.5] * 9)
    with pytest.raises(ValueError):
        round_auc([])


def test_time_curve_layout() -> None:
    time, jf = time_curve([0.5, 0.7, 0.8], [10.0, 20.0, 30.0], max_time=100.0)
    np.testing.assert_allclose(time, [0, 10, 30, 60, 100])
    np.testing.assert_allclose(jf, [0, 0.5, 0.7, 0.8, 0.8])
    cum_time, cum_jf = time_curve([0.5, 0.7, 0.8], [10.0, 30.0, 60.0], max_time=100.0, cumulative=True)
    np.testing.assert_allclose(cum_time, time)
    np.testing.assert_allclose(cum_jf, jf)
    # Without a budget: rounds x longest round (davis-interactive's fallback).
    assert time_curve([0.5, 0.7], [10.0, 25.0])[0][-1] == pytest.approx(50.0)


def test_time_auc_by_hand() -> None:
    # Trapezoids: (0+0.5)/2*10 + (0.5+0.7)/2*20 + (0.7+0.8)/2*30 + 0.8*40 = 2.5 + 12 + 22.5 + 32 = 69
    assert time_auc([0.5, 0.7, 0.8], [10.0, 20.0, 30.0], max_time=100.0) == pytest.approx(0.69)
    assert time_auc([0.0], [0.0], max_time=0.0) == 0.0


def test_jf_at_time_interpolates_linearly() -> None:
    jf, times = [0.5, 0.7, 0.8], [10.0, 20.0, 30.0]
    assert jf_at_time(jf, times, t=60.0, max_time=100.0) == pytest.approx(0.8)
    assert jf_at_time(jf, times, t=20.0, max_time=100.0) == pytest.approx(0.6)  # halfway 10 s -> 30 s
    assert jf_at_time(jf, times, t=5.0, max_time=100.0) == pytest.approx(0.25)  # rising from (0, 0)
    assert jf_at_time(jf, times, t=500.0, max_time=100.0) == pytest.approx(0.8)


def test_time_inputs_are_checked() -> None:
    with pytest.raises(ValueError):
        time_auc([0.5, 0.6], [1.0])
    with pytest.raises(ValueError):
        time_auc([0.5], [-1.0])
    with pytest.raises(ValueError):
        time_auc([0.5, 0.6], [5.0, 3.0], cumulative=True)
    with pytest.raises(ValueError):
        time_auc([0.5, 0.6], [50.0, 60.0], max_time=30.0)


def test_average_curves() -> None:
    jf, times = average_curves([[0.2, 0.4], [0.4, 0.8]], [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(jf, [0.3, 0.6])
    np.testing.assert_allclose(times, [2.0, 3.0])
    with pytest.raises(ValueError):
        average_curves([[0.2]], [[1.0, 2.0]])
