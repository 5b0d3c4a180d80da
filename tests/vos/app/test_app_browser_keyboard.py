"""Keyboard, messages and the quality signal in headless Chromium, with real keyboard and pointer events.

Covers: a first stroke with no object adds "object 1"; Enter/Esc leave the object-name box (Enter adds the
object) and the next keys are shortcuts again; shortcuts after a click on a slider or the scrub bar; Ctrl
and Meta combinations as undo and redo only; one banner at a time, above the canvas, fading out; the filmstrip
coloured by each frame's place in the video and "unknown" after an object is deleted; Cancel saying the
round is still finishing and Run waiting for it by itself; the Open form's session folder. Selected with
``-m browser`` like the other browser test; ``VOS_APP_SCREENSHOTS=docs`` writes its screenshot to ``docs/``.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path

import pytest

from vos_recommender.backends import register_backend
from vos_recommender.backends.flow import FlowBackend


def _screenshots_tool():
    path = Path(__file__).resolve().parents[3] / "tools" / "app_screenshots.py"
    spec = importlib.util.spec_from_file_location("app_screenshots", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


screenshots = _screenshots_tool()

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        screenshots.chromium_path() is None,
        reason="no Chromium binary: apt-get install chromium (scripts/setup_env.sh does), or set CHROMIUM=/path",
    ),
]

playwright = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -r requirements.txt)"
)

#: The second object's name: typed into the name box, and shown as text wherever it is quoted.
BALL = "<ball>"
#: The filmstrip's ends: the lowest estimate of the video (red) and the highest (green).
RED, GREEN = "rgb(214, 69, 69)", "rgb(46, 157, 91)"


class GatedFlow(FlowBackend):
    """The flow backend, held inside its round while the test keeps the gate closed."""

    name = "gated_flow"
    gate = threading.Event()

    def _interact(self, scribble, frame):
        assert GatedFlow.gate.wait(60), "the test never released the round"
        return super()._interact(scribble, frame)


def _state(page) -> dict:
    return page.evaluate("() => fetch('/api/state').then(r => r.json())")


def _active(page) -> str:
    return page.evaluate(
        "() => document.activeElement ? document.activeElement.id || document.activeElement.tagName : ''"
    )


def _wait_rounds(page, rounds: int) -> dict:
    page.wait_for_function(
        f"() => window.vosApp.state.rounds.length === {rounds} && !window.vosApp.run.polling", timeout=120_000
    )
    return _state(page)


def _overlaps(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def test_keyboard_messages_and_quality_signal_in_the_browser(app_video, tmp_path):
    from playwright.sync_api import sync_playwright

    from vos_recommender.app.quality_signal import relative_quality
    from vos_recommender.app.server import AppConfig, create_app, open_annotator

    frames_dir, video = app_video
    register_backend("gated_flow", GatedFlow, overwrite=True)
    GatedFlow.gate.set()
    config = AppConfig(backend="gated_flow", session=str(tmp_path / "session"), strategy="worst")
    annotator = open_annotator(config, str(frames_dir))
    shots = Path(os.environ.get("VOS_APP_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    frame = annotator.state.recommendation["frame"]
    errors: list[str] = []
    with (
        screenshots.serve(create_app(annotator=annotator)) as url,
        sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=screenshots.chromium_path(), args=["--no-sandbox"])
        page = browser.new_page(viewport=screenshots.VIEWPORT, device_scale_factor=1)
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("dialog", lambda dialog: dialog.accept())
        page.goto(url)
        page.wait_for_selector("#workspace:not([hidden])")
        page.wait_for_function(f"() => window.vosApp.current === {frame}")

        # 1. A stroke before any object: "object 1" is added for it, and said so.
        screenshots.draw_stroke(page, screenshots.object_line(video.masks[frame], 1))
        page.wait_for_selector("#object-list li[data-object-id='1']")
        page.wait_for_function(f"() => window.vosApp.state.drafts['{frame}']")
        state = _state(page)
        assert [o["name"] for o in state["objects"]] == ["object 1"]
        assert [s["object_id"] for s in state["drafts"][str(frame)]] == [1]
        assert 'Added "object 1" for your stroke' in page.inner_text("#banners")

        # 2. Enter in the name box adds the object and leaves the box: the next keys are shortcuts.
        page.keyboard.press("a")
        assert _active(page) == "new-object-name"
        page.keyboard.type(BALL)
        page.keyboard.press("Enter")
        page.wait_for_selector("#object-list li[data-object-id='2']")
        assert _active(page) != "new-object-name"
        page.keyboard.press("1")
        page.keyboard.press("n")
        assert page.input_value("#new-object-name") == ""  # not "1n"
        assert page.evaluate("() => [window.vosApp.selected, window.vosApp.editor.negative]") == [1, True]
        # Esc leaves the box without adding anything.
        page.keyboard.press("a")
        page.keyboard.type("xyz")
        page.keyboard.press("Escape")
        assert _active(page) != "new-object-name" and page.input_value("#new-object-name") == ""
        page.keyboard.press("p")
        assert page.evaluate("() => window.vosApp.editor.negative") is False
        assert [o["name"] for o in _state(page)["objects"]] == ["object 1", BALL]

        # 3. After a click on a slider or the scrub bar, letters and arrows are shortcuts.
        page.click("#brush")
        brush = page.evaluate("() => window.vosApp.editor.brush")  # the click itself may move it
        assert _active(page) == "brush"
        page.keyboard.press("n")
        page.keyboard.press("]")
        assert page.evaluate("() => [window.vosApp.editor.brush, window.vosApp.editor.negative]") == [
            brush + 1,
            True,
        ]
        page.keyboard.press("m")
        assert page.evaluate("() => window.vosApp.editor.showMasks") is False
        page.keyboard.press("m")
        page.keyboard.press("p")
        page.click("#scrub")
        at = page.evaluate("() => window.vosApp.current")
        page.keyboard.press("ArrowRight")  # one frame, not the slider's step plus the shortcut's
        page.wait_for_function(f"() => window.vosApp.current === {min(at + 1, video.num_frames - 1)}")
        page.keyboard.press("r")
        page.wait_for_function(f"() => window.vosApp.current === {frame}")
        count = f"() => window.vosApp.strokes[{frame}].length"
        screenshots.draw_stroke(page, [(0.5, 0.5), (0.55, 0.6)])
        assert page.evaluate(count) == 2
        page.click("#opacity")
        page.keyboard.press("z")  # undo (on the server): the stroke just drawn goes
        page.wait_for_function(f"{count} === 1 && window.vosApp.state.drafts['{frame}'].length === 1")

        # 4. Ctrl and Meta combinations are undo and redo (history.js), each handled once, never also as the
        #    plain letter's shortcut.
        drafts = f"() => window.vosApp.state.drafts['{frame}'].length"
        screenshots.draw_stroke(page, [(0.4, 0.5), (0.45, 0.6)])
        page.wait_for_function(f"{drafts} === 2")
        for combo, expected in (("Control+z", 1), ("Control+Shift+z", 2), ("Meta+z", 1), ("Control+y", 2)):
            page.keyboard.press(combo)
            page.wait_for_function(f"{drafts} === {expected} && {count[6:]} === {expected}")
        assert _active(page) == "BODY"
        page.keyboard.press("z")
        page.wait_for_function(f"{drafts} === 1")

        # 5. Banners replace each other, stay off the canvas, and fade.
        page.keyboard.press("e")  # nothing to export yet: an error
        page.wait_for_selector(".banner.error >> text=nothing to export yet")
        assert page.locator("#banners .banner").count() == 1
        assert not _overlaps(page.locator(".banner").bounding_box(), page.locator("#canvas").bounding_box())

        # 6. Run (Enter): the filmstrip is coloured by each frame's place in the video.
        page.keyboard.press("Enter")
        after = _wait_rounds(page, 1)
        quality = after["quality"]
        page.wait_for_function(
            f"() => document.querySelectorAll('#filmstrip .cell')[{frame}].querySelector('.qv').textContent !== ''"
        )
        colours = page.eval_on_selector_all(
            "#filmstrip .qbar .q", "bars => bars.map(b => getComputedStyle(b).backgroundColor)"
        )
        places = relative_quality(quality)
        heights = page.eval_on_selector_all("#filmstrip .qbar .q", "bars => bars.map(b => b.style.height)")
        assert heights == [f"{round(15 + 85 * p)}%" for p in places]
        assert [colours[t] for t, p in enumerate(places) if p in (0.0, 1.0)] == [
            RED if p == 0.0 else GREEN for p in places if p in (0.0, 1.0)
        ]
        assert 0.0 in places and 1.0 in places
        assert len(set(colours)) >= min(4, len(set(quality)))  # not one colour for a flat estimate
        texts = page.eval_on_selector_all("#filmstrip .qv", "els => els.map(e => e.textContent)")
        assert texts == [f"{q:.2f}" for q in quality]
        # The error banner of step 5 was replaced by the round's message, which fades out in its turn.
        assert page.locator("#banners .banner").count() == 1
        page.wait_for_selector("#banners .banner", state="detached", timeout=15_000)

        # 7. Deleting the unused object: every frame "unknown", never 1.00; the reason says why.
        page.click("#object-list li[data-object-id='2'] button[title='delete']")
        page.wait_for_function("() => window.vosApp.state.objects.length === 1")
        texts = page.eval_on_selector_all("#filmstrip .qv", "els => els.map(e => e.textContent)")
        assert texts == ["unknown"] * video.num_frames
        reason = page.inner_text("#rec-reason")
        assert f'out of date since object 2 ("{BALL}") was deleted' in reason and "run a round" in reason
        assert "1.00" not in page.inner_text("#filmstrip")
        page.wait_for_selector("#frame-badge >> text=quality unknown (out of date since object 2")
        assert f'("{BALL}")' in page.inner_text("#frame-badge")  # the name as text, not as markup
        assert page.locator("#frame-badge ball").count() == 0
        page.screenshot(path=str(shots / "app_quality_unknown.png"))

        # 8. Cancel says the round is still finishing; Run waits for it by itself.
        nxt = _state(page)["recommendation"]["frame"]
        page.keyboard.press("r")
        page.wait_for_function(f"() => window.vosApp.current === {nxt}")
        screenshots.draw_stroke(page, screenshots.object_line(video.masks[nxt], 1))
        GatedFlow.gate.clear()
        page.keyboard.press("Enter")
        page.wait_for_function(
            "() => /restoring|propagating/.test(document.getElementById('progress-text').textContent)"
        )
        page.keyboard.press("Escape")
        page.wait_for_selector(".banner >> text=still finishing its current step")
        assert "Run now waits for it" in page.inner_text("#banners")
        page.keyboard.press("Enter")
        page.wait_for_function(
            "() => /waiting for the cancelled round/.test(document.getElementById('progress-text').textContent)"
        )
        assert page.locator(".banner.error").count() == 0
        GatedFlow.gate.set()
        done = _wait_rounds(page, 2)
        assert [r["frame"] for r in done["rounds"]] == [frame, nxt]
        assert all(q is not None for q in done["quality"])
        assert page.locator(".banner.error").count() == 0
        browser.close()
    annotator.close()
    # The one failed request is the export asked for before any round (step 5).
    assert errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]


def test_the_open_form_takes_a_session_folder(app_video, tmp_path):
    from playwright.sync_api import sync_playwright

    from vos_recommender.app.server import AppConfig, create_app

    frames_dir, video = app_video
    session = tmp_path / "chosen session"
    app = create_app(AppConfig(session_root=str(tmp_path / "runs")), startup_error="no --frames folder given")
    with screenshots.serve(app) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=screenshots.chromium_path(), args=["--no-sandbox"])
        page = browser.new_page(viewport=screenshots.VIEWPORT, device_scale_factor=1)
        page.goto(url)
        page.wait_for_selector("#open-panel:not([hidden])")
        # The start-up message stays (it says why there is no video); typing in the form is not a shortcut.
        page.fill("#open-frames", str(frames_dir))
        page.click("#open-session")
        page.keyboard.type(str(session))
        page.click("#open-btn")
        page.wait_for_selector("#workspace:not([hidden])")
        assert _state(page)["session_dir"] == str(session)
        assert str(session) in page.inner_text("#saved-status")
        browser.close()
    assert (session / "session.json").is_file()
    app.state.holder["annotator"].close()
