"""Round-index AUC (the paper) and time-based AUC / J&F@60s (the DAVIS challenge)."""

from __future__ import annotations

import numpy as np
import pytest

from vos_recommender.metrics import (
    average_curves,
    average_curves_per_sample,
    davis_summary,
    davis_time_budget,
    jf_at_time,
    per_sample_time_summary,
    round_auc,
    time_auc,
    time_curve,
)


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


# Two samples worked by hand. A: one object, J&F 0.4 then 0.9 after rounds of 5 s and 10 s. B: two
# objects, J&F 0.8 and 0.8 after rounds of 20 s and 20 s.
TWO_JF = [[0.4, 0.9], [0.8, 0.8]]
TWO_TIMES = [[5.0, 10.0], [20.0, 20.0]]
TWO_OBJECTS = [1, 2]


def test_davis_form_by_hand_on_two_sequences() -> None:
    # J&F over (sample, object) rows: (0.4 + 2 * 0.8) / 3 = 2/3, (0.9 + 2 * 0.8) / 3 = 5/6;
    # time over samples: 12.5 s, 15 s; budget: 2 rounds x the longest single round (20 s) = 40 s.
    jf, times = average_curves(TWO_JF, TWO_TIMES, TWO_OBJECTS)
    np.testing.assert_allclose(jf, [2 / 3, 5 / 6])
    np.testing.assert_allclose(times, [12.5, 15.0])
    assert davis_time_budget(TWO_TIMES) == 40.0
    # Area: 12.5 * (2/3) / 2 + 15 * (2/3 + 5/6) / 2 + (40 - 27.5) * 5/6 = 25.8333; / 40 = 0.6458.
    summary = davis_summary(TWO_JF, TWO_TIMES, TWO_OBJECTS)
    assert summary["auc"] == pytest.approx(25.8333333 / 40)
    assert round(summary["auc"], 3) == 0.646
    assert summary["max_time"] == 40.0
    assert summary["jf_at_t"] == pytest.approx(5 / 6)  # 60 s is past the budget: the last value holds
    assert summary["time"] == pytest.approx([0.0, 12.5, 27.5, 40.0])
    # 20 s falls between the averaged rounds (12.5 s, 2/3) and (27.5 s, 5/6).
    assert davis_summary(TWO_JF, TWO_TIMES, TWO_OBJECTS, t=20.0)["jf_at_t"] == pytest.approx(
        2 / 3 + 7.5 / 15 * (5 / 6 - 2 / 3)
    )


def test_per_sample_form_by_hand_on_the_same_two_sequences() -> None:
    # The project's earlier form: each sample's own curve under one budget (60 s), then the mean.
    # A: 5 * 0.4 / 2 + 10 * 1.3 / 2 + 45 * 0.9 = 48 -> 0.8; B: 8 + 16 + 16 = 40 -> 2/3; mean 0.7333.
    per_sample = per_sample_time_summary(TWO_JF, TWO_TIMES, max_time=60.0)
    np.testing.assert_allclose(per_sample["auc"], [0.8, 2 / 3])
    assert round(float(per_sample["auc"].mean()), 3) == 0.733
    np.testing.assert_allclose(per_sample["jf_at_t"], [0.9, 0.8])
    # Equal weights: the per-sample average is the one-object-each DAVIS average.
    jf, times = average_curves_per_sample(TWO_JF, TWO_TIMES)
    np.testing.assert_allclose(jf, [0.6, 0.85])
    np.testing.assert_allclose(times, [12.5, 15.0])


def test_davis_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="objects"):
        average_curves(TWO_JF, TWO_TIMES, [1])
    with pytest.raises(ValueError, match="objects"):
        average_curves(TWO_JF, TWO_TIMES, [1, 0])
    with pytest.raises(ValueError, match="non-negative"):
        davis_summary(TWO_JF, [[5.0, -1.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="S x R"):
        davis_time_budget([1.0, 2.0])


def test_apply_time_out_by_hand() -> None:
    from vos_recommender.metrics import apply_time_out

    jf = [[0.2, 0.5, 0.9], [0.3, 0.6, 0.7]]
    times = [[10.0, 10.0, 10.0], [30.0, 1.0, 1.0]]
    out_jf, out_times = apply_time_out(jf, times, max_t=25.0, objects=[1, 1])
    # Sample 1 ends round 3 at 30 s > 25 s: refused, keeps 0.5 at 0 s. Sample 2's first round already
    # ends at 30 s: nothing is evaluated (J&F 0), and the later rounds are refused with it.
    np.testing.assert_allclose(out_jf, [[0.2, 0.5, 0.5], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(out_times, [[10.0, 10.0, 0.0], [0.0, 0.0, 0.0]])
    # Two objects double the time-out.
    np.testing.assert_allclose(apply_time_out(jf, times, 25.0, [2, 2])[0], jf)
    for bad in (0.0, -1.0, float("nan"), True, "20"):
        with pytest.raises(ValueError, match="max_t"):
            apply_time_out(jf, times, bad)


def test_time_auc_of_samples_uses_davis_budget_not_the_averaged_curves() -> None:
    # One averaged curve has lost the longest single round (20 s of sample B): its own default budget is
    # 2 x its longest averaged round (15 s); davisinteractive's, which time_auc of the samples uses, 2 x 20 s.
    averaged = average_curves(TWO_JF, TWO_TIMES, TWO_OBJECTS)
    assert time_curve(*averaged)[0][-1] == pytest.approx(2 * 15.0)
    assert time_auc(TWO_JF, TWO_TIMES, objects=TWO_OBJECTS) == pytest.approx(25.8333333 / 40)
    assert time_auc(*averaged) != pytest.approx(25.8333333 / 40)
    assert jf_at_time(TWO_JF, TWO_TIMES, 60.0, objects=TWO_OBJECTS) == pytest.approx(5 / 6)
    with pytest.raises(ValueError, match="cumulative"):
        time_auc(TWO_JF, TWO_TIMES, cumulative=True)


def test_time_out_of_one_run() -> None:
    # One run of one object, rounds of 10 s: with max_t = 25 s the third round (30 s) is refused and
    # the budget is 25 s: area 10 * 0.2 / 2 + 10 * 0.7 / 2 + 5 * 0.5 = 7.0 -> 0.28.
    assert time_auc([0.2, 0.5, 0.9], [10.0, 10.0, 10.0], max_t=25.0) == pytest.approx(7.0 / 25.0)
    assert jf_at_time([0.2, 0.5, 0.9], [10.0, 10.0, 10.0], 60.0, max_t=25.0) == pytest.approx(0.5)
