"""Record what annotating each frame actually gains: the data set of the gain ranker.

Usage::

    python -m vos_recommender.training.gains --data work_dirs/vos_table1/data/default \\
        --quality-checkpoint work_dirs/vos_table1/quality/flow/quality_estimator.pt --out runs/gains/flow.npz

On the training videos, interactive sessions run along mixed trajectories: each trajectory follows one
driver (``random``, a rule such as ``stride``, ``farthest``, ``uncertain_far`` or ``worst``, or ``greedy``:
the frame that gained most; rules read the true J&F, so the states visited do not depend on the estimator),
and after every round but the last, every candidate frame is tried on the
session (:meth:`~vos_recommender.session.InteractionSession.probe`: the simulated user corrects it, the
backend re-segments, the round is undone) and its gain recorded: the mean J&F after that round minus the
mean J&F before it. With the replay cache, the driver's own next round replays its probe.

Every state is stored with what any observation layout is built from (the true per-frame J&F, the
estimator's per-frame quality when a checkpoint is given, the annotation counts), so one file serves the
oracle and the wild setting and every layout (:func:`vos_recommender.envs.observation.build_observation`).
The ``.npz`` holds, for ``S`` states padded to ``N`` frames: ``jf`` and ``estimate`` (``S x N`` float32,
``estimate`` NaN without an estimator), ``counts`` (``S x N`` int16), ``gains`` (``S x N`` float32, NaN on
frames not tried and on padding), ``valid`` (``S x N`` bool), ``annotated`` (``S x num_rounds`` int16: the frames annotated so far in
order, -1 after them), ``round`` / ``scribble`` / ``video`` (``S``
int; ``video`` indexes ``video_names``), ``driver`` (``S`` index into ``driver_names``), ``num_rounds``
and ``settings`` (JSON).

A recording's estimate can be replaced by another estimator's without probing again: ``--reestimate
runs/gains/flow.npz --quality-checkpoint <new.pt> --out runs/gains/flow_new.npz`` replays every state
through the recording's backend and cache (:func:`replay_states`, which refuses a state whose J&F no longer
replays) and records the new estimate (:func:`reestimate`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vos_recommender.config import parse_config
from vos_recommender.quality.oracle import OracleQuality
from vos_recommender.session import InteractionSession, RoundOutcome
from vos_recommender.strategies import build_strategy

__all__ = [
    "DRIVERS",
    "GainSettings",
    "load_gains",
    "main",
    "record",
    "record_trajectory",
    "reestimate",
    "replay_states",
]

#: Drivers of the trajectories: ``greedy`` follows the largest measured gain, the others are strategies.
DRIVERS = ("random", "stride", "farthest", "uncertain_far", "worst", "greedy")


@dataclasses.dataclass
class GainSettings:
    """Every setting of a gain recording."""

    data: str = "work_dirs/vos_table1/data/default"
    """DAVIS-layout dataset root (the training videos)."""
    split: str = "train"
    """Split of the dataset."""
    first_video: int = 0
    """Skip the videos of the split before this one (to record shards in parallel)."""
    max_videos: int = 0
    """Use only this many videos from --first-video on (0: all)."""
    scribbles: int = 1
    """First scribbles per video."""
    drivers: str = "random,stride,farthest,uncertain_far,worst,greedy"
    """Comma-separated drivers; one trajectory per (video, scribble, driver)."""
    explore: float = 0.25
    """Probability that a trajectory's next frame is a random one instead of its driver's."""
    num_rounds: int = 8
    """Rounds per trajectory (the evaluation protocol: 8)."""
    backend: str = "flow"
    """VOS backend."""
    backend_kwargs: str = "{}"
    """JSON constructor arguments of the backend."""
    cache_dir: str = "data/cache/vos"
    """Replay cache of the rounds (empty: none)."""
    quality_checkpoint: str = ""
    """Wild quality estimator: its per-frame quality is recorded beside the true J&F (empty: none)."""
    seed: int = 0
    """Seed of the random drivers and the exploration."""
    out: str = "runs/gains/gains.npz"
    """Output file."""
    threads: int = 1
    """Torch CPU threads."""
    verbose: int = 1
    """0: quiet, 1: one line per trajectory."""
    reestimate: str = ""
    """A recorded gains file: instead of recording, replay its states and write it again to --out with the
    estimate of --quality-checkpoint (the gains are not probed again)."""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.driver_list()) - set(DRIVERS))
        if unknown or not self.driver_list():
            raise ValueError(f"drivers (--drivers): unknown or none {unknown}; known: {', '.join(DRIVERS)}")
        if not 0.0 <= self.explore <= 1.0:
            raise ValueError(f"explore (--explore) must be in [0, 1], got {self.explore}")
        if self.num_rounds < 2:
            raise ValueError(f"num_rounds (--num-rounds) must be >= 2, got {self.num_rounds}")
        if self.scribbles < 1:
            raise ValueError(f"scribbles (--scribbles) must be >= 1, got {self.scribbles}")

    def driver_list(self) -> list[str]:
        return [d.strip().lower() for d in self.drivers.split(",") if d.strip()]


def record_trajectory(
    session: InteractionSession,
    video: Any,
    scribble: int,
    driver: str,
    num_rounds: int,
    rng: np.random.Generator,
    explore: float = 0.0,
) -> list[dict[str, Any]]:
    """One trajectory of ``num_rounds`` rounds with every frame's gain measured after each round but the last.

    Args:
        session: The session the rounds run on (its quality source gives ``estimate`` unless it is the
            oracle).
        video: The video.
        scribble: Index of its first scribble.
        driver: One of :data:`DRIVERS`.
        num_rounds: Rounds of the trajectory.
        rng: Generator of the exploration and of ``random``.
        explore: Probability of following a random frame instead of the driver's.

    Returns:
        One record per state (rounds ``1 .. num_rounds - 1``): ``round``, ``jf`` (true per-frame J&F),
        ``estimate`` (the session's quality, None in the oracle setting), ``counts``, ``annotated`` and
        ``gains`` (per frame: mean J&F after correcting it minus before).

    Raises:
        ValueError: If the driver is unknown.
    """
    if driver not in DRIVERS:
        raise ValueError(f"driver must be one of {list(DRIVERS)}, got {driver!r}")
    oracle = type(session.quality) is OracleQuality
    outcome = session.start(video, scribble, with_quality=not oracle)
    n = video.num_frames
    annotated = [outcome.frame]
    chooser = None
    if driver != "greedy":
        chooser = build_strategy(driver, seed=int(rng.integers(2**31)))
        chooser.reset(n, outcome.frame)
    records = []
    for round_number in range(1, num_rounds):
        before = float(outcome.jf.mean())
        gains = np.array([float(session.probe(frame).jf.mean()) - before for frame in range(n)])
        counts = np.bincount(annotated, minlength=n)
        estimate = None if oracle else np.asarray(outcome.quality, dtype=np.float32)
        records.append(
            {
                "round": round_number,
                "jf": np.asarray(outcome.jf, dtype=np.float32),
                "estimate": estimate,
                "counts": counts,
                "annotated": list(annotated),
                "gains": gains,
            }
        )
        if round_number == num_rounds - 1:
            break
        if rng.random() < explore:
            frame = int(rng.integers(n))
        elif chooser is None:
            frame = int(np.argmax(gains))
        else:
            # Rules follow the true J&F, so a recording with an estimator visits the states of one without.
            frame = chooser.recommend(outcome.jf, counts, annotated)
        annotated.append(frame)
        outcome = session.correct(frame, with_quality=not oracle)
    return records


def _stack(records: Sequence[dict[str, Any]], width: int, key: str, dtype: Any, fill: float) -> np.ndarray:
    out = np.full((len(records), width), fill, dtype=dtype)
    for row, record in enumerate(records):
        value = record[key]
        if value is not None:
            out[row, : len(value)] = value
    return out


def record(settings: GainSettings) -> dict[str, Any]:
    """Record every trajectory of ``settings`` and write the ``.npz``.

    Returns:
        ``{"out", "states", "probes", "seconds"}``.
    """
    import torch

    from vos_recommender.data.davis import DavisDataset

    torch.set_num_threads(settings.threads)
    dataset = DavisDataset(settings.data, split=settings.split)
    names = list(dataset.sequences)[settings.first_video :]
    if settings.max_videos > 0:
        names = names[: settings.max_videos]
    if not names:
        raise ValueError(
            f"first_video (--first-video) {settings.first_video}: the split has no video from there"
        )
    if settings.quality_checkpoint and not Path(settings.quality_checkpoint).is_file():
        raise FileNotFoundError(
            f"quality_checkpoint (--quality-checkpoint): no file at {settings.quality_checkpoint}"
        )
    try:
        backend_kwargs = json.loads(settings.backend_kwargs)
    except json.JSONDecodeError as error:
        raise ValueError(f"backend_kwargs (--backend-kwargs) is not JSON: {error}") from None
    session = InteractionSession(
        settings.backend,
        backend_kwargs,
        cache_dir=settings.cache_dir or None,
        quality="wild" if settings.quality_checkpoint else "oracle",
        quality_kwargs={"checkpoint": settings.quality_checkpoint} if settings.quality_checkpoint else None,
    )
    rng = np.random.default_rng([settings.seed, settings.first_video])
    drivers = settings.driver_list()
    rows: list[dict[str, Any]] = []
    tic = time.perf_counter()
    probes = 0
    width = 1
    for video_index, name in enumerate(names):
        video = dataset[name]
        width = max(width, video.num_frames)
        for scribble in range(min(settings.scribbles, max(1, len(video.scribbles)))):
            for driver in drivers:
                states = record_trajectory(
                    session, video, scribble, driver, settings.num_rounds, rng, settings.explore
                )
                probes += len(states) * video.num_frames
                for state in states:
                    state.update(video=video_index, scribble=scribble, driver=drivers.index(driver))
                rows += states
                if settings.verbose:
                    print(
                        f"[gains] {name} scribble {scribble} {driver:13s} {len(rows)} states, "
                        f"{time.perf_counter() - tic:.0f} s",
                        flush=True,
                    )
    valid = _stack([{"v": np.ones(len(r["jf"]), bool)} for r in rows], width, "v", bool, False)
    arrays = {
        "jf": _stack(rows, width, "jf", np.float32, 0.0),
        "estimate": _stack(rows, width, "estimate", np.float32, np.nan),
        "counts": _stack(rows, width, "counts", np.int16, 0),
        "gains": _stack(rows, width, "gains", np.float32, np.nan),
        "valid": valid,
        "annotated": _stack(rows, settings.num_rounds, "annotated", np.int16, -1),
        "round": np.asarray([r["round"] for r in rows], dtype=np.int16),
        "scribble": np.asarray([r["scribble"] for r in rows], dtype=np.int16),
        "video": np.asarray([r["video"] for r in rows], dtype=np.int32),
        "driver": np.asarray([r["driver"] for r in rows], dtype=np.int16),
        "video_names": np.asarray(names),
        "driver_names": np.asarray(drivers),
        "num_rounds": np.asarray(settings.num_rounds),
        "settings": np.asarray(json.dumps(dataclasses.asdict(settings))),
    }
    out = _save(arrays, settings.out)
    seconds = time.perf_counter() - tic
    if settings.verbose:
        print(f"[gains] wrote {out}: {len(rows)} states, {probes} probed rounds, {seconds:.0f} s", flush=True)
    return {"out": str(out), "states": len(rows), "probes": probes, "seconds": seconds}


def _save(arrays: dict[str, np.ndarray], out: str | Path) -> Path:
    """Write a gains file atomically (a partial file renamed over ``out``)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial.npz")
    np.savez_compressed(partial, **arrays)
    partial.replace(out)
    return out


def load_gains(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of a gains file (see the module's documentation); several comma-separated files (shards
    of one recording, or recordings of data sets with different video lengths, same rounds) are
    concatenated: their videos numbered one after another, their per-frame arrays padded to the longest
    video (as one recording pads its shorter videos) and their drivers indexed into the union of their
    driver names.

    Raises:
        FileNotFoundError: If there is no file at ``path``.
        ValueError: If the file lacks one of the arrays, or files differ in rounds.
    """
    parts = [p.strip() for p in str(path).split(",") if p.strip()]
    if len(parts) > 1:
        return _merge([load_gains(part) for part in parts], str(path))
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no gains file at {path} (python -m vos_recommender.training.gains)")
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    missing = {"jf", "estimate", "counts", "gains", "valid", "round", "num_rounds"} - set(arrays)
    if missing:
        raise ValueError(f"{path}: not a gains file, missing {sorted(missing)}")
    return arrays


# Per-frame arrays of a gains file and the value that pads them past a video's last frame (as ``_stack``).
_FRAME_FILL = {"jf": 0.0, "estimate": np.nan, "counts": 0, "gains": np.nan, "valid": False}


def _merge(shards: list[dict[str, np.ndarray]], path: str) -> dict[str, np.ndarray]:
    """Concatenate loaded gains files (see :func:`load_gains`)."""
    if len({int(s["num_rounds"]) for s in shards}) > 1:
        raise ValueError(f"{path}: the gains files differ in rounds")
    width = max(s["gains"].shape[1] for s in shards)
    drivers = list(dict.fromkeys(str(name) for s in shards for name in s["driver_names"]))
    merged = {}
    for key, first in shards[0].items():
        if key == "video":
            offsets = np.cumsum([0] + [len(s["video_names"]) for s in shards[:-1]])
            merged[key] = np.concatenate([s[key] + o for s, o in zip(shards, offsets)])
        elif key == "driver":
            merged[key] = np.concatenate(
                [np.asarray([drivers.index(str(n)) for n in s["driver_names"]])[s[key]] for s in shards]
            ).astype(first.dtype)
        elif key == "driver_names":
            merged[key] = np.asarray(drivers)
        elif key in _FRAME_FILL:
            padded = []
            for s in shards:
                part = np.full((len(s[key]), width), _FRAME_FILL[key], dtype=s[key].dtype)
                part[:, : s[key].shape[1]] = s[key]
                padded.append(part)
            merged[key] = np.concatenate(padded)
        elif first.ndim:
            merged[key] = np.concatenate([s[key] for s in shards])
        else:
            merged[key] = first
    return merged


def replay_states(
    path: str | Path, quality_checkpoint: str = "", threads: int = 1
) -> Iterator[tuple[int, Any, RoundOutcome]]:
    """Replay every recorded state of one gains file through the session it was recorded on.

    The file names its data, split, backend and replay cache; each trajectory starts again from its first
    scribble and corrects its annotated frames in order, so the rounds replay from the cache (or are
    recomputed, exactly, where the cache lost them).

    Args:
        path: One gains file.
        quality_checkpoint: A wild estimator whose quality each outcome carries (empty: none asked for).
        threads: Torch CPU threads.

    Yields:
        ``(row, video, outcome)`` for every state in the file's order.

    Raises:
        RuntimeError: If a replayed round's J&F differs from the recorded one (another backend, cache or data).
    """
    import torch

    from vos_recommender.data.davis import DavisDataset

    torch.set_num_threads(threads)
    raw = load_gains(path)
    settings = json.loads(str(raw["settings"]))
    dataset = DavisDataset(settings["data"], split=settings["split"])
    session = InteractionSession(
        settings["backend"],
        json.loads(settings["backend_kwargs"]),
        cache_dir=settings["cache_dir"] or None,
        quality="wild" if quality_checkpoint else "oracle",
        quality_kwargs={"checkpoint": quality_checkpoint} if quality_checkpoint else None,
    )
    names = [str(name) for name in raw["video_names"]]
    with_quality = bool(quality_checkpoint)
    outcome, video = None, None
    for row in range(len(raw["round"])):
        annotated = [int(a) for a in raw["annotated"][row] if a >= 0]
        if raw["round"][row] == 1:  # a new trajectory
            video = dataset[names[int(raw["video"][row])]]
            outcome = session.start(video, int(raw["scribble"][row]), with_quality=with_quality)
        else:
            outcome = session.correct(annotated[-1], with_quality=with_quality)
        if not np.allclose(outcome.jf, raw["jf"][row, : video.num_frames], atol=1e-6):
            raise RuntimeError(
                f"{path}: state {row} replays to another J&F than recorded (backend, cache or data changed)"
            )
        yield row, video, outcome


def reestimate(
    path: str | Path, quality_checkpoint: str, out: str | Path, verbose: int = 1
) -> dict[str, Any]:
    """Write the gains file ``path`` again with ``estimate`` from another estimator; nothing is re-probed.

    The states are replayed (:func:`replay_states`) and only the wild quality is recomputed, so the true
    J&F, the counts and the measured gains stay as recorded; ``settings`` names the new checkpoint. The
    output is written atomically.

    Returns:
        ``{"out", "states", "seconds"}``.

    Raises:
        ValueError: If ``path`` names several files.
        FileNotFoundError: If the gains file or the checkpoint is missing.
        RuntimeError: If a state no longer replays (nothing is written then).
    """
    if "," in str(path):
        raise ValueError(f"reestimate takes one gains file, got {path!r}")
    if not Path(quality_checkpoint).is_file():
        raise FileNotFoundError(f"quality_checkpoint (--quality-checkpoint): no file at {quality_checkpoint}")
    arrays = load_gains(path)
    tic = time.perf_counter()
    estimate = np.full_like(arrays["estimate"], np.nan)
    for row, video, outcome in replay_states(path, quality_checkpoint):
        estimate[row, : video.num_frames] = outcome.quality
        if verbose and (row + 1) % 50 == 0:
            print(
                f"[gains] re-estimated {row + 1}/{len(estimate)} states, {time.perf_counter() - tic:.0f} s",
                flush=True,
            )
    arrays["estimate"] = estimate
    settings = json.loads(str(arrays["settings"]))
    settings.update(quality_checkpoint=str(quality_checkpoint), reestimated_from=str(path))
    arrays["settings"] = np.asarray(json.dumps(settings))
    _save(arrays, out)
    seconds = time.perf_counter() - tic
    if verbose:
        print(f"[gains] wrote {out}: {len(estimate)} states re-estimated, {seconds:.0f} s", flush=True)
    return {"out": str(out), "states": len(estimate), "seconds": seconds}


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    try:
        settings, _ = parse_config(GainSettings, argv, description=__doc__.splitlines()[0])
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None
    if settings.reestimate:
        if not settings.quality_checkpoint:
            raise SystemExit("error: --reestimate needs --quality-checkpoint (the estimator to record)")
        reestimate(settings.reestimate, settings.quality_checkpoint, settings.out, settings.verbose)
    else:
        record(settings)


if __name__ == "__main__":
    main()
