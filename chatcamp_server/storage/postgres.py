"""PostgreSQL implementation of the Store, for cluster mode: every node shares one database.

asyncpg with a connection pool: it measured faster and cheaper in CPU than psycopg 3 on the
two queries of a login (BENCHMARKS.md, "PostgreSQL drivers").  Each method is one statement
where one suffices, because every round trip is latency on a login; the statements are
prepared once per connection by asyncpg's statement cache.

A dead database must fail fast and name itself: connecting gives up after
``CONNECT_TIMEOUT`` and a statement after ``COMMAND_TIMEOUT``, and every lost connection,
refusal or timeout leaves a method as ``StorageUnavailable`` (the web layer answers 503 or a
retryable error ack), never as a driver exception.  The pool drops a broken connection and
opens a new one at the next call, so the same store works again once PostgreSQL is back.
The URL's password appears in no message.

The schema is an ordered list of migrations, applied at ``open()`` in one transaction under
an advisory lock, so nodes that start together migrate once and all see the result.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Awaitable, Callable, Collection, Sequence, TypeVar
from urllib.parse import parse_qs, urlsplit

import asyncpg  # type: ignore[import-untyped]

from chatcamp_server.errors import Conflict, StorageUnavailable
from chatcamp_server.storage.demo_table import DemoTable
from chatcamp_server.storage.rows import (
    AUDIT_COLUMNS,
    AUDIT_FIELDS,
    CHANGEABLE_CHANNEL_FIELDS,
    CHANGEABLE_MESSAGE_FIELDS,
    CHANNEL_COLUMNS,
    CHANNEL_FIELDS,
    CHANNEL_OUTPUT,
    CHANNEL_SELECT,
    MESSAGE_COLUMNS,
    MESSAGE_FIELDS,
    OPERATOR_COLUMNS,
    PARTICIPANT_COLUMNS,
    PARTICIPANT_FIELDS,
    PARTICIPANT_OUTPUT,
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
    operator_values,
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
    name_key,
    search_after,
    too_many_channels,
)

T = TypeVar("T")

CONNECT_TIMEOUT = 2.0
"""Seconds to open a connection: a database that does not answer is reported, not waited on."""
COMMAND_TIMEOUT = 5.0
"""Seconds for one statement, and for a free connection from a busy pool."""
MIGRATION_LOCK = 0x6368_6174_6361_6D70
"""The advisory lock key that serialises migrations between nodes ("chatcamp")."""

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE apps (
        id text PRIMARY KEY,
        name text NOT NULL,
        api_key_mac bytea NOT NULL CONSTRAINT apps_api_key_unique UNIQUE,
        allowed_origins text[] NOT NULL DEFAULT '{}',
        created_at double precision NOT NULL,
        require_access_token boolean NOT NULL DEFAULT false
    );
    CREATE TABLE users (
        app_id text NOT NULL REFERENCES apps (id),
        id text NOT NULL,
        display_name text NOT NULL DEFAULT '',
        avatar_url text NOT NULL DEFAULT '',
        profile_url text NOT NULL DEFAULT '',
        data text NOT NULL DEFAULT '',
        metadata text NOT NULL DEFAULT '{}',
        check_access_token boolean NOT NULL DEFAULT false,
        created_at double precision NOT NULL,
        updated_at double precision NOT NULL,
        CONSTRAINT users_pkey PRIMARY KEY (app_id, id)
    );
    CREATE TABLE tokens (
        id text PRIMARY KEY,
        app_id text NOT NULL,
        user_id text NOT NULL,
        kind text NOT NULL,
        mac bytea NOT NULL,
        sealed bytea,
        created_at double precision NOT NULL,
        expires_at double precision,
        revoked_at double precision,
        FOREIGN KEY (app_id, user_id) REFERENCES users (app_id, id)
    );
    CREATE INDEX tokens_by_user ON tokens (app_id, user_id, mac);
    CREATE TABLE revoked_sessions (id text PRIMARY KEY, expires_at double precision NOT NULL);
    CREATE INDEX revoked_sessions_by_expiry ON revoked_sessions (expires_at);
    CREATE TABLE demo_kv (key text PRIMARY KEY, value bytea NOT NULL);
    """,
    """
    ALTER TABLE apps ADD COLUMN tokens_revoked_before double precision;
    ALTER TABLE users ADD COLUMN tokens_revoked_before double precision;
    CREATE TABLE signing_keys (
        id text PRIMARY KEY,
        app_id text NOT NULL REFERENCES apps (id),
        sealed bytea NOT NULL,
        created_at double precision NOT NULL,
        revoked_at double precision
    );
    CREATE INDEX signing_keys_by_app ON signing_keys (app_id);
    """,
    """
    CREATE TABLE operators (
        name text PRIMARY KEY,
        password_hash text NOT NULL,
        created_at double precision NOT NULL,
        password_changed_at double precision NOT NULL
    );
    CREATE TABLE audit (
        id bigserial PRIMARY KEY,
        at double precision NOT NULL,
        actor text NOT NULL,
        action text NOT NULL,
        target text NOT NULL DEFAULT '',
        detail text NOT NULL DEFAULT '{}',
        address text NOT NULL DEFAULT ''
    );
    CREATE INDEX users_by_id ON users (app_id, id COLLATE "C");
    CREATE INDEX users_by_name ON users (app_id, (translate(display_name,
        'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')) COLLATE "C",
        id COLLATE "C");
    """,
    """
    ALTER TABLE users ADD COLUMN last_seen_at double precision;
    CREATE TABLE channels (
        app_id text NOT NULL REFERENCES apps (id),
        id text NOT NULL,
        kind text NOT NULL,
        name text NOT NULL DEFAULT '',
        avatar_url text NOT NULL DEFAULT '',
        data text NOT NULL DEFAULT '',
        metadata text NOT NULL DEFAULT '{}',
        custom_filter text NOT NULL DEFAULT '[]',
        created_by text,
        created_at double precision NOT NULL,
        updated_at double precision NOT NULL,
        last_seq bigint NOT NULL DEFAULT 0,
        CONSTRAINT channels_pkey PRIMARY KEY (app_id, id)
    );
    CREATE INDEX channels_by_kind ON channels (app_id, kind, id COLLATE "C");
    CREATE TABLE participants (
        app_id text NOT NULL,
        channel_id text NOT NULL,
        user_id text NOT NULL,
        joined_at double precision NOT NULL,
        PRIMARY KEY (app_id, channel_id, user_id),
        FOREIGN KEY (app_id, channel_id) REFERENCES channels (app_id, id) ON DELETE CASCADE,
        FOREIGN KEY (app_id, user_id) REFERENCES users (app_id, id)
    );
    CREATE INDEX participants_by_user ON participants (app_id, user_id);
    CREATE INDEX participants_in_order ON participants (app_id, channel_id, user_id COLLATE "C");
    CREATE TABLE messages (
        app_id text NOT NULL,
        channel_id text NOT NULL,
        id text NOT NULL,
        type text NOT NULL,
        text text NOT NULL,
        user_id text,
        inserted_at double precision NOT NULL,
        updated_at double precision NOT NULL,
        metadata text NOT NULL DEFAULT '{}',
        data text NOT NULL DEFAULT '',
        custom_filter text NOT NULL DEFAULT '[]',
        seq bigint NOT NULL,
        CONSTRAINT messages_pkey PRIMARY KEY (app_id, channel_id, id),
        FOREIGN KEY (app_id, channel_id) REFERENCES channels (app_id, id) ON DELETE CASCADE
    );
    CREATE UNIQUE INDEX messages_by_seq ON messages (app_id, channel_id, seq);
    """,
    """
    ALTER TABLE channels ADD COLUMN is_distinct boolean NOT NULL DEFAULT false,
        ADD COLUMN distinct_key text,
        ADD COLUMN active_at double precision NOT NULL DEFAULT 0;
    UPDATE channels c SET active_at = coalesce((SELECT m.inserted_at FROM messages m
        WHERE m.app_id = c.app_id AND m.channel_id = c.id ORDER BY m.seq DESC LIMIT 1),
        c.created_at);
    CREATE UNIQUE INDEX channels_by_distinct_key ON channels (app_id, distinct_key)
        WHERE distinct_key IS NOT NULL;
    ALTER TABLE participants ADD COLUMN status text NOT NULL DEFAULT 'ACCEPTED',
        ADD COLUMN last_read_seq bigint NOT NULL DEFAULT 0,
        ADD COLUMN read_at double precision NOT NULL DEFAULT 0;
    DROP INDEX participants_by_user;
    CREATE INDEX participants_by_user ON participants (app_id, user_id, status, channel_id);
    """,
)
"""Migration N brings a database of schema version N to version N + 1; append, never edit."""
SCHEMA_VERSION = len(MIGRATIONS)

USER_FIELDS = ("app_id", "id", "display_name", "avatar_url", "profile_url", "data", "metadata",
               "check_access_token", "created_at", "updated_at", "tokens_revoked_before",
               "last_seen_at")
CHANGEABLE_USER_FIELDS = frozenset(USER_FIELDS[2:8])
"""What ``update_user`` may change: the profile and ``check_access_token``."""
USER_COLUMNS = ", ".join(USER_FIELDS)
TOKEN_COLUMNS = "id, app_id, user_id, kind, mac, sealed, created_at, expires_at, revoked_at"
APP_COLUMNS = ("id, name, allowed_origins, created_at, require_access_token,"
               " tokens_revoked_before")
KEY_COLUMNS = "id, app_id, sealed, created_at, revoked_at"
_USER_WIDTH = len(USER_FIELDS)
TOKEN_LOGIN_QUERY = (
    "SELECT " + ", ".join([f"u.{c}" for c in USER_FIELDS]
                          + [f"t.{c.strip()}" for c in TOKEN_COLUMNS.split(",")])
    + " FROM tokens t JOIN users u ON u.app_id = t.app_id AND u.id = t.user_id"
    " WHERE t.app_id = $1 AND t.user_id = $2 AND t.mac = $3"
    " ORDER BY t.revoked_at IS NULL DESC LIMIT 1"
)
"""A token and its user in one lookup, built once: it runs on every token login."""
CONSUME_SESSION = (
    "WITH gone AS (DELETE FROM revoked_sessions WHERE id IN ("
    "SELECT id FROM revoked_sessions WHERE expires_at < $3 AND id <> $1"
    " FOR UPDATE SKIP LOCKED))"
    " INSERT INTO revoked_sessions AS r VALUES ($1, $2) ON CONFLICT (id)"
    " DO UPDATE SET expires_at = excluded.expires_at WHERE r.expires_at < $3 RETURNING 1"
)
"""One round trip that forgets expired keys and marks this one used.  A racer waits on the
row another one inserted or re-armed and then finds it unexpired, so exactly one wins; the
cleanup skips rows another caller holds instead of queueing (or deadlocking) behind it."""
INSERT_TOKEN = (f"INSERT INTO tokens ({TOKEN_COLUMNS})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
INSERT_USER = (f"INSERT INTO users ({USER_COLUMNS})"
               " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")
INSERT_KEY = f"INSERT INTO signing_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
INSERT_APP = (f"INSERT INTO apps ({APP_COLUMNS}, api_key_mac)"
              " VALUES ($1, $2, $3, $4, $5, $6, $7)")
INSERT_OPERATOR = f"INSERT INTO operators ({OPERATOR_COLUMNS}) VALUES ($1, $2, $3, $4)"
INSERT_CHANNEL = (f"INSERT INTO channels ({CHANNEL_COLUMNS}) VALUES"
                  f" ({', '.join(f'${n}' for n in range(1, len(CHANNEL_FIELDS) + 1))})")
INSERT_MESSAGE = (f"INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES"
                  f" ({', '.join(f'${n}' for n in range(1, len(MESSAGE_FIELDS) + 1))})")
INSERT_PARTICIPANT = (f"INSERT INTO participants ({PARTICIPANT_COLUMNS}) VALUES"
                      f" ({', '.join(f'${n}' for n in range(1, len(PARTICIPANT_FIELDS) + 1))})")
INSERT_DISTINCT = (f"{INSERT_CHANNEL} ON CONFLICT (app_id, distinct_key)"
                   " WHERE distinct_key IS NOT NULL DO NOTHING RETURNING 1")
"""A channel unless the app has one of its distinct key.  A racer's insert waits at the
unique index for the transaction that inserted the key, then does nothing once that one
commits, so racing creates on any nodes make one channel."""
MINE = ("FROM participants p CROSS JOIN LATERAL (SELECT c.app_id, c.id, c.active_at, c.last_seq"
        " FROM channels c WHERE c.app_id = p.app_id AND c.id = p.channel_id AND c.kind = $3"
        " OFFSET 0) c WHERE p.app_id = $1 AND p.user_id = $2")
"""The user's participant rows of one kind ($3), each with its channel: a range of
``participants_by_user``, then each channel by its key.  ``OFFSET 0`` keeps the planner from
turning this into a join it may run as a scan of every channel of the app (it prices a
thousand key lookups above one pass over 50,000 rows), so the cost is the user's channels."""
OTHERS_UNREAD = ("FROM messages u WHERE u.app_id = c.app_id AND u.channel_id = c.id"
                 " AND u.seq > p.last_read_seq AND u.user_id IS DISTINCT FROM $2")
"""The messages of channel ``c`` that participant ``p`` (user $2) has not read: one range of
``messages_by_seq`` past the read state, the user's own left out."""
CHANNEL_ORDER = 'c.id COLLATE "C"'
"""Channel IDs in code point order: the last column of ``channels_by_kind``."""
PARTICIPANT_ORDER = 'p.user_id COLLATE "C"'
"""Participants by user ID in code point order: the last column of ``participants_in_order``."""
_PARTICIPANT_USERS = (
    "SELECT " + ", ".join(f"u.{c}" for c in USER_FIELDS)
    + " FROM participants p JOIN users u ON u.app_id = p.app_id AND u.id = p.user_id"
    " WHERE p.app_id = $1 AND p.channel_id = $2"
)

ID_ORDER = 'id COLLATE "C"'
"""User IDs in code point order, as SQLite's BINARY has them, whatever the database's
collation: the order of the index ``users_by_id``, so the backends page alike."""
NAME_ORDER = ("translate(display_name, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',"
              " 'abcdefghijklmnopqrstuvwxyz') COLLATE \"C\"")
"""Display names folded as SQLite's NOCASE folds them (ASCII letters only: ``name_key``), in
code point order: the expression of the index ``users_by_name``, repeated exactly so that
the planner uses it.  lower() would fold by the database's locale, and more than SQLite."""
_SEARCH = f"SELECT {USER_COLUMNS} FROM users WHERE app_id = $1 AND "
SEARCH_BY_ID = (_SEARCH + f"{ID_ORDER} >= $2 AND {ID_ORDER} < $3"
                f" ORDER BY {ID_ORDER} LIMIT $4")
SEARCH_BY_ID_AFTER = (_SEARCH + f"{ID_ORDER} > $2 AND {ID_ORDER} < $3"
                      f" ORDER BY {ID_ORDER} LIMIT $4")
SEARCH_BY_NAME = (_SEARCH + f"{NAME_ORDER} >= $2 AND {NAME_ORDER} < $3"
                  f" ORDER BY {NAME_ORDER}, {ID_ORDER} LIMIT $4")
SEARCH_BY_NAME_AFTER = (_SEARCH + f"({NAME_ORDER}, {ID_ORDER}) > ($2, $5) AND {NAME_ORDER} < $3"
                        f" ORDER BY {NAME_ORDER}, {ID_ORDER} LIMIT $4")
"""``search_users``: each one range of an index, entered at the page's start (a row
comparison after a name, so that a page far into many users of one name costs no more)."""

UNAVAILABLE = (
    OSError, asyncio.TimeoutError, asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError, asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,
    asyncpg.exceptions.InvalidCatalogNameError,
)
"""What a database that is down, restarting, overloaded or refusing us raises: a reason to
try again later, not a fault in a query."""


def _app(row: Any) -> App:
    return App(row[0], row[1], tuple(row[2]), row[3], row[4], row[5])


def _user(row: Any) -> User:
    return User(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6]), row[7],
                row[8], row[9], row[10], row[11])


def _token(row: Any) -> Token:
    return Token(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8])


def _key(row: Any) -> SigningKey:
    return SigningKey(row[0], row[1], row[2], row[3], row[4])


def _key_values(key: SigningKey) -> tuple[Any, ...]:
    return (key.id, key.app_id, key.sealed, key.created_at, key.revoked_at)


class _ThenFailed(Exception):
    """Carries what ``add_message``'s ``then`` raised out through the transaction, which it
    rolls back, past the translation of lost connections and timeouts into
    ``StorageUnavailable``: a push that failed with an OSError is no database outage."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error


async def _keep_session(connection: Any) -> None:
    """Release a connection to the pool as it is.  asyncpg's default reset costs a round trip
    per call (``RESET ALL``, ``UNLISTEN *``, ...), as much as the query itself, and undoes
    nothing here: the store sets no session state, listens on nothing, and holds advisory
    locks only within a transaction (an open one is still rolled back)."""


def _user_values(user: User) -> tuple[Any, ...]:
    return (user.app_id, user.id, user.display_name, user.avatar_url, user.profile_url,
            user.data, json.dumps(user.metadata), user.check_access_token, user.created_at,
            user.updated_at, user.tokens_revoked_before, user.last_seen_at)


def _token_values(token: Token) -> tuple[Any, ...]:
    return (token.id, token.app_id, token.user_id, token.kind, token.mac, token.sealed,
            token.created_at, token.expires_at, token.revoked_at)


class PostgresStore(Store):
    backend = "postgresql"

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        """``pool_size`` connections at most: each node holds that many of the database's
        ``max_connections`` (100 by default) while busy, one while idle."""
        self.url = url
        self.pool_size = pool_size
        parts = urlsplit(url)
        self._password = parts.password or ""
        host = parts.hostname or parse_qs(parts.query).get("host", ["localhost"])[0]
        try:
            self.where = f"{host}:{parts.port or 5432}"
        except ValueError:
            self.where = parts.netloc.rpartition("@")[2]
        """Host and port, for messages: never the URL, which may hold a password."""
        self._database = parts.path.lstrip("/") or parts.username or ""
        self._pool: Any = None

    # errors

    def _reason(self, exc: BaseException) -> str:
        if isinstance(exc, asyncio.TimeoutError):
            reason = "timed out"
        elif isinstance(exc, OSError) and exc.errno:
            reason = os.strerror(exc.errno)
        else:
            reason = str(exc) or type(exc).__name__
        if self._password:
            reason = reason.replace(self._password, "***")
        return reason

    def _unavailable(self, exc: BaseException) -> StorageUnavailable:
        self.errors += 1
        if isinstance(exc, asyncpg.exceptions.InvalidAuthorizationSpecificationError):
            return StorageUnavailable(f"PostgreSQL at {self.where} refused the login: "
                                      f"{self._reason(exc)}")
        if isinstance(exc, asyncpg.exceptions.InvalidCatalogNameError):
            return StorageUnavailable(f"PostgreSQL at {self.where} has no database "
                                      f"{self._database!r}")
        return StorageUnavailable(f"cannot reach PostgreSQL at {self.where}: "
                                  f"{self._reason(exc)}")

    def _open_pool(self) -> Any:
        if self._pool is None:
            raise StorageUnavailable("the store is not open")
        return self._pool

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        """A pooled connection, with the database's failures turned into ours."""
        pool = self._open_pool()
        try:
            async with pool.acquire(timeout=COMMAND_TIMEOUT) as con:
                yield con
        except UNAVAILABLE as exc:
            raise self._unavailable(exc) from None

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Any]:
        async with self._connection() as con, con.transaction():
            yield con

    async def _fetchrow(self, sql: str, *args: Any) -> Any:
        try:
            return await self._open_pool().fetchrow(sql, *args)
        except UNAVAILABLE as exc:
            raise self._unavailable(exc) from None

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        try:
            return list(await self._open_pool().fetch(sql, *args))
        except UNAVAILABLE as exc:
            raise self._unavailable(exc) from None

    async def _one(self, sql: str, args: tuple[Any, ...], convert: Callable[[Any], T]) -> T | None:
        row = await self._fetchrow(sql, *args)
        return None if row is None else convert(row)

    # lifecycle

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self.url, min_size=1, max_size=self.pool_size, timeout=CONNECT_TIMEOUT,
                command_timeout=COMMAND_TIMEOUT, reset=_keep_session)
        except UNAVAILABLE as exc:
            raise self._unavailable(exc) from None
        except (asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
            raise StorageUnavailable(f"cannot open PostgreSQL at {self.where}: "
                                     f"{self._reason(exc)}") from None
        try:
            await self._migrate()
        except BaseException:
            await self.close()
            raise

    async def _migrate(self) -> None:
        async with self._transaction() as con:
            await con.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await con.execute("CREATE TABLE IF NOT EXISTS schema_version"
                              " (version integer NOT NULL)")
            version = await con.fetchval("SELECT max(version) FROM schema_version") or 0
            if version > SCHEMA_VERSION:
                raise StorageUnavailable(
                    f"the database {self._database!r} at {self.where} has schema version "
                    f"{version}, newer than this server's {SCHEMA_VERSION}: upgrade the server")
            for step in MIGRATIONS[version:]:
                await con.execute(step)
            if version < SCHEMA_VERSION:
                await con.execute("DELETE FROM schema_version")
                await con.execute("INSERT INTO schema_version VALUES ($1)", SCHEMA_VERSION)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), COMMAND_TIMEOUT)
            except asyncio.TimeoutError:
                pool.terminate()

    async def ping(self) -> None:
        await self._fetchrow("SELECT 1")

    # apps

    async def create_app(self, app: App, api_key_mac: bytes) -> App:
        try:
            async with self._connection() as con:
                await con.execute(
                    INSERT_APP, app.id, app.name, list(app.allowed_origins), app.created_at,
                    app.require_access_token, app.tokens_revoked_before, api_key_mac)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "apps_api_key_unique":
                raise Conflict("that API key is already used by another app",
                               "API_KEY_IN_USE") from None
            raise Conflict(f"an app with ID {app.id} already exists", "APP_EXISTS") from None
        return app

    async def get_app(self, app_id: str) -> App | None:
        return await self._one(f"SELECT {APP_COLUMNS} FROM apps WHERE id = $1", (app_id,), _app)

    async def find_app_by_key(self, api_key_mac: bytes) -> App | None:
        return await self._one(f"SELECT {APP_COLUMNS} FROM apps WHERE api_key_mac = $1",
                               (api_key_mac,), _app)

    async def list_apps(self) -> list[App]:
        return [_app(row) for row in
                await self._fetch(f"SELECT {APP_COLUMNS} FROM apps ORDER BY created_at")]

    async def update_app(self, app_id: str, allowed_origins: tuple[str, ...] | None = None,
                         require_access_token: bool | None = None) -> App | None:
        return await self._one(
            "UPDATE apps SET allowed_origins = coalesce($2, allowed_origins),"
            " require_access_token = coalesce($3, require_access_token)"
            f" WHERE id = $1 RETURNING {APP_COLUMNS}",
            (app_id, None if allowed_origins is None else list(allowed_origins),
             require_access_token), _app)

    async def replace_api_key(self, app_id: str, api_key_mac: bytes) -> App | None:
        try:
            return await self._one(f"UPDATE apps SET api_key_mac = $2 WHERE id = $1"
                                   f" RETURNING {APP_COLUMNS}", (app_id, api_key_mac), _app)
        except asyncpg.UniqueViolationError:
            raise Conflict("that API key is already used by another app",
                           "API_KEY_IN_USE") from None

    async def user_counts(self) -> dict[str, int]:
        return {row[0]: row[1] for row in await self._fetch(
            "SELECT app_id, count(*) FROM users GROUP BY app_id")}

    # users

    async def get_user(self, app_id: str, user_id: str) -> User | None:
        return await self._one(f"SELECT {USER_COLUMNS} FROM users WHERE app_id = $1 AND id = $2",
                               (app_id, user_id), _user)

    async def get_or_create_user(self, app_id: str, user_id: str, now: float) -> User:
        """The read serves every login but a user's first.  The insert's no-op update makes
        a racer wait for the winner's row and return it (``DO NOTHING`` would return none)."""
        existing = await self.get_user(app_id, user_id)
        if existing is not None:
            return existing
        return _user(await self._fetchrow(
            "INSERT INTO users (app_id, id, created_at, updated_at) VALUES ($1, $2, $3, $3)"
            " ON CONFLICT (app_id, id) DO UPDATE SET id = excluded.id"
            f" RETURNING {USER_COLUMNS}", app_id, user_id, now))

    async def create_user(self, user: User, token: Token | None) -> User:
        try:
            async with self._transaction() as con:
                await con.execute(INSERT_USER, *_user_values(user))
                if token is not None:
                    await con.execute(INSERT_TOKEN, *_token_values(token))
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != "users_pkey":
                raise
            raise Conflict(f"user {user.id!r} already exists", "USER_EXISTS") from None
        return user

    async def update_user(
        self, app_id: str, user_id: str, changes: dict[str, Any], now: float,
        new_profile_token: Token | None = None,
    ) -> tuple[User, list[str]] | None:
        columns = dict(changes)
        if not set(columns) <= CHANGEABLE_USER_FIELDS:
            raise ValueError(f"not user fields: {sorted(set(columns) - CHANGEABLE_USER_FIELDS)}")
        if "metadata" in columns:
            columns["metadata"] = json.dumps(columns["metadata"])
        if "check_access_token" in columns:
            columns["check_access_token"] = bool(columns["check_access_token"])
        columns["updated_at"] = now
        assignments = ", ".join(f"{name} = ${n}" for n, name in enumerate(columns, start=3))
        async with self._transaction() as con:
            row = await con.fetchrow(
                f"UPDATE users SET {assignments} WHERE app_id = $1 AND id = $2"
                f" RETURNING {USER_COLUMNS}", app_id, user_id, *columns.values())
            if row is None:
                return None
            replaced: list[str] = []
            if new_profile_token is not None:
                replaced = [r[0] for r in await con.fetch(
                    "UPDATE tokens SET revoked_at = $4, sealed = NULL WHERE app_id = $1"
                    " AND user_id = $2 AND kind = $3 AND revoked_at IS NULL RETURNING id",
                    app_id, user_id, PROFILE_TOKEN, now)]
                await con.execute(INSERT_TOKEN, *_token_values(new_profile_token))
            return _user(row), replaced

    async def search_users(self, app_id: str, prefix: str = "", *, by_name: bool = False,
                           after: User | None = None, limit: int = 50) -> list[User]:
        """A parameter meets the index's folded names as it is, so the prefix is folded
        here first."""
        start = search_after(prefix, by_name, after)
        key = name_key(prefix) if by_name else prefix
        if start is None:
            query = SEARCH_BY_NAME if by_name else SEARCH_BY_ID
            args: tuple[Any, ...] = (app_id, key, key + PREFIX_END, limit)
        elif by_name:
            query = SEARCH_BY_NAME_AFTER
            args = (app_id, start[0], key + PREFIX_END, limit, start[1])
        else:
            query, args = SEARCH_BY_ID_AFTER, (app_id, start[0], key + PREFIX_END, limit)
        return [_user(row) for row in await self._fetch(query, *args)]

    # tokens

    async def add_token(self, token: Token) -> None:
        async with self._connection() as con:
            await con.execute(INSERT_TOKEN, *_token_values(token))

    async def find_token(self, app_id: str, user_id: str,
                         mac: bytes) -> tuple[User, Token] | None:
        return await self._one(
            TOKEN_LOGIN_QUERY, (app_id, user_id, mac),
            lambda row: (_user(row[:_USER_WIDTH]), _token(row[_USER_WIDTH:])))

    async def get_token(self, token_id: str) -> Token | None:
        return await self._one(f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = $1", (token_id,),
                               _token)

    async def profile_token(self, app_id: str, user_id: str) -> Token | None:
        return await self._one(
            f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE app_id = $1 AND user_id = $2"
            " AND kind = $3 AND revoked_at IS NULL ORDER BY created_at DESC LIMIT 1",
            (app_id, user_id, PROFILE_TOKEN), _token)

    async def list_tokens(self, app_id: str, user_id: str) -> list[Token]:
        return [_token(row) for row in await self._fetch(
            f"SELECT {TOKEN_COLUMNS} FROM tokens WHERE app_id = $1 AND user_id = $2"
            " ORDER BY created_at", app_id, user_id)]

    async def revoke_tokens(
        self, app_id: str, user_id: str, now: float, token_id: str | None = None,
        issued_before: float | None = None,
    ) -> list[str]:
        revoke = ("UPDATE tokens SET revoked_at = $3, sealed = NULL WHERE app_id = $1"
                  " AND user_id = $2 AND revoked_at IS NULL AND ($4::text IS NULL OR id = $4)"
                  " AND ($5::double precision IS NULL OR created_at < $5) RETURNING id")
        if token_id is not None:
            return [row[0] for row in await self._fetch(revoke, app_id, user_id, now,
                                                        token_id, issued_before)]
        before = now if issued_before is None else issued_before
        return [row[0] for row in await self._fetch(
            "WITH mark AS (UPDATE users SET tokens_revoked_before = greatest("
            "tokens_revoked_before, $6) WHERE app_id = $1 AND id = $2) " + revoke,
            app_id, user_id, now, None, issued_before, before)]

    async def revoke_app_tokens(self, app_id: str, issued_before: float,
                                now: float) -> list[str]:
        return [row[0] for row in await self._fetch(
            "WITH mark AS (UPDATE apps SET tokens_revoked_before = greatest("
            "tokens_revoked_before, $2) WHERE id = $1)"
            " UPDATE tokens SET revoked_at = $3, sealed = NULL WHERE app_id = $1"
            " AND revoked_at IS NULL AND created_at < $2 RETURNING id",
            app_id, issued_before, now)]

    # signing keys

    async def add_signing_key(self, key: SigningKey, max_active: int) -> bool:
        """The app's row is locked first, so two concurrent adds count one after the other."""
        async with self._transaction() as con:
            await con.execute("SELECT 1 FROM apps WHERE id = $1 FOR UPDATE", key.app_id)
            active = await con.fetchval("SELECT count(*) FROM signing_keys WHERE app_id = $1"
                                        " AND revoked_at IS NULL", key.app_id)
            if active >= max_active:
                return False
            await con.execute(INSERT_KEY, *_key_values(key))
            return True

    async def list_signing_keys(self, app_id: str) -> list[SigningKey]:
        return [_key(row) for row in await self._fetch(
            f"SELECT {KEY_COLUMNS} FROM signing_keys WHERE app_id = $1"
            " ORDER BY created_at, id", app_id)]

    async def revoke_signing_key(self, app_id: str, key_id: str,
                                 now: float) -> SigningKey | None:
        return await self._one(
            "UPDATE signing_keys SET revoked_at = $3 WHERE app_id = $1 AND id = $2"
            f" AND revoked_at IS NULL RETURNING {KEY_COLUMNS}", (app_id, key_id, now), _key)

    # session keys

    async def consume_session(self, session_id: str, expires_at: float, now: float) -> bool:
        return await self._fetchrow(CONSUME_SESSION, session_id, expires_at, now) is not None

    async def is_session_consumed(self, session_id: str) -> bool:
        return await self._fetchrow("SELECT 1 FROM revoked_sessions WHERE id = $1",
                                    session_id) is not None

    # checks of many live sessions at once

    async def unusable_tokens(self, token_ids: Collection[str], now: float) -> set[str]:
        # Only the exceptions come back: a node asks about every session it holds, and
        # thousands of rows decoded for the usable ones would stall its logins each round.
        if not token_ids:
            return set()
        return {row[0] for row in await self._fetch(
            "SELECT w.id FROM unnest($1::text[]) AS w (id) WHERE NOT EXISTS ("
            "SELECT 1 FROM tokens t WHERE t.id = w.id AND t.revoked_at IS NULL"
            " AND (t.expires_at IS NULL OR t.expires_at > $2))", list(set(token_ids)), now)}

    async def users_requiring_token(self, app_id: str, user_ids: Collection[str]) -> set[str]:
        if not user_ids:
            return set()
        return {row[0] for row in await self._fetch(
            "SELECT w.id FROM unnest($2::text[]) AS w (id) WHERE NOT EXISTS ("
            "SELECT 1 FROM users u WHERE u.app_id = $1 AND u.id = w.id"
            " AND NOT u.check_access_token)", app_id, list(set(user_ids)))}

    async def unusable_signing_keys(self, key_ids: Collection[str]) -> set[str]:
        if not key_ids:
            return set()
        return {row[0] for row in await self._fetch(
            "SELECT w.id FROM unnest($1::text[]) AS w (id) WHERE NOT EXISTS ("
            "SELECT 1 FROM signing_keys k WHERE k.id = w.id AND k.revoked_at IS NULL)",
            list(set(key_ids)))}

    async def token_watermarks(self, app_id: str, user_ids: Collection[str]) -> dict[str, float]:
        if not user_ids:
            return {}
        return {row[0]: row[1] for row in await self._fetch(
            "SELECT w.id, greatest(u.tokens_revoked_before, a.tokens_revoked_before)"
            " FROM unnest($2::text[]) AS w (id) JOIN apps a ON a.id = $1"
            " LEFT JOIN users u ON u.app_id = $1 AND u.id = w.id"
            " WHERE coalesce(u.tokens_revoked_before, a.tokens_revoked_before) IS NOT NULL",
            app_id, list(set(user_ids)))}

    async def consumed_sessions(self, session_ids: Collection[str]) -> set[str]:
        if not session_ids:
            return set()
        return {row[0] for row in await self._fetch(
            "SELECT id FROM revoked_sessions WHERE id = ANY($1::text[])", list(set(session_ids)))}

    # operators and their audit log

    async def create_operator(self, operator: Operator) -> None:
        try:
            async with self._connection() as con:
                await con.execute(INSERT_OPERATOR, *operator_values(operator))
        except asyncpg.UniqueViolationError:
            raise Conflict(f"an operator named {operator.name!r} already exists",
                           "OPERATOR_EXISTS") from None

    async def get_operator(self, name: str) -> Operator | None:
        return await self._one(f"SELECT {OPERATOR_COLUMNS} FROM operators WHERE name = $1",
                               (name,), operator_from)

    async def list_operators(self) -> list[Operator]:
        """By name in code point order, as SQLite's BINARY sorts them."""
        return [operator_from(row) for row in await self._fetch(
            f'SELECT {OPERATOR_COLUMNS} FROM operators ORDER BY name COLLATE "C"')]

    async def delete_operator(self, name: str) -> bool:
        return await self._fetchrow("DELETE FROM operators WHERE name = $1 RETURNING 1",
                                    name) is not None

    async def set_operator_password(self, name: str, password_hash: str, now: float,
                                    replacing: str | None = None) -> bool:
        return await self._fetchrow(
            "UPDATE operators SET password_hash = $2, password_changed_at = $3"
            " WHERE name = $1 AND ($4::text IS NULL OR password_hash = $4) RETURNING 1",
            name, password_hash, now, replacing) is not None

    async def add_audit(self, entry: AuditEntry) -> AuditEntry:
        row = await self._fetchrow(f"INSERT INTO audit ({AUDIT_FIELDS})"
                                   " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                                   *audit_values(entry))
        return dataclasses.replace(entry, id=row[0])

    async def list_audit(self, limit: int = 100, before: int | None = None) -> list[AuditEntry]:
        if before is None:
            rows = await self._fetch(f"SELECT {AUDIT_COLUMNS} FROM audit ORDER BY id DESC"
                                     " LIMIT $1", limit)
        else:
            rows = await self._fetch(f"SELECT {AUDIT_COLUMNS} FROM audit WHERE id < $2"
                                     " ORDER BY id DESC LIMIT $1", limit, before)
        return [audit_from(row) for row in rows]

    # channels, their participants and messages

    async def create_channel(self, channel: Channel) -> Channel:
        try:
            async with self._connection() as con:
                await con.execute(INSERT_CHANNEL, *channel_values(channel))
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != "channels_pkey":
                raise
            raise Conflict(f"a channel with ID {channel.id!r} already exists",
                           "CHANNEL_EXISTS") from None
        return dataclasses.replace(channel, participants_count=0)

    async def get_channel(self, app_id: str, channel_id: str) -> Channel | None:
        return await self._one(f"{CHANNEL_SELECT} WHERE c.app_id = $1 AND c.id = $2",
                               (app_id, channel_id), channel_from)

    async def list_channels(self, app_id: str, kind: str, after: str | None = None,
                            limit: int = 20) -> list[Channel]:
        select = f"{CHANNEL_SELECT} WHERE c.app_id = $1 AND c.kind = $2"
        if after is None:
            rows = await self._fetch(f"{select} ORDER BY {CHANNEL_ORDER} LIMIT $3",
                                     app_id, kind, limit)
        else:
            rows = await self._fetch(f"{select} AND {CHANNEL_ORDER} > $4"
                                     f" ORDER BY {CHANNEL_ORDER} LIMIT $3",
                                     app_id, kind, limit, after)
        return [channel_from(row) for row in rows]

    async def update_channel(self, app_id: str, channel_id: str, changes: dict[str, Any],
                             now: float) -> Channel | None:
        columns = {**column_changes(changes, CHANGEABLE_CHANNEL_FIELDS), "updated_at": now}
        assignments = ", ".join(f"{name} = ${n}" for n, name in enumerate(columns, start=3))
        return await self._one(
            f"UPDATE channels c SET {assignments} WHERE c.app_id = $1 AND c.id = $2"
            f" RETURNING {CHANNEL_OUTPUT}", (app_id, channel_id, *columns.values()),
            channel_from)

    async def delete_channel(self, app_id: str, channel_id: str) -> bool:
        """Its participants and messages go by ``ON DELETE CASCADE``, after any message being
        added, whose transaction holds the channel's row."""
        return await self._fetchrow("DELETE FROM channels WHERE app_id = $1 AND id = $2"
                                    " RETURNING 1", app_id, channel_id) is not None

    async def create_group_channel(self, channel: Channel, members: Sequence[Participant],
                                   max_channels: int | None = None) -> tuple[Channel, bool]:
        """When the insert does nothing, the channel of the key has committed, and the next
        statement's snapshot sees it; were it deleted or its key cleared in between, the
        insert is tried again.  The members' user rows are locked in ID order before they
        are counted, as ``add_participant`` locks a joining user's, so creates and joins
        of one user count one after the other and never deadlock."""
        try:
            async with self._transaction() as con:
                while await con.fetchval(INSERT_DISTINCT, *channel_values(channel)) is None:
                    found = await con.fetchrow(
                        f"{CHANNEL_SELECT} WHERE c.app_id = $1 AND c.distinct_key = $2",
                        channel.app_id, channel.distinct_key)
                    if found is not None:
                        return channel_from(found), False
                if max_channels is not None:
                    ids = sorted(m.user_id for m in members)
                    await con.execute("SELECT 1 FROM users WHERE app_id = $1"
                                      " AND id = ANY($2::text[]) ORDER BY id COLLATE \"C\""
                                      " FOR NO KEY UPDATE", channel.app_id, ids)
                    for user_id in ids:
                        if await con.fetchval(f"SELECT count(*) {MINE}", channel.app_id,
                                              user_id, channel.kind) >= max_channels:
                            raise too_many_channels(user_id, max_channels)
                await con.executemany(INSERT_PARTICIPANT,
                                      [participant_values(m) for m in members])
                return channel_from(await con.fetchrow(
                    f"{CHANNEL_SELECT} WHERE c.app_id = $1 AND c.id = $2",
                    channel.app_id, channel.id)), True
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != "channels_pkey":
                raise
            raise Conflict(f"a channel with ID {channel.id!r} already exists",
                           "CHANNEL_EXISTS") from None

    async def add_participant(self, participant: Participant, max_channels: int,
                              max_participants: int | None = None) -> str:
        """The user's row is locked first, so one user's joins (from any node) count one
        after the other; ``NO KEY UPDATE`` leaves the row free for the key-share locks that
        inserts of the user's tokens take.  The channel's row is key-share locked, so it
        cannot be deleted between the check and the insert; with ``max_participants`` it is
        locked as the user's is, so joins of the channel count one after the other too (and
        wait for a message being added there, whose bump of ``last_seq`` holds that lock).
        Rows are always locked user first, then channel, so joins never deadlock."""
        app_id, channel_id, user_id = (participant.app_id, participant.channel_id,
                                       participant.user_id)
        lock = "KEY SHARE" if max_participants is None else "NO KEY UPDATE"
        async with self._transaction() as con:
            await con.execute("SELECT 1 FROM users WHERE app_id = $1 AND id = $2"
                              " FOR NO KEY UPDATE", app_id, user_id)
            kind = await con.fetchval("SELECT kind FROM channels WHERE app_id = $1 AND id = $2"
                                      f" FOR {lock}", app_id, channel_id)
            if kind is None:
                return NO_CHANNEL
            if await con.fetchval("SELECT 1 FROM participants WHERE app_id = $1"
                                  " AND channel_id = $2 AND user_id = $3",
                                  app_id, channel_id, user_id) is not None:
                return ALREADY_JOINED
            if await con.fetchval(f"SELECT count(*) {MINE}", app_id, user_id,
                                  kind) >= max_channels:
                return TOO_MANY_CHANNELS
            if max_participants is not None and await con.fetchval(
                    "SELECT count(*) FROM participants WHERE app_id = $1 AND channel_id = $2",
                    app_id, channel_id) >= max_participants:
                return CHANNEL_FULL
            await con.execute(INSERT_PARTICIPANT, *participant_values(participant))
            return JOINED

    async def remove_participant(self, app_id: str, channel_id: str, user_id: str) -> bool:
        return await self._fetchrow(
            "DELETE FROM participants WHERE app_id = $1 AND channel_id = $2 AND user_id = $3"
            " RETURNING 1", app_id, channel_id, user_id) is not None

    async def is_participant(self, app_id: str, channel_id: str, user_id: str) -> bool:
        return await self._fetchrow(
            "SELECT 1 FROM participants WHERE app_id = $1 AND channel_id = $2 AND user_id = $3",
            app_id, channel_id, user_id) is not None

    async def get_participant(self, app_id: str, channel_id: str,
                              user_id: str) -> Participant | None:
        return await self._one(
            f"SELECT {PARTICIPANT_COLUMNS} FROM participants WHERE app_id = $1"
            " AND channel_id = $2 AND user_id = $3", (app_id, channel_id, user_id),
            participant_from)

    async def participants_of(self, app_id: str, channel_id: str) -> list[Participant]:
        return [participant_from(row) for row in await self._fetch(
            f"SELECT {PARTICIPANT_OUTPUT} FROM participants p WHERE p.app_id = $1"
            f" AND p.channel_id = $2 ORDER BY {PARTICIPANT_ORDER}", app_id, channel_id)]

    async def participants_of_channels(self, app_id: str, channel_ids: Collection[str]
                                       ) -> dict[str, list[Participant]]:
        found: dict[str, list[Participant]] = {}
        for row in await self._fetch(
                f"SELECT {PARTICIPANT_OUTPUT} FROM participants p WHERE p.app_id = $1"
                f" AND p.channel_id = ANY($2::text[]) ORDER BY p.channel_id, {PARTICIPANT_ORDER}",
                app_id, list(channel_ids)):
            participant = participant_from(row)
            found.setdefault(participant.channel_id, []).append(participant)
        return found

    async def accept_invite(self, app_id: str, channel_id: str, user_id: str) -> bool:
        return await self._fetchrow(
            f"UPDATE participants p SET status = '{ACCEPTED}', last_read_seq = c.last_seq"
            " FROM channels c WHERE c.app_id = p.app_id AND c.id = p.channel_id"
            " AND p.app_id = $1 AND p.channel_id = $2 AND p.user_id = $3"
            f" AND p.status = '{INVITED}' RETURNING 1", app_id, channel_id, user_id) is not None

    async def mark_read(self, app_id: str, channel_id: str, user_id: str,
                        now: float) -> Participant | None:
        """The channel's row is share-locked to read its ``last_seq``: a message being
        added holds that row until it commits, and it is pushed before then, so a read
        answering the push waits for the commit and counts the message read."""
        return await self._one(
            "UPDATE participants p SET read_at = $4, last_read_seq = (SELECT c.last_seq"
            " FROM channels c WHERE c.app_id = p.app_id AND c.id = p.channel_id FOR SHARE)"
            " WHERE p.app_id = $1 AND p.channel_id = $2 AND p.user_id = $3"
            f" AND p.status = '{ACCEPTED}' RETURNING {PARTICIPANT_OUTPUT}",
            (app_id, channel_id, user_id, now), participant_from)

    async def mark_all_read(self, app_id: str, user_id: str, kind: str,
                            now: float) -> list[str]:
        return [row[0] for row in await self._fetch(
            "UPDATE participants t SET last_read_seq = unread.last_seq, read_at = $4"
            f" FROM (SELECT p.channel_id, c.last_seq {MINE} AND p.status = '{ACCEPTED}'"
            f" AND c.last_seq > p.last_read_seq AND EXISTS (SELECT 1 {OTHERS_UNREAD})) unread"
            " WHERE t.app_id = $1 AND t.user_id = $2 AND t.channel_id = unread.channel_id"
            " RETURNING t.channel_id", app_id, user_id, kind, now)]

    async def my_channels(self, app_id: str, user_id: str, kind: str, *,
                          status: str | None = None, after: Channel | None = None,
                          limit: int = 20, channel_ids: Collection[str] | None = None
                          ) -> list[MyChannel]:
        """The inner query picks the page from the user's range of ``participants_by_user``
        and sorts only that; the outer one counts and finds the newest message (by
        ``messages_by_seq``) for the page's channels alone."""
        args: list[Any] = [app_id, user_id, kind, limit]
        where = ""
        if status is not None:
            args.append(status)
            where += f" AND p.status = ${len(args)}"
        if channel_ids is not None:
            args.append(list(channel_ids))
            where += f" AND p.channel_id = ANY(${len(args)}::text[])"
        if after is not None:
            args += [after.active_at, after.id]
            where += f" AND (c.active_at, {CHANNEL_ORDER}) < (${len(args) - 1}, ${len(args)})"
        order = f" ORDER BY c.active_at DESC, {CHANNEL_ORDER} DESC"
        unread = (f"CASE WHEN p.status = '{INVITED}' THEN 0"
                  f" ELSE (SELECT count(*) {OTHERS_UNREAD}) END")
        return [my_channel_from(row) for row in await self._fetch(
            f"SELECT {my_channel_output(unread)}"
            f" FROM (SELECT c.id {MINE}{where}{order} LIMIT $4) page"
            " JOIN channels c ON c.app_id = $1 AND c.id = page.id"
            " JOIN participants p ON p.app_id = $1 AND p.channel_id = page.id"
            " AND p.user_id = $2"
            f" LEFT JOIN LATERAL (SELECT {MESSAGE_COLUMNS} FROM messages"
            " WHERE app_id = $1 AND channel_id = page.id ORDER BY seq DESC LIMIT 1) m ON true"
            f"{order}", *args)]

    async def unread_totals(self, app_id: str, user_id: str, kind: str) -> tuple[int, int]:
        """A channel whose ``last_seq`` is still the user's read state is passed over
        without counting its messages."""
        row = await self._fetchrow(
            "SELECT coalesce(sum(n), 0)::bigint, count(*) FILTER (WHERE n > 0) FROM (SELECT"
            f" (SELECT count(*) {OTHERS_UNREAD}) AS n {MINE} AND p.status = '{ACCEPTED}'"
            " AND c.last_seq > p.last_read_seq) mine", app_id, user_id, kind)
        return row[0], row[1]

    async def list_participants(self, app_id: str, channel_id: str, after: str | None = None,
                                limit: int = 20) -> list[User]:
        if after is None:
            rows = await self._fetch(f"{_PARTICIPANT_USERS} ORDER BY {PARTICIPANT_ORDER}"
                                     " LIMIT $3", app_id, channel_id, limit)
        else:
            rows = await self._fetch(f"{_PARTICIPANT_USERS} AND {PARTICIPANT_ORDER} > $4"
                                     f" ORDER BY {PARTICIPANT_ORDER} LIMIT $3",
                                     app_id, channel_id, limit, after)
        return [_user(row) for row in rows]

    async def participant_ids(self, app_id: str, channel_id: str,
                              status: str | None = None) -> list[str]:
        return [row[0] for row in await self._fetch(
            "SELECT user_id FROM participants WHERE app_id = $1 AND channel_id = $2"
            " AND ($3::text IS NULL OR status = $3)", app_id, channel_id, status)]

    async def add_message(self, message: Message,
                          then: Callable[[Message], Awaitable[None]]) -> Message | None:
        """The bump of the channel's ``last_seq`` locks its row until the commit, after
        ``then``: the next message of the channel, from any node, waits there for its
        number, so numbers and pushes go in one order.  A rollback (``then`` raising, or a
        taken ID) returns the number, so no gap is left either."""
        try:
            async with self._transaction() as con:
                seq = await con.fetchval(
                    "UPDATE channels SET last_seq = last_seq + 1, active_at = $3"
                    " WHERE app_id = $1 AND id = $2 RETURNING last_seq",
                    message.app_id, message.channel_id, message.inserted_at)
                if seq is None:
                    return None
                stored = dataclasses.replace(message, seq=seq)
                await con.execute(INSERT_MESSAGE, *message_values(stored))
                try:
                    await then(stored)
                except Exception as exc:
                    raise _ThenFailed(exc) from exc
                return stored
        except _ThenFailed as failed:
            raise failed.error from None
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != "messages_pkey":
                raise
            raise Conflict(f"a message with ID {message.id!r} already exists",
                           "MESSAGE_EXISTS") from None

    async def get_message(self, app_id: str, channel_id: str,
                          message_id: str) -> Message | None:
        return await self._one(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE app_id = $1"
                               " AND channel_id = $2 AND id = $3",
                               (app_id, channel_id, message_id), message_from)

    async def update_message(self, app_id: str, channel_id: str, message_id: str,
                             changes: dict[str, Any], now: float) -> Message | None:
        columns = {**column_changes(changes, CHANGEABLE_MESSAGE_FIELDS), "updated_at": now}
        assignments = ", ".join(f"{name} = ${n}" for n, name in enumerate(columns, start=4))
        return await self._one(
            f"UPDATE messages SET {assignments} WHERE app_id = $1 AND channel_id = $2"
            f" AND id = $3 RETURNING {MESSAGE_COLUMNS}",
            (app_id, channel_id, message_id, *columns.values()), message_from)

    async def delete_message(self, app_id: str, channel_id: str,
                             message_id: str) -> Message | None:
        return await self._one(
            "DELETE FROM messages WHERE app_id = $1 AND channel_id = $2 AND id = $3"
            f" RETURNING {MESSAGE_COLUMNS}", (app_id, channel_id, message_id), message_from)

    async def history(self, app_id: str, channel_id: str, before_seq: int | None = None,
                      limit: int = 20) -> list[Message]:
        """One range of ``messages_by_seq``, read backwards from the page's start."""
        select = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE app_id = $1 AND channel_id = $2"
        if before_seq is None:
            rows = await self._fetch(f"{select} ORDER BY seq DESC LIMIT $3",
                                     app_id, channel_id, limit)
        else:
            rows = await self._fetch(f"{select} AND seq < $4 ORDER BY seq DESC LIMIT $3",
                                     app_id, channel_id, limit, before_seq)
        return [message_from(row) for row in rows]

    async def get_users(self, app_id: str, user_ids: Collection[str]) -> dict[str, User]:
        if not user_ids:
            return {}
        return {row[1]: _user(row) for row in await self._fetch(
            f"SELECT {USER_COLUMNS} FROM users WHERE app_id = $1 AND id = ANY($2::text[])",
            app_id, list(set(user_ids)))}

    async def set_last_seen(self, app_id: str, user_id: str, when: float) -> None:
        await self._fetchrow("UPDATE users SET last_seen_at = $3 WHERE app_id = $1 AND id = $2",
                             app_id, user_id, when)

    # copies between stores

    async def export_records(self) -> AsyncIterator[Record]:
        async with self._connection() as con, con.transaction(isolation="repeatable_read",
                                                              readonly=True):
            async for row in con.cursor(
                    f"SELECT {APP_COLUMNS}, api_key_mac FROM apps ORDER BY created_at"):
                yield AppRecord(_app(row), row[6])
            async for row in con.cursor(f"SELECT {USER_COLUMNS} FROM users"):
                yield _user(row)
            async for row in con.cursor(f"SELECT {TOKEN_COLUMNS} FROM tokens"
                                        " ORDER BY created_at"):
                yield _token(row)
            async for row in con.cursor(f"SELECT {KEY_COLUMNS} FROM signing_keys"
                                        " ORDER BY created_at, id"):
                yield _key(row)
            async for row in con.cursor("SELECT id, expires_at FROM revoked_sessions"):
                yield ConsumedSession(row[0], row[1])
            async for row in con.cursor(f"SELECT {OPERATOR_COLUMNS} FROM operators"
                                        ' ORDER BY name COLLATE "C"'):
                yield operator_from(row)
            async for row in con.cursor(f"SELECT {AUDIT_COLUMNS} FROM audit ORDER BY id"):
                yield audit_from(row)
            async for row in con.cursor(f"{CHANNEL_SELECT} ORDER BY c.app_id, {CHANNEL_ORDER}"):
                yield channel_from(row)
            async for row in con.cursor(f"SELECT {PARTICIPANT_COLUMNS} FROM participants p"
                                        f" ORDER BY p.app_id, p.channel_id, {PARTICIPANT_ORDER}"):
                yield participant_from(row)
            async for row in con.cursor(f"SELECT {MESSAGE_COLUMNS} FROM messages"
                                        " ORDER BY app_id, channel_id, seq"):
                yield message_from(row)

    async def import_records(self, records: Sequence[Record]) -> None:
        """Audit entries keep their IDs, and the sequence is then set to the highest, so the
        next ``add_audit`` continues after them (an import fills an empty store)."""
        async with self._transaction() as con:
            for kind, rows in _runs(records):
                if kind is AppRecord:
                    await con.executemany(
                        INSERT_APP,
                        [(r.app.id, r.app.name, list(r.app.allowed_origins), r.app.created_at,
                          r.app.require_access_token, r.app.tokens_revoked_before,
                          r.api_key_mac) for r in rows])
                elif kind is User:
                    await con.executemany(INSERT_USER, [_user_values(r) for r in rows])
                elif kind is Token:
                    await con.executemany(INSERT_TOKEN, [_token_values(r) for r in rows])
                elif kind is SigningKey:
                    await con.executemany(INSERT_KEY, [_key_values(r) for r in rows])
                elif kind is ConsumedSession:
                    await con.executemany("INSERT INTO revoked_sessions VALUES ($1, $2)",
                                          [(r.id, r.expires_at) for r in rows])
                elif kind is Operator:
                    await con.executemany(INSERT_OPERATOR, [operator_values(r) for r in rows])
                elif kind is Channel:
                    await con.executemany(INSERT_CHANNEL, [channel_values(r) for r in rows])
                elif kind is Participant:
                    await con.executemany(INSERT_PARTICIPANT,
                                          [participant_values(r) for r in rows])
                elif kind is Message:
                    await con.executemany(INSERT_MESSAGE, [message_values(r) for r in rows])
                else:
                    await con.executemany(
                        f"INSERT INTO audit ({AUDIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        [(*audit_values(r), r.id) for r in rows])
                    await con.execute("SELECT setval(pg_get_serial_sequence('audit', 'id'),"
                                      " max(id)) FROM audit")


def _runs(records: Sequence[Record]) -> list[tuple[type, list[Any]]]:
    """Consecutive records of one kind, so each kind goes in as one batch, in order."""
    runs: list[tuple[type, list[Any]]] = []
    for record in records:
        if not runs or runs[-1][0] is not type(record):
            runs.append((type(record), []))
        runs[-1][1].append(record)
    return runs


class PostgresDemoTable(DemoTable):
    """The demo's table in the store's database, through the store's own pool."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    async def get(self, key: str) -> bytes | None:
        row = await self._store._fetchrow("SELECT value FROM demo_kv WHERE key = $1", key)
        return None if row is None else row[0]

    async def put(self, key: str, value: bytes) -> None:
        await self._store._fetchrow(
            "INSERT INTO demo_kv VALUES ($1, $2) ON CONFLICT (key) DO UPDATE"
            " SET value = excluded.value", key, value)

    async def add(self, key: str, value: bytes) -> bool:
        return await self._store._fetchrow(
            "INSERT INTO demo_kv VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING 1",
            key, value) is not None

    async def delete(self, key: str) -> None:
        await self._store._fetchrow("DELETE FROM demo_kv WHERE key = $1", key)
