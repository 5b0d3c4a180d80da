"""What the annotation app's recommendation is worth: J&F after 3 and 5 rounds against a naive choice.

One command::

    python benchmarks/app_recommendation_gain.py --quality runs/app_quality/quality_estimator.pt
    python benchmarks/app_recommendation_gain.py --quick       # 2 videos x 1 scribble x 3 rounds (smoke run)

A simulated user drives the app's Python API (:class:`vos_recommender.app.Annotator`, the object the HTTP
server wraps) on generated held-out videos with the weight-free ``flow`` backend. Round 1 applies the
video's human-like first scribble (``Scribbles/<seq>/00k.json``, k = 1..--scribbles); in every later round
the user goes to a frame and draws the DAVIS robot's correction of it (``SimulatedUser.correction``: the
error regions' skeletons, positive and negative strokes) and presses Run. Which frame:

* ``naive stride``: what a user does without advice: the next unannotated frame at a stride of
  ``round(T / 5)`` frames from the first annotated frame (wrapping around); also what the app recommends
  without a checkpoint (``DEFAULT_RULE``), so it has no row of its own;
* ``app: worst, model confidence``: ``--strategy worst`` with no checkpoint (the unannotated frame of
  lowest model confidence, :func:`vos_recommender.app.confidence_quality`);
* ``app: farthest``: ``--strategy farthest``, the frame farthest from every annotated frame;
* ``app: far and likely wrong, model confidence``: ``--strategy uncertain_far``, the arg-max of
  ``(1 - q) x distance`` to the nearest annotated frame (with ``--quality`` also on the wild estimator);
* ``app: worst, wild estimator``: ``--strategy worst`` with ``--quality`` (the unannotated frame of
  lowest predicted quality);
* ``app: agent``: with ``--agent``;
* ``app: gain ranker, wild estimator``: with ``--ranker`` (and ``--quality``, which it reads); one row per
  checkpoint when several are given (comma-separated: rankers trained with different seeds);
* ``reference: worst, true J&F``: not something the app can do (it needs the ground truth); it separates
  what Worst itself is worth on these videos from what the quality estimate loses.

No ground truth enters the app's recommendations; the true J&F (mean over frames of the per-frame J&F averaged over
objects) is only measured. Reported: mean J&F after rounds 1, 3 and 5, and the difference to the naive
choice paired by (video, first scribble) with a 95% t-interval. If the robot finds nothing to correct on
the chosen frame, that round changes nothing and the frame counts as visited.

Writes ``benchmarks/results/app_recommendation_gain.md`` and ``.json`` (``_quick`` for --quick; another
folder with ``--out-dir``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import add_out_dir, machine_description, markdown_table  # noqa: E402


def naive_frame(num_frames: int, first: int, visited: list[int], parts: int = 5) -> int:
    """The next unvisited frame at a stride of ``round(T / parts)`` from ``first``, wrapping around: the
    ``stride`` strategy (:class:`vos_recommender.strategies.StrideStrategy`).

    When the stride's cycle is used up, the cycle shifted by one frame follows (and so on); when every
    frame was visited, the frame after the last visited one in that order.
    """
    from vos_recommender.strategies import StrideStrategy

    anchored = list(visited) if visited[:1] == [first] else [first, *visited]  # the stride's anchor first
    return StrideStrategy(parts).recommend(np.zeros(num_frames), np.zeros(num_frames), anchored)


def play(video, scribble_index: int, strategy: str, rounds: int, advisor, session: Path):
    """One simulated annotation session; returns the true mean J&F after each round and the frames visited."""
    from vos_recommender.app import Annotator, AppVideo
    from vos_recommender.interaction.simulated_user import SimulatedUser
    from vos_recommender.metrics.jf import per_frame_jf
    from vos_recommender.strategies import WorstStrategy

    app_video = AppVideo(video.name, video.frames, list(video.frame_names))
    annotator = Annotator(app_video, session, "flow", advisor=advisor)
    for k in range(1, video.num_objects + 1):
        annotator.add_object(f"object {k}")
    user = SimulatedUser()
    scribble, first = user.first_scribble(video, scribble_index)
    annotator.set_strokes(first, scribble["scribbles"][first])
    annotator.run_round(first)
    visited = [first]
    scores = [float(per_frame_jf(video.masks, annotator.state.masks, video.num_objects)["JF"].mean())]
    for _ in range(rounds - 1):
        if strategy == "naive":
            frame = naive_frame(video.num_frames, first, visited)
        elif strategy == "oracle":
            truth = per_frame_jf(video.masks, annotator.state.masks, video.num_objects)["JF"]
            counts = np.bincount(visited, minlength=video.num_frames)
            frame = WorstStrategy().recommend(truth, counts, visited)
        else:
            frame = annotator.state.recommendation["frame"]
            if frame in visited and annotator.state.counts()[frame] == 0:
                # The app recommended a frame the robot found nothing to correct on: ask again with it counted.
                counts = annotator.state.counts()
                counts[visited] += 1
                frame = advisor.recommend(np.asarray(annotator.state.quality), counts, visited)["frame"]
        visited.append(frame)
        correction = user.correction(video, annotator.state.masks, frame)["scribbles"][frame]
        if correction:
            annotator.set_strokes(frame, correction)
            annotator.run_round(frame)
        scores.append(float(per_frame_jf(video.masks, annotator.state.masks, video.num_objects)["JF"].mean()))
    return scores, visited


def reach(visited: list[int], num_frames: int) -> float:
    """Mean over frames of the distance (in frames) to the nearest annotated frame: how well rounds cover the video."""
    return float(np.mean([min(abs(t - f) for f in visited) for t in range(num_frames)]))


def interval(diffs: np.ndarray) -> tuple[float, float, float]:
    """Mean and 95% t-interval of paired differences."""
    from scipy import stats

    mean = float(diffs.mean())
    if len(diffs) < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, len(diffs) - 1) * diffs.std(ddof=1) / np.sqrt(len(diffs)))
    return mean, mean - half, mean + half


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-root", default="data/app_bench", help="generated held-out videos (made if missing)"
    )
    parser.add_argument("--data-seed", type=int, default=7, help="seed of the generated videos")
    parser.add_argument("--videos", type=int, default=10, help="held-out videos")
    parser.add_argument("--scribbles", type=int, default=2, help="first scribbles per video (1..3)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per session")
    parser.add_argument("--quality", default=None, help="wild quality-estimator checkpoint (adds its row)")
    parser.add_argument("--agent", default=None, help="trained agent .zip (adds its row)")
    parser.add_argument(
        "--ranker",
        default=None,
        help="gain ranker checkpoint(s), comma-separated (a row each; needs --quality)",
    )
    parser.add_argument("--quick", action="store_true", help="2 videos, 1 scribble, 3 rounds")
    add_out_dir(parser)
    args = parser.parse_args(argv)
    if args.ranker and not args.quality:
        parser.error("--ranker needs --quality: the gain ranker reads the wild estimator's quality")
    if args.quick:
        args.videos, args.scribbles, args.rounds = 2, 1, 3
    from vos_recommender.app import FrameAdvisor
    from vos_recommender.data.davis import DavisDataset
    from vos_recommender.data.generate import generate_davis_dataset
    from vos_recommender.utils.atomic import atomic_write_json, atomic_write_text

    root = Path(args.data_root)
    split = root / "ImageSets" / "2017" / "val.txt"
    if not split.is_file() or len(split.read_text().split()) < args.videos:
        generate_davis_dataset(root, num_train=0, num_val=args.videos, seed=args.data_seed)
    dataset = DavisDataset(root, split="val")
    videos = [dataset[i] for i in range(args.videos)]
    strategies = {"naive": ("naive stride (every T/5 frames)", FrameAdvisor())}
    strategies["confidence"] = ("app: worst, model confidence", FrameAdvisor(strategy="worst"))
    strategies["farthest"] = ("app: farthest", FrameAdvisor(strategy="farthest"))
    strategies["uncertain_far"] = (
        "app: far and likely wrong, model confidence",
        FrameAdvisor(strategy="uncertain_far"),
    )
    if args.quality:
        strategies["wild"] = (
            "app: worst, wild estimator",
            FrameAdvisor(quality=args.quality, strategy="worst"),
        )
        strategies["uncertain_far_wild"] = (
            "app: far and likely wrong, wild estimator",
            FrameAdvisor(quality=args.quality, strategy="uncertain_far"),
        )
    if args.agent:
        strategies["agent"] = ("app: agent", FrameAdvisor(agent=args.agent, quality=args.quality))
    rankers = [r.strip() for r in (args.ranker or "").split(",") if r.strip()]
    for index, ranker in enumerate(rankers):
        strategies[f"ranker{index}"] = (
            "app: gain ranker, wild estimator" + (f" ({Path(ranker).stem})" if len(rankers) > 1 else ""),
            FrameAdvisor(quality=args.quality, ranker=ranker),
        )
    strategies["oracle"] = ("reference: worst, true J&F", FrameAdvisor())
    machine = machine_description()
    tic = time.perf_counter()
    curves: dict[str, list[list[float]]] = {key: [] for key in strategies}
    visits: dict[str, list[list[int]]] = {key: [] for key in strategies}
    pairs, session_videos = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for video in videos:
            for s in range(args.scribbles):
                pairs.append(f"{video.name}/{s + 1:03d}")
                session_videos.append(video)
                for key, (_, advisor) in strategies.items():
                    session = Path(tmp) / f"{video.name}-{s}-{key}"
                    scores, visited = play(video, s, key, args.rounds, advisor, session)
                    curves[key].append(scores)
                    visits[key].append(visited)
                print(
                    f"{pairs[-1]}: " + ", ".join(f"{k} {c[-1][-1]:.3f}" for k, c in curves.items()),
                    flush=True,
                )
    seconds = time.perf_counter() - tic
    checkpoints = [r for r in (3, 5) if r <= args.rounds]
    naive = np.asarray(curves["naive"])
    headers = ["strategy", "reach"]
    headers += ["J&F @1"] + [f"J&F @{r}" for r in checkpoints]
    headers += [f"vs naive @{r} (95% CI)" for r in checkpoints] + [
        "better / equal / worse @" + str(checkpoints[-1])
    ]
    rows, payload_rows = [], []
    for key, (label, _) in strategies.items():
        scores = np.asarray(curves[key])
        row = [
            label,
            f"{np.mean([reach(v, video.num_frames) for v, video in zip(visits[key], session_videos)]):.2f}",
            f"{scores[:, 0].mean():.3f}",
        ] + [f"{scores[:, r - 1].mean():.3f}" for r in checkpoints]
        entry = {
            "strategy": key,
            "label": label,
            "mean_jf": scores.mean(axis=0).tolist(),
            "per_pair": scores.tolist(),
            "frames": visits[key],
        }
        for r in checkpoints:
            mean, low, high = interval(scores[:, r - 1] - naive[:, r - 1])
            row.append("-" if key == "naive" else f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]")
            entry[f"diff_at_{r}"] = [mean, low, high]
        last = scores[:, checkpoints[-1] - 1] - naive[:, checkpoints[-1] - 1]
        row.append(
            "-"
            if key == "naive"
            else f"{(last > 1e-9).sum()} / {(np.abs(last) <= 1e-9).sum()} / {(last < -1e-9).sum()}"
        )
        rows.append(row)
        payload_rows.append(entry)
    table = markdown_table(headers, rows)
    setting = (
        f"{len(videos)} generated held-out videos (seed {args.data_seed}, {videos[0].num_frames} frames, "
        f"{videos[0].frames.shape[2]}x{videos[0].frames.shape[1]}) x {args.scribbles} first scribbles = "
        f"{len(pairs)} sessions per strategy, backend flow, {args.rounds} rounds, simulated DAVIS robot user"
    )
    text = "\n".join(
        [
            "# Annotation app: recommended frame vs naive choice",
            "",
            f"Command: `python benchmarks/app_recommendation_gain.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
            "",
            setting + ".",
            f"Quality estimator: {args.quality or 'none'}; agent: {args.agent or 'none'}; "
            f"gain ranker: {args.ranker or 'none'}.",
            f"Run time {seconds:.0f} s on {machine['cpu']} ({machine['cores']} cores, load {machine['load_average_at_start']}), "
            f"{machine['date_utc']}.",
            "",
            table,
            "",
            "J&F: mean over frames of the per-frame J&F (averaged over objects), then over sessions. Differences are "
            "paired by (video, first scribble); the interval is the 95% t-interval of the mean difference. reach: after "
            "the last round, the mean over frames of the distance in frames to the nearest annotated frame.",
        ]
    )
    print(text)
    name = "app_recommendation_gain" + ("_quick" if args.quick else "")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out_dir / f"{name}.md", text + "\n")
    payload = {
        "setting": setting,
        "pairs": pairs,
        "rows": payload_rows,
        "seconds": seconds,
        "machine": machine,
    }
    atomic_write_json(args.out_dir / f"{name}.json", payload, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
