"""The gain ranker: the context observation layout, the recorded gains, the ranker and its strategy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.vos.generated import seeded_estimator
from vos_recommender.agent.ranker import GainRanker, RankerConfig
from vos_recommender.envs.observation import (
    LAYOUTS,
    annotation_sides,
    build_observation,
    observation_space,
    split_observation,
)
from vos_recommender.session import InteractionSession
from vos_recommender.strategies import RankerStrategy, annotation_distance, build_strategy
from vos_recommender.training.gains import (
    GainSettings,
    load_gains,
    main,
    record,
    record_trajectory,
    reestimate,
)
from vos_recommender.training.ranker import fit, score_picks


# ------------------------------------------------------------------ the context layout
def test_context_layout_computed_by_hand():
    quality = [0.2, 0.5, 0.9, 0.4, 0.1]
    counts = [0, 1, 0, 0, 2]  # frames 1 and 4 annotated; three annotations so far
    obs = build_observation(quality, counts, max_frames=6, max_count=8, layout="context")
    assert obs.shape == (8, 6) and obs.dtype == np.float32
    expected = np.array(
        [
            [0.2, 0.5, 0.9, 0.4, 0.1, 0],  # quality
            [0, 1, 0, 0, 2, 0],  # counts
            [1, 0, 1 / 5, 2 / 5, 0, 0],  # nearest annotation before: none for frame 0
            [1 / 5, 0, 2 / 5, 1 / 5, 0, 0],  # nearest annotation after
            [0, 0.25, 0.5, 0.75, 1, 0],  # position
            [3 / 8] * 5 + [0],  # round
            [0.3, 0.35, -0.05, -0.4, -0.3, 0],  # (q[i+1] - q[i-1]) / 2, one-sided at the ends
            [1, 1, 1, 1, 1, 0],  # validity
        ],
        dtype=np.float32,
    )
    np.testing.assert_allclose(obs, expected, atol=1e-6)
    assert observation_space(6, 8, "context").contains(obs)
    features, valid = split_observation(obs[None])
    assert features.shape == (1, 6, 7) and valid[0].tolist() == [True] * 5 + [False]


def test_context_layout_sides_and_errors():
    left, right = annotation_sides([0, 0, 3, 0])
    assert left.tolist() == [-1, -1, 0, 1] and right.tolist() == [2, 1, 0, -1]
    # The paper layout is untouched by the layout argument.
    paper = build_observation([0.5, 0.2], [1, 0], max_frames=3, max_count=4)
    np.testing.assert_array_equal(paper, build_observation([0.5, 0.2], [1, 0], 3, 4, layout="paper"))
    assert set(LAYOUTS) == {"paper", "context"}
    with pytest.raises(ValueError, match="max_count"):
        build_observation([0.5], [1], layout="context")
    with pytest.raises(ValueError, match="layout"):
        build_observation([0.5], [1], max_count=3, layout="distances")


def test_environment_selects_the_layout(video):
    from vos_recommender.envs import FrameRecommendationEnv

    env = FrameRecommendationEnv(
        {"backend": "flow", "num_rounds": 3, "goal_reward": False, "episode.observation": "context"},
        videos=[video],
    )
    obs, info = env.reset(seed=0)
    assert env.observation_space.shape == (8, video.num_frames) and env.observation_space.contains(obs)
    counts = np.bincount(info["annotated_frames"], minlength=video.num_frames)
    np.testing.assert_array_equal(
        obs, build_observation(info["quality"], counts, video.num_frames, max_count=3, layout="context")
    )
    with pytest.raises(ValueError, match="episode.observation"):
        FrameRecommendationEnv({"backend": "flow", "episode.observation": "nope"}, videos=[video])


# ------------------------------------------------------------------ recorded gains
@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory):
    from vos_recommender.data.generate import generate_davis_dataset

    return generate_davis_dataset(
        tmp_path_factory.mktemp("gains_data"),
        num_train=1,
        num_val=0,
        num_frames=5,
        height=40,
        width=56,
        max_objects=1,
        seed=3,
    )


@pytest.fixture(scope="module")
def video(dataset_root):
    from vos_recommender.data.davis import DavisDataset

    return DavisDataset(dataset_root, split="train")[0]


def brute_force_gains(video, corrections: list[int]) -> np.ndarray:
    """A fresh session per frame: round 1, the corrections so far, then that frame's round."""
    gains = []
    for frame in range(video.num_frames):
        session = InteractionSession("flow")
        before = session.start(video)
        for earlier in corrections:
            before = session.correct(earlier)
        gains.append(float(session.correct(frame).jf.mean()) - float(before.jf.mean()))
    return np.asarray(gains)


def test_recorded_gains_equal_a_brute_force_probe_loop(video, tmp_path):
    session = InteractionSession("flow", cache_dir=tmp_path / "cache")
    states = record_trajectory(session, video, 0, "farthest", 3, np.random.default_rng(0))
    assert [s["round"] for s in states] == [1, 2]
    for state in states:
        np.testing.assert_allclose(
            state["gains"], brute_force_gains(video, state["annotated"][1:]), atol=1e-12
        )
        assert (
            state["counts"].tolist() == np.bincount(state["annotated"], minlength=video.num_frames).tolist()
        )
        assert state["estimate"] is None  # the oracle session: the quality is the true J&F
    # The farthest rule drove the trajectory: its second state annotates the frame farthest from the first.
    first = states[0]["annotated"][0]
    assert states[1]["annotated"][1] == int(np.argmax(annotation_distance(video.num_frames, [first])))


def test_gain_file_round_trip(dataset_root, tmp_path):
    out, made = record_small(dataset_root, tmp_path)
    assert made["states"] == 4 and made["probes"] == 4 * 5
    data = load_gains(out)
    assert data["gains"].shape == (4, 5) and np.isfinite(data["gains"]).all()
    assert np.isnan(data["estimate"]).all() and data["valid"].all()
    assert data["driver_names"].tolist() == ["greedy", "random"] and data["driver"].tolist() == [0, 0, 1, 1]
    # The greedy driver follows the largest gain of its first state.
    assert data["annotated"][1, 1] == int(np.argmax(data["gains"][0]))
    with pytest.raises(ValueError, match="drivers"):
        GainSettings(drivers="greedy,bestest")
    with pytest.raises(FileNotFoundError, match="no gains file"):
        load_gains(tmp_path / "missing.npz")


def record_small(dataset_root, tmp_path, **settings) -> tuple[Path, dict]:
    """A recording of the tiny dataset (greedy and random trajectories of 3 rounds: 4 states) in ``tmp_path``."""
    out = tmp_path / "gains.npz"
    made = record(
        GainSettings(
            data=str(dataset_root),
            drivers="greedy,random",
            num_rounds=3,
            cache_dir=str(tmp_path / "cache"),
            out=str(out),
            verbose=0,
            **settings,
        )
    )
    return out, made


def test_reestimate_replays_the_states_and_changes_only_the_estimate(dataset_root, tmp_path):
    first, second = seeded_estimator(tmp_path / "q0.pt", 0), seeded_estimator(tmp_path / "q1.pt", 1)
    recorded, _ = record_small(dataset_root, tmp_path, quality_checkpoint=first)
    original = load_gains(recorded)
    assert np.isfinite(original["estimate"]).all() and original["estimate"].std() > 0
    # With the recording's estimator the estimate comes back unchanged.
    reestimate(recorded, first, tmp_path / "same.npz", verbose=0)
    np.testing.assert_allclose(load_gains(tmp_path / "same.npz")["estimate"], original["estimate"], atol=1e-6)
    # With another one only the estimate (and the settings naming it) changes; through the command line.
    main(["--reestimate", str(recorded), "--quality-checkpoint", second, "--out", str(tmp_path / "new.npz")])
    new = load_gains(tmp_path / "new.npz")
    assert np.abs(new["estimate"] - original["estimate"]).max() > 1e-4
    for key in original:
        if key not in ("estimate", "settings"):
            np.testing.assert_array_equal(new[key], original[key], err_msg=key)
    settings = json.loads(str(new["settings"]))
    assert settings["quality_checkpoint"] == second and settings["reestimated_from"] == str(recorded)
    # A changed backend setting no longer replays the recorded J&F: refused, nothing written.
    raw = dict(np.load(recorded))
    changed = json.loads(str(raw["settings"]))
    changed["backend_kwargs"] = json.dumps({"refine": None})
    raw["settings"] = np.asarray(json.dumps(changed))
    np.savez(tmp_path / "changed.npz", **raw)
    with pytest.raises(RuntimeError, match="replays to another J&F"):
        reestimate(tmp_path / "changed.npz", second, tmp_path / "broken.npz", verbose=0)
    assert not (tmp_path / "broken.npz").exists()
    with pytest.raises(FileNotFoundError, match="--quality-checkpoint"):
        reestimate(recorded, str(tmp_path / "missing.pt"), tmp_path / "x.npz")
    with pytest.raises(ValueError, match="one gains file"):
        reestimate(f"{recorded},{recorded}", second, tmp_path / "x.npz")
    with pytest.raises(SystemExit, match="needs --quality-checkpoint"):
        main(["--reestimate", str(recorded), "--out", str(tmp_path / "x.npz")])


def _gain_file(path, width, frames, drivers, driver, rounds=3):
    """A small gains file of one video of ``frames`` frames padded to ``width``, one state per driver index."""
    states = len(driver)
    valid = np.zeros((states, width), bool)
    valid[:, :frames] = True
    gains = np.where(valid, 0.1, np.nan).astype(np.float32)
    np.savez(
        path,
        jf=np.where(valid, 0.5, 0.0).astype(np.float32),
        estimate=np.where(valid, 0.4, np.nan).astype(np.float32),
        counts=np.zeros((states, width), np.int16),
        gains=gains,
        valid=valid,
        annotated=np.full((states, rounds), -1, np.int16),
        round=np.zeros(states, np.int16),
        scribble=np.zeros(states, np.int16),
        video=np.zeros(states, np.int32),
        driver=np.asarray(driver, np.int16),
        video_names=np.asarray(["synth-000"]),
        driver_names=np.asarray(drivers),
        num_rounds=np.asarray(rounds),
        settings=np.asarray("{}"),
    )


def test_gain_files_of_different_video_lengths_merge(tmp_path):
    short, long = tmp_path / "short.npz", tmp_path / "long.npz"
    _gain_file(short, width=5, frames=5, drivers=["random", "farthest"], driver=[0, 1])
    _gain_file(long, width=7, frames=6, drivers=["greedy", "random"], driver=[0, 1, 1])
    data = load_gains(f"{short},{long}")
    assert data["gains"].shape == (5, 7)
    # The shorter file's frames past its width are padded like a recording pads its shorter videos.
    assert data["valid"].sum(axis=1).tolist() == [5, 5, 6, 6, 6]
    assert np.isnan(data["gains"][:2, 5:]).all() and np.isnan(data["estimate"][:2, 5:]).all()
    assert (data["jf"][:2, 5:] == 0).all() and (data["counts"][:2, 5:] == 0).all()
    np.testing.assert_allclose(data["gains"][data["valid"]], 0.1)
    # Videos are numbered one after another, drivers indexed into the union of the names.
    assert data["video"].tolist() == [0, 0, 1, 1, 1]
    assert data["driver_names"].tolist() == ["random", "farthest", "greedy"]
    assert [data["driver_names"][d] for d in data["driver"]] == [
        "random",
        "farthest",
        "greedy",
        "random",
        "random",
    ]
    other = tmp_path / "other.npz"
    _gain_file(other, width=5, frames=5, drivers=["random"], driver=[0], rounds=4)
    with pytest.raises(ValueError, match="differ in rounds"):
        load_gains(f"{short},{other}")


# ------------------------------------------------------------------ the ranker
def planted_states(count: int, rng: np.random.Generator) -> tuple[list, list]:
    """States of random videos and annotations whose gain is the distance to the nearest annotation."""
    states, gains = [], []
    for _ in range(count):
        n = int(rng.integers(8, 13))
        annotated = list(rng.choice(n, size=int(rng.integers(1, 4)), replace=False))
        quality = rng.uniform(0.2, 0.9, n)
        counts = np.bincount(annotated, minlength=n)
        states.append((quality, counts, annotated))
        gains.append(annotation_distance(n, annotated) / n)
    return states, gains


def test_ranker_learns_a_planted_rule_and_ranks_by_it():
    rng = np.random.default_rng(0)
    ranker = GainRanker(RankerConfig(recurrent=False, embed_dim=16, head_dim=16), seed=0)
    states, gains = planted_states(100, rng)
    width = 12
    obs = np.stack([ranker.observation(q, h, max_frames=width) for q, h, _ in states])
    padded = np.full((len(gains), width), np.nan)
    for row, gain in enumerate(gains):
        padded[row, : len(gain)] = gain
    history = fit(ranker, obs, padded, epochs=200, lr=1e-2)
    assert history[-1] < 0.1 * history[0]
    test_states, test_gains = planted_states(40, rng)
    strategy = RankerStrategy(ranker)
    picked = [strategy.recommend(q, h, a) for q, h, a in test_states]
    # Every pick is a farthest frame (or within one frame's gain of it).
    regrets = [gain.max() - gain[frame] for (gain, frame) in zip(test_gains, picked)]
    assert np.mean(regrets) < 0.02 and np.mean(np.asarray(regrets) == 0) >= 0.85


def test_score_picks():
    gains = np.array([[0.1, 0.3, 0.2], [0.0, 0.05, 0.1]])
    assert score_picks(np.array([1, 0]), gains) == pytest.approx({"gain": 15.0, "regret": 5.0})


# ------------------------------------------------------------------ the strategy by name
def test_ranker_strategy_by_name_loads_a_checkpoint(tmp_path):
    ranker = GainRanker(seed=1)
    path = tmp_path / "ranker.pt"
    ranker.save(path)
    strategy = build_strategy("ranker", ranker=str(path))
    assert isinstance(strategy, RankerStrategy)
    quality, counts, annotated = np.array([0.9, 0.4, 0.2, 0.6]), np.array([1, 0, 0, 0]), [0]
    scores = strategy.scores(quality, counts, annotated)
    np.testing.assert_allclose(scores, ranker.scores(quality, counts))
    assert strategy.recommend(quality, counts, annotated) == int(np.argmax(scores))
    assert "expected to help most" in strategy.reason(2, quality, counts, annotated)
    with pytest.raises(ValueError, match="needs a trained gain ranker"):
        build_strategy("ranker")
    with pytest.raises(FileNotFoundError, match="ranker checkpoint not found"):
        GainRanker.load(tmp_path / "missing.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.pt"):
        GainRanker.load(tmp_path / "bad.pt")
