"""In-process: what only the PostgreSQL store does, on the session's private PostgreSQL.

Opening migrates the schema, safely when nodes start together and keeping what an older
schema held; a database it cannot use is one sentence naming where it is and never the
password; an outage while running is ``StorageUnavailable``, and the same store works again
once PostgreSQL is back.  What every store does is in tests/test_store_contract.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time

import asyncpg  # type: ignore[import-untyped]
import pytest
from postgres_service import PostgresServer
from server_process import free_port

from chatcamp_server.errors import StorageUnavailable
from chatcamp_server.storage.postgres import MIGRATIONS, SCHEMA_VERSION, PostgresStore
from chatcamp_server.storage.store import (
    GROUP_CHANNEL,
    OPEN_CHANNEL,
    App,
    Channel,
    Participant,
    distinct_key,
)

NOW = 1_800_000_000.0
APP = App("1000000000000000001", "pg", (), NOW)


async def test_two_nodes_opening_a_fresh_database_at_once_migrate_it_once(
        postgres_server: PostgresServer) -> None:
    """Two stores opening one empty database together both succeed, over one schema."""
    url = postgres_server.url(postgres_server.create_database())
    first, second = PostgresStore(url), PostgresStore(url)
    await asyncio.gather(first.open(), second.open())
    try:
        await first.create_app(APP, b"k" * 32)
        assert await second.get_app(APP.id) == APP
    finally:
        await first.close()
        await second.close()
    database = await asyncpg.connect(url)
    try:
        versions = await database.fetch("SELECT version FROM schema_version")
        tables = await database.fetchval(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await database.close()
    assert [row[0] for row in versions] == [SCHEMA_VERSION]
    assert tables == 12


async def test_a_schema_4_database_gains_group_channels_when_opened(
        postgres_server: PostgresServer) -> None:
    """A database of schema 4 (open channels only) with channels in it opens at the current
    schema: each channel active since its newest message by seq, else since it was made,
    each participant accepted with nothing read, and distinct group channels made once per
    set of members."""
    url = postgres_server.url(postgres_server.create_database())
    database = await asyncpg.connect(url)
    try:
        async with database.transaction():
            await database.execute("CREATE TABLE schema_version (version integer NOT NULL)")
            for step in MIGRATIONS[:4]:
                await database.execute(step)
            await database.execute("INSERT INTO schema_version VALUES (4)")
            await database.execute("INSERT INTO apps (id, name, api_key_mac, created_at)"
                                   " VALUES ($1, 'pg', $2, $3)", APP.id, b"k" * 32, NOW)
            await database.executemany(
                "INSERT INTO users (app_id, id, created_at, updated_at) VALUES ($1, $2, 0, 0)",
                [(APP.id, "ann"), (APP.id, "bob")])
            await database.executemany(
                "INSERT INTO channels (app_id, id, kind, created_at, updated_at, last_seq)"
                " VALUES ($1, $2, 'open', $3, $3, $4)",
                [(APP.id, "lobby", NOW - 50, 2), (APP.id, "quiet", NOW - 60, 0)])
            await database.executemany(
                "INSERT INTO participants VALUES ($1, 'lobby', $2, $3)",
                [(APP.id, "ann", NOW), (APP.id, "bob", NOW)])
            await database.executemany(
                "INSERT INTO messages (app_id, channel_id, id, type, text, user_id,"
                " inserted_at, updated_at, seq) VALUES ($1, 'lobby', $2, 'text', 'hi', 'ann',"
                " $3, $3, $4)", [(APP.id, "m1", NOW + 2, 1), (APP.id, "m2", NOW + 1, 2)])
    finally:
        await database.close()
    store = PostgresStore(url)
    await store.open()
    try:
        assert {c.id: c.active_at for c in await store.list_channels(APP.id, OPEN_CHANNEL)} == {
            "lobby": NOW + 1, "quiet": NOW - 60}
        assert await store.participants_of(APP.id, "lobby") == [
            Participant(APP.id, "lobby", "ann", NOW), Participant(APP.id, "lobby", "bob", NOW)]
        assert await store.unread_totals(APP.id, "bob", OPEN_CHANNEL) == (2, 1)
        first, created = await store.create_group_channel(
            Channel(APP.id, "g1", GROUP_CHANNEL, created_at=NOW, updated_at=NOW,
                    is_distinct=True, distinct_key=distinct_key(["ann", "bob"]), active_at=NOW),
            [])
        assert created
        assert await store.create_group_channel(dataclasses.replace(first, id="g2"),
                                                []) == (first, False)
    finally:
        await store.close()
    database = await asyncpg.connect(url)
    try:
        assert await database.fetchval("SELECT version FROM schema_version") == SCHEMA_VERSION
    finally:
        await database.close()


async def test_a_newer_schema_is_refused_in_one_sentence(
        postgres_server: PostgresServer) -> None:
    """A database migrated by a newer server is refused with both versions and the remedy."""
    name = postgres_server.create_database()
    url = postgres_server.url(name)
    store = PostgresStore(url)
    await store.open()
    await store.close()
    database = await asyncpg.connect(url)
    await database.execute("UPDATE schema_version SET version = $1", SCHEMA_VERSION + 7)
    await database.close()
    with pytest.raises(StorageUnavailable) as refused:
        await PostgresStore(url).open()
    assert refused.value.message == (
        f"the database '{name}' at 127.0.0.1:{postgres_server.port} has schema version "
        f"{SCHEMA_VERSION + 7}, newer than this server's {SCHEMA_VERSION}: upgrade the server")


async def test_an_unreachable_database_is_named_by_host_and_port_not_password() -> None:
    """Nothing listening: a quick one-sentence error naming host:port, without the password."""
    port = free_port()
    started = time.monotonic()
    with pytest.raises(StorageUnavailable) as refused:
        await PostgresStore(f"postgresql://chat:s3cret-pw@127.0.0.1:{port}/chat").open()
    assert time.monotonic() - started < 5
    assert refused.value.message.startswith(f"cannot reach PostgreSQL at 127.0.0.1:{port}: ")
    assert "s3cret-pw" not in str(refused.value) and "s3cret-pw" not in repr(refused.value)
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


async def test_a_refused_login_is_named_without_the_password(
        postgres_server: PostgresServer) -> None:
    """A wrong password is reported as PostgreSQL refusing the login, the password not shown."""
    url = (f"postgresql://intruder:s3cret-pw@127.0.0.1:{postgres_server.port}/"
           f"{postgres_server.create_database()}")
    with pytest.raises(StorageUnavailable) as refused:
        await PostgresStore(url).open()
    message = refused.value.message
    assert message.startswith(
        f"PostgreSQL at 127.0.0.1:{postgres_server.port} refused the login: "), message
    assert "intruder" in message and "s3cret-pw" not in message


async def test_an_outage_is_storage_unavailable_and_the_same_store_recovers(
        postgres_server: PostgresServer) -> None:
    """With PostgreSQL stopped, reads, writes and transactions raise StorageUnavailable within
    seconds; once it is back, the same store object serves again."""
    store = PostgresStore(postgres_server.url(postgres_server.create_database()))
    await store.open()
    try:
        await store.create_app(APP, b"k" * 32)
        await asyncio.gather(*(store.get_app(APP.id) for _ in range(5)))
        postgres_server.stop()
        try:
            started = time.monotonic()
            for call in (store.get_app(APP.id), store.consume_session("s", NOW + 9, NOW),
                         store.get_or_create_user(APP.id, "ann", NOW), store.ping(),
                         store.update_user(APP.id, "ann", {"data": "x"}, NOW)):
                with pytest.raises(StorageUnavailable) as down:
                    await call
                assert down.value.message.startswith(
                    f"cannot reach PostgreSQL at 127.0.0.1:{postgres_server.port}: ")
            assert time.monotonic() - started < 10
        finally:
            postgres_server.start()
        assert await store.get_app(APP.id) == APP
        assert await store.consume_session("s", NOW + 9, NOW) is True
        assert (await store.get_or_create_user(APP.id, "ann", NOW)).id == "ann"
    finally:
        await store.close()
