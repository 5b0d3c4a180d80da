"""Small generated DAVIS-layout video sets for the tests, loaded the way users load them."""

from __future__ import annotations

from pathlib import Path


def generated_videos(folder: Path, split: str = "train", **settings) -> list:
    """Write a generated dataset to ``folder`` (``generate_davis_dataset`` settings) and load ``split``."""
    from vos_recommender.data.davis import DavisDataset
    from vos_recommender.data.generate import generate_davis_dataset

    root = generate_davis_dataset(folder, **settings)
    dataset = DavisDataset(root, split=split)
    return [dataset[i] for i in range(len(dataset.sequences))]


def tiny_checkpoints(folder: Path) -> tuple[Path, Path]:
    """An untrained tiny agent (``agent.zip``) and quality estimator (``quality.pt``) written to ``folder``.

    The agent is built on the toy environment's spaces; its network is length-agnostic, so it answers for
    any video. Both are what the recommender command and the app load.
    """
    from stable_baselines3.common.env_util import make_vec_env

    from tests.vos.test_agent_toy_env import WindowDeficitEnv
    from vos_recommender.agent import RecurrentDQN
    from vos_recommender.quality.estimator import QualityConfig, QualityNet, save_quality_checkpoint

    agent = RecurrentDQN(
        env=make_vec_env(WindowDeficitEnv, n_envs=1),
        seed=0,
        policy_kwargs={"embed_dim": 8, "lstm_dim": 8, "head_dim": 8},
    )
    agent.save(folder / "agent.zip")
    save_quality_checkpoint(
        folder / "quality.pt", QualityNet(QualityConfig(width=4, crop_size=32, min_box=16))
    )
    return folder / "agent.zip", folder / "quality.pt"


def seeded_estimator(path: Path, seed: int, crop_size: int = 16) -> str:
    """An untrained tiny quality estimator of the given seed, written to ``path``, whose scores spread
    inside (0, 1) (an untrained net's output is mostly clipped to 0), so two seeds score differently."""
    import torch

    from vos_recommender.quality.estimator import QualityConfig, QualityNet, save_quality_checkpoint

    torch.manual_seed(seed)
    net = QualityNet(QualityConfig(width=4, crop_size=crop_size, min_box=8))
    with torch.no_grad():
        net.fc.weight.mul_(10.0)
        net.fc.bias.fill_(0.5)
    save_quality_checkpoint(path, net)
    return str(path)
