"""The server-to-server API, ``POST /api/2.0/<method>``, keyed by the ``x-api-key`` header.

Shaped after what real ChatCamp integrations send (protocol spec §7 and §11): JSON bodies
(form bodies of the old 1.0 API are accepted too), unknown keys ignored, the app found
from the API key alone.  Every answer is JSON: ``{"ok": true, ...}`` or
``{"ok": false, "error": {"code", "message"}}`` with the matching HTTP status.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qsl

from aiohttp import web

from chatcamp_server import apps, policies, validation
from chatcamp_server.chat.group_channels import GroupChannels
from chatcamp_server.chat.open_channels import OpenChannels
from chatcamp_server.errors import (
    NO_TOKEN_FOR_APP,
    BadRequest,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    ServerError,
    Unauthorized,
    UnsupportedMediaType,
)
from chatcamp_server.metrics import UNKNOWN_METHOD, Metrics
from chatcamp_server.sessions.auth import Authenticator
from chatcamp_server.sessions.live import Target
from chatcamp_server.sessions.rate_limit import LoginLimits
from chatcamp_server.settings import Limits
from chatcamp_server.signing_keys import SignedTokens
from chatcamp_server.storage.store import App
from chatcamp_server.users import Users

Method = Callable[[App, dict[str, Any]], Awaitable[dict[str, Any]]]
BODY_TYPES = ("application/json", "text/plain", "application/octet-stream")
"""Types a JSON body arrives with: text/plain from clients that skip a CORS preflight or send
a string as is, octet-stream being how aiohttp reports a body without a Content-Type."""


def json_response(payload: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(payload, status=status,
                             dumps=lambda v: json.dumps(v, ensure_ascii=False))


def error_response(error: ServerError, status: int | None = None) -> web.Response:
    response = json_response({"ok": False, "error": error.as_dict()},
                             status or error.http_status)
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


class ServerApi:
    def __init__(self, auth: Authenticator, users: Users, limits: Limits,
                 failures: LoginLimits, metrics: Metrics, open_channels: OpenChannels,
                 group_channels: GroupChannels) -> None:
        self.auth = auth
        self.metrics = metrics
        self.users = users
        self.limits = limits
        self.failures = failures
        self.signed = SignedTokens(auth, users.bus, limits)
        self.methods: dict[str, Method] = {
            "users.create": users.create,
            "users.get": users.get,
            "users.update": users.update,
            "users.tokens.issue": users.issue_token,
            "users.tokens.list": users.list_tokens,
            "users.tokens.revoke": users.revoke_tokens,
            "users.sessions.list": users.list_sessions,
            "users.sessions.end": users.end_session,
            "apps.get": self._get_app,
            "apps.update": self._update_app,
            "apps.signing_keys.create": self.signed.create_key,
            "apps.signing_keys.list": self.signed.list_keys,
            "apps.signing_keys.revoke": self.signed.revoke_key,
            "apps.tokens.revoke": self.signed.revoke_app_tokens,
            **open_channels.api_methods(),
            **group_channels.api_methods(),
        }

    async def handle(self, request: web.Request) -> web.Response:
        started = time.monotonic()
        name = request.match_info["method"]
        response = await self._answer(request, name)
        self.metrics.api_request(name if name in self.methods else UNKNOWN_METHOD,
                                 response.status, time.monotonic() - started)
        return response

    async def _answer(self, request: web.Request, name: str) -> web.Response:
        try:
            method = self.methods.get(name)
            if method is None:
                raise NotFound(f"unknown method {name!r}", "UNKNOWN_METHOD")
            app = await self._app(request)
            request["chatcamp_app"] = app
            body = await self._body(request)
            answer = await self.run(name, app, body)
        except ServerError as exc:
            return error_response(exc)
        return json_response({"ok": True, **answer})

    async def run(self, name: str, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """One method for ``app``, counted in the metrics once it succeeded: the dashboard's
        changes go through here too, so they are the server API's, checked and counted
        alike."""
        answer = await self.methods[name](app, body)
        self.metrics.succeeded(name, body)
        return answer

    async def _get_app(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        return {"app": apps.describe(app)}

    async def _update_app(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        updated = await apps.update_policies(self.auth.store, app.id, body)
        self.auth.forget_app(app.id)
        if not policies.allows_id_login(updated):
            await self.users.bus.end(Target(app.id, tokens=frozenset({None})), NO_TOKEN_FOR_APP)
        return {"app": apps.describe(updated)}

    async def _app(self, request: web.Request) -> App:
        """The app the API key belongs to; wrong keys count as failed logins of the address."""
        address = request.remote or ""
        await self.failures.check(address)
        key = request.headers.get("x-api-key", "")
        app = await self.auth.app_for_api_key(key) if key else None
        if app is None:
            if key:
                await self.failures.failed(address)
            raise Unauthorized("a valid x-api-key header is required", "INVALID_API_KEY")
        return app

    async def _body(self, request: web.Request) -> dict[str, Any]:
        if request.content_length is not None and \
                request.content_length > self.limits.max_api_body_bytes:
            raise PayloadTooLarge(f"bodies are limited to {self.limits.max_api_body_bytes} bytes")
        raw = b""
        try:
            async with asyncio.timeout(self.limits.request_body_timeout):
                while len(raw) <= self.limits.max_api_body_bytes:
                    # read(n) returns what has arrived so far: loop to the end of the body.
                    chunk = await request.content.read(self.limits.max_api_body_bytes + 1
                                                       - len(raw))
                    if not chunk:
                        break
                    raw += chunk
        except TimeoutError:
            raise RequestTimeout(f"the body must arrive within "
                                 f"{self.limits.request_body_timeout:g} s of the request "
                                 "head") from None
        if len(raw) > self.limits.max_api_body_bytes:
            raise PayloadTooLarge(f"bodies are limited to {self.limits.max_api_body_bytes} bytes")
        if request.content_type == "application/x-www-form-urlencoded":
            return await self._form(raw)
        if request.content_type not in BODY_TYPES:
            raise UnsupportedMediaType("send the body as application/json (or a form, as the "
                                       "1.0 API did)")
        return validation.json_object(raw)

    @staticmethod
    async def _form(raw: bytes) -> dict[str, Any]:
        try:
            return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True,
                                  errors="strict", max_num_fields=100))
        except (UnicodeDecodeError, ValueError):
            raise BadRequest("the form body is not valid", "INVALID_FORM") from None
