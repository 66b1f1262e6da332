"""The server's one exception tree.

Every refusal the server makes is one of these, so the WebSocket adapter and the server API
can each turn any of them into the reply their client understands (a failure ack or a JSON
error body) without knowing which part of the server raised it::

    ServerError                  code, message, http_status
    ├── BadRequest               400  malformed or invalid input
    ├── Unauthorized             401  wrong credentials (API key, token, session key)
    ├── NotFound                 404  unknown app, user, token or session
    ├── RequestTimeout           408  a body that did not arrive in time
    ├── Conflict                 409  the thing already exists
    ├── PayloadTooLarge          413  over a documented size cap
    ├── UnsupportedMediaType     415  a body that is neither JSON nor a form
    ├── MisdirectedRequest       421  a Host this server does not answer for
    ├── RateLimited              429  a login limit or a request budget; ``retry_after`` s
    ├── UpstreamError            502  a service this one calls failed (the demo backend)
    └── StorageUnavailable       503  the database cannot be opened or used

The codes are stable strings that clients may branch on.  The SDK itself only understands
``NOT_AUTHORIZED`` and ``NOT_FOUND`` (both stop its reconnect loop), so failures that must
stop a browser from retrying are raised with one of those two codes.
"""

from __future__ import annotations


class ServerError(Exception):
    """Root of every error the server reports to a client."""

    http_status = 500
    default_code = "INTERNAL"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class BadRequest(ServerError):
    http_status = 400
    default_code = "INVALID_REQUEST"


class Unauthorized(ServerError):
    http_status = 401
    default_code = "NOT_AUTHORIZED"


class NotFound(ServerError):
    http_status = 404
    default_code = "NOT_FOUND"


class RequestTimeout(ServerError):
    http_status = 408
    default_code = "REQUEST_TIMEOUT"


class Conflict(ServerError):
    http_status = 409
    default_code = "CONFLICT"


class PayloadTooLarge(ServerError):
    http_status = 413
    default_code = "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(ServerError):
    http_status = 415
    default_code = "UNSUPPORTED_MEDIA_TYPE"


class MisdirectedRequest(ServerError):
    http_status = 421
    default_code = "MISDIRECTED_REQUEST"


class RateLimited(ServerError):
    http_status = 429
    default_code = "RATE_LIMITED"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamError(ServerError):
    http_status = 502
    default_code = "UPSTREAM_ERROR"


class StorageUnavailable(ServerError):
    http_status = 503
    default_code = "STORAGE_UNAVAILABLE"


SESSION_KEY_INVALID = "Session Key Invalid"
"""The exact message that makes the SDK drop its session key and log in by user ID again."""
