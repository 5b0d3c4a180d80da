"""benchmarks/app_recommendation_gain.py: the naive user's frame choice, and a smoke run."""

from __future__ import annotations

import json

import pytest

from benchmarks.app_recommendation_gain import main, naive_frame, reach
from tests.tracked_outputs import committed_outputs_untouched


def test_naive_user_steps_by_a_fifth_of_the_video_and_skips_visited_frames():
    assert naive_frame(25, 7, [7]) == 12
    assert naive_frame(25, 7, [7, 12, 17, 22]) == 2  # wraps around
    assert naive_frame(10, 0, [0, 2, 4, 6, 8]) == 1  # every stride-2 frame visited: the odd ones next
    assert naive_frame(3, 0, [0, 1, 2]) == 0  # everything visited: the cycle again


def test_reach_is_the_mean_distance_to_the_nearest_annotated_frame():
    assert reach([0], 3) == 1.0  # distances 0, 1, 2
    assert reach([0, 4], 5) == pytest.approx((0 + 1 + 2 + 1 + 0) / 5)


@pytest.mark.slow
def test_quick_run_writes_the_table(tmp_path):
    with committed_outputs_untouched():
        assert (
            main(["--quick", "--data-root", str(tmp_path / "data"), "--out-dir", str(tmp_path / "results")])
            == 0
        )
    text = (tmp_path / "results" / "app_recommendation_gain_quick.md").read_text()
    assert "| app: worst, model confidence" in text and "vs naive @3 (95% CI)" in text
    payload = json.loads((tmp_path / "results" / "app_recommendation_gain_quick.json").read_text())
    assert len(payload["pairs"]) == 2 and {r["strategy"] for r in payload["rows"]} == {
        "naive",
        "confidence",
        "farthest",
        "uncertain_far",
        "oracle",
    }
