"""Signing keys and revocation by time for an app: the logic behind ``apps.signing_keys.*``
and ``apps.tokens.revoke``.

A signing key lets the app's backend sign its users' tokens itself (``sessions/jwt_tokens``).
Its secret is shown once, at creation; the server keeps it sealed under the server secret,
bound to the app and the key ID, because it must read it back to verify.  An app holds at
most ``Limits.signing_keys_per_app`` unrevoked keys: two at once are a rotation.

Every change here is written to the store first; this node's cache of the app (or of its
keys) is then dropped, and the sessions that no longer qualify are ended through the bus,
with no await between the two, so that no login on this node can see the old state
afterwards (other nodes' caches last ``auth.APP_CACHE_SECONDS`` at most, and their reconcile
ends any session that got in meanwhile).
"""

from __future__ import annotations

from typing import Any

from chatcamp_server import validation
from chatcamp_server.errors import (
    JWT_KEY_REVOKED,
    TOKEN_REVOKED,
    Conflict,
    NotFound,
)
from chatcamp_server.keys import SIGNING_KEY_PREFIX, random_id, random_secret
from chatcamp_server.sessions import jwt_tokens
from chatcamp_server.sessions.auth import Authenticator
from chatcamp_server.sessions.bus import SessionBus
from chatcamp_server.sessions.live import Target
from chatcamp_server.settings import Limits
from chatcamp_server.storage.store import App, SigningKey


def describe(key: SigningKey) -> dict[str, Any]:
    """A key as ``apps.signing_keys.list`` shows it: never its secret."""
    return {"key_id": key.id, "created_at": key.created_at, "revoked_at": key.revoked_at}


class SignedTokens:
    def __init__(self, auth: Authenticator, bus: SessionBus, limits: Limits) -> None:
        self.auth = auth
        self.bus = bus
        self.limits = limits

    async def create_key(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """A new key: its ID (the JWT header's ``kid``) and its secret, shown only here."""
        key_id = random_id()
        secret = random_secret(SIGNING_KEY_PREFIX)
        now = self.auth.clock()
        key = SigningKey(key_id, app.id,
                         self.auth.keys.seal(secret, jwt_tokens.seal_context(app.id, key_id)),
                         now)
        cap = self.limits.signing_keys_per_app
        if not await self.auth.store.add_signing_key(key, cap):
            raise Conflict(f"an app holds at most {cap} active signing keys: revoke one "
                           "first", "TOO_MANY_SIGNING_KEYS")
        self.auth.forget_signing_keys(app.id)
        return {"key_id": key_id, "secret": secret, "created_at": now}

    async def list_keys(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        return {"signing_keys": [describe(k)
                                 for k in await self.auth.store.list_signing_keys(app.id)]}

    async def revoke_key(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """Refuse every token the key signed from now on; the sessions on them end now."""
        key_id = validation.record_id(body.get("key_id"), "key_id")
        revoked = await self.auth.store.revoke_signing_key(app.id, key_id, self.auth.clock())
        if revoked is None:
            raise NotFound(f"no active signing key {key_id[:100]!r} in this app",
                           "SIGNING_KEY_NOT_FOUND")
        self.auth.forget_signing_keys(app.id)
        closed = await self.bus.end(Target(app.id, tokens=frozenset({jwt_tokens.token_id(
            key_id)})), JWT_KEY_REVOKED)
        return {"key": describe(revoked), "sessions_closed": closed}

    async def revoke_app_tokens(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """Refuse every token of the app issued before ``issued_before`` (default: now):
        stored tokens created before it are revoked, signed ones whose ``iat`` is earlier
        refused; their sessions end now."""
        now = self.auth.clock()
        before = (validation.issued_before(body["issued_before"], now, self.limits)
                  if body.get("issued_before") is not None else now)
        revoked = await self.auth.store.revoke_app_tokens(app.id, before, now)
        self.auth.forget_app(app.id)
        closed = await self.bus.end(Target(app.id, issued_before=before), TOKEN_REVOKED)
        return {"issued_before": before, "revoked": len(revoked), "sessions_closed": closed}
