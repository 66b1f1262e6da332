"""In-process: ``copy_store`` from SQLite into the session's private PostgreSQL.

Everything a running server relies on arrives identical, so the keys and tokens that worked
before work after, what was revoked or used stays refused, and the dashboard keeps its
operators and audit log; a target with data is refused before anything is written.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import AsyncIterator

import pytest
from postgres_service import PostgresServer

from chatcamp_server.errors import Conflict
from chatcamp_server.storage.migrate import BATCH, copy_store
from chatcamp_server.storage.postgres import PostgresStore
from chatcamp_server.storage.sqlite import SQLiteStore
from chatcamp_server.storage.store import (
    GROUP_CHANNEL,
    INVITED,
    ISSUED_TOKEN,
    OPEN_CHANNEL,
    PROFILE_TOKEN,
    App,
    AuditEntry,
    Channel,
    Message,
    Operator,
    Participant,
    SigningKey,
    Store,
    Token,
    User,
    distinct_key,
)

NOW = 1_800_000_000.0
SHOP = App("1000000000000000001", "shop", ("https://shop.example", "https://m.shop.example"),
           NOW, require_access_token=True)
OPEN = App("1000000000000000002", "open", (), NOW + 1)
ROOT = Operator("root", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", NOW, NOW + 9)
LOBBY = Channel(SHOP.id, "5a5ef06b48bdc63ad6760fe5", OPEN_CHANNEL, "Lobby", "https://a/l.png",
                "d", {"topic": "sale ✨"}, ("vip",), "ann", NOW, NOW + 1)
TRIP = Channel(SHOP.id, "5a5ef06b48bdc63ad6760fe6", GROUP_CHANNEL, "Trip", created_by="ann",
               created_at=NOW, updated_at=NOW, is_distinct=True,
               distinct_key=distinct_key(["ann", "bob"]), active_at=NOW)


async def nothing(stored: Message) -> None:
    """A ``then`` with nothing to push."""


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    store = SQLiteStore(tmp_path / "before.sqlite3")
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def postgresql(postgres_server: PostgresServer) -> AsyncIterator[PostgresStore]:
    store = PostgresStore(postgres_server.url(postgres_server.create_database()))
    await store.open()
    yield store
    await store.close()


async def everything(store: Store) -> dict[str, object]:
    """What a server reads, through the Store interface alone."""
    apps = await store.list_apps()
    users = {user_id: await store.get_user(SHOP.id, user_id) for user_id in ("ann", "bob")}
    return {
        "apps": apps,
        "by_key": [await store.find_app_by_key(mac) for mac in (b"a" * 32, b"b" * 32)],
        "users": users,
        "tokens": {user_id: await store.list_tokens(SHOP.id, user_id) for user_id in users},
        "profile": await store.profile_token(SHOP.id, "ann"),
        "login": await store.find_token(SHOP.id, "ann", b"issued-mac".ljust(32, b"\0")),
        "revoked_login": await store.find_token(SHOP.id, "ann", b"gone-mac".ljust(32, b"\0")),
        "unusable": await store.unusable_tokens({"t-profile", "t-issued", "t-gone"}, NOW + 5),
        "consumed": await store.consumed_sessions({"s-used", "s-other"}),
        "open_user": await store.get_user(OPEN.id, "guest"),
        "signing_keys": await store.list_signing_keys(SHOP.id),
        "watermarks": await store.token_watermarks(SHOP.id, {"ann", "bob"}),
        "operators": await store.list_operators(),
        "audit": await store.list_audit(),
        "channels": await store.list_channels(SHOP.id, OPEN_CHANNEL),
        "participants": await store.list_participants(SHOP.id, LOBBY.id),
        "history": await store.history(SHOP.id, LOBBY.id),
        "groups": await store.list_channels(SHOP.id, GROUP_CHANNEL),
        "group_rows": await store.participants_of(SHOP.id, TRIP.id),
        "my_groups": {user_id: await store.my_channels(SHOP.id, user_id, GROUP_CHANNEL)
                      for user_id in users},
        "unread": await store.unread_totals(SHOP.id, "bob", OPEN_CHANNEL),
    }


async def test_sqlite_to_postgresql_copies_everything_identically(
        sqlite: SQLiteStore, postgresql: PostgresStore) -> None:
    """Apps with policies and key hashes, a user with a profile and an issued token, a revoked
    token, signing keys (one revoked), revocation watermarks, a used session key, operators,
    the audit log (IDs kept), users' last seen, an open channel with its participants and
    messages (seqs kept), and a distinct group channel with its last activity, an invited
    member and a member's read state, read back the same from PostgreSQL, and the counts
    say so; the next audit entry's ID follows the copied ones, the channel's next message's
    seq follows the last it gave, a deleted message's included, and the group's distinct
    key still finds it."""
    await sqlite.create_app(SHOP, b"a" * 32)
    await sqlite.create_app(OPEN, b"b" * 32)
    await sqlite.create_user(
        User(SHOP.id, "ann", "Ann", "https://shop.example/ann.png", "https://shop.example/ann",
             "vip", {"tier": "gold", "tags": ["a", "b"]}, True, NOW, NOW + 2),
        Token("t-profile", SHOP.id, "ann", PROFILE_TOKEN, b"profile-mac".ljust(32, b"\0"),
              b"sealed-profile", NOW))
    await sqlite.add_token(Token("t-issued", SHOP.id, "ann", ISSUED_TOKEN,
                                 b"issued-mac".ljust(32, b"\0"), None, NOW + 1, NOW + 3600))
    await sqlite.add_token(Token("t-gone", SHOP.id, "ann", ISSUED_TOKEN,
                                 b"gone-mac".ljust(32, b"\0"), None, NOW + 1))
    await sqlite.revoke_tokens(SHOP.id, "ann", NOW + 4, token_id="t-gone")
    await sqlite.create_user(User(SHOP.id, "bob", created_at=NOW, updated_at=NOW), None)
    await sqlite.get_or_create_user(OPEN.id, "guest", NOW + 3)
    assert await sqlite.add_signing_key(SigningKey("k-1", SHOP.id, b"sealed-1", NOW), 5)
    assert await sqlite.add_signing_key(SigningKey("k-2", SHOP.id, b"sealed-2", NOW + 1), 5)
    await sqlite.revoke_signing_key(SHOP.id, "k-1", NOW + 2)
    await sqlite.revoke_tokens(SHOP.id, "bob", NOW + 6)
    await sqlite.revoke_app_tokens(SHOP.id, NOW - 10, NOW + 6)
    await sqlite.consume_session("s-used", NOW + 86_400, NOW)
    await sqlite.create_operator(ROOT)
    await sqlite.create_operator(Operator("ops", "$argon2id$ops", NOW + 1, NOW + 1))
    for n in range(3):
        await sqlite.add_audit(AuditEntry(NOW + n, "root", "app.key.replace", SHOP.id,
                                          {"n": n}, "192.0.2.1"))
    await sqlite.set_last_seen(SHOP.id, "bob", NOW + 7)
    await sqlite.create_channel(LOBBY)
    for user_id in ("bob", "ann"):
        await sqlite.add_participant(Participant(SHOP.id, LOBBY.id, user_id, NOW + 2), 5)
    for n in range(1, 5):
        await sqlite.add_message(Message(SHOP.id, LOBBY.id, f"m{n}", "text", f"hi {n} 👋\n",
                                         None if n == 2 else "ann", NOW + n, NOW + n,
                                         {"n": str(n)}, "d", ("vip",)), nothing)
    await sqlite.delete_message(SHOP.id, LOBBY.id, "m4")
    await sqlite.create_group_channel(TRIP, [Participant(SHOP.id, TRIP.id, "ann", NOW),
                                             Participant(SHOP.id, TRIP.id, "bob", NOW, INVITED)])
    await sqlite.add_message(Message(SHOP.id, TRIP.id, "g1", "text", "when?", "ann", NOW + 8,
                                     NOW + 8), nothing)
    await sqlite.mark_read(SHOP.id, TRIP.id, "ann", NOW + 9)
    before = await everything(sqlite)

    counts = await copy_store(sqlite, postgresql)

    assert counts == {"apps": 2, "users": 3, "tokens": 3, "signing_keys": 2,
                      "consumed_sessions": 1, "operators": 2, "audit": 3, "channels": 2,
                      "participants": 4, "messages": 4}
    after = await everything(postgresql)
    assert after == before
    assert after["consumed"] == {"s-used"} and after["unusable"] == {"t-gone"}
    assert [k.revoked_at for k in after["signing_keys"]] == [NOW + 2, None]  # type: ignore[attr-defined]
    assert after["watermarks"] == {"ann": NOW - 10, "bob": NOW + 6}
    assert await postgresql.consume_session("s-used", NOW + 86_400, NOW + 1) is False
    assert [e.id for e in after["audit"]] == [3, 2, 1]  # type: ignore[attr-defined]
    assert (await postgresql.add_audit(AuditEntry(NOW, "ops", "sign_in"))).id == 4
    assert after["users"]["bob"].last_seen_at == NOW + 7  # type: ignore[index]
    assert [c.participants_count for c in after["channels"]] == [2]  # type: ignore[attr-defined]
    assert [m.seq for m in after["history"]] == [3, 2, 1]  # type: ignore[attr-defined]
    added = await postgresql.add_message(Message(SHOP.id, LOBBY.id, "m5", "text", "after",
                                                 "bob", NOW + 9, NOW + 9), nothing)
    assert added is not None and added.seq == 5
    (ann_trip,) = after["my_groups"]["ann"]  # type: ignore[index]
    assert (ann_trip.channel.active_at, ann_trip.me.last_read_seq) == (NOW + 8, 1)
    assert [(r.user_id, r.status) for r in after["group_rows"]] == [  # type: ignore[attr-defined]
        ("ann", "ACCEPTED"), ("bob", INVITED)]
    assert await postgresql.create_group_channel(
        dataclasses.replace(TRIP, id="again"), []) == (ann_trip.channel, False)


async def test_a_target_with_an_app_is_refused_before_anything_is_copied(
        sqlite: SQLiteStore, postgresql: PostgresStore) -> None:
    """A target that already has an app gets a Conflict, and none of the source's rows."""
    await sqlite.create_app(SHOP, b"a" * 32)
    await sqlite.get_or_create_user(SHOP.id, "ann", NOW)
    await postgresql.create_app(OPEN, b"b" * 32)
    with pytest.raises(Conflict) as refused:
        await copy_store(sqlite, postgresql)
    assert refused.value.code == "TARGET_NOT_EMPTY"
    assert "already has 1 app" in refused.value.message
    assert await postgresql.list_apps() == [OPEN]
    assert await postgresql.get_user(SHOP.id, "ann") is None


async def test_a_target_with_an_operator_or_an_audit_log_is_refused(
        sqlite: SQLiteStore, postgresql: PostgresStore) -> None:
    """A target without apps but with a dashboard operator, or with audit entries (whose IDs
    the copied ones would collide with), gets a Conflict naming them, and nothing copied."""
    await sqlite.create_app(SHOP, b"a" * 32)
    await sqlite.add_audit(AuditEntry(NOW, "root", "sign_in"))
    await postgresql.create_operator(ROOT)
    with pytest.raises(Conflict) as refused:
        await copy_store(sqlite, postgresql)
    assert refused.value.code == "TARGET_NOT_EMPTY"
    assert "already has 1 operator(s):" in refused.value.message
    await postgresql.delete_operator(ROOT.name)
    await postgresql.add_audit(AuditEntry(NOW, "root", "sign_in.failed"))
    with pytest.raises(Conflict) as refused:
        await copy_store(sqlite, postgresql)
    assert "already has an audit log:" in refused.value.message
    assert await postgresql.list_apps() == []
    assert len(await postgresql.list_audit()) == 1


async def test_more_records_than_one_batch_are_all_copied(
        sqlite: SQLiteStore, postgresql: PostgresStore) -> None:
    """Users, tokens and one channel's messages beyond one import batch arrive complete,
    each token with its user and every message in its place."""
    await sqlite.create_app(SHOP, b"a" * 32)
    await sqlite.import_records(
        [User(SHOP.id, f"u{n}", created_at=NOW, updated_at=NOW) for n in range(BATCH + 1)]
        + [Token(f"t{n}", SHOP.id, f"u{n}", ISSUED_TOKEN, n.to_bytes(32, "big"), None, NOW)
           for n in range(BATCH + 1)]
        + [dataclasses.replace(LOBBY, last_seq=BATCH + 1)]
        + [Message(SHOP.id, LOBBY.id, f"m{n}", "text", f"{n}", "u0", NOW, NOW, seq=n)
           for n in range(1, BATCH + 2)])
    counts = await copy_store(sqlite, postgresql)
    assert counts == {"apps": 1, "users": BATCH + 1, "tokens": BATCH + 1,
                      "signing_keys": 0, "consumed_sessions": 0, "operators": 0, "audit": 0,
                      "channels": 1, "participants": 0, "messages": BATCH + 1}
    found = await postgresql.find_token(SHOP.id, f"u{BATCH}", BATCH.to_bytes(32, "big"))
    assert found is not None and found[1].id == f"t{BATCH}"
    assert [m.seq for m in await postgresql.history(SHOP.id, LOBBY.id, limit=2)] == [
        BATCH + 1, BATCH]
    assert await postgresql.history(SHOP.id, LOBBY.id, before_seq=2) == [
        Message(SHOP.id, LOBBY.id, "m1", "text", "1", "u0", NOW, NOW, seq=1)]
