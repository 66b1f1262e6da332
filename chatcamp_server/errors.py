"""The server's one exception tree.

Every refusal the server makes is one of these, so the WebSocket adapter and the server API
can each turn any of them into the reply their client understands (a failure ack or a JSON
error body) without knowing which part of the server raised it::

    ServerError                  code, message, http_status
    ├── BadRequest               400  malformed or invalid input
    ├── Unauthorized             401  wrong credentials (API key, token, session key)
    ├── Forbidden                403  a dashboard change from another site's page (CSRF)
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


class Forbidden(ServerError):
    http_status = 403
    default_code = "FORBIDDEN"


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

# Why a login is refused or a live session ends: each message written once, here, with the
# code of the ``session.ended`` notice sent before the failure ack (see ``end_code``).

TOKEN_EXPIRED = "Access token expired"
"""An issued token past its ``expires_in``, or a signed token (JWT) past its ``exp``."""
TOKEN_REVOKED = "Access token revoked"
"""A stored token revoked, or replaced by ``users.update``."""
SESSION_ENDED = "Session ended by the server"
"""``users.sessions.end``: the operator ended this one session."""
NO_TOKEN_FOR_APP = "This app requires an access token"
NO_TOKEN_FOR_USER = "An access token is required for this user"
ORIGIN_NOT_ALLOWED = "Origin {origin} is not allowed for this app"
"""Formatted with the page's origin (at most 200 characters of it)."""
USER_GONE = "The user no longer exists"
INVALID_TOKEN = "Invalid access token"

JWT_BAD_SIGNATURE = "Access token signature is invalid"
JWT_UNKNOWN_KEY = "Access token is signed with an unknown key"
JWT_KEY_REVOKED = "Access token is signed with a revoked key"
JWT_BAD_ALGORITHM = "Access token must be signed with HS256"
JWT_WRONG_USER = "Access token is for another user"
JWT_NOT_YET_VALID = "Access token is not valid yet"
JWT_ISSUED_IN_FUTURE = "Access token is issued in the future"
JWT_MALFORMED = "Access token is malformed"
JWT_TOO_LONG = "Access token is longer than 4096 characters"
JWT_ISSUED_BEFORE_REVOCATION = "Access token was issued before a revocation"
"""Its ``iat`` is earlier than a ``users.tokens.revoke`` or ``apps.tokens.revoke``."""

END_CODES = {
    TOKEN_EXPIRED: "TOKEN_EXPIRED",
    TOKEN_REVOKED: "TOKEN_REVOKED",
    JWT_KEY_REVOKED: "TOKEN_REVOKED",
    JWT_ISSUED_BEFORE_REVOCATION: "TOKEN_REVOKED",
    SESSION_ENDED: "SESSION_ENDED",
    NO_TOKEN_FOR_APP: "POLICY",
    NO_TOKEN_FOR_USER: "POLICY",
}
"""Refusal message → the code a ``session.ended`` notice carries; any other message carries
the failure ack's own code."""
_ORIGIN_HEAD, _, _ORIGIN_TAIL = ORIGIN_NOT_ALLOWED.partition("{origin}")


def end_code(code: str, message: str) -> str:
    """The stable code of the ``session.ended`` notice for a failure ack of ``code`` and
    ``message``: ``TOKEN_EXPIRED``, ``TOKEN_REVOKED``, ``SESSION_ENDED``, ``POLICY``, or
    ``code`` itself (``NOT_AUTHORIZED``, ``NOT_FOUND``, ``RATE_LIMITED``, ...)."""
    known = END_CODES.get(message)
    if known is not None:
        return known
    if message.startswith(_ORIGIN_HEAD) and message.endswith(_ORIGIN_TAIL):
        return "POLICY"
    return code
