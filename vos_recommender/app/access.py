"""Which web pages may talk to the app: the ``Host`` and ``Origin`` checks.

The app serves one user's session on this machine. Two kinds of foreign pages could otherwise reach it
from the user's browser:

* **DNS rebinding**: a page on ``evil.example.com`` whose name is made to resolve to ``127.0.0.1``
  reads and changes the session as if it were the app's own page. Its requests carry
  ``Host: evil.example.com:PORT``, so every request whose ``Host`` is not one of the app's own addresses
  is refused with 421 (Misdirected Request).
* **Cross-site requests**: a page on any other origin can send (not read) ``POST``/``PUT``/``PATCH``/
  ``DELETE`` requests to ``localhost``; the browser marks them with its ``Origin``. A state-changing
  request whose ``Origin`` is not one of the app's own origins is refused with 403.

The app's own addresses are ``localhost``, ``127.0.0.1``, ``[::1]`` and the ``--host`` it serves on (for
a wildcard host, ``0.0.0.0`` or ``::``, also this machine's host name and its addresses), each with the
port the request arrived on (or the configured port).
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["LOCAL_NAMES", "STATE_CHANGING_METHODS", "LocalAccessGuard", "allowed_host_names"]

#: The names of this machine every browser uses.
LOCAL_NAMES = ("localhost", "127.0.0.1", "[::1]")
#: Methods whose ``Origin`` is checked.
STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_WILDCARDS = ("0.0.0.0", "::", "[::]", "")


def _bracketed(name: str) -> str:
    """``::1`` -> ``[::1]`` (IPv6 addresses appear bracketed in ``Host`` and ``Origin``)."""
    name = name.strip().lower()
    return f"[{name}]" if ":" in name and not name.startswith("[") else name


def _own_addresses() -> list[str]:
    """This machine's addresses under its host name (the ones other machines reach it at)."""
    try:
        return socket.gethostbyname_ex(socket.gethostname())[2]
    except OSError:
        return []


def allowed_host_names(host: str | None = None) -> tuple[str, ...]:
    """The host names the app answers to when serving on ``host``.

    Args:
        host: The ``--host`` address (None: this machine only).
    """
    names = list(LOCAL_NAMES)
    if host is not None:
        if _bracketed(host) in _WILDCARDS:
            names += [socket.gethostname().lower(), socket.getfqdn().lower(), *_own_addresses()]
        else:
            names.append(_bracketed(host))
    return tuple(dict.fromkeys(n for n in names if n))


def _split_host(value: str, default_port: int) -> tuple[str, int | None]:
    """``"name:port"`` / ``"[v6]:port"`` / ``"name"`` -> ``(name, port)``; port None when malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return value, None
        name, rest = value[: end + 1], value[end + 1 :]
    else:
        name, colon, port = value.partition(":")
        rest = colon + port
    if not rest:
        return name, default_port
    if not rest.startswith(":") or not rest[1:].isdigit():
        return value, None
    return name, int(rest[1:])


class LocalAccessGuard:
    """ASGI middleware that refuses requests from pages other than the app's own (see the module doc).

    Args:
        app: The application.
        names: Host names the app answers to (:func:`allowed_host_names`).
        port: The port the app is served on; None: the port each request arrived on.
    """

    def __init__(self, app: ASGIApp, names: Iterable[str], port: int | None = None) -> None:
        self.app = app
        self.names = tuple(names)
        self.port = port

    def _addresses(self, port: int | None) -> str:
        return ", ".join(f"{name}:{port}" if port is not None else name for name in self.names)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        server = scope.get("server")
        port = self.port if self.port is not None else (server[1] if server else None)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        scheme = scope.get("scheme", "http")
        host = headers.get("host", "")
        name, host_port = _split_host(host, _DEFAULT_PORTS.get(scheme, 80))
        if name not in self.names or host_port is None or (port is not None and host_port != port):
            message = (
                f"refused: Host {host!r} is not this app's address; it answers only to "
                f"{self._addresses(port)} (a page on another site may be trying to reach it by DNS "
                "rebinding; open the app at one of these addresses)"
            )
            await self._refuse(scope, receive, send, 421, message)
            return
        origin = headers.get("origin")
        if origin is not None and (scope["type"] == "websocket" or scope["method"] in STATE_CHANGING_METHODS):
            if not self._own_origin(origin, port):
                message = (
                    f"refused: a page from {origin!r} may not change this session; only the app's own page "
                    f"(http://{self._addresses(port).replace(', ', ', http://')}) may"
                )
                await self._refuse(scope, receive, send, 403, message)
                return
        await self.app(scope, receive, send)

    def _own_origin(self, origin: str, port: int | None) -> bool:
        try:
            parts = urlsplit(origin.strip())
            origin_port = parts.port
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or parts.path not in ("", "/") or not parts.netloc:
            return False
        name = _bracketed(parts.hostname or "")
        origin_port = origin_port if origin_port is not None else _DEFAULT_PORTS[parts.scheme]
        return name in self.names and (port is None or origin_port == port)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
            return
        await JSONResponse({"error": message}, status_code=status)(scope, receive, send)
