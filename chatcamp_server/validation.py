"""Checks on identifiers and profile fields shared by the socket and the server API.

Everything a client sends passes through here before it reaches storage, so the error a
user sees for a bad ID is the same whether it arrived in a query string or a JSON body.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from chatcamp_server.errors import BadRequest, PayloadTooLarge
from chatcamp_server.settings import Limits

APP_ID_RE = re.compile(r"[A-Za-z0-9_]+")
"""ChatCamp app IDs were 19-digit numbers; letters and ``_`` are allowed for new apps, ``-`` is
not, because the iFlyChat plugin refuses an app ID containing one."""

PROFILE_FIELDS = ("display_name", "avatar_url", "profile_url")


def json_object(raw: bytes) -> dict[str, Any]:
    """A request body that must be a JSON object; an empty body is the empty object."""
    try:
        body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON", "INVALID_JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", "INVALID_JSON")
    return body


def _has_control_chars(value: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in value)


def user_id(value: Any, limits: Limits, field: str = "id") -> str:
    """A user ID: 1–128 printable characters, no leading or trailing white space."""
    if not isinstance(value, str) or value == "":
        raise BadRequest(f"{field} is required and must be a non-empty string", "INVALID_USER_ID")
    if len(value) > limits.max_user_id_chars:
        raise BadRequest(
            f"{field} is longer than {limits.max_user_id_chars} characters", "INVALID_USER_ID"
        )
    if _has_control_chars(value) or value != value.strip():
        raise BadRequest(
            f"{field} contains control characters or surrounding white space", "INVALID_USER_ID"
        )
    return value


MAX_RECORD_ID_CHARS = 100
"""Token, session and signing key IDs are 16 characters; anything far longer is not one."""


def record_id(value: Any, name: str) -> str:
    """The ID of a token, session or signing key: the server made it, so a string with a
    control character (a NUL, which PostgreSQL cannot even compare) is no ID of its."""
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{name} is required and must be a string", "INVALID_FIELD")
    if len(value) > MAX_RECORD_ID_CHARS or _has_control_chars(value):
        raise BadRequest(f"{name} is not an ID this server made", "INVALID_FIELD")
    return value


def search_text(value: str, name: str, max_chars: int) -> str:
    """What an operator typed to search with: bounded, and without control characters."""
    if len(value) > max_chars or _has_control_chars(value):
        raise BadRequest(f"{name} must be at most {max_chars} printable characters",
                         "INVALID_FIELD")
    return value


def app_id(value: Any, limits: Limits) -> str:
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= limits.max_app_id_chars
        or not APP_ID_RE.fullmatch(value)
    ):
        raise BadRequest(
            f"app_id must be 1-{limits.max_app_id_chars} letters, digits or '_'", "INVALID_APP_ID"
        )
    return value


def access_token(value: Any, limits: Limits, field: str = "access_token") -> str:
    """A caller-chosen token: long enough that guessing it is hopeless, printable ASCII."""
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be a string", "INVALID_ACCESS_TOKEN")
    if not limits.min_token_chars <= len(value) <= limits.max_token_chars:
        raise BadRequest(
            f"{field} must be {limits.min_token_chars}-{limits.max_token_chars} characters",
            "INVALID_ACCESS_TOKEN",
        )
    if not all("!" <= ch <= "~" for ch in value):
        raise BadRequest(f"{field} must be printable ASCII without spaces", "INVALID_ACCESS_TOKEN")
    return value


def text_field(value: Any, name: str, max_chars: int) -> str:
    """Profile text is stored verbatim (integrations compare it byte for byte), only bounded."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string", "INVALID_FIELD")
    if len(value) > max_chars:
        raise PayloadTooLarge(f"{name} is longer than {max_chars} characters")
    if "\x00" in value or not _encodable(value):
        raise BadRequest(f"{name} must be text without NUL characters or lone surrogates",
                         "INVALID_FIELD")
    return value


def is_utf8(value: str) -> bool:
    """False for text with lone surrogates, which JSON allows and UTF-8 cannot carry."""
    return _encodable(value)


def _encodable(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def metadata(value: Any, limits: Limits) -> dict[str, Any]:
    """An object; form-encoded clients of the old API send it as JSON text, which is accepted."""
    if value is None:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise BadRequest("metadata must be a JSON object", "INVALID_FIELD") from None
    if not isinstance(value, dict):
        raise BadRequest("metadata must be a JSON object", "INVALID_FIELD")
    encoded = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if not _encodable(encoded):
        raise BadRequest("metadata must not contain lone surrogates", "INVALID_FIELD")
    if len(encoded.encode()) > limits.max_metadata_bytes:
        raise PayloadTooLarge(f"metadata is larger than {limits.max_metadata_bytes} bytes")
    if "\\u0000" in encoded:
        raise BadRequest("metadata must not contain NUL characters", "INVALID_FIELD")
    return value


def is_number(value: Any) -> bool:
    """An int or float from JSON; a JSON ``true`` is a bool, which Python counts as an int."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def issued_before(value: Any, now: float, limits: Limits) -> float:
    """A revocation's time in Unix seconds: tokens issued earlier are refused.  One further
    ahead than a signed token's ``iat`` may be (``jwt_leeway``) would also refuse every
    token the backend signs until then, which no revocation means to do."""
    if not is_number(value) or not 0 <= value < 1e11:
        raise BadRequest("issued_before must be a time in Unix seconds", "INVALID_FIELD")
    if value > now + limits.jwt_leeway:
        raise BadRequest(f"issued_before is in the future: it may be at most "
                         f"{limits.jwt_leeway:g} s ahead of the server's clock", "INVALID_FIELD")
    return float(value)


def flag(value: Any, name: str) -> bool:
    """A boolean; the old form-encoded API sent ``true``/``false``/``1``/``0`` as text."""
    if isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    raise BadRequest(f"{name} must be true or false", "INVALID_FIELD")


def profile_changes(body: dict[str, Any], limits: Limits) -> dict[str, Any]:
    """The profile fields present in ``body``, validated; absent fields are left unchanged."""
    changes: dict[str, Any] = {}
    for name in PROFILE_FIELDS:
        if name in body:
            changes[name] = text_field(body[name], name, limits.max_profile_field_chars)
    if "data" in body:
        changes["data"] = text_field(body["data"], "data", limits.max_data_chars)
    if "metadata" in body:
        changes["metadata"] = metadata(body["metadata"], limits)
    return changes


def channel_id(value: Any, limits: Limits, field: str = "id") -> str:
    """A channel ID, chosen by whoever creates the channel (ChatCamp's examples hard-code
    24-hex IDs): the same rules as a user ID."""
    try:
        return user_id(value, limits, field)
    except BadRequest as exc:
        raise BadRequest(exc.message, "INVALID_CHANNEL_ID") from None


def message_text(value: Any, limits: Limits) -> str:
    """A message's text, stored exactly as sent (any Unicode, newlines, surrounding white
    space), only bounded and non-empty."""
    if not isinstance(value, str) or value == "":
        raise BadRequest("text is required and must be a non-empty string", "INVALID_FIELD")
    if len(value) > limits.max_message_chars:
        raise PayloadTooLarge(f"text is longer than {limits.max_message_chars} characters",
                              "MESSAGE_TOO_LONG")
    return text_field(value, "text", limits.max_message_chars)


def page_limit(value: Any, default: int, most: int) -> int:
    """A page size: ``default`` when absent, else 1 to ``most``."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise BadRequest(f"limit must be a whole number from 1 to {most}", "INVALID_LIMIT")
    return value


def custom_filter(value: Any) -> tuple[str, ...]:
    """ChatCamp's ``custom_filter``: a list of short strings, kept for the client."""
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > 32 or not all(
            isinstance(item, str) and len(item) <= 128 and is_utf8(item) for item in value):
        raise BadRequest("custom_filter must be a list of at most 32 strings of 128 characters",
                         "INVALID_FIELD")
    return tuple(value)
