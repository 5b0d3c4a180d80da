"""Editing masks by hand in the annotation app: how long an edit takes, and what click-to-segment takes.

One command::

    OMP_NUM_THREADS=1 python benchmarks/app_mask_edits.py
    python benchmarks/app_mask_edits.py --quick      # one small video, one repeat (smoke run)

On generated videos at 216x120x25 and 854x480x60 (the sizes of the app's timing table) with the ``flow``
backend, through the app's Python API (:class:`vos_recommender.app.Annotator`, the object the HTTP server
wraps):

* **latency**: the median seconds of ``edit_mask`` for a brush line, an eraser line, a lasso fill and a
  click-to-segment on the middle frame, and of ``undo`` / ``redo``; each includes the atomic save of the
  session that every change makes;
* **click-to-segment**: one click at the pixel deepest inside each object on every fifth frame; the
  region it gives against the object's ground truth: precision (the share of the region inside the
  object), recall (the share of the object covered) and seconds per click.

Writes ``benchmarks/results/app_mask_edits.md`` and ``.json`` (``_quick`` for --quick; another folder with
``--out-dir``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import add_out_dir, machine_description, markdown_table, write_results  # noqa: E402

#: (height, width, frames, generator seed) of the measured videos.
SIZES = [(120, 216, 25, 5), (480, 854, 60, 3)]
QUICK_SIZES = [(72, 112, 10, 11)]


def _deepest_point(mask: np.ndarray) -> list[float]:
    """The normalised centre of the pixel deepest inside ``mask``."""
    from scipy import ndimage

    depth = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]  # the frame's edge is not inside
    row, col = np.unravel_index(np.argmax(depth), depth.shape)
    return [(col + 0.5) / mask.shape[1], (row + 0.5) / mask.shape[0]]


def _edits(video) -> dict[str, dict]:
    """One edit of each kind on the middle frame (the click deep inside object 1)."""
    middle = video.masks[video.num_frames // 2]
    return {
        "brush": {"op": "brush", "object_id": 1, "points": [[0.1, 0.85], [0.6, 0.87]], "width": 8},
        "eraser": {
            "op": "brush",
            "object_id": 1,
            "points": [[0.35, 0.75], [0.35, 0.95]],
            "width": 8,
            "erase": True,
        },
        "lasso": {
            "op": "polygon",
            "object_id": 1,
            "points": [[0.7, 0.05], [0.95, 0.05], [0.95, 0.3], [0.7, 0.3]],
        },
        "click": {"op": "segment", "object_id": 1, "points": [_deepest_point(middle == 1)], "width": 6},
    }


def measure(height: int, width: int, num_frames: int, seed: int, repeats: int, work: Path) -> dict:
    """Latency and click-to-segment numbers on one generated video."""
    from vos_recommender.app import Annotator, load_video
    from vos_recommender.app.mask_edits import check_mask_edit, edit_region
    from vos_recommender.data.davis import DavisDataset
    from vos_recommender.data.generate import generate_davis_dataset

    root = generate_davis_dataset(
        work / f"data_{width}",
        num_train=0,
        num_val=1,
        num_frames=num_frames,
        height=height,
        width=width,
        seed=seed,
    )
    video = DavisDataset(root, split="val")[0]
    frames = root / "JPEGImages" / "480p" / video.name
    times: dict[str, list[float]] = {}
    middle = video.num_frames // 2
    for repeat in range(repeats):
        with Annotator(load_video(frames), work / f"session_{width}_{repeat}", "flow") as app:
            for _ in range(video.num_objects):
                app.add_object()
            for name, edit in _edits(video).items():
                tic = time.perf_counter()
                app.edit_mask(middle, edit)
                times.setdefault(name, []).append(time.perf_counter() - tic)
            for name, step in (("undo", app.undo), ("redo", app.redo)):
                tic = time.perf_counter()
                step()
                times.setdefault(name, []).append(time.perf_counter() - tic)
    clicks = []
    for t in range(0, video.num_frames, 5):
        for k in range(1, video.num_objects + 1):
            truth = video.masks[t] == k
            if truth.sum() < 20:
                continue
            edit = check_mask_edit(
                {"op": "segment", "object_id": k, "points": [_deepest_point(truth)], "width": 6},
                t,
                video.num_objects,
            )
            tic = time.perf_counter()
            region = edit_region(edit, video.frames[t])
            seconds = time.perf_counter() - tic
            hit = float((region & truth).sum())
            clicks.append(
                {
                    "frame": t,
                    "object": k,
                    "precision": hit / region.sum(),
                    "recall": hit / truth.sum(),
                    "seconds": seconds,
                }
            )
    return {
        "size": f"{width}x{height}x{num_frames}",
        "objects": video.num_objects,
        "latency": {name: statistics.median(values) for name, values in times.items()},
        "latency_all": times,
        "clicks": clicks,
    }


def tables(results: list[dict]) -> str:
    names = ["brush", "eraser", "lasso", "click", "undo", "redo"]
    latency = markdown_table(
        ["video", *[f"{n} (s)" for n in names]],
        [[r["size"], *[f"{r['latency'][n]:.2f}" for n in names]] for r in results],
    )
    rows = []
    for r in results:
        clicks = r["clicks"]
        rows.append(
            [
                r["size"],
                str(len(clicks)),
                f"{np.mean([c['precision'] for c in clicks]):.3f}",
                f"{min(c['precision'] for c in clicks):.3f}",
                f"{np.mean([c['recall'] for c in clicks]):.3f}",
                f"{min(c['recall'] for c in clicks):.3f}",
                f"{np.median([c['seconds'] for c in clicks]):.2f}",
            ]
        )
    segment = markdown_table(
        [
            "video",
            "clicks",
            "precision mean",
            "precision min",
            "recall mean",
            "recall min",
            "seconds (median)",
        ],
        rows,
    )
    return (
        f"Edit latency (median over repeats; each includes the session's atomic save):\n\n{latency}\n\n"
        + (f"Click-to-segment, one click deep inside each object on every fifth frame:\n\n{segment}")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--repeats", type=int, default=3, help="sessions per video for the latency (default 3)"
    )
    parser.add_argument("--quick", action="store_true", help="one small video, one repeat (smoke run)")
    add_out_dir(parser)
    args = parser.parse_args(argv)
    machine = machine_description()
    sizes, repeats = (QUICK_SIZES, 1) if args.quick else (SIZES, args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        results = [measure(h, w, n, seed, repeats, Path(tmp)) for h, w, n, seed in sizes]
    command = "python benchmarks/app_mask_edits.py" + (" --quick" if args.quick else "")
    markdown = (
        f"# Mask edits in the annotation app\n\n`{command}` on {machine['cpu']} ({machine['cores']} cores), "
        f"load average {machine['load_average_at_start']} at the start, {machine['date_utc']}.\n\n{tables(results)}"
    )
    print(markdown)
    name = "app_mask_edits" + ("_quick" if args.quick else "")
    write_results(name, markdown, {"machine": machine, "results": results}, args.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
