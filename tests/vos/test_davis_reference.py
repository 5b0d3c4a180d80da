"""The project's defaults against outputs recorded from davisinteractive 1.0.4.

The files under ``tests/vos/data/davis_reference/`` were written by
``benchmarks/vos_equivalence/davis_reference.py`` in a separate environment with davisinteractive
installed; these tests need only the files. Each also shows that the project's own variant, kept as
a named option, differs from davisinteractive's on the same data.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vos_recommender.interaction import InteractiveRobot, rasterize_scribble
from vos_recommender.interaction.scribbles import empty_scribble
from vos_recommender.interaction.skeleton import open_region
from vos_recommender.metrics import davis_summary, jf_at_time, per_frame_jf, time_auc

DATA = Path(__file__).parent / "data" / "davis_reference"


@pytest.fixture(scope="module")
def robot_data():
    with np.load(DATA / "robot.npz") as data:
        return {key: data[key] for key in data.files}


def _opened(robot_data) -> np.ndarray:
    height, width = robot_data["shape"].tolist()
    return np.unpackbits(robot_data["opened"], axis=-1, count=width).astype(bool)


def test_robot_opening_equals_davis_on_every_error_region(robot_data) -> None:
    params = json.loads(str(robot_data["params"]))
    opened = _opened(robot_data)
    centred_differs = 0
    for (case, label, _), expected in zip(robot_data["rows"].tolist(), opened):
        gt, pred = robot_data["gt"][case], robot_data["pred"][case]
        error = (gt == label) & (pred != label)
        ours = open_region(error, params["kernel_size"], params["max_kernel_radius"])
        np.testing.assert_array_equal(ours, expected, err_msg=f"case {case}, label {label}")
        centred = open_region(error, params["kernel_size"], params["max_kernel_radius"], rule="centred")
        centred_differs += not np.array_equal(centred, expected)
    assert centred_differs >= 10  # the project's centred disk is another opening


def test_robot_strokes_per_region_equal_davis(robot_data) -> None:
    params = json.loads(str(robot_data["params"]))
    rows = robot_data["rows"]  # (case, label, strokes davisinteractive drew for that label)
    thin_rows = rows[:, 0] < 30  # the first 30 cases: predictions shifted by one pixel
    stats = {}
    for rule in ("davis", "centred"):
        robot = InteractiveRobot(**params, opening_rule=rule)
        per_case, per_region = [], []
        for case in range(len(robot_data["gt"])):
            gt, pred = robot_data["gt"][case], robot_data["pred"][case]
            strokes = robot.strokes_for_frame(pred, gt, int(gt.max()))
            per_case.append(len(strokes))
            per_region += [
                sum(1 for obj, _ in strokes if obj == label) for label in rows[rows[:, 0] == case, 1]
            ]
        stats[rule] = (np.array(per_case), np.array(per_region))
    per_case, per_region = stats["davis"]
    np.testing.assert_array_equal(per_region, rows[:, 2])  # all 122 error regions
    np.testing.assert_array_equal(per_case, robot_data["strokes_per_case"])
    # On one-pixel-wide bands (30 frames): davisinteractive 3.33 strokes per scribble, 2 of 30 empty;
    # the centred disk 2.63 and 3 of 30, and 0.86 instead of 1.09 strokes per error region.
    assert per_case[:30].mean() == pytest.approx(3.33, abs=0.01) and (per_case[:30] == 0).sum() == 2
    centred_case, centred_region = stats["centred"]
    assert centred_case[:30].mean() == pytest.approx(2.63, abs=0.01) and (centred_case[:30] == 0).sum() == 3
    assert centred_region[thin_rows].mean() < per_region[thin_rows].mean() - 0.2


def test_rasteriser_equals_scribbles2mask() -> None:
    with np.load(DATA / "raster.npz") as data:
        raster = {key: data[key] for key in data.files}
    offsets = raster["offsets"]
    cases = len(raster["full"])
    scribbles = [empty_scribble("case", 1) for _ in range(cases)]
    for index, (case, obj) in enumerate(zip(raster["cases"], raster["object_ids"])):
        path = raster["paths"][offsets[index] : offsets[index + 1]]
        scribbles[case]["scribbles"][0].append(
            {"path": path.tolist(), "object_id": int(obj), "start_time": 0, "end_time": 1}
        )
    inverse_differs = 0
    for case, scribble in enumerate(scribbles):
        for key, (height, width) in (("full", (48, 64)), ("small", (13, 17))):
            expected = raster[key][case].astype(np.int32)
            np.testing.assert_array_equal(rasterize_scribble(scribble, 0, height, width), expected)
            inverse = rasterize_scribble(scribble, 0, height, width, pixel_rule="inverse")
            inverse_differs += not np.array_equal(inverse, expected)
    assert inverse_differs == 2 * cases  # the project's inverse rule is off by a pixel everywhere


def test_j_and_f_count_void_pixels_as_davis() -> None:
    with np.load(DATA / "void.npz") as data:
        void = {key: data[key] for key in data.files}
    scores = per_frame_jf(void["gt"], void["pred"], num_objects=2)
    np.testing.assert_allclose(scores["J"], void["J"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(scores["F"], void["F"], rtol=0, atol=1e-12)
    ignored = per_frame_jf(void["gt"], void["pred"], num_objects=2, void_rule="ignore")
    assert ignored["J"].mean() > void["J"].mean() + 0.02  # ignoring void forgives predictions there
    with pytest.raises(ValueError, match="void_rule"):
        per_frame_jf(void["gt"], void["pred"], num_objects=2, void_rule="skip")


def _summary_case(name: str):
    case = json.loads((DATA / "summary.json").read_text())[name]
    jf = np.array([np.mean(s["jf_per_object"], axis=1) for s in case["samples"]])
    times = np.array([s["times"] for s in case["samples"]])
    objects = [s["objects"] for s in case["samples"]]
    sequences = [s["sequence"] for s in case["samples"]]
    return case, jf, times, objects, sequences


def test_summary_without_max_t_equals_davis() -> None:
    case, jf, times, objects, sequences = _summary_case("no_max_t")
    summary = davis_summary(jf, times, objects)
    assert summary["auc"] == pytest.approx(case["auc"], abs=1e-12)
    assert summary["jf_at_t"] == pytest.approx(case["jf_at_60s"], abs=1e-12)
    np.testing.assert_allclose(summary["time"], case["curve_time"], atol=1e-9)
    np.testing.assert_allclose(summary["jf"], case["curve_jf"], atol=1e-12)
    # time_auc / jf_at_time given every sample build the same averaged curve and davis's default budget.
    assert time_auc(jf, times, objects=objects) == pytest.approx(case["auc"], abs=1e-12)
    assert jf_at_time(jf, times, 60.0, objects=objects) == pytest.approx(case["jf_at_60s"], abs=1e-12)


def test_summary_with_max_t_equals_davis() -> None:
    case, jf, times, objects, sequences = _summary_case("max_t")
    summary = davis_summary(jf, times, objects, max_t=case["max_t"], sequences=sequences)
    assert summary["auc"] == pytest.approx(case["auc"], abs=1e-12)
    assert summary["jf_at_t"] == pytest.approx(case["jf_at_60s"], abs=1e-12)
    np.testing.assert_allclose(summary["time"], case["curve_time"], atol=1e-9)
    np.testing.assert_allclose(summary["jf"], case["curve_jf"], atol=1e-12)
    assert time_auc(jf, times, objects=objects, max_t=case["max_t"], sequences=sequences) == pytest.approx(
        case["auc"], abs=1e-12
    )
    # Without the time-out the same samples give another AUC.
    assert abs(davis_summary(jf, times, objects)["auc"] - case["auc"]) > 0.05
