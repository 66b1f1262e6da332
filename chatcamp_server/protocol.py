"""The ChatCamp wire protocol without I/O: query → credentials, frame → action, and replies.

Nothing here touches a socket, the database or the clock, so the protocol's every rule is
tested in-process (``tests/test_protocol.py``).  The adapter in ``chat_socket.py`` feeds it
what arrived and sends what it returns.

Quirks of the SDK this module is shaped around (see shared/chatcamp-protocol.md):

* credentials travel only in the query string, and the SDK does not encode ``app_id``;
* replies must be ``<request type>.ack`` with ``to`` set to the request's ``r``;
* a request without a reply leaves an SDK callback pending forever, so every request that
  carries ``r`` gets an ack, an error ack when nothing better can be said;
* the SDK never shows a page the failure ``users.auth.ack`` that ends a live session, but
  it re-emits a frame of a type it does not know as an event on the client object.  So
  before every failure ack (a refused connect or resume, or a live session ended by any
  path) the server sends ``session_ended``'s notice on the same socket::

      {"t": "session.ended", "d": {"ok": true, "code": CODE, "message": MESSAGE}}

  ``MESSAGE`` is exactly the ack's message; ``CODE`` is ``TOKEN_EXPIRED``,
  ``TOKEN_REVOKED``, ``SESSION_ENDED``, ``POLICY`` or the ack's own code
  (``errors.end_code``).  A ``Session Key Invalid`` refusal gets none: the SDK then logs
  in again by user ID, and nothing has ended.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from chatcamp_server import validation
from chatcamp_server.errors import (
    JWT_TOO_LONG,
    SESSION_KEY_INVALID,
    BadRequest,
    ServerError,
    end_code,
)
from chatcamp_server.sessions import jwt_tokens
from chatcamp_server.settings import Limits
from chatcamp_server.storage.store import User

CREDENTIAL_PARAMS = ("app_id", "user_id", "access_token", "session_key")
MAX_QUERY_PARAMS = 32
MAX_TYPE_CHARS = 128
MAX_REQUEST_ID = 2**53 - 1


class ConnectRefused(ServerError):
    """Why a connect query is refused; ``code`` is one the SDK acts on."""


class FrameError(ServerError):
    """A frame that cannot be served; answered with an error ack when ``rid`` is known."""

    def __init__(self, message: str, code: str, rid: int | None = None,
                 type_: str | None = None) -> None:
        super().__init__(message, code)
        self.rid = rid
        self.type = type_


@dataclass(frozen=True)
class Credentials:
    """What a connect query asserts; ``session_key`` alone is a complete credential."""

    app_id: str | None = None
    user_id: str | None = None
    access_token: str | None = None
    session_key: str | None = None


def parse_connect_query(raw_query: str, limits: Limits) -> Credentials:
    """Credentials from the still percent-encoded query string of ``/chat/2.0``.

    A credential given twice is refused rather than guessed at: with two ``user_id``
    values, any choice would let a proxy and the server disagree on who logs in.
    """
    segments = [s for s in raw_query.split("&") if s] if raw_query else []
    if len(segments) > MAX_QUERY_PARAMS:
        raise ConnectRefused("Too many query parameters", "NOT_AUTHORIZED")
    found: dict[str, str] = {}
    for segment in segments:
        raw_name, _, raw_value = segment.partition("=")
        try:
            name = unquote(raw_name, errors="strict")
            value = unquote(raw_value, errors="strict")
        except UnicodeDecodeError:
            raise ConnectRefused("The query string is not valid UTF-8", "NOT_AUTHORIZED") from None
        if name not in CREDENTIAL_PARAMS:
            continue
        if name in found:
            raise ConnectRefused(f"Query parameter {name} is given more than once",
                                 "NOT_AUTHORIZED")
        found[name] = value
    creds = Credentials(**{k: v for k, v in found.items() if v != ""})
    if creds.session_key is not None:
        return creds
    if creds.app_id is None:
        raise ConnectRefused("app_id is required", "NOT_FOUND")
    try:
        validation.app_id(creds.app_id, limits)
    except BadRequest:
        raise ConnectRefused("App not found", "NOT_FOUND") from None
    try:
        validation.user_id(creds.user_id, limits, field="user_id")
        token = creds.access_token
        if token is not None and len(token) > limits.max_token_chars:
            if len(token) > limits.max_jwt_chars:
                raise BadRequest(JWT_TOO_LONG, "INVALID_ACCESS_TOKEN")
            if not looks_like_jwt(token):
                raise BadRequest("access_token is too long", "INVALID_ACCESS_TOKEN")
    except BadRequest as exc:
        raise ConnectRefused(exc.message, "NOT_AUTHORIZED") from None
    return creds


def looks_like_jwt(token: str) -> bool:
    """Shaped like a JWT (three dot-separated parts whose header decodes), whoever signed
    it: only these may be longer than an opaque token (``max_token_chars``)."""
    return jwt_tokens.header(token) is not None


# frames in


@dataclass(frozen=True)
class Request:
    type: str
    data: dict[str, Any]
    rid: int | None


def _request_id(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_REQUEST_ID:
        return value
    return None


_PEEK_TYPE = re.compile(r'\A\s*\{\s*"t"\s*:\s*"([^"\\]{1,%d})"' % MAX_TYPE_CHARS)
_PEEK_RID = re.compile(r'"r"\s*:\s*([0-9]{1,16})\s*\}\s*\Z')
PEEK_HEAD_CHARS = 512
PEEK_TAIL_CHARS = 64


def _peek(text: str) -> tuple[str | None, int | None]:
    """The type and request ID of a frame too large to parse, or sent too fast, found at its
    edges: the SDK writes ``{"t": …, "d": …, "r": N}``, so ``t`` is the first key and ``r``
    the last.  Both patterns are anchored there, so an ``r`` or ``t`` nested in ``d`` is never
    taken for the envelope's.  Bounded work, so such a frame costs no more than its bytes; a
    frame laid out otherwise gets no ack."""
    type_match = _PEEK_TYPE.match(text[:PEEK_HEAD_CHARS])
    rid_match = _PEEK_RID.search(text[-PEEK_TAIL_CHARS:])
    rid = _request_id(int(rid_match.group(1))) if rid_match else None
    return (type_match.group(1) if type_match else None), rid


def frame_too_large(text: str, limits: Limits) -> bool:
    """Over ``max_frame_bytes`` in UTF-8, counted without encoding a frame that is clearly
    under or over."""
    return len(text) > limits.max_frame_bytes or (
        len(text) * 4 > limits.max_frame_bytes and len(text.encode("utf-8", "surrogatepass"))
        > limits.max_frame_bytes)


def parse_frame(text: str, limits: Limits) -> Request:
    """A request envelope ``{"t", "d", "r"}``, or FrameError saying what is wrong with it.
    An oversize frame is refused before it is parsed."""
    if frame_too_large(text, limits):
        type_, rid = _peek(text)
        raise FrameError(f"Frames are limited to {limits.max_frame_bytes} bytes",
                         "PAYLOAD_TOO_LARGE", rid, type_)
    try:
        envelope = json.loads(text)
    except (ValueError, RecursionError):
        raise FrameError("The frame is not valid JSON", "INVALID_JSON") from None
    if not isinstance(envelope, dict):
        raise FrameError("The frame must be a JSON object", "INVALID_FRAME")
    rid = _request_id(envelope.get("r"))
    type_ = envelope.get("t")
    type_ = type_ if isinstance(type_, str) and 0 < len(type_) <= MAX_TYPE_CHARS \
        and validation.is_utf8(type_) else None
    if type_ is None:
        raise FrameError(f"t must be a string of 1-{MAX_TYPE_CHARS} characters",
                         "INVALID_FRAME", rid)
    data = envelope.get("d", {})
    if not isinstance(data, dict):
        raise FrameError("d must be a JSON object", "INVALID_FRAME", rid, type_)
    return Request(type_, data, rid)


class FrameBudget:
    """How many requests (or messages) a session may send: a token bucket of ``burst``
    refilled at ``rate`` a second, so a client that floods gets error acks and costs no
    parsing.  The caller passes the time, which keeps this free of clocks."""

    __slots__ = ("rate", "burst", "tokens", "at")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = self.burst
        self.at = now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


def over_budget(text: str, limits: Limits) -> FrameError:
    """The refusal of a request sent faster than the session's budget allows."""
    type_, rid = _peek(text)
    return FrameError(f"Too many requests: at most {limits.frames_per_second:g} per second",
                      "RATE_LIMITED", rid, type_)


def frame_error(error: FrameError) -> dict[str, Any] | None:
    """The error ack for a frame that cannot be served, or None with no ``r`` to answer."""
    if error.rid is None:
        return None
    return error_ack(error.type, error.rid, error.code, error.message)


# frames out


def wire_user(user: User, is_online: bool, access_token: str | None = None) -> dict[str, Any]:
    """The User object as the SDK reads it (snake_case; see protocol spec §4.1)."""
    wire: dict[str, Any] = {
        "id": user.id,
        "display_name": user.display_name,
        "avatar_url": user.avatar_url,
        "profile_url": user.profile_url,
        "data": user.data,
        "metadata": user.metadata,
        "check_access_token": user.check_access_token,
        "is_online": is_online,
        "last_seen": int(user.last_seen_at or 0),
    }
    if access_token is not None:
        wire["access_token"] = access_token
    return wire


def auth_ok(user: dict[str, Any], session_key: str) -> dict[str, Any]:
    return {"t": "users.auth.ack", "d": {"ok": True, "user": user, "session_key": session_key}}


def auth_failure(code: str, message: str) -> dict[str, Any]:
    return {"t": "users.auth.ack",
            "d": {"ok": False, "error": {"code": code, "message": message}}}


SESSION_ENDED_TYPE = "session.ended"


def session_ended(failure: dict[str, Any]) -> dict[str, Any] | None:
    """The notice sent before the failure ``users.auth.ack`` ``failure`` (see the module
    docstring), or None for a ``Session Key Invalid`` one or a frame that is no failure
    ack."""
    data = failure.get("d")
    if failure.get("t") != "users.auth.ack" or not isinstance(data, dict) or data.get("ok"):
        return None
    error = data.get("error")
    if not isinstance(error, dict):
        return None
    code, message = str(error.get("code", "")), str(error.get("message", ""))
    if message == SESSION_KEY_INVALID:
        return None
    return {"t": SESSION_ENDED_TYPE,
            "d": {"ok": True, "code": end_code(code, message), "message": message}}


def session_key_invalid() -> dict[str, Any]:
    return auth_failure("NOT_AUTHORIZED", SESSION_KEY_INVALID)


def ack(type_: str, rid: int, payload: dict[str, Any]) -> dict[str, Any]:
    return {"t": type_ + ".ack", "to": rid, "d": {"ok": True, **payload}}


def error_ack(type_: str | None, rid: int, code: str, message: str) -> dict[str, Any]:
    return {"t": (type_ + ".ack") if type_ else "error", "to": rid,
            "d": {"ok": False, "error": {"code": code, "message": message}}}


def encode(frame: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON.  Text that cannot be UTF-8 (a lone surrogate echoed back from the
    client) goes out as a JSON escape rather than failing the send."""
    try:
        return json.dumps(frame, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:
        return json.dumps(frame, separators=(",", ":")).encode()
