"""The HTTP API and the static page (FastAPI).

FastAPI gives a typed JSON API that the page, the tests (``TestClient``) and a simulated user can drive
the same way; the page itself is static HTML/CSS/JS with a canvas and needs no front-end build.
Every error comes back as ``{"error": message}`` with a 4xx status, never a stack trace.
"""

from __future__ import annotations

import dataclasses
import io
import zipfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from vos_recommender.app.advisor import FrameAdvisor
from vos_recommender.app.annotator import Annotator, AppBusyError
from vos_recommender.app.export import export_davis
from vos_recommender.app.render import ImageCache, encode_frame, overlay_png, thumbnail
from vos_recommender.app.video import AppInputError, load_video

__all__ = ["AppConfig", "create_app", "open_annotator"]

STATIC = Path(__file__).with_name("static")


@dataclasses.dataclass
class AppConfig:
    """How videos are opened: backend, recommender checkpoints and where sessions are saved.

    Attributes:
        backend: Backend registry name.
        backend_kwargs: Its constructor arguments.
        session: Session folder (None: ``session_root/<video name>``).
        session_root: Parent of the per-video session folders.
        agent: Agent ``.zip`` or None.
        quality: Quality-estimator checkpoint or None.
    """

    backend: str = "flow"
    backend_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    session: str | None = None
    session_root: str = "runs/app"
    agent: str | None = None
    quality: str | None = None


def open_annotator(config: AppConfig, frames: str, masks: str | None = None, advisor=None) -> Annotator:
    """Open a video as configured (raises :class:`AppInputError` with a message for the user)."""
    video = load_video(frames, masks)
    advisor = advisor or FrameAdvisor(config.agent, config.quality)
    session = config.session or str(Path(config.session_root) / video.name)
    return Annotator(video, session, config.backend, config.backend_kwargs, advisor)


class OpenBody(BaseModel):
    frames: str
    masks: str | None = None


class ObjectBody(BaseModel):
    name: str | None = None


class StrokesBody(BaseModel):
    strokes: list[Any]


class RunBody(BaseModel):
    frame: int


class ExportBody(BaseModel):
    out: str | None = None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(
    config: AppConfig | None = None, annotator: Annotator | None = None, startup_error: str | None = None
):
    """The FastAPI application.

    Args:
        config: How to open videos from the page (``POST /api/open``).
        annotator: The session to serve, or None (the page then asks for a folder).
        startup_error: A message to show in the page (e.g. the command line's bad input).
    """
    app = FastAPI(title="vos_recommender annotation app", docs_url="/api/docs", redoc_url=None)
    holder: dict[str, Any] = {"annotator": annotator, "error": startup_error, "config": config or AppConfig()}
    images = ImageCache()

    def current() -> Annotator:
        if holder["annotator"] is None:
            raise AppBusyError("no video is open: open a frame folder first")
        return holder["annotator"]

    @app.exception_handler(AppInputError)
    async def _input(_: Request, err: AppInputError):
        return _error(400, str(err))

    @app.exception_handler(ValueError)
    async def _value(_: Request, err: ValueError):
        return _error(400, str(err))

    @app.exception_handler(KeyError)
    async def _key(_: Request, err: KeyError):
        return _error(404, str(err.args[0]) if err.args else str(err))

    @app.exception_handler(AppBusyError)
    async def _busy(_: Request, err: AppBusyError):
        return _error(409, str(err))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, err: RequestValidationError):
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()]
        return _error(422, "bad request: " + "; ".join(parts))

    @app.get("/", include_in_schema=False)
    def index():
        return FileResponse(STATIC / "index.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/state")
    def state():
        annotator = holder["annotator"]
        if annotator is None:
            return {"video": None, "error": holder["error"]}
        return {**annotator.snapshot(), "error": holder["error"]}

    @app.post("/api/open")
    def open_video(body: OpenBody):
        old = holder["annotator"]
        if old is not None and old.busy:
            raise AppBusyError("a round is running; cancel it before opening another video")
        holder["annotator"] = open_annotator(holder["config"], body.frames, body.masks)
        holder["error"] = None
        images.__init__()
        return holder["annotator"].snapshot()

    def _frame_index(annotator: Annotator, t: int) -> int:
        if not 0 <= t < annotator.state.num_frames:
            raise KeyError(f"frame {t} is outside the video (0..{annotator.state.num_frames - 1})")
        return t

    @app.get("/api/frame/{t}")
    def frame(t: int):
        annotator = current()
        t = _frame_index(annotator, t)
        data = images.get("frame", t, annotator.mask_version, lambda: encode_frame(annotator.video.frames[t]))
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    @app.get("/api/overlay/{t}")
    def overlay(t: int):
        annotator = current()
        t = _frame_index(annotator, t)
        masks = annotator.state.masks
        if masks is None:
            raise KeyError("no masks yet: run a round first")
        data = images.get("overlay", t, annotator.mask_version, lambda: overlay_png(masks[t]))
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-cache"})

    @app.get("/api/thumb/{t}")
    def thumb(t: int):
        annotator = current()
        t = _frame_index(annotator, t)
        masks = annotator.state.masks
        make = lambda: thumbnail(annotator.video.frames[t], None if masks is None else masks[t])  # noqa: E731
        data = images.get("thumb", t, annotator.mask_version, make)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-cache"})

    @app.post("/api/objects")
    def add_object(body: ObjectBody):
        annotator = current()
        annotator.add_object(body.name)
        return annotator.snapshot()

    @app.patch("/api/objects/{object_id}")
    def rename_object(object_id: int, body: ObjectBody):
        annotator = current()
        annotator.rename_object(object_id, body.name or "")
        return annotator.snapshot()

    @app.delete("/api/objects/{object_id}")
    def delete_object(object_id: int):
        annotator = current()
        annotator.delete_object(object_id)
        return annotator.snapshot()

    @app.put("/api/strokes/{t}")
    def strokes(t: int, body: StrokesBody):
        annotator = current()
        return {"frame": t, "strokes": annotator.set_strokes(t, body.strokes)}

    @app.post("/api/run")
    def run(body: RunBody):
        return current().start_round(body.frame).to_dict()

    @app.get("/api/job")
    def job():
        annotator = current()
        return annotator.job.to_dict() if annotator.job is not None else {"state": "idle"}

    @app.post("/api/job/cancel")
    def cancel():
        job = current().cancel()
        return job.to_dict() if job is not None else {"state": "idle"}

    @app.post("/api/export")
    def export(body: ExportBody):
        annotator = current()
        out = body.out or str(annotator.session_dir / "export")
        with annotator.lock:
            return export_davis(annotator.video, annotator.state, out)

    @app.get("/api/export.zip")
    def export_zip():
        annotator = current()
        with annotator.lock:
            info = export_davis(annotator.video, annotator.state, annotator.session_dir / "export")
        root = Path(info["root"])
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(root.rglob("*")):
                if path.is_file() and not path.name.startswith("."):
                    archive.write(path, path.relative_to(root).as_posix())
        name = f"{annotator.video.name}_davis.zip"
        headers = {"Content-Disposition": f'attachment; filename="{name}"'}
        return Response(buffer.getvalue(), media_type="application/zip", headers=headers)

    app.state.holder = holder
    return app
