"""How long an annotator waits in the app: first round, later rounds, the first round after a restart, export.

One command::

    python benchmarks/app_round_timing.py            # 216x120 and 854x480, 60 frames, backend flow
    python benchmarks/app_round_timing.py --quick    # 216x120 x 25 frames only (smoke run)

A generated video (``vos_recommender.data.generate.generate_sequence``, two objects) is written as JPEG
frames once (``--data-root``; not timed). Then the app's Python API (:class:`vos_recommender.app.Annotator`,
the object the HTTP server wraps) is driven as a person would, with the ``flow`` backend:

* **first round**: everything from opening the frame folder (``load_video``, the new session) through two
  objects, the video's first scribble on its frame and Run, until the round is saved (with ``--think``,
  the seconds a person takes to draw pass before each Run and are not counted);
* **later rounds**: ``--rounds`` - 1 corrections by the DAVIS robot user on the recommended frame, each
  timed from Run until the round is saved;
* **after restart**: the app is closed and opened again on the same session (``load_video`` and the
  session, timed as *reopen*), then one more correction round (timed as *round after restart*); the
  number of earlier rounds the backend replayed before it is reported too;
* **export**: ``Export DAVIS`` of the session (frames, masks, scribbles) into a new folder.

The load average at the start is recorded with every size: timings on a loaded machine are upper bounds.
With ``--baseline FILE.json`` (the JSON of an earlier run, e.g. of the code before a change) its numbers are
shown next to this run's. Writes ``benchmarks/results/app_round_timing.md`` and ``.json``
(``app_round_timing_<tag>`` with ``--tag``, ``_quick`` for --quick; another folder with ``--out-dir``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import add_out_dir, markdown_table, write_results  # noqa: E402

#: Steps reported, in table order: (key, column title).
STEPS = [
    ("first_round", "first round (with start-up)"),
    ("later_round_mean", "later rounds (mean)"),
    ("later_round_max", "later rounds (max)"),
    ("reopen", "reopen"),
    ("round_after_restart", "round after restart"),
    ("export", "export"),
]


def parse_size(text: str) -> tuple[int, int]:
    """``"854x480"`` -> ``(854, 480)`` (width, height)."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes: {text!r} is not WIDTHxHEIGHT, e.g. 854x480") from None
    if width < 16 or height < 16:
        raise argparse.ArgumentTypeError(f"--sizes: {text!r} is smaller than 16x16")
    return width, height


def two_object_seed(name: str, start: int) -> int:
    """The first seed from ``start`` whose generated sequence ``name`` has two objects (``generate_sequence``
    draws the object count first from ``default_rng([seed, crc32(name)])``)."""
    seed = start
    while int(np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))]).integers(1, 3)) != 2:
        seed += 1
    return seed


def make_video(root: Path, width: int, height: int, num_frames: int, seed: int):
    """The generated sequence at this size (written under ``root`` when missing), as a DAVIS video."""
    from vos_recommender.data.davis import DavisDataset
    from vos_recommender.data.generate import generate_sequence

    name = f"timing-{width}x{height}x{num_frames}"
    frames_dir = root / "JPEGImages" / "480p" / name
    if not (root / "Scribbles" / name / "001.json").is_file():
        generate_sequence(root, name, two_object_seed(name, seed), num_frames, height, width, max_objects=2)
    split = root / "ImageSets" / "2017" / "val.txt"
    names = split.read_text().split() if split.is_file() else []
    if name not in names:
        split.parent.mkdir(parents=True, exist_ok=True)
        split.write_text("\n".join([*names, name]) + "\n")
    return DavisDataset(root, split="val")[name], frames_dir


def replayed(job) -> int:
    """How many earlier rounds a round's job replayed into the backend before its own."""
    return sum(1 for message in job.history if message.startswith("restoring round"))


def time_session(video, frames_dir: Path, session: Path, rounds: int, think: float = 0.0) -> dict:
    """One timed annotation session (see the module doc); returns seconds per step.

    ``think`` seconds pass, not timed, before each Run: the time a person takes to draw the strokes.
    """
    from vos_recommender.app import Annotator, load_video
    from vos_recommender.app.export import export_davis
    from vos_recommender.interaction.simulated_user import SimulatedUser

    user = SimulatedUser()
    scribble, first = user.first_scribble(video, 0)
    tic = time.perf_counter()
    app = Annotator(load_video(frames_dir), session, "flow")
    for k in range(1, video.num_objects + 1):
        app.add_object(f"object {k}")
    app.set_strokes(first, scribble["scribbles"][first])
    startup = time.perf_counter() - tic
    time.sleep(think)
    tic = time.perf_counter()
    app.run_round(first)
    first_round = startup + time.perf_counter() - tic

    def correct(annotator) -> tuple[float, int]:
        frame = int(annotator.state.recommendation["frame"])
        strokes = user.correction(video, annotator.state.masks, frame)["scribbles"][frame]
        if not strokes:  # nothing to correct there: the frame the masks are worst on
            frame = int(np.argmin(annotator.state.quality))
            strokes = user.correction(video, annotator.state.masks, frame)["scribbles"][frame]
        annotator.set_strokes(frame, strokes)
        time.sleep(think)
        start = time.perf_counter()
        job = annotator.run_round(frame)
        return time.perf_counter() - start, replayed(job)

    later = [correct(app)[0] for _ in range(rounds - 1)]
    app.close()
    tic = time.perf_counter()
    app = Annotator(load_video(frames_dir), session, "flow")
    reopen = time.perf_counter() - tic
    after_restart, replays = correct(app)
    with tempfile.TemporaryDirectory() as out:
        tic = time.perf_counter()
        export_davis(app.video, app.state, Path(out) / "export")
        export = time.perf_counter() - tic
    app.close()
    return {
        "first_round": first_round,
        "later_rounds": later,
        "later_round_mean": float(np.mean(later)) if later else None,
        "later_round_max": float(np.max(later)) if later else None,
        "reopen": reopen,
        "round_after_restart": after_restart,
        "replayed_after_restart": replays,
        "export": export,
    }


def load_average() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def table(runs: list[dict], label: str) -> list[list[str]]:
    """Markdown rows of one code version's runs."""
    rows = []
    for run in runs:
        rows.append(
            [label, run["size"], f"{run['load_average']:.1f}"]
            + [_cell(run["seconds"][key]) for key, _ in STEPS]
            + [str(run["seconds"]["replayed_after_restart"])]
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-root", default="data/app_round_timing", help="generated videos (made if missing)"
    )
    parser.add_argument("--sizes", type=parse_size, nargs="+", default=None, help="WIDTHxHEIGHT each")
    parser.add_argument("--frames", type=int, default=60, help="frames per video")
    parser.add_argument("--rounds", type=int, default=3, help="rounds before the restart (>= 2)")
    parser.add_argument("--seed", type=int, default=0, help="first seed tried for the generated videos")
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="seconds a person takes to draw before each Run (not timed; default 0: Run at once)",
    )
    parser.add_argument("--label", default="this code", help="name of this run's rows in the table")
    parser.add_argument("--tag", default=None, help="suffix of the result files (app_round_timing_<tag>)")
    parser.add_argument("--baseline", type=Path, default=None, help="JSON of an earlier run to show beside")
    parser.add_argument("--quick", action="store_true", help="216x120 x 25 frames, 2 rounds")
    add_out_dir(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.frames, args.rounds = [(216, 120)], 25, 2
    sizes = args.sizes or [(216, 120), (854, 480)]
    if args.rounds < 2:
        parser.error(f"--rounds must be at least 2 (a first round and a later one), got {args.rounds}")
    if args.think < 0:
        parser.error(f"--think must be >= 0 seconds, got {args.think}")
    if args.frames < 2:
        parser.error(f"--frames must be at least 2, got {args.frames}")
    baseline = None
    if args.baseline is not None:
        try:
            baseline = json.loads(args.baseline.read_text())
        except (OSError, json.JSONDecodeError) as err:
            parser.error(f"--baseline: cannot read {args.baseline}: {err}")
    from vos_recommender.utils.machine import machine_description

    machine = machine_description()
    runs = []
    for width, height in sizes:
        video, frames_dir = make_video(Path(args.data_root), width, height, args.frames, args.seed)
        with tempfile.TemporaryDirectory() as tmp:
            load = load_average()
            seconds = time_session(video, frames_dir, Path(tmp) / "session", args.rounds, args.think)
        size = f"{width}x{height}x{args.frames}"
        runs.append({"size": size, "load_average": load, "seconds": seconds})
        print(f"{size} (load {load}): " + ", ".join(f"{k} {_cell(seconds[k])}" for k, _ in STEPS), flush=True)
    headers = ["code", "video", "load"] + [title for _, title in STEPS] + ["rounds replayed"]
    rows = (table(baseline["runs"], baseline["label"]) if baseline else []) + table(runs, args.label)
    command = " ".join(argv if argv is not None else sys.argv[1:])
    text = "\n".join(
        [
            "# Annotation app: how long a round takes",
            "",
            f"Command: `python benchmarks/app_round_timing.py {command}`",
            "",
            f"Backend flow, two objects, {args.rounds} rounds, then a restart and one more round; a generated video "
            f"per size; {args.think:g} s to draw before each Run (not timed). *load*: the 1-minute load average "
            "when the size started (2 cores: above 2, other work competed and the times are upper bounds).",
            "",
            markdown_table(headers, rows),
            "",
            f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['date_utc']}"
            + (f"; baseline: {baseline['machine']['date_utc']}" if baseline else ""),
        ]
    )
    payload = {
        "label": args.label,
        "command": command,
        "think_seconds": args.think,
        "machine": machine,
        "runs": runs,
    }
    if baseline:
        payload["baseline"] = baseline
    name = "app_round_timing" + (f"_{args.tag}" if args.tag else "") + ("_quick" if args.quick else "")
    md_path, _ = write_results(name, text, payload, args.out_dir)
    print(text)
    print(f"wrote {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
