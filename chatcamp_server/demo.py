"""A demo integrator backend: what a site using ChatCamp runs on its own server.

It does the seed's three steps the way a real integrator would, and deliberately talks to
the chat server only over HTTP with its API key, as a separate party:

1. the page signs in (a user name is enough for a demo; an HttpOnly cookie holds it);
2. on first use the backend creates the ChatCamp user with an access token through
   ``/api/2.0/users.create`` (or sets one through ``users.update`` if the user already
   exists) and saves the token in its own table, sealed under the server secret;
3. ``GET /demo/token`` hands the signed-in user, and only them, their token.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

import aiohttp
from aiohttp import web

from . import validation
from .errors import BadRequest, ServerError, StorageUnavailable, Unauthorized, UpstreamError
from .keys import ServerKeys, random_secret
from .server_api import error_response, json_response
from .settings import Limits
from .store import Store

log = logging.getLogger("chatcamp_server.demo")

COOKIE = "chatcamp_demo"
CONFIG_KEY = "config"


class DemoBackend:
    def __init__(self, store: Store, keys: ServerKeys, limits: Limits) -> None:
        self.store = store
        self.keys = keys
        self.limits = limits
        self.api_base = ""
        self.app_id = ""
        self._api_key = ""
        self._http: aiohttp.ClientSession | None = None

    # configuration: the demo's app ID and API key, kept sealed like any integrator secret

    async def configure(self, app_id: str, api_key: str) -> None:
        blob = json.dumps({"app_id": app_id, "api_key": api_key})
        await self.store.demo_put(CONFIG_KEY, self.keys.seal(blob, "demo-config"))
        self.app_id, self._api_key = app_id, api_key

    async def load(self) -> bool:
        """Load the saved configuration; False when the demo has none yet."""
        sealed = await self.store.demo_get(CONFIG_KEY)
        if sealed is None:
            return False
        blob = self.keys.unseal(sealed, "demo-config")
        if blob is None:
            raise StorageUnavailable("the demo configuration was sealed under another server secret")
        config = json.loads(blob)
        self.app_id, self._api_key = config["app_id"], config["api_key"]
        return True

    async def start(self, api_base: str) -> None:
        self.api_base = api_base
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()

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
        except ServerError as exc:
            return error_response(exc)
        cookie = secrets.token_urlsafe(32)
        await self.store.demo_put(self._signin_key(cookie), self.keys.seal(username, "demo-signin"))
        response = json_response({"username": username})
        response.set_cookie(COOKIE, cookie, httponly=True, samesite="Lax", path="/demo",
                            max_age=7 * 86400)
        return response

    async def signout(self, request: web.Request) -> web.Response:
        cookie = request.cookies.get(COOKIE)
        if cookie:
            await self.store.demo_delete(self._signin_key(cookie))
        response = json_response({"username": None})
        response.del_cookie(COOKIE, path="/demo")
        return response

    async def me(self, request: web.Request) -> web.Response:
        try:
            return json_response({"username": await self._signed_in(request)})
        except ServerError as exc:
            return error_response(exc)

    async def token(self, request: web.Request) -> web.Response:
        """The signed-in user's ChatCamp token, provisioned through the server API on first use."""
        try:
            username = await self._signed_in(request)
            account_key = "account\0" + username
            sealed = await self.store.demo_get(account_key)
            token = self.keys.unseal(sealed, account_key) if sealed else None
            if token is None:
                token = await self._provision(username)
                await self.store.demo_put(account_key, self.keys.seal(token, account_key))
        except ServerError as exc:
            return error_response(exc)
        return json_response({"app_id": self.app_id, "user_id": username, "access_token": token})

    # helpers

    def _signin_key(self, cookie: str) -> str:
        return "signin\0" + self.keys.mac("demo-cookie", cookie).hex()

    async def _signed_in(self, request: web.Request) -> str:
        cookie = request.cookies.get(COOKIE)
        sealed = await self.store.demo_get(self._signin_key(cookie)) if cookie else None
        username = self.keys.unseal(sealed, "demo-signin") if sealed else None
        if username is None:
            raise Unauthorized("sign in first (POST /demo/signin)", "NOT_SIGNED_IN")
        return username

    async def _provision(self, username: str) -> str:
        token = random_secret("demo_")
        body = {"id": username, "display_name": username, "check_access_token": True,
                "access_token": token}
        status, _ = await self._call("users.get", {"id": username})
        method = "users.create" if status == 404 else "users.update"
        status, reply = await self._call(method, body)
        if status != 200:
            raise UpstreamError(f"the chat server refused {method}: {reply.get('error')}")
        return token

    async def _call(self, method: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        assert self._http is not None
        try:
            async with self._http.post(f"{self.api_base}/api/2.0/{method}", json=body,
                                       headers={"x-api-key": self._api_key}) as reply:
                return reply.status, await reply.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("chat server API call %s failed: %s", method, type(exc).__name__)
            raise UpstreamError("the chat server could not be reached") from None
