"""The HTTP API and the static page (FastAPI).

FastAPI gives a typed JSON API that the page, the tests (``TestClient``) and a simulated user can drive
the same way; the page itself is static HTML/CSS/JS with a canvas and needs no front-end build.
Only the app's own page may use it: requests to a foreign ``Host`` (DNS rebinding) or state-changing
requests from a foreign ``Origin`` are refused (:mod:`vos_recommender.app.access`), and request bodies are
checked strictly and limited in size (:mod:`vos_recommender.app.bodies`). Every error comes back as
``{"error": message}``: with a 4xx status when the request is at fault (an
:class:`~vos_recommender.app.errors.AppRequestError`), and with 500 and the exception's message when the
app is (the trace goes to the server's log), never a stack trace.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from vos_recommender.app.access import LocalAccessGuard, allowed_host_names
from vos_recommender.app.advisor import FrameAdvisor
from vos_recommender.app.annotator import Annotator
from vos_recommender.app.bodies import (
    BodySizeLimit,
    ExportBody,
    MaskEditBody,
    ObjectBody,
    OpenBody,
    RunBody,
    StrokesBody,
)
from vos_recommender.app.errors import (
    AppBusyError,
    AppForbiddenError,
    AppInputError,
    AppNotFoundError,
    AppRequestError,
)
from vos_recommender.app.export import export_davis, export_folder
from vos_recommender.app.render import ImageCache, encode_frame, overlay_png, thumbnail
from vos_recommender.app.state import MANIFEST
from vos_recommender.app.video import load_video

__all__ = ["AppConfig", "create_app", "open_annotator", "session_folder"]

STATIC = Path(__file__).with_name("static")
# What writing into a folder the request chose can fail with because of that folder.
_UNWRITABLE = {
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOENT,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.EEXIST,
}


@dataclasses.dataclass
class AppConfig:
    """How videos are opened: backend, recommender checkpoints and where sessions are saved.

    Attributes:
        backend: Backend registry name.
        backend_kwargs: Its constructor arguments.
        session: Session folder (None: one per frame folder under ``session_root``, see :func:`session_folder`).
        session_root: Parent of the per-video session folders.
        agent: Agent ``.zip`` or None.
        quality: Quality-estimator checkpoint or None.
        strategy: The recommendation strategy (see :data:`~vos_recommender.app.advisor.ADVISOR_STRATEGIES`;
            None: the agent when one is given, else the gain ranker when one is given, else the best measured
            rule).
        ranker: Gain-ranker checkpoint or None.
    """

    backend: str = "flow"
    backend_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    session: str | None = None
    session_root: str = "runs/app"
    agent: str | None = None
    quality: str | None = None
    strategy: str | None = None
    ranker: str | None = None

    def advisor(self) -> FrameAdvisor:
        """The recommender these settings describe."""
        return FrameAdvisor(self.agent, self.quality, self.strategy, self.ranker)


def session_folder(config: AppConfig, video) -> Path:
    """The session folder of ``video`` as configured.

    The default, ``<session_root>/<video name>-<hash of the frame folder's absolute path>``, differs for
    every frame folder (``a/frames`` and ``b/frames`` do not share one) and is never the root itself.
    """
    if config.session:
        return Path(config.session)
    digest = hashlib.sha1(str(Path(video.source).resolve()).encode()).hexdigest()[:8]
    return Path(config.session_root) / f"{video.name}-{digest}"


def open_annotator(config: AppConfig, frames: str, masks: str | None = None, advisor=None) -> Annotator:
    """Open a video as configured (raises :class:`AppInputError` with a message for the user)."""
    video = load_video(frames, masks)
    advisor = advisor or config.advisor()
    return Annotator(video, session_folder(config, video), config.backend, config.backend_kwargs, advisor)


def _page_session(folder: str) -> Path:
    """The session folder the page's Open form names: a new or empty folder, or one holding a session.

    A folder with other files and no ``session.json`` is refused, so a mistyped path does not turn a
    folder of the user's files into a session.

    Raises:
        AppInputError: Naming the folder and what is wrong with it.
    """
    path = Path(folder.strip()).expanduser()
    if not folder.strip():
        raise AppInputError("session: give a folder (or leave the field empty for the default)")
    if path.exists() and not path.is_dir():
        raise AppInputError(f"session: {path} is a file, not a folder")
    if path.is_dir() and not (path / MANIFEST).is_file() and any(path.iterdir()):
        raise AppInputError(
            f"session: {path} holds other files but no session ({MANIFEST}); give a new or empty folder, "
            "or a session folder the app saved"
        )
    return path


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(
    config: AppConfig | None = None,
    annotator: Annotator | None = None,
    startup_error: str | None = None,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    export_root: str | None = None,
):
    """The FastAPI application.

    Args:
        config: How to open videos from the page (``POST /api/open``).
        annotator: The session to serve, or None (the page then asks for a folder).
        startup_error: A message to show in the page (e.g. the command line's bad input).
        host: The address the app is served on: requests must name it or ``localhost``, ``127.0.0.1``,
            ``[::1]`` (see :mod:`vos_recommender.app.access`).
        port: The port it is served on (None: the port each request arrived on).
        export_root: A folder ``POST /api/export`` may write under, besides the session folder.
    """
    app = FastAPI(title="vos_recommender annotation app", docs_url="/api/docs", redoc_url=None)
    holder: dict[str, Any] = {"annotator": annotator, "error": startup_error, "config": config or AppConfig()}
    images = ImageCache()

    def current() -> Annotator:
        if holder["annotator"] is None:
            raise AppBusyError("no video is open: open a frame folder first")
        return holder["annotator"]

    @app.exception_handler(AppRequestError)
    async def _request(_: Request, err: AppRequestError):
        return _error(err.status, str(err))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, err: RequestValidationError):
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors()]
        return _error(400, "bad request: " + "; ".join(parts))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, err: StarletteHTTPException):
        # Unknown routes, wrong methods, bodies that are not JSON or nested too deeply to parse.
        message = f"bad request: {err.detail}" if err.status_code == 400 else str(err.detail)
        return JSONResponse({"error": message}, status_code=err.status_code, headers=err.headers)

    @app.exception_handler(Exception)
    async def _internal(_: Request, err: Exception):
        # Starlette re-raises the exception after this answer, so the server logs its trace.
        return _error(500, f"internal error of the app ({type(err).__name__}: {err}); see the server's log")

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
        old: Annotator | None = holder["annotator"]
        if old is not None and old.busy:
            raise AppBusyError("a round is running; cancel it before opening another video")
        config = holder["config"]
        video = load_video(body.frames, body.masks)
        advisor = config.advisor()
        session = _page_session(body.session) if body.session else session_folder(config, video)
        if old is not None and old.session_dir.resolve() == session.resolve():
            holder["annotator"] = None  # the same session again: release its lock before reopening it
            old.close()
        opened = Annotator(video, session, config.backend, config.backend_kwargs, advisor)
        if holder["annotator"] is not None:
            holder["annotator"].close()
        holder["annotator"], holder["error"] = opened, None
        images.__init__()
        return opened.snapshot()

    def _frame_index(annotator: Annotator, t: int) -> int:
        if not 0 <= t < annotator.state.num_frames:
            raise AppNotFoundError(f"frame {t} is outside the video (0..{annotator.state.num_frames - 1})")
        return t

    @app.get("/api/frame/{t}")
    def frame(t: int):
        annotator = current()
        t = _frame_index(annotator, t)
        data = images.get("frame", t, annotator.mask_version, lambda: encode_frame(annotator.video.frames[t]))
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})

    @app.get("/api/overlay/{t}")
    def overlay(t: int, job: int | None = None):
        annotator = current()
        t = _frame_index(annotator, t)
        running = annotator.job
        live = None
        if running is not None and running.id == job and running.state == "running":
            live = running.frame_mask(t)
        if live is not None:  # the running round's new mask of this frame, before the round is saved
            return Response(overlay_png(live), media_type="image/png", headers={"Cache-Control": "no-cache"})
        masks = annotator.state.masks
        if masks is None:
            raise AppNotFoundError("no masks yet: run a round first")
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
        strokes = annotator.set_strokes(t, body.strokes)
        return {"frame": t, "strokes": strokes, "history": annotator.state.history.summary()}

    @app.post("/api/masks/{t}/edit")
    def edit_mask(t: int, body: MaskEditBody):
        annotator = current()
        annotator.edit_mask(_frame_index(annotator, t), body.model_dump())
        return annotator.snapshot()

    @app.post("/api/undo")
    def undo():
        annotator = current()
        done = annotator.undo()
        return {**annotator.snapshot(), "done": f"undid {done}"}

    @app.post("/api/redo")
    def redo():
        annotator = current()
        done = annotator.redo()
        return {**annotator.snapshot(), "done": f"redid {done}"}

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

    def _export(annotator: Annotator, out: str | None) -> dict[str, Any]:
        folder = export_folder(out, annotator.session_dir, export_root)
        with annotator.lock:
            try:
                return export_davis(annotator.video, annotator.state, folder)
            except OSError as err:
                if err.errno not in _UNWRITABLE:
                    raise  # e.g. a full disk: the app's trouble, answered with 500 and its message
                raise AppForbiddenError(f"export: cannot write into {folder}: {err.strerror}") from err

    @app.post("/api/export")
    def export(body: ExportBody):
        return _export(current(), body.out)

    @app.get("/api/export.zip")
    def export_zip():
        annotator = current()
        info = _export(annotator, None)
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
    # The outermost layer runs first: foreign pages are refused before a body is read.
    app.add_middleware(BodySizeLimit)
    app.add_middleware(LocalAccessGuard, names=allowed_host_names(host), port=port)
    return app
