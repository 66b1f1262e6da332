"""In-process: the session bus reaches exactly the live sessions a target names."""

from __future__ import annotations

import json
from typing import Any

from chatcamp_server.sessions.bus import LocalBus
from chatcamp_server.sessions.live import How, LiveSession, LiveSessions, Target


class Socket:
    """Records what the bus hands one session (a unit test's stand-in for its WebSocket)."""

    def __init__(self) -> None:
        self.got: list[tuple[dict[str, Any] | None, str]] = []

    def push(self, data: bytes) -> None:
        self.got.append((json.loads(data), "send"))

    async def close(self, failure: dict[str, Any] | None, how: How) -> None:
        self.got.append((failure, how))


def registry() -> tuple[LiveSessions, dict[str, Socket]]:
    live, sockets = LiveSessions(), {}
    for session_id, app, user, token in (("s1", "a1", "ann", "t1"), ("s2", "a1", "ann", None),
                                         ("s3", "a1", "bob", "t2"), ("s4", "a2", "ann", "t1")):
        sockets[session_id] = Socket()
        live.add(LiveSession(session_id, app, user, token, 0.0, "", "",
                             sockets[session_id]))
    return live, sockets


def reached(sockets: dict[str, Socket]) -> set[str]:
    return {session_id for session_id, socket in sockets.items() if socket.got}


async def test_targets_by_app_user_token_and_session() -> None:
    """An app, a user, a user's tokens (None: sessions without one), one session and a
    channel's participants (less the sender's session) each reach exactly their sessions,
    never another app's."""
    cases = ((Target("a1"), {"s1", "s2", "s3"}), (Target("a1", "ann"), {"s1", "s2"}),
             (Target("a1", "ann", frozenset({"t1"})), {"s1"}),
             (Target("a1", "ann", frozenset({None})), {"s2"}),
             (Target("a1", "ann", session_id="s3"), set()),
             (Target("a1", session_id="s3"), {"s3"}), (Target("a3"), set()),
             (Target("a1", user_ids=frozenset({"ann", "bob", "cy"})), {"s1", "s2", "s3"}),
             (Target("a1", user_ids=frozenset({"ann", "bob"}), except_session="s2"),
              {"s1", "s3"}),
             (Target("a1", user_ids=frozenset()), set()))
    for target, expected in cases:
        live, sockets = registry()
        assert await LocalBus(live).send(target, {"t": "x"}) == len(expected)
        assert reached(sockets) == expected, target


async def test_end_pushes_a_stopping_refusal_and_counts_as_a_revocation() -> None:
    """end hands each named session a NOT_AUTHORIZED failure ack to close on and bumps the
    revocation counter that racing logins check; send does not bump it."""
    live, sockets = registry()
    bus = LocalBus(live)
    await bus.send(Target("a1", "bob"), {"t": "hello"})
    assert live.revocations == 0 and sockets["s3"].got == [({"t": "hello"}, "send")]
    assert await bus.end(Target("a1", "ann", frozenset({"t1"})), "Access token revoked") == 1
    assert live.revocations == 1
    assert sockets["s1"].got == [({"t": "users.auth.ack", "d": {"ok": False, "error": {
        "code": "NOT_AUTHORIZED", "message": "Access token revoked"}}}, "end")]
    assert await bus.end(Target("a9"), "nobody") == 0 and live.revocations == 2
