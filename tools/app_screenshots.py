"""Drive the page in headless Chromium (Playwright): the browser test's walk-through and the docs' pictures.

``python tools/app_screenshots.py --out docs`` generates a short video, serves the app on a free
local port, adds the objects, scribbles on the recommended frame with mouse events, runs, corrects the next
recommended frame, exports, and writes ``docs/app_*.png`` along the way. Needs ``playwright`` (Python) and
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["chromium_path", "draw_stroke", "object_line", "serve", "walkthrough"]

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
        for k in range(1, video.num_objects + 1):
            page.fill("#new-object-name", ["person", "ball", "dog", "car"][(k - 1) % 4])
            page.click("#add-object-btn")
            page.wait_for_selector(f"#object-list li[data-object-id='{k}']")
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
        edits["undone"] = page.evaluate(count)
        page.keyboard.press("c")
        edits["cleared"] = page.evaluate(count)
        page.keyboard.press("z")
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
