"""DAVIS scribble JSON: reading real-format files, atomic writing, rasterising."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vos_recommender.interaction import (
    annotated_frames,
    empty_scribble,
    fuse_scribbles,
    is_empty,
    load_scribble,
    rasterize_all,
    rasterize_scribble,
    save_scribble,
    scribble_frame,
    scribble_points,
)
from vos_recommender.interaction.scribbles import bresenham_line, davis_rasterize

# Written by hand in the layout of DAVIS-2017 `Scribbles/<seq>/001.json`: no "annotated_frame" key,
# paths normalised by width and height, times in milliseconds.
REAL_FORMAT = """{"scribbles": [[], [], [{"path": [[0.25, 0.5], [0.5, 0.5], [0.75, 0.5]],
"object_id": 1, "start_time": 0, "end_time": 1712}, {"path": [[0.0, 0.0], [0.0, 0.25]],
"object_id": 0, "start_time": 2275, "end_time": 2518}], []], "sequence": "bear"}"""


def test_reads_real_davis_format(tmp_path: Path) -> None:
    path = tmp_path / "001.json"
    path.write_text(REAL_FORMAT)
    scribble = load_scribble(path)
    assert scribble["sequence"] == "bear"
    assert len(scribble["scribbles"]) == 4
    assert "annotated_frame" not in scribble
    assert scribble_frame(scribble) == 2
    assert annotated_frames(scribble) == [2]
    assert not is_empty(scribble)
    raster = rasterize_scribble(scribble, None, height=8, width=8)
    # davisinteractive's rule: x = 0.25..0.75 of width 8 -> floor(x * 7) = columns 1..5 on row
    # floor(0.5 * 7) = 3; the background stroke 0..0.25 -> rows 0..1 of column 0.
    assert (raster[3, 1:6] == 1).all()
    assert (raster[0:2, 0] == 0).all()
    assert set(np.unique(raster).tolist()) == {-1, 0, 1}
    assert (raster == 1).sum() == 5 and (raster == 0).sum() == 2
    inverse = rasterize_scribble(scribble, None, height=8, width=8, pixel_rule="inverse")
    # The inverse rule: x * 8 = columns 2..6 on row 0.5 * 8 = 4; background rows 0..2.
    assert (inverse[4, 2:7] == 1).all() and (inverse == 1).sum() == 5
    assert (inverse[0:3, 0] == 0).all()


def test_save_load_round_trip_and_atomic(tmp_path: Path) -> None:
    scribble = empty_scribble("seq", 3)
    scribble["scribbles"][1].append(
        {"path": np.array([[0.1, 0.2], [0.3, 0.4]]), "object_id": np.int64(2), "start_time": 0, "end_time": 5}
    )
    scribble["annotated_frame"] = 1
    target = tmp_path / "sub" / "002.json"
    save_scribble(target, scribble)
    assert sorted(p.name for p in target.parent.iterdir()) == ["002.json"]  # no temporary left behind
    loaded = load_scribble(target)
    assert loaded["scribbles"][1][0]["path"] == [[0.1, 0.2], [0.3, 0.4]]
    assert loaded["scribbles"][1][0]["object_id"] == 2
    assert loaded["annotated_frame"] == 1
    # Overwriting replaces the whole file.
    save_scribble(target, empty_scribble("seq", 3))
    assert is_empty(load_scribble(target))


def test_failed_write_keeps_old_file(tmp_path: Path) -> None:
    target = tmp_path / "001.json"
    save_scribble(target, empty_scribble("seq", 2))
    before = target.read_bytes()
    bad = empty_scribble("seq", 2)
    bad["scribbles"][0].append({"path": [[0.1, 0.1]], "object_id": 1, "start_time": object()})
    with pytest.raises(TypeError):
        save_scribble(target, bad)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["001.json"]


def test_invalid_files_raise_with_path(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.json"):
        load_scribble(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="broken.json"):
        load_scribble(broken)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"sequence": "x"}))
    with pytest.raises(ValueError, match="scribbles"):
        load_scribble(wrong)
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"sequence": "x", "scribbles": [[]], "annotated_frame": 3}))
    with pytest.raises(ValueError, match="annotated_frame"):
        load_scribble(outside)


def test_empty_scribble_and_frame_lookup() -> None:
    scribble = empty_scribble("s", 5)
    assert scribble_frame(scribble) is None
    assert is_empty(scribble)
    assert (rasterize_scribble(scribble, None, 4, 4) == -1).all()
    scribble["scribbles"][3].append({"path": [[0.5, 0.5]], "object_id": 1, "start_time": 0, "end_time": 1})
    scribble["annotated_frame"] = 0  # stale key pointing at an empty frame is ignored
    assert scribble_frame(scribble) == 3
    with pytest.raises(ValueError):
        empty_scribble("s", 0)


def test_fuse_keeps_all_strokes_and_latest_frame() -> None:
    first = empty_scribble("s", 4)
    first["scribbles"][1].append({"path": [[0.1, 0.1]], "object_id": 1, "start_time": 0, "end_time": 1})
    second = empty_scribble("s", 4)
    second["scribbles"][3].append({"path": [[0.2, 0.2]], "object_id": 0, "start_time": 0, "end_time": 1})
    fused = fuse_scribbles([first, second])
    assert annotated_frames(fused) == [1, 3]
    assert fused["annotated_frame"] == 3
    stack = rasterize_all(fused, 10, 10)
    assert stack.shape == (4, 10, 10)
    # floor(0.1 * 9) = 0 and floor(0.2 * 9) = 1 (davisinteractive's rule).
    assert stack[1, 0, 0] == 1 and stack[3, 1, 1] == 0 and (stack[[0, 2]] == -1).all()
    assert len(first["scribbles"][3]) == 0  # inputs untouched
    with pytest.raises(ValueError, match="sequences"):
        fuse_scribbles([first, empty_scribble("other", 4)])


def test_points_and_thickness() -> None:
    scribble = empty_scribble("s", 1)
    scribble["scribbles"][0].append(
        {"path": [[0.0, 0.0], [1.0, 1.0]], "object_id": 300, "start_time": 0, "end_time": 1}
    )
    points, ids = scribble_points(scribble, 0, 10, 10)
    np.testing.assert_array_equal(points, [[0, 0], [9, 9]])  # the far edge is clipped inside
    np.testing.assert_array_equal(ids, [300, 300])
    thin = rasterize_scribble(scribble, 0, 10, 10, thickness=1)
    thick = rasterize_scribble(scribble, 0, 10, 10, thickness=3)
    assert (thin == 300).sum() == 10  # the diagonal, ids above 255 preserved
    assert (thick == 300).sum() > (thin == 300).sum()
    with pytest.raises(IndexError):
        rasterize_scribble(scribble, 4, 10, 10)


def test_check_scribble_against_the_video() -> None:
    from vos_recommender.interaction import check_scribble

    scribble = json.loads(REAL_FORMAT)
    assert check_scribble(scribble, num_frames=4, num_objects=1, require_strokes=True) == 2
    with pytest.raises(ValueError, match="bear.json has 4 frame lists but the video has 5 frames"):
        check_scribble(scribble, num_frames=5, num_objects=1, source="bear.json")
    with pytest.raises(
        ValueError, match=r"stroke 0 on frame 2 has object_id 1; .* integers 0 \(background\) to 0"
    ):
        check_scribble(scribble, num_frames=4, num_objects=0)
    for label in (-1, 1.0, True, "1"):
        bad = json.loads(REAL_FORMAT)
        bad["scribbles"][2][1]["object_id"] = label
        with pytest.raises(ValueError, match=rf"stroke 1 on frame 2 has object_id {label!r}"):
            check_scribble(bad, num_frames=4, num_objects=1)
    bad = json.loads(REAL_FORMAT)
    bad["scribbles"][2][0]["path"][2] = [1.0001, 0.5]
    with pytest.raises(ValueError, match=r"stroke 0 on frame 2 has point \[1.0001, 0.5\] outside \[0, 1\]"):
        check_scribble(bad, num_frames=4, num_objects=1)
    empty = empty_scribble("bear", 4)
    assert check_scribble(empty, num_frames=4, num_objects=1) is None  # a later round may bring no stroke
    with pytest.raises(ValueError, match="first scribble has no strokes"):
        check_scribble(empty, num_frames=4, num_objects=1, source="first scribble", require_strokes=True)


def test_pixel_rules_davis_by_default_and_inverse() -> None:
    from vos_recommender.interaction.scribbles import PIXEL_RULES

    assert PIXEL_RULES == ("davis", "inverse")
    height, width = 48, 64
    # A robot stroke through pixel (col 10, row 20) and (col 13, row 20), written as x = col / W.
    scribble = empty_scribble("s", 1)
    scribble["scribbles"][0].append(
        {
            "path": [[10 / width, 20 / height], [13 / width, 20 / height]],
            "object_id": 2,
            "start_time": 0,
            "end_time": 1,
        }
    )
    inverse = rasterize_scribble(scribble, 0, height, width, pixel_rule="inverse")
    assert sorted(zip(*np.nonzero(inverse == 2))) == [(20, 10), (20, 11), (20, 12), (20, 13)]
    # davis-interactive truncates x * (W - 1): 10 * 63 / 64 = 9.84 -> 9, 20 * 47 / 48 = 19.58 -> 19.
    davis = rasterize_scribble(scribble, 0, height, width, pixel_rule="davis")
    assert sorted(zip(*np.nonzero(davis == 2))) == [(19, 9), (19, 10), (19, 11), (19, 12)]
    np.testing.assert_array_equal(rasterize_scribble(scribble, 0, height, width), davis)
    np.testing.assert_array_equal(rasterize_all(scribble, height, width)[0], davis)
    assert scribble_points(scribble, 0, height, width)[0].tolist() == [[19, 9], [19, 12]]
    assert scribble_points(scribble, 0, height, width, pixel_rule="inverse")[0].tolist() == [
        [20, 10],
        [20, 13],
    ]
    # The far edge: x = 1 is clipped into the image by the inverse rule and lands on W - 1 with davis.
    edge = empty_scribble("s", 1)
    edge["scribbles"][0].append({"path": [[1.0, 1.0]], "object_id": 1, "start_time": 0, "end_time": 1})
    assert rasterize_scribble(edge, 0, height, width, pixel_rule="inverse")[height - 1, width - 1] == 1
    assert rasterize_scribble(edge, 0, height, width)[height - 1, width - 1] == 1
    with pytest.raises(ValueError, match="pixel_rule"):
        rasterize_scribble(scribble, 0, height, width, pixel_rule="floor")


def test_davis_rule_draws_davis_lines_and_thick_strokes() -> None:
    # davis-interactive's Bresenham and OpenCV's line take different pixels on (0, 0) -> (4, 2)
    # (1, 0) vs (1, 1) after truncation; the default rule is davis-interactive's, pixel for pixel.
    scribble = empty_scribble("s", 1)
    scribble["scribbles"][0].append(
        {"path": [[0.0, 0.0], [4 / 8, 2 / 8]], "object_id": 1, "start_time": 0, "end_time": 1}
    )
    drawn = rasterize_scribble(scribble, 0, 9, 9)
    assert sorted(zip(*np.nonzero(drawn == 1))) == [(0, 0), (1, 1), (1, 2), (2, 3), (2, 4)]
    thick = rasterize_scribble(scribble, 0, 9, 9, thickness=3)
    assert (thick == 1).sum() > (drawn == 1).sum() and thick[0, 0] == 1


def test_bresenham_follows_davis_interactive():
    # davis-interactive's loop on (0, 0) -> (4, 2): steps in y when its error term is >= 0.
    line = bresenham_line(np.array([0, 0]), np.array([4, 2]))
    assert line.tolist() == [[0, 0], [1, 1], [2, 1], [3, 2], [4, 2]]
    steep = bresenham_line(np.array([5, 9]), np.array([3, 2]))
    assert steep[0].tolist() == [5, 9] and steep[-1].tolist() == [3, 2] and len(steep) == 8
    assert np.abs(np.diff(steep, axis=0)).max() == 1
    assert bresenham_line(np.array([2, 3]), np.array([2, 3])).tolist() == [[2, 3]]


def test_davis_rasterize_scales_by_size_minus_one():
    canvas = davis_rasterize([([[0.0, 0.0], [1.0, 1.0]], 2), ([[1.0, 0.0]], 0)], 5, 9)
    assert canvas[0, 0] == 2 and canvas[4, 8] == 2 and canvas[0, 8] == 0
    assert (canvas >= 0).sum() == 10  # 9 diagonal pixels + 1 point
