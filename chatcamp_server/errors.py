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
    ├── StorageUnavailable       503  the database cannot be opened or used; ``retry_after``
    └── Draining                 503  this node is shutting down; ``retry_after``

The codes are stable strings that clients may branch on.  The SDK itself only understands
``NOT_AUTHORIZED`` and ``NOT_FOUND`` (both stop its reconnect loop), so failures that must
stop a browser from retrying are raised with one of those two codes.
"""

from __future__ import annotations


class ServerError(Exception):
    """Root of every error the server reports to a client."""

    http_status = 500
    default_code = "INTERNAL"
    retry_after: int | None = None
    """Seconds a client should wait before trying again (``Retry-After``), when that helps."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    @property
    def client_message(self) -> str:
        """What the client is told; the operator may be told more (``message``, logged)."""
        return self.message

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.client_message}


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
    """The message names the database (host, port, reason) for the operator's log; clients
    get a sentence that reveals nothing of the deployment.  The code is not one that stops
    the SDK, so a browser keeps retrying and is back once the database is."""

    http_status = 503
    default_code = "STORAGE_UNAVAILABLE"
    retry_after = 2

    @property
    def client_message(self) -> str:
        return "The chat server cannot reach its database; try again shortly"


class Draining(ServerError):
    """Sent to a login that reaches a node after it began shutting down: the load balancer
    has not yet seen ``/readyz`` fail, and the SDK retries (on another node) by itself."""

    http_status = 503
    default_code = "DRAINING"
    retry_after = 1


SESSION_KEY_INVALID = "Session Key Invalid"
"""The exact message that makes the SDK drop its session key and log in by user ID again."""
