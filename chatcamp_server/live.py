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
from typing import Any, Awaitable, Callable

Closer = Callable[[dict[str, Any] | None, bool], Awaitable[None]]
"""Closes a live socket, optionally pushing one last frame (a failure ack) first.  With the
flag set the session is *ended* (its key revoked); without it (a server shutdown) the SDK
may resume it with its session key."""


@dataclass(eq=False, slots=True)
class LiveSession:
    session_id: str
    app_id: str
    user_id: str
    token_id: str | None
    started_at: float
    remote: str
    user_agent: str
    close: Closer = field(repr=False)
    key_expires_at: float = 0.0
    """When this session's key would expire anyway: how long its revocation must be kept."""
    token_expires_at: float | None = None

    def describe(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "started_at": self.started_at,
                "remote_address": self.remote, "user_agent": self.user_agent,
                "token_id": self.token_id}


class LiveSessions:
    def __init__(self) -> None:
        self._by_id: dict[str, LiveSession] = {}
        self._by_user: dict[tuple[str, str], set[str]] = {}
        self.revocations = 0
        """Bumped by ``revoked``; see the module docstring."""

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, session: LiveSession) -> None:
        self._by_id[session.session_id] = session
        self._by_user.setdefault((session.app_id, session.user_id), set()).add(session.session_id)

    def remove(self, session: LiveSession) -> None:
        if self._by_id.get(session.session_id) is session:
            del self._by_id[session.session_id]
            ids = self._by_user.get((session.app_id, session.user_id), set())
            ids.discard(session.session_id)
            if not ids:
                self._by_user.pop((session.app_id, session.user_id), None)

    def get(self, session_id: str) -> LiveSession | None:
        return self._by_id.get(session_id)

    def for_user(self, app_id: str, user_id: str) -> list[LiveSession]:
        ids = self._by_user.get((app_id, user_id), ())
        return sorted((self._by_id[i] for i in ids), key=lambda s: s.started_at)

    def is_online(self, app_id: str, user_id: str) -> bool:
        return (app_id, user_id) in self._by_user

    def revoked(self, app_id: str, user_id: str,
                rests_on: Callable[[LiveSession], bool]) -> list[LiveSession]:
        """A credential of this user was revoked in the store just now: the live sessions that
        ``rests_on`` it, to be ended.  Call it after the store's write, with no await between
        the two."""
        self.revocations += 1
        return [s for s in self.for_user(app_id, user_id) if rests_on(s)]

    def all(self) -> list[LiveSession]:
        return list(self._by_id.values())

    def expired(self, now: float) -> list[LiveSession]:
        """Sessions whose token has expired since they started."""
        return [s for s in self._by_id.values()
                if s.token_expires_at is not None and s.token_expires_at <= now]
