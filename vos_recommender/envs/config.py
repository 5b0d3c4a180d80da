"""Settings of the frame-recommendation environment, grouped by who reads them.

:class:`EnvConfig` holds three sections:

* ``session`` (:class:`~vos_recommender.session.SessionConfig`): what plays the rounds, i.e.
  the VOS backend and its arguments, the cache folder and budget, the quality source, the simulated user;
* ``episode`` (:class:`EpisodeConfig`): the videos and the shape of an episode (rounds, padding);
* ``reward`` (:class:`RewardConfig`): the reward's form and the goal statistics behind it.

Training, evaluation and the Table 1 protocol embed this object as it is. Defaults are the
environment's (the evaluation protocol: 8 rounds, 30 random runs); the training command keeps its own
defaults (5 rounds, 10 random runs, a cache), see :class:`~vos_recommender.config.TrainConfig`.

Build one from a mapping with :meth:`EnvConfig.from_dict`: nested sections, dotted keys, or the flat
names of :data:`FLAT_KEYS` (the environment's former keyword arguments)::

    EnvConfig.from_dict({"session": {"backend": "flow"}, "episode": {"data_root": "data/davis_synth"}})
    EnvConfig.from_dict({"backend": "flow", "data_root": "data/davis_synth", "num_rounds": 5})
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from vos_recommender.envs.observation import LAYOUTS
from vos_recommender.session import SessionConfig
from vos_recommender.utils.nested_config import check_fields, expand_aliases, override

__all__ = ["FLAT_KEYS", "EnvConfig", "EpisodeConfig", "RewardConfig", "SessionConfig"]

REWARD_MODES = ("seed", "released", "gain")
GOAL_BASELINES = ("mean", "mean_plus_std")
INVALID_ACTIONS = ("raise", "skip")


def _choice(name: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")


@dataclasses.dataclass
class EpisodeConfig:
    """The videos an episode is drawn from and the episode's shape."""

    data_root: str | None = None
    """DAVIS-layout dataset root (the environment can be given videos= instead)."""
    split: str = "train"
    """Split of the dataset."""
    num_rounds: int = 8
    """Interaction rounds per episode (evaluation protocol: 8; the released agent trained with 5)."""
    max_frames: int = 0
    """Pad observations and actions to this many frames (0: the longest video)."""
    invalid_action: str = "raise"
    """A padded frame as action: raise (ValueError) or skip (the round passes, auxiliary reward -1)."""
    info_timing: bool = False
    """Also put the wall-clock times in info (they differ between identical runs)."""
    observation: str = "paper"
    """Observation layout (vos_recommender.envs.observation): paper (quality, count, validity) or context (also distances to the annotations on each side, position, round, quality slope)."""

    def __post_init__(self) -> None:
        check_fields(self, "episode")
        if self.data_root == "":
            self.data_root = None
        if self.num_rounds < 2:
            raise ValueError(
                f"episode.num_rounds must be >= 2 (round 1 + at least one recommendation), got {self.num_rounds}"
            )
        if self.max_frames < 0:
            raise ValueError(f"episode.max_frames must be >= 0 (0: the longest video), got {self.max_frames}")
        _choice("episode.invalid_action", self.invalid_action, INVALID_ACTIONS)
        _choice("episode.observation", self.observation, tuple(LAYOUTS))


@dataclasses.dataclass
class RewardConfig:
    """The reward: its form, the goal reward's baseline and the random-recommendation statistics behind it."""

    mode: str = "seed"
    """seed (goal reward at the last step, auxiliary before; one loss), released (both every round, two losses) or gain (beyond the paper: the round's gain in mean J&F times its remaining AUC weight at every step; the undiscounted return is the round-index AUC minus a constant; no goal statistics)."""
    goal_baseline: str = "mean_plus_std"
    """Goal reward baseline: mean_plus_std (released, stricter) or mean."""
    num_random_runs: int = 30
    """Random-recommendation episodes behind mu, sigma of the goal reward (paper: 30)."""
    stats_dir: str | None = None
    """Cache of the goal statistics (empty or null: <session.cache_dir>/goal_stats with a cache, else memory only)."""
    stats_seed: int = 0
    """Seed of the random-recommendation runs."""
    min_sigma: float = 1e-3
    """Floor of sigma in the goal reward."""
    goal_reward: bool = True
    """Compute the goal reward (false: r_goal is 0 and no random runs are played, for evaluation)."""

    def __post_init__(self) -> None:
        check_fields(self, "reward")
        if self.stats_dir == "":
            self.stats_dir = None
        _choice("reward.mode", self.mode, REWARD_MODES)
        _choice("reward.goal_baseline", self.goal_baseline, GOAL_BASELINES)
        if self.num_random_runs < 2:
            raise ValueError(
                f"reward.num_random_runs must be >= 2 for a standard deviation, got {self.num_random_runs}"
            )
        if not self.min_sigma > 0:
            raise ValueError(f"reward.min_sigma must be > 0, got {self.min_sigma}")


#: The environment's flat setting names (its former keyword arguments) and where they live now.
FLAT_KEYS: dict[str, str] = {
    "backend": "session.backend",
    "backend_kwargs": "session.backend_kwargs",
    "cache_dir": "session.cache_dir",
    "cache_budget": "session.cache_budget",
    "cache_kwargs": "session.cache_kwargs",
    "quality": "session.quality",
    "quality_checkpoint": "session.quality_checkpoint",
    "quality_kwargs": "session.quality_kwargs",
    "robot_kwargs": "session.robot_kwargs",
    "data_root": "episode.data_root",
    "split": "episode.split",
    "num_rounds": "episode.num_rounds",
    "max_frames": "episode.max_frames",
    "invalid_action": "episode.invalid_action",
    "info_timing": "episode.info_timing",
    "reward_mode": "reward.mode",
    "reward_form": "reward.mode",
    "goal_baseline": "reward.goal_baseline",
    "num_random_runs": "reward.num_random_runs",
    "stats_dir": "reward.stats_dir",
    "stats_seed": "reward.stats_seed",
    "min_sigma": "reward.min_sigma",
    "goal_reward": "reward.goal_reward",
}


@dataclasses.dataclass
class EnvConfig:
    """Every setting of :class:`~vos_recommender.envs.FrameRecommendationEnv`."""

    session: SessionConfig = dataclasses.field(default_factory=SessionConfig)
    """What plays the rounds: backend, cache, quality source, simulated user."""
    episode: EpisodeConfig = dataclasses.field(default_factory=EpisodeConfig)
    """Videos and episode shape."""
    reward: RewardConfig = dataclasses.field(default_factory=RewardConfig)
    """Reward form and goal statistics."""

    def __post_init__(self) -> None:
        for name, kind in (("session", SessionConfig), ("episode", EpisodeConfig), ("reward", RewardConfig)):
            if not isinstance(getattr(self, name), kind):
                raise ValueError(
                    f"EnvConfig.{name} must be a {kind.__name__} (use EnvConfig.from_dict for mappings), "
                    f"got {getattr(self, name)!r}"
                )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | EnvConfig | None = None) -> EnvConfig:
        """Settings from a mapping: sections (``{"session": {...}}``), dotted keys (``"reward.mode"``) or the
        flat names of :data:`FLAT_KEYS` (``"backend"``, ``"num_rounds"``, ``"reward_mode"``...); what is
        not given keeps the default.

        Raises:
            ValueError: Naming an unknown key or a bad value.
        """
        if data is None:
            return cls()
        if isinstance(data, cls):
            return data
        if not isinstance(data, Mapping):
            raise ValueError(f"the environment's config must be an EnvConfig or a mapping, got {data!r}")
        return override(cls(), expand_aliases(data, FLAT_KEYS))

    def replace(self, changes: Mapping[str, Any]) -> EnvConfig:
        """A copy with ``changes`` applied (sections, dotted keys or flat names, as :meth:`from_dict`)."""
        return override(self, expand_aliases(changes, FLAT_KEYS))
