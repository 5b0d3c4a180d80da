"""Table 1 assembly (AUC, verdict and paired tables, plots) and its command, python -m vos_recommender.table1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vos_recommender.backends import build_backend
from vos_recommender.evaluation.table1 import (
    auc_table,
    claim_verdict,
    paired_table,
    plot_backend,
    round_summary,
    round_table,
    verdict_table,
)
from vos_recommender.table1 import protocol, report, steps


def summary(auc: float, seeds: int = 1, std: float = float("nan")) -> dict:
    return {
        "auc": {"mean": auc, "std": 1.0, "ci95": 0.5},
        "seed_spread": {"per_seed": [auc] * seeds, "std": std, "seeds": seeds},
        "mean_curve": [auc - 10, auc, auc + 5],
    }


def difference(mean: float, low: float, high: float) -> dict:
    return {
        "mean": mean,
        "ci95_bootstrap": [low, high],
        "ci95_t": [low - 0.1, high + 0.1],
        "pairs": 6,
        "pairs_won": 4,
        "pairs_lost": 2,
        "videos": 2,
        "videos_won": 1,
        "videos_lost": 1,
    }


def entry(backend: str, dataset: str, wild: dict, oracle: dict) -> dict:
    settings = {
        s: {"Random": summary(60.0), "Worst": summary(61.0), "Ours": summary(62.5, 3, 0.4)}
        for s in ("oracle", "wild")
    }
    return {
        "backend": backend,
        "dataset": dataset,
        "results": {
            "settings": settings,
            "paired": {"oracle": {"Ours - Worst": oracle}, "wild": {"Ours - Worst": wild}},
        },
    }


def test_claim_verdicts_follow_the_interval() -> None:
    assert claim_verdict("wild", difference(1.0, 0.2, 1.8)).startswith("holds")
    assert claim_verdict("wild", difference(0.5, -0.2, 1.2)).startswith("not shown")
    assert claim_verdict("wild", difference(-1.0, -1.8, -0.2)).startswith("fails")
    assert claim_verdict("oracle", difference(-0.5, -1.2, 0.2)) == "holds (no significant difference)"
    assert claim_verdict("oracle", difference(-1.0, -1.8, -0.2)).startswith("fails")
    assert claim_verdict("oracle", None) == "not measured"


def test_tables_have_a_column_per_dataset_and_backend(tmp_path: Path) -> None:
    entries = [
        entry("flow", "default", difference(1.0, 0.2, 1.8), difference(-0.5, -1.2, 0.2)),
        entry("flow", "shifted", difference(-1.0, -1.8, -0.2), difference(0.1, -0.3, 0.5)),
    ]
    auc = "\n".join(auc_table(entries))
    assert "| setting | strategy | default / flow | shifted / flow |" in auc
    assert "| wild | Ours | 62.50 ± 0.50 (sd 0.40) | 62.50 ± 0.50 (sd 0.40) |" in auc
    assert "Linspace" not in auc  # a strategy nobody ran has no row
    verdicts = verdict_table(entries)
    assert len(verdicts) == 4
    assert "| flow | default | +1.00 [+0.20, +1.80] | holds" in verdicts[2]
    assert "fails (Ours worse, significant)" in verdicts[3]
    paired = paired_table(entries)
    assert len(paired) == 2 + 4
    assert (
        "| flow | shifted | wild | Ours - Worst | -1.00 | [-1.80, -0.20] | [-1.90, -0.10] | 4 / 2 of 6 | 1 / 1 of 2 |"
        in paired
    )
    plot_backend(tmp_path / "flow.png", "flow", entries)
    assert (tmp_path / "flow.png").read_bytes()[:4] == b"\x89PNG"


def test_round_table_pairs_ours_and_worst_per_round_and_over_the_training_horizon() -> None:
    def run(video: str, jf: list[float], seed: int = 0) -> dict:
        return {"video": video, "scribble": 0, "seed": seed, "jf": jf}

    sessions = {
        "oracle": {
            "ours": [run(v, [0.5, 0.9, 0.9, 0.9], s) for v in "abc" for s in (0, 1)],
            "worst": [run(v, [0.5, 0.6, 0.9, 1.0]) for v in "abc"],
            "random": [run(v, [0.5, 0.5, 0.5, 0.5]) for v in "abc"],
        },
        "wild": {"random": [run("a", [0.5, 0.5, 0.5, 0.5])]},  # no Ours and Worst here: no row
    }
    summary_ = round_summary(sessions, horizon=2, bootstrap=200)
    assert set(summary_) == {"oracle"}
    oracle = summary_["oracle"]
    # AUC over rounds 1-2, x100: (m1 + m2 / 2) / 2 -> Ours 47.5, Worst 40
    assert oracle["auc"]["mean"] == pytest.approx(7.5)
    assert [r["mean"] for r in oracle["rounds"]] == pytest.approx([0.0, 30.0, 0.0, -10.0])
    lines = round_table([{"backend": "flow", "dataset": "default", "rounds": summary_}])
    assert lines[0].startswith("| backend | dataset | setting | AUC rounds 1-2 [95% CI] | J&F r1 |")
    assert lines[2] == (
        "| flow | default | oracle | +7.50 [+7.50, +7.50] | +0.00 | +30.00 * | +0.00 | -10.00 * |"
    )
    assert round_table([{"backend": "flow", "dataset": "default", "rounds": {}}]) == []


def test_native_backends_need_weights_and_are_cached_by_their_digest(tmp_path: Path) -> None:
    args = protocol.parse_args(["--native-weights", str(tmp_path)])
    assert steps.backend_spec("flow", args) == ({}, "flow")
    assert steps.backend_spec("atnet", args) is None
    (tmp_path / "atnet.pth").write_bytes(b"first")
    kwargs, tag = steps.backend_spec("atnet", args)
    assert kwargs == {"config": "cpu", "weights": str(tmp_path / "atnet.pth")}
    (tmp_path / "atnet.pth").write_bytes(b"second")
    assert steps.backend_spec("atnet", args)[1] != tag  # new weights never replay old cached results
    random = protocol.parse_args(["--native-weights", str(tmp_path), "--allow-random-weights"])
    assert steps.backend_spec("ipn", random) == ({"config": "cpu"}, "ipn-cpu-random")


def test_learned_backend_is_trained_once_and_cached_by_its_digest(tmp_path: Path) -> None:
    work = tmp_path / "work"
    args = protocol.parse_args(["--quick", "--work", str(work)])
    assert steps.backend_spec("learned", args) is None  # not trained yet
    protocol.main(["--quick", "--work", str(work), "--backends", "flow,learned", "--only", "data,learned"])
    checkpoint = work / "learned" / "learned_vos.pt"
    assert checkpoint.is_file() and (work / "learned" / "metrics.json").is_file()
    kwargs, tag = steps.backend_spec("learned", args)
    assert kwargs == {"checkpoint": str(checkpoint)} and tag.startswith("learned-")
    backend = build_backend("learned", **kwargs)
    assert backend.config["scale"] == 1.0
    assert "learned" in json.loads((work / "timings.json").read_text())
    # Kept on a rerun (same digest); an explicit checkpoint that does not exist is refused, not trained.
    protocol.main(["--quick", "--work", str(work), "--backends", "learned", "--only", "learned"])
    assert steps.backend_spec("learned", args)[1] == tag
    missing = ["--quick", "--work", str(work), "--learned-checkpoint", str(tmp_path / "none.pt")]
    assert steps.backend_spec("learned", protocol.parse_args(missing)) is None
    with pytest.raises(SystemExit, match="learned-checkpoint"):
        steps.train_learned_backend(protocol.parse_args(missing), work, {})


def test_driver_rejects_inconsistent_sizes() -> None:
    with pytest.raises(SystemExit):
        protocol.parse_args(["--agent-videos", "40", "--quality-videos", "32"])
    with pytest.raises(SystemExit, match="unknown steps"):
        protocol.main(["--quick", "--only", "train"])


@pytest.mark.slow
def test_driver_quick_run_writes_the_table_and_resumes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    work, out = tmp_path / "work", tmp_path / "results" / "table1.md"
    protocol.main(["--quick", "--work", str(work), "--out", str(out)])
    text = out.read_text()
    assert "Status: complete." in text
    assert "| setting | strategy | default / flow | shifted / flow |" in text
    assert (
        "| flow | default | oracle | Ours - Worst |" in text
        and "| flow | shifted | wild | Ours - Random |" in text
    )
    assert (out.parent / "table1_flow.png").is_file()
    summary = json.loads(out.with_suffix(".json").read_text())
    assert {e["dataset"] for e in summary["entries"]} == {"default", "shifted"}
    capsys.readouterr()
    made = json.loads((work / "timings.json").read_text())
    assert {"data", "agents", "quality flow", "eval flow default", "eval flow shifted"} <= set(made)
    protocol.main(["--quick", "--work", str(work), "--out", str(out)])  # everything kept, nothing rerun
    log = capsys.readouterr().out
    assert "agent seed0: kept" in log and "eval flow shifted: kept" in log and "running" not in log
    # A kept part keeps the wall time it took to make, however long keeping it took.
    assert json.loads((work / "timings.json").read_text()) == made


@pytest.mark.slow
def test_evaluation_in_two_parts_merges_to_the_single_run(tmp_path: Path) -> None:
    work, out = tmp_path / "work", tmp_path / "table1.md"
    common = ["--quick", "--work", str(work), "--out", str(out), "--datasets", "default"]
    protocol.main(common)
    single = json.loads((work / "eval" / "flow" / "default" / "results.json").read_text())
    merged_dir = work / "eval" / "flow" / "default"
    for name in ("results.json", "results.md", "results.csv", "jf_vs_round.png"):
        (merged_dir / name).unlink()
    for part in ("baselines", "wild", "oracle-agent"):
        protocol.main([*common, "--only", "eval", "--eval-part", part])
    merged = json.loads((merged_dir / "results.json").read_text())
    for setting in ("oracle", "wild"):
        for strategy, summary in single["settings"][setting].items():
            assert merged["settings"][setting][strategy]["auc"] == pytest.approx(summary["auc"])
        assert merged["paired"][setting] == single["paired"][setting]


def test_the_recorded_command_omits_the_work_splitting_options() -> None:
    argv = ["--agent-steps", "600", "--only", "eval", "--eval-part=wild", "--datasets", "shifted", "--quick"]
    assert report.reproducing_argv(argv) == ["--agent-steps", "600", "--quick"]


def test_native_weights_may_be_a_folder(tmp_path: Path) -> None:
    (tmp_path / "ipn").mkdir()
    (tmp_path / "ipn" / "I.pth").write_bytes(b"i")
    args = protocol.parse_args(["--native-weights", str(tmp_path)])
    kwargs, tag = steps.backend_spec("ipn", args)
    assert kwargs["weights"] == str(tmp_path / "ipn") and tag.startswith("ipn-cpu-")
    (tmp_path / "ipn" / "P.pth").write_bytes(b"p")
    assert steps.backend_spec("ipn", args)[1] != tag


def test_an_agent_trained_with_another_schedule_is_not_kept(tmp_path: Path) -> None:
    args = protocol.parse_args(["--agent-steps", "3000", "--agent-lr", "1e-4"])
    run_dir = tmp_path / "seed0"
    run_dir.mkdir()
    steps.kept_settings(run_dir, args)  # nothing saved yet: nothing to check
    saved = {"total_timesteps": 3000, "lr": 1e-4, "num_rounds": 5}
    (run_dir / "config.json").write_text(json.dumps(saved))
    steps.kept_settings(run_dir, args)  # same schedule: kept
    (run_dir / "config.json").write_text(json.dumps({**saved, "lr": 5e-6, "total_timesteps": 600}))
    with pytest.raises(
        SystemExit, match=r"total_timesteps 600 there, 3000 asked, lr 5e-06 there, 0.0001 asked"
    ):
        steps.kept_settings(run_dir, args)
    # The nested settings this version writes read the same.
    nested = {"total_timesteps": 3000, "lr": 1e-4, "env": {"episode": {"num_rounds": 5}}}
    (run_dir / "config.json").write_text(json.dumps(nested))
    steps.kept_settings(run_dir, args)
    nested["env"]["episode"]["num_rounds"] = 8
    (run_dir / "config.json").write_text(json.dumps(nested))
    with pytest.raises(SystemExit, match=r"num_rounds 8 there, 5 asked"):
        steps.kept_settings(run_dir, args)


def test_agents_and_evaluations_embed_the_commands_environment_settings(tmp_path: Path) -> None:
    from vos_recommender.config import training_env
    from vos_recommender.evaluate import evaluation_env

    train = steps.backend_env(
        training_env(), "flow", {"beta": 900.0}, "flow-x", tmp_path, **{"episode.num_rounds": 3}
    )
    assert train.session.backend_kwargs == {"beta": 900.0} and train.episode.num_rounds == 3
    assert train.session.cache_dir == str(tmp_path / "cache" / "flow-x")
    assert train.reward.stats_dir == str(tmp_path / "stats" / "flow-x")
    assert train.session.cache_budget == "1GB" and train.reward.goal_reward  # the training command's defaults
    held_out = steps.backend_env(evaluation_env(), "flow", {}, "flow", tmp_path)
    assert not held_out.reward.goal_reward and held_out.session.cache_budget == ""


def test_the_table_goes_to_the_work_folder_unless_asked(tmp_path: Path) -> None:
    assert report.table_path(protocol.parse_args(["--work", str(tmp_path)])) == tmp_path / "table1.md"
    asked = tmp_path / "elsewhere.md"
    assert report.table_path(protocol.parse_args(["--out", str(asked)])) == asked


def test_the_rules_and_the_lookahead_are_rows_in_the_papers_order() -> None:
    results = {
        "settings": {
            "oracle": {
                name: summary(50.0 + i) for i, name in enumerate(("Lookahead", "UncertainFar", "Stride"))
            }
        }
    }
    rows = [
        line.split("|")[2].strip()
        for line in auc_table([{"backend": "flow", "dataset": "d", "results": results}])[2:]
    ]
    assert rows == ["Stride", "UncertainFar", "Lookahead"]


def _session(video: str, jf: list[float], seed: int = 0) -> dict:
    return {
        "video": video,
        "scribble": 0,
        "seed": seed,
        "jf": jf,
        "times": [1.0] * len(jf),
        "frames": [0] * len(jf),
        "objects": 1,
    }


def test_parts_with_the_lookahead_merge_with_the_quality_free_rows_shared(tmp_path: Path) -> None:
    from vos_recommender.evaluate import EvalConfig

    out = tmp_path / "eval"
    curves = {
        key: [0.5, 0.6 + 0.01 * i, 0.7] for i, key in enumerate(steps.NEEDED["oracle"] + ("lookahead",))
    }
    runs = {key: [_session(v, curve) for v in ("a", "b")] for key, curve in curves.items()}
    parts = {
        "baselines": {
            "oracle": {k: runs[k] for k in ("random", "linspace", "stride", "farthest", "lookahead")}
        },
        "oracle-agent": {"oracle": {k: runs[k] for k in ("worst", "uncertain_far", "ours")}},
    }
    for name, sessions in parts.items():
        (out / f"{name}-part").mkdir(parents=True)
        (out / f"{name}-part" / "results.json").write_text(json.dumps({"sessions": sessions}))
    config = EvalConfig(out=str(out), bootstrap=200, env=EvalConfig().env.replace({"episode.num_rounds": 3}))
    assert not steps.merge_parts(out, config, lookahead=True)  # the wild part is missing
    wild = {k: runs[k] for k in ("worst", "uncertain_far", "ours")}
    (out / "wild-part").mkdir()
    (out / "wild-part" / "results.json").write_text(json.dumps({"sessions": {"wild": wild}}))
    assert steps.merge_parts(out, config, lookahead=True)
    merged = json.loads((out / "results.json").read_text())
    assert set(merged["settings"]["wild"]) == {
        "Random",
        "Linspace",
        "Stride",
        "Farthest",
        "Worst",
        "UncertainFar",
        "Ours",
        "Lookahead",
    }
    assert merged["sessions"]["wild"]["lookahead"] == merged["sessions"]["oracle"]["lookahead"]
    assert "Ours - Lookahead" in merged["paired"]["wild"]
    assert "Stride, Farthest, Lookahead ignore the observed quality" in (out / "results.md").read_text()
