"""In-process: login decisions, token storage and session keys, on a real SQLite file, no sockets."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from chatcamp_server.apps import create_app
from chatcamp_server.errors import SESSION_KEY_INVALID, BadRequest, Conflict, NotFound
from chatcamp_server.keys import ServerKeys, load_or_create_secret
from chatcamp_server.policies import PublicOrigins
from chatcamp_server.protocol import ConnectRefused, Credentials
from chatcamp_server.sessions.auth import Authenticator
from chatcamp_server.sessions.live import LiveSessions
from chatcamp_server.settings import Limits
from chatcamp_server.storage.sqlite import SCHEMA_VERSION, SQLiteStore
from chatcamp_server.storage.store import App
from chatcamp_server.users import Users


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class World:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.db = tmp / "chat.sqlite3"
        self.keys = ServerKeys(load_or_create_secret(tmp / "secret"))
        self.store = SQLiteStore(self.db)
        self.limits = Limits()
        self.clock = Clock()
        self.live = LiveSessions()
        self.auth = Authenticator(self.store, self.keys, self.limits,
                                  PublicOrigins.default("127.0.0.1", 8000), self.clock)
        self.users = Users(self.store, self.keys, self.limits, self.live, self.clock)
        self.app: App
        self.api_key = ""

    async def login(self, **creds: Any) -> Any:
        return await self.auth.login(Credentials(**creds))

    async def refused(self, **creds: Any) -> ConnectRefused:
        with pytest.raises(ConnectRefused) as info:
            await self.login(**creds)
        return info.value


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    w = World(tmp_path)
    await w.store.open()
    w.app, w.api_key = await create_app(w.store, w.keys, w.limits, "test")
    yield w
    await w.store.close()


async def test_id_login_creates_user_once(world: World) -> None:
    """ID login auto-creates the user within its app, and logs in again as the same user."""
    first = await world.login(app_id=world.app.id, user_id="alice")
    second = await world.login(app_id=world.app.id, user_id="alice")
    assert first.user.id == second.user.id == "alice"
    assert first.session_id != second.session_id


async def test_unknown_app_is_not_found(world: World) -> None:
    """An app ID that does not exist → NOT_FOUND / App not found."""
    error = await world.refused(app_id="1234567890123456789", user_id="alice")
    assert (error.code, error.message) == ("NOT_FOUND", "App not found")


async def test_concurrent_first_logins_make_exactly_one_user(world: World) -> None:
    """50 simultaneous logins of a new ID end with one user row."""
    logins = await asyncio.gather(*(world.login(app_id=world.app.id, user_id="crowd")
                                    for _ in range(50)))
    assert {login.user.id for login in logins} == {"crowd"}
    rows = sqlite3.connect(world.db).execute(
        "SELECT count(*) FROM users WHERE id='crowd'").fetchone()
    assert rows == (1,)


async def test_token_user_needs_its_token(world: World) -> None:
    """A user created with check_access_token refuses ID login and wrong tokens."""
    created = await world.users.create(world.app, {"id": "bob", "access_token": "bobs-token-0123456"})
    assert created["access_token"] == "bobs-token-0123456"
    assert (await world.refused(app_id=world.app.id, user_id="bob")).code == "NOT_AUTHORIZED"
    wrong = await world.refused(app_id=world.app.id, user_id="bob", access_token="x" * 20)
    assert (wrong.code, wrong.message) == ("NOT_AUTHORIZED", "Invalid access token")
    login = await world.login(app_id=world.app.id, user_id="bob", access_token="bobs-token-0123456")
    assert login.access_token == "bobs-token-0123456"


async def test_token_of_one_user_does_not_open_another(world: World) -> None:
    """A valid token is bound to its user."""
    await world.users.create(world.app, {"id": "bob", "access_token": "bobs-token-0123456"})
    await world.users.create(world.app, {"id": "eve", "access_token": "eves-token-0123456"})
    error = await world.refused(app_id=world.app.id, user_id="eve",
                                access_token="bobs-token-0123456")
    assert error.message == "Invalid access token"


async def test_update_with_new_token_replaces_old(world: World) -> None:
    """users.update with access_token: the new one works, the old one is revoked."""
    await world.users.create(world.app, {"id": "bob", "access_token": "old-token-01234567"})
    view = await world.users.update(world.app, {"id": "bob", "access_token": "new-token-01234567"})
    assert view["access_token"] == "new-token-01234567"
    assert (await world.users.get(world.app, {"id": "bob"}))["access_token"] == "new-token-01234567"
    await world.login(app_id=world.app.id, user_id="bob", access_token="new-token-01234567")
    error = await world.refused(app_id=world.app.id, user_id="bob",
                                access_token="old-token-01234567")
    assert error.message == "Access token revoked"


async def test_issued_token_expires(world: World) -> None:
    """An issued token with expires_in works until then, and is refused after with its reason."""
    await world.users.create(world.app, {"id": "bob"})
    issued = await world.users.issue_token(world.app, {"id": "bob", "expires_in": 60})
    assert issued["access_token"].startswith("cct_")
    await world.login(app_id=world.app.id, user_id="bob", access_token=issued["access_token"])
    world.clock.now += 61
    error = await world.refused(app_id=world.app.id, user_id="bob",
                                access_token=issued["access_token"])
    assert error.message == "Access token expired"


async def test_secrets_never_rest_in_plaintext(world: World) -> None:
    """Neither the database file nor its WAL holds a token or API key in the clear."""
    await world.users.create(world.app, {"id": "bob", "access_token": "readable-token-987654"})
    issued = (await world.users.issue_token(world.app, {"id": "bob"}))["access_token"]
    login = await world.login(app_id=world.app.id, user_id="bob", access_token=issued)
    await world.auth.end_session(login)
    raw = b"".join(p.read_bytes() for p in world.tmp.glob("chat.sqlite3*"))
    for secret in ("readable-token-987654", issued, world.api_key, login.session_key):
        assert secret.encode() not in raw
    assert (await world.users.get(world.app, {"id": "bob"}))["access_token"] == \
        "readable-token-987654"


async def test_readable_token_is_bound_to_its_row(world: World) -> None:
    """A sealed token copied onto another user's row does not decrypt."""
    await world.users.create(world.app, {"id": "bob", "access_token": "bobs-token-0123456"})
    await world.users.create(world.app, {"id": "eve", "access_token": "eves-token-0123456"})
    await world.store.close()
    db = sqlite3.connect(world.db)
    db.execute("UPDATE tokens SET sealed=(SELECT sealed FROM tokens WHERE user_id='bob')"
               " WHERE user_id='eve'")
    db.commit()
    db.close()
    world.store = world.users.store = world.auth.store = SQLiteStore(world.db)
    await world.store.open()
    assert (await world.users.get(world.app, {"id": "eve"}))["access_token"] is None


async def test_session_key_resumes_and_is_single_use(world: World) -> None:
    """A session key resumes the same user once; replaying it is Session Key Invalid."""
    first = await world.login(app_id=world.app.id, user_id="alice")
    resumed = await world.login(session_key=first.session_key)
    assert resumed.user.id == "alice" and resumed.session_key != first.session_key
    error = await world.refused(session_key=first.session_key)
    assert (error.code, error.message) == ("NOT_AUTHORIZED", SESSION_KEY_INVALID)


async def test_session_key_echoes_the_token_it_rests_on(world: World) -> None:
    """Resuming a token session echoes the token, so the SDK still has it for a fallback."""
    issued = await world.users.issue_token(
        world.app, {"id": (await world.users.create(world.app, {"id": "bob"}))["user"]["id"]})
    first = await world.login(app_id=world.app.id, user_id="bob",
                              access_token=issued["access_token"])
    resumed = await world.login(session_key=first.session_key)
    assert resumed.access_token == issued["access_token"]


@pytest.mark.parametrize("mutate", ["expire", "other_app", "ended", "garbage", "tampered"])
async def test_stale_session_keys_are_session_key_invalid(world: World, mutate: str) -> None:
    """Expired, foreign-app, ended, garbage or tampered keys → Session Key Invalid."""
    login = await world.login(app_id=world.app.id, user_id="alice")
    key, creds = login.session_key, {}
    if mutate == "expire":
        world.clock.now += world.limits.session_key_ttl + 1
    elif mutate == "other_app":
        other, _ = await create_app(world.store, world.keys, world.limits, "other")
        creds = {"app_id": other.id}
    elif mutate == "ended":
        await world.auth.end_session(login)
    elif mutate == "garbage":
        key = "ccs_" + "A" * 40
    else:
        key = key[:-2] + ("AA" if key[-2:] != "AA" else "BB")
    error = await world.refused(session_key=key, **creds)
    assert (error.code, error.message) == ("NOT_AUTHORIZED", SESSION_KEY_INVALID)


async def test_revoked_token_stops_its_session_key(world: World) -> None:
    """After its token is revoked, a session key is refused with a stopping reason."""
    await world.users.create(world.app, {"id": "bob", "access_token": "bobs-token-0123456"})
    login = await world.login(app_id=world.app.id, user_id="bob", access_token="bobs-token-0123456")
    await world.users.revoke_tokens(world.app, {"id": "bob"})
    error = await world.refused(session_key=login.session_key)
    assert (error.code, error.message) == ("NOT_AUTHORIZED", "Access token revoked")


async def test_user_management_errors(world: World) -> None:
    """Duplicate create → Conflict; unknown user → NotFound; short token → BadRequest."""
    await world.users.create(world.app, {"id": "bob"})
    with pytest.raises(Conflict):
        await world.users.create(world.app, {"id": "bob"})
    with pytest.raises(NotFound):
        await world.users.get(world.app, {"id": "nobody"})
    with pytest.raises(BadRequest, match="16-512"):
        await world.users.create(world.app, {"id": "carl", "access_token": "short"})


async def test_app_with_existing_chatcamp_ids(world: World) -> None:
    """An integrator keeps their app ID and API key; taken ones are refused."""
    app, key = await create_app(world.store, world.keys, world.limits, "moved",
                                "6346990561630613504", "their-old-api-key-123")
    assert (app.id, key) == ("6346990561630613504", "their-old-api-key-123")
    assert (await world.auth.app_for_api_key("their-old-api-key-123")) == app
    with pytest.raises(Conflict):
        await create_app(world.store, world.keys, world.limits, "again", "6346990561630613504")
    with pytest.raises(Conflict):
        await create_app(world.store, world.keys, world.limits, "dup", None, "their-old-api-key-123")


async def test_policies_refuse_id_login_and_foreign_origins(world: World) -> None:
    """require_access_token refuses ID login before any user is made; allowed origins refuse
    other pages but not the server's own page nor origin-less clients."""
    from chatcamp_server.sessions.auth import Client

    world.auth.public = PublicOrigins.of(["http://chat.local"])
    await world.store.update_app(world.app.id, ("https://shop.example",), True)
    world.auth.forget_app(world.app.id)
    error = await world.refused(app_id=world.app.id, user_id="walk-in")
    assert error.message == "This app requires an access token"
    assert await world.store.get_user(world.app.id, "walk-in") is None
    await world.store.update_app(world.app.id, require_access_token=False)
    world.auth.forget_app(world.app.id)
    creds = Credentials(app_id=world.app.id, user_id="page-user")
    for origin in ("https://shop.example", "http://chat.local", None):
        await world.auth.login(creds, Client("1.2.3.4", origin))
    with pytest.raises(ConnectRefused) as refused:
        await world.auth.login(creds, Client("1.2.3.4", "https://evil.example"))
    assert refused.value.message == "Origin https://evil.example is not allowed for this app"


async def test_schema_1_database_is_migrated(tmp_path: Path) -> None:
    """A database from before app policies opens, keeps its apps and users, and gains the
    columns and the table of every later version (policies, signing keys, watermarks)."""
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '1');
        CREATE TABLE apps (id TEXT PRIMARY KEY, name TEXT NOT NULL,
            api_key_mac BLOB NOT NULL UNIQUE, allowed_origins TEXT NOT NULL DEFAULT '[]',
            created_at REAL NOT NULL);
        INSERT INTO apps VALUES ('1234567890123456789', 'old', x'00', '[]', 1.0);
        CREATE TABLE users (app_id TEXT NOT NULL REFERENCES apps(id), id TEXT NOT NULL,
            display_name TEXT NOT NULL DEFAULT '', avatar_url TEXT NOT NULL DEFAULT '',
            profile_url TEXT NOT NULL DEFAULT '', data TEXT NOT NULL DEFAULT '',
            metadata TEXT NOT NULL DEFAULT '{}', check_access_token INTEGER NOT NULL DEFAULT 0,
            created_at REAL NOT NULL, updated_at REAL NOT NULL, PRIMARY KEY (app_id, id));
        INSERT INTO users (app_id, id, created_at, updated_at)
            VALUES ('1234567890123456789', 'ann', 1.0, 1.0);
    """)
    old.close()
    store = SQLiteStore(path)
    await store.open()
    try:
        app = await store.get_app("1234567890123456789")
        assert app is not None and app.name == "old" and app.require_access_token is False
        updated = await store.update_app(app.id, require_access_token=True)
        assert updated is not None and updated.require_access_token is True
        assert app.tokens_revoked_before is None
        user = await store.get_user(app.id, "ann")
        assert user is not None and user.tokens_revoked_before is None
        assert await store.list_signing_keys(app.id) == []
    finally:
        await store.close()
    assert sqlite3.connect(path).execute(
        "SELECT value FROM meta WHERE key='schema_version'").fetchone() == (str(SCHEMA_VERSION),)


async def test_a_session_key_resumes_once_even_when_raced(world: World) -> None:
    """Two resumes with one key at the same moment: exactly one succeeds."""
    first = await world.login(app_id=world.app.id, user_id="racer")
    results = await asyncio.gather(world.login(session_key=first.session_key),
                                   world.login(session_key=first.session_key),
                                   return_exceptions=True)
    assert sum(not isinstance(r, Exception) for r in results) == 1
    refused = [r for r in results if isinstance(r, ConnectRefused)]
    assert [r.message for r in refused] == [SESSION_KEY_INVALID]
