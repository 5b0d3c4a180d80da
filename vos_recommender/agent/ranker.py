"""The gain ranker: a frame Q-network trained on what annotating each frame actually gained.

The network is :class:`~vos_recommender.agent.qnet.FrameQNetwork` (per-frame encoder, and with
``recurrent=True`` the bidirectional LSTM over frames, so a frame's score can depend on the others), read
on an observation layout of :mod:`vos_recommender.envs.observation` (``context`` by default: quality,
count, distances to the annotations on each side, position, round, quality slope). Its output is the
predicted gain in mean J&F of correcting each frame next; the frame of the highest score is recommended.
It is trained by ``python -m vos_recommender.training.ranker`` on the gains that
``python -m vos_recommender.training.gains`` measures.

Checkpoints are small ``.pt`` files of tensors and plain values (``torch.load(weights_only=True)``).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch as th

from vos_recommender.agent.qnet import FrameQNetwork
from vos_recommender.envs.observation import LAYOUTS, build_observation, num_rows, split_observation
from vos_recommender.utils.atomic import atomic_torch_save

__all__ = ["CHECKPOINT_FORMAT", "GainRanker", "RankerConfig"]

CHECKPOINT_FORMAT = "vos_recommender.gain_ranker/1"


@dataclasses.dataclass
class RankerConfig:
    """Shape of a gain ranker.

    Attributes:
        layout: Observation layout it reads (``paper`` or ``context``).
        num_rounds: Rounds of the episodes it ranks for (the counts' clip and the round's scale).
        recurrent: Bidirectional LSTM over frames (False: each frame scored from its own features).
        embed_dim: Width of the per-frame encoder.
        lstm_dim: LSTM hidden size.
        head_dim: Hidden width of the head.
        gain_scale: The network predicts ``gain x gain_scale`` (gains are a few hundredths of J&F).
    """

    layout: str = "context"
    num_rounds: int = 8
    recurrent: bool = True
    embed_dim: int = 16
    lstm_dim: int = 16
    head_dim: int = 16
    gain_scale: float = 10.0

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {list(LAYOUTS)}, got {self.layout!r}")
        if self.num_rounds < 1:
            raise ValueError(f"num_rounds must be >= 1, got {self.num_rounds}")
        for name in ("embed_dim", "lstm_dim", "head_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.gain_scale > 0:
            raise ValueError(f"gain_scale must be > 0, got {self.gain_scale}")


class GainRanker:
    """Predicted gain of correcting each frame next.

    Args:
        config: The ranker's shape (default :class:`RankerConfig`).
        seed: Seed of the initial weights (None: torch's current generator).
        info: Plain values stored with the checkpoint (how it was trained).
    """

    def __init__(self, config: RankerConfig | None = None, seed: int | None = None, info: dict | None = None):
        self.config = config or RankerConfig()
        if seed is not None:
            th.manual_seed(int(seed))
        self.net = FrameQNetwork(
            in_features=num_rows(self.config.layout) - 1,
            embed_dim=self.config.embed_dim,
            lstm_dim=self.config.lstm_dim,
            head_dim=self.config.head_dim,
            recurrent=self.config.recurrent,
        )
        self.info: dict[str, Any] = dict(info or {})

    def observation(self, quality: Any, counts: Any, max_frames: int | None = None) -> np.ndarray:
        """The observation of a video in the given state, in the ranker's layout."""
        return build_observation(
            quality,
            counts,
            max_frames=max_frames,
            max_count=self.config.num_rounds,
            layout=self.config.layout,
        )

    def forward(self, observations: th.Tensor) -> th.Tensor:
        """Scaled predicted gains of a batch of observations (``B x rows x N`` -> ``B x N``, ``-inf`` on
        padding)."""
        features, valid = split_observation(observations)
        return self.net(features, valid)

    def scores(self, quality: Any, counts: Any) -> np.ndarray:
        """Predicted gain in mean J&F of correcting each frame next.

        Args:
            quality: ``T`` per-frame quality.
            counts: ``T`` annotation counts.

        Returns:
            ``T`` float64 predicted gains.
        """
        obs = th.as_tensor(self.observation(quality, counts))[None]
        self.net.eval()
        with th.no_grad():
            values = self.forward(obs)[0]
        return values.double().numpy() / self.config.gain_scale

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    def save(self, path: str | os.PathLike) -> None:
        """Write the ranker atomically."""
        payload = {
            "format": CHECKPOINT_FORMAT,
            "config": dataclasses.asdict(self.config),
            "state_dict": self.net.state_dict(),
            "info": self.info,
        }
        atomic_torch_save(payload, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> GainRanker:
        """Load a ranker written by :meth:`save`.

        Raises:
            FileNotFoundError: If there is no file at ``path``.
            ValueError: If the file is unreadable or not a gain ranker.
        """
        path = Path(path)
        hint = (
            "train one with: python -m vos_recommender.training.ranker --gains <file.npz> --out <ranker.pt>"
        )
        if not path.is_file():
            raise FileNotFoundError(f"ranker checkpoint not found: {path}; {hint}")
        try:
            payload = th.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise ValueError(f"ranker checkpoint {path} is unreadable ({error}); {hint}") from error
        if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path} is not a gain ranker checkpoint; {hint}")
        ranker = cls(RankerConfig(**payload["config"]), info=payload.get("info"))
        ranker.net.load_state_dict(payload["state_dict"])
        ranker.net.eval()
        return ranker
