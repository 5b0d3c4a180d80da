"""The request bodies the API accepts: their JSON types, checked strictly, and their size.

Numbers and strings are strict (pydantic's ``Strict*`` types): ``{"frame": true}`` or ``{"frame": "2"}``
is refused, not read as frame 1 or 2. A body larger than :data:`MAX_BODY_BYTES` is refused with 413 before
it is read in full (:class:`BodySizeLimit`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, StrictBool, StrictFloat, StrictInt, StrictStr
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "MAX_BODY_BYTES",
    "BodySizeLimit",
    "ExportBody",
    "MaskEditBody",
    "ObjectBody",
    "OpenBody",
    "RunBody",
    "StrokesBody",
]

#: Largest request body (the strokes of one frame are the largest the page sends: a few kB to 100 kB).
MAX_BODY_BYTES = 2 * 1024 * 1024


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenBody(_Body):
    frames: StrictStr
    masks: StrictStr | None = None
    session: StrictStr | None = None


class ObjectBody(_Body):
    name: StrictStr | None = None


class StrokesBody(_Body):
    strokes: list[Any]


class MaskEditBody(_Body):
    """One mask edit (see :mod:`vos_recommender.app.mask_edits`; points and limits are checked there)."""

    op: StrictStr
    object_id: StrictInt
    erase: StrictBool = False
    points: list[Any]
    width: StrictInt | StrictFloat = 1


class RunBody(_Body):
    frame: StrictInt


class ExportBody(_Body):
    out: StrictStr | None = None


def _too_large(size: str) -> str:
    return f"the request body is {size}; at most {MAX_BODY_BYTES} bytes are accepted"


class BodySizeLimit:
    """ASGI middleware: refuse request bodies over ``max_bytes`` with 413 and ``{"error": ...}``.

    A declared ``Content-Length`` over the limit is refused before the body is read; a body sent without
    one (chunked) is counted while it arrives and refused once it passes the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            message = _too_large(f"{declared.decode('latin-1')} bytes")
            await JSONResponse({"error": message}, status_code=413)(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the route's body parsing, which lets HTTPException through.
                    raise HTTPException(413, _too_large(f"over {self.max_bytes} bytes"))
            return message

        await self.app(scope, counted, send)
