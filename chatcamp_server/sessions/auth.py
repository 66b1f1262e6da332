"""Who may connect: the login decisions for ID, token and session-key credentials.

Each path ends in a ``Login`` or raises ``ConnectRefused`` with the code the SDK needs:
``NOT_FOUND`` for an unknown app, ``NOT_AUTHORIZED`` for bad credentials or an app policy
(both stop the SDK's reconnect loop), ``NOT_AUTHORIZED``/``Session Key Invalid`` when only
the session key is stale, which makes the SDK retry with its user ID and token, and
``RATE_LIMITED`` after too many failures (``rate_limit.py``), which the SDK retries later.

A valid session key resumes even while its user is locked out by failed logins: it proves
an earlier successful login and cannot be guessed, so an attacker hammering one user ID
does not cut that user's live sessions off.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Callable

from chatcamp_server import policies
from chatcamp_server.errors import (
    INVALID_TOKEN,
    NO_TOKEN_FOR_APP,
    NO_TOKEN_FOR_USER,
    ORIGIN_NOT_ALLOWED,
    SESSION_KEY_INVALID,
    TOKEN_EXPIRED,
    TOKEN_REVOKED,
    USER_GONE,
)
from chatcamp_server.keys import ServerKeys, SessionClaims, random_id
from chatcamp_server.policies import PublicOrigins
from chatcamp_server.protocol import ConnectRefused, Credentials
from chatcamp_server.sessions.rate_limit import LoginLimits, MemoryLoginLimits
from chatcamp_server.settings import Limits
from chatcamp_server.storage.store import App, Store, Token, User

TOKEN_MAC = "token"
API_KEY_MAC = "api_key"
APP_CACHE_SECONDS = 2.0
"""How long a looked-up app (and its policies) is reused; a change made through the server API
applies at once, one made by ``serve.py apps update`` in another process within this time."""


@dataclass(frozen=True)
class Client:
    """Where a connect comes from: its address, and the page's origin if a browser sent one."""

    address: str = ""
    origin: str | None = None


class BadCredential(ConnectRefused):
    """A credential was tried and was wrong: the kind of refusal a brute force produces."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "NOT_AUTHORIZED")


@dataclass(frozen=True, slots=True)
class Login:
    app: App
    user: User
    session_id: str
    session_key: str
    token_id: str | None
    access_token: str | None
    expires_at: float
    token_expires_at: float | None = None
    """When the token this session rests on expires; the server ends the session then."""


def _refused(message: str) -> ConnectRefused:
    return ConnectRefused(message, "NOT_AUTHORIZED")




def _why_unusable(token: Token | None, now: float) -> str | None:
    """Why a stored token no longer logs anyone in, or None while it does (a token gone from
    the store counts as revoked)."""
    if token is None or token.revoked_at is not None:
        return TOKEN_REVOKED
    if token.expires_at is not None and now >= token.expires_at:
        return TOKEN_EXPIRED
    return None


class Authenticator:
    def __init__(self, store: Store, keys: ServerKeys, limits: Limits, public: PublicOrigins,
                 clock: Callable[[], float] = time.time,
                 failures: LoginLimits | None = None) -> None:
        self.store = store
        self.keys = keys
        self.limits = limits
        self.public = public
        self.clock = clock
        self.failures = failures or MemoryLoginLimits(limits)
        self._apps: dict[str, tuple[float, App]] = {}

    async def app(self, app_id: str) -> App | None:
        """The app, from a short-lived cache; a miss always asks the store."""
        cached = self._apps.get(app_id)
        now = time.monotonic()
        if cached is not None and now - cached[0] < APP_CACHE_SECONDS:
            return cached[1]
        app = await self.store.get_app(app_id)
        if app is None:
            self._apps.pop(app_id, None)
        else:
            if len(self._apps) > 10_000:
                self._apps.clear()
            self._apps[app_id] = (now, app)
        return app

    def forget_app(self, app_id: str) -> None:
        """The app's policies changed: the next connect must see the new ones."""
        self._apps.pop(app_id, None)

    async def app_for_api_key(self, api_key: str) -> App | None:
        return await self.store.find_app_by_key(self.keys.mac(API_KEY_MAC, api_key))

    async def login(self, creds: Credentials, client: Client = Client()) -> Login:
        resuming = creds.session_key is not None
        await self.failures.check(client.address, None if resuming else creds.app_id,
                                  None if resuming else creds.user_id)
        try:
            login = await (self._resume(creds, client) if resuming
                           else self._login(creds, client))
        except BadCredential:
            await self.failures.failed(client.address, creds.app_id, creds.user_id)
            raise
        except ConnectRefused as exc:
            if exc.code == "NOT_FOUND":
                await self.failures.failed(client.address, None, None)
            raise
        if login.token_id is not None:
            # only a login that proved a token: ID logins need none, so anyone could make
            # any address "known" for an ID-login user, or flood out the real ones
            await self.failures.succeeded(client.address, login.app.id, login.user.id)
        return login

    def _check_origin(self, app: App, client: Client) -> None:
        if not policies.may_connect(app, client.origin, self.public):
            raise _refused(ORIGIN_NOT_ALLOWED.format(origin=(client.origin or "")[:200]))

    async def _login(self, creds: Credentials, client: Client) -> Login:
        assert creds.app_id is not None and creds.user_id is not None
        app = await self.app(creds.app_id)
        if app is None:
            raise ConnectRefused("App not found", "NOT_FOUND")
        self._check_origin(app, client)
        if creds.access_token is not None:
            user, token = await self._check_token(app, creds.user_id, creds.access_token)
            return self._issue(app, user, token, creds.access_token, self.clock())
        if not policies.allows_id_login(app):
            raise _refused(NO_TOKEN_FOR_APP)
        existing = await self.store.get_user(app.id, creds.user_id)
        if existing is None:
            await self.failures.creating_user(client.address)
        user = existing or await self.store.get_or_create_user(app.id, creds.user_id,
                                                               self.clock())
        if user.check_access_token:
            raise BadCredential(NO_TOKEN_FOR_USER)
        return self._issue(app, user, None, None, self.clock())

    async def _check_token(self, app: App, user_id: str, access_token: str) -> tuple[User, Token]:
        """The user and their stored token matching ``access_token``; refuses unknown, revoked
        or expired tokens."""
        mac = self.keys.mac(TOKEN_MAC, access_token)
        found = await self.store.find_token(app.id, user_id, mac)
        if found is None or not hmac.compare_digest(found[1].mac, mac):
            raise BadCredential(INVALID_TOKEN)
        user, token = found
        unusable = _why_unusable(token, self.clock())
        if unusable:
            raise BadCredential(unusable)
        return user, token

    async def _resume(self, creds: Credentials, client: Client) -> Login:
        assert creds.session_key is not None
        claims = self.keys.open_session(creds.session_key)
        now = self.clock()
        if (
            claims is None
            or now >= claims.expires_at
            or (creds.app_id is not None and creds.app_id != claims.app_id)
        ):
            raise _refused(SESSION_KEY_INVALID)
        if await self.store.is_session_consumed(claims.session_id):
            raise _refused(SESSION_KEY_INVALID)
        login = await self._resume_claims(claims, client, now)
        if not await self.store.consume_session(claims.session_id, claims.expires_at, now):
            raise _refused(SESSION_KEY_INVALID)  # another resume of this key won the race
        return login

    async def _resume_claims(self, claims: SessionClaims, client: Client, now: float) -> Login:
        app = await self.app(claims.app_id)
        user = await self.store.get_user(claims.app_id, claims.user_id) if app else None
        if app is None or user is None:
            raise _refused(SESSION_KEY_INVALID)
        self._check_origin(app, client)
        token = None
        if claims.token_id is None:
            if not policies.allows_id_login(app):
                raise _refused(NO_TOKEN_FOR_APP)
            if user.check_access_token:
                raise _refused(SESSION_KEY_INVALID)
        else:
            token = await self._usable_token(claims.token_id, now)
        return self._issue(app, user, token, claims.access_token, now)

    async def _usable_token(self, token_id: str, now: float) -> Token:
        token = await self.store.get_token(token_id)
        unusable = _why_unusable(token, now)
        if unusable or token is None:
            raise _refused(unusable or TOKEN_REVOKED)
        return token

    async def recheck(self, login: Login) -> None:
        """Check a registered session's credential again, straight from the store (see
        ``live.py``: a revocation may have raced its login); ConnectRefused if it no longer
        holds."""
        app = await self.store.get_app(login.app.id)
        user = await self.store.get_user(login.app.id, login.user.id)
        if app is None or user is None:
            raise _refused(USER_GONE)
        if login.token_id is not None:
            await self._usable_token(login.token_id, self.clock())
        elif not policies.allows_id_login(app):
            raise _refused(NO_TOKEN_FOR_APP)
        elif user.check_access_token:
            raise _refused(NO_TOKEN_FOR_USER)

    def _issue(self, app: App, user: User, token: Token | None, access_token: str | None,
               now: float) -> Login:
        session_id = random_id()
        expires = int(now + self.limits.session_key_ttl)
        token_id = token.id if token else None
        key = self.keys.seal_session(SessionClaims(
            app.id, user.id, session_id, token_id, access_token, int(now), expires))
        return Login(app, user, session_id, key, token_id, access_token, expires,
                     token.expires_at if token else None)

    async def end_session(self, login: Login) -> None:
        """The user disconnected on purpose: their session key must not resume anything."""
        await self.store.consume_session(login.session_id, login.expires_at, self.clock())
