"""J&F against the distance from the annotated frame after one interaction round, per backend.

One command::

    python benchmarks/vos_native_distance.py \\
        --ipn-weights work_dirs/native_train/ipn_cpu --atnet-weights work_dirs/native_train/atnet_cpu/atnet.pth \\
        --manet-weights work_dirs/native_train/manet_cpu/manet.pth
    python benchmarks/vos_native_distance.py --quick      # 2 tiny generated videos (smoke run)

On the held-out videos (``--split val`` of ``--data``, a DAVIS-layout set), every backend plays one
round per video: the first scribble of the data (``Scribbles/<seq>/001.json``) on its frame. Each
frame's J&F (mean over objects) is then binned by its distance ``|t - annotated frame|`` (0, 1, 2-3,
4-7, 8+) and averaged per bin over all frames of all videos; the bins show how well the interaction
network segments the scribbled frame (0) and how fast the propagation drifts away from it.

Backends: ``flow`` (weight-free), ``learned`` (with ``--learned-checkpoint``), and the native ``ipn`` /
``atnet`` / ``manet`` at ``--config`` size with the given weights. A native model without weights is run with its
random initialisation only when no weights were given for any native model, and its rows say so.
Also reported: seconds per round (the backend's own time, mean over videos), the number of videos and
the machine with its load. Writes ``benchmarks/results/vos_native_distance.{md,json}`` (``--out``).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.common import machine_description  # noqa: E402
from vos_recommender.backends import build_backend  # noqa: E402
from vos_recommender.backends.base import scribble_frames  # noqa: E402
from vos_recommender.metrics.jf import per_frame_jf  # noqa: E402
from vos_recommender.utils.atomic import atomic_write_json, atomic_write_text  # noqa: E402

#: Distance bins: (label, smallest, largest) distance in frames.
BINS = (("0", 0, 0), ("1", 1, 1), ("2-3", 2, 3), ("4-7", 4, 7), ("8+", 8, 10**9))


def distance_bins(jf: np.ndarray, annotated: int) -> dict[str, list[float]]:
    """Per-frame J&F values of one video grouped by distance bin."""
    distance = np.abs(np.arange(len(jf)) - annotated)
    return {label: [float(v) for v in jf[(distance >= lo) & (distance <= hi)]] for label, lo, hi in BINS}


def evaluate(backend, videos) -> dict:
    """One round per video; J&F per distance bin (mean over all frames in it) and seconds per round."""
    values: dict[str, list[float]] = {label: [] for label, _, _ in BINS}
    seconds = []
    for video in videos:
        scribble = video.scribbles[0]
        frame = scribble_frames(scribble)[0]
        backend.start_video(video.frames, int(video.num_objects), video.name)
        result = backend.interact(scribble, frame)
        seconds.append(result.elapsed)
        jf = per_frame_jf(video.masks, result.masks, num_objects=int(video.num_objects))["JF"]
        for label, v in distance_bins(jf, frame).items():
            values[label].extend(v)
        backend.reset()
    return {
        "jf_by_distance": {k: (float(np.mean(v)) if v else None) for k, v in values.items()},
        "frames_by_distance": {k: len(v) for k, v in values.items()},
        "seconds_per_round": float(np.mean(seconds)),
    }


def backends_to_run(args: argparse.Namespace) -> list[tuple[str, str, dict]]:
    """``(row label, registry name, constructor arguments)`` of every backend to evaluate."""
    rows: list[tuple[str, str, dict]] = [("flow", "flow", {})]
    if args.learned_checkpoint:
        rows.append(("learned", "learned", {"checkpoint": args.learned_checkpoint}))
    natives = {"ipn": args.ipn_weights, "atnet": args.atnet_weights, "manet": args.manet_weights}
    any_weights = any(natives.values())
    for name, weights in natives.items():
        if weights:
            rows.append(
                (
                    f"{name} ({args.config}, trained: {weights})",
                    name,
                    {"config": args.config, "weights": weights},
                )
            )
        elif not any_weights:
            rows.append((f"{name} ({args.config}, random weights)", name, {"config": args.config}))
    return rows


def markdown(report: dict) -> str:
    """The report as a Markdown table."""
    labels = [label for label, _, _ in BINS]
    lines = [
        "# J&F against distance from the annotated frame (one round)",
        "",
        f"{report['videos']} held-out videos of `{report['data']}` ({report['split']}), first scribble of each; "
        f"frames per bin: {report['frames_by_distance']}.",
        f"Machine: {report['machine']}.",
        "",
        "| backend | " + " | ".join(f"d={b}" for b in labels) + " | s / round |",
        "|---|" + "---:|" * (len(labels) + 1),
    ]
    for row in report["rows"]:
        cells = [
            f"{row['jf_by_distance'][b]:.3f}" if row["jf_by_distance"][b] is not None else "-" for b in labels
        ]
        lines.append(f"| {row['backend']} | " + " | ".join(cells) + f" | {row['seconds_per_round']:.2f} |")
    for note in report.get("notes", []):
        lines += ["", note]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/davis_synth", help="DAVIS-layout data set")
    parser.add_argument("--split", default="val", help="held-out split")
    parser.add_argument("--max-videos", type=int, default=0, help="first N videos only (0: all)")
    parser.add_argument("--config", default="cpu", choices=("cpu", "released"), help="native model size")
    parser.add_argument("--ipn-weights", default=None, help="folder with I.pth and P.pth")
    parser.add_argument("--atnet-weights", default=None, help="ATNet checkpoint file")
    parser.add_argument("--manet-weights", default=None, help="MANet checkpoint file")
    parser.add_argument("--learned-checkpoint", default=None, help="learned backend checkpoint")
    parser.add_argument("--note", action="append", default=[], help="line added under the table")
    parser.add_argument("--quick", action="store_true", help="2 tiny generated videos (smoke run)")
    parser.add_argument(
        "--out",
        default=None,
        help="output path without suffix (.md and .json are written); default "
        "benchmarks/results/vos_native_distance, or a temporary folder with --quick",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    from vos_recommender.data.davis import DavisDataset

    if args.quick:
        import tempfile

        from vos_recommender.data.generate import generate_davis_dataset

        scratch = Path(tempfile.mkdtemp(prefix="vos_native_distance_"))
        args.out = args.out or str(scratch / "vos_native_distance")
        args.data = str(
            generate_davis_dataset(
                scratch / "data",
                num_train=0,
                num_val=2,
                num_frames=6,
                height=64,
                width=96,
                max_objects=2,
            )
        )
    args.out = args.out or str(REPO / "benchmarks" / "results" / "vos_native_distance")
    if not Path(args.data).is_dir():
        raise FileNotFoundError(f"--data {args.data}: no such folder")
    dataset = DavisDataset(args.data, split=args.split)
    count = len(dataset.sequences) if args.max_videos <= 0 else min(args.max_videos, len(dataset.sequences))
    videos = [dataset[i] for i in range(count)]
    videos = [v for v in videos if v.scribbles]
    if not videos:
        raise ValueError(f"--data {args.data}: no video of split {args.split!r} has a scribble file")
    machine = machine_description()
    rows = []
    for label, name, kwargs in backends_to_run(args):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the random-weights warning: the row label says so
            backend = build_backend(name, **kwargs)
        tic = time.time()
        row = {"backend": label, **evaluate(backend, videos)}
        print(
            f"{label}: {row['jf_by_distance']} ({row['seconds_per_round']:.2f} s/round, {time.time() - tic:.0f} s)",
            flush=True,
        )
        rows.append(row)
    report = {
        "data": args.data,
        "split": args.split,
        "videos": len(videos),
        "frames_by_distance": rows[0]["frames_by_distance"],
        "machine": machine,
        "rows": rows,
        "notes": args.note,
    }
    atomic_write_json(args.out + ".json", report, indent=2)
    atomic_write_text(args.out + ".md", markdown(report))
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
