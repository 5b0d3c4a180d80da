"""Drive the page in headless Chromium (Playwright): the browser test's walk-through and the docs' pictures.

``python tools/app_screenshots.py --out docs`` generates a short video, serves the app on a free
local port, adds the objects, scribbles on the recommended frame with mouse events, runs, corrects the next
recommended frame, exports, and writes ``docs/app_*.png`` along the way; then, in a second session, edits
masks with the mask tools, undoes and redoes, zooms and pans (:func:`editing_walkthrough`). Needs ``playwright`` (Python) and
a Chromium binary (``apt-get install chromium``; ``CHROMIUM`` names another one). Playwright's own browser
download is not used.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "chromium_path",
    "draw_stroke",
    "editing_walkthrough",
    "object_line",
    "serve",
    "walkthrough",
]

VIEWPORT = {"width": 1440, "height": 900}


def chromium_path() -> str | None:
    """The Chromium binary to drive: ``$CHROMIUM``, else ``chromium`` / ``chromium-browser`` on the PATH."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextlib.contextmanager
def serve(app: Any, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve a FastAPI app on a free local port in a thread; yields its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the app server did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def object_line(mask: np.ndarray, object_id: int) -> list[tuple[float, float]]:
    """A stroke inside an object: its longest horizontal run of pixels, shrunk by a quarter at both ends.

    Returns normalised ``(x, y)`` points (about ten), or ``[]`` when the object is absent.
    """
    best = (0, 0, 0, 0)
    for row in range(mask.shape[0]):
        cols = np.flatnonzero(mask[row] == object_id)
        if cols.size == 0:
            continue
        breaks = np.flatnonzero(np.diff(cols) > 1)
        starts = np.r_[cols[0], cols[breaks + 1]]
        ends = np.r_[cols[breaks], cols[-1]]
        k = int(np.argmax(ends - starts))
        if ends[k] - starts[k] > best[0]:
            best = (int(ends[k] - starts[k]), row, int(starts[k]), int(ends[k]))
    length, row, start, end = best
    if length < 2:
        return []
    margin = length / 4
    xs = np.linspace(start + margin, end - margin, 10)
    height, width = mask.shape
    return [((x + 0.5) / width, (row + 0.5) / height) for x in xs]


def draw_stroke(page: Any, points: list[tuple[float, float]]) -> None:
    """Draw a stroke on the page's canvas with mouse events at normalised ``(x, y)`` points."""
    box = page.locator("#canvas").bounding_box()
    to_px = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in points]
    page.mouse.move(*to_px[0])
    page.mouse.down()
    for px in to_px[1:]:
        page.mouse.move(*px, steps=3)
    page.mouse.up()


def _add_objects(page: Any, count: int) -> None:
    """Add ``count`` objects with the page's name box and button."""
    for k in range(1, count + 1):
        page.fill("#new-object-name", ["person", "ball", "dog", "car"][(k - 1) % 4])
        page.click("#add-object-btn")
        page.wait_for_selector(f"#object-list li[data-object-id='{k}']")


def _settled(page: Any) -> None:
    """Wait until the page's undo or redo request has been answered and shown."""
    page.wait_for_function("() => !window.vosApp.undoRedo.busy")


def _wait_run(page: Any, rounds: int, timeout: float = 120.0) -> dict:
    """Wait until the page shows ``rounds`` finished rounds and is idle; returns the API state."""
    page.wait_for_function(
        f"() => window.vosApp && window.vosApp.state.rounds.length === {rounds} && !window.vosApp.run.polling",
        timeout=timeout * 1000,
    )
    return page.evaluate("() => fetch('/api/state').then(r => r.json())")


def walkthrough(
    base_url: str, video: Any, shots: str | os.PathLike | None = None, executable: str | None = None
):
    """Annotate ``video`` through the page and return what happened, for the test to check.

    Args:
        base_url: The served app (opened on ``video``'s frames, no rounds yet).
        video: The :class:`~vos_recommender.data.davis.VideoSample` (its ground truth places the strokes).
        shots: Folder for ``app_*.png`` screenshots, or None.
        executable: Chromium binary (default :func:`chromium_path`).

    Returns:
        ``{"before", "after_round1", "after_round2", "overlay_pixels", "stroke_edits", "played", "export",
        "export_progress", "console_errors"}``: the API states, the number of coloured overlay pixels read back
        from the canvas after round 1, the stroke counts through draw / undo / clear / undo, whether Space
        played and paused, the export answer, the progress line's texts during the export and the page's
        console errors.
    """
    from playwright.sync_api import sync_playwright

    out = Path(shots) if shots is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable or chromium_path(), args=["--no-sandbox"]
        )
        page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(base_url)
        page.wait_for_selector("#workspace:not([hidden])")
        _add_objects(page, video.num_objects)
        before = page.evaluate("() => fetch('/api/state').then(r => r.json())")
        frame = before["recommendation"]["frame"]
        page.click("#goto-rec-btn")
        for k in range(1, video.num_objects + 1):
            page.keyboard.press(str(k))
            draw_stroke(page, object_line(video.masks[frame], k))
        page.keyboard.press("n")
        draw_stroke(page, [(0.03, 0.04 + 0.9 * i / 9) for i in range(10)])
        draw_stroke(page, object_line(video.masks[frame], 0))
        page.keyboard.press("p")
        count = f"() => window.vosApp.strokes[{frame}].length"
        edits = {"drawn": page.evaluate(count)}
        draw_stroke(page, [(0.5, 0.5), (0.55, 0.6), (0.6, 0.5)])
        edits["extra"] = page.evaluate(count)
        page.keyboard.press("z")
        _settled(page)
        edits["undone"] = page.evaluate(count)
        page.keyboard.press("c")
        edits["cleared"] = page.evaluate(count)
        page.keyboard.press("z")
        _settled(page)
        edits["restored"] = page.evaluate(count)
        if out is not None:
            page.screenshot(path=str(out / "app_scribble.png"))
        page.click("#run-btn")
        page.wait_for_selector("#progress:not([hidden])")
        after1 = _wait_run(page, 1)
        page.wait_for_function("() => window.vosApp.overlays[window.vosApp.current]")
        overlay_pixels = page.evaluate(
            """() => { const c = document.getElementById('canvas'); const ctx = c.getContext('2d');
                 const d = ctx.getImageData(0, 0, c.width, c.height).data; let n = 0;
                 for (let i = 0; i < d.length; i += 4) if (d[i] > d[i + 1] + 60 && d[i] > d[i + 2] + 60) n++;
                 return n; }"""
        )
        page.keyboard.press("r")  # go to the new recommendation and correct it
        nxt = after1["recommendation"]["frame"]
        page.wait_for_function(f"() => window.vosApp.current === {nxt}")
        for k in range(1, video.num_objects + 1):
            page.keyboard.press(str(k))
            draw_stroke(page, object_line(video.masks[nxt], k))
        if out is not None:
            page.screenshot(path=str(out / "app_result.png"))
        page.keyboard.press("Enter")
        after2 = _wait_run(page, 2)
        start = page.evaluate("() => window.vosApp.current")
        page.keyboard.press(" ")
        page.wait_for_function(f"() => window.vosApp.current !== {start}")
        page.keyboard.press(" ")
        played = {
            "from": start,
            "playing_after_pause": page.evaluate("() => window.vosApp.playTimer !== null"),
        }
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowLeft")
        page.evaluate(  # what the progress line says while the export runs
            """() => { window.exportProgress = [];
                 new MutationObserver(() => window.exportProgress.push(
                     document.getElementById('progress-text').textContent)).observe(
                     document.getElementById('progress-text'), {childList: true, characterData: true, subtree: true}); }"""
        )
        page.click("#export-btn")
        page.wait_for_selector(".banner.ok >> text=Exported")
        export_progress = page.evaluate("() => window.exportProgress")
        if out is not None:
            page.screenshot(path=str(out / "app_round2.png"))
        export = page.evaluate(
            "() => fetch('/api/export', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{}'}).then(r => r.json())"
        )
        browser.close()
    return {
        "before": before,
        "after_round1": after1,
        "after_round2": after2,
        "overlay_pixels": overlay_pixels,
        "stroke_edits": edits,
        "played": played,
        "export": export,
        "export_progress": export_progress,
        "console_errors": errors,
    }


def _frame_point(page: Any, row: float, col: float, height: int, width: int) -> tuple[float, float]:
    """The screen position of the centre of frame pixel ``(row, col)`` on the canvas as it is shown now."""
    box = page.locator("#canvas").bounding_box()
    return box["x"] + (col + 0.5) / width * box["width"], box["y"] + (row + 0.5) / height * box["height"]


def _drag(page: Any, points: list[tuple[float, float]], button: str = "left") -> None:
    page.mouse.move(*points[0])
    page.mouse.down(button=button)
    for point in points[1:]:
        page.mouse.move(*point, steps=4)
    page.mouse.up(button=button)


def _edited(page: Any, version: int) -> int:
    """Wait until the page shows a mask version after ``version`` and no edit is under way; returns it."""
    page.wait_for_function(
        f"() => window.vosApp.state.mask_version > {version} && !window.vosApp.tools.sending"
        " && !window.vosApp.undoRedo.busy"
    )
    return page.evaluate("() => window.vosApp.state.mask_version")


def editing_walkthrough(
    base_url: str,
    video: Any,
    read_mask: Callable[[int], np.ndarray],
    shots: str | os.PathLike | None = None,
    executable: str | None = None,
) -> dict[str, Any]:
    """Edit masks through the page with real pointer and keyboard events, then run from the edits.

    On the video's middle frame: click-to-segment object 1 (K), paint a line with the brush (B, width
    raised with ``]``), erase part of it (X), fill a lasso (L); undo and redo with Ctrl+Z, Ctrl+Shift+Z
    and Ctrl+Y; zoom with the wheel and pan with a middle-button drag, then paint one dot at a chosen
    frame pixel; run (Enter) from the edited frame.

    Args:
        base_url: The served app (opened on ``video``'s frames, no objects or rounds yet).
        video: The :class:`~vos_recommender.data.davis.VideoSample` (its ground truth places the click).
        read_mask: The session's current mask of a frame (the test reads the served annotator's).
        shots: Folder for the ``app_editing.png`` screenshot, or None.
        executable: Chromium binary (default :func:`chromium_path`).

    Returns:
        A dict of what each step left in the session's mask of the edited frame (``"frame"``,
        ``"segment"``, ``"brush"``, ``"erase"``, ``"lasso"``, ``"undo"``, ``"redo"``, ``"undo_again"``,
        ``"redo_y"``, ``"dot"``), the screen points used (``"line"``, ``"erase_line"``, ``"lasso_box"``,
        ``"dot_pixel"``), the canvas boxes before and after zooming and panning (``"boxes"``), the zoom,
        the brush width, the API state after the round (``"after_round"``) and the console errors.
    """
    from playwright.sync_api import sync_playwright
    from scipy import ndimage

    out = Path(shots) if shots is not None else None
    errors: list[str] = []
    height, width = video.masks.shape[1:]
    frame = video.num_frames // 2
    seen: dict[str, Any] = {"frame": frame}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable or chromium_path(), args=["--no-sandbox"]
        )
        page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        page.goto(base_url)
        page.wait_for_selector("#workspace:not([hidden])")
        _add_objects(page, video.num_objects)
        page.keyboard.press("1")
        page.wait_for_function("() => window.vosApp.frames[window.vosApp.current]")
        current = page.evaluate("() => window.vosApp.current")
        for _ in range(abs(frame - current)):
            page.keyboard.press("ArrowRight" if frame > current else "ArrowLeft")
        page.wait_for_function(f"() => window.vosApp.current === {frame} && window.vosApp.editor.frameImage")
        page.locator("#canvas").hover()
        version = page.evaluate("() => window.vosApp.state.mask_version")

        # Click-to-segment: one click deep inside object 1.
        page.keyboard.press("k")
        depth = ndimage.distance_transform_edt(np.pad(video.masks[frame] == 1, 1))[1:-1, 1:-1]
        row, col = np.unravel_index(np.argmax(depth), depth.shape)
        page.mouse.click(*_frame_point(page, row, col, height, width))
        version = _edited(page, version)
        seen["segment"] = read_mask(frame)
        seen["click_pixel"] = (int(row), int(col))

        # Brush: a horizontal line 6 pixels wide along row 3/4 of the height.
        page.keyboard.press("b")
        for _ in range(3):
            page.keyboard.press("]")
        seen["brush_width"] = page.evaluate("() => window.vosApp.editor.brush")
        line_row = int(height * 0.85)
        seen["line"] = (line_row, int(width * 0.1), int(width * 0.6))
        _drag(
            page, [_frame_point(page, line_row, c, height, width) for c in (seen["line"][1], seen["line"][2])]
        )
        version = _edited(page, version)
        seen["brush"] = read_mask(frame)

        # Eraser over the line's middle third, drawn vertically across it.
        page.keyboard.press("x")
        erase_col = (seen["line"][1] + seen["line"][2]) // 2
        seen["erase_line"] = (erase_col, line_row - 8, min(height - 1, line_row + 8))
        _drag(page, [_frame_point(page, r, erase_col, height, width) for r in (line_row - 8, line_row + 8)])
        version = _edited(page, version)
        seen["erase"] = read_mask(frame)

        # Lasso: a box in the top-right corner, dragged as a closed outline.
        page.keyboard.press("l")
        top, left, bottom, right = 3, int(width * 0.7), int(height * 0.3), width - 4
        seen["lasso_box"] = (top, left, bottom, right)
        corners = [(top, left), (top, right), (bottom, right), (bottom, left), (top, left)]
        _drag(page, [_frame_point(page, r, c, height, width) for r, c in corners])
        version = _edited(page, version)
        seen["lasso"] = read_mask(frame)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out / "app_editing.png"))

        # Undo and redo with the keys (focus on the page body, not in a text field).
        for key, name in [
            ("Control+z", "undo"),
            ("Control+Shift+Z", "redo"),
            ("Control+z", "undo_again"),
            ("Control+y", "redo_y"),
        ]:
            page.keyboard.press(key)
            version = _edited(page, version)
            seen[name] = read_mask(frame)

        # Zoom in with the wheel over the lower-left quarter, pan with a middle-button drag, paint a dot.
        seen["boxes"] = [page.locator("#canvas").bounding_box()]
        page.mouse.move(*_frame_point(page, height * 0.6, width * 0.3, height, width))
        page.mouse.wheel(0, -400)
        page.wait_for_function("() => window.vosApp.viewport.zoom > 1.5")
        seen["boxes"].append(page.locator("#canvas").bounding_box())
        start = _frame_point(page, height * 0.5, width * 0.5, height, width)
        _drag(page, [start, (start[0] + 60, start[1] - 40)], button="middle")
        seen["boxes"].append(page.locator("#canvas").bounding_box())
        seen["zoom"] = page.evaluate("() => window.vosApp.viewport.zoom")
        page.keyboard.press("b")
        # The background pixel nearest to (0.55 H, 0.35 W) at least 5 pixels from every object.
        free = ndimage.distance_transform_edt(seen["redo_y"] == 0) >= 5
        rows, cols = np.nonzero(free)
        nearest = np.argmin(np.hypot(rows - height * 0.55, cols - width * 0.35))
        dot = (int(rows[nearest]), int(cols[nearest]))
        seen["dot_pixel"] = dot
        page.mouse.click(*_frame_point(page, *dot, height, width))
        version = _edited(page, version)
        seen["dot"] = read_mask(frame)
        if out is not None:
            page.screenshot(path=str(out / "app_editing_zoom.png"))
        page.keyboard.press("0")

        # Run from the edited frame (no strokes: the edits alone).
        page.keyboard.press("Enter")
        seen["after_round"] = _wait_run(page, 1)
        browser.close()
    seen["console_errors"] = errors
    return seen


def error_screenshot(base_url: str, path: str | os.PathLike, executable: str | None = None) -> str:
    """Screenshot of the page started on bad input (the banner and the open form); returns the banner text."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable or chromium_path(), args=["--no-sandbox"]
        )
        page = browser.new_page(viewport={"width": 1100, "height": 520}, device_scale_factor=1)
        page.goto(base_url)
        text = page.locator(".banner.error .msg").first.inner_text()
        page.screenshot(path=str(path))
        browser.close()
    return text


def main(argv: list[str] | None = None) -> None:
    """Regenerate ``docs/app_*.png``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="docs", help="folder of the screenshots (default docs)")
    args = parser.parse_args(argv)
    from vos_recommender.app.server import AppConfig, create_app, open_annotator
    from vos_recommender.data.davis import DavisDataset
    from vos_recommender.data.generate import generate_davis_dataset

    with tempfile.TemporaryDirectory() as tmp:
        root = generate_davis_dataset(Path(tmp) / "data", num_train=0, num_val=1, num_frames=16, seed=5)
        video = DavisDataset(root, split="val")[0]
        frames = root / "JPEGImages" / "480p" / video.name
        annotator = open_annotator(AppConfig(session=str(Path(tmp) / "session")), str(frames))
        with serve(create_app(annotator=annotator)) as url:
            walkthrough(url, video, args.out)
        annotator.close()
        editing = open_annotator(AppConfig(session=str(Path(tmp) / "session_editing")), str(frames))

        def read_mask(t: int) -> np.ndarray:
            with editing.lock:
                return editing.state.masks[t].copy()

        with serve(create_app(annotator=editing)) as url:
            editing_walkthrough(url, video, read_mask, args.out)
        editing.close()
        bad = Path(tmp) / "empty"
        bad.mkdir()
        from vos_recommender.app.video import AppInputError, load_video

        try:
            load_video(bad)
        except AppInputError as err:
            with serve(create_app(startup_error=str(err))) as url:
                error_screenshot(url, Path(args.out) / "app_error.png")
    print(f"wrote {sorted(p.name for p in Path(args.out).glob('app_*.png'))}")


if __name__ == "__main__":
    main()
