"""The quality signal a person reads: a scale fitted to the video, "unknown" where the estimate is stale,
and the delete-object bug (every frame's quality reset to 1.00, frame 0 recommended, also after a restart)."""

from __future__ import annotations

import json

import numpy as np

from tests.vos.app.conftest import first_strokes, open_session
from vos_recommender.app import FrameAdvisor


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
