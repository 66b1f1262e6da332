"""In-process: a node's timer ends, from the store alone, the sessions whose revocation never
reached it over the bus."""

from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator

import pytest
from test_bus import Socket

from chatcamp_server.sessions.live import LiveSession, LiveSessions
from chatcamp_server.sessions.reconcile import BATCH, ENDED, Reconciler
from chatcamp_server.storage.sqlite import SQLiteStore
from chatcamp_server.storage.store import ISSUED_TOKEN, App, Token, User

NOW = 1_800_000_000.0
APP = "1000000000000000001"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    made = SQLiteStore(tmp_path / "reconcile.sqlite3")
    await made.open()
    await made.create_app(App(APP, "reconcile", (), NOW), b"k" * 32)
    for user_id in ("ann", "bob", "cat", "dan"):
        await made.create_user(User(APP, user_id, created_at=NOW, updated_at=NOW), None)
        await made.add_token(Token(f"t-{user_id}", APP, user_id, ISSUED_TOKEN,
                                   user_id.encode().ljust(32, b"\0"), None, NOW))
    yield made
    await made.close()


def sessions(live: LiveSessions) -> dict[str, Socket]:
    """ann and bob on tokens, cat and dan by ID."""
    sockets = {}
    for user_id, token_id in (("ann", "t-ann"), ("bob", "t-bob"), ("cat", None), ("dan", None)):
        sockets[user_id] = Socket()
        live.add(LiveSession(f"s-{user_id}", APP, user_id, token_id, NOW, "", "",
                             sockets[user_id], key_expires_at=NOW + 100))
    return sockets


def reasons(sockets: dict[str, Socket]) -> dict[str, str]:
    return {user: socket.got[0][0]["d"]["error"]["message"]  # type: ignore[index]
            for user, socket in sockets.items() if socket.got}


async def test_nothing_ends_while_the_store_allows_every_session(store: SQLiteStore) -> None:
    """A round over sessions the store still allows ends none of them."""
    live = LiveSessions()
    sockets = sessions(live)
    assert await Reconciler(store, live, lambda: NOW + 1).run_once() == 0
    assert reasons(sockets) == {} and len(live) == 4


async def test_revoked_tokens_ended_keys_and_checked_users_end(store: SQLiteStore) -> None:
    """A revoked token, a key ended through the API and a user switched to check_access_token
    each end their session with the stopping refusal that names why; the rest live on."""
    live = LiveSessions()
    sockets = sessions(live)
    await store.revoke_tokens(APP, "ann", NOW, token_id="t-ann")
    await store.consume_session("s-bob", NOW + 100, NOW)
    await store.update_user(APP, "cat", {"check_access_token": True}, NOW)
    assert await Reconciler(store, live, lambda: NOW + 1).run_once() == 3
    assert reasons(sockets) == {"ann": "Access token revoked", "bob": ENDED,
                                "cat": "An access token is required for this user"}
    assert all(socket.got[0][1] == "end" for socket in sockets.values() if socket.got)


async def test_an_app_that_now_requires_tokens_ends_its_id_sessions(store: SQLiteStore) -> None:
    """require_access_token turned on ends every ID-only session of the app, not token ones."""
    live = LiveSessions()
    sockets = sessions(live)
    await store.update_app(APP, require_access_token=True)
    assert await Reconciler(store, live, lambda: NOW + 1).run_once() == 2
    assert reasons(sockets) == {"cat": "This app requires an access token",
                                "dan": "This app requires an access token"}


async def test_every_batch_of_a_large_node_is_checked(store: SQLiteStore) -> None:
    """With more sessions than one round's batch, a revoked one at the end still ends, and only
    it."""
    live = LiveSessions()
    others = [Socket() for _ in range(BATCH + 500)]
    for n, socket in enumerate(others):
        live.add(LiveSession(f"s-bob-{n}", APP, "bob", "t-bob", NOW, "", "",
                             socket, key_expires_at=NOW + 100))
    sockets = sessions(live)
    await store.revoke_tokens(APP, "ann", NOW, token_id="t-ann")
    assert await Reconciler(store, live, lambda: NOW + 1).run_once() == 1
    assert not any(socket.got for socket in others)
    assert reasons(sockets) == {"ann": "Access token revoked"}
