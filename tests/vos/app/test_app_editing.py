"""Editing masks by hand: each edit kind, validation, undo/redo (also across a reload), edits driving rounds."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

from tests.vos.app.conftest import first_strokes, local_client, open_session
from vos_recommender.app.errors import AppInputError
from vos_recommender.app.mask_edits import apply_mask_edit, check_mask_edit, edit_region
from vos_recommender.app.server import create_app


def _edit(op, points, object_id=1, width=1, erase=False, num_objects=2, frame=0):
    return check_mask_edit(
        {"op": op, "object_id": object_id, "points": points, "width": width, "erase": erase},
        frame,
        num_objects,
    )


def _centre(row, col, height, width):
    """The normalised point at the centre of pixel ``(row, col)``."""
    return [(col + 0.5) / width, (row + 0.5) / height]


def _inner_point(mask):
    """The normalised centre of the pixel deepest inside ``mask``."""
    depth = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]  # the frame's edge is not inside
    row, col = np.unravel_index(np.argmax(depth), depth.shape)
    return _centre(row, col, *mask.shape)


BLANK = np.zeros((40, 60, 3), np.uint8)


def _cache_kwargs(tmp_path):
    """Arguments of the ``cache`` backend (it replays recorded ``flow`` results, so it cannot take a mask)."""
    return {"backend": "flow", "cache_dir": str(tmp_path / "cache")}


def test_brush_paints_a_line_of_the_chosen_width_and_a_click_a_disk():
    height, width = BLANK.shape[:2]
    line = _edit("brush", [_centre(20, 10, height, width), _centre(20, 50, height, width)], width=7)
    region = edit_region(line, BLANK)
    rows = np.flatnonzero(region[:, 30])
    assert rows.min() == 17 and rows.max() == 23  # 7 pixels wide around row 20
    assert region[20, 10:51].all() and not region[20, :5].any() and not region[20, 56:].any()
    dot = edit_region(_edit("brush", [_centre(10, 10, height, width)], width=9), BLANK)
    ys, xs = np.nonzero(dot)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (6, 14, 6, 14)
    distance = np.hypot(ys - 10, xs - 10)
    assert distance.max() <= 4.5 and dot.sum() > 0.8 * np.pi * 4.5**2


def test_eraser_removes_only_the_selected_object_and_paint_overwrites():
    mask = np.zeros((40, 60), np.uint8)
    mask[:, :30], mask[:, 30:] = 1, 2
    stroke = [_centre(20, 5, 40, 60), _centre(20, 55, 40, 60)]
    erased = apply_mask_edit(mask, _edit("brush", stroke, object_id=1, width=5, erase=True), BLANK)
    assert (erased[18:23, 5:30] == 0).all() and (erased[18:23, 30:] == 2).all()
    assert (erased[20, :3] == 1).all()  # the stroke's round end stops 2.5 pixels before its first point
    assert (erased[:17] == mask[:17]).all() and (erased[24:] == mask[24:]).all()
    painted = apply_mask_edit(mask, _edit("brush", stroke, object_id=1, width=5), BLANK)
    assert (painted[18:23, 5:56] == 1).all() and (painted[:17, 30:] == 2).all()


def test_polygon_fills_its_inside():
    height, width = 40, 60
    corners = [(5, 5), (5, 50), (35, 50), (35, 5)]  # (row, col)
    region = edit_region(_edit("polygon", [_centre(r, c, height, width) for r, c in corners]), BLANK)
    expected = np.zeros((height, width), bool)
    expected[5:36, 5:51] = True
    np.testing.assert_array_equal(region, expected)
    triangle = edit_region(
        _edit("polygon", [_centre(*p, height, width) for p in [(2, 2), (2, 40), (30, 2)]]), BLANK
    )
    rows, cols = np.mgrid[:height, :width]
    inside = (rows >= 2) & (cols >= 2) & (rows * 38 + cols * 28 <= 30 * 38 + 2 * 28 - 1)
    assert (triangle >= inside).all() and triangle.sum() < inside.sum() * 1.15
    erased = apply_mask_edit(
        np.ones((height, width), np.uint8),
        _edit("polygon", [_centre(r, c, height, width) for r, c in corners], erase=True),
        BLANK,
    )
    np.testing.assert_array_equal(erased == 0, expected)


def test_click_to_segment_takes_the_clicked_object(app_video):
    _, video = app_video
    frame = 5
    for k in range(1, video.num_objects + 1):
        truth = video.masks[frame] == k
        region = edit_region(
            _edit("segment", [_inner_point(truth)], object_id=k, width=4), video.frames[frame]
        )
        assert ndimage.label(region)[1] == 1  # one connected region holding the click
        hit = (region & truth).sum()
        assert hit / region.sum() > 0.9 and hit / truth.sum() > 0.7


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ([], "must be a JSON object, got list"),
        (
            {"op": "fill", "object_id": 1, "points": [[0, 0]]},
            "op 'fill' is not one of brush, polygon, segment",
        ),
        ({"op": "brush", "object_id": 3, "points": [[0, 0]]}, r"object_id 3 is not an object id 1\.\.2"),
        ({"op": "brush", "object_id": 0, "points": [[0, 0]]}, r"object_id 0 is not an object id 1\.\.2"),
        ({"op": "brush", "object_id": True, "points": [[0, 0]]}, "object_id True"),
        ({"op": "brush", "object_id": 1, "points": []}, r"points must be a list of 1\.\.10000"),
        ({"op": "brush", "object_id": 1, "points": [[0, 0]] * 10_001}, "got 10001 points"),
        ({"op": "brush", "object_id": 1, "points": [[0.5, 1.5]]}, r"outside \[0, 1\]"),
        ({"op": "brush", "object_id": 1, "points": [[0.5, float("nan")]]}, "finite numbers"),
        ({"op": "brush", "object_id": 1, "points": [["0", 0]]}, "finite numbers"),
        ({"op": "brush", "object_id": 1, "points": [[0, 0]], "width": 0}, "width 0 must be"),
        ({"op": "brush", "object_id": 1, "points": [[0, 0]], "width": 1e6}, "0 < width <= 1000"),
        ({"op": "brush", "object_id": 1, "points": [[0, 0]], "erase": "yes"}, "erase must be true or false"),
        ({"op": "polygon", "object_id": 1, "points": [[0, 0], [1, 1]]}, "at least 3 points, got 2"),
        ({"op": "segment", "object_id": 1, "points": [[0, 0], [1, 1]]}, "exactly one point, got 2"),
        ({"op": "brush", "object_id": 1, "points": [[0, 0]], "colour": 3}, r"unknown fields \['colour'\]"),
    ],
)
def test_bad_edits_are_named(edit, message):
    with pytest.raises(AppInputError, match=f"frame 7, mask edit: .*{message}"):
        check_mask_edit(edit, 7, 2)


def test_an_edit_without_objects_says_to_add_one():
    with pytest.raises(AppInputError, match="add an object first"):
        check_mask_edit({"op": "brush", "object_id": 1, "points": [[0, 0]]}, 0, 0)


def _box(frame_shape, top, left, bottom, right):
    height, width = frame_shape
    return [
        _centre(r, c, height, width) for r, c in [(top, left), (top, right), (bottom, right), (bottom, left)]
    ]


def test_an_edited_frame_is_annotated_saved_and_drives_the_next_round(app_video, tmp_path):
    frames_dir, video = app_video
    size = video.masks.shape[1:]
    # Plain warping: the patch painted below has the background's colours, so the default refinement
    # would (rightly) cut it from the propagated frames as a spill; here it shows how far an edit travels.
    plain = {"refine": None}
    with open_session(frames_dir, tmp_path / "s", video, backend_kwargs=plain) as annotator:
        frame, strokes = first_strokes(video)
        annotator.set_strokes(frame, strokes)
        annotator.run_round(frame)
        edited_frame = next(t for t in range(video.num_frames) if abs(t - frame) >= 3)
        before = annotator.state.masks.copy()
        version = annotator.mask_version
        # Object 1 painted into a patch of background far from the objects; a spill erased.
        annotator.edit_mask(
            edited_frame, {"op": "polygon", "object_id": 1, "points": _box(size, 2, 2, 14, 20)}
        )
        annotator.edit_mask(
            edited_frame,
            {"op": "brush", "object_id": 1, "points": [_centre(8, 11, *size)], "width": 3, "erase": True},
        )
        edit = annotator.state.masks[edited_frame].copy()
        assert (edit[2:15, 2:21] == 1).sum() == 13 * 19 - 9 and edit[8, 11] == 0
        assert annotator.mask_version == version + 2 and annotator.state.edited == [edited_frame]
        assert annotator.state.counts()[edited_frame] == 1 and annotator.snapshot()["edited"] == [
            edited_frame
        ]
        np.testing.assert_array_equal(
            np.delete(annotator.state.masks, edited_frame, 0), np.delete(before, edited_frame, 0)
        )
    with open_session(frames_dir, tmp_path / "s", video, backend_kwargs=plain) as annotator:  # saved
        np.testing.assert_array_equal(annotator.state.masks[edited_frame], edit)
        assert annotator.state.edited == [edited_frame]
        other = next(t for t in range(video.num_frames) if t not in (frame, edited_frame))
        annotator.set_strokes(other, [{"path": [[0.95, 0.95], [0.97, 0.95]], "object_id": 0}])
        annotator.run_round(other)  # replays round 1 after the restart, then the edit, then the strokes
        masks = annotator.state.masks
        round2 = annotator.state.rounds[-1]
        assert sorted(round2.annotations) == [edited_frame] and annotator.state.edited == []
        np.testing.assert_array_equal(masks[edited_frame], edit)  # the edit is the frame's annotation
        # Propagation starts from it: the painted patch moves into the next frame's mask.
        neighbour = edited_frame + 1 if edited_frame + 1 not in (frame, other) else edited_frame - 1
        patch = np.zeros(size, bool)
        patch[4:13, 4:19] = True
        assert (masks[neighbour][patch] == 1).mean() > 0.8 and (before[neighbour][patch] == 1).mean() < 0.2
        assert annotator.state.counts()[edited_frame] == 1
    # The same as the backend given the same rounds directly.
    from vos_recommender.backends import build_backend

    backend = build_backend("flow", **plain)
    backend.start_video(video.frames, video.num_objects)
    backend.interact(annotator.state.rounds[0].scribble, frame)
    backend.set_annotated_mask(edited_frame, edit)
    direct = backend.interact(round2.scribble, other)
    np.testing.assert_array_equal(direct.masks, masks)


def test_a_round_of_edited_masks_only_runs_from_them(app_video, tmp_path):
    frames_dir, video = app_video
    size = video.masks.shape[1:]
    with open_session(frames_dir, tmp_path / "s", video) as annotator:
        with pytest.raises(AppInputError, match=r"draw at least one stroke on frame 3 \(or edit a mask\)"):
            annotator.run_round(3)
        annotator.edit_mask(3, {"op": "polygon", "object_id": 1, "points": _box(size, 20, 30, 50, 80)})
        assert annotator.state.recommendation is not None
        annotator.run_round(6)  # no strokes on frame 6: the round runs from the edited frame
        round_ = annotator.state.rounds[0]
        assert (round_.frame, round_.frames(), round_.has_strokes) == (3, [3], False)
        np.testing.assert_array_equal(annotator.state.masks[3], round_.annotations[3])
        assert (annotator.state.masks[4] == 1).sum() > 0.8 * (annotator.state.masks[3] == 1).sum()


def test_undo_and_redo_strokes_edits_and_rounds_also_after_a_reload(app_video, tmp_path):
    frames_dir, video = app_video
    size = video.masks.shape[1:]
    frame, strokes = first_strokes(video)
    with open_session(frames_dir, tmp_path / "s", video) as annotator:
        annotator.add_object("spare")
        with pytest.raises(AppInputError, match="nothing to undo"):
            annotator.undo()
        annotator.set_strokes(frame, strokes[:1])
        annotator.set_strokes(frame, strokes)
        assert annotator.undo() == f"strokes on frame {frame}"
        assert annotator.state.drafts[frame] == strokes[:1]
        assert annotator.redo() == f"strokes on frame {frame}"
        assert annotator.state.drafts[frame] == strokes
        with pytest.raises(AppInputError, match="nothing to redo"):
            annotator.redo()
        annotator.run_round(frame)
        after_round = annotator.state.masks.copy()
        quality, recommendation = annotator.state.quality, annotator.state.recommendation
        annotator.edit_mask(2, {"op": "polygon", "object_id": 2, "points": _box(size, 30, 40, 60, 90)})
        after_edit = annotator.state.masks.copy()
        assert annotator.snapshot()["history"]["undo"] == "lasso fill on frame 2"
        assert annotator.undo() == "lasso fill on frame 2"
        np.testing.assert_array_equal(annotator.state.masks, after_round)
        assert annotator.state.edited == []
        assert annotator.undo() == f"round on frame {frame}"
        assert annotator.state.rounds == [] and annotator.state.masks is None
        assert annotator.state.drafts[frame] == strokes  # the round's strokes are drafts again
        summary = annotator.snapshot()["history"]
        assert (summary["redo"], summary["redo_count"]) == (f"round on frame {frame}", 2)
    with open_session(frames_dir, tmp_path / "s", video) as annotator:  # the history survived the restart
        assert annotator.redo() == f"round on frame {frame}"
        assert len(annotator.state.rounds) == 1 and annotator.state.drafts.get(frame) is None
        np.testing.assert_array_equal(annotator.state.masks, after_round)
        assert (annotator.state.quality, annotator.state.recommendation) == (quality, recommendation)
        assert annotator.redo() == "lasso fill on frame 2"
        np.testing.assert_array_equal(annotator.state.masks, after_edit)
        assert annotator.state.edited == [2]
        # The next round starts from the redone round and edit: the backend replays both.
        annotator.set_strokes(7, [{"path": [[0.95, 0.95]], "object_id": 0}])
        annotator.run_round(7)
        np.testing.assert_array_equal(annotator.state.masks[2], after_edit[2])
        assert [r.frames() for r in annotator.state.rounds] == [[frame], [2, 7]]
        # A new change drops what could be redone; deleting an object clears the history.
        annotator.undo()
        annotator.set_strokes(1, [{"path": [[0.5, 0.5]], "object_id": 1}])
        assert annotator.snapshot()["history"]["redo"] is None
        annotator.delete_object(2)
        assert annotator.snapshot()["history"] == {
            "undo": None,
            "redo": None,
            "undo_count": 0,
            "redo_count": 0,
        }
    manifest = json.loads((tmp_path / "s" / "session.json").read_text())
    assert manifest["history"] == {"undo": [], "redo": []}


def test_the_api_edits_undoes_and_explains_refusals(app_video, tmp_path):
    frames_dir, video = app_video
    with open_session(frames_dir, tmp_path / "s", video) as annotator:
        annotator.add_object("spare")
        client = local_client(create_app(annotator=annotator))
        edit = {"op": "segment", "object_id": 1, "points": [_inner_point(video.masks[4] == 1)], "width": 4}
        state = client.post("/api/masks/4/edit", json=edit).json()
        assert (
            state["edited"] == [4] and state["has_masks"] and state["history"]["undo"] == "click on frame 4"
        )
        assert client.get("/api/overlay/4").status_code == 200
        state = client.post("/api/undo").json()
        assert state["done"] == "undid click on frame 4" and state["edited"] == []
        assert client.post("/api/redo").json()["done"] == "redid click on frame 4"
        bad = client.post("/api/masks/4/edit", json={**edit, "width": "4"})
        assert bad.status_code == 400 and "width" in bad.json()["error"]
        bad = client.post("/api/masks/4/edit", json={**edit, "object_id": 9})
        assert bad.status_code == 400 and "object_id 9 is not an object id 1..2" in bad.json()["error"]
        missing = client.post("/api/masks/99/edit", json=edit)
        assert missing.status_code == 404 and "frame 99 is outside the video" in missing.json()["error"]
        nothing = client.post("/api/redo")
        assert nothing.status_code == 400 and nothing.json()["error"] == "nothing to redo"
    # The result cache replays recorded rounds: it cannot start from a mask.
    with open_session(frames_dir, tmp_path / "cached", video, "cache", _cache_kwargs(tmp_path)) as cached:
        client = local_client(create_app(annotator=cached))
        assert client.get("/api/state").json()["can_edit_masks"] is False
        refused = client.post("/api/masks/4/edit", json=edit)
        assert refused.status_code == 422
        assert "'cache' backend cannot start from a mask edited by hand" in refused.json()["error"]


def test_export_writes_the_scribbles_of_rounds_with_strokes_and_names_edited_frames(app_video, tmp_path):
    from vos_recommender.app.export import export_davis
    from vos_recommender.data.davis import DavisDataset

    frames_dir, video = app_video
    with open_session(frames_dir, tmp_path / "s", video) as annotator:
        annotator.edit_mask(
            3, {"op": "polygon", "object_id": 1, "points": _box(video.masks.shape[1:], 20, 30, 50, 80)}
        )
        annotator.run_round(3)
        frame, strokes = first_strokes(video)
        annotator.set_strokes(frame, strokes)
        annotator.run_round(frame)
        info = export_davis(annotator.video, annotator.state, tmp_path / "out")
        objects = json.loads((tmp_path / "out" / "objects.json").read_text())
    assert info["scribbles"] == 1 and (objects["rounds"], objects["edited_frames"]) == ([3, frame], [3])
    exported = DavisDataset(tmp_path / "out", split="val")[video.name]
    assert [s["scribbles"][frame] for s in exported.scribbles] == [
        annotator.state.rounds[1].scribble["scribbles"][frame]
    ]
    np.testing.assert_array_equal(exported.masks, annotator.state.masks)


def test_a_run_with_edits_on_a_backend_that_cannot_take_them_is_refused_with_a_message(app_video, tmp_path):
    from vos_recommender.app.errors import AppUnsupportedError

    frames_dir, video = app_video
    with open_session(frames_dir, tmp_path / "s", video) as annotator:
        annotator.edit_mask(3, {"op": "brush", "object_id": 1, "points": [[0.5, 0.5]], "width": 5})
    reopened = open_session(frames_dir, tmp_path / "s", video, "cache", _cache_kwargs(tmp_path))
    message = r"'cache' backend cannot start from masks .*frames \[3\]"
    with reopened, pytest.raises(AppUnsupportedError, match=message):
        reopened.start_round(3)


def test_editing_the_recommended_frame_moves_the_recommendation_and_undo_brings_it_back(app_video, tmp_path):
    frames_dir, video = app_video
    with open_session(frames_dir, tmp_path / "s", video) as annotator:
        frame, strokes = first_strokes(video)
        annotator.set_strokes(frame, strokes)
        annotator.run_round(frame)
        recommended = annotator.state.recommendation
        edit = {"op": "polygon", "object_id": 1, "points": _box(video.masks.shape[1:], 2, 2, 14, 20)}
        annotator.edit_mask(recommended["frame"], edit)
        moved = annotator.state.recommendation
        assert moved["frame"] not in (recommended["frame"], frame)
        annotator.undo()
        assert annotator.state.recommendation == recommended
        annotator.redo()
        assert annotator.state.recommendation == moved


def test_an_edited_frame_shows_its_estimate_as_unknown_until_the_next_round(app_video, tmp_path):
    frames_dir, video = app_video
    with open_session(frames_dir, tmp_path / "s", video) as annotator:
        frame, strokes = first_strokes(video)
        annotator.set_strokes(frame, strokes)
        annotator.run_round(frame)
        measured = list(annotator.state.quality)
        edited = (frame + 2) % video.num_frames
        edit = {"op": "polygon", "object_id": 1, "points": _box(video.masks.shape[1:], 2, 2, 14, 20)}
        annotator.edit_mask(edited, edit)
        quality = annotator.state.quality
        assert quality[edited] is None  # the estimate described masks that are gone
        assert [q for t, q in enumerate(quality) if t != edited] == [
            q for t, q in enumerate(measured) if t != edited
        ]
        assert f"frame {edited} was edited by hand" in annotator.state.quality_note
        annotator.undo()
        assert annotator.state.quality == measured and annotator.state.quality_note is None
        annotator.set_strokes(frame, strokes)
        annotator.run_round(frame)
        assert all(q is not None for q in annotator.state.quality)
