"""benchmarks/vos_propagation.py: the paired per-round summary, and a smoke run."""

from __future__ import annotations

import json

import pytest

from benchmarks.vos_propagation import main, summarise
from tests.tracked_outputs import committed_outputs_untouched


def _run(video: str, scribble: int, jf: list[float]) -> dict:
    return {"video": video, "scribble": scribble, "J": jf, "F": jf, "jf": jf, "seconds": [1.0] * len(jf)}


def test_summary_pairs_sessions_and_differences_each_round():
    runs = {
        "old": [_run("a", 0, [0.5, 0.6]), _run("a", 1, [0.4, 0.5]), _run("b", 0, [0.7, 0.7])],
        "new": [_run("a", 0, [0.6, 0.8]), _run("a", 1, [0.5, 0.6]), _run("b", 0, [0.7, 0.9])],
    }
    rounds = summarise(runs, 2)["rounds"]
    assert [row["round"] for row in rounds] == [1, 2]
    assert rounds[0]["old_J"] == pytest.approx(0.5333333) and rounds[1]["new_jf"] == pytest.approx(0.7666667)
    assert rounds[0]["diff_jf"]["mean"] == pytest.approx(20 / 3)  # +10, +10, 0 (x100)
    assert rounds[1]["diff_J"]["mean"] == pytest.approx(50 / 3) and rounds[1]["diff_J"]["pairs_won"] == 3
    assert rounds[0]["diff_jf"]["videos"] == 2


def test_sessions_must_pair():
    runs = {"old": [_run("a", 0, [0.5])], "new": [_run("a", 1, [0.6])]}
    with pytest.raises(ValueError, match="same \\(video, scribble\\) pairs"):
        summarise(runs, 1)


@pytest.mark.slow
def test_quick_run_writes_the_table(tmp_path):
    with committed_outputs_untouched():
        assert (
            main(["--quick", "--data-root", str(tmp_path / "data"), "--out-dir", str(tmp_path / "results")])
            == 0
        )
    text = (tmp_path / "results" / "vos_propagation_quick.md").read_text()
    assert "| round | J old | J new" in text and "J&F new - old" in text
    payload = json.loads((tmp_path / "results" / "vos_propagation_quick.json").read_text())
    assert payload["pairs"] == 2 and len(payload["summary"]["rounds"]) == 2
    assert payload["old"] == {"refine": None} and payload["new"] == {"refine": "grabcut"}
    assert all(len(run["jf"]) == 2 for run in payload["runs"]["new"])
