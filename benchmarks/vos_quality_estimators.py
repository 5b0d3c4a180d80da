"""Wild quality estimators side by side on the held-out videos of each Table 1 dataset.

::

    python benchmarks/vos_quality_estimators.py \\
        --estimators "shipped=work_dirs/vos_table1/quality/flow/quality_estimator.pt,mixed=work_dirs/mixed/quality_estimator.pt"

Every estimator judges the same samples: on each dataset's held-out split (``--datasets`` of ``--work``),
interactive episodes as the estimator's training collects them (:func:`vos_recommender.training.quality.
collect`: the first scribble, then simulated corrections on random frames, one seeded generator per
dataset), each round's result of every frame cropped per object. Reported per dataset and estimator
(:func:`vos_recommender.training.quality.evaluate`): Pearson r per object sample and per frame, the mean
within-state r (how well it orders the frames of one round of one video, which is what a recommender
reading it needs) and the per-object MSE (calibration). The estimators must share a crop size.

Writes ``benchmarks/results/vos_quality_estimators.{md,json}`` (another folder with ``--out-dir``).
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

from benchmarks.common import (  # noqa: E402
    add_out_dir,
    machine_description,
    markdown_table,
    parse_labelled,
    write_results,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estimators", required=True, help="label=checkpoint, comma-separated")
    parser.add_argument("--work", default="work_dirs/vos_table1", help="Table 1 work folder (its data/)")
    parser.add_argument("--datasets", default="default,shifted", help="datasets of <work>/data")
    parser.add_argument("--split", default="val", help="held-out split")
    parser.add_argument("--rounds", type=int, default=4, help="rounds per episode (as the training collects)")
    parser.add_argument("--seed", type=int, default=123, help="seed of the corrected frames")
    add_out_dir(parser)
    args = parser.parse_args(argv)
    try:
        estimators = parse_labelled(args.estimators, "--estimators")
    except ValueError as error:
        parser.error(str(error))
    for label, path in estimators:
        if not Path(path).is_file():
            parser.error(f"--estimators: no checkpoint at {path} ({label})")

    import torch

    from vos_recommender.quality.estimator import load_quality_checkpoint
    from vos_recommender.training.quality import QualityTrainSettings, collect, evaluate

    torch.set_num_threads(1)
    nets = {label: load_quality_checkpoint(path) for label, path in estimators}
    crop_sizes = {net.config.crop_size for net in nets.values()}
    if len(crop_sizes) > 1:
        parser.error(f"--estimators: the checkpoints differ in crop size ({sorted(crop_sizes)})")
    crop_size = crop_sizes.pop()
    first = next(iter(nets.values())).config
    tic = time.perf_counter()
    results = []
    for dataset in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        root = Path(args.work) / "data" / dataset
        if not root.is_dir():
            parser.error(f"--datasets: no dataset at {root}")
        settings = QualityTrainSettings(
            data=str(root), rounds=args.rounds, crop_size=crop_size, min_box=first.min_box
        )
        samples = collect(settings, args.split, 1, np.random.default_rng(args.seed))
        for label, net in nets.items():
            metrics = evaluate(net, samples)
            results.append({"dataset": dataset, "estimator": label, **metrics})
            print(
                f"[estimators] {dataset} {label}: r frame {metrics['pearson_frame']:.3f}, "
                f"within-state {metrics['pearson_within_state']:.3f}",
                flush=True,
            )
    seconds = time.perf_counter() - tic
    command = "python benchmarks/vos_quality_estimators.py " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    rows = [
        [
            r["dataset"],
            r["estimator"],
            f"{r['pearson_object']:.3f}",
            f"{r['pearson_frame']:.3f}",
            f"{r['pearson_within_state']:.3f}",
            f"{r['mse_object']:.4f}",
            str(r["num_frames"]),
        ]
        for r in results
    ]
    markdown = "\n".join(
        [
            "# Wild quality estimators on the held-out videos",
            "",
            f"`{command}` ({seconds:.0f} s). Each dataset's `{args.split}` split, one episode per video of "
            f"{args.rounds} rounds (seed {args.seed}), the same samples for every estimator.",
            "",
            markdown_table(
                ["dataset", "estimator", "r object", "r frame", "r within state", "MSE object", "frames"],
                rows,
            ),
            "",
            "Estimators: " + ", ".join(f"{label} = `{path}`" for label, path in estimators) + ".",
            "",
        ]
    )
    print(markdown)
    payload = {
        "command": command,
        "machine": machine_description(),
        "seconds": seconds,
        "estimators": dict(estimators),
        "rows": results,
    }
    write_results("vos_quality_estimators", markdown, payload, args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
