"""The quality signal a person reads: a scale fitted to the video, "unknown" where the estimate is stale,
and the delete-object bug (every frame's quality reset to 1.00, frame 0 recommended, also after a restart)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.vos.app.conftest import first_strokes, open_session
from vos_recommender.app import AppInputError, FrameAdvisor


def test_deleting_an_unused_object_marks_the_quality_unknown_not_perfect(app_video, tmp_path):
    frames_dir, video = app_video
    frame, strokes = first_strokes(video)
    annotator = open_session(frames_dir, tmp_path / "s", video, advisor=FrameAdvisor(strategy="worst"))
    spare = annotator.add_object("spare")
    annotator.set_strokes(frame, strokes)
    annotator.run_round(frame)
    measured = list(annotator.state.quality)
    assert all(q is not None and q < 1.0 for q in measured)

    annotator.delete_object(spare.id)
    quality = annotator.state.quality
    assert quality is not None and len(quality) == video.num_frames
    assert all(q is None for q in quality), quality  # stale: unknown, never 1.00
    rec = annotator.state.recommendation
    assert "out of date" in rec["reason"] and "run a round" in rec["reason"]
    assert rec["frame"] != frame  # measured from the annotated frame, not a tie broken towards frame 0
    annotator.close()

    saved = json.loads((tmp_path / "s" / "session.json").read_text())
    assert saved["quality"] == [None] * video.num_frames
    resumed = open_session(frames_dir, tmp_path / "s", video, advisor=FrameAdvisor(strategy="worst"))
    assert resumed.state.quality == [None] * video.num_frames
    assert resumed.state.recommendation == rec
    # The next round measures every frame again.
    resumed.set_strokes(frame, strokes)
    resumed.run_round(frame)
    assert all(q is not None and q < 1.0 for q in resumed.state.quality)
    resumed.close()


def test_the_scale_is_fitted_to_the_video_and_skips_unknown_frames():
    from vos_recommender.app.quality_signal import (
        describe_rank,
        quality_ranks,
        quality_view,
        relative_quality,
    )

    # A flat estimate (0.86-0.87 on every frame) still spreads from the worst frame to the best one.
    flat = [0.861, 0.868, 0.865, None, 0.862, 0.868]
    assert relative_quality(flat) == [0.0, 0.875, 0.5, None, 0.25, 0.875]  # ties share their mean place
    assert quality_ranks(flat) == [1, 4, 3, None, 2, 4]
    assert relative_quality([0.9, 0.9, 0.9]) == [0.5, 0.5, 0.5]  # equal estimates: equal places
    assert relative_quality([0.4]) == [0.5]
    assert relative_quality([None, None]) == [None, None] and relative_quality(None) is None
    assert describe_rank(1, 25) == "the lowest of 25 frames"
    assert describe_rank(3, 25) == "the 3rd lowest of 25 frames"
    assert describe_rank(12, 25) == "the 12th lowest of 25 frames"
    assert describe_rank(25, 25) == "the highest of 25 frames"
    view = quality_view(flat, "out of date since object 2 was deleted")
    assert view["known"] == 5 and view["note"].startswith("out of date")
    assert quality_view(None, None) == {"relative": None, "rank": None, "known": 0, "note": None}


def test_strategies_that_read_the_estimate_skip_unknown_frames_or_say_they_cannot():
    counts = np.array([0, 0, 1, 0, 0, 0, 0, 0])
    partial = [0.9, None, 0.95, 0.5, 0.7, 0.9, 0.8, 0.9]
    answer = FrameAdvisor(strategy="worst").recommend(partial, counts, [2], note="frame 1 was edited")
    assert answer["frame"] == 3  # frame 1 has no estimate: never "worst" on account of it
    assert answer["reason"] == (
        "the lowest estimated quality (0.50) of the frames not annotated yet; 1 frame without an estimate: "
        "frame 1 was edited (the lowest of 7 frames)"
    )
    unknown = [None] * 8
    answer = FrameAdvisor(strategy="uncertain_far").recommend(unknown, counts, [2], note="out of date")
    assert answer["frame"] == 7 and answer["value"] is None
    assert answer["reason"] == (
        "no quality estimate (out of date): run a round to measure every frame again; until then, the frame "
        "farthest from annotated frames: 5 frames from the nearest annotated frame"
    )
    answer = FrameAdvisor(strategy="worst").recommend(unknown, np.zeros(8), [], note="the starting masks")
    assert answer["frame"] == 4 and answer["reason"].startswith(
        "no quality estimate (the starting masks): start"
    )
    # The rules that do not read the estimate recommend as before, with no number for the frame.
    answer = FrameAdvisor(strategy="stride").recommend(unknown, counts, [2])
    assert answer["reason"] == "the next frame at a stride of 2 frames (1/5 of the video) from frame 2"


def test_adding_an_object_or_starting_masks_without_probabilities_give_unknown_quality(app_video, tmp_path):
    from vos_recommender.app import Annotator, load_video
    from vos_recommender.data.davis import write_mask

    frames_dir, video = app_video
    masks_dir = tmp_path / "masks"
    for t, mask in enumerate(video.masks):
        write_mask(masks_dir / f"{t:05d}.png", mask)
    # A one-hot starting mask is "certain" everywhere: the model's confidence would say 1.00.
    with Annotator(load_video(frames_dir, masks_dir), tmp_path / "start") as started:
        assert started.state.quality == [None] * video.num_frames
        view = started.snapshot()["quality_view"]
        assert view["known"] == 0 and "starting masks carry no probabilities" in view["note"]
    annotator = open_session(frames_dir, tmp_path / "s", video)
    frame, strokes = first_strokes(video)
    annotator.set_strokes(frame, strokes)
    annotator.run_round(frame)
    measured = list(annotator.state.quality)
    annotator.mark_quality_stale("frame 2 was edited by hand", frames=[2])  # that frame only
    assert annotator.state.quality == [None if t == 2 else q for t, q in enumerate(measured)]
    assert annotator.snapshot()["quality_view"]["known"] == video.num_frames - 1
    with pytest.raises(AppInputError, match="frame 99 is outside the video"):
        annotator.mark_quality_stale("edited", frames=[3, 99])
    assert annotator.state.quality[3] is not None  # nothing changed by the refused call
    before = annotator.state.recommendation
    annotator.add_object("dog")
    assert annotator.state.quality == [None] * video.num_frames
    assert (
        annotator.state.quality_note == f'out of date since object {video.num_objects + 1} ("dog") was added'
    )
    assert annotator.state.recommendation["frame"] == before["frame"]  # the stride reads no estimate
    annotator.close()
