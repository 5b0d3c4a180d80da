"""The gain-ranker benchmark's report from kept evaluation parts (benchmarks/vos_learned_recommender.py).

No session runs here: the parts are written as an evaluation would write them, and ``--parts`` with none
listed makes the benchmark only read them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.vos_learned_recommender import RULES
from benchmarks.vos_learned_recommender import main as benchmark_main
from tests.tracked_outputs import committed_outputs_untouched

PAIRS = [("v0", 0), ("v0", 1), ("v1", 0), ("v1", 1)]


def _runs(level: float, rise: float = 0.0) -> list[dict]:
    """One 8-round session per pair: J&F ``level`` (+ ``rise`` per pair index) in every round."""
    return [
        {"video": video, "scribble": scribble, "jf": [level + rise * index] * 8}
        for index, (video, scribble) in enumerate(PAIRS)
    ]


def _write_part(work: Path, part: str, sessions: dict) -> None:
    folder = work / "eval_learned" / "default" / part
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({"sessions": sessions}))


def _report(work: Path, out: Path, *extra: str) -> dict:
    argv = ["--work", str(work), "--datasets", "default", "--parts", "", "--bootstrap", "200"]
    with committed_outputs_untouched():
        assert benchmark_main([*argv, "--out-dir", str(out), *extra]) == 0
    return json.loads((out / "vos_learned_recommender.json").read_text())


def test_rules_only_report_with_the_lookahead_in_both_settings(tmp_path):
    levels = dict(zip(RULES, (0.60, 0.58, 0.61, 0.62, 0.64, 0.66)))
    rules = {rule: _runs(level, rise=0.01) for rule, level in levels.items()}
    wild = {**rules, "worst": _runs(0.63, rise=0.01), "uncertain_far": _runs(0.59, rise=0.01)}
    _write_part(tmp_path / "work", "rules", {"oracle": rules, "wild": wild})
    # The lookahead ignores the observed quality: its part holds the oracle setting only.
    _write_part(tmp_path / "work", "lookahead", {"oracle": {"lookahead": _runs(0.70, rise=0.01)}})
    payload = _report(tmp_path / "work", tmp_path / "out", "--lookahead", "default")

    oracle, wild_cell = payload["cells"]["default/oracle"], payload["cells"]["default/wild"]
    assert oracle["best_rule"] == "uncertain_far" and wild_cell["best_rule"] == "worst"
    for cell in (oracle, wild_cell):
        # Every row but the best rule's carries its paired difference to the best rule.
        assert "vs_best_rule" not in cell["rows"][cell["best_rule"]]
        others = [key for key in cell["rows"] if key != cell["best_rule"]]
        assert others and all("vs_best_rule" in cell["rows"][key] for key in others)
        assert "gap_closed" not in cell["rows"]["lookahead"]
    # The same lookahead sessions serve the wild setting: headroom over each setting's own best rule.
    assert oracle["rows"]["lookahead"]["auc"] == pytest.approx(wild_cell["rows"]["lookahead"]["auc"])
    assert oracle["rows"]["lookahead"]["vs_best_rule"]["mean"] == pytest.approx(100 * (0.70 - 0.66) * 15 / 16)
    assert wild_cell["rows"]["lookahead"]["vs_best_rule"]["mean"] == pytest.approx(
        100 * (0.70 - 0.63) * 15 / 16
    )
    assert oracle["rows"]["random"]["vs_best_rule"]["pairs_lost"] == len(PAIRS)
    markdown = (tmp_path / "out" / "vos_learned_recommender.md").read_text()
    assert markdown.startswith("# The rules and the one-step-lookahead ceiling")
    assert "Rules only." in markdown


def test_parts_not_kept_and_not_listed_are_left_out(tmp_path):
    payload = _report(tmp_path / "work", tmp_path / "out", "--lookahead", "default")
    assert payload["cells"] == {}
    assert not (tmp_path / "work" / "eval_learned" / "default" / "rules").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--parts", "rules,bogus"], "--parts: unknown parts ['bogus']"),
        (["--ablation", "paper=a.pt"], "--ablation needs --ranker"),
    ],
)
def test_bad_arguments_are_named(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit):
        benchmark_main(["--work", str(tmp_path), "--out-dir", str(tmp_path / "out"), *argv])
    assert message in capsys.readouterr().err


def test_a_learned_part_is_evaluated_while_the_rules_part_is_still_missing(tmp_path, monkeypatch, capsys):
    # Run as separate processes, the learned parts must not wait for (or silently skip without) the rules'.
    import vos_recommender.evaluate as evaluation

    evaluated = []

    def fake_evaluate(config):
        evaluated.append(config.ranker)
        out = Path(config.out)
        out.mkdir(parents=True)
        (out / "results.json").write_text(json.dumps({"sessions": {"oracle": {}, "wild": {}}}))

    monkeypatch.setattr(evaluation, "evaluate", fake_evaluate)
    argv = [
        "--work",
        str(tmp_path / "work"),
        "--datasets",
        "default",
        "--parts",
        "learned",
        "--ranker",
        "r.pt",
    ]
    with committed_outputs_untouched():
        assert benchmark_main([*argv, "--out-dir", str(tmp_path / "out")]) == 0
    assert evaluated == ["r.pt"]
    assert (tmp_path / "work" / "eval_learned" / "default" / "ranker" / "results.json").is_file()
    assert "default: no rules part yet" in capsys.readouterr().out
