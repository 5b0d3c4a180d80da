"""In headless Chromium: while a round runs, the canvas shows the new mask of the open frame as soon as the
round has propagated to it, and the progress line counts the frames."""

from __future__ import annotations

import pytest

from tests.vos.app.test_app_browser import chromium_path, screenshots
from tests.vos.app.test_app_progress import HeldFlow

pytestmark = pytest.mark.browser

playwright = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -r requirements.txt)"
)

#: Pixels of object 1's colour on the canvas (its strokes and its mask's opaque outline): red clearly above
#: green and blue.
COLOURED = """() => { const c = document.getElementById('canvas'); const d = c.getContext('2d')
    .getImageData(0, 0, c.width, c.height).data; let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] > d[i + 1] + 60 && d[i] > d[i + 2] + 60) n++; return n; }"""


@pytest.mark.skipif(
    chromium_path() is None,
    reason="no Chromium binary: apt-get install chromium (scripts/setup_env.sh does), or set CHROMIUM=/path",
)
def test_the_open_frame_shows_its_new_mask_while_the_round_runs(app_video, tmp_path):
    from playwright.sync_api import sync_playwright

    from vos_recommender.app.server import AppConfig, create_app, open_annotator
    from vos_recommender.backends import register_backend

    frames_dir, video = app_video
    register_backend("held_flow", HeldFlow, overwrite=True)
    annotator = open_annotator(AppConfig(session=str(tmp_path / "s"), backend="held_flow"), str(frames_dir))
    annotator.add_object("person")
    frame = annotator.state.recommendation["frame"]
    errors: list[str] = []
    HeldFlow.gate.clear()
    try:
        with screenshots.serve(create_app(annotator=annotator)) as url, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
            page = browser.new_page(viewport=screenshots.VIEWPORT, device_scale_factor=1)
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.goto(url)
            page.wait_for_selector("#workspace:not([hidden])")
            page.click("#goto-rec-btn")
            page.wait_for_function(f"() => window.vosApp.current === {frame}")
            page.keyboard.press("1")
            screenshots.draw_stroke(page, screenshots.object_line(video.masks[frame], 1))
            stroke_only = page.evaluate(COLOURED)  # the stroke, no mask yet
            page.click("#run-btn")
            # The round is held after its first frame, the annotated one: that frame's new mask is painted.
            page.wait_for_function(f"() => window.vosApp.run.liveFrames.has({frame})", timeout=60000)
            page.wait_for_function(f"() => ({COLOURED})() > {stroke_only + 50}", timeout=30000)
            assert annotator.job.alive and annotator.state.masks is None  # still running, nothing saved
            text = page.text_content("#progress-text")
            assert text.startswith(f"propagating from frame {frame}: 1/{video.num_frames} frames"), text
            HeldFlow.gate.set()
            page.wait_for_function(
                "() => window.vosApp.state.rounds.length === 1 && !window.vosApp.run.polling", timeout=60000
            )
            assert page.evaluate(COLOURED) > 50  # the saved masks (the stroke has left the drafts)
            browser.close()
    finally:
        HeldFlow.gate.set()
        annotator.close()
    assert errors == []
