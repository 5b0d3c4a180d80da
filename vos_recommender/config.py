"""Settings of agent training, and a command-line / config-file parser generated from a dataclass.

Every field of :class:`TrainConfig` has a one-line description (the string under it). The parser
turns each field into ``--field-name`` (``--field_name`` works too), booleans into
``--flag / --no-flag``, and reads ``--config file.yaml|json`` first, so the command line overrides the
file, which overrides the defaults.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import json
import textwrap
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["TrainConfig", "field_help", "load_config_file", "parse_config"]

ConfigT = TypeVar("ConfigT")


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
    data: str = "data/davis_synth"
    """DAVIS-layout dataset root; generated synthetic videos are written here when it is missing."""
    generate_if_missing: bool = True
    """Generate the synthetic dataset (8 train / 4 val videos) when <data> has none."""
    split: str = "train"
    """Split the agent trains on."""
    backend: str = "flow"
    """VOS backend name (flow needs no weights; learned needs a checkpoint trained here; ipn, manet, atnet take
    the released checkpoints and run with random weights, with a warning, without them)."""
    backend_kwargs: str = "{}"
    """JSON constructor arguments of the backend."""
    cache_dir: str = "data/cache/vos"
    """Cache backend folder replaying VOS results (empty string: no cache)."""
    cache_budget: str = "1GB"
    """Disk budget of the cache folder (e.g. 500MB, 2GB; 0: none); least recently used entries go beyond it."""
    stats_dir: str = "data/cache/goal_stats"
    """Cache of the random-recommendation goal statistics (empty string: memory only)."""
    quality: str = "oracle"
    """State quality during training: oracle (true J&F, as released) or wild (needs --quality-checkpoint)."""
    quality_checkpoint: str = ""
    """Quality estimator checkpoint for --quality wild."""
    num_rounds: int = 5
    """Interaction rounds per training episode (released: 5)."""
    max_frames: int = 0
    """Pad observations to this many frames (0: the longest training video)."""
    reward_form: str = "seed"
    """seed (goal reward at the last step, one loss) or released (goal every round, two losses, no done)."""
    goal_baseline: str = "mean_plus_std"
    """Goal reward baseline: mean_plus_std (released, stricter) or mean."""
    num_random_runs: int = 10
    """Random-recommendation episodes behind mu, sigma of the goal reward (paper: 30; 10 keeps the default run short)."""

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
    embed_dim: int = 128
    """Per-frame MLP width (released: 128)."""
    lstm_dim: int = 128
    """LSTM hidden size (released: 128)."""
    head_dim: int = 128
    """Head hidden width (released: 128)."""
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


def _type_of(field: dataclasses.Field) -> type:
    annotation = field.type if isinstance(field.type, str) else field.type.__name__
    return {"int": int, "float": float, "str": str, "bool": bool}[annotation]


def _build_parser(
    cls: type, defaults: dict[str, Any], description: str, suppress: bool
) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        argument_default=argparse.SUPPRESS if suppress else None,
    )
    parser.add_argument(
        "--config",
        default=argparse.SUPPRESS,
        help="YAML or JSON file of settings (the command line overrides it)",
    )
    helps = field_help(cls)
    for field in dataclasses.fields(cls):
        kind = _type_of(field)
        flags = [f"--{field.name.replace('_', '-')}"]
        if "_" in field.name and kind is not bool:
            flags.append(f"--{field.name}")
        kwargs: dict[str, Any] = {"dest": field.name, "help": helps.get(field.name, "")}
        if not suppress:
            kwargs["default"] = defaults[field.name]
        if kind is bool:
            parser.add_argument(*flags, action=argparse.BooleanOptionalAction, **kwargs)
        else:
            parser.add_argument(*flags, type=kind, metavar=kind.__name__.upper(), **kwargs)
    return parser


def parse_config(
    cls: type[ConfigT], argv: list[str] | None = None, description: str = ""
) -> tuple[ConfigT, dict[str, Any]]:
    """Parse settings: dataclass defaults, then ``--config`` file, then command-line flags.

    Args:
        cls: The settings dataclass.
        argv: Arguments (None: ``sys.argv[1:]``).
        description: Help text of the command.

    Returns:
        ``(settings, explicit)``: the settings and the values given explicitly on the command line.

    Raises:
        ValueError: If the config file names an unknown setting or a value has the wrong type.
    """
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default=None)
    known, _ = pre.parse_known_args(argv)
    if known.config:
        from_file = load_config_file(known.config)
        unknown = sorted(set(from_file) - set(defaults))
        if unknown:
            raise ValueError(f"{known.config}: unknown settings {', '.join(unknown)}")
        for key, value in from_file.items():
            kind = _type_of(next(f for f in dataclasses.fields(cls) if f.name == key))  # type: ignore[arg-type]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ValueError(f"{known.config}: {key} must be {kind.__name__}, got {value!r}")
            defaults[key] = value
    parser = _build_parser(cls, defaults, description, suppress=False)
    namespace = vars(parser.parse_args(argv))
    namespace.pop("config", None)
    explicit = vars(_build_parser(cls, defaults, description, suppress=True).parse_args(argv))
    explicit.pop("config", None)
    return cls(**namespace), explicit
