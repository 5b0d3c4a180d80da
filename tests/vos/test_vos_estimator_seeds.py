"""benchmarks/vos_estimator_seeds.py: the ranker against the best rule per estimator folder and pooled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.vos_estimator_seeds import main
from benchmarks.vos_learned_recommender import RULES

PAIRS = [("v0", 0), ("v0", 1), ("v1", 0), ("v1", 1)]


def _runs(levels: list[float]) -> list[dict]:
    """One 8-round session per pair, J&F constant over the rounds at that pair's level."""
    return [{"video": v, "scribble": s, "jf": [level] * 8} for (v, s), level in zip(PAIRS, levels)]


def _work(root: Path, rule_levels: dict, ranker: list[float]) -> Path:
    for part, sessions in (
        ("rules", {rule: _runs(levels) for rule, levels in rule_levels.items()}),
        ("ranker", {"ranker": _runs(ranker)}),
    ):
        folder = root / "eval_learned" / "default" / part
        folder.mkdir(parents=True)
        (folder / "results.json").write_text(json.dumps({"sessions": {"wild": sessions}}))
    return root


def test_each_folder_and_the_pooled_pairs_against_their_best_rule(tmp_path):
    low = {rule: [0.5] * 4 for rule in RULES}
    # Folder a: Worst is the best rule; folder b: the stride. Pooled, Worst (0.62 + 0.56) beats the stride.
    a = _work(tmp_path / "a", {**low, "worst": [0.62] * 4, "stride": [0.54] * 4}, [0.66, 0.66, 0.58, 0.58])
    b = _work(tmp_path / "b", {**low, "worst": [0.56] * 4, "stride": [0.60] * 4}, [0.62, 0.62, 0.62, 0.62])
    assert (
        main(
            [
                "--works",
                f"a={a},b={b}",
                "--datasets",
                "default",
                "--bootstrap",
                "200",
                "--out-dir",
                str(tmp_path / "o"),
            ]
        )
        == 0
    )
    cells = json.loads((tmp_path / "o" / "vos_estimator_seeds.json").read_text())["cells"]["default"]
    f = 100 * 15 / 16  # the AUC of a constant 8-round curve, x100, per unit of J&F
    assert cells["a"]["best_rule"] == "worst" and cells["a"]["difference"]["mean"] == pytest.approx(f * 0.0)
    assert cells["b"]["best_rule"] == "stride" and cells["b"]["difference"]["mean"] == pytest.approx(f * 0.02)
    pooled = cells["pooled"]
    assert pooled["best_rule"] == "worst" and pooled["best_rule_auc"] == pytest.approx(f * 0.59)
    assert pooled["learned_auc"] == pytest.approx(f * 0.62)
    assert pooled["difference"]["mean"] == pytest.approx(f * 0.03) and pooled["difference"]["pairs"] == 4


def test_missing_parts_and_bad_labels_are_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--works", f"a={tmp_path}", "--datasets", "default"])
    assert "no evaluation part at" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--works", str(tmp_path)])
    assert "--works" in capsys.readouterr().err
