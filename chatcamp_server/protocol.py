"""The ChatCamp wire protocol without I/O: query → credentials, frame → action, and replies.

Nothing here touches a socket, the database or the clock, so the protocol's every rule is
tested in-process (``tests/test_protocol.py``).  The adapter in ``chat_socket.py`` feeds it
what arrived and sends what it returns.

Quirks of the SDK this module is shaped around (see shared/chatcamp-protocol.md):

* credentials travel only in the query string, and the SDK does not encode ``app_id``;
* replies must be ``<request type>.ack`` with ``to`` set to the request's ``r``;
* a request without a reply leaves an SDK callback pending forever, so every request that
  carries ``r`` gets an ack, an error ack when nothing better can be said.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Union
from urllib.parse import unquote

from . import validation
from .errors import SESSION_KEY_INVALID, BadRequest, ServerError
from .settings import Limits
from .store import User

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
        if creds.access_token is not None and len(creds.access_token) > limits.max_token_chars:
            raise BadRequest("access_token is too long", "INVALID_ACCESS_TOKEN")
    except BadRequest as exc:
        raise ConnectRefused(exc.message, "NOT_AUTHORIZED") from None
    return creds


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


def parse_frame(text: str, limits: Limits) -> Request:
    """A request envelope ``{"t", "d", "r"}``, or FrameError saying what is wrong with it."""
    too_large = len(text) > limits.max_frame_bytes or (
        len(text) * 4 > limits.max_frame_bytes and len(text.encode()) > limits.max_frame_bytes
    )
    try:
        envelope = json.loads(text)
    except (ValueError, RecursionError):
        if too_large:
            raise FrameError(f"Frames are limited to {limits.max_frame_bytes} bytes",
                             "PAYLOAD_TOO_LARGE") from None
        raise FrameError("The frame is not valid JSON", "INVALID_JSON") from None
    if not isinstance(envelope, dict):
        raise FrameError("The frame must be a JSON object", "INVALID_FRAME")
    rid = _request_id(envelope.get("r"))
    type_ = envelope.get("t")
    type_ = type_ if isinstance(type_, str) and 0 < len(type_) <= MAX_TYPE_CHARS \
        and validation.is_utf8(type_) else None
    if too_large:
        raise FrameError(f"Frames are limited to {limits.max_frame_bytes} bytes",
                         "PAYLOAD_TOO_LARGE", rid, type_)
    if type_ is None:
        raise FrameError(f"t must be a string of 1-{MAX_TYPE_CHARS} characters",
                         "INVALID_FRAME", rid)
    data = envelope.get("d", {})
    if not isinstance(data, dict):
        raise FrameError("d must be a JSON object", "INVALID_FRAME", rid, type_)
    return Request(type_, data, rid)


# decisions


@dataclass(frozen=True)
class Ignore:
    """Nothing to send (``ping``, or a frame with no ``r`` to answer)."""


@dataclass(frozen=True)
class Reply:
    frame: dict[str, Any]


@dataclass(frozen=True)
class UpdateProfile:
    """Store these profile changes for the session's user, then ack with the user."""

    rid: int | None
    changes: dict[str, Any]


Action = Union[Ignore, Reply, UpdateProfile]


def decide(request: Request, user_id: str, limits: Limits) -> Action:
    """What an authenticated session does with one request."""
    if request.type == "ping":
        return Ignore()
    if request.type == "users.update":
        target = request.data.get("id", user_id)
        if target != user_id:
            return _refuse(request, "NOT_AUTHORIZED", "A session can only update its own user")
        try:
            changes = validation.profile_changes(request.data, limits)
        except ServerError as exc:
            return _refuse(request, exc.code, exc.message)
        return UpdateProfile(request.rid, changes)
    return _refuse(request, "NOT_IMPLEMENTED",
                   f"{request.type} is not supported by this server")


def _refuse(request: Request, code: str, message: str) -> Action:
    if request.rid is None:
        return Ignore()
    return Reply(error_ack(request.type, request.rid, code, message))


def frame_error_action(error: FrameError) -> Action:
    if error.rid is None:
        return Ignore()
    return Reply(error_ack(error.type, error.rid, error.code, error.message))


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
    }
    if access_token is not None:
        wire["access_token"] = access_token
    return wire


def auth_ok(user: dict[str, Any], session_key: str) -> dict[str, Any]:
    return {"t": "users.auth.ack", "d": {"ok": True, "user": user, "session_key": session_key}}


def auth_failure(code: str, message: str) -> dict[str, Any]:
    return {"t": "users.auth.ack",
            "d": {"ok": False, "error": {"code": code, "message": message}}}


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
