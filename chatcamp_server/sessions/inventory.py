"""The session inventory: which sessions are live for a user, on whichever node holds them.

``users.sessions.list``, ``users.sessions.end`` and ``is_online`` ask it; the bus, not the
inventory, reaches the sessions.  ``LocalInventory`` is this process's registry as it is; a
cluster's inventory (``redis_inventory.py``) also answers for the sessions other nodes hold.
"""

from __future__ import annotations

import abc
import asyncio
from typing import Any, Callable, Collection

from chatcamp_server.sessions.live import LiveSession, LiveSessions


def record(session: LiveSession) -> dict[str, Any]:
    """What the inventory keeps of a session: its public description, when its key would
    expire anyway (how long ending it must be remembered), and when its token was issued
    (for a revocation by time)."""
    return {**session.describe(), "key_expires_at": session.key_expires_at,
            "token_issued_at": session.token_issued_at}


INTERNAL_FIELDS = ("key_expires_at", "token_issued_at")
"""Kept by the inventory, left out of ``users.sessions.list``."""


def no_report() -> dict[str, Any]:
    return {}


class SessionInventory(abc.ABC):
    report: Callable[[], dict[str, Any]] = staticmethod(no_report)
    """What this node says of itself to the dashboard's live view (its live sessions per
    app, its logins per minute): set by the server once it has them."""

    async def start(self) -> None:
        """Begin keeping the inventory (a cluster's: connect, register, heartbeat)."""

    async def stop(self) -> None:
        """Stop, leaving nothing behind that other nodes would count as live."""

    @abc.abstractmethod
    async def for_user(self, app_id: str, user_id: str) -> list[dict[str, Any]]:
        """The user's live sessions as ``record`` describes them, oldest first."""

    async def find(self, app_id: str, user_id: str, session_id: str) -> dict[str, Any] | None:
        """One of the user's live sessions, or None."""
        for found in await self.for_user(app_id, user_id):
            if found["session_id"] == session_id:
                return found
        return None

    @abc.abstractmethod
    async def is_online(self, app_id: str, user_id: str) -> bool:
        """Whether the user has any live session."""

    async def online_among(self, app_id: str, user_ids: Collection[str]) -> set[str]:
        """Those of ``user_ids`` with any live session, asked all at once (a page of
        channels shows its members' and senders' presence)."""
        ids = list(dict.fromkeys(user_ids))
        found = await asyncio.gather(*(self.is_online(app_id, user_id) for user_id in ids))
        return {user_id for user_id, online in zip(ids, found) if online}

    async def reports(self) -> list[dict[str, Any]]:
        """Every live node's ``report``: this node's alone here; a cluster's inventory adds
        those the other nodes' heartbeats carry."""
        return [self.report()]


class LocalInventory(SessionInventory):
    """One process: its live sessions are all there are."""

    def __init__(self, live: LiveSessions) -> None:
        self.live = live

    async def for_user(self, app_id: str, user_id: str) -> list[dict[str, Any]]:
        return [record(s) for s in self.live.for_user(app_id, user_id)]

    async def is_online(self, app_id: str, user_id: str) -> bool:
        return self.live.is_online(app_id, user_id)

    async def online_among(self, app_id: str, user_ids: Collection[str]) -> set[str]:
        return {user_id for user_id in user_ids if self.live.is_online(app_id, user_id)}
