"""A demo integrator backend: what a site using ChatCamp runs on its own server.

It is off unless ``serve.py --demo`` asks for it: it signs anyone in by name alone, which is
fine for a demo and nothing else.  It does the three steps the way a real integrator would,
talking to the chat server only over HTTP with an API key, as a separate party, through
``chatcamp_client`` as an integrator's backend would:

1. the page signs in (a user name is enough for a demo); an HttpOnly cookie names the
   browser, and a name belongs to the first browser that signed in with it;
2. on first use the backend creates the ChatCamp user with an access token through
   ``/api/2.0/users.create`` and keeps the token in its own table, sealed under the server
   secret;
3. ``GET /demo/token`` hands the signed-in user, and only them, their token;
   ``GET /demo/token?ttl=60`` a new token of theirs that expires in 60 s instead, issued
   through ``/api/2.0/users.tokens.issue``, for watching a session renew its token.

Its app is its own, made on the first ``--demo`` start and never one an integrator created,
and it only ever creates users: a name that already exists in its app belongs to someone it
did not create, and is refused rather than given a new token.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
from typing import Any

from aiohttp import web

from chatcamp_client import AsyncClient, ChatCampApiError, ConflictError, TransportError

from chatcamp_server import validation
from chatcamp_server.apps import create_app
from chatcamp_server.errors import (
    BadRequest,
    Conflict,
    ServerError,
    StorageUnavailable,
    Unauthorized,
    UpstreamError,
)
from chatcamp_server.keys import ServerKeys, random_secret
from chatcamp_server.settings import Limits
from chatcamp_server.storage.demo_table import DemoTable
from chatcamp_server.storage.store import Store
from chatcamp_server.web.server_api import error_response, json_response

log = logging.getLogger("chatcamp_server.web.demo")

COOKIE = "chatcamp_demo"
CONFIG_KEY = "config"
CONFIG_VERSION = 2
"""Configurations before version 2 pointed the demo at the first app, an integrator's; they
are replaced by an app of the demo's own."""
DEMO_APP_NAME = "demo (serve.py --demo)"
MAX_COOKIE_CHARS = 100
MAX_DEMO_TTL = 86400


class DemoBackend:
    def __init__(self, store: Store, table: DemoTable, keys: ServerKeys, limits: Limits) -> None:
        """``store`` only to create the demo's app, as an operator would; all else in
        ``table``, the demo's own."""
        self.store = store
        self.table = table
        self.keys = keys
        self.limits = limits
        self.api_base = ""
        self.app_id = ""
        self._api_key = ""
        self._chat: AsyncClient | None = None

    # configuration: the demo's app ID and API key, kept sealed like any integrator secret

    async def open(self) -> None:
        """Load the demo's app, or create it."""
        sealed = await self.table.get(CONFIG_KEY)
        if sealed is not None:
            blob = self.keys.unseal(sealed, "demo-config")
            if blob is None:
                raise StorageUnavailable("the demo configuration was sealed under another "
                                         "server secret")
            config = json.loads(blob)
            if config.get("version") == CONFIG_VERSION:
                self.app_id, self._api_key = config["app_id"], config["api_key"]
                return
        app, api_key = await create_app(self.store, self.keys, self.limits, DEMO_APP_NAME)
        blob = json.dumps({"version": CONFIG_VERSION, "app_id": app.id, "api_key": api_key})
        await self.table.put(CONFIG_KEY, self.keys.seal(blob, "demo-config"))
        self.app_id, self._api_key = app.id, api_key

    async def start(self, api_base: str, host: str) -> None:
        """Call the server API at ``api_base`` under the public ``host`` name, as a proxy in
        front of the server would: the server answers no other Host."""
        self.api_base = api_base
        self._chat = AsyncClient(api_base, self._api_key, timeout=10, headers={"Host": host})

    async def stop(self) -> None:
        if self._chat is not None:
            await self._chat.aclose()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/demo/config", self.config)
        app.router.add_post("/demo/signin", self.signin)
        app.router.add_post("/demo/signout", self.signout)
        app.router.add_get("/demo/me", self.me)
        app.router.add_get("/demo/token", self.token)

    # routes

    async def config(self, request: web.Request) -> web.Response:
        return json_response({"app_id": self.app_id})

    async def signin(self, request: web.Request) -> web.Response:
        try:
            if request.content_type != "application/json":
                raise BadRequest("send JSON: {\"username\": \"...\"}", "INVALID_JSON")
            body = validation.json_object(await request.content.read(4096))
            username = validation.user_id(body.get("username"), self.limits, "username")
            cookie = self._cookie(request) or secrets.token_urlsafe(32)
            browser = self._browser(cookie)
            claim = self._key("claim", username)
            await self.table.add(claim, browser)
            owner = await self.table.get(claim)
            if owner is None or not hmac.compare_digest(owner, browser):
                raise Conflict(f"the name {username!r} is taken in this demo", "USERNAME_TAKEN")
            await self.table.put(self._signin_key(browser),
                                 self.keys.seal(username, "demo-signin"))
        except ServerError as exc:
            return error_response(exc)
        response = json_response({"username": username})
        response.set_cookie(COOKIE, cookie, httponly=True, samesite="Lax", path="/demo",
                            max_age=7 * 86400)
        return response

    async def signout(self, request: web.Request) -> web.Response:
        """Sign out, keeping the browser's cookie: the names it claimed stay its own."""
        cookie = self._cookie(request)
        if cookie:
            await self.table.delete(self._signin_key(self._browser(cookie)))
        return json_response({"username": None})

    async def me(self, request: web.Request) -> web.Response:
        try:
            return json_response({"username": await self._signed_in(request)})
        except ServerError as exc:
            return error_response(exc)

    async def token(self, request: web.Request) -> web.Response:
        """The signed-in user's ChatCamp token, the user created through the server API on
        first use; with ``?ttl=SECONDS``, a new token that expires then."""
        try:
            ttl = self._ttl(request.query.get("ttl"))
            username = await self._signed_in(request)
            account_key = self._key("account", username)
            sealed = await self.table.get(account_key)
            token = self.keys.unseal(sealed, account_key) if sealed else None
            if token is None:
                token = await self._create_user(username)
                await self.table.put(account_key, self.keys.seal(token, account_key))
            if ttl is not None:
                token = await self._short_lived(username, ttl)
        except ServerError as exc:
            return error_response(exc)
        return json_response({"app_id": self.app_id, "user_id": username, "access_token": token,
                              "expires_in": ttl})

    # helpers

    def _key(self, kind: str, name: str) -> str:
        """Rows are keyed by the demo's app as well: rows of an earlier demo, which ran on
        another app (an integrator's, before version 2), are never read again."""
        return f"{kind}\0{self.app_id}\0{name}"

    @staticmethod
    def _cookie(request: web.Request) -> str | None:
        cookie = request.cookies.get(COOKIE)
        return cookie if cookie and len(cookie) <= MAX_COOKIE_CHARS else None

    def _browser(self, cookie: str) -> bytes:
        """The browser's identity as stored: a keyed hash, never the cookie itself."""
        return self.keys.mac("demo-cookie", cookie)

    def _signin_key(self, browser: bytes) -> str:
        return self._key("browser", browser.hex())

    async def _signed_in(self, request: web.Request) -> str:
        cookie = self._cookie(request)
        sealed = await self.table.get(self._signin_key(self._browser(cookie))) if cookie else None
        username = self.keys.unseal(sealed, "demo-signin") if sealed else None
        if username is None:
            raise Unauthorized("sign in first (POST /demo/signin)", "NOT_SIGNED_IN")
        return username

    async def _create_user(self, username: str) -> str:
        token = random_secret("demo_")
        try:
            await self._client("users.create").users.create(
                username, display_name=username, check_access_token=True, access_token=token)
        except ConflictError:
            raise Conflict(f"{username!r} is a user this demo did not create; choose another "
                           "name", "USERNAME_TAKEN") from None
        except ChatCampApiError as exc:
            raise self._upstream("users.create", exc) from None
        return token

    @staticmethod
    def _ttl(text: str | None) -> int | None:
        if text is None:
            return None
        if not text.isdigit() or not 1 <= int(text) <= MAX_DEMO_TTL:
            raise BadRequest(f"ttl must be a whole number of seconds from 1 to {MAX_DEMO_TTL}",
                             "INVALID_TTL")
        return int(text)

    async def _short_lived(self, username: str, ttl: int) -> str:
        try:
            issued = await self._client("users.tokens.issue").users.tokens.issue(
                username, expires_in=ttl)
        except ChatCampApiError as exc:
            raise self._upstream("users.tokens.issue", exc) from None
        return issued["access_token"]

    def _client(self, method: str) -> AsyncClient:
        assert self._chat is not None, f"{method} before start()"
        return self._chat

    @staticmethod
    def _upstream(method: str, exc: ChatCampApiError) -> UpstreamError:
        if isinstance(exc, TransportError):
            log.warning("chat server API call %s failed: %s", method, exc.code)
            return UpstreamError("the chat server could not be reached")
        return UpstreamError(f"the chat server refused {method}: {exc.code}: {exc.message}")
