"""Editing masks in headless Chromium with real pointer and keyboard events.

Click-to-segment, brush, eraser and lasso on one frame; undo and redo with Ctrl+Z, Ctrl+Shift+Z and Ctrl+Y;
zoom with the wheel and pan with a middle-button drag, then a brush dot that must land on the frame pixel
under the pointer; a round run from the edited frame. ``VOS_APP_SCREENSHOTS=docs`` writes the screenshots
to ``docs/`` (``python tools/app_screenshots.py`` does the same outside pytest).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from tests.vos.app.test_app_browser import chromium_path, screenshots

pytestmark = pytest.mark.browser

pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -r requirements.txt)"
)


@pytest.mark.skipif(
    chromium_path() is None,
    reason="no Chromium binary: apt-get install chromium (scripts/setup_env.sh does), or set CHROMIUM=/path",
)
def test_edit_masks_with_the_mouse_and_keys_then_run_from_them(app_video, tmp_path):
    from vos_recommender.app.server import AppConfig, create_app, open_annotator

    frames_dir, video = app_video
    annotator = open_annotator(AppConfig(session=str(tmp_path / "session")), str(frames_dir))
    shots = Path(os.environ.get("VOS_APP_SCREENSHOTS") or tmp_path / "shots")

    def read_mask(t):
        with annotator.lock:
            return annotator.state.masks[t].copy()

    with screenshots.serve(create_app(annotator=annotator)) as url:
        seen = screenshots.editing_walkthrough(url, video, read_mask, shots)

    assert seen["console_errors"] == []
    frame, truth = seen["frame"], video.masks[seen["frame"]] == 1
    # Click-to-segment took the clicked object: one region, mostly the object.
    segment = seen["segment"] == 1
    assert segment[seen["click_pixel"]] and ndimage.label(segment)[1] == 1
    assert (segment & truth).sum() > 0.9 * segment.sum() and (segment & truth).sum() > 0.7 * truth.sum()
    # The brush painted the line with the chosen width (3 presses of ] from 3: 6 pixels).
    row, c0, c1 = seen["line"]
    assert seen["brush_width"] == 6
    assert (seen["brush"][row - 2 : row + 3, c0 : c1 + 1] == 1).all()
    painted = (seen["brush"] == 1) & ~segment
    assert painted[row - 4 : row + 5].sum() == painted.sum()  # nothing painted far from the line
    # The eraser cleared the line where it crossed it, and only there.
    col, r0, r1 = seen["erase_line"]
    assert (seen["erase"][row - 2 : row + 3, col - 1 : col + 2] == 0).all()
    changed = seen["erase"] != seen["brush"]
    assert changed.any() and np.abs(np.nonzero(changed)[1] - col).max() <= 4
    # The lasso filled its box.
    top, left, bottom, right = seen["lasso_box"]
    assert (seen["lasso"][top + 1 : bottom, left + 1 : right] == 1).all()
    # Undo and redo with the keys went back and forth between the eraser's and the lasso's masks.
    for name, expected in [
        ("undo", "erase"),
        ("redo", "lasso"),
        ("undo_again", "erase"),
        ("redo_y", "lasso"),
    ]:
        np.testing.assert_array_equal(seen[name], seen[expected], err_msg=name)
    # Zoomed with the wheel and panned with the middle button: the dot landed on the pixel under the pointer.
    before, zoomed, panned = seen["boxes"]
    assert seen["zoom"] > 1.5 and zoomed["width"] == pytest.approx(before["width"] * seen["zoom"], rel=0.01)
    assert (panned["x"] - zoomed["x"], panned["y"] - zoomed["y"]) == pytest.approx((60, -40), abs=1)
    dot = np.argwhere(seen["dot"] != seen["redo_y"])
    assert seen["dot"][seen["dot_pixel"]] == 1
    assert np.abs(dot.mean(axis=0) - seen["dot_pixel"]).max() <= 1.0 and len(dot) <= 40
    # The round ran from the edited frame alone, and kept the edit as the frame's mask.
    after = seen["after_round"]
    assert [(r["frame"], r["mask_frames"]) for r in after["rounds"]] == [(frame, [frame])]
    np.testing.assert_array_equal(annotator.state.masks[frame], seen["dot"])
    assert after["counts"][frame] == 1 and after["edited"] == []
    assert (shots / "app_editing.png").is_file() and (shots / "app_editing_zoom.png").is_file()


@pytest.mark.skipif(chromium_path() is None, reason="no Chromium binary (see above)")
def test_the_page_explains_why_a_backend_without_mask_edits_has_no_mask_tools(app_video, tmp_path):
    from playwright.sync_api import sync_playwright

    from vos_recommender.app.server import AppConfig, create_app, open_annotator

    frames_dir, _ = app_video
    cache = {"backend": "flow", "cache_dir": str(tmp_path / "cache")}  # replays results: cannot take a mask
    config = AppConfig(backend="cache", backend_kwargs=cache, session=str(tmp_path / "session"))
    annotator = open_annotator(config, str(frames_dir))
    with screenshots.serve(create_app(annotator=annotator)) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        page = browser.new_page(viewport=screenshots.VIEWPORT)
        page.goto(url)
        page.wait_for_selector("#workspace:not([hidden])")
        assert page.is_disabled("#tool-brush") and page.is_disabled("#tool-click")
        assert "cannot start from edited masks" in page.get_attribute("#tool-lasso", "title")
        page.keyboard.press("b")
        message = page.locator(".banner.info .msg").first.inner_text()
        assert "cache backend cannot start a round from edited masks" in message
        assert page.evaluate("() => window.vosApp.tools.tool") == "scribble"
        browser.close()
