"""SQLite implementation of the Store: one writer thread, reads on the event loop, WAL journal.

One thread owns the write connection, so writes are serialised without a lock and the event
loop never waits for a commit.  ``BEGIN IMMEDIATE`` makes each write transaction take the
write lock up front, so a second process (``serve.py apps create`` beside a running server)
waits instead of failing halfway.

Reads use a second connection, directly on the event loop.  WAL lets them run beside the
writer and see every committed write; they are single-row lookups by key from the page cache,
cheaper than the hand-off to a thread and back, which profiling showed to be the largest cost
of a login (see BENCHMARKS.md).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Collection, Sequence, TypeVar

from chatcamp_server.errors import Conflict, StorageUnavailable
from chatcamp_server.storage.demo_table import DemoTable
from chatcamp_server.storage.rows import (
    AUDIT_COLUMNS,
    AUDIT_FIELDS,
    CHANGEABLE_CHANNEL_FIELDS,
    CHANGEABLE_MESSAGE_FIELDS,
    CHANNEL_COLUMNS,
    CHANNEL_FIELDS,
    CHANNEL_SELECT,
    MESSAGE_COLUMNS,
    MESSAGE_FIELDS,
    OPERATOR_COLUMNS,
    PARTICIPANT_COLUMNS,
    PARTICIPANT_FIELDS,
    audit_from,
    audit_values,
    channel_from,
    channel_values,
    column_changes,
    message_from,
    message_values,
    my_channel_from,
    my_channel_output,
    operator_from,
    participant_from,
    participant_values,
)
from chatcamp_server.storage.store import (
    ACCEPTED,
    ALREADY_JOINED,
    CHANNEL_FULL,
    INVITED,
    JOINED,
    NO_CHANNEL,
    PREFIX_END,
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
    search_after,
    too_many_channels,
)

T = TypeVar("T")

SCHEMA_VERSION = 6
CHANNEL_TABLES = (
    "CREATE TABLE channels (app_id TEXT NOT NULL REFERENCES apps(id), id TEXT NOT NULL,"
    " kind TEXT NOT NULL, name TEXT NOT NULL DEFAULT '', avatar_url TEXT NOT NULL DEFAULT '',"
    " data TEXT NOT NULL DEFAULT '', metadata TEXT NOT NULL DEFAULT '{}',"
    " custom_filter TEXT NOT NULL DEFAULT '[]', created_by TEXT, created_at REAL NOT NULL,"
    " updated_at REAL NOT NULL, last_seq INTEGER NOT NULL DEFAULT 0,"
    " is_distinct INTEGER NOT NULL DEFAULT 0, distinct_key TEXT,"
    " active_at REAL NOT NULL DEFAULT 0, PRIMARY KEY (app_id, id))",
    "CREATE INDEX channels_by_kind ON channels (app_id, kind, id)",
    "CREATE UNIQUE INDEX channels_by_distinct_key ON channels (app_id, distinct_key)"
    " WHERE distinct_key IS NOT NULL",
    "CREATE TABLE participants (app_id TEXT NOT NULL, channel_id TEXT NOT NULL,"
    " user_id TEXT NOT NULL, joined_at REAL NOT NULL, status TEXT NOT NULL DEFAULT 'ACCEPTED',"
    " last_read_seq INTEGER NOT NULL DEFAULT 0, read_at REAL NOT NULL DEFAULT 0,"
    " PRIMARY KEY (app_id, channel_id, user_id),"
    " FOREIGN KEY (app_id, channel_id) REFERENCES channels(app_id, id) ON DELETE CASCADE,"
    " FOREIGN KEY (app_id, user_id) REFERENCES users(app_id, id))",
    "CREATE INDEX participants_by_user ON participants (app_id, user_id, status, channel_id)",
    "CREATE TABLE messages (app_id TEXT NOT NULL, channel_id TEXT NOT NULL, id TEXT NOT NULL,"
    " type TEXT NOT NULL, text TEXT NOT NULL, user_id TEXT, inserted_at REAL NOT NULL,"
    " updated_at REAL NOT NULL, metadata TEXT NOT NULL DEFAULT '{}',"
    " data TEXT NOT NULL DEFAULT '', custom_filter TEXT NOT NULL DEFAULT '[]',"
    " seq INTEGER NOT NULL, PRIMARY KEY (app_id, channel_id, id),"
    " FOREIGN KEY (app_id, channel_id) REFERENCES channels(app_id, id) ON DELETE CASCADE)",
    "CREATE UNIQUE INDEX messages_by_seq ON messages (app_id, channel_id, seq)",
)
"""Channels, their participants (their count is read, never stored) and messages, in the
order of ``seq`` per channel (``history`` is one range of ``messages_by_seq``), as a new
database makes them.  A distinct group channel's key is unique per app where set; a user's
channels are one range of ``participants_by_user`` (``my_channels``, and the cap on joins).
New columns go last, as ``ALTER TABLE ADD COLUMN`` puts them, so that a migrated database
has what a new one has."""
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS apps (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    api_key_mac BLOB NOT NULL UNIQUE,
    allowed_origins TEXT NOT NULL DEFAULT '[]',
    created_at REAL NOT NULL,
    require_access_token INTEGER NOT NULL DEFAULT 0,
    tokens_revoked_before REAL
);
CREATE TABLE IF NOT EXISTS users (
    app_id TEXT NOT NULL REFERENCES apps(id),
    id TEXT NOT NULL,
    display_name TEXT NOT NULL DEFAULT '',
    avatar_url TEXT NOT NULL DEFAULT '',
    profile_url TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL DEFAULT '',
    metadata TEXT NOT NULL DEFAULT '{}',
    check_access_token INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    tokens_revoked_before REAL,
    last_seen_at REAL,
    PRIMARY KEY (app_id, id)
);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    mac BLOB NOT NULL,
    sealed BLOB,
    created_at REAL NOT NULL,
    expires_at REAL,
    revoked_at REAL,
    FOREIGN KEY (app_id, user_id) REFERENCES users(app_id, id)
);
CREATE INDEX IF NOT EXISTS tokens_by_user ON tokens (app_id, user_id, mac);
CREATE TABLE IF NOT EXISTS signing_keys (
    id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL REFERENCES apps(id),
    sealed BLOB NOT NULL,
    created_at REAL NOT NULL,
    revoked_at REAL
);
CREATE INDEX IF NOT EXISTS signing_keys_by_app ON signing_keys (app_id);
CREATE TABLE IF NOT EXISTS revoked_sessions (id TEXT PRIMARY KEY, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS demo_kv (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS users_by_name ON users (app_id, display_name COLLATE NOCASE, id);
CREATE TABLE IF NOT EXISTS operators (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    password_changed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}',
    address TEXT NOT NULL DEFAULT ''
);
""" + "".join(f"{statement};\n" for statement in CHANNEL_TABLES)

MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: ("ALTER TABLE apps ADD COLUMN require_access_token INTEGER NOT NULL DEFAULT 0",),
    2: ("ALTER TABLE apps ADD COLUMN tokens_revoked_before REAL",
        "ALTER TABLE users ADD COLUMN tokens_revoked_before REAL",
        "CREATE TABLE signing_keys (id TEXT PRIMARY KEY, app_id TEXT NOT NULL REFERENCES"
        " apps(id), sealed BLOB NOT NULL, created_at REAL NOT NULL, revoked_at REAL)",
        "CREATE INDEX signing_keys_by_app ON signing_keys (app_id)"),
    3: ("CREATE INDEX users_by_name ON users (app_id, display_name COLLATE NOCASE, id)",
        "CREATE TABLE operators (name TEXT PRIMARY KEY, password_hash TEXT NOT NULL,"
        " created_at REAL NOT NULL, password_changed_at REAL NOT NULL)",
        "CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL,"
        " actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL DEFAULT '',"
        " detail TEXT NOT NULL DEFAULT '{}', address TEXT NOT NULL DEFAULT '')"),
    4: ("ALTER TABLE users ADD COLUMN last_seen_at REAL",
        "CREATE TABLE channels (app_id TEXT NOT NULL REFERENCES apps(id), id TEXT NOT NULL,"
        " kind TEXT NOT NULL, name TEXT NOT NULL DEFAULT '',"
        " avatar_url TEXT NOT NULL DEFAULT '', data TEXT NOT NULL DEFAULT '',"
        " metadata TEXT NOT NULL DEFAULT '{}', custom_filter TEXT NOT NULL DEFAULT '[]',"
        " created_by TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL,"
        " last_seq INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (app_id, id))",
        "CREATE INDEX channels_by_kind ON channels (app_id, kind, id)",
        "CREATE TABLE participants (app_id TEXT NOT NULL, channel_id TEXT NOT NULL,"
        " user_id TEXT NOT NULL, joined_at REAL NOT NULL,"
        " PRIMARY KEY (app_id, channel_id, user_id),"
        " FOREIGN KEY (app_id, channel_id) REFERENCES channels(app_id, id) ON DELETE CASCADE,"
        " FOREIGN KEY (app_id, user_id) REFERENCES users(app_id, id))",
        "CREATE INDEX participants_by_user ON participants (app_id, user_id)",
        "CREATE TABLE messages (app_id TEXT NOT NULL, channel_id TEXT NOT NULL,"
        " id TEXT NOT NULL, type TEXT NOT NULL, text TEXT NOT NULL, user_id TEXT,"
        " inserted_at REAL NOT NULL, updated_at REAL NOT NULL,"
        " metadata TEXT NOT NULL DEFAULT '{}', data TEXT NOT NULL DEFAULT '',"
        " custom_filter TEXT NOT NULL DEFAULT '[]', seq INTEGER NOT NULL,"
        " PRIMARY KEY (app_id, channel_id, id), FOREIGN KEY (app_id, channel_id)"
        " REFERENCES channels(app_id, id) ON DELETE CASCADE)",
        "CREATE UNIQUE INDEX messages_by_seq ON messages (app_id, channel_id, seq)"),
    5: ("ALTER TABLE channels ADD COLUMN is_distinct INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE channels ADD COLUMN distinct_key TEXT",
        "ALTER TABLE channels ADD COLUMN active_at REAL NOT NULL DEFAULT 0",
        "UPDATE channels SET active_at=coalesce((SELECT m.inserted_at FROM messages m"
        " WHERE m.app_id=channels.app_id AND m.channel_id=channels.id"
        " ORDER BY m.seq DESC LIMIT 1), created_at)",
        "CREATE UNIQUE INDEX channels_by_distinct_key ON channels (app_id, distinct_key)"
        " WHERE distinct_key IS NOT NULL",
        "ALTER TABLE participants ADD COLUMN status TEXT NOT NULL DEFAULT 'ACCEPTED'",
        "ALTER TABLE participants ADD COLUMN last_read_seq INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE participants ADD COLUMN read_at REAL NOT NULL DEFAULT 0",
        "DROP INDEX participants_by_user",
        "CREATE INDEX participants_by_user ON participants"
        " (app_id, user_id, status, channel_id)"),
}
"""version → the statements that bring a database of that version to the next one.  Each
is the schema as it was then, never edited after: migration 4 makes the channel tables of
schema 5, which migration 5 extends for group channels (a channel's ``active_at`` from its
newest message, else its creation)."""

USER_COLUMNS = (
    "app_id, id, display_name, avatar_url, profile_url, data, metadata, check_access_token,"
    " created_at, updated_at, tokens_revoked_before, last_seen_at"
)
TOKEN_COLUMNS = "id, app_id, user_id, kind, mac, sealed, created_at, expires_at, revoked_at"
APP_COLUMNS = ("id, name, allowed_origins, created_at, require_access_token,"
               " tokens_revoked_before")
KEY_COLUMNS = "id, app_id, sealed, created_at, revoked_at"
_USER_WIDTH = len(USER_COLUMNS.split(","))
TOKEN_LOGIN_QUERY = (
    "SELECT " + ", ".join([f"u.{c.strip()}" for c in USER_COLUMNS.split(",")]
                          + [f"t.{c.strip()}" for c in TOKEN_COLUMNS.split(",")])
    + " FROM tokens t JOIN users u ON u.app_id=t.app_id AND u.id=t.user_id"
    " WHERE t.app_id=? AND t.user_id=? AND t.mac=? ORDER BY t.revoked_at IS NULL DESC LIMIT 1"
)
"""A token and its user in one lookup, built once: it runs on every token login."""
SQL_VARIABLES = 900
"""IDs per ``IN (...)`` query: SQLite builds before 3.32 allow at most 999 variables."""
_BY_NAME = "display_name COLLATE NOCASE"


def user_search(app_id: str, prefix: str, by_name: bool, after: User | None,
                limit: int) -> tuple[str, tuple[Any, ...]]:
    """``search_users``'s statement and arguments, apart so a test can ask SQLite for its
    plan.  Each is a range of one index, entered at the page's start: the primary key for
    IDs, ``users_by_name`` for names, whose NOCASE folds ASCII letters only.  A page after a
    name is a union, merged in index order: the rest of that name (by ID), then the names
    past it; SQLite enters an index at a row value only when its first column is the range,
    and scanning the name's earlier IDs would cost as many rows as pages before."""
    start = search_after(prefix, by_name, after)
    select = f"SELECT {USER_COLUMNS} FROM users WHERE app_id=?"
    if not by_name:
        if start is None:
            return (f"{select} AND id >= ? AND id < ? ORDER BY id LIMIT ?",
                    (app_id, prefix, prefix + PREFIX_END, limit))
        return (f"{select} AND id > ? AND id < ? ORDER BY id LIMIT ?",
                (app_id, start[0], prefix + PREFIX_END, limit))
    order = f" ORDER BY {_BY_NAME}, id LIMIT ?"
    if start is None:
        return (f"{select} AND {_BY_NAME} >= ? AND {_BY_NAME} < ?{order}",
                (app_id, prefix, prefix + PREFIX_END, limit))
    return (f"{select} AND {_BY_NAME} = ? AND id > ? AND {_BY_NAME} < ?"
            f" UNION ALL {select} AND {_BY_NAME} > ? AND {_BY_NAME} < ?{order}",
            (app_id, start[0], start[1], prefix + PREFIX_END,
             app_id, start[0], prefix + PREFIX_END, limit))


def _app(row: tuple[Any, ...]) -> App:
    return App(row[0], row[1], tuple(json.loads(row[2])), row[3], bool(row[4]), row[5])


def _user(row: tuple[Any, ...]) -> User:
    return User(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6]),
                bool(row[7]), row[8], row[9], row[10], row[11])


def _token(row: tuple[Any, ...]) -> Token:
    return Token(*row)


def _key(row: tuple[Any, ...]) -> SigningKey:
    return SigningKey(*row)


INSERT_CHANNEL = (f"INSERT INTO channels ({CHANNEL_COLUMNS})"
                  f" VALUES ({', '.join('?' * len(CHANNEL_FIELDS))})")
INSERT_MESSAGE = (f"INSERT INTO messages ({MESSAGE_COLUMNS})"
                  f" VALUES ({', '.join('?' * len(MESSAGE_FIELDS))})")
INSERT_PARTICIPANT = (f"INSERT INTO participants ({PARTICIPANT_COLUMNS})"
                      f" VALUES ({', '.join('?' * len(PARTICIPANT_FIELDS))})")
INSERT_DISTINCT = (f"{INSERT_CHANNEL} ON CONFLICT (app_id, distinct_key)"
                   " WHERE distinct_key IS NOT NULL DO NOTHING")
"""A channel unless the app has one of its distinct key: the unique index decides, not a
read before the insert."""
MINE = ("FROM participants p CROSS JOIN channels c ON c.app_id=p.app_id AND c.id=p.channel_id"
        " WHERE p.app_id=:app_id AND p.user_id=:user_id AND c.kind=:kind")
"""The user's participant rows of one kind, each with its channel.  CROSS JOIN keeps
participants the outer loop, one range of ``participants_by_user``: the cost is the user's
channels, never every channel of the kind in the app."""
OTHERS_UNREAD = ("FROM messages u WHERE u.app_id=c.app_id AND u.channel_id=c.id"
                 " AND u.seq>p.last_read_seq AND u.user_id IS NOT :user_id")
"""The messages of channel ``c`` that participant ``p`` has not read: one range of
``messages_by_seq`` past the read state, the user's own left out."""


def message_history(app_id: str, channel_id: str, before_seq: int | None,
                    limit: int) -> tuple[str, tuple[Any, ...]]:
    """``history``'s statement and arguments, apart so a test can ask SQLite for its plan:
    one range of ``messages_by_seq``, read backwards from the page's start."""
    select = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE app_id=? AND channel_id=?"
    if before_seq is None:
        return f"{select} ORDER BY seq DESC LIMIT ?", (app_id, channel_id, limit)
    return (f"{select} AND seq < ? ORDER BY seq DESC LIMIT ?",
            (app_id, channel_id, before_seq, limit))


def my_channel_page(app_id: str, user_id: str, kind: str, status: str | None,
                    after: Channel | None, limit: int,
                    channel_ids: Collection[str] | None = None) -> tuple[str, dict[str, Any]]:
    """``my_channels``'s statement and arguments, apart so a test can ask SQLite for its plan.
    The inner query picks the page from the user's range of ``participants_by_user`` (the
    status a further column of it when given) and sorts only that; the outer one counts and
    finds the newest message for the page's channels alone, the subquery's LIMIT keeping
    SQLite from merging the two.  ``channel_ids`` go as one JSON array, so that no number of
    them meets the limit on variables."""
    args: dict[str, Any] = {"app_id": app_id, "user_id": user_id, "kind": kind, "limit": limit}
    where = ""
    if status is not None:
        where += " AND p.status=:status"
        args["status"] = status
    if channel_ids is not None:
        where += " AND p.channel_id IN (SELECT value FROM json_each(:channel_ids))"
        args["channel_ids"] = json.dumps(list(channel_ids))
    if after is not None:
        where += (" AND (c.active_at<:active_at"
                  " OR (c.active_at=:active_at AND c.id<:after_id))")
        args.update(active_at=after.active_at, after_id=after.id)
    order = " ORDER BY c.active_at DESC, c.id DESC"
    unread = f"CASE WHEN p.status='{INVITED}' THEN 0 ELSE (SELECT count(*) {OTHERS_UNREAD}) END"
    return (f"SELECT {my_channel_output(unread)}"
            f" FROM (SELECT c.id AS id {MINE}{where}{order} LIMIT :limit) page"
            " JOIN channels c ON c.app_id=:app_id AND c.id=page.id"
            " JOIN participants p ON p.app_id=:app_id AND p.channel_id=page.id"
            " AND p.user_id=:user_id"
            " LEFT JOIN messages m ON m.app_id=:app_id AND m.channel_id=page.id"
            " AND m.seq=(SELECT max(x.seq) FROM messages x WHERE x.app_id=:app_id"
            f" AND x.channel_id=page.id){order}", args)


class SQLiteStore(Store):
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._db: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._orders: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}
        """Per channel: the lock that keeps its messages in ``seq`` order, and how many
        callers hold or wait for it (the entry goes with the last, so idle channels cost
        nothing)."""

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            result = fn(db)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StorageUnavailable("the store is not open")
        return self._db

    # lifecycle

    def _private_files(self) -> None:
        """The database holds keyed hashes and sealed tokens: only this user may read it.
        SQLite gives the WAL and shared-memory files the database file's mode, so creating
        the database 0600 covers all three; files an older version made are tightened."""
        path = Path(self.path)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        for file in (path, Path(self.path + "-wal"), Path(self.path + "-shm")):
            if file.exists() and file.stat().st_mode & 0o077:
                file.chmod(0o600)

    def _open(self) -> None:
        try:
            if self.path != ":memory:":
                self._private_files()
        except OSError as exc:
            raise StorageUnavailable(f"cannot create the database {self.path}: "
                                     f"{exc.strerror}") from None
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                 timeout=10.0)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            fresh = db.execute("SELECT 1 FROM sqlite_master WHERE name='meta'").fetchone() is None
            if fresh:
                db.executescript(SCHEMA)
                db.execute("INSERT INTO meta VALUES ('schema_version', ?)",
                           (str(SCHEMA_VERSION),))
            version = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            while version is not None and int(version[0]) in MIGRATIONS:
                db.execute("BEGIN IMMEDIATE")
                for statement in MIGRATIONS[int(version[0])]:
                    db.execute(statement)
                db.execute("UPDATE meta SET value=? WHERE key='schema_version'",
                           (str(int(version[0]) + 1),))
                db.execute("COMMIT")
                version = db.execute("SELECT value FROM meta WHERE key='schema_version'"
                                     ).fetchone()
        except sqlite3.DatabaseError as exc:
            raise StorageUnavailable(
                f"cannot open the database {self.path}: {exc} "
                "(is it a ChatCamp database, and is no other program holding it locked?)"
            ) from None
        if version is None or int(version[0]) != SCHEMA_VERSION:
            db.close()
            raise StorageUnavailable(
                f"the database {self.path} has schema version {version and version[0]}, "
                f"this server needs {SCHEMA_VERSION}"
            )
        self._db = db
        self._reader = sqlite3.connect(self.path, isolation_level=None,
                                       check_same_thread=False, timeout=10.0)
        self._reader.execute("PRAGMA query_only=ON")

    async def open(self) -> None:
        await self._run(self._open)

    def _close(self) -> None:
        for db in (self._db, self._reader):
            if db is not None:
                db.close()
        self._db = self._reader = None

    async def close(self) -> None:
        await self._run(self._close)
        self._executor.shutdown(wait=True)

    # apps

    async def create_app(self, app: App, api_key_mac: bytes) -> App:
        def op(db: sqlite3.Connection) -> App:
            if db.execute("SELECT 1 FROM apps WHERE id=?", (app.id,)).fetchone():
                raise Conflict(f"an app with ID {app.id} already exists", "APP_EXISTS")
            if db.execute("SELECT 1 FROM apps WHERE api_key_mac=?", (api_key_mac,)).fetchone():
                raise Conflict("that API key is already used by another app", "API_KEY_IN_USE")
            db.execute("INSERT INTO apps (id, name, api_key_mac, allowed_origins, created_at,"
                       " require_access_token) VALUES (?, ?, ?, ?, ?, ?)",
                       (app.id, app.name, api_key_mac, json.dumps(list(app.allowed_origins)),
                        app.created_at, int(app.require_access_token)))
            return app
        return await self._run(self._write, op)

    async def get_app(self, app_id: str) -> App | None:
        return await self._one(f"SELECT {APP_COLUMNS} FROM apps WHERE id=?", (app_id,), _app)

    async def find_app_by_key(self, api_key_mac: bytes) -> App | None:
        return await self._one(f"SELECT {APP_COLUMNS} FROM apps WHERE api_key_mac=?",
                               (api_key_mac,), _app)

    async def list_apps(self) -> list[App]:
        return await self._all(f"SELECT {APP_COLUMNS} FROM apps ORDER BY created_at", (), _app)

    async def update_app(self, app_id: str, allowed_origins: tuple[str, ...] | None = None,
                         require_access_token: bool | None = None) -> App | None:
        def op(db: sqlite3.Connection) -> App | None:
            if allowed_origins is not None:
                db.execute("UPDATE apps SET allowed_origins=? WHERE id=?",
                           (json.dumps(list(allowed_origins)), app_id))
            if require_access_token is not None:
                db.execute("UPDATE apps SET require_access_token=? WHERE id=?",
                           (int(require_access_token), app_id))
            row = db.execute(f"SELECT {APP_COLUMNS} FROM apps WHERE id=?", (app_id,)).fetchone()
            return None if row is None else _app(row)
        return await self._run(self._write, op)

    async def replace_api_key(self, app_id: str, api_key_mac: bytes) -> App | None:
        """The column's UNIQUE constraint is the check: the only one an update of the key's
        hash can break."""
        def op(db: sqlite3.Connection) -> App | None:
            try:
                db.execute("UPDATE apps SET api_key_mac=? WHERE id=?", (api_key_mac, app_id))
            except sqlite3.IntegrityError:
                raise Conflict("that API key is already used by another app",
                               "API_KEY_IN_USE") from None
            row = db.execute(f"SELECT {APP_COLUMNS} FROM apps WHERE id=?", (app_id,)).fetchone()
            return None if row is None else _app(row)
        return await self._run(self._write, op)

    async def user_counts(self) -> dict[str, int]:
        return {row[0]: row[1] for row in self._read().execute(
            "SELECT app_id, count(*) FROM users GROUP BY app_id")}

    # users

    async def get_user(self, app_id: str, user_id: str) -> User | None:
        return await self._one(f"SELECT {USER_COLUMNS} FROM users WHERE app_id=? AND id=?",
                               (app_id, user_id), _user)

    async def get_or_create_user(self, app_id: str, user_id: str, now: float) -> User:
        existing = await self.get_user(app_id, user_id)
        if existing is not None:
            return existing

        def op(db: sqlite3.Connection) -> User:
            db.execute(
                "INSERT INTO users (app_id, id, created_at, updated_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING", (app_id, user_id, now, now))
            row = db.execute(f"SELECT {USER_COLUMNS} FROM users WHERE app_id=? AND id=?",
                             (app_id, user_id)).fetchone()
            return _user(row)
        return await self._run(self._write, op)

    async def create_user(self, user: User, token: Token | None) -> User:
        def op(db: sqlite3.Connection) -> User:
            try:
                self._insert_user(db, user)
            except sqlite3.IntegrityError:
                raise Conflict(f"user {user.id!r} already exists", "USER_EXISTS") from None
            if token is not None:
                self._insert_token(db, token)
            return user
        return await self._run(self._write, op)

    async def update_user(
        self, app_id: str, user_id: str, changes: dict[str, Any], now: float,
        new_profile_token: Token | None = None,
    ) -> tuple[User, list[str]] | None:
        def op(db: sqlite3.Connection) -> tuple[User, list[str]] | None:
            columns = dict(changes)
            if "metadata" in columns:
                columns["metadata"] = json.dumps(columns["metadata"])
            if "check_access_token" in columns:
                columns["check_access_token"] = int(columns["check_access_token"])
            columns["updated_at"] = now
            assignments = ", ".join(f"{name}=?" for name in columns)
            cursor = db.execute(f"UPDATE users SET {assignments} WHERE app_id=? AND id=?",
                                (*columns.values(), app_id, user_id))
            if cursor.rowcount == 0:
                return None
            replaced: list[str] = []
            if new_profile_token is not None:
                replaced = [row[0] for row in db.execute(
                    "SELECT id FROM tokens WHERE app_id=? AND user_id=? AND kind=?"
                    " AND revoked_at IS NULL", (app_id, user_id, PROFILE_TOKEN))]
                db.executemany("UPDATE tokens SET revoked_at=?, sealed=NULL WHERE id=?",
                               [(now, token_id) for token_id in replaced])
                self._insert_token(db, new_profile_token)
            row = db.execute(f"SELECT {USER_COLUMNS} FROM users WHERE app_id=? AND id=?",
                             (app_id, user_id)).fetchone()
            return _user(row), replaced
        return await self._run(self._write, op)

    async def search_users(self, app_id: str, prefix: str = "", *, by_name: bool = False,
                           after: User | None = None, limit: int = 50) -> list[User]:
        return await self._all(*user_search(app_id, prefix, by_name, after, limit), _user)

    @staticmethod
    def _insert_user(db: sqlite3.Connection, user: User) -> None:
        db.execute(f"INSERT INTO users ({USER_COLUMNS})"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (user.app_id, user.id, user.display_name, user.avatar_url, user.profile_url,
                    user.data, json.dumps(user.metadata), int(user.check_access_token),
                    user.created_at, user.updated_at, user.tokens_revoked_before,
                    user.last_seen_at))

    # tokens

    @staticmethod
    def _insert_token(db: sqlite3.Connection, token: Token) -> None:
        db.execute(f"INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (token.id, token.app_id, token.user_id, token.kind, token.mac, token.sealed,
                    token.created_at, token.expires_at, token.revoked_at))

    async def add_token(self, token: Token) -> None:
        await self._run(self._write, lambda db: self._insert_token(db, token))

    async def find_token(self, app_id: str, user_id: str,
                         mac: bytes) -> tuple[User, Token] | None:
        return await self._one(
            TOKEN_LOGIN_QUERY, (app_id, user_id, mac),
            lambda row: (_user(row[:_USER_WIDTH]), _token(row[_USER_WIDTH:])))

    async def get_token(self, token_id: str) -> Token | None:
        return await self._one(f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE id=?", (token_id,),
                               _token)

    async def profile_token(self, app_id: str, user_id: str) -> Token | None:
        return await self._one(
            f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE app_id=? AND user_id=? AND kind=?"
            " AND revoked_at IS NULL ORDER BY created_at DESC LIMIT 1",
            (app_id, user_id, PROFILE_TOKEN), _token)

    async def list_tokens(self, app_id: str, user_id: str) -> list[Token]:
        return await self._all(
            f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE app_id=? AND user_id=?"
            " ORDER BY created_at", (app_id, user_id), _token)

    async def revoke_tokens(
        self, app_id: str, user_id: str, now: float, token_id: str | None = None,
        issued_before: float | None = None,
    ) -> list[str]:
        def op(db: sqlite3.Connection) -> list[str]:
            query = ("SELECT id FROM tokens WHERE app_id=? AND user_id=? AND revoked_at IS NULL")
            args: tuple[Any, ...] = (app_id, user_id)
            if token_id is not None:
                query += " AND id=?"
                args += (token_id,)
            if issued_before is not None:
                query += " AND created_at < ?"
                args += (issued_before,)
            ids = [row[0] for row in db.execute(query, args)]
            db.executemany("UPDATE tokens SET revoked_at=?, sealed=NULL WHERE id=?",
                           [(now, i) for i in ids])
            if token_id is None:
                before = now if issued_before is None else issued_before
                db.execute("UPDATE users SET tokens_revoked_before=max(coalesce("
                           "tokens_revoked_before, ?), ?) WHERE app_id=? AND id=?",
                           (before, before, app_id, user_id))
            return ids
        return await self._run(self._write, op)

    async def revoke_app_tokens(self, app_id: str, issued_before: float,
                                now: float) -> list[str]:
        def op(db: sqlite3.Connection) -> list[str]:
            ids = [row[0] for row in db.execute(
                "SELECT id FROM tokens WHERE app_id=? AND revoked_at IS NULL AND created_at < ?",
                (app_id, issued_before))]
            db.executemany("UPDATE tokens SET revoked_at=?, sealed=NULL WHERE id=?",
                           [(now, i) for i in ids])
            db.execute("UPDATE apps SET tokens_revoked_before=max(coalesce("
                       "tokens_revoked_before, ?), ?) WHERE id=?",
                       (issued_before, issued_before, app_id))
            return ids
        return await self._run(self._write, op)

    # signing keys

    @staticmethod
    def _insert_key(db: sqlite3.Connection, key: SigningKey) -> None:
        db.execute(f"INSERT INTO signing_keys ({KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                   (key.id, key.app_id, key.sealed, key.created_at, key.revoked_at))

    async def add_signing_key(self, key: SigningKey, max_active: int) -> bool:
        def op(db: sqlite3.Connection) -> bool:
            active = db.execute("SELECT count(*) FROM signing_keys WHERE app_id=?"
                                " AND revoked_at IS NULL", (key.app_id,)).fetchone()[0]
            if active >= max_active:
                return False
            self._insert_key(db, key)
            return True
        return await self._run(self._write, op)

    async def list_signing_keys(self, app_id: str) -> list[SigningKey]:
        return await self._all(f"SELECT {KEY_COLUMNS} FROM signing_keys WHERE app_id=?"
                               " ORDER BY created_at, rowid", (app_id,), _key)

    async def revoke_signing_key(self, app_id: str, key_id: str,
                                 now: float) -> SigningKey | None:
        def op(db: sqlite3.Connection) -> SigningKey | None:
            if db.execute("UPDATE signing_keys SET revoked_at=? WHERE app_id=? AND id=?"
                          " AND revoked_at IS NULL", (now, app_id, key_id)).rowcount == 0:
                return None
            return _key(db.execute(f"SELECT {KEY_COLUMNS} FROM signing_keys WHERE id=?",
                                   (key_id,)).fetchone())
        return await self._run(self._write, op)

    # session keys

    async def consume_session(self, session_id: str, expires_at: float, now: float) -> bool:
        def op(db: sqlite3.Connection) -> bool:
            db.execute("DELETE FROM revoked_sessions WHERE expires_at < ?", (now,))
            return db.execute("INSERT OR IGNORE INTO revoked_sessions VALUES (?, ?)",
                              (session_id, expires_at)).rowcount == 1
        return await self._run(self._write, op)

    async def is_session_consumed(self, session_id: str) -> bool:
        return await self._one("SELECT 1 FROM revoked_sessions WHERE id=?", (session_id,),
                               lambda row: True) or False

    # checks of many live sessions at once

    async def unusable_tokens(self, token_ids: Collection[str], now: float) -> set[str]:
        wanted = set(token_ids)
        return wanted - self._among(
            "SELECT id FROM tokens WHERE id IN ({ids}) AND revoked_at IS NULL"
            " AND (expires_at IS NULL OR expires_at > ?)", wanted, after=(now,))

    async def users_requiring_token(self, app_id: str, user_ids: Collection[str]) -> set[str]:
        wanted = set(user_ids)
        return wanted - self._among(
            "SELECT id FROM users WHERE app_id=? AND id IN ({ids}) AND check_access_token=0",
            wanted, before=(app_id,))

    async def unusable_signing_keys(self, key_ids: Collection[str]) -> set[str]:
        wanted = set(key_ids)
        return wanted - self._among(
            "SELECT id FROM signing_keys WHERE id IN ({ids}) AND revoked_at IS NULL", wanted)

    async def token_watermarks(self, app_id: str, user_ids: Collection[str]) -> dict[str, float]:
        app = await self.get_app(app_id)
        app_mark = app.tokens_revoked_before if app is not None else None
        listed = list(set(user_ids))
        found: dict[str, float] = {}
        for start in range(0, len(listed), SQL_VARIABLES):
            chunk = listed[start:start + SQL_VARIABLES]
            found.update((row[0], row[1]) for row in self._read().execute(
                "SELECT id, tokens_revoked_before FROM users WHERE app_id=? AND id IN"
                f" ({','.join('?' * len(chunk))}) AND tokens_revoked_before IS NOT NULL",
                (app_id, *chunk)))
        if app_mark is not None:
            return {u: max(app_mark, found.get(u, app_mark)) for u in listed}
        return found

    async def consumed_sessions(self, session_ids: Collection[str]) -> set[str]:
        return self._among("SELECT id FROM revoked_sessions WHERE id IN ({ids})", session_ids)

    def _among(self, query: str, ids: Collection[str], before: tuple[Any, ...] = (),
               after: tuple[Any, ...] = ()) -> set[str]:
        """The IDs ``query`` returns when ``{ids}`` lists these, asked ``SQL_VARIABLES`` at a
        time."""
        listed = list(set(ids))
        found: set[str] = set()
        for start in range(0, len(listed), SQL_VARIABLES):
            chunk = listed[start:start + SQL_VARIABLES]
            found.update(row[0] for row in self._read().execute(
                query.format(ids=",".join("?" * len(chunk))), (*before, *chunk, *after)))
        return found

    # operators and their audit log

    @staticmethod
    def _insert_operator(db: sqlite3.Connection, operator: Operator) -> None:
        db.execute(f"INSERT INTO operators ({OPERATOR_COLUMNS}) VALUES (?, ?, ?, ?)",
                   (operator.name, operator.password_hash, operator.created_at,
                    operator.password_changed_at))

    async def create_operator(self, operator: Operator) -> None:
        def op(db: sqlite3.Connection) -> None:
            try:
                self._insert_operator(db, operator)
            except sqlite3.IntegrityError:
                raise Conflict(f"an operator named {operator.name!r} already exists",
                               "OPERATOR_EXISTS") from None
        await self._run(self._write, op)

    async def get_operator(self, name: str) -> Operator | None:
        return await self._one(f"SELECT {OPERATOR_COLUMNS} FROM operators WHERE name=?",
                               (name,), operator_from)

    async def list_operators(self) -> list[Operator]:
        return await self._all(f"SELECT {OPERATOR_COLUMNS} FROM operators ORDER BY name", (),
                               operator_from)

    async def delete_operator(self, name: str) -> bool:
        return await self._run(self._write, lambda db: db.execute(
            "DELETE FROM operators WHERE name=?", (name,)).rowcount == 1)

    async def set_operator_password(self, name: str, password_hash: str, now: float,
                                    replacing: str | None = None) -> bool:
        return await self._run(self._write, lambda db: db.execute(
            "UPDATE operators SET password_hash=?, password_changed_at=? WHERE name=?"
            " AND (? IS NULL OR password_hash=?)",
            (password_hash, now, name, replacing, replacing)).rowcount == 1)

    async def add_audit(self, entry: AuditEntry) -> AuditEntry:
        """AUTOINCREMENT, so an ID is never given twice, even were the newest entry deleted;
        the IDs ``import_records`` inserts raise its sequence by themselves."""
        def op(db: sqlite3.Connection) -> int:
            cursor = db.execute(f"INSERT INTO audit ({AUDIT_FIELDS}) VALUES (?, ?, ?, ?, ?, ?)",
                                audit_values(entry))
            return cursor.lastrowid or 0
        return dataclasses.replace(entry, id=await self._run(self._write, op))

    async def list_audit(self, limit: int = 100, before: int | None = None) -> list[AuditEntry]:
        if before is None:
            return await self._all(f"SELECT {AUDIT_COLUMNS} FROM audit ORDER BY id DESC"
                                   " LIMIT ?", (limit,), audit_from)
        return await self._all(f"SELECT {AUDIT_COLUMNS} FROM audit WHERE id < ?"
                               " ORDER BY id DESC LIMIT ?", (before, limit), audit_from)

    # channels, their participants and messages

    async def create_channel(self, channel: Channel) -> Channel:
        def op(db: sqlite3.Connection) -> None:
            try:
                db.execute(INSERT_CHANNEL, channel_values(channel))
            except sqlite3.IntegrityError:
                raise Conflict(f"a channel with ID {channel.id!r} already exists",
                               "CHANNEL_EXISTS") from None
        await self._run(self._write, op)
        return dataclasses.replace(channel, participants_count=0)

    async def get_channel(self, app_id: str, channel_id: str) -> Channel | None:
        return await self._one(f"{CHANNEL_SELECT} WHERE c.app_id=? AND c.id=?",
                               (app_id, channel_id), channel_from)

    async def list_channels(self, app_id: str, kind: str, after: str | None = None,
                            limit: int = 20) -> list[Channel]:
        select = f"{CHANNEL_SELECT} WHERE c.app_id=? AND c.kind=?"
        if after is None:
            return await self._all(f"{select} ORDER BY c.id LIMIT ?", (app_id, kind, limit),
                                   channel_from)
        return await self._all(f"{select} AND c.id > ? ORDER BY c.id LIMIT ?",
                               (app_id, kind, after, limit), channel_from)

    async def update_channel(self, app_id: str, channel_id: str, changes: dict[str, Any],
                             now: float) -> Channel | None:
        columns = {**column_changes(changes, CHANGEABLE_CHANNEL_FIELDS), "updated_at": now}

        def op(db: sqlite3.Connection) -> Channel | None:
            assignments = ", ".join(f"{name}=?" for name in columns)
            if db.execute(f"UPDATE channels SET {assignments} WHERE app_id=? AND id=?",
                          (*columns.values(), app_id, channel_id)).rowcount == 0:
                return None
            return channel_from(db.execute(f"{CHANNEL_SELECT} WHERE c.app_id=? AND c.id=?",
                                           (app_id, channel_id)).fetchone())
        return await self._run(self._write, op)

    async def delete_channel(self, app_id: str, channel_id: str) -> bool:
        """Its participants and messages go by ``ON DELETE CASCADE``.  It waits for a message
        being added to the channel, whose ``then`` may already have pushed it."""
        async with self._channel_order(app_id, channel_id):
            return await self._run(self._write, lambda db: db.execute(
                "DELETE FROM channels WHERE app_id=? AND id=?",
                (app_id, channel_id)).rowcount == 1)

    async def create_group_channel(self, channel: Channel, members: Sequence[Participant],
                                   max_channels: int | None = None) -> tuple[Channel, bool]:
        """Racing creates are one after the other in the writer thread, and the unique
        index would refuse a second channel of the key even from another process."""
        key = (channel.app_id, channel.id)

        def op(db: sqlite3.Connection) -> tuple[Channel, bool]:
            try:
                inserted = db.execute(INSERT_DISTINCT, channel_values(channel)).rowcount == 1
            except sqlite3.IntegrityError:
                raise Conflict(f"a channel with ID {channel.id!r} already exists",
                               "CHANNEL_EXISTS") from None
            if not inserted:
                return channel_from(db.execute(
                    f"{CHANNEL_SELECT} WHERE c.app_id=? AND c.distinct_key=?",
                    (channel.app_id, channel.distinct_key)).fetchone()), False
            if max_channels is not None:
                for member in members:
                    if db.execute(f"SELECT count(*) {MINE}", {
                            "app_id": channel.app_id, "user_id": member.user_id,
                            "kind": channel.kind}).fetchone()[0] >= max_channels:
                        raise too_many_channels(member.user_id, max_channels)
            db.executemany(INSERT_PARTICIPANT, [participant_values(m) for m in members])
            return channel_from(db.execute(f"{CHANNEL_SELECT} WHERE c.app_id=? AND c.id=?",
                                           key).fetchone()), True
        return await self._run(self._write, op)

    async def add_participant(self, participant: Participant, max_channels: int,
                              max_participants: int | None = None) -> str:
        """Atomic as every write is: the one writer thread runs the checks and the insert in
        one transaction."""
        key = (participant.app_id, participant.channel_id)

        def op(db: sqlite3.Connection) -> str:
            found = db.execute("SELECT kind FROM channels WHERE app_id=? AND id=?",
                               key).fetchone()
            if found is None:
                return NO_CHANNEL
            if db.execute("SELECT 1 FROM participants WHERE app_id=? AND channel_id=?"
                          " AND user_id=?", (*key, participant.user_id)).fetchone():
                return ALREADY_JOINED
            joined = db.execute(f"SELECT count(*) {MINE}", {
                "app_id": participant.app_id, "user_id": participant.user_id,
                "kind": found[0]}).fetchone()[0]
            if joined >= max_channels:
                return TOO_MANY_CHANNELS
            if max_participants is not None and db.execute(
                    "SELECT count(*) FROM participants WHERE app_id=? AND channel_id=?",
                    key).fetchone()[0] >= max_participants:
                return CHANNEL_FULL
            db.execute(INSERT_PARTICIPANT, participant_values(participant))
            return JOINED
        return await self._run(self._write, op)

    async def remove_participant(self, app_id: str, channel_id: str, user_id: str) -> bool:
        return await self._run(self._write, lambda db: db.execute(
            "DELETE FROM participants WHERE app_id=? AND channel_id=? AND user_id=?",
            (app_id, channel_id, user_id)).rowcount == 1)

    async def is_participant(self, app_id: str, channel_id: str, user_id: str) -> bool:
        return await self._one("SELECT 1 FROM participants WHERE app_id=? AND channel_id=?"
                               " AND user_id=?", (app_id, channel_id, user_id),
                               lambda row: True) or False

    async def get_participant(self, app_id: str, channel_id: str,
                              user_id: str) -> Participant | None:
        return await self._one(f"SELECT {PARTICIPANT_COLUMNS} FROM participants WHERE app_id=?"
                               " AND channel_id=? AND user_id=?", (app_id, channel_id, user_id),
                               participant_from)

    async def participants_of(self, app_id: str, channel_id: str) -> list[Participant]:
        return await self._all(f"SELECT {PARTICIPANT_COLUMNS} FROM participants WHERE app_id=?"
                               " AND channel_id=? ORDER BY user_id", (app_id, channel_id),
                               participant_from)

    async def participants_of_channels(self, app_id: str, channel_ids: Collection[str]
                                       ) -> dict[str, list[Participant]]:
        found: dict[str, list[Participant]] = {}
        for row in await self._all(
                f"SELECT {PARTICIPANT_COLUMNS} FROM participants WHERE app_id=?"
                " AND channel_id IN (SELECT value FROM json_each(?))"
                " ORDER BY channel_id, user_id", (app_id, json.dumps(list(channel_ids))),
                participant_from):
            found.setdefault(row.channel_id, []).append(row)
        return found

    async def accept_invite(self, app_id: str, channel_id: str, user_id: str) -> bool:
        return await self._run(self._write, lambda db: db.execute(
            f"UPDATE participants SET status='{ACCEPTED}', last_read_seq=(SELECT c.last_seq"
            " FROM channels c WHERE c.app_id=participants.app_id"
            " AND c.id=participants.channel_id)"
            f" WHERE app_id=? AND channel_id=? AND user_id=? AND status='{INVITED}'",
            (app_id, channel_id, user_id)).rowcount == 1)

    async def mark_read(self, app_id: str, channel_id: str, user_id: str,
                        now: float) -> Participant | None:
        key = (app_id, channel_id, user_id)

        def op(db: sqlite3.Connection) -> Participant | None:
            if db.execute("UPDATE participants SET last_read_seq=(SELECT c.last_seq"
                          " FROM channels c WHERE c.app_id=participants.app_id"
                          " AND c.id=participants.channel_id), read_at=?"
                          " WHERE app_id=? AND channel_id=? AND user_id=?"
                          f" AND status='{ACCEPTED}'", (now, *key)).rowcount == 0:
                return None
            return participant_from(db.execute(
                f"SELECT {PARTICIPANT_COLUMNS} FROM participants WHERE app_id=?"
                " AND channel_id=? AND user_id=?", key).fetchone())
        return await self._run(self._write, op)

    async def mark_all_read(self, app_id: str, user_id: str, kind: str,
                            now: float) -> list[str]:
        """The channels are read first, then each row updated by one prepared statement, in
        the writer's one transaction: as atomic as a single statement, without the
        RETURNING that SQLite builds before 3.35 lack."""
        def op(db: sqlite3.Connection) -> list[str]:
            ids = [row[0] for row in db.execute(
                f"SELECT c.id {MINE} AND p.status='{ACCEPTED}' AND c.last_seq>p.last_read_seq"
                f" AND EXISTS (SELECT 1 {OTHERS_UNREAD})",
                {"app_id": app_id, "user_id": user_id, "kind": kind})]
            db.executemany("UPDATE participants SET last_read_seq=(SELECT c.last_seq"
                           " FROM channels c WHERE c.app_id=participants.app_id"
                           " AND c.id=participants.channel_id), read_at=?"
                           " WHERE app_id=? AND channel_id=? AND user_id=?",
                           [(now, app_id, channel_id, user_id) for channel_id in ids])
            return ids
        return await self._run(self._write, op)

    async def my_channels(self, app_id: str, user_id: str, kind: str, *,
                          status: str | None = None, after: Channel | None = None,
                          limit: int = 20, channel_ids: Collection[str] | None = None
                          ) -> list[MyChannel]:
        return await self._all(*my_channel_page(app_id, user_id, kind, status, after, limit,
                                                channel_ids), my_channel_from)

    async def unread_totals(self, app_id: str, user_id: str, kind: str) -> tuple[int, int]:
        """A channel whose ``last_seq`` is still the user's read state is passed over
        without counting its messages."""
        row = self._read().execute(
            "SELECT coalesce(sum(n), 0), coalesce(sum(n>0), 0) FROM (SELECT"
            f" (SELECT count(*) {OTHERS_UNREAD}) AS n {MINE} AND p.status='{ACCEPTED}'"
            " AND c.last_seq>p.last_read_seq)",
            {"app_id": app_id, "user_id": user_id, "kind": kind}).fetchone()
        return row[0], row[1]

    async def list_participants(self, app_id: str, channel_id: str, after: str | None = None,
                                limit: int = 20) -> list[User]:
        users = ", ".join(f"u.{c.strip()}" for c in USER_COLUMNS.split(","))
        select = (f"SELECT {users} FROM participants p JOIN users u"
                  " ON u.app_id=p.app_id AND u.id=p.user_id WHERE p.app_id=? AND p.channel_id=?")
        if after is None:
            return await self._all(f"{select} ORDER BY p.user_id LIMIT ?",
                                   (app_id, channel_id, limit), _user)
        return await self._all(f"{select} AND p.user_id > ? ORDER BY p.user_id LIMIT ?",
                               (app_id, channel_id, after, limit), _user)

    async def participant_ids(self, app_id: str, channel_id: str,
                              status: str | None = None) -> list[str]:
        select = "SELECT user_id FROM participants WHERE app_id=? AND channel_id=?"
        if status is None:
            return await self._all(select, (app_id, channel_id), lambda row: row[0])
        return await self._all(f"{select} AND status=?", (app_id, channel_id, status),
                               lambda row: row[0])

    @asynccontextmanager
    async def _channel_order(self, app_id: str, channel_id: str) -> AsyncIterator[None]:
        """Hold the channel's order: one message of it at a time is numbered, handed to its
        ``then`` and stored.  An ``asyncio.Lock`` suffices because only this process adds
        messages to the database (the command line never does)."""
        key = (app_id, channel_id)
        lock, holders = self._orders.get(key, (asyncio.Lock(), 0))
        self._orders[key] = (lock, holders + 1)
        try:
            async with lock:
                yield
        finally:
            lock, holders = self._orders[key]
            if holders == 1:
                del self._orders[key]
            else:
                self._orders[key] = (lock, holders - 1)

    async def add_message(self, message: Message,
                          then: Callable[[Message], Awaitable[None]]) -> Message | None:
        """Numbered and handed to ``then`` first, written after: as on PostgreSQL, where the
        row commits after ``then``, nobody reads a message that ``then`` may still refuse,
        and a refusal leaves nothing to undo (no row, no ``seq`` used).  The channel's order
        is held throughout, so the ``last_seq`` read is still the last when written."""
        key = (message.app_id, message.channel_id)
        async with self._channel_order(*key):
            row = self._read().execute("SELECT last_seq FROM channels WHERE app_id=? AND id=?",
                                       key).fetchone()
            if row is None:
                return None
            if self._read().execute("SELECT 1 FROM messages WHERE app_id=? AND channel_id=?"
                                    " AND id=?", (*key, message.id)).fetchone():
                raise Conflict(f"a message with ID {message.id!r} already exists",
                               "MESSAGE_EXISTS")
            stored = dataclasses.replace(message, seq=row[0] + 1)
            await then(stored)

            def op(db: sqlite3.Connection) -> None:
                db.execute("UPDATE channels SET last_seq=?, active_at=? WHERE app_id=? AND id=?",
                           (stored.seq, stored.inserted_at, *key))
                db.execute(INSERT_MESSAGE, message_values(stored))
            await self._run(self._write, op)
            return stored

    async def get_message(self, app_id: str, channel_id: str,
                          message_id: str) -> Message | None:
        return await self._one(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE app_id=?"
                               " AND channel_id=? AND id=?", (app_id, channel_id, message_id),
                               message_from)

    async def update_message(self, app_id: str, channel_id: str, message_id: str,
                             changes: dict[str, Any], now: float) -> Message | None:
        columns = {**column_changes(changes, CHANGEABLE_MESSAGE_FIELDS), "updated_at": now}
        key = (app_id, channel_id, message_id)

        def op(db: sqlite3.Connection) -> Message | None:
            assignments = ", ".join(f"{name}=?" for name in columns)
            if db.execute(f"UPDATE messages SET {assignments} WHERE app_id=? AND channel_id=?"
                          " AND id=?", (*columns.values(), *key)).rowcount == 0:
                return None
            return message_from(db.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages"
                                           " WHERE app_id=? AND channel_id=? AND id=?",
                                           key).fetchone())
        return await self._run(self._write, op)

    async def delete_message(self, app_id: str, channel_id: str,
                             message_id: str) -> Message | None:
        key = (app_id, channel_id, message_id)

        def op(db: sqlite3.Connection) -> Message | None:
            row = db.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE app_id=?"
                             " AND channel_id=? AND id=?", key).fetchone()
            if row is None:
                return None
            db.execute("DELETE FROM messages WHERE app_id=? AND channel_id=? AND id=?", key)
            return message_from(row)
        return await self._run(self._write, op)

    async def history(self, app_id: str, channel_id: str, before_seq: int | None = None,
                      limit: int = 20) -> list[Message]:
        return await self._all(*message_history(app_id, channel_id, before_seq, limit),
                               message_from)

    async def get_users(self, app_id: str, user_ids: Collection[str]) -> dict[str, User]:
        """One query for up to ``SQL_VARIABLES`` IDs (a page of history has far fewer
        senders), more only past that."""
        listed = list(set(user_ids))
        found: dict[str, User] = {}
        for start in range(0, len(listed), SQL_VARIABLES):
            chunk = listed[start:start + SQL_VARIABLES]
            found.update((user.id, user) for user in await self._all(
                f"SELECT {USER_COLUMNS} FROM users WHERE app_id=? AND id IN"
                f" ({','.join('?' * len(chunk))})", (app_id, *chunk), _user))
        return found

    async def set_last_seen(self, app_id: str, user_id: str, when: float) -> None:
        await self._run(self._write, lambda db: db.execute(
            "UPDATE users SET last_seen_at=? WHERE app_id=? AND id=?", (when, app_id, user_id)))

    # copies between stores

    async def export_records(self) -> AsyncIterator[Record]:
        """Read through a connection of its own inside one transaction, for a snapshot that
        writes made meanwhile (a server still running) cannot tear."""
        if self.path == ":memory:":
            raise StorageUnavailable("an in-memory database cannot be exported")
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("BEGIN")
            for row in db.execute(f"SELECT {APP_COLUMNS}, api_key_mac FROM apps"
                                  " ORDER BY created_at"):
                yield AppRecord(_app(row), row[6])
            for row in db.execute(f"SELECT {USER_COLUMNS} FROM users"):
                yield _user(row)
            for row in db.execute(f"SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY rowid"):
                yield _token(row)
            for row in db.execute(f"SELECT {KEY_COLUMNS} FROM signing_keys ORDER BY rowid"):
                yield _key(row)
            for row in db.execute("SELECT id, expires_at FROM revoked_sessions"):
                yield ConsumedSession(*row)
            for row in db.execute(f"SELECT {OPERATOR_COLUMNS} FROM operators ORDER BY name"):
                yield operator_from(row)
            for row in db.execute(f"SELECT {AUDIT_COLUMNS} FROM audit ORDER BY id"):
                yield audit_from(row)
            for row in db.execute(f"{CHANNEL_SELECT} ORDER BY c.app_id, c.id"):
                yield channel_from(row)
            for row in db.execute(f"SELECT {PARTICIPANT_COLUMNS} FROM participants"
                                  " ORDER BY app_id, channel_id, user_id"):
                yield participant_from(row)
            for row in db.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages"
                                  " ORDER BY app_id, channel_id, seq"):
                yield message_from(row)
        finally:
            db.close()

    async def import_records(self, records: Sequence[Record]) -> None:
        def op(db: sqlite3.Connection) -> None:
            for record in records:
                if isinstance(record, AppRecord):
                    db.execute(f"INSERT INTO apps ({APP_COLUMNS}, api_key_mac)"
                               " VALUES (?, ?, ?, ?, ?, ?, ?)",
                               (record.app.id, record.app.name,
                                json.dumps(list(record.app.allowed_origins)),
                                record.app.created_at, int(record.app.require_access_token),
                                record.app.tokens_revoked_before, record.api_key_mac))
                elif isinstance(record, User):
                    self._insert_user(db, record)
                elif isinstance(record, Token):
                    self._insert_token(db, record)
                elif isinstance(record, SigningKey):
                    self._insert_key(db, record)
                elif isinstance(record, ConsumedSession):
                    db.execute("INSERT INTO revoked_sessions VALUES (?, ?)",
                               (record.id, record.expires_at))
                elif isinstance(record, Operator):
                    self._insert_operator(db, record)
                elif isinstance(record, Channel):
                    db.execute(INSERT_CHANNEL, channel_values(record))
                elif isinstance(record, Participant):
                    db.execute(INSERT_PARTICIPANT, participant_values(record))
                elif isinstance(record, Message):
                    db.execute(INSERT_MESSAGE, message_values(record))
                else:
                    db.execute(f"INSERT INTO audit ({AUDIT_COLUMNS})"
                               " VALUES (?, ?, ?, ?, ?, ?, ?)",
                               (*audit_values(record), record.id))
        await self._run(self._write, op)

    # helpers

    def _read(self) -> sqlite3.Connection:
        if self._reader is None:
            raise StorageUnavailable("the store is not open")
        return self._reader

    async def _one(self, sql: str, args: tuple[Any, ...], convert: Callable[[Any], T]) -> T | None:
        row = self._read().execute(sql, args).fetchone()
        return None if row is None else convert(row)

    async def _all(self, sql: str, args: tuple[Any, ...] | dict[str, Any],
                   convert: Callable[[Any], T]) -> list[T]:
        return [convert(row) for row in self._read().execute(sql, args)]


class SQLiteDemoTable(DemoTable):
    """The demo's table in the store's SQLite file, through the store's own connections."""

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store

    async def get(self, key: str) -> bytes | None:
        return await self._store._one("SELECT value FROM demo_kv WHERE key=?", (key,),
                                      lambda r: r[0])

    async def put(self, key: str, value: bytes) -> None:
        await self._store._run(self._store._write, lambda db: db.execute(
            "INSERT INTO demo_kv VALUES (?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value=excluded.value", (key, value)))

    async def add(self, key: str, value: bytes) -> bool:
        return await self._store._run(self._store._write, lambda db: db.execute(
            "INSERT INTO demo_kv VALUES (?, ?) ON CONFLICT(key) DO NOTHING",
            (key, value)).rowcount == 1)

    async def delete(self, key: str) -> None:
        await self._store._run(self._store._write, lambda db: db.execute(
            "DELETE FROM demo_kv WHERE key=?", (key,)))
