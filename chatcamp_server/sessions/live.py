"""The registry of live sessions: which sockets are open right now, for whom, on what token.

It is in memory on purpose: a live session is a socket, and sockets do not survive the
process.  What must survive (session keys and their revocation) is in the store.

A login checks its credential, then registers its session, with awaits in between; a
revocation writes the store, then looks for live sessions.  Interleaved, a login could check
just before the write and register just after the look, and live on a revoked credential.
So every revocation bumps ``revocations`` at the moment it looks, and a login that sees the
counter moved since it began checks its credential again once registered (``chat_socket``):
either the revocation's look found the session, or the login's second check sees the write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

How = Literal["end", "shutdown"]


class Socket(Protocol):
    """A live session's socket, as the buses reach it."""

    def push(self, data: bytes) -> None:
        """Queue one encoded frame and return at once.  Not a coroutine on purpose: a bus
        hands one message to a thousand sessions in one pass (``send_all``), where a task
        each would cost the event loop a thousand schedulings per message."""

    async def close(self, failure: dict[str, Any] | None, how: How) -> None:
        """``end``: push ``failure`` (a failure ack) and close, the session ended and its
        key revoked; ``shutdown``: close without ending, so the SDK may resume with its
        session key."""


@dataclass(frozen=True, slots=True)
class Target:
    """Which live sessions a message is for: an app's, one user's, or one session; of those,
    when ``tokens`` or ``issued_before`` is given, only the ones resting on one of ``tokens``
    (``None`` among them: those without a token; ``jwt:KEY_ID``: those on tokens that key
    signed) or on a token issued before ``issued_before`` (a stored token's creation, a
    signed one's ``iat``), either."""

    app_id: str
    user_id: str | None = None
    tokens: frozenset[str | None] | None = None
    session_id: str | None = None
    issued_before: float | None = None
    user_ids: frozenset[str] | None = None
    """A channel's participants: the sessions of any of these users."""
    except_session: str | None = None
    """Leave this session out: the sender of a message has its ack, and a push of the same
    message would show it twice."""

    def matches(self, session: LiveSession) -> bool:
        return (session.app_id == self.app_id
                and (self.user_id is None or session.user_id == self.user_id)
                and (self.user_ids is None or session.user_id in self.user_ids)
                and self.rests_on(session.token_id, session.token_issued_at)
                and (self.session_id is None or session.session_id == self.session_id)
                and session.session_id != self.except_session)

    def rests_on(self, token_id: str | None, token_issued_at: float | None) -> bool:
        """Whether a session on ``token_id``, issued at ``token_issued_at``, is among those
        ``tokens`` and ``issued_before`` name (all, when neither is given)."""
        if self.tokens is None and self.issued_before is None:
            return True
        return ((self.tokens is not None and token_id in self.tokens)
                or (self.issued_before is not None and token_issued_at is not None
                    and token_issued_at < self.issued_before))


@dataclass(eq=False, slots=True)
class LiveSession:
    session_id: str
    app_id: str
    user_id: str
    token_id: str | None
    started_at: float
    remote: str
    user_agent: str
    socket: Socket = field(repr=False)
    key_expires_at: float = 0.0
    """When this session's key would expire anyway: how long its revocation must be kept."""
    token_expires_at: float | None = None
    token_issued_at: float | None = None
    """When its token was issued (a stored token's creation, a signed one's ``iat``): a
    revocation by time (``Target.issued_before``) reaches it."""

    def describe(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "started_at": self.started_at,
                "remote_address": self.remote, "user_agent": self.user_agent,
                "token_id": self.token_id}


def send_all(sessions: list[LiveSession], data: bytes) -> None:
    """Queue one encoded frame for each of ``sessions``."""
    for session in sessions:
        session.socket.push(data)


class Watcher(Protocol):
    """Told of every session added or removed, at once and without an await (a cluster's
    inventory queues the change for the other nodes to see)."""

    def added(self, session: LiveSession) -> None: ...

    def removed(self, session: LiveSession) -> None: ...


class LiveSessions:
    def __init__(self) -> None:
        self._by_id: dict[str, LiveSession] = {}
        self._by_user: dict[tuple[str, str], set[str]] = {}
        self.revocations = 0
        """Bumped by ``revoked``; see the module docstring."""
        self.watchers: list[Watcher] = []

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, session: LiveSession) -> None:
        self._by_id[session.session_id] = session
        self._by_user.setdefault((session.app_id, session.user_id), set()).add(session.session_id)
        for watcher in self.watchers:
            watcher.added(session)

    def remove(self, session: LiveSession) -> None:
        if self._by_id.get(session.session_id) is session:
            del self._by_id[session.session_id]
            ids = self._by_user.get((session.app_id, session.user_id), set())
            ids.discard(session.session_id)
            if not ids:
                self._by_user.pop((session.app_id, session.user_id), None)
            for watcher in self.watchers:
                watcher.removed(session)

    def for_user(self, app_id: str, user_id: str) -> list[LiveSession]:
        ids = self._by_user.get((app_id, user_id), ())
        return sorted((self._by_id[i] for i in ids), key=lambda s: s.started_at)

    def is_online(self, app_id: str, user_id: str) -> bool:
        return (app_id, user_id) in self._by_user

    def matching(self, target: Target) -> list[LiveSession]:
        if target.session_id is not None:
            one = self._by_id.get(target.session_id)
            return [one] if one is not None and target.matches(one) else []
        if target.user_id is not None:
            return [s for s in self.for_user(target.app_id, target.user_id) if target.matches(s)]
        if target.user_ids is not None:
            return [s for user_id in target.user_ids
                    for s in self.for_user(target.app_id, user_id) if target.matches(s)]
        return [s for s in self._by_id.values() if target.matches(s)]

    def revoked(self, target: Target) -> list[LiveSession]:
        """A credential was revoked in the store just now: the live sessions ``target``
        names, to be ended.  Call it after the store's write, with no await between the two
        (``bus.LocalBus.end`` does)."""
        self.revocations += 1
        return self.matching(target)

    def all(self) -> list[LiveSession]:
        return list(self._by_id.values())

    def expired(self, now: float) -> list[LiveSession]:
        """Sessions whose token has expired since they started."""
        return [s for s in self._by_id.values()
                if s.token_expires_at is not None and s.token_expires_at <= now]
