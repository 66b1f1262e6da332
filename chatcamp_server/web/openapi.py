"""The server API described as OpenAPI 3.1, served at ``GET /api/2.0/openapi.json``.

The request schemas are exactly as lenient as the validators in ``validation.py`` (flags as
``"true"``/``1``, ``null`` for "leave empty", metadata as JSON text): the old form-encoded API
sent those, and ``tests/test_openapi.py`` has schemathesis check that whatever the schema
forbids, the server refuses with a 4xx, and whatever it answers, the schema describes.
"""

from __future__ import annotations

from typing import Any

from chatcamp_server.settings import DEFAULT_LIMITS, Limits

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _components(limits: Limits) -> dict[str, Any]:
    text = {"type": "string", "maxLength": limits.max_profile_field_chars}
    return {
        "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}},
        "schemas": {
            "UserId": {"type": "string", "minLength": 1, "maxLength": limits.max_user_id_chars,
                       "description": "printable, no surrounding white space"},
            "Flag": {"anyOf": [
                {"type": "boolean"}, {"enum": [0, 1]},
                {"type": "string", "pattern": "^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|1|0)$"}],
                "description": "true or false; the old form API's text forms are accepted"},
            "AccessToken": {"type": "string", "minLength": limits.min_token_chars,
                            "maxLength": limits.max_token_chars, "pattern": "^[!-~]+$"},
            "Profile": {"type": "object", "properties": {
                "display_name": _nullable(text), "avatar_url": _nullable(text),
                "profile_url": _nullable(text),
                "data": _nullable({"type": "string", "maxLength": limits.max_data_chars}),
                "metadata": {"anyOf": [{"type": "object"}, {"type": "string"},
                                       {"type": "null"}],
                             "description": "an object, or one as JSON text"},
                "check_access_token": {"$ref": "#/components/schemas/Flag"},
                "access_token": _nullable({"$ref": "#/components/schemas/AccessToken"}),
            }},
            "User": {"type": "object", "required": [
                "id", "display_name", "avatar_url", "profile_url", "data", "metadata",
                "check_access_token", "is_online"], "properties": {
                "id": {"type": "string"}, "display_name": {"type": "string"},
                "avatar_url": {"type": "string"}, "profile_url": {"type": "string"},
                "data": {"type": "string"}, "metadata": {"type": "object"},
                "check_access_token": {"type": "boolean"}, "is_online": {"type": "boolean"},
                "access_token": {"type": "string"}}},
            "Token": {"type": "object", "required": ["id", "kind", "created_at", "expires_at",
                                                     "revoked_at"], "properties": {
                "id": {"type": "string"}, "kind": {"enum": ["profile", "issued"]},
                "created_at": {"type": "number"},
                "expires_at": _nullable({"type": "number"}),
                "revoked_at": _nullable({"type": "number"})}},
            "Session": {"type": "object", "required": [
                "session_id", "started_at", "remote_address", "user_agent", "token_id"],
                "properties": {
                "session_id": {"type": "string"}, "started_at": {"type": "number"},
                "remote_address": {"type": "string"}, "user_agent": {"type": "string"},
                "token_id": _nullable({"type": "string"})}},
            "App": {"type": "object", "required": [
                "app_id", "name", "allowed_origins", "require_access_token", "created_at"],
                "properties": {
                "app_id": {"type": "string"}, "name": {"type": "string"},
                "allowed_origins": {"type": "array", "items": {"type": "string"}},
                "require_access_token": {"type": "boolean"}, "created_at": {"type": "number"}}},
            "SigningKey": {"type": "object", "required": ["key_id", "created_at",
                                                          "revoked_at"], "properties": {
                "key_id": {"type": "string"}, "created_at": {"type": "number"},
                "revoked_at": _nullable({"type": "number"})}},
            "Error": {"type": "object", "required": ["ok", "error"], "properties": {
                "ok": {"const": False},
                "error": {"type": "object", "required": ["code", "message"], "properties": {
                    "code": {"type": "string"}, "message": {"type": "string"}}}}},
        },
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ok(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["ok", *properties],
            "properties": {"ok": {"const": True}, **properties}}


def _user_body(*required: str, **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": list(required),
            "properties": {"id": _ref("UserId"), **properties}}


def _channel_methods(limits: Limits) -> dict[str, tuple[str, dict[str, Any], dict[str, Any]]]:
    text = {"type": "string", "maxLength": limits.max_profile_field_chars}
    channel_id = {"type": "string", "minLength": 1, "maxLength": limits.max_user_id_chars,
                  "description": "printable, no surrounding white space"}
    profile = {"name": _nullable(text), "avatar_url": _nullable(text),
               "data": _nullable({"type": "string", "maxLength": limits.max_data_chars}),
               "metadata": {"anyOf": [{"type": "object"}, {"type": "string"},
                                      {"type": "null"}]},
               "custom_filter": _nullable({"type": "array", "maxItems": 32, "items": {
                   "type": "string", "maxLength": 128}})}
    channel = _ok({"open_channel": {"type": "object", "required": ["id", "name"]}})
    named = {"type": "object", "required": ["id"], "properties": {"id": channel_id}}
    page = {"type": "object", "properties": {
        "limit": _nullable({"type": "integer", "minimum": 1,
                            "maximum": limits.list_page_max}),
        "reference": {"anyOf": [channel_id, {"const": ""}, {"type": "null"}],
                      "description": "the last id of the previous page; empty for the first"}}}
    return {
        "open_channels.create": (
            "Create an open channel, with the given id or a generated one",
            {"type": "object", "properties": {"id": _nullable(channel_id), **profile}}, channel),
        "open_channels.get": ("An open channel and its participants' count", named, channel),
        "open_channels.update": (
            "Change an open channel's profile; its participants are told (update.pub)",
            {"type": "object", "required": ["id"],
             "properties": {"id": channel_id, **profile}}, channel),
        "open_channels.list": ("The app's open channels by id, paged with reference", page,
                               _ok({"open_channels": {"type": "array"}})),
        "open_channels.delete": (
            "Delete an open channel with its messages; its participants are told",
            named, _ok({"deleted": {"type": "string"}})),
        "open_channels.announce": (
            "Post an announcement (a message from no user) to the channel",
            {"type": "object", "required": ["id", "text"], "properties": {
                "id": channel_id, "text": {"type": "string", "minLength": 1,
                                           "maxLength": limits.max_message_chars}}},
            _ok({"message": {"type": "object", "required": ["id", "text", "type"]}})),
        **_group_channel_methods(limits, channel_id, profile),
    }


def _group_channel_methods(limits: Limits, channel_id: dict[str, Any], profile: dict[str, Any]
                           ) -> dict[str, tuple[str, dict[str, Any], dict[str, Any]]]:
    user_ids = {"type": "array", "minItems": 1,
                "maxItems": limits.group_channel_max_participants, "items": _ref("UserId")}
    channel = _ok({"group_channel": {"type": "object", "required": ["id", "participants"]}})
    named = {"type": "object", "required": ["id"], "properties": {"id": channel_id}}
    members = {"type": "object", "required": ["id", "participant_ids"],
               "properties": {"id": channel_id, "participant_ids": user_ids}}
    return {
        "group_channels.create": (
            "Create a group channel of participant_ids (members at once), with the given id "
            "or a generated one; is_distinct gives the existing channel of that set",
            {"type": "object", "required": ["participant_ids"], "properties": {
                "id": _nullable(channel_id), "participant_ids": user_ids,
                "is_distinct": _nullable(_ref("Flag")), **profile}},
            _ok({"group_channel": {"type": "object"}, "created": {"type": "boolean"}})),
        "group_channels.get": ("A group channel with its participants and read receipts",
                               named, channel),
        "group_channels.update": (
            "Change a group channel's profile; its participants are told (update.pub)",
            {"type": "object", "required": ["id"],
             "properties": {"id": channel_id, **profile}}, channel),
        "group_channels.delete": (
            "Delete a group channel with its messages; its participants are told",
            named, _ok({"deleted": {"type": "string"}})),
        "group_channels.add_participants": (
            "Make users members at once (no invitation); the participants are told",
            members, _ok({"group_channel": {"type": "object"},
                          "added": {"type": "array", "items": {"type": "string"}}})),
        "group_channels.remove_participants": (
            "Take users out of a group channel; the channel goes with its last participant",
            members, _ok({"group_channel": _nullable({"type": "object"}),
                          "removed": {"type": "array", "items": {"type": "string"}}})),
        "group_channels.list_for_user": (
            "A user's group channels, most recent chat first, with unread counts, paged "
            "with reference (the last channel's id)",
            {"type": "object", "required": ["user_id"], "properties": {
                "user_id": _ref("UserId"),
                "participant_state_filter": {"enum": ["ALL", "ACCEPTED", "INVITED"]},
                "limit": _nullable({"type": "integer", "minimum": 1,
                                    "maximum": limits.list_page_max}),
                "reference": {"anyOf": [channel_id, {"const": ""}, {"type": "null"}]}}},
            _ok({"group_channels": {"type": "array"}})),
        "group_channels.announce": (
            "Post an announcement (a message from no user) to the channel's members",
            {"type": "object", "required": ["id", "text"], "properties": {
                "id": channel_id, "text": {"type": "string", "minLength": 1,
                                           "maxLength": limits.max_message_chars}}},
            _ok({"message": {"type": "object", "required": ["id", "text", "type"]}})),
    }


def _methods(limits: Limits) -> dict[str, tuple[str, dict[str, Any], dict[str, Any]]]:
    """method → (summary, request body schema, success body schema)."""
    user_view = _ok({"user": _ref("User"), "access_token": _nullable({"type": "string"})})
    profile = {"allOf": [_user_body("id"), _ref("Profile")]}
    user_only = _user_body("id")
    return {
        "users.create": ("Create a user; its token is the one given or a generated one",
                         profile, user_view),
        "users.get": ("A user and their readable profile token", user_only, user_view),
        "users.update": ("Change profile fields; a new access_token replaces the old one",
                         profile, user_view),
        "users.tokens.issue": (
            "Issue an extra token, shown only in this answer",
            _user_body("id", expires_in=_nullable({
                "type": "number", "exclusiveMinimum": 0, "maximum": 10 * 365 * 86400})),
            _ok({"access_token": {"type": "string"}, "token": _ref("Token")})),
        "users.tokens.list": ("The user's tokens (never their values)", user_only,
                              _ok({"tokens": {"type": "array", "items": _ref("Token")}})),
        "users.tokens.revoke": (
            "Revoke one token, those issued before a time, or all; their sessions end. Without "
            "token_id, the user's signed tokens issued (iat) before issued_before, or before "
            "now, are refused too. iat is whole seconds: a revoke-all at 1000.5 refuses "
            f"iat=1000. issued_before may be at most {limits.jwt_leeway:g} s (the signed "
            "tokens' leeway) ahead",
            _user_body("id", token_id=_nullable({"type": "string"}),
                       issued_before=_nullable({"type": "number", "minimum": 0,
                                                "exclusiveMaximum": 1e11})),
            _ok({"revoked": {"type": "array", "items": {"type": "string"}},
                 "sessions_closed": {"type": "integer"}})),
        "users.sessions.list": ("The user's live sessions", user_only,
                                _ok({"sessions": {"type": "array", "items": _ref("Session")}})),
        "users.sessions.end": ("End one live session with a stopping refusal",
                               _user_body("id", "session_id",
                                          session_id={"type": "string"}),
                               _ok({"sessions_closed": {"type": "integer"}})),
        "apps.get": ("The app the API key belongs to, with its policies",
                     {"type": "object"}, _ok({"app": _ref("App")})),
        "apps.update": (
            "Change the app's policies",
            {"type": "object", "anyOf": [{"required": ["allowed_origins"]},
                                         {"required": ["require_access_token"]}],
             "properties": {
                 "allowed_origins": {"type": "array", "maxItems": 100, "items": {
                     "type": "string", "pattern": "^https?://[^/]+$"}},
                 "require_access_token": _ref("Flag")}},
            _ok({"app": _ref("App")})),
        "apps.signing_keys.create": (
            "A new signing key for tokens the app's backend signs (JWT, HS256, header kid = "
            "key_id); the secret is the HMAC key, shown only in this answer",
            {"type": "object"},
            _ok({"key_id": {"type": "string"}, "secret": {"type": "string"},
                 "created_at": {"type": "number"}})),
        "apps.signing_keys.list": (
            "The app's signing keys, revoked ones included (never their secrets)",
            {"type": "object"},
            _ok({"signing_keys": {"type": "array", "items": _ref("SigningKey")}})),
        "apps.signing_keys.revoke": (
            "Refuse every token the key signed from now on; the sessions on them end",
            {"type": "object", "required": ["key_id"],
             "properties": {"key_id": {"type": "string", "minLength": 1}}},
            _ok({"key": _ref("SigningKey"), "sessions_closed": {"type": "integer"}})),
        "apps.tokens.revoke": (
            "Refuse every token of the app issued before issued_before (default: now): stored "
            "tokens created earlier are revoked, signed tokens with an earlier iat refused; "
            "their sessions end. iat is whole seconds: a revocation at 1000.5 refuses "
            f"iat=1000. issued_before may be at most {limits.jwt_leeway:g} s (the signed "
            "tokens' leeway) ahead",
            {"type": "object", "properties": {
                "issued_before": _nullable({"type": "number", "minimum": 0,
                                            "exclusiveMaximum": 1e11})}},
            _ok({"issued_before": {"type": "number"}, "revoked": {"type": "integer"},
                 "sessions_closed": {"type": "integer"}})),
        **_channel_methods(limits),
    }


ERRORS = {
    "400": "Malformed or invalid input", "401": "Missing or wrong x-api-key",
    "404": "No such user, token, signing key or session", "408": "The body came too slowly",
    "409": "The user already exists, or the app holds its maximum of active signing keys",
    "413": "Body or field over its size limit",
    "415": "A body that is neither JSON (application/json or text/plain) nor a form",
    "421": "A Host this server does not answer for (see --public-origin)",
    "429": "Too many failed logins or wrong API keys from this address; see Retry-After",
    "503": "The database is unreachable, or this node is draining; see Retry-After",
}


def document(limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    error = {"content": {JSON: {"schema": _ref("Error")}}}
    paths = {}
    for method, (summary, body, answer) in _methods(limits).items():
        paths[f"/api/2.0/{method}"] = {"post": {
            "operationId": method, "summary": summary,
            "requestBody": {"required": False, "content": {
                JSON: {"schema": body},
                FORM: {"schema": {"type": "object", "additionalProperties": {"type": "string"}},
                       "description": "the 1.0 API's form bodies; same fields, as text"}}},
            "responses": {"200": {"description": "Done", "content": {JSON: {"schema": answer}}},
                          **{code: {"description": text, **error}
                             for code, text in ERRORS.items()}},
        }}
    return {
        "openapi": "3.1.0",
        "info": {"title": "chatcamp-web server API", "version": "2.0",
                 "description": "ChatCamp-compatible server-to-server API. Every call is a "
                                "POST with a JSON object body, keyed by the x-api-key header."},
        "security": [{"apiKey": []}],
        "paths": paths,
        "components": _components(limits),
    }
