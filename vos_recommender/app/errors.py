"""The errors a request to the app can cause, each with the HTTP status the server answers with.

Only an :class:`AppRequestError` is the client's fault and answered with a 4xx status and its message;
every other exception is the app's own error and answered with 500 (see
:mod:`vos_recommender.app.server`). Input validation raises these, never a bare ``ValueError`` or
``KeyError``, so a bug inside the app cannot pass for bad input.
"""

from __future__ import annotations

__all__ = [
    "AppBusyError",
    "AppForbiddenError",
    "AppInputError",
    "AppNotFoundError",
    "AppRequestError",
    "AppUnsupportedError",
    "SessionInUseError",
]


class AppRequestError(Exception):
    """A request the app refuses because of what was sent or asked for; ``status`` is its HTTP status."""

    status = 400


class AppInputError(AppRequestError, ValueError):
    """Input the app cannot use; the message is meant for the user, as is."""

    status = 400


class AppNotFoundError(AppRequestError, KeyError):
    """The request names a frame, object or result that does not exist."""

    status = 404

    def __str__(self) -> str:
        # KeyError quotes its argument; the message is meant to be read as is.
        return str(self.args[0]) if self.args else ""


class AppForbiddenError(AppRequestError):
    """The request asks for something the app does not allow (e.g. writing outside its export folders)."""

    status = 403


class AppBusyError(AppRequestError, RuntimeError):
    """The request needs the session while a round is running, or no video is open."""

    status = 409


class AppUnsupportedError(AppRequestError):
    """The session's backend cannot do what the request asks (e.g. take a mask edited by hand)."""

    status = 422


class SessionInUseError(AppInputError):
    """Another running app holds the session folder's lock."""

    status = 409
