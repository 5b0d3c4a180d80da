"""Settings of agent training, and a command-line / config-file parser generated from a dataclass.

Every field of :class:`TrainConfig` has a one-line description (the string under it). Its environment
settings are one :class:`~vos_recommender.envs.config.EnvConfig`, embedded as the field ``env``, and its
Q-network's one :class:`QNetworkConfig`, the field ``net`` (``--embed-dim`` ... ``--init-from`` are aliases). The
parser turns each plain setting into ``--field-name`` (``--field_name`` works too) and each nested one
into its dotted path (``--env.session.backend flow``, ``--env.episode.num-rounds 3``), booleans into
``--flag / --no-flag``, mappings into JSON objects; the flat flags of earlier versions (``--backend``,
``--num-rounds``, ``--reward-form``...) are aliases (``FLAG_ALIASES``). It reads ``--config
file.yaml|json`` first (nested, dotted or the earlier flat form), so the command line overrides the
file, which overrides the defaults.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import json
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from vos_recommender.envs.config import FLAT_KEYS, EnvConfig, EpisodeConfig, RewardConfig, SessionConfig
from vos_recommender.utils.nested_config import expand_aliases, leaf_value, leaves, override, parse_leaf

__all__ = [
    "env_flag_aliases",
    "QNetworkConfig",
    "TrainConfig",
    "field_help",
    "load_config_file",
    "parse_config",
    "settings_from_dict",
]

ConfigT = TypeVar("ConfigT")


def training_env() -> EnvConfig:
    """The environment settings training starts from: the released training setup (5 rounds, oracle
    quality), 10 random runs for the goal statistics (paper: 30) to keep the default run short, and the
    replay cache (1 GB) and statistics cache under ``data/cache``."""
    return EnvConfig(
        session=SessionConfig(cache_dir="data/cache/vos", cache_budget="1GB"),
        episode=EpisodeConfig(data_root="data/davis_synth", split="train", num_rounds=5),
        reward=RewardConfig(num_random_runs=10, stats_dir="data/cache/goal_stats"),
    )


#: Flat names the commands had that the environment's own flat keys spell otherwise.
_FORMER_NAMES = {"data": "data_root"}


def env_flag_aliases(*names: str) -> dict[str, str]:
    """Aliases of a command's former flat flags: each name mapped to its nested ``env.`` setting, as the
    environment's :data:`~vos_recommender.envs.config.FLAT_KEYS` place it (``data`` is ``data_root`` there)."""
    return {name: "env." + FLAT_KEYS[_FORMER_NAMES.get(name, name)] for name in names}


@dataclasses.dataclass
class QNetworkConfig:
    """The agent's frame Q-network (:class:`~vos_recommender.agent.qnet.FrameQNetwork`; defaults: the
    released architecture)."""

    embed_dim: int = 128
    """Per-frame MLP width (released: 128)."""
    lstm_dim: int = 128
    """LSTM hidden size (released: 128)."""
    head_dim: int = 128
    """Head hidden width (released: 128)."""
    init_from: str = ""
    """Start the Q-network from a gain ranker (.pt of python -m vos_recommender.training.ranker; beyond the paper); its layout, rounds and widths must equal the run's (empty: random initialisation)."""

    def __post_init__(self) -> None:
        for name in ("embed_dim", "lstm_dim", "head_dim"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"net.{name} (--{name.replace('_', '-')}) must be >= 1, got {getattr(self, name)}"
                )

    def policy_kwargs(self) -> dict[str, int]:
        """The widths as the policy (:class:`~vos_recommender.agent.qnet.FrameQPolicy`) takes them."""
        return {"embed_dim": self.embed_dim, "lstm_dim": self.lstm_dim, "head_dim": self.head_dim}


@dataclasses.dataclass
class TrainConfig:
    """Every setting of one agent training run (defaults: the released hyper-parameters)."""

    # ---------------------------------------------------------------- run
    name: str = "recommender"
    """Run name; results go to <runs_dir>/<name>/."""
    runs_dir: str = "runs"
    """Folder holding the run folders."""
    seed: int = 0
    """Seed of the network, exploration, replay sampling, target copies and episodes."""
    threads: int = 1
    """Torch CPU threads (the network is small: more threads mostly add synchronisation cost)."""
    resume: bool = False
    """Continue the run in <runs_dir>/<name>/ from its last resume checkpoint (buffer, optimiser, RNGs)."""
    overwrite: bool = False
    """Start afresh even if the run folder already holds a run."""
    progress_bar: bool = True
    """Show a progress bar."""
    verbose: int = 1
    """0: quiet, 1: log tables on stdout."""

    # ---------------------------------------------------------------- data and environment
    generate_if_missing: bool = True
    """Generate the synthetic dataset (8 train / 4 val videos) when <env.episode.data_root> has none."""
    env: EnvConfig = dataclasses.field(default_factory=training_env)
    """The environment's settings (vos_recommender.envs.EnvConfig): session, episode, reward."""

    # ---------------------------------------------------------------- algorithm
    total_timesteps: int = 2000
    """Agent steps (frame recommendations) to train for, over all environments."""
    warmup_epochs: float = 10.0
    """Random-play episodes stored before learning, in passes over the training videos (released: 10)."""
    lr: float = 5e-6
    """Adam learning rate (released: 5e-6)."""
    weight_decay: float = 5e-4
    """Adam weight decay (released: 5e-4)."""
    grad_clip: float = 1.0
    """Per-parameter gradient value clamp (released: 1)."""
    batch_size: int = 32
    """Transitions per update (released: 32)."""
    buffer_size: int = 20_000
    """Replay buffer capacity in transitions."""
    gamma: float = 0.95
    """Discount (released: 0.95)."""
    reward_scale: float = 0.1
    """delta, the scale of both reward terms (released: 0.1)."""
    target_update_prob: float = 0.05
    """Probability of copying the online network into the target network after each update (released: 0.05)."""
    exploration_final_eps: float = 0.25
    """Epsilon floor: eps(n) = final + amplitude * exp(-n / decay) (released: 0.25)."""
    exploration_amplitude: float = 0.45
    """Epsilon decaying part (released: 0.45)."""
    exploration_decay: float = 1000.0
    """Epsilon decay constant in agent actions (released: 1000)."""
    train_freq: int = 1
    """Environment steps (per environment) between updates."""
    gradient_steps: int = 1
    """Updates per training call."""
    net: QNetworkConfig = dataclasses.field(default_factory=QNetworkConfig)
    """The frame Q-network: its widths and where it starts from (--net.embed_dim, ...)."""
    n_envs: int = 1
    """Parallel environments (more than 1 uses SubprocVecEnv)."""

    # ---------------------------------------------------------------- logging and checkpoints
    log_interval: int = 4
    """Write the log tables every this many episodes."""
    checkpoint_freq: int = 500
    """Save checkpoints/model_<steps>_steps.zip every this many agent steps (0: never)."""
    resume_every: int = 200
    """Write the resume checkpoint after at least this many agent steps, at an episode boundary (0: only at the end)."""
    eval_freq: int = 0
    """Evaluate the greedy policy on --eval-split every this many agent steps with EvalCallback (0: never)."""
    eval_split: str = "val"
    """Split used by --eval-freq."""
    eval_episodes: int = 4
    """Episodes per evaluation."""

    #: The flat flags and setting names of earlier versions, kept as aliases of the nested settings.
    FLAG_ALIASES: ClassVar[dict[str, str]] = {
        **env_flag_aliases(
            "data",
            "split",
            "backend",
            "backend_kwargs",
            "cache_dir",
            "cache_budget",
            "quality",
            "quality_checkpoint",
            "num_rounds",
            "max_frames",
            "reward_form",
            "reward_mode",
            "goal_baseline",
            "num_random_runs",
            "stats_dir",
        ),
        **{name: f"net.{name}" for name in ("embed_dim", "lstm_dim", "head_dim", "init_from")},
    }


def field_help(cls: type) -> dict[str, str]:
    """The one-line description under each dataclass field (attribute docstrings), by field name."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    helps: dict[str, str] = {}
    for node, following in zip(body, body[1:]):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            helps[node.target.id] = following.value.value.strip()
    return helps


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON mapping of settings.

    Args:
        path: ``.yaml`` / ``.yml`` / ``.json`` file.

    Raises:
        FileNotFoundError: If the file is missing.
        ValueError: If it is not a mapping or cannot be parsed (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    text = path.read_text()
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as err:
        raise ValueError(f"{path}: cannot parse ({err})") from err
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    return {str(key).replace("-", "_"): value for key, value in data.items()}


def settings_from_dict(cls: type[ConfigT], data: Mapping[str, Any], where: str = "") -> ConfigT:
    """Settings of ``cls`` from a mapping: its defaults, then ``data``.

    ``data`` may be nested (``{"env": {"session": {"backend": "flow"}}}``), dotted
    (``{"env.session.backend": "flow"}``) or use the flat names of ``cls.FLAG_ALIASES`` (``{"backend": "flow"}``,
    the form run folders of earlier versions saved), in any mix.

    Args:
        cls: The settings dataclass.
        data: The values.
        where: Where they come from (a file name), prefixed to error messages.

    Raises:
        ValueError: Naming the setting on an unknown key or a bad value.
    """
    try:
        return override(cls(), expand_aliases(data, getattr(cls, "FLAG_ALIASES", {})))
    except ValueError as err:
        raise ValueError(f"{where}: {err}" if where else str(err)) from None


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"not valid JSON ({err}): {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def _flags(name: str, with_underscores: bool) -> list[str]:
    flags = [f"--{name.replace('_', '-')}"]
    if with_underscores and "_" in name:
        flags.append(f"--{name}")
    return flags


def _build_parser(cls: type, shown: Any, description: str) -> argparse.ArgumentParser:
    """Every plain setting as ``--dotted.path`` (and its aliases); only given flags enter the namespace."""
    parser = argparse.ArgumentParser(
        description=description
        + "\n\nNested settings take dotted flags (--env.session.backend flow); the short flags of earlier "
        "versions (--backend, --num-rounds, --reward-form, ...) are aliases of them.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("--config", help="YAML or JSON file of settings (the command line overrides it)")
    aliases: dict[str, list[str]] = {}
    for alias, target in getattr(cls, "FLAG_ALIASES", {}).items():
        aliases.setdefault(target, []).append(alias)
    helps: dict[type, dict[str, str]] = {}
    for leaf in leaves(cls):
        kind, metavar = parse_leaf(leaf.kind)
        is_bool = kind is bool
        flags = _flags(leaf.path, not is_bool)
        for alias in aliases.get(leaf.path, []):
            flags += _flags(alias, not is_bool)
        if leaf.owner not in helps:
            helps[leaf.owner] = field_help(leaf.owner)
        text = f"{helps[leaf.owner].get(leaf.name, '')} (default: {leaf_value(shown, leaf.path)!r})"
        text = text.replace("%", "%%")
        if is_bool:
            parser.add_argument(*flags, dest=leaf.path, action=argparse.BooleanOptionalAction, help=text)
        else:
            convert = _json_object if kind is dict else kind
            parser.add_argument(*flags, dest=leaf.path, type=convert, metavar=metavar, help=text)
    return parser


def parse_config(
    cls: type[ConfigT], argv: list[str] | None = None, description: str = ""
) -> tuple[ConfigT, dict[str, Any]]:
    """Parse settings: dataclass defaults, then ``--config`` file, then command-line flags.

    Args:
        cls: The settings dataclass (its ``FLAG_ALIASES`` name the flat flags kept as aliases).
        argv: Arguments (None: ``sys.argv[1:]``).
        description: Help text of the command.

    Returns:
        ``(settings, explicit)``: the settings and the values given explicitly on the command line, by
        dotted name (``{"lr": 1e-4, "env.episode.num_rounds": 3}``).

    Raises:
        ValueError: If the config file names an unknown setting or a value has the wrong type.
    """
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=None)
    known, _ = pre.parse_known_args(argv)
    from_file: dict[str, Any] = {}
    if known.config:
        from_file = expand_aliases(load_config_file(known.config), getattr(cls, "FLAG_ALIASES", {}))
    try:
        shown = settings_from_dict(cls, from_file, known.config or "")
    except ValueError:  # e.g. a file that needs a flag given on the command line: checked below
        shown = cls()
    explicit = vars(_build_parser(cls, shown, description).parse_args(argv))
    explicit.pop("config", None)
    config = settings_from_dict(cls, {**from_file, **explicit}, known.config or "command line")
    return config, explicit
