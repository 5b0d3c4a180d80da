"""The simulated annotator's first-round scribbles and the shared shrinking loop they use."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import distance_transform_edt

from vos_recommender.interaction.human import _erode_keep, human_scribble, pick_scribble_frames
from vos_recommender.interaction.skeleton import shrink_until


def _masks(num_frames: int = 4, height: int = 60, width: int = 80) -> np.ndarray:
    masks = np.zeros((num_frames, height, width), np.uint8)
    for t in range(num_frames):
        masks[t, 10:40, 8 + 2 * t : 30 + 2 * t] = 1
        masks[t, 20 : 20 + 6 + 4 * t, 50:74] = 2  # object 2 grows: most visible on the last frame
    return masks


def test_shrink_until_returns_the_first_accepted_result():
    tried = []

    def operation(radius):
        tried.append(radius)
        return np.full(3, radius)

    result = shrink_until(operation, 5, lambda r: r[0] <= 3, lambda r: r - 1, 0)
    assert tried == [5, 4, 3] and result[0] == 3
    tried.clear()
    assert shrink_until(operation, 2.0, lambda r: False, lambda r: r * 0.5, 0.4) is None
    assert tried == [2.0, 1.0, 0.5]


def test_erosion_shrinks_rather_than_erasing():
    region = np.zeros((20, 20), bool)
    region[5:9, 2:18] = True  # 4 pixels high: a radius-3 erosion would erase it
    eroded = _erode_keep(region, 3)
    assert 8 <= eroded.sum() < region.sum() and not (eroded & ~region).any()
    tiny = np.zeros((20, 20), bool)
    tiny[3, 3:6] = True  # nothing survives any erosion: the region is kept as it is
    np.testing.assert_array_equal(_erode_keep(tiny, 2), tiny)
    # The image border counts as background.
    edge = np.zeros((20, 20), bool)
    edge[:, :10] = True
    assert not _erode_keep(edge, 2)[:, :2].any()


def test_strokes_lie_inside_their_regions_and_background_keeps_away():
    masks = _masks()
    scribble = human_scribble(masks, 2, 2, "toy", np.random.default_rng(0))
    assert scribble["annotated_frame"] == 2
    assert all(not strokes for t, strokes in enumerate(scribble["scribbles"]) if t != 2)
    strokes = scribble["scribbles"][2]
    height, width = masks.shape[1:]
    distance_to_objects = distance_transform_edt(masks[2] == 0)
    ids = set()
    clock = 0
    for stroke in strokes:
        path = np.asarray(stroke["path"]) * [width, height]
        cols = np.clip(np.rint(path[:, 0]).astype(int), 0, width - 1)
        rows = np.clip(np.rint(path[:, 1]).astype(int), 0, height - 1)
        assert (masks[2, rows, cols] == stroke["object_id"]).all()
        if stroke["object_id"] == 0:
            assert distance_to_objects[rows, cols].min() >= 2
        assert clock < stroke["start_time"] < stroke["end_time"]
        clock = stroke["end_time"]
        ids.add(stroke["object_id"])
    assert ids == {0, 1, 2}


def test_same_generator_state_gives_the_same_scribble():
    masks = _masks()
    first = human_scribble(masks, 1, 2, "toy", np.random.default_rng(5))
    assert first == human_scribble(masks, 1, 2, "toy", np.random.default_rng(5))
    assert first != human_scribble(masks, 1, 2, "toy", np.random.default_rng(6))


def test_scribble_frames_start_where_every_object_is_best_visible():
    masks = _masks(num_frames=6)
    frames = pick_scribble_frames(masks, 2, np.random.default_rng(0), 3)
    assert frames[0] == 5 and len(set(frames)) == 3 and all(0 <= f < 6 for f in frames)
