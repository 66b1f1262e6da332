"""In-process: the storage contract, one suite that every ``Store`` implementation passes.

Each case runs against every backend in ``BACKENDS`` (SQLite, and PostgreSQL on the session's
private instance, a fresh database per case), through the ``Store`` interface only, so a new
backend is added by adding its factory here.  Values that would be
secrets are opaque bytes at this level: the store sees only keyed hashes and sealed blobs.
The last cases are SQLite's own, on what only its files show: the query plans of the user
search, of history and of a user's channel list, and databases of earlier schema versions
migrated.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import sqlite3
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import pytest
from postgres_service import PostgresServer

from chatcamp_server.errors import Conflict, Forbidden
from chatcamp_server.storage.demo_table import DemoTable
from chatcamp_server.storage.postgres import PostgresDemoTable, PostgresStore
from chatcamp_server.storage.sqlite import (
    SQLiteDemoTable,
    SQLiteStore,
    message_history,
    my_channel_page,
    user_search,
)
from chatcamp_server.storage.store import (
    ACCEPTED,
    ALREADY_JOINED,
    CHANNEL_FULL,
    GROUP_CHANNEL,
    INVITED,
    ISSUED_TOKEN,
    JOINED,
    NO_CHANNEL,
    OPEN_CHANNEL,
    PROFILE_TOKEN,
    TOO_MANY_CHANNELS,
    App,
    AppRecord,
    AuditEntry,
    Channel,
    ConsumedSession,
    Message,
    MyChannel,
    Operator,
    Participant,
    Record,
    SigningKey,
    Store,
    Token,
    User,
    distinct_key,
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


def operator(name: str, created_at: float = NOW) -> Operator:
    return Operator(name, f"$argon2id$v=19$m=65536,t=3,p=4$c2FsdA${name}", created_at,
                    created_at)


def audit(n: int) -> AuditEntry:
    return AuditEntry(NOW + n, "root", "app.create", f"app-{n}", {"n": n, "origins": ["a"]},
                      "203.0.113.7")


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


async def test_replace_api_key_moves_the_app_to_the_new_keys_hash(store: Store) -> None:
    """After replace_api_key the old key's hash finds no app and the new one finds it; an
    unknown app gives None; another app's hash is a Conflict that changes nothing."""
    await store.create_app(app(), b"a" * 32)
    await store.create_app(app("1000000000000000002"), b"b" * 32)
    assert await store.replace_api_key(app().id, b"n" * 32) == app()
    assert await store.find_app_by_key(b"a" * 32) is None
    assert await store.find_app_by_key(b"n" * 32) == app()
    assert await store.replace_api_key(app().id, b"n" * 32) == app()
    assert await store.replace_api_key("1999999999999999999", b"z" * 32) is None
    assert await store.replace_api_key("1999999999999999999", b"b" * 32) is None
    assert await store.find_app_by_key(b"z" * 32) is None
    with pytest.raises(Conflict) as taken:
        await store.replace_api_key(app().id, b"b" * 32)
    assert taken.value.code == "API_KEY_IN_USE"
    other = await store.find_app_by_key(b"b" * 32)
    assert other is not None and other.id == "1000000000000000002"
    assert await store.find_app_by_key(b"n" * 32) == app()


async def test_user_counts_gives_each_app_with_users_its_count(store: Store) -> None:
    """user_counts has every app with users and its number of them, and no app without."""
    assert await store.user_counts() == {}
    for n in (1, 2, 3):
        await store.create_app(app(f"100000000000000000{n}"), bytes([n]) * 32)
    for user_id in ("ann", "bob", "cy"):
        await store.get_or_create_user("1000000000000000001", user_id, NOW)
    await store.get_or_create_user("1000000000000000003", "ann", NOW)
    assert await store.user_counts() == {"1000000000000000001": 3, "1000000000000000003": 1}


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


SEARCH_IDS = ("100%", "100%off", "1000", "100_", "100x", "10_0", "Ab", "a%b", "aB", "a_b", "ab",
              "z", "é", "éa", "ê", "日本", "日本語")
"""User IDs in code point order (sorted()), with LIKE's wildcards and non-ASCII among them."""


async def users_named(store: Store, names: dict[str, str], app_id: str = app().id) -> None:
    await store.import_records([User(app_id, user_id, name, created_at=NOW, updated_at=NOW)
                                for user_id, name in names.items()])


async def pages(store: Store, prefix: str, by_name: bool, limit: int) -> list[list[str]]:
    """Every page of a search, each after the last user of the one before, as IDs."""
    found: list[list[str]] = []
    after: User | None = None
    while True:
        page = await store.search_users(app().id, prefix, by_name=by_name, after=after,
                                        limit=limit)
        if not page:
            return found
        found.append([user.id for user in page])
        after = page[-1]


async def test_search_users_by_id_prefix_matches_exactly_in_code_point_order(
        store: Store) -> None:
    """An ID prefix matches IDs that start with it, character for character (``%`` and
    ``_`` literally, case and accents kept), in code point order; the empty prefix is every
    user; another app's users never appear."""
    await store.create_app(app(), b"k" * 32)
    await store.create_app(app("1000000000000000002"), b"o" * 32)
    await users_named(store, dict.fromkeys(reversed(SEARCH_IDS), ""))
    await users_named(store, dict.fromkeys(("100%", "ab", "zz", "日本人"), ""),
                      "1000000000000000002")

    async def ids(prefix: str) -> list[str]:
        return [u.id for u in await store.search_users(app().id, prefix, limit=100)]
    assert await ids("") == list(SEARCH_IDS)
    assert await ids("100%") == ["100%", "100%off"]
    assert await ids("100_") == ["100_"]
    assert await ids("10_") == ["10_0"]
    assert await ids("a") == ["a%b", "aB", "a_b", "ab"]
    assert await ids("a_") == ["a_b"]
    assert await ids("A") == ["Ab"]
    assert await ids("é") == ["é", "éa"]
    assert await ids("日本") == ["日本", "日本語"]
    assert await ids("zz") == []
    first = await store.search_users(app().id, "1", limit=2)
    assert [u.id for u in first] == ["100%", "100%off"]
    assert first[0] == User(app().id, "100%", created_at=NOW, updated_at=NOW)


async def test_search_users_by_id_pages_follow_on_without_repeats(store: Store) -> None:
    """Pages of an ID search, each after the last user of the one before, add up to the
    whole result in order, with or without a prefix."""
    await store.create_app(app(), b"k" * 32)
    await users_named(store, dict.fromkeys(SEARCH_IDS, ""))
    assert await pages(store, "", False, 5) == [list(SEARCH_IDS[i:i + 5])
                                                for i in range(0, len(SEARCH_IDS), 5)]
    assert await pages(store, "100", False, 2) == [["100%", "100%off"], ["1000", "100_"],
                                                   ["100x"]]
    assert await pages(store, "é", False, 1) == [["é"], ["éa"]]


SEARCH_NAMES = {"n0": "ANN", "n1": "ann", "n2": "Ann", "n3": "Anna", "n4": "annabel",
                "n5": "Bob", "n6": "ánn", "n7": "Ánn", "n8": "", "n9": "", "x1": "An_",
                "x2": "An%", "x3": "Zoë", "x4": "zoë", "x5": "ZOË"}
NAME_ORDER = ["n8", "n9", "x2", "x1", "n0", "n1", "n2", "n3", "n4", "n5", "x5", "x3", "x4",
              "n7", "n6"]
"""SEARCH_NAMES by name with ASCII letters folded, then by ID: ties broken by ID, and
Ë (U+00CB) before ë (U+00EB), Á (U+00C1) before á (U+00E1), none of them folded."""


async def test_search_users_by_name_folds_ascii_letters_only(store: Store) -> None:
    """A name prefix matches display names that start with it, ASCII letters in either
    case and every other character exactly (``%`` and ``_`` too, and accented letters in
    their case), ordered by the folded name, then ID; another app's users never appear."""
    await store.create_app(app(), b"k" * 32)
    await store.create_app(app("1000000000000000002"), b"o" * 32)
    await users_named(store, SEARCH_NAMES)
    await users_named(store, {"o1": "Ann", "o2": "Bob", "o3": ""}, "1000000000000000002")

    async def ids(prefix: str) -> list[str]:
        return [u.id for u in await store.search_users(app().id, prefix, by_name=True)]
    assert await ids("") == NAME_ORDER
    assert await ids("ann") == ["n0", "n1", "n2", "n3", "n4"]
    assert await ids("ANNA") == ["n3", "n4"]
    assert await ids("an_") == ["x1"]
    assert await ids("AN%") == ["x2"]
    assert await ids("ánn") == ["n6"]
    assert await ids("Ánn") == ["n7"]
    assert await ids("zoë") == ["x3", "x4"]
    assert await ids("ZOË") == ["x5"]
    assert await ids("b") == ["n5"]
    assert await ids("c") == []
    found = await store.search_users(app().id, "BOB", by_name=True)
    assert found == [User(app().id, "n5", "Bob", created_at=NOW, updated_at=NOW)]


async def test_search_users_by_name_pages_through_ties_on_the_name(store: Store) -> None:
    """Pages of a name search, each after the last user of the one before, add up to the
    whole result in order, pages ending and starting inside a run of one name."""
    await store.create_app(app(), b"k" * 32)
    await users_named(store, SEARCH_NAMES)
    assert await pages(store, "", True, 2) == [NAME_ORDER[i:i + 2]
                                               for i in range(0, len(NAME_ORDER), 2)]
    assert await pages(store, "ANN", True, 2) == [["n0", "n1"], ["n2", "n3"], ["n4"]]
    assert await pages(store, "ann", True, 1) == [["n0"], ["n1"], ["n2"], ["n3"], ["n4"]]
    before_the_prefix = User(app().id, "n0", "ANN")
    assert [u.id for u in await store.search_users(app().id, "b", by_name=True,
                                                   after=before_the_prefix)] == ["n5"]


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


# operators and their audit log


async def test_operators_are_created_found_listed_by_name_and_deleted(store: Store) -> None:
    """An operator is found by its exact name, listed by name in code point order, and
    deleted once; an unknown name gives None, then False."""
    for name in ("carol", "Bob", "alice"):
        await store.create_operator(operator(name))
    assert await store.get_operator("carol") == operator("carol")
    assert await store.get_operator("Carol") is None
    assert await store.list_operators() == [operator("Bob"), operator("alice"),
                                            operator("carol")]
    assert await store.delete_operator("alice") is True
    assert await store.delete_operator("alice") is False
    assert await store.get_operator("alice") is None
    assert [o.name for o in await store.list_operators()] == ["Bob", "carol"]


async def test_an_operator_name_is_taken_once(store: Store) -> None:
    """A second operator of a taken name is a Conflict (OPERATOR_EXISTS) naming it, and the
    first operator is unchanged."""
    await store.create_operator(operator("root"))
    with pytest.raises(Conflict) as taken:
        await store.create_operator(operator("root", NOW + 5))
    assert taken.value.code == "OPERATOR_EXISTS"
    assert taken.value.message == "an operator named 'root' already exists"
    assert await store.list_operators() == [operator("root")]


async def test_set_operator_password_replaces_the_hash_and_marks_when(store: Store) -> None:
    """set_operator_password replaces the hash and sets password_changed_at, leaving the
    creation time and other operators; an unknown operator gives False."""
    await store.create_operator(operator("root"))
    await store.create_operator(operator("ops"))
    assert await store.set_operator_password("root", "$argon2id$new", NOW + 60) is True
    assert await store.get_operator("root") == Operator("root", "$argon2id$new", NOW, NOW + 60)
    assert await store.get_operator("ops") == operator("ops")
    assert await store.set_operator_password("nobody", "$argon2id$x", NOW) is False
    assert await store.get_operator("nobody") is None


async def test_set_operator_password_replacing_only_the_hash_it_names(store: Store) -> None:
    """Given the hash it replaces, set_operator_password changes nothing when another hash
    was stored meanwhile, and replaces the one it names."""
    await store.create_operator(operator("root"))
    assert await store.set_operator_password("root", "$argon2id$newer", NOW + 60) is True
    assert await store.set_operator_password("root", "$argon2id$rehash", NOW,
                                             replacing=operator("root").password_hash) is False
    assert await store.get_operator("root") == Operator("root", "$argon2id$newer", NOW,
                                                        NOW + 60)
    assert await store.set_operator_password("root", "$argon2id$rehash", NOW + 60,
                                             replacing="$argon2id$newer") is True
    found = await store.get_operator("root")
    assert found is not None and found.password_hash == "$argon2id$rehash"


async def test_audit_entries_get_increasing_ids_and_list_newest_first(store: Store) -> None:
    """add_audit returns the entry as given with an ID above every earlier one; list_audit
    gives the newest first, at most ``limit``, and with ``before`` those below that ID."""
    assert await store.list_audit() == []
    added = [await store.add_audit(audit(n)) for n in range(5)]
    added.append(await store.add_audit(AuditEntry(NOW + 5, "ops", "sign_in")))
    ids = [entry.id for entry in added]
    assert ids[0] > 0 and all(a < b for a, b in zip(ids, ids[1:]))
    assert added[2] == AuditEntry(NOW + 2, "root", "app.create", "app-2",
                                  {"n": 2, "origins": ["a"]}, "203.0.113.7", ids[2])
    assert await store.list_audit() == added[::-1]
    assert (await store.list_audit())[0] == AuditEntry(NOW + 5, "ops", "sign_in", id=ids[5])
    assert await store.list_audit(limit=2) == [added[5], added[4]]
    assert await store.list_audit(limit=2, before=ids[4]) == [added[3], added[2]]
    assert await store.list_audit(limit=2, before=ids[1]) == [added[0]]
    assert await store.list_audit(before=ids[0]) == []


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


# channels, their participants and messages


def channel(channel_id: str = "5a5ef06b48bdc63ad6760fe5", kind: str = OPEN_CHANNEL,
            app_id: str = "1000000000000000001", **fields: Any) -> Channel:
    return Channel(app_id, channel_id, kind, created_at=NOW, updated_at=NOW, **fields)


def message(message_id: str, channel_id: str = "5a5ef06b48bdc63ad6760fe5", text: str = "hi",
            user_id: str | None = "ann", **fields: Any) -> Message:
    return Message(app().id, channel_id, message_id, "text", text, user_id, NOW, NOW, **fields)


async def nothing(stored: Message) -> None:
    """A ``then`` with nothing to push."""


async def with_channel(store: Store, *user_ids: str) -> Channel:
    """The app, the users (``ann`` first) and one open channel, nobody in it yet."""
    await with_user(store, "ann")
    for user_id in user_ids:
        await store.create_user(User(app().id, user_id, created_at=NOW, updated_at=NOW), None)
    return await store.create_channel(channel(name="Lobby"))


async def test_a_channel_is_created_found_and_its_id_taken_once_per_app(store: Store) -> None:
    """A channel is read back as created with no participants; its ID again in the same app
    is a Conflict (CHANNEL_EXISTS) that changes nothing, in another app a channel of its own."""
    await store.create_app(app(), b"k" * 32)
    await store.create_app(app("1000000000000000002"), b"o" * 32)
    made = await store.create_channel(channel(
        name="Lobby", avatar_url="https://a/l.png", data="d", metadata={"k": "v"},
        custom_filter=("a", "b"), created_by="ann"))
    assert made == channel(name="Lobby", avatar_url="https://a/l.png", data="d",
                           metadata={"k": "v"}, custom_filter=("a", "b"), created_by="ann")
    assert await store.get_channel(app().id, made.id) == made
    with pytest.raises(Conflict) as taken:
        await store.create_channel(channel(name="other"))
    assert taken.value.code == "CHANNEL_EXISTS"
    assert await store.get_channel(app().id, made.id) == made
    other = await store.create_channel(channel(app_id="1000000000000000002"))
    assert await store.get_channel("1000000000000000002", made.id) == other
    assert await store.get_channel(app().id, "nope") is None


CHANNEL_IDS = ("5a5ef06b48bdc63ad6760fe5", "A", "B", "_x", "a", "b", "z", "é", "日本", "日本語")
"""Channel IDs in code point order (sorted()), where locales would order them otherwise."""


async def test_list_channels_pages_one_kind_by_id_in_code_point_order(store: Store) -> None:
    """Pages of list_channels, each after the last ID of the one before, add up to the app's
    channels of that kind in code point order; other kinds and apps never appear."""
    await store.create_app(app(), b"k" * 32)
    await store.create_app(app("1000000000000000002"), b"o" * 32)
    for channel_id in reversed(CHANNEL_IDS):
        await store.create_channel(channel(channel_id))
    await store.create_channel(channel("0group", kind="group"))
    await store.create_channel(channel("0other", app_id="1000000000000000002"))
    found: list[list[str]] = []
    after: str | None = None
    while page := await store.list_channels(app().id, OPEN_CHANNEL, after, limit=3):
        found.append([c.id for c in page])
        after = page[-1].id
    assert found == [list(CHANNEL_IDS[i:i + 3]) for i in range(0, len(CHANNEL_IDS), 3)]
    assert [c.id for c in await store.list_channels(app().id, "group")] == ["0group"]
    assert await store.list_channels(app().id, OPEN_CHANNEL, "日本語") == []
    assert (await store.list_channels(app().id, OPEN_CHANNEL, limit=1))[0] == channel(
        CHANNEL_IDS[0])


async def test_update_channel_applies_only_the_profile_keys_given(store: Store) -> None:
    """update_channel changes the keys given and updated_at, nothing else; a key outside the
    profile is a ValueError that writes nothing; an unknown channel gives None."""
    made = await with_channel(store)
    changed = await store.update_channel(app().id, made.id, {
        "name": "Hall", "metadata": {"topic": "ünïcode"}, "custom_filter": ["x"]}, NOW + 5)
    expected = dataclasses.replace(made, name="Hall", metadata={"topic": "ünïcode"},
                                   custom_filter=("x",), updated_at=NOW + 5)
    assert changed == expected
    assert await store.get_channel(app().id, made.id) == expected
    for wrong in ({"kind": "group"}, {"name": "x", "last_seq": 9}, {"participants_count": 3}):
        with pytest.raises(ValueError):
            await store.update_channel(app().id, made.id, wrong, NOW + 9)
    assert await store.get_channel(app().id, made.id) == expected
    assert await store.update_channel(app().id, "nope", {"name": "x"}, NOW) is None


async def test_delete_channel_takes_its_participants_and_messages(store: Store) -> None:
    """delete_channel removes the channel with its participants and messages (the user's
    place under the cap freed), once; another channel keeps its own."""
    made = await with_channel(store)
    await store.create_channel(channel("kept"))
    assert await store.add_participant(Participant(app().id, made.id, "ann", NOW), 2) == JOINED
    assert await store.add_participant(Participant(app().id, "kept", "ann", NOW), 2) == JOINED
    await store.add_message(message("m1"), nothing)
    await store.add_message(message("k1", "kept"), nothing)
    assert await store.delete_channel(app().id, made.id) is True
    assert await store.get_channel(app().id, made.id) is None
    assert await store.is_participant(app().id, made.id, "ann") is False
    assert await store.get_message(app().id, made.id, "m1") is None
    assert await store.history(app().id, made.id) == []
    assert await store.delete_channel(app().id, made.id) is False
    assert (await store.get_channel(app().id, "kept")).participants_count == 1  # type: ignore[union-attr]
    assert [m.id for m in await store.history(app().id, "kept")] == ["k1"]
    await store.create_channel(channel("third"))
    assert await store.add_participant(Participant(app().id, "third", "ann", NOW), 2) == JOINED


async def test_participants_join_once_leave_once_and_are_counted_on_read(store: Store) -> None:
    """A join is JOINED, then ALREADY_JOINED; a channel that does not exist is NO_CHANNEL;
    participants_count and participant_ids follow joins and leaves; a leave is True once."""
    made = await with_channel(store, "bob")
    ann = Participant(app().id, made.id, "ann", NOW)
    assert await store.add_participant(ann, 5) == JOINED
    assert await store.add_participant(dataclasses.replace(ann, joined_at=NOW + 1),
                                       5) == ALREADY_JOINED
    assert await store.add_participant(Participant(app().id, "nope", "ann", NOW),
                                       5) == NO_CHANNEL
    assert await store.add_participant(Participant(app().id, made.id, "bob", NOW), 5) == JOINED
    assert (await store.get_channel(app().id, made.id)).participants_count == 2  # type: ignore[union-attr]
    assert (await store.list_channels(app().id, OPEN_CHANNEL))[0].participants_count == 2
    assert sorted(await store.participant_ids(app().id, made.id)) == ["ann", "bob"]
    assert await store.is_participant(app().id, made.id, "ann") is True
    assert await store.remove_participant(app().id, made.id, "ann") is True
    assert await store.remove_participant(app().id, made.id, "ann") is False
    assert await store.is_participant(app().id, made.id, "ann") is False
    assert await store.participant_ids(app().id, made.id) == ["bob"]
    assert (await store.get_channel(app().id, made.id)).participants_count == 1  # type: ignore[union-attr]


async def test_a_user_joins_at_most_max_channels_of_the_app(store: Store) -> None:
    """Past max_channels a join is TOO_MANY_CHANNELS and changes nothing; rejoining a channel
    at the cap is still ALREADY_JOINED; leaving one makes room."""
    await with_channel(store)
    for n in range(3):
        await store.create_channel(channel(f"c{n}"))
    for n in range(2):
        assert await store.add_participant(Participant(app().id, f"c{n}", "ann", NOW),
                                           2) == JOINED
    assert await store.add_participant(Participant(app().id, "c2", "ann", NOW),
                                       2) == TOO_MANY_CHANNELS
    assert await store.is_participant(app().id, "c2", "ann") is False
    assert await store.add_participant(Participant(app().id, "c0", "ann", NOW),
                                       2) == ALREADY_JOINED
    await store.remove_participant(app().id, "c0", "ann")
    assert await store.add_participant(Participant(app().id, "c2", "ann", NOW), 2) == JOINED


async def test_twenty_racing_joins_under_a_cap_of_five_join_exactly_five(store: Store) -> None:
    """20 concurrent joins of one user to 20 channels with max_channels 5: exactly five are
    JOINED, the rest TOO_MANY_CHANNELS, and the user is in exactly five channels."""
    await with_channel(store)
    for n in range(20):
        await store.create_channel(channel(f"c{n:02}"))
    results = await asyncio.gather(*(store.add_participant(
        Participant(app().id, f"c{n:02}", "ann", NOW), 5) for n in range(20)))
    assert sorted(results) == sorted([JOINED] * 5 + [TOO_MANY_CHANNELS] * 15)
    joined = [n for n in range(20) if await store.is_participant(app().id, f"c{n:02}", "ann")]
    assert len(joined) == 5


async def test_list_participants_pages_the_users_by_id(store: Store) -> None:
    """list_participants gives the participants as users (profiles included), by user ID in
    code point order, each page after the last ID of the one before; non-participants and
    other channels' participants never appear."""
    ids = ("Bo", "_z", "ann", "bo", "é", "日本")
    made = await with_channel(store, *(i for i in ids if i != "ann"), "outsider")
    await store.update_user(app().id, "bo", {"display_name": "Bo Ö"}, NOW + 1)
    await store.create_channel(channel("other"))
    for user_id in reversed(ids):
        await store.add_participant(Participant(app().id, made.id, user_id, NOW), 5)
    await store.add_participant(Participant(app().id, "other", "outsider", NOW), 5)
    first = await store.list_participants(app().id, made.id, limit=4)
    assert [u.id for u in first] == list(ids[:4])
    assert first[3] == await store.get_user(app().id, "bo")
    assert first[3].display_name == "Bo Ö"
    rest = await store.list_participants(app().id, made.id, after=first[-1].id, limit=4)
    assert [u.id for u in rest] == list(ids[4:])
    assert await store.list_participants(app().id, made.id, after="日本") == []


async def test_add_message_numbers_each_channel_from_one_and_hands_it_to_then(
        store: Store) -> None:
    """Each channel's messages get seq 1, 2, 3 in turn; then is called with the message as
    stored, which get_message reads back; an unknown channel gives None without calling
    then."""
    made = await with_channel(store)
    await store.create_channel(channel("second"))
    handed: list[Message] = []

    async def keep(stored: Message) -> None:
        handed.append(stored)
    first = await store.add_message(message("m1"), keep)
    assert first == dataclasses.replace(message("m1"), seq=1)
    assert handed == [first]
    assert (await store.add_message(message("m2"), keep)).seq == 2  # type: ignore[union-attr]
    assert (await store.add_message(message("s1", "second"), keep)).seq == 1  # type: ignore[union-attr]
    assert (await store.add_message(message("m3"), keep)).seq == 3  # type: ignore[union-attr]
    assert await store.get_message(app().id, made.id, "m1") == first
    assert await store.get_message(app().id, "second", "m1") is None
    assert await store.add_message(message("x", "nope"), keep) is None
    assert len(handed) == 4
    assert (await store.get_channel(app().id, made.id)).last_seq == 3  # type: ignore[union-attr]


async def test_a_message_id_is_taken_once_per_channel(store: Store) -> None:
    """A second message of the same ID in one channel is a Conflict (MESSAGE_EXISTS) before
    then is called, and uses no seq; in another channel the ID is free."""
    await with_channel(store)
    await store.create_channel(channel("second"))
    await store.add_message(message("m1"), nothing)
    called: list[Message] = []

    async def keep(stored: Message) -> None:
        called.append(stored)
    with pytest.raises(Conflict) as taken:
        await store.add_message(message("m1", text="again"), keep)
    assert taken.value.code == "MESSAGE_EXISTS" and called == []
    assert (await store.add_message(message("m2"), nothing)).seq == 2  # type: ignore[union-attr]
    assert (await store.add_message(message("m1", "second"), nothing)).seq == 1  # type: ignore[union-attr]


async def test_racing_messages_of_one_channel_get_every_seq_once_and_then_in_order(
        store: Store) -> None:
    """30 concurrent add_message calls on one channel, each then yielding to the others:
    seqs 1..30 each exactly once, the then callbacks called in seq order, one at a time."""
    made = await with_channel(store)
    order: list[int] = []
    inside: list[int] = []

    async def push(stored: Message) -> None:
        inside.append(stored.seq)
        assert len(inside) == 1, inside
        await asyncio.sleep(0.001)
        order.append(stored.seq)
        inside.remove(stored.seq)
    stored = await asyncio.gather(*(store.add_message(message(f"m{n}"), push)
                                    for n in range(30)))
    assert sorted(m.seq for m in stored if m is not None) == list(range(1, 31))
    assert order == list(range(1, 31))
    assert [m.seq for m in await store.history(app().id, made.id, limit=100)] == list(
        range(30, 0, -1))


class PushFailed(ConnectionResetError):
    """A ``then`` failure that looks like a lost database connection: it must come out as
    itself, not as StorageUnavailable."""


async def test_a_then_that_raises_leaves_no_message_and_no_seq_used(store: Store) -> None:
    """When then raises, add_message raises the same exception, the message is not stored,
    and the next message takes the seq it would have had."""
    made = await with_channel(store)
    await store.add_message(message("m1"), nothing)

    async def refuse(stored: Message) -> None:
        assert stored.seq == 2
        raise PushFailed("the push failed")
    with pytest.raises(PushFailed):
        await store.add_message(message("m2"), refuse)
    assert await store.get_message(app().id, made.id, "m2") is None
    assert [m.id for m in await store.history(app().id, made.id)] == ["m1"]
    assert (await store.add_message(message("m3"), nothing)).seq == 2  # type: ignore[union-attr]


async def test_a_deleted_messages_seq_is_never_given_again(store: Store) -> None:
    """delete_message returns the message as it was, once; the next message's seq follows
    the deleted one's, even when the newest was deleted."""
    made = await with_channel(store)
    for n in range(1, 4):
        await store.add_message(message(f"m{n}"), nothing)
    gone = await store.delete_message(app().id, made.id, "m3")
    assert gone == dataclasses.replace(message("m3"), seq=3)
    assert await store.delete_message(app().id, made.id, "m3") is None
    assert await store.get_message(app().id, made.id, "m3") is None
    assert (await store.add_message(message("m4"), nothing)).seq == 4  # type: ignore[union-attr]
    assert [m.seq for m in await store.history(app().id, made.id)] == [4, 2, 1]


async def test_update_message_applies_only_the_keys_given_and_keeps_its_place(
        store: Store) -> None:
    """update_message changes text, metadata, data and custom_filter as given and sets
    updated_at; seq and inserted_at stay; any other key is a ValueError that writes nothing;
    an unknown message gives None."""
    made = await with_channel(store)
    await store.add_message(message("m1"), nothing)
    changed = await store.update_message(app().id, made.id, "m1", {
        "text": "edited ✏️", "metadata": {"edited": "yes"}, "custom_filter": ("f",)}, NOW + 7)
    expected = dataclasses.replace(message("m1", text="edited ✏️", metadata={"edited": "yes"},
                                           custom_filter=("f",)), updated_at=NOW + 7, seq=1)
    assert changed == expected
    assert await store.update_message(app().id, made.id, "m1", {"data": "d"}, NOW + 8) == (
        dataclasses.replace(expected, data="d", updated_at=NOW + 8))
    for wrong in ({"seq": 9}, {"text": "x", "user_id": "bob"}, {"inserted_at": NOW}):
        with pytest.raises(ValueError):
            await store.update_message(app().id, made.id, "m1", wrong, NOW + 9)
    assert (await store.get_message(app().id, made.id, "m1")).text == "edited ✏️"  # type: ignore[union-attr]
    assert await store.update_message(app().id, made.id, "nope", {"text": "x"}, NOW) is None


async def test_history_pages_newest_first_before_a_seq(store: Store) -> None:
    """history gives the newest messages first, at most limit, those below before_seq when
    given; another channel's messages never appear."""
    made = await with_channel(store)
    await store.create_channel(channel("other"))
    for n in range(1, 8):
        await store.add_message(message(f"m{n}"), nothing)
        await store.add_message(message(f"o{n}", "other"), nothing)

    async def seqs(before: int | None) -> list[int]:
        return [m.seq for m in await store.history(app().id, made.id, before, limit=3)]
    assert await seqs(None) == [7, 6, 5]
    assert await seqs(5) == [4, 3, 2]
    assert await seqs(2) == [1]
    assert await seqs(1) == []
    assert (await store.history(app().id, made.id, limit=1))[0] == dataclasses.replace(
        message("m7"), seq=7)
    assert await store.history(app().id, "nope") == []


ODD_TEXTS = ("😀👩🏽‍💻🇫🇷", "مرحبا بالعالم", "שלום\u200f world", "<script>alert(1)</script>",
             "line 1\nline 2\r\nline 3\ttab", "  padded  ", "e\u0301 vs é", "\ufeffBOM",
             "\\' OR 1=1; --", "日本語のテキスト", "\U0010fffd", "")
"""Texts a store might mangle: emoji sequences, right-to-left scripts with marks, markup,
line endings, padding, combining and precomposed forms, a BOM, SQL, the last code points."""


async def test_text_metadata_and_filters_round_trip_exactly(store: Store) -> None:
    """Every odd text, Unicode metadata and custom_filter, and an announcement's absent user
    are stored and read back exactly, through get_message and history."""
    made = await with_channel(store)
    for n, text in enumerate(ODD_TEXTS):
        sent = message(f"m{n}", text=text, user_id=None if n % 2 else "ann",
                       metadata={"ключ": text, "emoji": "🎉"}, data=text,
                       custom_filter=(text, "b"))
        stored = await store.add_message(sent, nothing)
        assert stored == dataclasses.replace(sent, seq=n + 1)
        assert await store.get_message(app().id, made.id, f"m{n}") == stored
    history = await store.history(app().id, made.id, limit=100)
    assert [m.text for m in reversed(history)] == list(ODD_TEXTS)
    assert [m.user_id for m in reversed(history)][:2] == ["ann", None]


async def test_get_users_finds_the_apps_users_among_many_ids(store: Store) -> None:
    """get_users returns the app's users among the IDs by ID, leaving out unknown IDs and
    other apps' users; no IDs give no users, 1,000 IDs are answered whole."""
    await with_user(store, "ann")
    await store.create_user(User(app().id, "bob", "Bob", created_at=NOW, updated_at=NOW), None)
    await store.create_app(app("1000000000000000002"), b"o" * 32)
    await store.get_or_create_user("1000000000000000002", "cy", NOW)
    assert await store.get_users(app().id, []) == {}
    assert await store.get_users(app().id, ["bob"]) == {
        "bob": await store.get_user(app().id, "bob")}
    asked = [f"u{n}" for n in range(997)] + ["ann", "bob", "cy"]
    found = await store.get_users(app().id, asked)
    assert found == {"ann": await store.get_user(app().id, "ann"),
                     "bob": User(app().id, "bob", "Bob", created_at=NOW, updated_at=NOW)}


async def test_set_last_seen_is_read_wherever_a_user_is(store: Store) -> None:
    """set_last_seen's time comes back on the user from every read that returns users:
    get_user, find_token, search_users, get_users, list_participants, get_or_create_user
    and update_user; an unknown user is no error."""
    made = await with_channel(store)
    await store.add_token(token("t1", "ann", mac=b"m" * 32))
    await store.add_participant(Participant(app().id, made.id, "ann", NOW), 5)
    assert (await store.get_user(app().id, "ann")).last_seen_at is None  # type: ignore[union-attr]
    await store.set_last_seen(app().id, "ann", NOW + 30)
    await store.set_last_seen(app().id, "nobody", NOW + 30)
    seen = await store.get_user(app().id, "ann")
    assert seen is not None and seen.last_seen_at == NOW + 30
    found = await store.find_token(app().id, "ann", b"m" * 32)
    assert found is not None and found[0] == seen
    assert await store.search_users(app().id, "a") == [seen]
    assert await store.get_users(app().id, ["ann"]) == {"ann": seen}
    assert await store.list_participants(app().id, made.id) == [seen]
    assert await store.get_or_create_user(app().id, "ann", NOW + 40) == seen
    updated = await store.update_user(app().id, "ann", {"data": "x"}, NOW + 50)
    assert updated is not None and updated[0].last_seen_at == NOW + 30


# group channels: members, caps, read state and each user's list


def group(channel_id: str, *members: str, distinct: bool = False, at: float = NOW,
          **fields: Any) -> Channel:
    """A group channel made (and active) at ``at``, with the key of ``members`` if
    ``distinct``."""
    return Channel(app().id, channel_id, GROUP_CHANNEL, created_at=at, updated_at=at,
                   is_distinct=distinct, distinct_key=distinct_key(members) if distinct else None,
                   active_at=at, **fields)


def member(channel_id: str, user_id: str, status: str = ACCEPTED, **fields: Any) -> Participant:
    return Participant(app().id, channel_id, user_id, NOW, status, **fields)


async def with_users(store: Store, *user_ids: str) -> None:
    """The app and its users: ``ann`` and ``user_ids``."""
    await with_user(store, "ann")
    for user_id in user_ids:
        await store.create_user(User(app().id, user_id, created_at=NOW, updated_at=NOW), None)


async def make_group(store: Store, channel_id: str, *members: str, invited: tuple[str, ...] = (),
                     distinct: bool = False, at: float = NOW) -> Channel:
    """A new group channel of ``members``, those in ``invited`` invited, the rest accepted."""
    made, created = await store.create_group_channel(
        group(channel_id, *members, distinct=distinct, at=at),
        [member(channel_id, user_id, INVITED if user_id in invited else ACCEPTED)
         for user_id in members])
    assert created
    return made


async def post(store: Store, channel_id: str, message_id: str, user_id: str | None = "ann",
               at: float = NOW) -> Message:
    stored = await store.add_message(dataclasses.replace(
        message(message_id, channel_id, user_id=user_id), inserted_at=at, updated_at=at),
        nothing)
    assert stored is not None
    return stored


async def listed(store: Store, user_id: str = "ann", **options: Any) -> list[str]:
    """The IDs of one page of the user's group channels."""
    return [mine.channel.id for mine in await store.my_channels(app().id, user_id,
                                                                GROUP_CHANNEL, **options)]


async def unread(store: Store, channel_id: str, user_id: str) -> int:
    (mine,) = await store.my_channels(app().id, user_id, GROUP_CHANNEL,
                                      channel_ids=[channel_id])
    return mine.unread


async def test_racing_distinct_creates_of_one_set_make_one_channel(store: Store) -> None:
    """20 concurrent distinct creates of one set of members, each naming them in its own
    order under its own channel ID, make one channel with each member once: one create
    gets True, and every create gets that channel."""
    await with_users(store, "bob", "cy")
    orders = list(itertools.permutations(("ann", "bob", "cy")))

    async def create(n: int) -> tuple[Channel, bool]:
        users = orders[n % len(orders)]
        return await store.create_group_channel(group(f"g{n:02}", *users, distinct=True),
                                                [member(f"g{n:02}", u) for u in users])
    results = await asyncio.gather(*(create(n) for n in range(20)))
    assert [created for _, created in results].count(True) == 1
    assert all(made == results[0][0] for made, _ in results)
    (made,) = await store.list_channels(app().id, GROUP_CHANNEL)
    assert made == results[0][0] and made.participants_count == 3
    assert made.distinct_key == distinct_key(["cy", "ann", "bob", "ann"])
    assert [p.user_id for p in await store.participants_of(app().id, made.id)] == [
        "ann", "bob", "cy"]


async def test_a_distinct_create_of_a_known_set_returns_its_channel_and_changes_nothing(
        store: Store) -> None:
    """A distinct create of a set that has a channel returns that channel as it was, with
    False, storing neither its own channel nor its members; creates without the key make a
    new channel of the same set each time; a taken channel ID is a Conflict
    (CHANNEL_EXISTS) that adds no member."""
    await with_users(store, "bob", "cy")
    first = await make_group(store, "g1", "ann", "bob", distinct=True)
    again = await store.create_group_channel(
        group("g2", "bob", "ann", distinct=True, name="other"),
        [member("g2", "bob"), member("g2", "ann"), member("g2", "cy")])
    assert again == (first, False)
    assert await store.get_channel(app().id, "g2") is None
    assert await store.participant_ids(app().id, "g1") == ["ann", "bob"]
    for channel_id in ("g3", "g4"):
        plain = await make_group(store, channel_id, "ann", "bob")
        assert plain.distinct_key is None and plain.participants_count == 2
    assert [c.id for c in await store.list_channels(app().id, GROUP_CHANNEL)] == [
        "g1", "g3", "g4"]
    with pytest.raises(Conflict) as taken:
        await store.create_group_channel(group("g1", "ann", "cy", distinct=True),
                                         [member("g1", "cy")])
    assert taken.value.code == "CHANNEL_EXISTS"
    assert await store.get_channel(app().id, "g1") == first
    assert await store.get_participant(app().id, "g1", "cy") is None


async def test_a_group_channel_is_stored_with_its_members_and_their_statuses(
        store: Store) -> None:
    """create_group_channel stores the channel as given (distinct key and active_at too) and
    its members' rows as given, all counted as participants; get_participant and
    participant_ids by status read them back; a non-member has no row."""
    await with_users(store, "bob", "cy", "dee")
    given = group("g1", "ann", "bob", "cy", distinct=True, at=NOW + 3, name="Trip",
                  metadata={"k": "v"}, created_by="ann")
    made, created = await store.create_group_channel(given, [
        member("g1", "ann", read_at=NOW + 3), member("g1", "bob", INVITED),
        member("g1", "cy", INVITED)])
    assert created and made == dataclasses.replace(given, participants_count=3)
    assert await store.get_channel(app().id, "g1") == made
    assert await store.get_participant(app().id, "g1", "ann") == member("g1", "ann",
                                                                        read_at=NOW + 3)
    assert await store.get_participant(app().id, "g1", "bob") == member("g1", "bob", INVITED)
    assert await store.get_participant(app().id, "g1", "dee") is None
    assert await store.get_participant(app().id, "nope", "ann") is None
    assert await store.participant_ids(app().id, "g1", ACCEPTED) == ["ann"]
    assert sorted(await store.participant_ids(app().id, "g1", INVITED)) == ["bob", "cy"]
    assert sorted(await store.participant_ids(app().id, "g1")) == ["ann", "bob", "cy"]


async def test_the_channel_cap_counts_only_channels_of_the_joined_kind(store: Store) -> None:
    """A user in max_channels open channels still joins group channels, up to max_channels
    of them (an invitation counting too), past which a group join is TOO_MANY_CHANNELS;
    leaving an open channel makes room for an open channel only."""
    await with_users(store)
    for n in range(3):
        await store.create_channel(channel(f"o{n}"))
        await store.create_group_channel(group(f"g{n}"), [])
    for n in range(2):
        assert await store.add_participant(Participant(app().id, f"o{n}", "ann", NOW),
                                           2) == JOINED
    assert await store.add_participant(member("g0", "ann"), 2) == JOINED
    assert await store.add_participant(member("g1", "ann", INVITED), 2) == JOINED
    assert await store.add_participant(member("g2", "ann"), 2) == TOO_MANY_CHANNELS
    assert await store.add_participant(Participant(app().id, "o2", "ann", NOW),
                                       2) == TOO_MANY_CHANNELS
    await store.remove_participant(app().id, "o0", "ann")
    assert await store.add_participant(member("g2", "ann"), 2) == TOO_MANY_CHANNELS
    assert await store.add_participant(Participant(app().id, "o2", "ann", NOW), 2) == JOINED


async def test_a_create_counts_every_member_against_the_cap_and_makes_nothing_past_it(
        store: Store) -> None:
    """create_group_channel with max_channels refuses (TOO_MANY_CHANNELS, naming the user)
    a channel that would put a member past the cap of the kind, leaving no channel or row
    behind; under the cap, or for a distinct set that already has its channel, it goes on."""
    await with_users(store, "bo")
    for n in range(2):
        await make_group(store, f"g{n}", "bo", distinct=n == 0)
    with pytest.raises(Forbidden) as refused:
        await store.create_group_channel(group("g2", "ann", "bo"),
                                         [member("g2", "ann"), member("g2", "bo")], 2)
    assert refused.value.code == "TOO_MANY_CHANNELS" and "'bo'" in refused.value.message
    assert await store.get_channel(app().id, "g2") is None
    assert await store.participants_of(app().id, "g2") == []
    found, created = await store.create_group_channel(
        group("g3", "bo", distinct=True), [member("g3", "bo")], 2)
    assert (found.id, created) == ("g0", False)
    made, created = await store.create_group_channel(group("g4", "ann"),
                                                     [member("g4", "ann")], 2)
    assert created and made.participants_count == 1


async def test_twenty_racing_joins_of_a_channel_capped_at_five_join_exactly_five(
        store: Store) -> None:
    """20 users joining one channel at once with max_participants 5: exactly five are
    JOINED and the rest CHANNEL_FULL, and the channel has those five; a member's join of the
    full channel is ALREADY_JOINED, a leave makes room, and the row keeps the status given."""
    users = [f"u{n:02}" for n in range(20)]
    await with_users(store, *users)
    await store.create_group_channel(group("g"), [])
    results = await asyncio.gather(*(store.add_participant(member("g", user_id), 10, 5)
                                     for user_id in users))
    assert sorted(results) == sorted([JOINED] * 5 + [CHANNEL_FULL] * 15)
    joined = [user_id for user_id, outcome in zip(users, results) if outcome == JOINED]
    assert sorted(await store.participant_ids(app().id, "g")) == joined
    full = await store.get_channel(app().id, "g")
    assert full is not None and full.participants_count == 5
    assert await store.add_participant(member("g", joined[0]), 10, 5) == ALREADY_JOINED
    assert await store.add_participant(member("g", "ann"), 10, 5) == CHANNEL_FULL
    await store.remove_participant(app().id, "g", joined[0])
    assert await store.add_participant(member("g", "ann", INVITED), 10, 5) == JOINED
    assert await store.get_participant(app().id, "g", "ann") == member("g", "ann", INVITED)


async def test_participants_of_gives_every_row_by_user_id_with_status_and_read_state(
        store: Store) -> None:
    """participants_of returns each participant's row, status and read state included, by
    user ID in code point order; another channel's participants never appear, and an
    unknown channel has none."""
    ids = ("Bo", "_z", "ann", "bo", "é")
    await with_users(store, *(i for i in ids if i != "ann"))
    await make_group(store, "g", *reversed(ids), invited=("_z",))
    await make_group(store, "h", "bo")
    await post(store, "g", "m1")
    await store.mark_read(app().id, "g", "bo", NOW + 5)
    assert await store.participants_of(app().id, "g") == [
        member("g", "Bo"), member("g", "_z", INVITED), member("g", "ann"),
        member("g", "bo", last_read_seq=1, read_at=NOW + 5), member("g", "é")]
    assert await store.participants_of(app().id, "nope") == []


async def test_participants_of_channels_gives_each_channels_rows_in_one_call(
        store: Store) -> None:
    """participants_of_channels maps each named channel to what participants_of gives for
    it, leaves out channels without participants and those not named."""
    await with_users(store, "bo", "cy")
    await make_group(store, "g", "ann", "bo", invited=("cy",))
    await make_group(store, "h", "bo")
    await make_group(store, "i", "cy")
    found = await store.participants_of_channels(app().id, ["g", "h", "nope"])
    assert found == {"g": await store.participants_of(app().id, "g"),
                     "h": await store.participants_of(app().id, "h")}
    assert await store.participants_of_channels(app().id, []) == {}


async def test_accept_invite_accepts_only_the_invited_reading_up_to_the_last_seq(
        store: Store) -> None:
    """accept_invite makes an invited participant ACCEPTED with last_read_seq at the
    channel's last_seq (a deleted message's included), so nothing before it is unread; it is
    False, changing nothing, for an accepted member, a second time, a non-member and an
    unknown channel."""
    await with_users(store, "bob", "cy")
    await make_group(store, "g", "ann", "bob", invited=("bob",))
    for n in range(1, 4):
        await post(store, "g", f"m{n}")
    await store.delete_message(app().id, "g", "m3")
    assert await store.accept_invite(app().id, "g", "bob") is True
    assert await store.get_participant(app().id, "g", "bob") == member("g", "bob",
                                                                       last_read_seq=3)
    assert await unread(store, "g", "bob") == 0
    assert await store.accept_invite(app().id, "g", "bob") is False
    assert await store.accept_invite(app().id, "g", "ann") is False
    assert await store.get_participant(app().id, "g", "ann") == member("g", "ann")
    assert await store.accept_invite(app().id, "g", "cy") is False
    assert await store.accept_invite(app().id, "nope", "bob") is False
    assert await store.get_participant(app().id, "g", "cy") is None
    await post(store, "g", "m4")
    assert await unread(store, "g", "bob") == 1


async def test_mark_read_sets_the_read_state_of_an_accepted_participant_only(
        store: Store) -> None:
    """mark_read sets an accepted participant's last_read_seq to the channel's last_seq and
    read_at to now and returns the row; for an invited participant, a non-member or an
    unknown channel it is None and changes nothing."""
    await with_users(store, "bob", "cy")
    await make_group(store, "g", "ann", "bob", invited=("bob",))
    await post(store, "g", "m1")
    await post(store, "g", "m2")
    read = await store.mark_read(app().id, "g", "ann", NOW + 5)
    assert read == member("g", "ann", last_read_seq=2, read_at=NOW + 5)
    assert await store.get_participant(app().id, "g", "ann") == read
    assert await store.mark_read(app().id, "g", "bob", NOW + 6) is None
    assert await store.get_participant(app().id, "g", "bob") == member("g", "bob", INVITED)
    assert await store.mark_read(app().id, "g", "cy", NOW + 6) is None
    assert await store.mark_read(app().id, "nope", "ann", NOW + 6) is None
    await post(store, "g", "m3", "bob")
    assert await store.mark_read(app().id, "g", "ann", NOW + 7) == member(
        "g", "ann", last_read_seq=3, read_at=NOW + 7)


async def test_unread_counts_others_messages_after_the_read_state_that_still_exist(
        store: Store) -> None:
    """A participant's unread count is the channel's messages after its last_read_seq sent
    by anyone else, announcements included, never its own nor deleted ones; an invited
    participant's is 0."""
    await with_users(store, "bob", "cy")
    await make_group(store, "g", "ann", "bob", "cy", invited=("cy",))
    await post(store, "g", "m1", "ann")
    await post(store, "g", "m2", "bob")
    await post(store, "g", "m3", None)
    await post(store, "g", "m4", "ann")
    assert [await unread(store, "g", u) for u in ("ann", "bob", "cy")] == [2, 3, 0]
    await store.delete_message(app().id, "g", "m4")
    assert [await unread(store, "g", u) for u in ("ann", "bob")] == [2, 2]
    await store.mark_read(app().id, "g", "bob", NOW + 1)
    assert await unread(store, "g", "bob") == 0
    await post(store, "g", "m5", "ann")
    await post(store, "g", "m6", "bob")
    assert [await unread(store, "g", u) for u in ("ann", "bob", "cy")] == [3, 1, 0]


async def test_my_channels_puts_the_most_recently_active_first(store: Store) -> None:
    """my_channels orders the user's channels of the kind by active_at, newest first, then
    by ID in descending code point order; a new message sets its channel's active_at to its
    inserted_at and so moves it to the front; other kinds and others' channels never
    appear."""
    await with_users(store, "bob")
    for channel_id, at in (("a", NOW + 1), ("B", NOW + 1), ("c", NOW + 2), ("d", NOW + 3)):
        await make_group(store, channel_id, "ann", at=at)
    await make_group(store, "x", "bob", at=NOW + 9)
    await store.create_channel(channel("o"))
    await store.add_participant(Participant(app().id, "o", "ann", NOW + 9), 5)
    assert await listed(store) == ["d", "c", "a", "B"]
    await post(store, "B", "m1", "bob", at=NOW + 10)
    assert await listed(store) == ["B", "d", "c", "a"]
    moved = await store.get_channel(app().id, "B")
    assert moved is not None and moved.active_at == NOW + 10
    await post(store, "a", "m2", at=NOW + 11)
    assert await listed(store) == ["a", "B", "d", "c"]
    assert await listed(store, "bob") == ["x"]


async def test_my_channels_pages_by_keyset_without_repeats_or_gaps(store: Store) -> None:
    """45 channels, most sharing an active_at with others, listed in pages of 20, each after
    the last channel of the one before: pages of 20, 20 and 5 that hold every channel once,
    in order."""
    await with_users(store)
    made = [await make_group(store, f"g{n:02}", "ann", at=NOW + n % 7) for n in range(45)]
    expected = [c.id for c in sorted(made, key=lambda c: (c.active_at, c.id), reverse=True)]
    pages: list[list[str]] = []
    after: Channel | None = None
    while page := await store.my_channels(app().id, "ann", GROUP_CHANNEL, after=after):
        pages.append([mine.channel.id for mine in page])
        after = page[-1].channel
    assert [len(page) for page in pages] == [20, 20, 5]
    assert sum(pages, []) == expected


async def test_my_channels_filters_by_status_and_by_channel_ids(store: Store) -> None:
    """status keeps the channels where the user's row has it; channel_ids keeps those among
    them (unknown IDs and others' channels finding nothing, none given none); both
    combine, in the one order."""
    await with_users(store, "bob")
    await make_group(store, "g1", "ann", at=NOW + 1)
    await make_group(store, "g2", "ann", at=NOW + 2)
    await make_group(store, "g3", "ann", invited=("ann",), at=NOW + 3)
    await make_group(store, "g4", "bob", at=NOW + 4)
    assert await listed(store, status=INVITED) == ["g3"]
    assert await listed(store, status=ACCEPTED) == ["g2", "g1"]
    assert await listed(store, channel_ids=["g1", "g3", "g4", "nope"]) == ["g3", "g1"]
    assert await listed(store, channel_ids=["g1", "g3"], status=ACCEPTED) == ["g1"]
    assert await listed(store, channel_ids=[]) == []
    assert await listed(store, limit=2) == ["g3", "g2"]


async def test_my_channels_gives_each_the_users_row_and_newest_message(store: Store) -> None:
    """Each channel of my_channels comes with its participants counted, the user's own row
    and the message of the highest seq that still exists; a channel without messages has
    None."""
    await with_users(store, "bob")
    await make_group(store, "empty", "ann", "bob", at=NOW + 1)
    await make_group(store, "busy", "ann", invited=("ann",))
    await post(store, "busy", "m1", "bob", at=NOW + 2)
    newest = await post(store, "busy", "m2", None, at=NOW + 3)
    await post(store, "busy", "m3", "bob", at=NOW + 4)
    await store.delete_message(app().id, "busy", "m3")
    busy, empty = await store.my_channels(app().id, "ann", GROUP_CHANNEL)
    assert busy == MyChannel(await store.get_channel(app().id, "busy"),  # type: ignore[arg-type]
                             member("busy", "ann", INVITED), 0, newest)
    assert (busy.channel.last_seq, busy.channel.active_at) == (3, NOW + 4)
    assert empty == MyChannel(dataclasses.replace(group("empty", at=NOW + 1),
                                                  participants_count=2),
                              member("empty", "ann"), 0, None)


async def test_unread_totals_and_mark_all_read_cover_the_accepted_channels_of_a_kind(
        store: Store) -> None:
    """unread_totals sums the unread messages of the user's accepted channels of the kind
    and counts those with any; mark_all_read marks exactly those read, returns their IDs
    and leaves the rest (own messages only, invited, other kinds) as they were."""
    await with_users(store, "bob")
    await make_group(store, "g1", "ann", "bob")
    await make_group(store, "g2", "ann", "bob")
    await make_group(store, "own", "ann", "bob")
    await make_group(store, "invited", "ann", "bob", invited=("ann",))
    await store.create_channel(channel("open"))
    await store.add_participant(Participant(app().id, "open", "ann", NOW), 5)
    for channel_id, user_id in (("g1", "bob"), ("g1", None), ("g2", "bob"), ("own", "ann"),
                                ("invited", "bob"), ("open", "bob")):
        await post(store, channel_id, f"{channel_id}-{user_id}", user_id)
    assert await store.unread_totals(app().id, "ann", GROUP_CHANNEL) == (3, 2)
    assert await store.unread_totals(app().id, "ann", OPEN_CHANNEL) == (1, 1)
    assert await store.unread_totals(app().id, "bob", GROUP_CHANNEL) == (2, 2)
    assert sorted(await store.mark_all_read(app().id, "ann", GROUP_CHANNEL, NOW + 5)) == [
        "g1", "g2"]
    assert await store.get_participant(app().id, "g1", "ann") == member(
        "g1", "ann", last_read_seq=2, read_at=NOW + 5)
    assert await store.get_participant(app().id, "own", "ann") == member("own", "ann")
    assert await store.get_participant(app().id, "invited", "ann") == member(
        "invited", "ann", INVITED)
    assert await store.unread_totals(app().id, "ann", GROUP_CHANNEL) == (0, 0)
    assert await store.unread_totals(app().id, "ann", OPEN_CHANNEL) == (1, 1)
    assert await store.mark_all_read(app().id, "ann", GROUP_CHANNEL, NOW + 6) == []
    assert await store.unread_totals(app().id, "nobody", GROUP_CHANNEL) == (0, 0)


async def test_clearing_a_distinct_key_lets_the_set_have_a_new_channel(store: Store) -> None:
    """update_channel can set distinct_key to None (the channel stays distinct and keeps its
    members); a distinct create of the same set then makes a new channel with that key."""
    await with_users(store, "bob")
    first = await make_group(store, "g1", "ann", "bob", distinct=True)
    cleared = await store.update_channel(app().id, "g1", {"distinct_key": None}, NOW + 1)
    assert cleared == dataclasses.replace(first, distinct_key=None, updated_at=NOW + 1)
    second = await make_group(store, "g2", "bob", "ann", distinct=True)
    assert second.distinct_key == first.distinct_key
    assert await store.create_group_channel(group("g3", "ann", "bob", distinct=True),
                                            []) == (second, False)
    assert await store.participant_ids(app().id, "g1", ACCEPTED) == ["ann", "bob"]


# copies between stores


async def exported(store: Store) -> list[Record]:
    return [record async for record in store.export_records()]


async def test_export_then_import_gives_an_identical_store(
        new_store: Callable[[], Awaitable[Store]]) -> None:
    """Every app (with its key's hash and revocation watermark), user (with theirs and the
    last time seen), token, signing key, used session key, operator, audit entry (with its
    ID), channel (with its distinct key and last activity), participant (with its status
    and read state) and message (with its seq) exported from one store and imported into an
    empty one is read back identical, apps before their users, users before their tokens
    and channels before their participants and messages; the next audit entry's ID is above
    the imported ones, the next message's seq follows the channel's last, a deleted one's
    included, and the imported distinct key still finds its channel."""
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
    await source.create_operator(operator("root"))
    await source.create_operator(operator("Ops", NOW + 1))
    await source.set_operator_password("root", "$argon2id$new", NOW + 2)
    await source.import_records([dataclasses.replace(audit(0), id=7),
                                 dataclasses.replace(audit(1), id=40)])
    newest = await source.add_audit(audit(2))
    assert newest.id > 40
    await source.set_last_seen(app().id, "ann", NOW + 4)
    await source.create_channel(channel(name="Lobby", metadata={"k": "v"}, custom_filter=("f",),
                                        created_by="ann"))
    await source.create_channel(channel("quiet", app_id="1000000000000000002"))
    await source.add_participant(Participant(app().id, channel().id, "ann", NOW + 5), 5)
    await source.add_participant(Participant("1000000000000000002", "quiet", "bob", NOW), 5)
    for n in range(1, 4):
        await source.add_message(message(f"m{n}", user_id=None if n == 2 else "ann",
                                         text=f"hello {n} 👋"), nothing)
    await source.delete_message(app().id, channel().id, "m3")
    await make_group(source, "g", "ann", distinct=True, at=NOW + 5)
    await post(source, "g", "g1", at=NOW + 6)
    await source.mark_read(app().id, "g", "ann", NOW + 7)
    await source.create_group_channel(
        dataclasses.replace(group("invite"), app_id="1000000000000000002"),
        [Participant("1000000000000000002", "invite", "bob", NOW, INVITED)])
    records = await exported(source)
    kinds = [type(r).__name__ for r in records]
    assert kinds == (["AppRecord"] * 2 + ["User"] * 2 + ["Token"] * 3 + ["SigningKey"] * 2
                     + ["ConsumedSession"] + ["Operator"] * 2 + ["AuditEntry"] * 3
                     + ["Channel"] * 4 + ["Participant"] * 4 + ["Message"] * 3)
    assert records[-16:-11] == [operator("Ops", NOW + 1),
                                Operator("root", "$argon2id$new", NOW, NOW + 2),
                                dataclasses.replace(audit(0), id=7),
                                dataclasses.replace(audit(1), id=40), newest]
    lobby, distinct = records[-11:-9]
    assert isinstance(lobby, Channel) and lobby == await source.get_channel(app().id, lobby.id)
    assert (lobby.last_seq, lobby.participants_count) == (3, 1)
    assert distinct == dataclasses.replace(group("g", "ann", distinct=True, at=NOW + 5),
                                           participants_count=1, last_seq=1,
                                           active_at=NOW + 6)
    assert records[-6:-4] == [member("g", "ann", last_read_seq=1, read_at=NOW + 7),
                              Participant("1000000000000000002", "invite", "bob", NOW,
                                          INVITED)]
    assert records[-3:-1] == [
        dataclasses.replace(message("m1", text="hello 1 👋"), seq=1),
        dataclasses.replace(message("m2", user_id=None, text="hello 2 👋"), seq=2)]
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
    assert await target.list_operators() == await source.list_operators()
    assert await target.list_audit() == await source.list_audit()
    assert (await target.add_audit(audit(3))).id > newest.id
    assert (await target.get_user(app().id, "ann")).last_seen_at == NOW + 4  # type: ignore[union-attr]
    assert await target.get_channel(app().id, channel().id) == await source.get_channel(
        app().id, channel().id)
    assert await target.history(app().id, channel().id) == await source.history(
        app().id, channel().id)
    assert await target.participant_ids("1000000000000000002", "quiet") == ["bob"]
    assert (await target.add_message(message("m4"), nothing)).seq == 4  # type: ignore[union-attr]
    assert await target.my_channels(app().id, "ann", GROUP_CHANNEL) == await source.my_channels(
        app().id, "ann", GROUP_CHANNEL)
    assert await target.participants_of("1000000000000000002", "invite") == [
        Participant("1000000000000000002", "invite", "bob", NOW, INVITED)]
    assert await target.create_group_channel(group("g-again", "ann", distinct=True),
                                             []) == (distinct, False)


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


# SQLite's own: query plans and the migration from the previous schema


SQLITE_SEARCHES = {
    "ID prefix": ("u1", False, None, "sqlite_autoindex_users_1"),
    "ID prefix, after a user": ("u1", False, User(app().id, "u150"), "sqlite_autoindex_users_1"),
    "name prefix": ("name1", True, None, "users_by_name"),
    "name prefix, after a user": ("NAME1", True, User(app().id, "u151", "Name1"),
                                  "users_by_name"),
}


@pytest.mark.parametrize("search", list(SQLITE_SEARCHES))
async def test_sqlite_searches_users_on_an_index_in_its_order(tmp_path: Path,
                                                              search: str) -> None:
    """Each form of search_users is a search of one index whose order is the result's: no
    scan of the table, no sort of the matches (so a page costs the same with 100,000 users
    as with 100)."""
    prefix, by_name, after, index = SQLITE_SEARCHES[search]
    store = SQLiteStore(tmp_path / "plan.sqlite3")
    await store.open()
    try:
        await store.create_app(app(), b"k" * 32)
        await users_named(store, {f"u{n}": f"Name{n % 50}" for n in range(500)})
        sql, args = user_search(app().id, prefix, by_name, after, 20)
        assert await store.search_users(app().id, prefix, by_name=by_name, after=after,
                                        limit=20) != []
        plan = [row[3] for row in sqlite3.connect(store.path).execute(
            "EXPLAIN QUERY PLAN " + sql, args)]
    finally:
        await store.close()
    assert not [step for step in plan if "SCAN" in step or "TEMP B-TREE" in step], plan
    searches = [step for step in plan if "SEARCH" in step]
    assert searches and all(f"INDEX {index} (app_id=?" in step for step in searches), plan


@pytest.mark.parametrize("before_seq", [None, 250])
async def test_sqlite_reads_history_as_one_index_range_in_its_order(
        tmp_path: Path, before_seq: int | None) -> None:
    """history, first page or later, is one range of messages_by_seq read in the result's
    order: no scan of the table, no sort (a page costs the same however long the
    history)."""
    store = SQLiteStore(tmp_path / "plan.sqlite3")
    await store.open()
    try:
        await with_channel(store)
        await store.create_channel(channel("other"))
        for n in range(300):
            await store.add_message(message(f"m{n}", "other" if n % 3 else channel().id),
                                    nothing)
        sql, args = message_history(app().id, channel().id, before_seq, 20)
        assert len(await store.history(app().id, channel().id, before_seq)) == 20
        plan = [row[3] for row in sqlite3.connect(store.path).execute(
            "EXPLAIN QUERY PLAN " + sql, args)]
    finally:
        await store.close()
    bound = " AND seq<?" if before_seq is not None else ""
    assert plan == [f"SEARCH messages USING INDEX messages_by_seq (app_id=? AND channel_id=?"
                    f"{bound})"], plan


MY_CHANNEL_PAGES = {
    "first page": (None, None),
    "invited only": (INVITED, None),
    "after a channel": (None, 120),
    "accepted, after a channel": (ACCEPTED, 120),
}


@pytest.mark.parametrize("page", list(MY_CHANNEL_PAGES))
async def test_sqlite_lists_a_users_channels_from_its_own_participant_rows(
        tmp_path: Path, page: str) -> None:
    """my_channels, any page with or without a status, reads the user's participant rows as
    one range of participants_by_user, each channel and participant row by its key and
    messages by messages_by_seq: no table is scanned, so the page costs the user's channels
    and never the app's participants (here 40 users in 200 channels each)."""
    status, after_index = MY_CHANNEL_PAGES[page]
    store = SQLiteStore(tmp_path / "plan.sqlite3")
    await store.open()
    try:
        users = [f"u{n:02}" for n in range(40)]
        await with_users(store, *users)
        channels = [group(f"g{n:03}", at=NOW + n % 50) for n in range(200)]
        await store.import_records([
            *channels, *(member(c.id, user_id, INVITED if n % 3 else ACCEPTED)
                         for n, c in enumerate(channels) for user_id in ["ann", *users])])
        after = None if after_index is None else channels[after_index]
        sql, args = my_channel_page(app().id, "ann", GROUP_CHANNEL, status, after, 20)
        assert len(await store.my_channels(app().id, "ann", GROUP_CHANNEL, status=status,
                                           after=after)) == 20
        plan = [row[3] for row in sqlite3.connect(store.path).execute(
            "EXPLAIN QUERY PLAN " + sql, args)]
    finally:
        await store.close()
    assert [step for step in plan if "SCAN" in step] == ["SCAN page"], plan
    by_user = " AND status=?" if status is not None else ""
    assert (f"SEARCH p USING COVERING INDEX participants_by_user (app_id=? AND user_id=?"
            f"{by_user})") in plan, plan
    searches = [step for step in plan if step.startswith("SEARCH")]
    assert all(" (app_id=? AND " in step for step in searches), plan
    assert all("messages_by_seq" in step for step in searches
               if step.startswith(("SEARCH m ", "SEARCH x ", "SEARCH u "))), plan


def sqlite_schema(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table's columns and every index's columns (with their collations)."""
    db = sqlite3.connect(path)
    try:
        shapes: dict[str, list[tuple[object, ...]]] = {}
        for kind, name in db.execute("SELECT type, name FROM sqlite_master"
                                     " WHERE type IN ('table', 'index')"):
            pragma = "table_info" if kind == "table" else "index_xinfo"
            shapes[f"{kind} {name}"] = db.execute(f"PRAGMA {pragma}('{name}')").fetchall()
        return shapes
    finally:
        db.close()


SCHEMA_5_UNDONE = ("DROP TABLE messages; DROP TABLE participants; DROP TABLE channels;"
                   " ALTER TABLE users DROP COLUMN last_seen_at;")
"""What takes a database of schema 5 or 6 back to schema 4 (before channels and last seen)."""
SCHEMA_6_UNDONE = (
    "DROP INDEX channels_by_distinct_key; DROP INDEX participants_by_user;"
    " ALTER TABLE channels DROP COLUMN is_distinct; ALTER TABLE channels DROP COLUMN"
    " distinct_key; ALTER TABLE channels DROP COLUMN active_at; ALTER TABLE participants"
    " DROP COLUMN status; ALTER TABLE participants DROP COLUMN last_read_seq;"
    " ALTER TABLE participants DROP COLUMN read_at;"
    " CREATE INDEX participants_by_user ON participants (app_id, user_id);")
"""What takes a database of schema 6 back to schema 5 (before group channels)."""


async def test_a_schema_3_sqlite_database_migrates_to_what_a_new_one_has(
        tmp_path: Path) -> None:
    """A database of schema 3 (before operators, the audit log and the name index) opens at
    schema 6 with the same tables, columns and indexes as a new database, its apps and users
    kept and searchable by name, and operators and audit entries stored."""
    fresh = SQLiteStore(tmp_path / "fresh.sqlite3")
    await fresh.open()
    await fresh.close()
    path = tmp_path / "old.sqlite3"
    old = SQLiteStore(path)
    await old.open()
    await old.create_app(app(), b"k" * 32)
    await users_named(old, {"ann": "Ann", "bob": "Bob"})
    await old.close()
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(SCHEMA_5_UNDONE + " DROP INDEX users_by_name; DROP TABLE operators;"
                     " DROP TABLE audit; UPDATE meta SET value='3' WHERE key='schema_version';")
    db.close()
    store = SQLiteStore(path)
    await store.open()
    try:
        assert [u.id for u in await store.search_users(app().id, "a", by_name=True)] == ["ann"]
        assert await store.get_app(app().id) == app()
        await store.create_operator(operator("root"))
        assert (await store.add_audit(audit(0))).id == 1
    finally:
        await store.close()
    assert sqlite3.connect(path).execute(
        "SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("6",)
    assert sqlite_schema(path) == sqlite_schema(tmp_path / "fresh.sqlite3")


async def test_a_schema_4_sqlite_database_migrates_to_what_a_new_one_has(
        tmp_path: Path) -> None:
    """A database of schema 4 (before channels and users' last seen) opens at schema 6 with
    the same tables, columns and indexes as a new database, its apps, users, tokens,
    operators and audit entries kept, and channels, participants and messages stored."""
    fresh = SQLiteStore(tmp_path / "fresh.sqlite3")
    await fresh.open()
    await fresh.close()
    path = tmp_path / "old.sqlite3"
    old = SQLiteStore(path)
    await old.open()
    await with_user(old, "ann", token("t-ann", "ann", PROFILE_TOKEN))
    await old.create_operator(operator("root"))
    kept_audit = await old.add_audit(audit(0))
    await old.close()
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(SCHEMA_5_UNDONE + " UPDATE meta SET value='4' WHERE key='schema_version';")
    db.close()
    assert "last_seen_at" not in str(sqlite_schema(path)["table users"])
    store = SQLiteStore(path)
    await store.open()
    try:
        assert await store.get_app(app().id) == app()
        ann = await store.get_user(app().id, "ann")
        assert ann == User(app().id, "ann", created_at=NOW, updated_at=NOW)
        assert (await store.profile_token(app().id, "ann")).id == "t-ann"  # type: ignore[union-attr]
        assert await store.list_operators() == [operator("root")]
        assert await store.list_audit() == [kept_audit]
        await store.set_last_seen(app().id, "ann", NOW + 1)
        assert (await store.get_user(app().id, "ann")).last_seen_at == NOW + 1  # type: ignore[union-attr]
        await store.create_channel(channel())
        assert await store.add_participant(Participant(app().id, channel().id, "ann", NOW),
                                           5) == JOINED
        assert (await store.add_message(message("m1"), nothing)).seq == 1  # type: ignore[union-attr]
    finally:
        await store.close()
    assert sqlite3.connect(path).execute(
        "SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("6",)
    assert sqlite_schema(path) == sqlite_schema(tmp_path / "fresh.sqlite3")


async def test_a_schema_5_sqlite_database_migrates_to_what_a_new_one_has(
        tmp_path: Path) -> None:
    """A database of schema 5 (before group channels) opens at schema 6 with the same
    tables, columns and indexes as a new database: each channel active since its newest
    message (by seq, a deleted one left out), else since it was made, each participant
    accepted with nothing read, and distinct group channels made once per set."""
    fresh = SQLiteStore(tmp_path / "fresh.sqlite3")
    await fresh.open()
    await fresh.close()
    path = tmp_path / "old.sqlite3"
    old = SQLiteStore(path)
    await old.open()
    await with_channel(old, "bob")
    quiet = dataclasses.replace(channel("quiet"), created_at=NOW - 50)
    await old.create_channel(quiet)
    await old.create_channel(dataclasses.replace(channel("deleted"), created_at=NOW - 60))
    for channel_id, user_id in ((channel().id, "ann"), (channel().id, "bob"), ("quiet", "bob")):
        await old.add_participant(Participant(app().id, channel_id, user_id, NOW), 5)
    await post(old, channel().id, "m1", at=NOW + 2)
    await post(old, channel().id, "m2", "bob", at=NOW + 1)
    await post(old, "deleted", "d1", at=NOW + 3)
    await post(old, "deleted", "d2", at=NOW + 4)
    await old.delete_message(app().id, "deleted", "d2")
    await old.close()
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(SCHEMA_6_UNDONE + " UPDATE meta SET value='5' WHERE key='schema_version';")
    db.close()
    assert "active_at" not in str(sqlite_schema(path)["table channels"])
    store = SQLiteStore(path)
    await store.open()
    try:
        found = {c.id: c for c in await store.list_channels(app().id, OPEN_CHANNEL)}
        assert {c.id: c.active_at for c in found.values()} == {
            channel().id: NOW + 1, "quiet": NOW - 50, "deleted": NOW + 3}
        assert found["quiet"] == dataclasses.replace(quiet, active_at=NOW - 50,
                                                     participants_count=1)
        assert await store.participants_of(app().id, channel().id) == [
            Participant(app().id, channel().id, "ann", NOW),
            Participant(app().id, channel().id, "bob", NOW)]
        assert [mine.unread for mine in await store.my_channels(app().id, "ann",
                                                                OPEN_CHANNEL)] == [1]
        first = await make_group(store, "g1", "ann", "bob", distinct=True)
        assert await store.create_group_channel(group("g2", "bob", "ann", distinct=True),
                                                []) == (first, False)
    finally:
        await store.close()
    assert sqlite3.connect(path).execute(
        "SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("6",)
    assert sqlite_schema(path) == sqlite_schema(tmp_path / "fresh.sqlite3")
