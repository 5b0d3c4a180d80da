"""Record reference outputs of davisinteractive 1.0.4 as test data (``tests/vos/data/davis_reference/``).

davisinteractive pins NumPy < 1.24 and is not a dependency of the project, so it runs in its own
virtual environment and this script imports nothing from the project (only NumPy, pandas and
davisinteractive's own dependencies)::

    python3 -m venv /tmp/davis-venv
    /tmp/davis-venv/bin/pip install numpy==1.23.5 scipy==1.10.1 scikit-image==0.20.0 networkx==2.8.8 \\
        "pandas<2" "scikit-learn<1.3" "opencv-python-headless<4.9" six absl-py requests "cython<3" setuptools
    /tmp/davis-venv/bin/pip install --no-build-isolation --no-deps davisinteractive==1.0.4
    /tmp/davis-venv/bin/python benchmarks/vos_equivalence/davis_reference.py

The tests that read the files (``tests/vos/test_davis_reference.py``) need no davisinteractive. What
is recorded, all from seeded generated masks:

* ``robot.npz``: the robot (``InteractiveScribblesRobot`` with the evaluation service's
  ``ROBOT_DEFAULT_PARAMETERS``) on 120 x 160 frames whose error regions are one pixel wide (the first
  30 cases: the prediction is the ground truth shifted by one pixel) and on thicker ones (10 cases): per case and label, the opened region
  it skeletonises (the input of its ``medial_axis``) and how many strokes it drew. Its
  ``medial_axis`` gets ``random_state=0`` (it passes none, which makes its skeletons differ from
  run to run); the opening, which the project reproduces, does not depend on it.
* ``raster.npz``: ``scribbles2mask`` of robot scribbles (``nb_points=60``) at the frame's size and
  at a smaller one, as MANet draws them at its embedding size.
* ``void.npz``: ``batched_jaccard`` and ``batched_f_measure`` on masks with void (255) pixels.
* ``summary.json``: ``EvaluationService.summarize_report`` on reports stored by its
  ``LocalStorage``, without and with ``max_t``; samples past the time-out lose their later rounds
  as ``DavisInteractiveSession.submit_masks`` refuses them (a submission after
  ``max_t * num_objects`` seconds since the sample started is not evaluated).
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[2] / "tests" / "vos" / "data" / "davis_reference"


def _ellipses(
    rng: np.random.Generator, height: int, width: int, objects: int, large: bool = False
) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    labels = np.zeros((height, width), dtype=np.uint8)
    for obj in range(1, objects + 1):
        cy, cx = rng.uniform(0.2, 0.8) * height, rng.uniform(0.2, 0.8) * width
        low, high = (0.2, 0.45) if large else (0.12, 0.35)
        ry, rx = rng.uniform(low, high) * height, rng.uniform(low, high) * width
        angle = rng.uniform(0, np.pi)
        u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
        v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
        labels[(u / rx) ** 2 + (v / ry) ** 2 <= 1.0] = obj
    return labels


def _shift(labels: np.ndarray, dy: int, dx: int) -> np.ndarray:
    out = np.zeros_like(labels)
    h, w = labels.shape
    src = labels[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
    out[max(0, dy) : max(0, dy) + src.shape[0], max(0, dx) : max(0, dx) + src.shape[1]] = src
    return out


def robot_cases(seed: int = 0, count: int = 40, height: int = 120, width: int = 160, large: bool = True):
    """Ground truth and predictions: shifts of one pixel (thin error bands) and of 3 to 5 pixels."""
    rng = np.random.default_rng(seed)
    gts, preds = [], []
    for index in range(count):
        gt = _ellipses(rng, height, width, int(rng.integers(1, 4)), large)
        step = 1 if index < count * 3 // 4 else int(rng.integers(3, 6))
        dy, dx = [(step, 0), (0, step), (-step, 0), (0, -step), (step, step)][index % 5]
        gts.append(gt)
        preds.append(_shift(gt, dy, dx))
    return np.stack(gts), np.stack(preds)


def record_robot(robot_module, params: dict) -> dict:
    original = robot_module.medial_axis
    opened: list[np.ndarray] = []

    def medial_axis(image, *args, **kwargs):
        opened.append(np.asarray(image, dtype=bool)[1:-1, 1:-1].copy())  # the robot pads by one pixel
        return original(image, random_state=0)

    robot_module.medial_axis = medial_axis
    try:
        robot = robot_module.InteractiveScribblesRobot(**params)
        gts, preds = robot_cases()
        rows, regions, strokes = [], [], []
        for case, (gt, pred) in enumerate(zip(gts, preds)):
            nb_objects = int(gt.max())
            scribble = robot.interact("case", pred[None], gt[None], nb_objects=nb_objects, frame=0)
            per_label = np.zeros(nb_objects + 1, dtype=np.int64)
            for stroke in scribble["scribbles"][0]:
                per_label[stroke["object_id"]] += 1
            for label in range(nb_objects + 1):
                if ((gt == label) & (pred != label)).any():
                    rows.append((case, label, per_label[label]))
            strokes.append(len(scribble["scribbles"][0]))
            regions.extend(opened)
            opened.clear()
    finally:
        robot_module.medial_axis = original
    rows_arr = np.array(rows, dtype=np.int64)
    assert len(regions) == len(rows_arr), "one opened region per non-empty error region"
    return {
        "gt": gts,
        "pred": preds,
        "rows": rows_arr,  # (case, label, strokes drawn for that label)
        "opened": np.packbits(np.stack(regions), axis=-1),
        "shape": np.array(gts.shape[1:]),
        "strokes_per_case": np.array(strokes, dtype=np.int64),
        "params": np.array(json.dumps(params)),
    }


def record_raster(robot_module, scribbles2mask) -> dict:
    robot = robot_module.InteractiveScribblesRobot(
        kernel_size=0.2, max_kernel_radius=16, min_nb_nodes=4, nb_points=60
    )
    gts, preds = robot_cases(seed=1, count=12, height=48, width=64, large=False)
    paths, offsets, ids, cases = [], [0], [], []
    full, small = [], []
    for case, (gt, pred) in enumerate(zip(gts, preds)):
        scribble = robot.interact("case", pred[None], gt[None], nb_objects=int(gt.max()), frame=0)
        for stroke in scribble["scribbles"][0]:
            path = np.asarray(stroke["path"], dtype=np.float64)
            paths.append(path)
            offsets.append(offsets[-1] + len(path))
            ids.append(stroke["object_id"])
            cases.append(case)
        full.append(scribbles2mask(scribble, (48, 64))[0])
        small.append(scribbles2mask(scribble, (13, 17))[0])
    return {
        "paths": np.concatenate(paths),
        "offsets": np.array(offsets, dtype=np.int64),
        "object_ids": np.array(ids, dtype=np.int64),
        "cases": np.array(cases, dtype=np.int64),
        "full": np.stack(full).astype(np.int8),
        "small": np.stack(small).astype(np.int8),
    }


def record_void(batched_jaccard, batched_f_measure) -> dict:
    rng = np.random.default_rng(2)
    gts, preds = [], []
    for _ in range(6):
        gt = _ellipses(rng, 40, 56, 2).astype(np.uint8)
        pred = _shift(gt, int(rng.integers(-3, 4)), int(rng.integers(-3, 4)))
        # Void bands around the objects, as DAVIS annotations have, and a void blob.
        grown = _shift(gt, 2, 2) | _shift(gt, -2, -2)
        gt = np.where((grown > 0) & (gt == 0), 255, gt).astype(np.uint8)
        gt[30:36, 5:15] = 255
        gts.append(gt)
        preds.append(pred)
    gt, pred = np.stack(gts), np.stack(preds)
    return {
        "gt": gt,
        "pred": pred,
        "J": batched_jaccard(gt, pred, average_over_objects=False, nb_objects=2),
        "F": batched_f_measure(gt, pred, average_over_objects=False, nb_objects=2),
    }


#: Samples of the summary cases: sequence -> per scribble a list of (J&F per object, seconds) rounds.
SUMMARY_SEQUENCES = ("bear", "bike-packing", "dogs-jump")


def _summary_rounds(seed: int, rounds: int = 4):
    from davisinteractive.dataset import Davis

    rng = np.random.default_rng(seed)
    samples = []
    for sequence in SUMMARY_SEQUENCES:
        objects = Davis.dataset[sequence]["num_objects"]
        for scribble_idx in range(1, Davis.dataset[sequence]["num_scribbles"] + 1):
            jf = np.sort(rng.uniform(0.2, 0.95, (rounds, objects)), axis=0)
            times = rng.uniform(2.0, 40.0, rounds)
            samples.append(
                {
                    "sequence": sequence,
                    "scribble_idx": scribble_idx,
                    "objects": objects,
                    "jf": jf,
                    "times": times,
                }
            )
    return samples


def record_summary() -> dict:
    from davisinteractive.dataset import Davis
    from davisinteractive.evaluation.service import EvaluationService
    from davisinteractive.storage.local import LocalStorage

    cases = {}
    for name, max_t, seed in (("no_max_t", None, 3), ("max_t", 20.0, 4)):
        samples = _summary_rounds(seed)
        storage = LocalStorage()
        for sample in samples:
            elapsed = 0.0
            for index, (jf, seconds) in enumerate(zip(sample["jf"], sample["times"])):
                elapsed += seconds
                if max_t is not None and elapsed > max_t * sample["objects"]:
                    break  # DavisInteractiveSession.submit_masks: after the time-out, not evaluated
                objects = sample["objects"]
                # J = F = J&F per object, one frame: the summary reads only j_and_f and timing.
                storage.store_interactions_results(
                    None,
                    "s",
                    sample["sequence"],
                    sample["scribble_idx"],
                    index + 1,
                    float(seconds),
                    list(range(1, objects + 1)),
                    [0] * objects,
                    jf.tolist(),
                    jf.tolist(),
                )
        sequences = list(SUMMARY_SEQUENCES)
        service = types.SimpleNamespace(
            sequences=sequences,
            max_t=max_t,
            max_i=None,
            metric_to_optimize="J_AND_F",
            time_threshold=60,
            avg_nb_objects=sum(Davis.dataset[s]["num_objects"] for s in sequences) / len(sequences),
        )
        service._reconstruct_report = types.MethodType(EvaluationService._reconstruct_report, service)
        # LocalStorage builds its report from an empty frame, so its id columns have dtype object; the
        # pandas of 2019 grouped them as integers, pandas 1.5 needs them converted first.
        report = storage.get_report(session_id="s").drop(columns="session_id").infer_objects()
        summary = EvaluationService.summarize_report(service, report)
        cases[name] = {
            "max_t": max_t,
            "samples": [
                {
                    "sequence": s["sequence"],
                    "scribble_idx": s["scribble_idx"],
                    "objects": s["objects"],
                    "jf_per_object": s["jf"].tolist(),
                    "times": s["times"].tolist(),
                }
                for s in samples
            ],
            "auc": float(summary["auc"]),
            "jf_at_60s": float(summary["metric_at_threshold"]["J_AND_F"]),
            "curve_time": [float(v) for v in summary["curve"]["time"]],
            "curve_jf": [float(v) for v in summary["curve"]["J_AND_F"]],
        }
    return cases


def main() -> int:
    try:
        import davisinteractive
        from davisinteractive.metrics import batched_f_measure, batched_jaccard
        from davisinteractive.robot import interactive_robot
        from davisinteractive.utils.scribbles import scribbles2mask
    except ImportError as err:
        print(f"davisinteractive 1.0.4 is needed (see this file's docstring): {err}", file=sys.stderr)
        return 2
    if davisinteractive.__version__ != "1.0.4":
        print(f"davisinteractive 1.0.4 is needed, found {davisinteractive.__version__}", file=sys.stderr)
        return 2
    from davisinteractive.evaluation.service import ROBOT_DEFAULT_PARAMETERS

    OUT.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT / "robot.npz", **record_robot(interactive_robot, dict(ROBOT_DEFAULT_PARAMETERS)))
    np.savez_compressed(OUT / "raster.npz", **record_raster(interactive_robot, scribbles2mask))
    np.savez_compressed(OUT / "void.npz", **record_void(batched_jaccard, batched_f_measure))
    (OUT / "summary.json").write_text(json.dumps(record_summary(), indent=1) + "\n")
    (OUT / "README.md").write_text(
        "Reference outputs of davisinteractive 1.0.4, written by "
        "`benchmarks/vos_equivalence/davis_reference.py` (see its docstring for the command and what "
        "each file holds); read by `tests/vos/test_davis_reference.py`.\n"
    )
    for path in sorted(OUT.iterdir()):
        print(f"{path.relative_to(OUT.parents[3])}: {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
