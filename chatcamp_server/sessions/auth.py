"""Who may connect: the login decisions for ID, token and session-key credentials.

Each path ends in a ``Login`` or raises ``ConnectRefused`` with the code the SDK needs:
``NOT_FOUND`` for an unknown app, ``NOT_AUTHORIZED`` for bad credentials or an app policy
(both stop the SDK's reconnect loop), ``NOT_AUTHORIZED``/``Session Key Invalid`` when only
the session key is stale, which makes the SDK retry with its user ID and token, and
``RATE_LIMITED`` after too many failures (``rate_limit.py``), which the SDK retries later.

A token is either stored (issued by the server, or a profile token) or signed by the app's
backend (a JWT under one of the app's signing keys, ``jwt_tokens.py``).  A JWT-shaped token
takes the signed path; refused there only for an unknown key or a malformed token, it is
looked up among the stored tokens, since an integrator may have stored any string.  A
signed token vouches for its user: one not yet known is created (with
``check_access_token``), even in an app that requires tokens.  A signed login of a known
user only reads the store.  Its session rests on ``jwt:KEY_ID`` and, on resume, is
verified again (signature, ``exp``, revocations) rather than looked up.

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
    JWT_ISSUED_BEFORE_REVOCATION,
    JWT_KEY_REVOKED,
    NO_TOKEN_FOR_APP,
    NO_TOKEN_FOR_USER,
    ORIGIN_NOT_ALLOWED,
    SESSION_KEY_INVALID,
    TOKEN_EXPIRED,
    TOKEN_REVOKED,
    USER_GONE,
    Conflict,
)
from chatcamp_server.keys import ServerKeys, SessionClaims, random_id
from chatcamp_server.policies import PublicOrigins
from chatcamp_server.protocol import ConnectRefused, Credentials
from chatcamp_server.sessions import jwt_tokens
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
    token_issued_at: float | None = None
    """When that token was issued (a stored token's creation, a signed one's ``iat``): a
    revocation by time ends the session if it is earlier."""


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
        self._signing: dict[str, tuple[float, dict[str, str | None]]] = {}
        self.verified = jwt_tokens.VerifiedTokens(limits.verified_tokens)
        self._forgotten = 0
        """Bumped by every ``forget_*``: a cache fill whose read began before a forget may
        hold what the forget meant to drop, and is not kept."""

    async def app(self, app_id: str) -> App | None:
        """The app, from a short-lived cache; a miss always asks the store."""
        cached = self._apps.get(app_id)
        now = time.monotonic()
        if cached is not None and now - cached[0] < APP_CACHE_SECONDS:
            return cached[1]
        forgotten = self._forgotten
        app = await self.store.get_app(app_id)
        if app is None:
            self._apps.pop(app_id, None)
        elif forgotten == self._forgotten:
            if len(self._apps) > 10_000:
                self._apps.clear()
            self._apps[app_id] = (now, app)
        return app

    def forget_app(self, app_id: str) -> None:
        """The app's policies changed: the next connect must see the new ones."""
        self._apps.pop(app_id, None)
        self._forgotten += 1

    async def signing_keys(self, app_id: str, fresh: bool = False) -> dict[str, str | None]:
        """The app's signing keys, key ID → secret (None for a revoked one), kept for
        ``APP_CACHE_SECONDS`` like the app; ``fresh`` asks the store."""
        cached = self._signing.get(app_id)
        now = time.monotonic()
        if not fresh and cached is not None and now - cached[0] < APP_CACHE_SECONDS:
            return cached[1]
        forgotten = self._forgotten
        keys = {key.id: None if key.revoked_at is not None else self.keys.unseal(
                    key.sealed, jwt_tokens.seal_context(app_id, key.id))
                for key in await self.store.list_signing_keys(app_id)}
        if len(self._signing) > 10_000:
            self._signing.clear()
        if forgotten == self._forgotten:
            self._signing[app_id] = (now, keys)
        return keys

    def forget_signing_keys(self, app_id: str) -> None:
        """The app's signing keys changed: the next connect must see the new ones."""
        self._signing.pop(app_id, None)
        self._forgotten += 1

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
            if jwt_tokens.may_be_signed(creds.access_token):
                try:
                    return await self._signed_login(app, creds.user_id, creds.access_token)
                except jwt_tokens.NotSigned:
                    pass
            user, token = await self._check_token(app, creds.user_id, creds.access_token)
            return self._issue_stored(app, user, token, creds.access_token, self.clock())
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

    async def _signed_login(self, app: App, user_id: str, access_token: str) -> Login:
        """NotSigned when the token is no JWT after all."""
        now = self.clock()
        keys = await self.signing_keys(app.id)
        user = await self.store.get_user(app.id, user_id)
        try:
            signed = jwt_tokens.verify(
                access_token, user_id, keys, now, self.limits.jwt_leeway,
                jwt_tokens.watermark(app.tokens_revoked_before,
                                     user.tokens_revoked_before if user else None),
                self.verified)
        except jwt_tokens.Refused as refused:
            if refused.stored_may_match:
                mac = self.keys.mac(TOKEN_MAC, access_token)
                found = await self.store.find_token(app.id, user_id, mac)
                if found is not None and hmac.compare_digest(found[1].mac, mac):
                    unusable = _why_unusable(found[1], now)
                    if unusable:
                        raise BadCredential(unusable) from None
                    return self._issue_stored(app, found[0], found[1], access_token, now)
            raise BadCredential(refused.message) from None
        if user is None:
            user = await self._create_signed_user(app, user_id, now)
        return self._issue(app, user, jwt_tokens.token_id(signed.key_id), access_token, now,
                           signed.expires_at, signed.issued_at)

    async def _create_signed_user(self, app: App, user_id: str, now: float) -> User:
        """A user a signed token vouches for, made on their first login; meant for token
        login from then on."""
        try:
            return await self.store.create_user(
                User(app.id, user_id, check_access_token=True, created_at=now, updated_at=now),
                None)
        except Conflict:  # a concurrent first login made them
            user = await self.store.get_user(app.id, user_id)
            if user is None:
                raise
            return user

    def _check_signed(self, app: App, user: User, access_token: str | None,
                      keys: dict[str, str | None], now: float) -> jwt_tokens.SignedToken:
        """A session's signed token verified again; ConnectRefused with the reason."""
        if access_token is None:
            raise _refused(SESSION_KEY_INVALID)
        try:
            return jwt_tokens.verify(
                access_token, user.id, keys, now, self.limits.jwt_leeway,
                jwt_tokens.watermark(app.tokens_revoked_before, user.tokens_revoked_before),
                self.verified)
        except jwt_tokens.NotSigned:
            raise _refused(SESSION_KEY_INVALID) from None
        except jwt_tokens.Refused as refused:
            raise _refused(refused.message) from None

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
        if claims.token_id is None:
            if not policies.allows_id_login(app):
                raise _refused(NO_TOKEN_FOR_APP)
            if user.check_access_token:
                raise _refused(SESSION_KEY_INVALID)
            return self._issue(app, user, None, None, now)
        if jwt_tokens.key_id_of(claims.token_id) is not None:
            signed = self._check_signed(app, user, claims.access_token,
                                        await self.signing_keys(app.id), now)
            return self._issue(app, user, jwt_tokens.token_id(signed.key_id),
                               claims.access_token, now, signed.expires_at, signed.issued_at)
        token = await self._usable_token(claims.token_id, now)
        return self._issue_stored(app, user, token, claims.access_token, now)

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
        key_id = jwt_tokens.key_id_of(login.token_id)
        if key_id is not None:
            keys = await self.signing_keys(app.id, fresh=True)
            now = self.clock()
            if keys.get(key_id) is None:
                raise _refused(JWT_KEY_REVOKED)
            mark = jwt_tokens.watermark(app.tokens_revoked_before, user.tokens_revoked_before)
            if mark is not None and login.token_issued_at is not None and \
                    login.token_issued_at < mark:
                raise _refused(JWT_ISSUED_BEFORE_REVOCATION)
            if login.token_expires_at is not None and now >= login.token_expires_at:
                raise _refused(TOKEN_EXPIRED)
        elif login.token_id is not None:
            await self._usable_token(login.token_id, self.clock())
        elif not policies.allows_id_login(app):
            raise _refused(NO_TOKEN_FOR_APP)
        elif user.check_access_token:
            raise _refused(NO_TOKEN_FOR_USER)

    def _issue_stored(self, app: App, user: User, token: Token, access_token: str | None,
                      now: float) -> Login:
        return self._issue(app, user, token.id, access_token, now, token.expires_at,
                           token.created_at)

    def _issue(self, app: App, user: User, token_id: str | None, access_token: str | None,
               now: float, token_expires_at: float | None = None,
               token_issued_at: float | None = None) -> Login:
        session_id = random_id()
        expires = int(now + self.limits.session_key_ttl)
        key = self.keys.seal_session(SessionClaims(
            app.id, user.id, session_id, token_id, access_token, int(now), expires))
        return Login(app, user, session_id, key, token_id, access_token, expires,
                     token_expires_at, token_issued_at)

    async def end_session(self, login: Login) -> None:
        """The user disconnected on purpose: their session key must not resume anything."""
        await self.store.consume_session(login.session_id, login.expires_at, self.clock())
