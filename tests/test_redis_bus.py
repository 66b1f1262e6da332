"""In-process, on a private Redis: two nodes' buses reach each other's sessions, and survive
Redis going away and coming back."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis
from redis_service import RedisServer, eventually

from chatcamp_server.sessions.live import How, LiveSession, LiveSessions, Target
from chatcamp_server.sessions.redis_bus import RedisBus
from chatcamp_server.sessions.redis_inventory import RedisInventory

REVOKED = ({"t": "users.auth.ack", "d": {"ok": False, "error": {
    "code": "NOT_AUTHORIZED", "message": "Access token revoked"}}}, "end")


class Socket:
    """Records what the bus hands one session."""

    def __init__(self) -> None:
        self.got: list[tuple[dict[str, Any] | None, str]] = []

    def push(self, data: bytes) -> None:
        self.got.append((json.loads(data), "send"))

    async def close(self, failure: dict[str, Any] | None, how: How) -> None:
        self.got.append((failure, how))


@dataclass
class Node:
    live: LiveSessions
    bus: RedisBus
    sockets: dict[str, Socket] = field(default_factory=dict)
    subscriptions: int = 0

    def add(self, session_id: str, user: str, token: str | None, app: str = "a1") -> Socket:
        socket = self.sockets[session_id] = Socket()
        self.live.add(LiveSession(session_id, app, user, token, time.time(), "", "",
                                  socket))
        return socket

    def subscribed(self) -> None:
        self.subscriptions += 1


Cluster = Callable[..., Awaitable[Node]]


@pytest.fixture
async def cluster(redis_server: RedisServer) -> AsyncIterator[Cluster]:
    """Starts nodes on one channel of their own; stops them, and restarts a stopped Redis."""
    prefix, nodes, inventories = redis_server.prefix(), [], []

    async def start(name: str, inventory: bool = False) -> Node:
        live = LiveSessions()
        found = None
        if inventory:
            found = RedisInventory(live, redis_server.url(), name, prefix=prefix)
            await found.start()
            inventories.append(found)
        node = Node(live, RedisBus(live, redis_server.url(), name, prefix=prefix,
                                   inventory=found))
        node.bus.on_subscribed = node.subscribed
        await node.bus.start()
        nodes.append(node)
        return node

    try:
        yield start
    finally:
        if not redis_server.running:
            redis_server.start()
        for node in nodes:
            await node.bus.stop()
        for inventory in inventories:
            await inventory.stop()


async def test_end_on_one_node_ends_the_named_sessions_on_every_node(cluster: Cluster) -> None:
    """end on node A ends A's matching session at once and B's with the failure ack, bumping
    B's revocation counter; B's sessions on other tokens stay."""
    a, b = await cluster("a"), await cluster("b")
    mine, theirs, other_token = a.add("s1", "ann", "t1"), b.add("s2", "ann", "t1"), \
        b.add("s3", "ann", "t2")
    assert await a.bus.end(Target("a1", "ann", frozenset({"t1"})), "Access token revoked") == 1
    assert mine.got == [REVOKED] and a.live.revocations == 1
    await eventually(lambda: theirs.got)
    assert theirs.got == [REVOKED] and other_token.got == [] and b.live.revocations == 1


async def test_send_reaches_other_nodes_without_counting_a_revocation(cluster: Cluster) -> None:
    """send pushes the frame to another node's matching sessions, tokens None included, and
    bumps no revocation counter."""
    a, b = await cluster("a"), await cluster("b")
    bob = b.add("s1", "bob", None)
    assert await a.bus.send(Target("a1", "bob", frozenset({None})), {"t": "hello"}) == 0
    await eventually(lambda: bob.got)
    assert bob.got == [({"t": "hello"}, "send")]
    assert a.live.revocations == 0 and b.live.revocations == 0


async def test_a_node_ignores_its_own_messages(cluster: Cluster) -> None:
    """A node that published an end does not act on it again when Redis hands it back: its
    session gets one failure ack and its counter one bump."""
    a, b = await cluster("a"), await cluster("b")
    mine, marker, theirs = a.add("s1", "ann", "t1"), a.add("s9", "zed", None), \
        b.add("s2", "ann", "t1")
    await a.bus.end(Target("a1", "ann"), "Access token revoked")
    await eventually(lambda: theirs.got)
    await b.bus.send(Target("a1", "zed"), {"t": "after"})
    await eventually(lambda: marker.got)  # A's subscription has passed its own message
    assert mine.got == [REVOKED] and a.live.revocations == 1


async def test_end_counts_the_sessions_other_nodes_hold(cluster: Cluster) -> None:
    """With an inventory, end returns this node's sessions plus those the inventory lists on
    other nodes for the target."""
    a, b = await cluster("a", inventory=True), await cluster("b", inventory=True)
    a.add("s1", "ann", "t1")
    b.add("s2", "ann", "t1")
    b.add("s3", "ann", "t1")
    b.add("s4", "ann", "t2")
    assert a.bus.inventory is not None
    await eventually(lambda: _count(a.bus.inventory, "ann", 4))
    assert await a.bus.end(Target("a1", "ann", frozenset({"t1"})), "Access token revoked") == 3
    await eventually(lambda: b.sockets["s2"].got and b.sockets["s3"].got)
    assert b.sockets["s4"].got == []


async def _count(inventory: RedisInventory, user: str, expected: int) -> bool:
    return len(await inventory.for_user("a1", user)) == expected


async def test_with_redis_down_end_returns_at_once_and_ends_local_sessions(
        cluster: Cluster, redis_server: RedisServer,
        caplog: pytest.LogCaptureFixture) -> None:
    """With Redis gone, end still ends this node's sessions and returns well under a second,
    each time, and the outage is logged once."""
    a = await cluster("a")
    redis_server.stop()
    caplog.set_level(logging.WARNING, "chatcamp_server.cluster")
    for n in range(3):
        mine = a.add(f"s{n}", "ann", "t1")
        started = time.monotonic()
        assert await a.bus.end(Target("a1", "ann"), "Access token revoked") == 1
        assert time.monotonic() - started < 0.5
        assert mine.got == [REVOKED] and a.live.revocations == n + 1
        a.live.remove(a.live.for_user("a1", "ann")[0])
    await eventually(lambda: not a.bus.healthy)
    warnings = [r.getMessage() for r in caplog.records if "Redis unavailable" in r.getMessage()]
    assert len(warnings) == 1 and redis_server.url() not in warnings[0]


async def test_delivery_across_nodes_comes_back_with_redis(cluster: Cluster,
                                                           redis_server: RedisServer) -> None:
    """After Redis restarts, both buses subscribe again by themselves (telling the node
    through on_subscribed) and an end reaches the other node again."""
    a, b = await cluster("a"), await cluster("b")
    assert a.subscriptions == 1 and b.subscriptions == 1 and a.bus.healthy
    redis_server.stop()
    await eventually(lambda: not a.bus.healthy and not b.bus.healthy)
    redis_server.start()
    await eventually(lambda: a.bus.healthy and b.bus.healthy)
    assert a.subscriptions == 2 and b.subscriptions == 2
    theirs = b.add("s1", "ann", "t1")
    await a.bus.end(Target("a1", "ann"), "Access token revoked")
    await eventually(lambda: theirs.got)
    assert theirs.got == [REVOKED] and b.live.revocations == 1


async def test_a_malformed_message_is_ignored(cluster: Cluster, redis_server: RedisServer,
                                              caplog: pytest.LogCaptureFixture) -> None:
    """Garbage on the bus's channel is logged and skipped; the next message is still
    delivered."""
    a, b = await cluster("a"), await cluster("b")
    theirs = b.add("s1", "ann", "t1")
    raw = Redis.from_url(redis_server.url())
    try:
        channel = b.bus._channel
        for garbage in ("not json", '{"from": "x", "do": "end", "to": [1, 2]}',
                        '{"from": "x", "do": "explode", "to": ["a1", null, null, null]}'):
            await raw.publish(channel, garbage)
    finally:
        await raw.aclose()
    await a.bus.end(Target("a1", "ann"), "Access token revoked")
    await eventually(lambda: theirs.got)
    assert theirs.got == [REVOKED] and b.live.revocations == 1
    assert sum("node b: ignored a malformed" in r.getMessage() for r in caplog.records) == 3
