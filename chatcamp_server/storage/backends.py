"""Which store a location names, and the demo's table beside it: the one place that knows
every backend, so nothing else imports one."""

from __future__ import annotations

from chatcamp_server.deployment import is_postgres
from chatcamp_server.errors import ServerError
from chatcamp_server.storage.demo_table import DemoTable
from chatcamp_server.storage.postgres import PostgresDemoTable, PostgresStore
from chatcamp_server.storage.sqlite import SQLiteDemoTable, SQLiteStore
from chatcamp_server.storage.store import Store


def store_for(location: str) -> Store:
    """An unopened store for a SQLite path or a ``postgresql://`` URL."""
    if is_postgres(location):
        return PostgresStore(location)
    return SQLiteStore(location)


def demo_table_for(store: Store) -> DemoTable:
    """The demo keeps its table in the store's own database, through its connections."""
    if isinstance(store, SQLiteStore):
        return SQLiteDemoTable(store)
    if isinstance(store, PostgresStore):
        return PostgresDemoTable(store)
    raise ServerError(f"the demo cannot keep its table in a {type(store).__name__}")
