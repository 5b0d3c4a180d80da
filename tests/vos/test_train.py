"""python -m vos_recommender.train: settings parsing, run folder, resume equality, on a tiny generated dataset."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest
import torch

from tests.vos.test_agent_toy_env import single_torch_thread  # noqa: F401  (autouse fixture)
from vos_recommender.agent import RecurrentDQN
from vos_recommender.config import TrainConfig, field_help, parse_config, settings_from_dict
from vos_recommender.train import NothingToResumeError, main, train
from vos_recommender.utils.nested_config import leaves, to_dict


def test_every_setting_has_a_description() -> None:
    helps = field_help(TrainConfig)
    for field in dataclasses.fields(TrainConfig):
        assert helps.get(field.name), field.name
    for leaf in leaves(TrainConfig):
        assert field_help(leaf.owner).get(leaf.name), leaf.path


def test_defaults_are_the_released_hyper_parameters() -> None:
    config, explicit = parse_config(TrainConfig, [])
    assert explicit == {}
    assert (config.lr, config.weight_decay, config.grad_clip, config.batch_size) == (5e-6, 5e-4, 1.0, 32)
    assert (config.gamma, config.reward_scale, config.target_update_prob) == (0.95, 0.1, 0.05)
    assert (config.exploration_final_eps, config.exploration_amplitude, config.exploration_decay) == (
        0.25,
        0.45,
        1000,
    )
    assert (config.warmup_epochs, config.env.episode.num_rounds, config.env.session.quality) == (
        10.0,
        5,
        "oracle",
    )
    assert (config.net.embed_dim, config.net.lstm_dim, config.net.head_dim) == (128, 128, 128)
    # The training command's environment defaults (they differ from the environment's own: 8 rounds, 30 runs).
    assert config.env.reward.num_random_runs == 10 and config.env.reward.mode == "seed"
    assert (config.env.session.cache_dir, config.env.session.cache_budget) == ("data/cache/vos", "1GB")
    assert (config.env.episode.data_root, config.env.episode.split) == ("data/davis_synth", "train")
    assert config.env.reward.stats_dir == "data/cache/goal_stats"


def test_nested_settings_take_dotted_flags_and_the_flat_flags_are_aliases() -> None:
    dotted, explicit = parse_config(
        TrainConfig,
        ["--env.session.backend", "flow", "--env.episode.num-rounds", "3", "--env.reward.mode", "released"],
    )
    assert explicit == {
        "env.session.backend": "flow",
        "env.episode.num_rounds": 3,
        "env.reward.mode": "released",
    }
    flat, flat_explicit = parse_config(
        TrainConfig, ["--backend", "flow", "--num-rounds", "3", "--reward-form", "released"]
    )
    assert flat == dotted and flat_explicit == explicit
    config, _ = parse_config(
        TrainConfig,
        [
            "--data",
            "elsewhere",
            "--cache-dir",
            "",
            "--backend-kwargs",
            '{"beta": 900.0}',
            "--no-env.reward.goal-reward",
        ],
    )
    assert config.env.episode.data_root == "elsewhere" and config.env.session.cache_dir is None
    assert config.env.session.backend_kwargs == {"beta": 900.0} and config.env.reward.goal_reward is False
    with pytest.raises(SystemExit):
        parse_config(TrainConfig, ["--backend-kwargs", "[1, 2]"])
    with pytest.raises(ValueError, match="session.backend: unknown VOS backend 'nope'"):
        parse_config(TrainConfig, ["--env.session.backend", "nope"])
    with pytest.raises(ValueError, match="reward.mode must be one of .* got 'dense'"):
        parse_config(TrainConfig, ["--reward-form", "dense"])
    with pytest.raises(ValueError, match="quality_checkpoint"):
        parse_config(TrainConfig, ["--quality", "wild"])
    config, _ = parse_config(TrainConfig, ["--quality", "wild", "--quality-checkpoint", "q.pt"])
    assert config.env.session.quality_arguments() == {"checkpoint": "q.pt"}


def test_the_q_network_settings_are_one_nested_config_with_the_flat_flags_as_aliases() -> None:
    dotted, explicit = parse_config(TrainConfig, ["--net.embed_dim", "8", "--net.init-from", "r.pt"])
    assert explicit == {"net.embed_dim": 8, "net.init_from": "r.pt"}
    flat, flat_explicit = parse_config(TrainConfig, ["--embed-dim", "8", "--init-from", "r.pt"])
    assert flat == dotted and flat_explicit == explicit
    assert dotted.net.policy_kwargs() == {"embed_dim": 8, "lstm_dim": 128, "head_dim": 128}
    # A run folder of an earlier version saved the widths flat: they still load.
    old = settings_from_dict(TrainConfig, {"embed_dim": 16, "lstm_dim": 12, "init_from": "", "lr": 1e-3})
    assert (old.net.embed_dim, old.net.lstm_dim, old.net.head_dim, old.lr) == (16, 12, 128, 1e-3)
    with pytest.raises(ValueError, match="net.lstm_dim .*must be >= 1, got 0"):
        parse_config(TrainConfig, ["--lstm-dim", "0"])


def test_help_lists_the_dotted_flags_with_their_aliases(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        parse_config(TrainConfig, ["--help"])
    text = capsys.readouterr().out
    assert "--env.session.backend STR, --backend STR" in text
    assert "--env.reward.mode STR, --reward-mode STR, --reward-form STR" in text or (
        "--env.reward.mode STR, --reward-form STR" in text
    )
    assert "(default: 5)" in text  # the training default of env.episode.num_rounds


def test_config_files_nested_dotted_and_flat(tmp_path: Path) -> None:
    nested = tmp_path / "nested.yaml"
    nested.write_text("env:\n  episode:\n    num_rounds: 3\n  reward:\n    mode: released\nlr: 0.001\n")
    flat = tmp_path / "flat.json"
    flat.write_text(
        json.dumps({"num_rounds": 3, "reward_form": "released", "lr": 0.001, "backend_kwargs": "{}"})
    )
    dotted = tmp_path / "dotted.yaml"
    dotted.write_text("env.episode.num-rounds: 3\nenv.reward.mode: released\nlr: 0.001\n")
    configs = [parse_config(TrainConfig, ["--config", str(path)])[0] for path in (nested, flat, dotted)]
    assert configs[0] == configs[1] == configs[2]
    assert configs[0].env.episode.num_rounds == 3 and configs[0].env.reward.num_random_runs == 10
    # The command line overrides one key of a section the file sets.
    config, _ = parse_config(TrainConfig, ["--config", str(nested), "--env.reward.goal-baseline", "mean"])
    assert config.env.reward.mode == "released" and config.env.reward.goal_baseline == "mean"
    (tmp_path / "bad.yaml").write_text("env:\n  episode:\n    rounds: 3\n")
    with pytest.raises(ValueError, match="bad.yaml: unknown setting env.episode.rounds"):
        parse_config(TrainConfig, ["--config", str(tmp_path / "bad.yaml")])
    (tmp_path / "badvalue.yaml").write_text("env:\n  reward:\n    num_random_runs: many\n")
    with pytest.raises(ValueError, match="badvalue.yaml: env.reward.num_random_runs must be int, got 'many'"):
        parse_config(TrainConfig, ["--config", str(tmp_path / "badvalue.yaml")])
    (tmp_path / "both.json").write_text(json.dumps({"num_rounds": 3, "env.episode.num_rounds": 4}))
    with pytest.raises(ValueError, match="num_rounds and env.episode.num_rounds are the same setting"):
        parse_config(TrainConfig, ["--config", str(tmp_path / "both.json")])


def test_command_line_overrides_config_file(tmp_path: Path) -> None:
    yaml_file = tmp_path / "settings.yaml"
    yaml_file.write_text("lr: 0.001\nbatch_size: 8\nreward-form: released\nprogress_bar: false\n")
    config, explicit = parse_config(
        TrainConfig, ["--config", str(yaml_file), "--lr", "1e-4", "--n-envs", "2"]
    )
    assert config.lr == 1e-4 and config.batch_size == 8 and config.env.reward.mode == "released"
    assert config.n_envs == 2 and config.progress_bar is False
    assert explicit == {"lr": 1e-4, "n_envs": 2}
    json_file = tmp_path / "settings.json"
    json_file.write_text(json.dumps({"gamma": 0.5, "total_timesteps": 10}))
    config, _ = parse_config(TrainConfig, ["--config", str(json_file), "--gamma", "0.9", "--no-progress-bar"])
    assert config.gamma == 0.9 and config.total_timesteps == 10 and config.progress_bar is False
    (tmp_path / "bad.json").write_text(json.dumps({"learning_rate": 0.1}))
    with pytest.raises(ValueError, match="learning_rate"):
        parse_config(TrainConfig, ["--config", str(tmp_path / "bad.json")])
    (tmp_path / "badtype.yaml").write_text("batch_size: many\n")
    with pytest.raises(ValueError, match="batch_size"):
        parse_config(TrainConfig, ["--config", str(tmp_path / "badtype.yaml")])
    with pytest.raises(FileNotFoundError):
        parse_config(TrainConfig, ["--config", str(tmp_path / "missing.yaml")])
    with pytest.raises(SystemExit):
        parse_config(TrainConfig, ["--batch-size", "many"])


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vos_recommender.data.generate import generate_davis_dataset

    root = tmp_path_factory.mktemp("davis") / "tiny"
    generate_davis_dataset(
        root, num_train=2, num_val=1, num_frames=6, height=40, width=64, max_objects=1, seed=0
    )
    return root


def tiny_args(root: Path, runs: Path, name: str, steps: int) -> list[str]:
    cache = runs.parent / "cache"
    return [
        "--data",
        str(root),
        "--runs-dir",
        str(runs),
        "--name",
        name,
        "--cache-dir",
        str(cache / "vos"),
        "--stats-dir",
        str(cache / "stats"),
        "--num-rounds",
        "3",
        "--num-random-runs",
        "2",
        "--warmup-epochs",
        "1",
        "--total-timesteps",
        str(steps),
        "--checkpoint-freq",
        "4",
        "--resume-every",
        "0",
        "--lr",
        "1e-3",
        "--batch-size",
        "4",
        "--embed-dim",
        "8",
        "--lstm-dim",
        "8",
        "--head-dim",
        "8",
        "--eval-freq",
        "4",
        "--eval-episodes",
        "1",
        "--no-progress-bar",
        "--verbose",
        "0",
    ]


def test_resume_without_a_run_or_before_its_first_state_says_what_to_do(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    with pytest.raises(SystemExit, match=r"no run to resume at .*nothing.*check --name and --runs-dir"):
        main(["--resume", "--name", "nothing", "--runs-dir", str(runs)])
    # A run stopped before its first resume state: its settings and a half-written state folder only.
    run = runs / "early"
    (run / "resume" / "state-000000004-abc").mkdir(parents=True)
    data = tmp_path / "data"  # missing, and generated if training got as far as its data
    config = TrainConfig(name="early", runs_dir=str(runs))
    settings = to_dict(dataclasses.replace(config, env=config.env.replace({"episode.data_root": str(data)})))
    (run / "config.json").write_text(json.dumps(settings))
    args = ["--resume", "--name", "early", "--runs-dir", str(runs)]
    with pytest.raises(
        SystemExit, match=r"no resume state .*latest\.json missing.*Start it again with --overwrite"
    ):
        main(args)
    with pytest.raises(NothingToResumeError):  # a FileNotFoundError for callers of train()
        train(parse_config(TrainConfig, args)[0])
    assert not data.exists() and (run / "resume" / "state-000000004-abc").is_dir()  # stopped before anything
    (run / "resume" / "latest.json").write_text("{not json")
    with pytest.raises(SystemExit, match=r"unreadable resume pointer.*--overwrite"):
        main(args)


def params(path: Path) -> list[torch.Tensor]:
    return [p.detach().clone() for p in RecurrentDQN.load(path).policy.parameters()]


def test_train_writes_run_folder_and_resume_matches_uninterrupted_run(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    main(tiny_args(tiny_dataset, runs, "full", 8))
    run = runs / "full"
    for name in (
        "config.json",
        "config.yaml",
        "progress.csv",
        "episodes.csv",
        "final_model.zip",
        "summary.json",
    ):
        assert (run / name).is_file(), name
    assert list(run.glob("events.out.tfevents*"))
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "model_4_steps.zip",
        "model_8_steps.zip",
    ]
    assert json.loads((run / "config.json").read_text())["total_timesteps"] == 8
    summary = json.loads((run / "summary.json").read_text())
    assert summary["total_timesteps"] == 8 and summary["learning_curve"]
    header = (run / "progress.csv").read_text().splitlines()[0]
    assert "train/loss" in header and "rollout/ep_rew_mean" in header

    # Starting over an existing run needs --resume or --overwrite.
    with pytest.raises(FileExistsError):
        main(tiny_args(tiny_dataset, runs, "full", 8))

    # Half, then resume for the other half (episodes are 2 steps: the split is at an episode boundary).
    main(tiny_args(tiny_dataset, runs, "split", 4))
    main(["--resume", "--name", "split", "--runs-dir", str(runs), "--total-timesteps", "8", "--verbose", "0"])
    assert RecurrentDQN.load(runs / "split" / "final_model.zip").num_timesteps == 8
    for a, b in zip(params(run / "final_model.zip"), params(runs / "split" / "final_model.zip")):
        assert torch.equal(a, b)
    assert json.loads((runs / "split" / "config.json").read_text())["total_timesteps"] == 8
    with pytest.raises(SystemExit, match="no run to resume"):
        main(["--resume", "--name", "nothing", "--runs-dir", str(runs)])

    # A run folder of an earlier version stores the flat settings: it resumes the same way.
    main(tiny_args(tiny_dataset, runs, "flat", 4))
    saved = runs / "flat" / "config.json"
    saved.write_text(json.dumps(old_flat_config(json.loads(saved.read_text()))))
    main(["--resume", "--name", "flat", "--runs-dir", str(runs), "--total-timesteps", "8", "--verbose", "0"])
    for a, b in zip(params(run / "final_model.zip"), params(runs / "flat" / "final_model.zip")):
        assert torch.equal(a, b)
    upgraded = json.loads(saved.read_text())
    assert upgraded["env"]["episode"]["num_rounds"] == 3 and "num_rounds" not in upgraded
    assert upgraded["net"]["embed_dim"] == 8 and "embed_dim" not in upgraded


def old_flat_config(nested: dict) -> dict:
    """The ``config.json`` the flat settings of earlier versions held for the same run."""
    flat = {key: value for key, value in nested.items() if key not in ("env", "net")}
    flat.update(nested["net"])  # the Q-network's widths and init_from were flat fields too
    session, episode, reward = (nested["env"][key] for key in ("session", "episode", "reward"))
    flat.update(
        data=episode["data_root"],
        split=episode["split"],
        backend=session["backend"],
        backend_kwargs=json.dumps(session["backend_kwargs"]),
        cache_dir=session["cache_dir"] or "",
        cache_budget=session["cache_budget"],
        stats_dir=reward["stats_dir"] or "",
        quality=session["quality"],
        quality_checkpoint=session["quality_checkpoint"],
        num_rounds=episode["num_rounds"],
        max_frames=episode["max_frames"],
        reward_form=reward["mode"],
        goal_baseline=reward["goal_baseline"],
        num_random_runs=reward["num_random_runs"],
    )
    assert len(flat) == 49  # every field of the flat TrainConfig
    return flat


@pytest.mark.slow
def test_train_with_subprocess_environments(tiny_dataset: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    main([*tiny_args(tiny_dataset, runs, "parallel", 8), "--n-envs", "2"])
    model = RecurrentDQN.load(runs / "parallel" / "final_model.zip")
    assert model.num_timesteps == 8 and model.n_envs == 2


def episode_steps(run: Path) -> list[str]:
    with (run / "episodes.csv").open() as stream:
        return [row["timesteps"] for row in csv.DictReader(stream)]


def test_resume_after_a_kill_rewinds_the_logs_and_removes_half_written_files(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    main(tiny_args(tiny_dataset, runs, "full", 8))
    main(tiny_args(tiny_dataset, runs, "killed", 4))  # the resume state is at step 4
    run = runs / "killed"
    # What a process killed at step 7 leaves: a log line after the state, a line cut short, half-written
    # temporary files and an unfinished state folder.
    with (run / "episodes.csv").open("a") as stream:
        stream.write("6,0.5,2,0.5,0.5,video\n8,0.1,")
    (run / ".final_model.zip.abc.tmp.zip").write_bytes(b"half")
    (run / "resume" / ".replay_buffer.pkl.abc.tmp.pkl").write_bytes(b"half")
    unfinished = run / "resume" / "state-000000006-abc"
    unfinished.mkdir()
    (unfinished / "model.zip").write_bytes(b"half")

    main(
        ["--resume", "--name", "killed", "--runs-dir", str(runs), "--total-timesteps", "8", "--verbose", "0"]
    )
    assert episode_steps(run) == episode_steps(runs / "full")
    summary = json.loads((run / "summary.json").read_text())
    assert (
        summary["learning_curve"]
        == json.loads((runs / "full" / "summary.json").read_text())["learning_curve"]
    )
    assert not list(run.rglob(".*.tmp*")) and not unfinished.exists()
    # Starting the run afresh (--overwrite) keeps nothing of the old logs or resume states.
    main([*tiny_args(tiny_dataset, runs, "killed", 4), "--overwrite"])
    assert episode_steps(run) == [step for step in episode_steps(runs / "full") if int(step) <= 4]
    states = [p for p in (run / "resume").iterdir() if p.is_dir()]
    assert len(states) == 1 and json.loads((run / "resume" / "latest.json").read_text())["num_timesteps"] == 4
