"""In-process: the storage contract, one suite that every ``Store`` implementation passes.

Each case runs against every backend in ``BACKENDS`` (SQLite, and PostgreSQL on the session's
private instance, a fresh database per case), through the ``Store`` interface only, so a new
backend is added by adding its factory here.  Values that would be
secrets are opaque bytes at this level: the store sees only keyed hashes and sealed blobs.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import pytest
from postgres_service import PostgresServer

from chatcamp_server.errors import Conflict
from chatcamp_server.storage.demo_table import DemoTable
from chatcamp_server.storage.postgres import PostgresDemoTable, PostgresStore
from chatcamp_server.storage.sqlite import SQLiteDemoTable, SQLiteStore
from chatcamp_server.storage.store import (
    ISSUED_TOKEN,
    PROFILE_TOKEN,
    App,
    AppRecord,
    ConsumedSession,
    Record,
    SigningKey,
    Store,
    Token,
    User,
)

NOW = 1_800_000_000.0


async def sqlite(request: pytest.FixtureRequest, directory: Path) -> Store:
    return SQLiteStore(directory / "contract.sqlite3")


async def postgresql(request: pytest.FixtureRequest, directory: Path) -> Store:
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return PostgresStore(server.url(server.create_database()))


BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], Awaitable[Store]]] = {
    "sqlite": sqlite, "postgresql": postgresql}
DEMO_TABLES: dict[type[Store], Callable[[Any], DemoTable]] = {
    SQLiteStore: SQLiteDemoTable, PostgresStore: PostgresDemoTable}


@pytest.fixture(params=list(BACKENDS))
async def new_store(request: pytest.FixtureRequest,
                    tmp_path: Path) -> AsyncIterator[Callable[[], Awaitable[Store]]]:
    """Opens empty stores of one backend, each in a database of its own, closed at the end."""
    made: list[Store] = []

    async def open_one() -> Store:
        directory = tmp_path / str(len(made))
        directory.mkdir()
        one = await BACKENDS[request.param](request, directory)
        await one.open()
        made.append(one)
        return one

    yield open_one
    for one in made:
        await one.close()


@pytest.fixture
async def store(new_store: Callable[[], Awaitable[Store]]) -> Store:
    return await new_store()


def app(app_id: str = "1000000000000000001", **policies: object) -> App:
    return App(app_id, "contract", (), NOW, **policies)  # type: ignore[arg-type]


def token(token_id: str, user_id: str, kind: str = ISSUED_TOKEN, created_at: float = NOW,
          mac: bytes | None = None, expires_at: float | None = None) -> Token:
    return Token(token_id, "1000000000000000001", user_id, kind,
                 mac or token_id.encode().ljust(32, b"\0"),
                 b"sealed" if kind == PROFILE_TOKEN else None, created_at, expires_at)


async def with_user(store: Store, user_id: str = "ann", profile: Token | None = None) -> None:
    await store.create_app(app(), b"k" * 32)
    await store.create_user(User("1000000000000000001", user_id, created_at=NOW,
                                 updated_at=NOW), profile)


# apps


async def test_apps_are_created_found_by_id_and_key_listed_and_updated(store: Store) -> None:
    """An app is found by ID and by its key's hash, listed in creation order, and its
    policies change one at a time."""
    first = await store.create_app(app("1000000000000000001"), b"a" * 32)
    await store.create_app(App("1000000000000000002", "second", ("https://x.example",),
                               NOW + 1), b"b" * 32)
    assert await store.get_app(first.id) == first
    assert (await store.find_app_by_key(b"b" * 32)).name == "second"  # type: ignore[union-attr]
    assert await store.find_app_by_key(b"c" * 32) is None
    assert [a.id for a in await store.list_apps()] == [first.id, "1000000000000000002"]
    changed = await store.update_app(first.id, require_access_token=True)
    assert changed == App(first.id, "contract", (), NOW, True)
    changed = await store.update_app(first.id, allowed_origins=("https://shop.example",))
    assert changed is not None and changed.allowed_origins == ("https://shop.example",)
    assert changed.require_access_token is True
    assert await store.update_app("1999999999999999999", require_access_token=True) is None


async def test_an_app_id_or_api_key_is_taken_once(store: Store) -> None:
    """A second app with the same ID, or with the same key's hash, is a Conflict."""
    await store.create_app(app("1000000000000000001"), b"a" * 32)
    with pytest.raises(Conflict) as same_id:
        await store.create_app(app("1000000000000000001"), b"b" * 32)
    with pytest.raises(Conflict) as same_key:
        await store.create_app(app("1000000000000000002"), b"a" * 32)
    assert (same_id.value.code, same_key.value.code) == ("APP_EXISTS", "API_KEY_IN_USE")


# users


async def test_fifty_concurrent_first_logins_make_one_user(store: Store) -> None:
    """get_or_create_user called 50 times at once for a new ID makes exactly one user."""
    await store.create_app(app(), b"k" * 32)
    users = await asyncio.gather(*(store.get_or_create_user(app().id, "crowd", NOW + n)
                                   for n in range(50)))
    assert {u.created_at for u in users} == {users[0].created_at}
    assert await store.get_user(app().id, "crowd") == users[0]
    assert await store.get_user(app().id, "nobody") is None


async def test_create_user_with_a_profile_token_and_refuse_a_second(store: Store) -> None:
    """create_user stores the user and its profile token together; the same ID again is a
    Conflict, and the first user is unchanged."""
    await with_user(store, "ann", token("t-ann", "ann", PROFILE_TOKEN))
    profile = await store.profile_token(app().id, "ann")
    assert profile is not None and profile.id == "t-ann" and profile.sealed == b"sealed"
    with pytest.raises(Conflict) as taken:
        await store.create_user(User(app().id, "ann", display_name="other"), None)
    assert taken.value.code == "USER_EXISTS"
    assert (await store.get_user(app().id, "ann")).display_name == ""  # type: ignore[union-attr]


async def test_update_user_changes_fields_and_replaces_the_profile_token(store: Store) -> None:
    """update_user applies the changes and, with a new profile token, revokes the old one and
    returns its ID; an unknown user gives None."""
    await with_user(store, "ann", token("t-old", "ann", PROFILE_TOKEN))
    result = await store.update_user(app().id, "ann", {"display_name": "Ann",
                                                       "metadata": {"k": "v"}}, NOW + 5,
                                     token("t-new", "ann", PROFILE_TOKEN, NOW + 5))
    assert result is not None
    user, replaced = result
    assert (user.display_name, user.metadata, user.updated_at) == ("Ann", {"k": "v"}, NOW + 5)
    assert replaced == ["t-old"]
    assert (await store.profile_token(app().id, "ann")).id == "t-new"  # type: ignore[union-attr]
    old = await store.get_token("t-old")
    assert old is not None and old.revoked_at == NOW + 5 and old.sealed is None
    assert await store.update_user(app().id, "nobody", {"data": "x"}, NOW) is None


# tokens


async def test_find_token_prefers_an_unrevoked_match_and_returns_its_user(store: Store) -> None:
    """find_token looks a token up by its hash within one user, with the user in one call."""
    await with_user(store)
    await store.add_token(token("t1", "ann", mac=b"m" * 32))
    found = await store.find_token(app().id, "ann", b"m" * 32)
    assert found is not None and found[0].id == "ann" and found[1].id == "t1"
    assert await store.find_token(app().id, "ann", b"x" * 32) is None
    assert await store.find_token(app().id, "bob", b"m" * 32) is None
    assert [t.id for t in await store.list_tokens(app().id, "ann")] == ["t1"]


async def test_revoke_one_token_those_issued_before_or_all(store: Store) -> None:
    """revoke_tokens revokes by ID, by creation time, or every unrevoked token, and returns
    exactly the IDs it revoked."""
    await with_user(store)
    for n in range(4):
        await store.add_token(token(f"t{n}", "ann", created_at=NOW + n))
    assert await store.revoke_tokens(app().id, "ann", NOW + 10, token_id="t3") == ["t3"]
    assert await store.revoke_tokens(app().id, "ann", NOW + 10, token_id="t3") == []
    assert sorted(await store.revoke_tokens(app().id, "ann", NOW + 11,
                                            issued_before=NOW + 2)) == ["t0", "t1"]
    assert await store.revoke_tokens(app().id, "ann", NOW + 12) == ["t2"]
    revoked = {t.id: t.revoked_at for t in await store.list_tokens(app().id, "ann")}
    assert revoked == {"t0": NOW + 11, "t1": NOW + 11, "t2": NOW + 12, "t3": NOW + 10}
    assert not (await store.get_token("t2")).usable(NOW + 13)  # type: ignore[union-attr]


# session keys


async def test_a_session_key_is_consumed_once_however_many_race(store: Store) -> None:
    """Of 20 concurrent consumes of one session, exactly one wins; later ones lose too."""
    won = await asyncio.gather(*(store.consume_session("s1", NOW + 100, NOW)
                                 for _ in range(20)))
    assert won.count(True) == 1
    assert await store.is_session_consumed("s1")
    assert await store.consume_session("s1", NOW + 100, NOW + 1) is False
    assert not await store.is_session_consumed("s2")


async def test_consumed_sessions_are_forgotten_once_their_key_expired(store: Store) -> None:
    """A used key is remembered until it would have expired anyway, and no longer."""
    await store.consume_session("old", NOW + 10, NOW)
    await store.consume_session("new", NOW + 1000, NOW + 20)
    assert not await store.is_session_consumed("old")
    assert await store.is_session_consumed("new")


# checks of many live sessions at once


async def test_unusable_tokens_names_the_revoked_expired_and_unknown(store: Store) -> None:
    """unusable_tokens returns exactly the revoked, expired and unknown IDs, over more IDs than
    one query may carry."""
    await with_user(store)
    await store.add_token(token("live", "ann"))
    await store.add_token(token("later", "ann", expires_at=NOW + 100))
    await store.add_token(token("over", "ann", expires_at=NOW + 5))
    await store.add_token(token("gone", "ann"))
    await store.revoke_tokens(app().id, "ann", NOW, token_id="gone")
    unknown = {f"u{n}" for n in range(2000)}
    asked = {"live", "later", "over", "gone"} | unknown
    assert await store.unusable_tokens(asked, NOW + 10) == {"over", "gone"} | unknown
    assert await store.unusable_tokens([], NOW) == set()


async def test_users_requiring_token_names_the_checked_and_the_gone(store: Store) -> None:
    """users_requiring_token returns exactly the app's users with check_access_token on and
    the unknown IDs, over more IDs than one query may carry; another app's user is unknown."""
    await with_user(store, "free")
    await store.create_user(User(app().id, "checked", check_access_token=True,
                                 created_at=NOW, updated_at=NOW), None)
    unknown = {f"u{n}" for n in range(2000)}
    asked = {"free", "checked"} | unknown
    assert await store.users_requiring_token(app().id, asked) == {"checked"} | unknown
    assert await store.users_requiring_token("1000000000000000002", {"free"}) == {"free"}
    assert await store.users_requiring_token(app().id, []) == set()


async def test_consumed_sessions_names_the_used_keys_among_many(store: Store) -> None:
    """consumed_sessions returns exactly the consumed IDs among those asked about."""
    await store.consume_session("ended", NOW + 100, NOW)
    asked = {"ended"} | {f"s{n}" for n in range(2000)}
    assert await store.consumed_sessions(asked) == {"ended"}
    assert await store.consumed_sessions([]) == set()


# copies between stores


async def exported(store: Store) -> list[Record]:
    return [record async for record in store.export_records()]


async def test_export_then_import_gives_an_identical_store(
        new_store: Callable[[], Awaitable[Store]]) -> None:
    """Every app (with its key's hash and revocation watermark), user (with theirs), token,
    signing key and used session key exported from one store and imported into an empty one
    is read back identical, apps before their users and users before their tokens."""
    source = await new_store()
    await source.create_app(app(require_access_token=True), b"k" * 32)
    await source.create_app(App("1000000000000000002", "other", ("https://a.example",),
                                NOW + 1), b"o" * 32)
    await source.create_user(User(app().id, "ann", "Ann", "https://a/p.png", "https://a/ann",
                                  "d", {"k": ["v", 1]}, True, NOW, NOW + 1),
                             token("t-profile", "ann", PROFILE_TOKEN))
    await source.add_token(token("t-issued", "ann", expires_at=NOW + 50))
    await source.add_token(token("t-gone", "ann", created_at=NOW + 1))
    await source.revoke_tokens(app().id, "ann", NOW + 2, token_id="t-gone")
    await source.get_or_create_user("1000000000000000002", "bob", NOW + 3)
    await source.consume_session("s-used", NOW + 100, NOW)
    await source.add_signing_key(SigningKey("k-1", app().id, b"sealed-k1", NOW), 5)
    await source.add_signing_key(SigningKey("k-2", app().id, b"sealed-k2", NOW + 1), 5)
    await source.revoke_signing_key(app().id, "k-1", NOW + 2)
    await source.revoke_tokens(app().id, "ann", NOW + 3, issued_before=NOW - 5)
    await source.revoke_app_tokens(app().id, NOW - 7, NOW + 3)
    records = await exported(source)
    kinds = [type(r).__name__ for r in records]
    assert kinds == (["AppRecord"] * 2 + ["User"] * 2 + ["Token"] * 3 + ["SigningKey"] * 2
                     + ["ConsumedSession"])
    assert records[0] == AppRecord(app(require_access_token=True, tokens_revoked_before=NOW - 7),
                                   b"k" * 32)
    assert ConsumedSession("s-used", NOW + 100) in records
    target = await new_store()
    await target.import_records(records)
    copied = await exported(target)
    assert sorted(map(repr, copied)) == sorted(map(repr, records))
    other = await target.find_app_by_key(b"o" * 32)
    assert other is not None and other.allowed_origins == ("https://a.example",)
    found = await target.find_token(app().id, "ann", b"t-profile".ljust(32, b"\0"))
    assert found is not None and found[0].metadata == {"k": ["v", 1]}
    assert found[1].sealed == b"sealed"
    assert await target.consume_session("s-used", NOW + 100, NOW + 1) is False
    assert await target.list_signing_keys(app().id) == await source.list_signing_keys(app().id)
    assert await target.token_watermarks(app().id, {"ann"}) == {"ann": NOW - 5}


# signing keys and revocation by time


async def test_signing_keys_are_added_up_to_the_cap_listed_and_revoked(store: Store) -> None:
    """Keys are listed oldest first with their sealed secret; the cap counts unrevoked keys
    only; revoking returns the key once and then None; other apps' keys are out of reach."""
    await store.create_app(app(), b"k" * 32)
    await store.create_app(app("1000000000000000002"), b"o" * 32)
    for n in range(3):
        assert await store.add_signing_key(SigningKey(f"k{n}", app().id, b"s%d" % n, NOW + n), 3)
    assert await store.add_signing_key(SigningKey("k3", app().id, b"s3", NOW + 3), 3) is False
    assert [k.id for k in await store.list_signing_keys(app().id)] == ["k0", "k1", "k2"]
    assert (await store.list_signing_keys(app().id))[1] == SigningKey("k1", app().id, b"s1",
                                                                      NOW + 1)
    assert await store.revoke_signing_key("1000000000000000002", "k0", NOW) is None
    revoked = await store.revoke_signing_key(app().id, "k0", NOW + 9)
    assert revoked == SigningKey("k0", app().id, b"s0", NOW, NOW + 9)
    assert await store.revoke_signing_key(app().id, "k0", NOW + 10) is None
    assert await store.add_signing_key(SigningKey("k3", app().id, b"s3", NOW + 3), 3)
    assert await store.unusable_signing_keys({"k0", "k1", "k3", "gone"}) == {"k0", "gone"}
    assert await store.unusable_signing_keys(set()) == set()
    assert await store.list_signing_keys("1000000000000000002") == []


async def test_concurrent_signing_key_adds_never_pass_the_cap(store: Store) -> None:
    """Of ten concurrent adds under a cap of three, exactly three succeed."""
    await store.create_app(app(), b"k" * 32)
    added = await asyncio.gather(*(store.add_signing_key(
        SigningKey(f"k{n}", app().id, b"s", NOW), 3) for n in range(10)))
    assert sum(added) == 3


async def test_revocation_watermarks_rise_and_never_fall(store: Store) -> None:
    """Revoking a user's tokens (all, or by time) and an app's tokens by time records the
    watermarks, never lowered; the effective one is the later of the user's and the app's."""
    await with_user(store, "ann")
    await store.create_user(User(app().id, "bob", created_at=NOW, updated_at=NOW), None)
    assert await store.token_watermarks(app().id, {"ann", "bob"}) == {}
    await store.revoke_tokens(app().id, "ann", NOW + 5, issued_before=NOW)
    assert (await store.get_user(app().id, "ann")).tokens_revoked_before == NOW  # type: ignore[union-attr]
    await store.revoke_tokens(app().id, "ann", NOW + 6, issued_before=NOW - 100)
    assert await store.token_watermarks(app().id, {"ann", "bob"}) == {"ann": NOW}
    await store.revoke_tokens(app().id, "ann", NOW + 7)  # all: the watermark is now
    assert await store.token_watermarks(app().id, {"ann"}) == {"ann": NOW + 7}
    await store.revoke_tokens(app().id, "ann", NOW + 8, token_id="none")  # one: no watermark
    assert await store.token_watermarks(app().id, {"ann"}) == {"ann": NOW + 7}
    await store.revoke_app_tokens(app().id, NOW + 3, NOW + 9)
    assert (await store.get_app(app().id)).tokens_revoked_before == NOW + 3  # type: ignore[union-attr]
    await store.revoke_app_tokens(app().id, NOW + 1, NOW + 9)
    assert (await store.get_app(app().id)).tokens_revoked_before == NOW + 3  # type: ignore[union-attr]
    assert await store.token_watermarks(app().id, {"ann", "bob"}) == {"ann": NOW + 7,
                                                                      "bob": NOW + 3}


async def test_revoking_an_apps_tokens_by_time_revokes_every_users_older_tokens(
        store: Store) -> None:
    """apps.tokens.revoke's store write revokes the stored tokens of every user of the app
    created before the time, and no later ones."""
    await with_user(store, "ann", token("t-old-ann", "ann", created_at=NOW - 10))
    await store.create_user(User(app().id, "bob", created_at=NOW, updated_at=NOW),
                            token("t-old-bob", "bob", created_at=NOW - 5))
    await store.add_token(token("t-new", "bob", created_at=NOW + 1))
    revoked = await store.revoke_app_tokens(app().id, NOW, NOW + 2)
    assert sorted(revoked) == ["t-old-ann", "t-old-bob"]
    assert await store.unusable_tokens({"t-old-ann", "t-old-bob", "t-new"}, NOW + 2) == {
        "t-old-ann", "t-old-bob"}


# the demo's table: not part of Store, but kept by the same backends today


@pytest.fixture
def table(store: Store) -> DemoTable:
    return DEMO_TABLES[type(store)](store)


async def test_demo_table_puts_gets_and_deletes(table: DemoTable) -> None:
    """The demo's key-value table overwrites, reads back and deletes by key."""
    await table.put("k", b"1")
    await table.put("k", b"2")
    assert await table.get("k") == b"2"
    await table.delete("k")
    assert await table.get("k") is None


async def test_demo_add_stores_only_the_first_of_racing_values(table: DemoTable) -> None:
    """add under contention: exactly one of 20 values is stored, and it stays."""
    added = await asyncio.gather(*(table.add("claim", bytes([n])) for n in range(20)))
    assert added.count(True) == 1
    assert await table.get("claim") == bytes([added.index(True)])
