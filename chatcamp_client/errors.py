"""One exception tree for the server API: every failure is a :class:`ChatCampApiError`.

The server answers every refusal as ``{"ok": false, "error": {"code", "message"}}`` with an
HTTP status; the class follows the status, so a backend can catch broad kinds (a missing user
is a :class:`NotFoundError`) and still read the server's own ``code`` and ``message``.

    ChatCampApiError             status, code, message, retry_after
    ├── InvalidRequestError      400, 413, 415
    ├── AuthenticationError      401
    ├── NotFoundError            404
    ├── ConflictError            409
    ├── RateLimitedError         429, retry_after set
    ├── UnavailableError         5xx, 408: may be retried
    └── TransportError           status 0 (no answer), or an answer that is not the API's

Any other status (421, a Host the server does not answer for) is a bare ``ChatCampApiError``.
"""

from __future__ import annotations


class ChatCampApiError(Exception):
    """A call the server refused, or could not be reached for.

    ``status`` is the HTTP status (0 when no answer came), ``code`` the server's stable code
    (``NOT_FOUND``, ``INVALID_API_KEY``, …), ``message`` its sentence.
    """

    def __init__(self, message: str, code: str, status: int,
                 retry_after: float | None = None) -> None:
        super().__init__(f"{message} ({code})")
        self.message = message
        self.code = code
        self.status = status
        self.retry_after = retry_after


class InvalidRequestError(ChatCampApiError):
    """Malformed or invalid input (400, 413, 415): fix the call, do not retry it."""


class AuthenticationError(ChatCampApiError):
    """The API key is missing or wrong (401)."""


class NotFoundError(ChatCampApiError):
    """No such user, token, signing key or session (404)."""


class ConflictError(ChatCampApiError):
    """The user already exists, or the app holds its maximum of signing keys (409)."""


class RateLimitedError(ChatCampApiError):
    """Too many failed logins or wrong keys from this address (429); see ``retry_after``."""


class UnavailableError(ChatCampApiError):
    """The server cannot serve now (5xx, 408): its database is down or it is draining; the call
    may be retried after ``retry_after``."""


class TransportError(ChatCampApiError):
    """No answer: the server could not be reached, the call timed out, or the answer was not
    the server API's JSON."""


BY_STATUS: dict[int, type[ChatCampApiError]] = {
    400: InvalidRequestError, 413: InvalidRequestError, 415: InvalidRequestError,
    401: AuthenticationError, 404: NotFoundError, 409: ConflictError,
    429: RateLimitedError, 408: UnavailableError,
}


def for_status(status: int) -> type[ChatCampApiError]:
    """The class for a refusal's HTTP status; unknown ones stay the root class, so that a new
    status on the server never breaks ``except ChatCampApiError``."""
    if status >= 500:
        return UnavailableError
    return BY_STATUS.get(status, ChatCampApiError)
