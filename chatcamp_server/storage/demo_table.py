"""The demo integrator's own table, kept out of the chat server's ``Store``.

The demo stands for a separate party, an integrator's backend: its rows (its app's key,
sign-ins, name claims, its users' tokens) are not the chat server's, and a new ``Store``
backend owes them nothing.  Today the table sits in the SQLite file beside the server's, for
convenience only (``sqlite_store.SQLiteDemoTable``).
"""

from __future__ import annotations

import abc


class DemoTable(abc.ABC):
    """Keys to opaque values (the demo seals what it stores)."""

    @abc.abstractmethod
    async def get(self, key: str) -> bytes | None: ...

    @abc.abstractmethod
    async def put(self, key: str, value: bytes) -> None: ...

    @abc.abstractmethod
    async def add(self, key: str, value: bytes) -> bool:
        """Store ``value`` only if ``key`` has none yet, atomically; True if it was stored."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None: ...
