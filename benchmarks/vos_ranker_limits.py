"""What limits the gain ranker: its held-out gain against the training states, its width and seed ensembles,
and how the best frame relates to what the observation shows.

One command, after gains are recorded (``python -m vos_recommender.training.gains``)::

    python benchmarks/vos_ranker_limits.py --gains runs/gains/flow_shifted_0.npz,runs/gains/flow_0.npz

The last ``--val-videos`` videos of the gains files are held out (as ``python -m
vos_recommender.training.ranker`` does). Rankers are trained with the shipped recipe (listwise loss,
temperature 0.05, 1500 full-batch epochs) on a random share of the training videos (``--fractions``, at
width 16) and at other widths on all of them (``--widths``), ``--seeds`` seeds each, in the wild setting
(the estimator's quality) and, at width 16 on every training video, in the oracle one (true J&F). Every
ranker's pick in each held-out state is scored by the gain that pick measured (J&F points x 100 per
round); the seeds' mean and spread are reported, with the ensemble of the seeds (their per-state
standardised scores averaged) and the rules and the best frame (the ceiling) on the same states.

With ``--signals`` the recorded trajectories are replayed through their replay cache (the gains file
names its data, backend and cache) to compute, for every state, per-frame signals a deployed
recommender could read without the ground truth (:data:`SIGNALS`): the model's confidence
(:func:`confidence_quality`, as the app without an estimator), the jump of the foreground area against the
neighbouring frames (relative to the video's mean area), the share of pixels whose label the last round
changed, and two of how far a correction would carry: the object's motion (mean optical-flow length to
the next frame on the frame's foreground, over the image diagonal) and the flow's inconsistency there (the
share of foreground pixels whose forward and backward flows disagree by more than a pixel: occlusions and
flow failures, where a propagated fix breaks). The replayed J&F must equal the recorded one. The
within-state correlation of every signal with the gains is reported, and a ranker given the chosen ones as
extra rows (wild setting, width 16, every training video) is scored as above.

A second table describes the recorded states themselves (all videos): how often the frame that gains most
is already annotated, where it ranks by quality (true and estimated), its distance to the annotations,
and the within-state correlation of the gains with ``1 - q``: how much of the answer the per-frame quality
and distances can carry.

Writes ``benchmarks/results/vos_ranker_limits.{md,json}`` (another folder with ``--out-dir``).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.common import add_out_dir, machine_description, markdown_table, write_results  # noqa: E402

RECIPE = {"epochs": 1500, "lr": 3e-3, "weight_decay": 1e-4, "loss": "listwise", "temperature": 0.05}


def ensemble_picks(predictions: list[np.ndarray]) -> np.ndarray:
    """The frame of the highest mean standardised score over rankers (each ``S x N``, ``-inf`` on padding)."""
    standardised = []
    for scores in predictions:
        valid = np.isfinite(scores)
        values = np.where(valid, scores, np.nan)
        mean = np.nanmean(values, axis=1, keepdims=True)
        spread = np.nanstd(values, axis=1, keepdims=True)
        standardised.append((values - mean) / np.where(spread > 0, spread, 1.0))
    mean_score = np.mean(standardised, axis=0)
    return np.nanargmax(np.where(np.isnan(mean_score), -np.inf, mean_score), axis=1)


#: Per-frame signals a deployed recommender has without the ground truth: option key -> name in the report.
SIGNALS = {
    "confidence": "confidence",
    "area": "area jump",
    "change": "last-round change",
    "motion": "object motion",
    "inconsistency": "flow inconsistency",
}


def video_flows(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each frame's flow to its next frame (the last one: to its previous) and that flow's backward check:
    ``T x H x W x 2`` flows and ``T x H x W`` forward-backward errors in pixels (OpenCV DIS, as ``flow``)."""
    import cv2

    from vos_recommender.backends.flow import dense_flow

    gray = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in frames]
    n = len(gray)
    height, width = gray[0].shape
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    flows, errors = [], []
    for t in range(n):
        other = t + 1 if t + 1 < n else t - 1
        forward = dense_flow(gray[t], gray[other])
        backward = dense_flow(gray[other], gray[t])
        # The backward flow where each pixel lands: about minus the forward flow where the flow holds.
        map_x, map_y = grid_x + forward[..., 0], grid_y + forward[..., 1]
        back_at = np.stack(
            [
                cv2.remap(backward[..., c], map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                for c in range(2)
            ],
            axis=-1,
        )
        flows.append(forward)
        errors.append(np.linalg.norm(forward + back_at, axis=-1))
    return np.stack(flows), np.stack(errors)


def replay_signals(path: str) -> np.ndarray:
    """``S x len(SIGNALS) x N`` per-frame signals (:data:`SIGNALS`, in order) of every state of one gains
    file, replayed (:func:`vos_recommender.training.gains.replay_states`).

    Raises:
        RuntimeError: If a replayed round's J&F differs from the recorded one (another backend, cache or data).
    """
    from vos_recommender.app.advisor import confidence_quality
    from vos_recommender.training.gains import load_gains, replay_states

    recorded = load_gains(path)
    states, width = recorded["gains"].shape
    signals = np.zeros((states, len(SIGNALS), width), dtype=np.float32)
    previous, flows = None, {}
    for row, video, outcome in replay_states(path):
        n = video.num_frames
        masks = outcome.result.masks
        foreground = (masks > 0).reshape(n, -1)
        area = foreground.mean(axis=1)
        neighbours = np.empty(n)
        neighbours[1:-1] = (area[:-2] + area[2:]) / 2
        neighbours[0], neighbours[-1] = area[1], area[-2]
        signals[row, 0, :n] = confidence_quality(outcome.result.probs)
        signals[row, 1, :n] = np.abs(area - neighbours) / max(float(area.mean()), 1e-6)
        if recorded["round"][row] > 1:  # the change since the trajectory's previous round
            signals[row, 2, :n] = (previous != masks).reshape(n, -1).mean(axis=1)
        previous = masks.copy()
        if video.name not in flows:
            flows = {video.name: video_flows(video.frames)}  # one video at a time
        flow, error = flows[video.name]
        speed = np.linalg.norm(flow, axis=-1).reshape(n, -1) / float(np.hypot(*masks.shape[1:]))
        broken = (error > 1.0).reshape(n, -1)
        # On each frame's foreground (the whole frame where the mask is empty).
        region = np.where(foreground.any(axis=1, keepdims=True), foreground, True)
        signals[row, 3, :n] = (speed * region).sum(axis=1) / region.sum(axis=1)
        signals[row, 4, :n] = (broken * region).sum(axis=1) / region.sum(axis=1)
    return signals


def within_state_r(values: np.ndarray, data: dict[str, np.ndarray]) -> float:
    """Mean over states of the Pearson r between a per-frame value and the gains (constant states skipped)."""
    out = []
    for row in range(len(values)):
        n = int(data["valid"][row].sum())
        gains, x = data["gains"][row, :n], values[row, :n]
        if np.std(x) > 0 and np.std(gains) > 0:
            out.append(float(np.corrcoef(gains, x)[0, 1]))
    return float(np.mean(out))


def state_diagnostics(data: dict[str, np.ndarray]) -> dict[str, float]:
    """How the best frame of each recorded state relates to the per-frame quality and the annotations."""
    repeat, rank_true, rank_estimate, distance, best, second, r_true, r_estimate = ([] for _ in range(8))
    for row in range(len(data["gains"])):
        n = int(data["valid"][row].sum())
        gains = data["gains"][row, :n].astype(np.float64)
        if np.isnan(gains).any():
            continue
        frame = int(np.argmax(gains))
        annotated = [int(a) for a in data["annotated"][row] if a >= 0]
        truth = data["jf"][row, :n].astype(np.float64)
        estimate = data["estimate"][row, :n].astype(np.float64)
        repeat.append(frame in annotated)
        rank_true.append(int((truth < truth[frame]).sum()))
        rank_estimate.append(int((estimate < estimate[frame]).sum()))
        distance.append(min(abs(frame - a) for a in annotated))
        ordered = np.sort(gains)[::-1]
        best.append(ordered[0])
        second.append(ordered[1])
        for values, out in ((truth, r_true), (estimate, r_estimate)):
            if np.std(values) > 0 and np.std(gains) > 0:
                out.append(float(np.corrcoef(gains, 1.0 - values)[0, 1]))
    return {
        "states": len(repeat),
        "best_is_annotated": float(np.mean(repeat)),
        "best_rank_true_quality": float(np.mean(rank_true)),
        "best_rank_estimate": float(np.mean(rank_estimate)),
        "frames": float(np.mean(data["valid"].sum(axis=1))),
        "best_distance_median": float(np.median(distance)),
        "best_gain": float(np.mean(best) * 100),
        "second_gain": float(np.mean(second) * 100),
        "r_gain_true": float(np.mean(r_true)),
        "r_gain_estimate": float(np.mean(r_estimate)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gains", required=True, help="gains files, comma-separated (the trainer's order)")
    parser.add_argument("--val-videos", type=int, default=4, help="held-out videos (the last ones)")
    parser.add_argument("--fractions", default="0.25,0.5,1", help="shares of the training videos (width 16)")
    parser.add_argument("--widths", default="8,32", help="other widths, on every training video")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per configuration")
    parser.add_argument("--epochs", type=int, default=RECIPE["epochs"], help="full-batch epochs per ranker")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument(
        "--signals",
        nargs="?",
        const="confidence,area,change",
        default="",
        help="replay the trajectories and add a ranker given these per-frame signals as extra rows "
        f"(comma-separated of {', '.join(SIGNALS)}; alone: the first three)",
    )
    add_out_dir(parser)
    args = parser.parse_args(argv)
    chosen = [key.strip() for key in args.signals.split(",") if key.strip()]
    unknown = sorted(set(chosen) - set(SIGNALS))
    if unknown:
        parser.error(f"--signals: unknown {unknown}; use some of {', '.join(SIGNALS)}")
    import torch as th

    from vos_recommender.agent.qnet import FrameQNetwork
    from vos_recommender.agent.ranker import GainRanker, RankerConfig
    from vos_recommender.training.gains import load_gains
    from vos_recommender.training.ranker import (
        RULES,
        fit,
        observations,
        rule_picks,
        score_picks,
        state_quality,
    )

    th.set_num_threads(args.threads)
    fractions = [float(f) for f in args.fractions.split(",") if f.strip()]
    widths = [int(w) for w in args.widths.split(",") if w.strip()]
    data = load_gains(args.gains)
    videos = np.unique(data["video"])
    if not 0 < args.val_videos < len(videos):
        parser.error(f"--val-videos {args.val_videos}: the gains files hold {len(videos)} videos")
    held = np.isin(data["video"], videos[-args.val_videos :])
    training = np.random.default_rng(0).permutation(videos[: -args.val_videos])
    part = {k: v[held] for k, v in data.items() if np.ndim(v) and len(v) == len(held)}
    gains = part["gains"]
    machine = machine_description()
    tic = time.perf_counter()

    signals, signal_r = None, {}
    if args.signals:
        width_all = data["gains"].shape[1]
        parts = []
        for path in [p.strip() for p in args.gains.split(",") if p.strip()]:
            part_signals = replay_signals(path)
            padded = np.zeros((len(part_signals), len(SIGNALS), width_all), dtype=np.float32)
            padded[:, :, : part_signals.shape[2]] = part_signals
            parts.append(padded)
            print(f"[limits] replayed {path}", flush=True)
        every = np.concatenate(parts)
        signal_r = {name: within_state_r(every[:, i], data) for i, name in enumerate(SIGNALS.values())}
        signals = every[:, [list(SIGNALS).index(key) for key in chosen]]
    signal_label = " + " + ", ".join(SIGNALS[key] for key in chosen)

    configs = [("wild", 16, f, False) for f in fractions] + [
        ("wild", w, 1.0, False) for w in widths if w != 16
    ]
    configs.append(("oracle", 16, 1.0, False))
    if signals is not None:
        configs.append(("wild", 16, 1.0, True))
    results = []
    for quality_kind, width, fraction, with_signals in configs:
        quality = state_quality(data, quality_kind)
        keep = training[: max(1, int(round(fraction * len(training))))]
        rows = np.isin(data["video"], keep)
        predictions, per_seed = [], []
        for seed in range(args.seeds):
            ranker = GainRanker(
                RankerConfig(
                    num_rounds=int(data["num_rounds"]), embed_dim=width, lstm_dim=width, head_dim=width
                ),
                seed=seed,
            )
            obs = observations(ranker, quality, data)
            if with_signals:
                # The signals go in as extra feature rows, before the validity row.
                obs = np.concatenate([obs[:, :-1], signals, obs[:, -1:]], axis=1).astype(np.float32)
                th.manual_seed(seed)
                ranker.net = FrameQNetwork(
                    in_features=obs.shape[1] - 1,
                    embed_dim=width,
                    lstm_dim=width,
                    head_dim=width,
                    recurrent=True,
                )
            fit(ranker, obs[rows], data["gains"][rows], **{**RECIPE, "epochs": args.epochs})
            with th.no_grad():
                predicted = ranker.forward(th.as_tensor(obs[held])).numpy()
            predictions.append(predicted)
            per_seed.append(score_picks(predicted.argmax(axis=1), gains)["gain"])
            print(
                f"[limits] {quality_kind}{signal_label if with_signals else ''} width {width} share {fraction:g} "
                f"seed {seed}: {per_seed[-1]:.2f}",
                flush=True,
            )
        rules = {name: score_picks(rule_picks(name, quality[held], part), gains)["gain"] for name in RULES}
        results.append(
            {
                "quality": quality_kind + (signal_label if with_signals else ""),
                "width": width,
                "fraction": fraction,
                "train_videos": len(keep),
                "train_states": int(rows.sum()),
                "gain_per_seed": per_seed,
                "gain_mean": float(np.mean(per_seed)),
                "gain_std": float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else 0.0,
                "ensemble_gain": score_picks(ensemble_picks(predictions), gains)["gain"],
                "rules": rules,
            }
        )
    ceiling = score_picks(np.nanargmax(gains, axis=1), gains)["gain"]
    diagnostics = state_diagnostics(data)
    seconds = time.perf_counter() - tic

    command = "python " + " ".join(
        shlex.quote(a) for a in [sys.argv[0], *(argv if argv is not None else sys.argv[1:])]
    )
    rows = [
        [
            r["quality"],
            str(r["width"]),
            f"{r['train_videos']} ({r['train_states']})",
            f"{r['gain_mean']:.2f} ± {r['gain_std']:.2f}",
            f"{r['ensemble_gain']:.2f}",
            f"{max(r['rules'].values()):.2f} ({max(r['rules'], key=r['rules'].get)})",
            f"{ceiling:.2f}",
        ]
        for r in results
    ]
    d = diagnostics
    lines = [
        "# What limits the gain ranker",
        "",
        f"Command: `{command}`",
        "",
        f"Held out: the last {args.val_videos} videos of the gains files ({int(held.sum())} states); training "
        f"videos drawn at random (seed 0) for the shares below. Recipe: listwise loss, temperature 0.05, "
        f"{args.epochs} full-batch epochs, Adam 3e-3; {args.seeds} seed(s) per row. Run time {seconds:.0f} s on "
        f"{machine['cpu']} ({machine['cores']} cores, load {machine['load_average_at_start']}), "
        f"{machine['date_utc']}.",
        "",
        "Held-out gain of the pick, J&F points x 100 per round (mean ± standard deviation over seeds):",
        "",
        markdown_table(
            [
                "quality",
                "width",
                "training videos (states)",
                "ranker",
                "ensemble of the seeds",
                "best rule",
                "best frame (ceiling)",
            ],
            rows,
        ),
        "",
        f"The recorded states ({d['states']}, all videos, {d['frames']:.1f} frames on average): the frame "
        f"that gains most is an annotated one in {100 * d['best_is_annotated']:.0f}% of them; it has on average "
        f"{d['best_rank_true_quality']:.1f} frames of lower true quality ({d['best_rank_estimate']:.1f} of "
        f"lower estimated quality); its median distance to the nearest annotated frame is "
        f"{d['best_distance_median']:.0f} frames; the best gain averages {d['best_gain']:.2f}, the second best "
        f"{d['second_gain']:.2f}. Within a state, the gains correlate with 1 - q at r = {d['r_gain_true']:.2f} "
        f"(true quality) and {d['r_gain_estimate']:.2f} (estimate).",
        "",
    ]
    if signal_r:
        lines += [
            "Per-frame signals without the ground truth, replayed from the cache (within-state Pearson r with "
            "the gains): " + ", ".join(f"{name} {r:+.3f}" for name, r in signal_r.items()) + ".",
            "",
        ]
    markdown = "\n".join(lines)
    print(markdown)
    payload = {
        "command": command,
        "machine": machine,
        "seconds": seconds,
        "held_out_states": int(held.sum()),
        "ceiling_gain": ceiling,
        "rows": results,
        "diagnostics": diagnostics,
        "signal_r": signal_r,
    }
    write_results("vos_ranker_limits", markdown, payload, args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
