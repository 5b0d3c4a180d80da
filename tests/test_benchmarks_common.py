"""benchmarks/common.py: the repeat loop and summary shared by the CPU and CUDA timers."""

from __future__ import annotations

import pytest

from benchmarks.common import time_and_memory


def test_time_and_memory_repeats_drops_the_warm_up_and_keeps_the_largest_peak():
    calls = []
    result = time_and_memory(lambda: calls.append(bytearray(1 << 20)), repeats=3, budget_s=60.0)
    assert len(calls) == 4 and len(result["times_s"]) == 4  # a warm-up and three timed runs
    assert not result["warmup_counted"]
    timed = sorted(result["times_s"][1:])
    assert result["time_s"] == pytest.approx(timed[1])  # the median of the timed runs
    assert result["peak_mib"] >= 0 and result["memory_method"]


def test_time_and_memory_stops_when_the_budget_is_spent():
    calls = []
    result = time_and_memory(lambda: calls.append(1), repeats=5, budget_s=0.0)
    # The first run already spends the budget: it is the only one, and its time is the result.
    assert len(calls) == 1 and result["warmup_counted"]
    assert result["time_s"] == result["times_s"][0]
