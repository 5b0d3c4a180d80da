"""evaluate with several agent seeds: pooled Ours rows, seed spread, paired differences in JSON and Markdown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.vos.test_train_evaluate import common_args, setup  # noqa: F401  (module fixture)
from vos_recommender.config import parse_config
from vos_recommender.evaluate import EvalConfig, main


def test_several_agents_give_seed_spread_and_paired_statistics(setup: dict[str, Path]) -> None:  # noqa: F811
    out = setup["base"] / "eval_paired"
    args = common_args(setup)
    args[args.index("--agent") + 1] = f"{setup['agent']},{setup['agent']}"
    main([*args, "--quality-checkpoint", str(setup["quality"]), "--out", str(out), "--bootstrap", "200"])
    results = json.loads((out / "results.json").read_text())
    videos = {s["video"] for s in results["sessions"]["oracle"]["worst"]}
    pairs = len(results["sessions"]["oracle"]["worst"])
    for setting in ("oracle", "wild"):
        ours = results["sessions"][setting]["ours"]
        assert len(ours) == 2 * pairs and sorted({s["seed"] for s in ours}) == [0, 1]
        spread = results["settings"][setting]["Ours"]["seed_spread"]
        assert spread["seeds"] == 2
        # the same agent twice: identical greedy sessions, so no spread across the two seeds
        assert spread["std"] == pytest.approx(0.0, abs=1e-9)
        paired = results["paired"][setting]
        assert set(paired) == {
            f"Ours - {name}" for name in ("Random", "Linspace", "Stride", "Farthest", "Worst", "UncertainFar")
        }
        for d in paired.values():
            assert d["pairs"] == pairs and d["videos"] == len(videos)
            assert d["pairs_won"] + d["pairs_lost"] <= pairs
            assert d["ci95_bootstrap"][0] <= d["mean"] <= d["ci95_bootstrap"][1]
        rounds = results["paired_rounds"][setting]
        assert len(rounds) == results["num_rounds"]
        assert rounds[0]["mean"] == pytest.approx(0.0, abs=1e-9)  # round 1 is the first scribble for both
        assert all(r["pairs"] == pairs for r in rounds)
    table = (out / "results.md").read_text()
    assert "| oracle | Ours - Worst |" in table and "| wild | Ours - Linspace |" in table
    assert "| wild | Ours - UncertainFar |" in table
    assert "0.00 (2 seeds)" in table
    assert "| setting | r1 |" in table and "| oracle | +0.00 |" in table


def test_a_missing_agent_file_is_named(setup: dict[str, Path]) -> None:  # noqa: F811
    args = common_args(setup)
    args[args.index("--agent") + 1] = f"{setup['agent']},{setup['base'] / 'nope.zip'}"
    with pytest.raises(FileNotFoundError, match="nope.zip"):
        main([*args, "--settings", "oracle", "--out", str(setup["base"] / "eval_missing")])


@pytest.mark.parametrize("resamples", ["10", "0", "-5"])
def test_too_few_bootstrap_resamples_are_refused_when_the_settings_are_parsed(tmp_path, resamples) -> None:
    with pytest.raises(ValueError, match=f"bootstrap \\(--bootstrap\\) must be >= 100 .*got {resamples}"):
        parse_config(EvalConfig, ["--bootstrap", resamples])
    # The command stops with the message alone, before it looks at the data or the agent (both missing).
    with pytest.raises(SystemExit, match="error: .*--bootstrap.* >= 100"):
        main(["--bootstrap", resamples, "--data", str(tmp_path / "none"), "--agent", str(tmp_path / "a.zip")])
    assert not (tmp_path / "none").exists()
    assert parse_config(EvalConfig, ["--bootstrap", "100"])[0].bootstrap == 100


def test_the_lookahead_ceiling_and_another_paired_reference(setup: dict[str, Path]) -> None:  # noqa: F811
    out = setup["base"] / "eval_lookahead"
    args = [*common_args(setup), "--settings", "oracle", "--out", str(out), "--bootstrap", "200"]
    main([*args, "--strategies", "worst,farthest,lookahead", "--paired-reference", "lookahead"])
    results = json.loads((out / "results.json").read_text())
    sessions = results["sessions"]["oracle"]
    assert set(results["paired"]["oracle"]) == {"Lookahead - Worst", "Lookahead - Farthest"}
    # The lookahead's second frame is the best single correction after round 1: its J&F after round 2 is at
    # least that of any other strategy's on the same pair.
    for ahead, worst in zip(sessions["lookahead"], sessions["worst"]):
        assert ahead["jf"][1] >= worst["jf"][1] - 1e-9
    notes = (out / "results.md").read_text()
    pairs = len(sessions["lookahead"])
    assert f"Lookahead (oracle): {pairs * 2 * 6} probed rounds for {pairs * 2} recommendations" in notes
    with pytest.raises(KeyError, match="--paired-reference: unknown strategy 'best'"):
        main([*args, "--strategies", "worst", "--paired-reference", "best"])
    with pytest.raises(KeyError, match="--strategies: unknown strategies"):
        main([*args, "--strategies", "worst,best"])
