"""Managing users and their tokens on behalf of an app: the logic behind the server API.

Two kinds of token, as ChatCamp compatibility and good practice each require:

* the *profile token*, set (or generated) through ``users.create``/``users.update``; the
  iFlyChat plugin hands ``users.get``'s token to the browser, so it is kept sealed
  (AES-GCM under the server secret) beside its keyed hash and can be read back;
* *issued tokens* from ``users.tokens.issue``: keyed hash only, shown once, optional expiry.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

from chatcamp_server import protocol, validation
from chatcamp_server.errors import (
    NO_TOKEN_FOR_USER,
    SESSION_ENDED,
    TOKEN_EXPIRED,
    TOKEN_REVOKED,
    BadRequest,
    NotFound,
)
from chatcamp_server.keys import TOKEN_PREFIX, ServerKeys, random_id, random_secret
from chatcamp_server.sessions.auth import TOKEN_MAC
from chatcamp_server.sessions.bus import LocalBus, SessionBus
from chatcamp_server.sessions.inventory import INTERNAL_FIELDS, LocalInventory, SessionInventory
from chatcamp_server.sessions.live import LiveSessions, Target
from chatcamp_server.settings import Limits
from chatcamp_server.storage.store import ISSUED_TOKEN, PROFILE_TOKEN, App, Store, Token, User

MAX_TOKEN_LIFETIME = 10 * 365 * 86400.0


def _seal_context(app_id: str, user_id: str) -> str:
    return f"profile-token\0{app_id}\0{user_id}"


class Users:
    def __init__(self, store: Store, keys: ServerKeys, limits: Limits, live: LiveSessions,
                 clock: Callable[[], float] = time.time, bus: SessionBus | None = None,
                 inventory: SessionInventory | None = None) -> None:
        self.store = store
        self.keys = keys
        self.limits = limits
        self.live = live
        self.clock = clock
        self.bus = bus or LocalBus(live)
        self.inventory = inventory or LocalInventory(live)

    # views

    async def _view(self, user: User, access_token: str | None) -> dict[str, Any]:
        online = await self.inventory.is_online(user.app_id, user.id)
        return {"user": protocol.wire_user(user, online, access_token),
                "access_token": access_token}

    async def _readable_token(self, user: User) -> str | None:
        token = await self.store.profile_token(user.app_id, user.id)
        if token is None or token.sealed is None:
            return None
        return self.keys.unseal(token.sealed, _seal_context(user.app_id, user.id))

    def _profile_token(self, app_id: str, user_id: str, plaintext: str, now: float) -> Token:
        return Token(random_id(), app_id, user_id, PROFILE_TOKEN,
                     self.keys.mac(TOKEN_MAC, plaintext),
                     self.keys.seal(plaintext, _seal_context(app_id, user_id)), now)

    async def _existing(self, app: App, body: dict[str, Any]) -> User:
        user_id = validation.user_id(body.get("id"), self.limits)
        user = await self.store.get_user(app.id, user_id)
        if user is None:
            raise NotFound(f"user {user_id!r} does not exist", "USER_NOT_FOUND")
        return user

    # users.*

    async def create(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """Create a user; its token is the caller's ``access_token`` or a generated one.

        ``check_access_token`` defaults to true: a user created through the server API is
        meant for token login, and ID-only login for it must be asked for explicitly.
        """
        user_id = validation.user_id(body.get("id"), self.limits)
        changes = validation.profile_changes(body, self.limits)
        check = validation.flag(body.get("check_access_token", True), "check_access_token")
        supplied = body.get("access_token")
        plaintext = (validation.access_token(supplied, self.limits) if supplied is not None
                     else random_secret(TOKEN_PREFIX))
        now = self.clock()
        user = User(app.id, user_id, check_access_token=check, created_at=now, updated_at=now,
                    **changes)
        await self.store.create_user(user, self._profile_token(app.id, user_id, plaintext, now))
        return await self._view(user, plaintext)

    async def get(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        user = await self._existing(app, body)
        return await self._view(user, await self._readable_token(user))

    async def update(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """Change profile fields; a new ``access_token`` replaces (revokes) the old one.

        Live sessions that no longer qualify end at once: those on the replaced token, and,
        when ``check_access_token`` is switched on, those logged in without a token."""
        user = await self._existing(app, body)
        changes = validation.profile_changes(body, self.limits)
        if "check_access_token" in body:
            changes["check_access_token"] = validation.flag(body["check_access_token"],
                                                            "check_access_token")
        now = self.clock()
        new_token = None
        plaintext = None
        if body.get("access_token") is not None:
            plaintext = validation.access_token(body["access_token"], self.limits)
            new_token = self._profile_token(app.id, user.id, plaintext, now)
        result = await self.store.update_user(app.id, user.id, changes, now, new_token)
        if result is None:
            raise NotFound(f"user {user.id!r} does not exist", "USER_NOT_FOUND")
        updated, replaced = result
        if replaced:
            await self.bus.end(Target(app.id, user.id, frozenset(replaced)),
                               TOKEN_REVOKED)
        if changes.get("check_access_token"):
            await self.bus.end(Target(app.id, user.id, frozenset({None})), NO_TOKEN_FOR_USER)
        if plaintext is None:
            plaintext = await self._readable_token(updated)
        return await self._view(updated, plaintext)

    async def update_own_profile(self, app_id: str, user_id: str,
                                 changes: dict[str, Any]) -> dict[str, Any]:
        """``users.update`` from the SDK: the session's own user, profile fields only."""
        result = await self.store.update_user(app_id, user_id, changes, self.clock())
        if result is None:
            raise NotFound("the session's user no longer exists", "USER_NOT_FOUND")
        return protocol.wire_user(result[0], True)

    async def note_leaving(self, app_id: str, user_id: str) -> None:
        """The user's last session on this node is ending: ``last_seen`` is written now,
        while the session still counts as live, so that nobody sees the user offline with
        an older ``last_seen`` (written once the session had gone, a reader could look in
        between).  Online on another node meanwhile, they show as online, and that node
        writes it again when their last session there ends."""
        await self.store.set_last_seen(app_id, user_id, self.clock())

    # users.tokens.*

    async def issue_token(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        user = await self._existing(app, body)
        now = self.clock()
        expires_at = None
        if body.get("expires_in") is not None:
            lifetime = body["expires_in"]
            if not validation.is_number(lifetime) or not 0 < lifetime <= MAX_TOKEN_LIFETIME:
                raise BadRequest("expires_in must be a number of seconds, at most ten years",
                                 "INVALID_FIELD")
            expires_at = now + float(lifetime)
        plaintext = random_secret(TOKEN_PREFIX)
        token = Token(random_id(), app.id, user.id, ISSUED_TOKEN,
                      self.keys.mac(TOKEN_MAC, plaintext), None, now, expires_at)
        await self.store.add_token(token)
        return {"access_token": plaintext, "token": self._describe(token)}

    async def list_tokens(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        user = await self._existing(app, body)
        tokens = await self.store.list_tokens(app.id, user.id)
        return {"tokens": [self._describe(t) for t in tokens]}

    async def revoke_tokens(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """Revoke one token (``token_id``), the user's tokens created before ``issued_before``
        (Unix seconds), or all of them; the live sessions resting on them end now.  Without
        ``token_id``, the user's signed tokens issued (``iat``) before ``issued_before``, or
        before now for all, are refused from now on too, and their sessions end."""
        user = await self._existing(app, body)
        token_id = body.get("token_id")
        if token_id is not None:
            token_id = validation.record_id(token_id, "token_id")
        now = self.clock()
        issued_before = None
        if body.get("issued_before") is not None:
            issued_before = validation.issued_before(body["issued_before"], now, self.limits)
            if token_id is not None:
                raise BadRequest("give token_id or issued_before, not both", "INVALID_FIELD")
        revoked = await self.store.revoke_tokens(app.id, user.id, now, token_id,
                                                 issued_before)
        if token_id is not None and not revoked:
            raise NotFound(f"no active token {token_id!r} for this user", "TOKEN_NOT_FOUND")
        before = None if token_id is not None else (
            now if issued_before is None else issued_before)
        closed = await self.bus.end(Target(app.id, user.id, frozenset(revoked),
                                           issued_before=before), TOKEN_REVOKED)
        return {"revoked": revoked, "sessions_closed": closed}

    @staticmethod
    def _describe(token: Token) -> dict[str, Any]:
        return {"id": token.id, "kind": token.kind, "created_at": token.created_at,
                "expires_at": token.expires_at, "revoked_at": token.revoked_at}

    # users.sessions.*

    async def list_sessions(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        user_id = validation.user_id(body.get("id"), self.limits)
        return {"sessions": [{k: v for k, v in found.items() if k not in INTERNAL_FIELDS}
                             for found in await self.inventory.for_user(app.id, user_id)]}

    async def end_session(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        user_id = validation.user_id(body.get("id"), self.limits)
        session_id = validation.record_id(body.get("session_id"), "session_id")
        found = await self.inventory.find(app.id, user_id, session_id)
        if found is None:
            raise NotFound("no such live session for this user", "SESSION_NOT_FOUND")
        await self.store.consume_session(session_id, found["key_expires_at"], self.clock())
        await self.bus.end(Target(app.id, user_id, session_id=session_id),
                           SESSION_ENDED)
        return {"sessions_closed": 1}

    async def end_expired_sessions(self) -> int:
        """End the live sessions whose token has expired; the SDK gets a stopping refusal.
        Their keys are unusable already: the store holds each token's expiry."""
        ended = await asyncio.gather(*(
            self.bus.end(Target(s.app_id, s.user_id, session_id=s.session_id),
                         TOKEN_EXPIRED) for s in self.live.expired(self.clock())))
        return sum(ended)
