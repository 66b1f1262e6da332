"""Who may connect: the login decisions for ID, token and session-key credentials.

Each path ends in a ``Login`` or raises ``ConnectRefused`` with the code the SDK needs:
``NOT_FOUND`` for an unknown app, ``NOT_AUTHORIZED`` for bad credentials (both stop the
SDK's reconnect loop) and ``NOT_AUTHORIZED``/``Session Key Invalid`` when only the session
key is stale, which makes the SDK retry with its user ID and token.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Callable

from .errors import SESSION_KEY_INVALID
from .keys import ServerKeys, SessionClaims, random_id
from .protocol import ConnectRefused, Credentials
from .settings import Limits
from .store import App, Store, Token, User

TOKEN_MAC = "token"
API_KEY_MAC = "api_key"


@dataclass(frozen=True)
class Login:
    app: App
    user: User
    session_id: str
    session_key: str
    token_id: str | None
    access_token: str | None
    expires_at: float


def _refused(message: str) -> ConnectRefused:
    return ConnectRefused(message, "NOT_AUTHORIZED")


class Authenticator:
    def __init__(self, store: Store, keys: ServerKeys, limits: Limits,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.keys = keys
        self.limits = limits
        self.clock = clock
        self._apps: dict[str, App] = {}

    async def app(self, app_id: str) -> App | None:
        """Apps are immutable once made, so a found app is cached; a miss always asks the store."""
        app = self._apps.get(app_id)
        if app is None:
            app = await self.store.get_app(app_id)
            if app is not None:
                self._apps[app_id] = app
        return app

    async def app_for_api_key(self, api_key: str) -> App | None:
        return await self.store.find_app_by_key(self.keys.mac(API_KEY_MAC, api_key))

    async def login(self, creds: Credentials) -> Login:
        if creds.session_key is not None:
            return await self._resume(creds)
        assert creds.app_id is not None and creds.user_id is not None
        app = await self.app(creds.app_id)
        if app is None:
            raise ConnectRefused("App not found", "NOT_FOUND")
        if creds.access_token is not None:
            user, token = await self._check_token(app, creds.user_id, creds.access_token)
            return self._issue(app, user, token.id, creds.access_token, self.clock())
        user = await self.store.get_or_create_user(app.id, creds.user_id, self.clock())
        if user.check_access_token:
            raise _refused("An access token is required for this user")
        return self._issue(app, user, None, None, self.clock())

    async def verify_token(self, app: App, user_id: str, access_token: str) -> Token:
        """The stored token matching ``access_token``; refuses unknown, revoked or expired ones."""
        mac = self.keys.mac(TOKEN_MAC, access_token)
        token = await self.store.find_token(app.id, user_id, mac)
        if token is None or not hmac.compare_digest(token.mac, mac):
            raise _refused("Invalid access token")
        if token.revoked_at is not None:
            raise _refused("Access token revoked")
        if token.expires_at is not None and self.clock() >= token.expires_at:
            raise _refused("Access token expired")
        return token

    async def _check_token(self, app: App, user_id: str, access_token: str) -> tuple[User, Token]:
        token = await self.verify_token(app, user_id, access_token)
        user = await self.store.get_user(app.id, user_id)
        if user is None:
            raise _refused("Invalid access token")
        return user, token

    async def _resume(self, creds: Credentials) -> Login:
        assert creds.session_key is not None
        claims = self.keys.open_session(creds.session_key)
        now = self.clock()
        if (
            claims is None
            or now >= claims.expires_at
            or (creds.app_id is not None and creds.app_id != claims.app_id)
            or await self.store.is_session_revoked(claims.session_id)
        ):
            raise _refused(SESSION_KEY_INVALID)
        app = await self.app(claims.app_id)
        user = await self.store.get_user(claims.app_id, claims.user_id) if app else None
        if app is None or user is None:
            raise _refused(SESSION_KEY_INVALID)
        if claims.token_id is None:
            if user.check_access_token:
                raise _refused(SESSION_KEY_INVALID)
        else:
            token = await self.store.get_token(claims.token_id)
            if token is None or token.revoked_at is not None:
                raise _refused("Access token revoked")
            if token.expires_at is not None and now >= token.expires_at:
                raise _refused("Access token expired")
        await self.store.revoke_session(claims.session_id, claims.expires_at, now)
        return self._issue(app, user, claims.token_id, claims.access_token, now)

    def _issue(self, app: App, user: User, token_id: str | None, access_token: str | None,
               now: float) -> Login:
        session_id = random_id()
        expires = int(now + self.limits.session_key_ttl)
        key = self.keys.seal_session(SessionClaims(
            app.id, user.id, session_id, token_id, access_token, int(now), expires))
        return Login(app, user, session_id, key, token_id, access_token, expires)

    async def end_session(self, login: Login) -> None:
        """The user disconnected on purpose: their session key must not resume anything."""
        await self.store.revoke_session(login.session_id, login.expires_at, self.clock())
