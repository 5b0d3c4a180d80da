"""python -m vos_recommender.evaluate on a tiny generated dataset: table, CSV, JSON, plot, oracle-only fallback."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tests.vos.test_agent_toy_env import WindowDeficitEnv, single_torch_thread  # noqa: F401  (autouse fixture)
from vos_recommender.agent import RecurrentDQN
from vos_recommender.evaluate import main, run_session, summarise
from vos_recommender.metrics import round_auc
from vos_recommender.quality.estimator import QualityConfig, QualityNet, save_quality_checkpoint


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from stable_baselines3.common.env_util import make_vec_env

    from vos_recommender.data.generate import generate_davis_dataset

    base = tmp_path_factory.mktemp("evaluate")
    root = generate_davis_dataset(
        base / "davis", num_train=1, num_val=2, num_frames=6, height=40, width=64, max_objects=1, seed=2
    )
    agent = RecurrentDQN(
        env=make_vec_env(WindowDeficitEnv, n_envs=1),
        seed=0,
        policy_kwargs={"embed_dim": 8, "lstm_dim": 8, "head_dim": 8},
    )
    agent.save(base / "run" / "final_model.zip")
    save_quality_checkpoint(base / "quality.pt", QualityNet(QualityConfig(width=4, crop_size=32, min_box=16)))
    return {
        "data": root,
        "agent": base / "run" / "final_model.zip",
        "quality": base / "quality.pt",
        "base": base,
    }


def common_args(setup: dict[str, Path]) -> list[str]:
    return [
        "--agent",
        str(setup["agent"]),
        "--data",
        str(setup["data"]),
        "--num-rounds",
        "3",
        "--scribbles",
        "1",
        "--seeds",
        "2",
        "--cache-dir",
        str(setup["base"] / "cache"),
        "--stats-dir",
        str(setup["base"] / "stats"),
        "--verbose",
        "0",
    ]


def test_evaluate_writes_the_paper_style_table(setup: dict[str, Path]) -> None:
    out = setup["base"] / "eval_both"
    main([*common_args(setup), "--quality-checkpoint", str(setup["quality"]), "--out", str(out)])
    table = (out / "results.md").read_text()
    for setting in ("oracle", "wild"):
        for strategy in ("Random", "Linspace", "Stride", "Farthest", "Worst", "UncertainFar", "Ours"):
            assert f"| {setting} | {strategy} |" in table
    with open(out / "results.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == 14 and {
        "auc_mean",
        "auc_ci95",
        "jf_last_mean",
        "time_auc_mean",
        "jf_at_60s_mean",
    } <= set(rows[0])
    samples = {(r["setting"], r["strategy"]): int(r["samples"]) for r in rows}
    assert (
        samples[("oracle", "Random")] == 4 and samples[("oracle", "Worst")] == 2
    )  # 2 videos x 1 scribble (x 2 seeds)
    results = json.loads((out / "results.json").read_text())
    # The table's AUC is the mean of the per-session round AUCs, x100.
    sessions = results["sessions"]["oracle"]["worst"]
    expected = np.mean([round_auc(s["jf"], 3) for s in sessions]) * 100
    assert results["settings"]["oracle"]["Worst"]["auc"]["mean"] == pytest.approx(expected)
    assert all(len(s["jf"]) == 3 and len(s["frames"]) == 3 for s in sessions)
    # Worst never re-annotates while unannotated frames remain.
    assert all(len(set(s["frames"])) == 3 for s in sessions)
    assert (out / "jf_vs_round.png").stat().st_size > 1000


def test_missing_wild_estimator_evaluates_oracle_only_and_says_so(setup: dict[str, Path]) -> None:
    out = setup["base"] / "eval_oracle"
    main(
        [
            *common_args(setup),
            "--quality-checkpoint",
            str(setup["base"] / "none.pt"),
            "--out",
            str(out),
            "--strategies",
            "linspace,worst",
        ]
    )
    table = (out / "results.md").read_text()
    assert "WILD SETTING SKIPPED" in table and "none.pt" in table
    assert "| wild |" not in table and "| oracle | Worst |" in table
    # The last-round column is named after --num-rounds 3.
    assert "| AUC | J&F@3 |" in table and "J&F@8" not in table


def test_the_gain_ranker_by_name_with_one_checkpoint_per_setting(setup: dict[str, Path]) -> None:
    from vos_recommender.agent.ranker import GainRanker
    from vos_recommender.strategies import RankerStrategy

    for seed in (0, 1):
        GainRanker(seed=seed).save(setup["base"] / f"ranker{seed}.pt")
    out = setup["base"] / "eval_ranker"
    args = [*common_args(setup), "--quality-checkpoint", str(setup["quality"]), "--out", str(out)]
    ranker = str(setup["base"] / "ranker0.pt")
    wild = str(setup["base"] / "ranker1.pt")
    main(
        [
            *args,
            "--strategies",
            "ranker,farthest",
            "--paired-reference",
            "ranker",
            "--ranker",
            ranker,
            "--ranker-wild",
            wild,
        ]
    )
    table = (out / "results.md").read_text()
    assert "| oracle | Ranker |" in table and "| wild | Ranker |" in table
    results = json.loads((out / "results.json").read_text())
    assert "Ranker - Farthest" in results["paired"]["oracle"]
    # Each setting names the ranker it followed.
    assert f"Ranker (oracle): {ranker}." in table and f"Ranker (wild): {wild}." in table
    assert all(len(s["frames"]) == 3 for runs in results["sessions"].values() for s in runs["ranker"])
    assert RankerStrategy(ranker).model.config.layout == "context"
    with pytest.raises(ValueError, match="needs --ranker"):
        main([*args, "--strategies", "ranker"])


def test_a_mistyped_data_path_is_an_error_not_a_new_dataset(setup: dict[str, Path]) -> None:
    typo = setup["base"] / "davsi"
    args = [arg if arg != str(setup["data"]) else str(typo) for arg in common_args(setup)]
    with pytest.raises(FileNotFoundError, match=r"davsi.*--generate"):
        main([*args, "--out", str(setup["base"] / "eval_typo")])
    assert not typo.exists()


def test_summarise_statistics() -> None:
    sessions = [{"jf": [0.5, 0.6], "times": [10.0, 5.0]}, {"jf": [0.7, 0.8], "times": [10.0, 5.0]}]
    summary = summarise(sessions, num_rounds=2, max_time=60.0)
    aucs = np.array([round_auc([0.5, 0.6], 2), round_auc([0.7, 0.8], 2)]) * 100
    assert summary["auc"]["mean"] == pytest.approx(aucs.mean())
    assert summary["auc"]["std"] == pytest.approx(aucs.std(ddof=1))
    assert summary["auc"]["ci95"] == pytest.approx(12.706 * aucs.std(ddof=1) / np.sqrt(2), rel=1e-3)
    assert summary["jf_last"]["mean"] == pytest.approx(70.0)
    assert summary["jf_at_60s"]["mean"] == pytest.approx(70.0)  # both sessions end at 15 s
    assert summary["mean_curve"] == pytest.approx([60.0, 70.0])
    assert callable(run_session)


def test_summarise_reports_the_davis_form_and_names_the_per_sample_form() -> None:
    # The two-sequence example of tests/vos/test_metrics_auc.py: DAVIS 0.646, per-sample 0.733 (60 s budget).
    sessions = [
        {"jf": [0.4, 0.9], "times": [5.0, 10.0], "objects": 1},
        {"jf": [0.8, 0.8], "times": [20.0, 20.0], "objects": 2},
    ]
    summary = summarise(sessions, num_rounds=2, max_time=60.0)
    assert summary["time_auc"]["mean"] == pytest.approx(100 * 25.8333333 / 40)
    assert np.isnan(summary["time_auc"]["ci95"])  # one averaged curve: no spread over samples
    assert summary["davis_max_time"] == 40.0
    assert summary["jf_at_60s"]["mean"] == pytest.approx(100 * 5 / 6)
    assert summary["time_auc_per_sample"]["mean"] == pytest.approx(100 * (0.8 + 2 / 3) / 2)
    assert summary["jf_at_60s_per_sample"]["mean"] == pytest.approx(85.0)
    assert summary["davis_max_t"] is None


def test_summarise_applies_davis_time_out() -> None:
    # max_t = 12 s per object: A (1 object) is refused its second round (ends at 15 s > 12 s), B (2 objects)
    # its second too (40 s > 24 s); both keep their first J&F at no time. Averaged curve: 2/3 at 12.5 s;
    # budget 12 s x 1.5 objects = 18 s; AUC = (12.5 / 2 + 5.5) * (2/3) / 18.
    sessions = [
        {"jf": [0.4, 0.9], "times": [5.0, 10.0], "objects": 1},
        {"jf": [0.8, 0.8], "times": [20.0, 20.0], "objects": 2},
    ]
    summary = summarise(sessions, num_rounds=2, max_time=60.0, max_t=12.0)
    assert summary["davis_max_time"] == pytest.approx(18.0) and summary["davis_max_t"] == 12.0
    assert summary["time_auc"]["mean"] == pytest.approx(100 * (12.5 / 2 + 5.5) * (2 / 3) / 18)
    assert summary["jf_at_60s"]["mean"] == pytest.approx(100 * 2 / 3)
    # The round AUC and per-sample columns do not depend on the time-out.
    assert summary["auc"] == summarise(sessions, num_rounds=2, max_time=60.0)["auc"]
    # With sequence names the budget averages objects over distinct sequences (A twice: (1 + 2) / 2).
    named = [
        dict(sessions[0], sequence="a"),
        dict(sessions[0], sequence="a"),
        dict(sessions[1], sequence="b"),
    ]
    assert summarise(named, num_rounds=2, max_time=60.0, max_t=12.0)["davis_max_time"] == pytest.approx(18.0)
    with pytest.raises(ValueError, match="max_t"):
        summarise(sessions, num_rounds=2, max_time=60.0, max_t=-1.0)


def test_max_t_is_an_evaluation_setting_checked_when_parsed() -> None:
    from vos_recommender.config import parse_config
    from vos_recommender.evaluate import EvalConfig

    assert EvalConfig().max_t == 0.0  # no time-out: davisinteractive's default
    assert parse_config(EvalConfig, ["--max-t", "20"])[0].max_t == 20.0
    for bad in ("-3", "nan"):
        with pytest.raises(ValueError, match=r"max_t \(--max-t\)"):
            parse_config(EvalConfig, ["--max-t", bad])


def test_generate_writes_synthetic_videos_only_when_asked(setup: dict[str, Path], monkeypatch) -> None:
    import vos_recommender.data.generate as generate_module

    asked: list[Path] = []

    def fake_generate(root, *args, **kwargs):
        asked.append(Path(root))
        raise RuntimeError("generation reached")

    monkeypatch.setattr(generate_module, "generate_davis_dataset", fake_generate)
    target = setup["base"] / "fresh"
    args = [arg if arg != str(setup["data"]) else str(target) for arg in common_args(setup)]
    with pytest.raises(RuntimeError, match="generation reached"):
        main([*args, "--generate", "--out", str(setup["base"] / "eval_fresh")])
    assert asked == [target]
