"""End to end in headless Chromium: scribble with the mouse on the recommended frame, run, correct, export.

Runs in the default test run (``scripts/setup_env.sh`` installs Chromium and Playwright); ``-m browser``
selects it alone. ``VOS_APP_SCREENSHOTS=docs`` writes the screenshots to ``docs/`` instead of a temporary
folder (``python tools/app_screenshots.py`` does the same outside pytest).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest


def _screenshots_tool():
    path = Path(__file__).resolve().parents[3] / "tools" / "app_screenshots.py"
    spec = importlib.util.spec_from_file_location("app_screenshots", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


screenshots = _screenshots_tool()
chromium_path = screenshots.chromium_path

pytestmark = pytest.mark.browser

playwright = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -r requirements.txt)"
)


@pytest.mark.skipif(
    chromium_path() is None,
    reason="no Chromium binary: apt-get install chromium (scripts/setup_env.sh does), or set CHROMIUM=/path",
)
def test_annotate_in_the_browser_and_export(app_video, tmp_path):
    serve, walkthrough = screenshots.serve, screenshots.walkthrough
    from vos_recommender.app.server import AppConfig, create_app, open_annotator
    from vos_recommender.data.davis import DavisDataset

    frames_dir, video = app_video
    annotator = open_annotator(AppConfig(session=str(tmp_path / "session")), str(frames_dir))
    shots = Path(os.environ.get("VOS_APP_SCREENSHOTS") or tmp_path / "shots")
    with serve(create_app(annotator=annotator)) as url:
        assert url.startswith("http://127.0.0.1:")
        seen = walkthrough(url, video, shots)

    before, after1, after2 = seen["before"], seen["after_round1"], seen["after_round2"]
    assert seen["console_errors"] == []
    assert before["recommendation"]["strategy"] == "start" and not before["has_masks"]
    assert [o["name"] for o in after1["objects"]][:2] == ["person", "ball"][: video.num_objects]
    # Round 1 was drawn on the recommended frame with the mouse, positive and negative strokes.
    round1 = annotator.state.rounds[0]
    assert round1.frame == before["recommendation"]["frame"]
    ids = {s["object_id"] for s in round1.scribble["scribbles"][round1.frame]}
    assert ids == set(range(video.num_objects + 1))
    edits = seen["stroke_edits"]
    drawn = edits["drawn"]
    assert (edits["extra"], edits["undone"], edits["cleared"], edits["restored"]) == (
        drawn + 1,
        drawn,
        0,
        drawn,
    )
    assert len(round1.scribble["scribbles"][round1.frame]) == drawn  # undo and clear reached the server
    # Run: masks appear on the canvas, the quality and the recommendation update.
    assert after1["has_masks"] and after1["mask_version"] > before["mask_version"]
    assert seen["overlay_pixels"] > 50
    assert after1["recommendation"]["strategy"] == "stride" and after1["quality"] is not None
    assert after1["recommendation"]["frame"] != round1.frame
    # Round 2 corrected the frame recommended after round 1.
    assert [r["frame"] for r in after2["rounds"]] == [round1.frame, after1["recommendation"]["frame"]]
    assert after2["quality"] != after1["quality"]
    assert sum(after2["counts"]) == 2
    assert seen["played"]["playing_after_pause"] is False  # Space played (the frame moved on) and paused
    # The export showed its progress line while it wrote, then its result.
    assert any(
        text.startswith("exporting frames, masks and scribbles · ") for text in seen["export_progress"]
    )
    # The export is a DAVIS data set the project reads.
    exported = DavisDataset(seen["export"]["root"], split="val")[video.name]
    np.testing.assert_array_equal(exported.masks, annotator.state.masks)
    assert len(exported.scribbles) == 2
    assert {p.name for p in shots.glob("app_*.png")} >= {
        "app_scribble.png",
        "app_result.png",
        "app_round2.png",
    }
