"""Bad inputs give clear errors naming the culprit; the environment runs in SB3's vectorised wrappers."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest

from vos_recommender.data.davis import write_mask
from vos_recommender.envs import EnvConfig, EpisodeConfig, FrameRecommendationEnv, RewardConfig

SEQ = "synth-000"


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory):
    from vos_recommender.data.generate import generate_davis_dataset

    return generate_davis_dataset(
        tmp_path_factory.mktemp("inputs_data"),
        num_train=2,
        num_val=0,
        num_frames=6,
        height=48,
        width=64,
        max_objects=2,
        seed=11,
    )


@pytest.fixture
def root(dataset_root, tmp_path):
    copy = tmp_path / "davis"
    shutil.copytree(dataset_root, copy)
    return copy


@pytest.fixture(scope="module")
def videos(dataset_root):
    from vos_recommender.data.davis import DavisDataset

    dataset = DavisDataset(dataset_root, split="train")
    return [dataset[i] for i in range(len(dataset.sequences))]


def _env(tmp_path, videos=None, **settings):
    """An environment whose settings are given by their flat names."""
    defaults = dict(num_rounds=3, num_random_runs=2, stats_dir=tmp_path / "stats")
    return FrameRecommendationEnv({**defaults, **settings}, videos=videos)


def test_missing_frame_file_is_named(root, tmp_path):
    (root / "JPEGImages" / "480p" / SEQ / "00003.jpg").unlink()
    with pytest.raises(ValueError, match=rf"{SEQ}.*5 frames.*6 annotations"):
        _env(tmp_path, data_root=root)


def test_missing_annotation_file_is_named(root, tmp_path):
    (root / "Annotations" / "480p" / SEQ / "00002.png").unlink()
    with pytest.raises(ValueError, match=rf"{SEQ}.*6 frames.*5 annotations"):
        _env(tmp_path, data_root=root)
    shutil.rmtree(root / "Annotations" / "480p" / SEQ)
    with pytest.raises(FileNotFoundError, match=rf"Annotations/480p/{SEQ}"):
        _env(tmp_path, data_root=root)


def test_missing_dataset_root_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        _env(tmp_path, data_root=tmp_path / "nowhere")


def test_frame_and_mask_size_mismatch_is_named(root, tmp_path, videos):
    path = root / "Annotations" / "480p" / SEQ / "00001.png"
    write_mask(path, np.zeros((40, 64), np.uint8))
    with pytest.raises(ValueError, match=r"annotation .*00001\.png is 64x40 but frame .*00001\.jpg is 64x48"):
        _env(tmp_path, data_root=root)
    # The same check for videos given in memory.
    bad = dataclasses.replace(videos[0], masks=videos[0].masks[:, :40])
    with pytest.raises(ValueError, match=rf"video '{videos[0].name}': masks are \(6, 40, 64\)"):
        _env(tmp_path, videos=[bad])


def test_corrupt_frame_is_named(root, tmp_path):
    (root / "JPEGImages" / "480p" / SEQ / "00004.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match=r"cannot read frame .*00004\.jpg"):
        _env(tmp_path, data_root=root)


def test_video_without_objects_is_named(root, tmp_path, videos):
    for path in (root / "Annotations" / "480p" / SEQ).glob("*.png"):
        write_mask(path, np.zeros((48, 64), np.uint8))
    with pytest.raises(ValueError, match=f"video '{SEQ}' has no annotated objects"):
        _env(tmp_path, data_root=root)
    empty = dataclasses.replace(videos[0], masks=np.zeros_like(videos[0].masks), num_objects=0)
    with pytest.raises(ValueError, match="no annotated objects"):
        _env(tmp_path, videos=[empty])


def test_unknown_backend_and_quality_names(tmp_path, videos):
    with pytest.raises(ValueError, match="session.backend: unknown VOS backend 'nope'.*flow"):
        _env(tmp_path, videos=videos, backend="nope")
    with pytest.raises(ValueError, match="session.backend: unknown VOS backend 'nope'"):
        _env(tmp_path, videos=videos, backend="nope", cache_dir=tmp_path / "cache")
    with pytest.raises(ValueError, match="session.quality: unknown quality source 'psychic'"):
        _env(tmp_path, videos=videos, quality="psychic")


def test_out_of_range_actions_name_the_action(tmp_path, videos):
    env = _env(tmp_path, videos=videos, max_frames=8)
    env.reset(seed=0)
    for action, message in (
        (8, "action 8 is outside"),
        (-3, "action -3 is outside"),
        (6, "action 6 is a padded"),
    ):
        with pytest.raises(ValueError, match=message):
            env.step(action)
    with pytest.raises(ValueError, match="not a frame index"):
        env.step("three")
    with pytest.raises(KeyError, match="unknown video 'missing'"):
        env.reset(options={"video": "missing"})
    with pytest.raises(IndexError, match="has 3 scribbles, asked for 5"):
        env.reset(options={"video": videos[0].name, "scribble": 5})


def _make(videos, stats_dir, seed):
    def build():
        import vos_recommender  # noqa: F401

        config = EnvConfig(
            episode=EpisodeConfig(num_rounds=3, max_frames=8),
            reward=RewardConfig(num_random_runs=2, stats_dir=str(stats_dir)),
        )
        env = FrameRecommendationEnv(config, videos=videos)
        env.reset(seed=seed)
        return env

    return build


def _drive(vec, num_steps=4):
    obs = vec.reset()
    assert obs.shape == (2, 3, 8) and obs.dtype == np.float32
    masks = np.stack(vec.env_method("action_masks"))
    assert masks.shape == (2, 8) and masks[:, :6].all() and not masks[:, 6:].any()
    dones_seen = 0
    for step in range(num_steps):
        actions = np.array([step % 6, (step + 3) % 6])
        obs, rewards, dones, infos = vec.step(actions)
        assert obs.shape == (2, 3, 8) and rewards.shape == (2,) and dones.shape == (2,)
        assert all(info["action_mask"].shape == (8,) for info in infos)
        for done, info in zip(dones, infos):
            if done:
                dones_seen += 1
                assert info["terminal_observation"].shape == (3, 8)
                assert "reward_goal" in info
    assert dones_seen == 4  # 3 rounds = 2 actions per episode: both envs finished twice
    return obs


def test_dummy_vec_env(tmp_path, videos):
    from stable_baselines3.common.vec_env import DummyVecEnv

    vec = DummyVecEnv([_make(videos, tmp_path / "stats", seed) for seed in (0, 1)])
    _drive(vec)
    vec.close()


@pytest.mark.parametrize(
    "start_method", ["fork", pytest.param(None, marks=pytest.mark.slow, id="default-start-method")]
)
def test_subproc_vec_env(tmp_path, videos, start_method):
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    # "fork" starts the workers quickly; SB3's default ("forkserver") re-imports everything in them.
    vec = SubprocVecEnv(
        [_make(videos, tmp_path / "stats", seed) for seed in (0, 1)], start_method=start_method
    )
    try:
        vec.seed(3)
        last = _drive(vec)
    finally:
        vec.close()
    dummy = DummyVecEnv([_make(videos, tmp_path / "stats", seed) for seed in (0, 1)])
    dummy.seed(3)
    np.testing.assert_array_equal(_drive(dummy), last)  # the same episodes in both wrappers
    dummy.close()
