"""The ``flow`` backend's propagation with and without refinement, round by round, paired per session.

One command::

    python benchmarks/vos_propagation.py            # 6 generated 854x480 videos x 40 frames x 2 scribbles, 3 rounds
    python benchmarks/vos_propagation.py --quick    # 2 small videos x 1 scribble x 2 rounds (smoke run)

Each (video, first scribble) pair is played once with plain warping (``--old``, the propagation of the
``flow`` backend before refinement) and once with refinement (``--new``) by the same simulated DAVIS user
(:class:`vos_recommender.session.InteractionSession`): round 1 applies the video's human-like first
scribble (``Scribbles/<seq>/00k.json``), every later round the robot corrects the worst frame by true
J&F that was not annotated yet (positive and negative strokes on the largest errors). Both sides see
the same first scribble; from round 2 on each side gets the corrections of its own result.

Reported per round and side: mean over sessions of the mean over frames of J, F and J&F (objects averaged
per frame), the paired difference new - old of J and of J&F (x100) with 95% intervals (percentile
bootstrap and Student t, :func:`vos_recommender.evaluation.paired.paired_difference`), and the backend's
seconds per round (``VOSResult.elapsed``: segmentation of the scribbles and propagation, without the
optical flow computed when the video starts, which both sides share in kind).

Writes ``benchmarks/results/vos_propagation.md`` and ``.json`` (``_quick`` for --quick; another folder
with ``--out-dir``); the generated videos go to ``--data-root`` (made if missing).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import add_out_dir, machine_description, markdown_table, write_results  # noqa: E402

#: The two sides: name -> ``flow`` backend settings (defaults of the command line).
OLD = {"refine": None}
NEW = {"refine": "grabcut"}


def play(video, scribble_index: int, backend_kwargs: dict, rounds: int) -> dict:
    """One session of ``rounds`` rounds: per round the annotated frame, mean J, F, J&F over frames, seconds."""
    from vos_recommender.session import InteractionSession
    from vos_recommender.strategies import WorstStrategy

    session = InteractionSession("flow", backend_kwargs)
    outcome = session.start(video, scribble_index, with_quality=False)
    frames: list[int] = []
    run: dict[str, list] = {"frames": frames, "J": [], "F": [], "jf": [], "seconds": []}
    for index in range(rounds):
        if index > 0:
            frame = WorstStrategy().recommend(
                outcome.jf, np.bincount(frames, minlength=len(outcome.jf)), frames
            )
            outcome = session.correct(frame, with_quality=False)
        frames.append(int(outcome.frame))
        scores = _scores(video, outcome.result.masks)
        run["J"].append(scores["J"])
        run["F"].append(scores["F"])
        run["jf"].append(scores["JF"])
        run["seconds"].append(float(outcome.result.elapsed))
    return run


def _scores(video, masks: np.ndarray) -> dict[str, float]:
    """Mean over frames of J, F (objects averaged per frame) and J&F."""
    from vos_recommender.metrics.jf import per_frame_jf

    scores = per_frame_jf(video.masks, masks, video.num_objects)
    return {
        "J": float(scores["J"].mean(axis=1).mean()),
        "F": float(scores["F"].mean(axis=1).mean()),
        "JF": float(scores["JF"].mean()),
    }


def summarise(runs: dict[str, list[dict]], rounds: int) -> dict:
    """Per round: mean J, F, J&F and seconds of each side, and the paired differences new - old (x100)."""
    from vos_recommender.evaluation.paired import paired_difference

    def per_pair(side: str, key: str, index: int) -> dict[tuple[str, int], float]:
        return {(r["video"], r["scribble"]): 100.0 * r[key][index] for r in runs[side]}

    table = []
    for index in range(rounds):
        row: dict = {"round": index + 1}
        for side in ("old", "new"):
            for key in ("J", "F", "jf", "seconds"):
                row[f"{side}_{key}"] = float(np.mean([r[key][index] for r in runs[side]]))
        for key in ("J", "jf"):
            row[f"diff_{key}"] = paired_difference(per_pair("new", key, index), per_pair("old", key, index))
        table.append(row)
    return {"rounds": table}


def _interval(diff: dict) -> str:
    low, high = diff["ci95_bootstrap"]
    t_low, t_high = diff["ci95_t"]
    return f"{diff['mean']:+.2f} [{low:+.2f}, {high:+.2f}] (t: [{t_low:+.2f}, {t_high:+.2f}])"


def markdown(report: dict) -> str:
    """The report's tables."""
    setting, machine = report["setting"], report["machine"]
    lines = [
        "# Flow propagation with and without refinement",
        "",
        f"{setting['videos']} generated videos ({setting['width']}x{setting['height']}, {setting['frames']} frames, "
        f"seed {setting['data_seed']}) x {setting['scribbles']} first scribbles = {report['pairs']} sessions per "
        f"side, {setting['rounds']} rounds; round 1 the video's first scribble, later rounds the robot's "
        "correction of the worst unannotated frame (true J&F).",
        f"old: `flow` with `{json.dumps(report['old'])}`; new: `flow` with `{json.dumps(report['new'])}`.",
        f"Run time {report['wall_seconds']:.0f} s on {machine['cpu']} ({machine['cores']} cores, load "
        f"{machine['load_average_at_start']}), {machine['date_utc']}.",
        "",
        "Mean over sessions of the mean over frames; differences new - old x100, paired by session, with 95% "
        "intervals (bootstrap, and Student t); seconds: the backend's time per round (segmentation and "
        "propagation; the optical flow of the video is computed once when it starts).",
        "",
    ]
    rows = [
        [
            str(row["round"]),
            f"{row['old_J']:.3f}",
            f"{row['new_J']:.3f}",
            f"{row['old_F']:.3f}",
            f"{row['new_F']:.3f}",
            f"{row['old_jf']:.3f}",
            f"{row['new_jf']:.3f}",
            _interval(row["diff_J"]),
            _interval(row["diff_jf"]),
            f"{row['old_seconds']:.2f}",
            f"{row['new_seconds']:.2f}",
        ]
        for row in report["summary"]["rounds"]
    ]
    headers = [
        "round",
        "J old",
        "J new",
        "F old",
        "F new",
        "J&F old",
        "J&F new",
        "J new - old",
        "J&F new - old",
        "s/round old",
        "s/round new",
    ]
    lines.append(markdown_table(headers, rows))
    won = report["summary"]["rounds"][-1]["diff_jf"]
    lines += [
        "",
        f"After round {setting['rounds']}: new wins {won['pairs_won']} and loses {won['pairs_lost']} of "
        f"{won['pairs']} sessions on J&F ({won['videos_won']} and {won['videos_lost']} of {won['videos']} videos).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-root", default="data/vos_propagation", help="generated videos (made if missing)"
    )
    parser.add_argument("--data-seed", type=int, default=7, help="seed of the generated videos")
    parser.add_argument("--videos", type=int, default=6, help="videos")
    parser.add_argument("--frames", type=int, default=40, help="frames per video")
    parser.add_argument("--height", type=int, default=480, help="frame height")
    parser.add_argument("--width", type=int, default=854, help="frame width")
    parser.add_argument("--scribbles", type=int, default=2, help="first scribbles per video (1..3)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per session")
    parser.add_argument("--old", type=json.loads, default=OLD, help="flow settings of the old side (JSON)")
    parser.add_argument("--new", type=json.loads, default=NEW, help="flow settings of the new side (JSON)")
    parser.add_argument(
        "--quick", action="store_true", help="2 videos of 12 frames at 216x120, 1 scribble, 2 rounds"
    )
    add_out_dir(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.videos, args.frames, args.height, args.width, args.scribbles, args.rounds = 2, 12, 120, 216, 1, 2
    for name in ("old", "new"):
        if not isinstance(getattr(args, name), dict):
            parser.error(f"--{name} must be a JSON object of flow settings, got {getattr(args, name)!r}")
    from vos_recommender.data.davis import DavisDataset
    from vos_recommender.data.generate import generate_davis_dataset

    root = Path(args.data_root)
    generation = root / "generation.json"
    wanted = {"num_val": args.videos, "num_frames": args.frames, "height": args.height, "width": args.width}
    recorded = json.loads(generation.read_text()) if generation.is_file() else {}
    made = {k: recorded.get(k) for k in ("num_frames", "height", "width", "seed")}
    enough = len(recorded.get("splits", {}).get("val", [])) >= args.videos
    if not enough or made != {**{k: v for k, v in wanted.items() if k != "num_val"}, "seed": args.data_seed}:
        generate_davis_dataset(root, num_train=0, seed=args.data_seed, **wanted)
    dataset = DavisDataset(root, split="val")
    tic = time.perf_counter()
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    for index in range(args.videos):
        video = dataset[index]
        for scribble in range(args.scribbles):
            for side in ("old", "new"):
                run = play(video, scribble, getattr(args, side), args.rounds)
                run.update(video=video.name, scribble=scribble)
                runs[side].append(run)
                print(
                    f"{video.name} scribble {scribble} {side}: J&F "
                    + " ".join(f"{v:.3f}" for v in run["jf"])
                    + " s/round "
                    + " ".join(f"{v:.1f}" for v in run["seconds"]),
                    flush=True,
                )
    report = {
        "setting": {
            "videos": args.videos,
            "frames": args.frames,
            "height": args.height,
            "width": args.width,
            "data_seed": args.data_seed,
            "scribbles": args.scribbles,
            "rounds": args.rounds,
        },
        "old": args.old,
        "new": args.new,
        "pairs": len(runs["new"]),
        "machine": machine_description(),
        "wall_seconds": time.perf_counter() - tic,
        "summary": summarise(runs, args.rounds),
        "runs": runs,
    }
    text = markdown(report)
    print(text)
    md_path, json_path = write_results(
        "vos_propagation" + ("_quick" if args.quick else ""), text, report, args.out_dir
    )
    print(f"wrote {md_path} and {json_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
