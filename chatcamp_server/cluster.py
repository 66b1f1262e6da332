"""What a node shares with the others: the bus that reaches their sessions, the inventory
that lists them, the login limits they count together, and the timer that catches what the
bus lost.  One process has the in-memory three and no timer; a cluster has Redis's.

Nothing here blocks a login on Redis: the bus and the inventory fall back to this node when
Redis is away and catch up by themselves when it is back, and the limits count on this node
meanwhile.  PostgreSQL, not Redis, holds every revocation, which is why the timer suffices.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from chatcamp_server.keys import random_id
from chatcamp_server.sessions.bus import LocalBus, SessionBus
from chatcamp_server.sessions.inventory import LocalInventory, SessionInventory
from chatcamp_server.sessions.live import LiveSessions
from chatcamp_server.sessions.rate_limit import LoginLimits, MemoryLoginLimits
from chatcamp_server.sessions.reconcile import RECONCILE_SECONDS, Reconciler
from chatcamp_server.sessions.redis_bus import RedisBus
from chatcamp_server.sessions.redis_inventory import RedisInventory
from chatcamp_server.sessions.redis_limits import RedisLoginLimits
from chatcamp_server.sessions.redis_support import Outage
from chatcamp_server.settings import Limits
from chatcamp_server.storage.store import Store
from chatcamp_server.timers import Rounds


@dataclass
class Sharing:
    bus: SessionBus
    inventory: SessionInventory
    failures: LoginLimits
    node_id: str = ""
    reconciler: Reconciler | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the reconcile should not wait for its timer: the bus has just (re)subscribed,
    and what it missed meanwhile is lost."""
    _timer: asyncio.Task[None] | None = None

    def outages(self) -> list[Outage]:
        """The Redis parts' outage trackers (none on a single node)."""
        parts = (self.bus, self.inventory, self.failures)
        return [part.outage for part in parts
                if isinstance(part, (RedisBus, RedisInventory, RedisLoginLimits))]

    async def start(self) -> None:
        await self.inventory.start()
        await self.bus.start()
        if self.reconciler is not None:
            self._timer = asyncio.create_task(self._reconcile_forever(self.reconciler))

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        await self.bus.stop()
        await self.inventory.stop()
        await self.failures.aclose()

    async def _reconcile_forever(self, reconciler: Reconciler) -> None:
        rounds = Rounds(f"checking node {self.node_id}'s sessions against the store")
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), RECONCILE_SECONDS)
            self.wake.clear()
            await rounds.run(reconciler.run_once())


def bus_prefix(redis_url: str) -> str:
    """Keys live in the URL's database, but pub/sub channels are one namespace for the whole
    Redis: without the database number in the channel, two clusters on one Redis (staging
    copied from production, with the same app IDs) would end each other's sessions."""
    database = urlsplit(redis_url).path.strip("/") or "0"
    return f"chatcamp:db{database}:"


def sharing_for(redis_url: str | None, live: LiveSessions, limits: Limits,
                store: Store) -> Sharing:
    if redis_url is None:
        return Sharing(LocalBus(live), LocalInventory(live), MemoryLoginLimits(limits))
    node_id = random_id(6)
    wake = asyncio.Event()
    inventory = RedisInventory(live, redis_url, node_id)
    bus = RedisBus(live, redis_url, node_id, inventory=inventory, on_subscribed=wake.set,
                   prefix=bus_prefix(redis_url))
    return Sharing(bus, inventory, RedisLoginLimits(limits, redis_url), node_id,
                   Reconciler(store, live), wake)
