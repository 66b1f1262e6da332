"""In-process, on a private Redis: every node lists every node's sessions and reports, a dead
node's sessions and report lapse, and Redis restarting empty or going away costs no listing
of this node's."""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
import time
from typing import Any, AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis
from redis_service import RedisServer, eventually
from server_process import ROOT

from chatcamp_server.sessions.inventory import record
from chatcamp_server.sessions.live import How, LiveSession, LiveSessions
from chatcamp_server.sessions.redis_inventory import RedisInventory
from chatcamp_server.sessions.redis_support import COMMAND_TIMEOUT

QUICK = {"heartbeat_interval": 0.1, "heartbeat_ttl": 1.0}
"""A heartbeat fast enough for a test to see a node lapse in a second."""

KILLED_NODE = """
import asyncio, sys
from chatcamp_server.sessions.live import LiveSession, LiveSessions
from chatcamp_server.sessions.redis_inventory import RedisInventory
from chatcamp_server.sessions.redis_support import COMMAND_TIMEOUT

async def main() -> None:
    live = LiveSessions()
    inventory = RedisInventory(live, sys.argv[1], "b", prefix=sys.argv[2],
                               heartbeat_interval=0.1, heartbeat_ttl=1.0)
    await inventory.start()
    class Socket:
        def push(self, data): pass
        async def close(self, failure, how): pass
    live.add(LiveSession("s2", "a1", "ann", None, 2.0, "", "", Socket()))
    await asyncio.Event().wait()

asyncio.run(main())
"""


class Ignored:
    """A session's socket, for sessions that are only listed."""

    def push(self, data: bytes) -> None:
        pass

    async def close(self, failure: dict[str, Any] | None, how: How) -> None:
        pass


def session(session_id: str, user: str, started_at: float) -> LiveSession:
    return LiveSession(session_id, "a1", user, None, started_at, "10.0.0.1", "test",
                       Ignored(), key_expires_at=started_at + 86400)


def report_of(inventory: RedisInventory) -> dict[str, Any]:
    """A report that names its node and changes with its sessions, as the server's does."""
    return {"node": inventory.node_id, "live": {"a1": len(inventory.live.all())}}


Start = Callable[..., Awaitable[RedisInventory]]


@pytest.fixture
async def prefix(redis_server: RedisServer) -> str:
    return redis_server.prefix()


@pytest.fixture
async def nodes(redis_server: RedisServer, prefix: str) -> AsyncIterator[Start]:
    """Starts nodes' inventories on keys of their own; stops those still running, and
    restarts a stopped Redis."""
    started: list[RedisInventory] = []

    async def start(name: str, **options: float) -> RedisInventory:
        inventory = RedisInventory(LiveSessions(), redis_server.url(), name, prefix=prefix,
                                   **options)
        inventory.report = lambda: report_of(inventory)
        await inventory.start()
        started.append(inventory)
        return inventory

    try:
        yield start
    finally:
        if not redis_server.running:
            redis_server.start()
        for inventory in started:
            if inventory._tasks:
                await inventory.stop()


def listed(inventory: RedisInventory, user: str = "ann") -> Callable[[], Awaitable[list[str]]]:
    async def ids() -> list[str]:
        return [found["session_id"] for found in await inventory.for_user("a1", user)]
    return ids


async def test_every_node_lists_every_nodes_sessions_oldest_first(nodes: Start) -> None:
    """A node lists its own sessions and another node's, as record() describes them, oldest
    first, and is_online sees a user whose only session is elsewhere."""
    a, b = await nodes("a"), await nodes("b")
    mine, theirs = session("s1", "ann", 1.0), session("s2", "ann", 2.0)
    b.live.add(theirs)
    a.live.add(mine)
    b.live.add(session("s3", "bob", 3.0))
    await eventually(lambda: _equal(listed(a), ["s1", "s2"]))
    assert await a.for_user("a1", "ann") == [record(mine), record(theirs)]
    assert await b.for_user("a1", "ann") == [record(mine), record(theirs)]
    assert await a.is_online("a1", "bob") and not await a.is_online("a1", "carol")
    assert await a.find("a1", "ann", "s2") == record(theirs)
    assert await a.online_among("a1", ["ann", "bob", "carol", "bob"]) == {"ann", "bob"}
    assert await b.online_among("a1", ["ann", "carol"]) == {"ann"}
    assert await a.online_among("a1", []) == set()


async def _equal(ids: Callable[[], Awaitable[list[str]]], expected: list[str]) -> bool:
    return await ids() == expected


async def test_a_removed_session_leaves_every_listing(nodes: Start) -> None:
    """A session that ends on one node leaves the other node's listing shortly after."""
    a, b = await nodes("a"), await nodes("b")
    theirs = session("s2", "ann", 2.0)
    b.live.add(theirs)
    await eventually(lambda: _equal(listed(a), ["s2"]))
    b.live.remove(theirs)
    await eventually(lambda: _equal(listed(a), []))
    assert not await a.is_online("a1", "ann")


async def test_a_killed_node_leaves_the_listings_and_redis(nodes: Start, prefix: str,
                                                           redis_server: RedisServer) -> None:
    """A node killed with SIGKILL drops out of other nodes' listings once its heartbeat
    lapses, and the others reap its entries from Redis."""
    a = await nodes("a", **QUICK)
    child = subprocess.Popen([sys.executable, "-c", KILLED_NODE, redis_server.url(), prefix],
                             cwd=ROOT)
    try:
        await eventually(lambda: _equal(listed(a), ["s2"]), timeout=20)
    finally:
        child.kill()
        child.wait()
    await eventually(lambda: _equal(listed(a), []), timeout=5)
    raw = Redis.from_url(redis_server.url())
    try:
        await eventually(lambda: _gone(raw, f"{prefix}node:b:sessions"), timeout=5)
        assert await raw.smembers(f"{prefix}nodes") == {b"a"}
        assert await raw.hlen(f'{prefix}user:["a1","ann"]') == 0
    finally:
        await raw.aclose()


async def _gone(raw: Redis, key: str) -> bool:
    return not await raw.exists(key)


async def test_stop_removes_the_nodes_entries_at_once(nodes: Start, prefix: str,
                                                      redis_server: RedisServer) -> None:
    """A node that stops leaves nothing behind: no wait for its heartbeat to lapse."""
    a, b = await nodes("a"), await nodes("b")
    b.live.add(session("s2", "ann", 2.0))
    await eventually(lambda: _equal(listed(a), ["s2"]))
    await b.stop()
    assert await listed(a)() == []
    raw = Redis.from_url(redis_server.url())
    try:
        assert sorted(await raw.keys(f"{prefix}*")) == [
            f"{prefix}node:a".encode(), f"{prefix}node:a:report".encode(),
            f"{prefix}nodes".encode()]
    finally:
        await raw.aclose()


async def test_redis_restarting_empty_gets_every_nodes_sessions_again(
        nodes: Start, redis_server: RedisServer) -> None:
    """After Redis restarts without its data, each node lists its live sessions again by
    itself, those added during the outage included, and those removed meanwhile not."""
    a, b = await nodes("a", **QUICK), await nodes("b", **QUICK)
    gone = session("s3", "ann", 3.0)
    b.live.add(session("s2", "ann", 2.0))
    b.live.add(gone)
    await eventually(lambda: _equal(listed(a), ["s2", "s3"]))
    redis_server.stop()
    await eventually(lambda: not a.healthy and not b.healthy)
    b.live.remove(gone)
    b.live.add(session("s4", "ann", 4.0))
    redis_server.start()
    await eventually(lambda: _equal(listed(a), ["s2", "s4"]))
    assert a.healthy and b.healthy


async def test_with_redis_down_a_node_answers_for_its_own_sessions(
        nodes: Start, redis_server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    """With Redis gone, for_user, is_online and online_among answer at once from this node's
    sessions, never raise, and the outage is logged once."""
    a, b = await nodes("a"), await nodes("b")
    a.live.add(session("s1", "ann", 1.0))
    b.live.add(session("s2", "ann", 2.0))
    b.live.add(session("s3", "bob", 3.0))
    await eventually(lambda: _equal(listed(a), ["s1", "s2"]))
    caplog.set_level(logging.WARNING, "chatcamp_server.cluster")
    redis_server.stop()
    for _ in range(3):
        async with asyncio.timeout(1):
            assert await listed(a)() == ["s1"]
            assert not await a.is_online("a1", "bob") and await a.is_online("a1", "ann")
            assert await a.online_among("a1", ["ann", "bob"]) == {"ann"}
    assert not a.healthy
    warnings = [r for r in caplog.records
                if "inventory of node a: Redis unavailable" in r.getMessage()]
    assert len(warnings) == 1


async def _reported(inventory: RedisInventory) -> list[Any]:
    """The nodes and live counts of ``inventory.reports()``, in its order."""
    return [(r.get("node"), r.get("live")) for r in await inventory.reports()]


async def _reports_equal(inventory: RedisInventory, expected: list[Any]) -> bool:
    return await _reported(inventory) == expected


async def test_every_node_gets_every_nodes_report_its_own_first(nodes: Start) -> None:
    """Each node's reports() holds its own report, fresh, then the other node's as of that
    node's last heartbeat."""
    a, b = await nodes("a", **QUICK), await nodes("b", **QUICK)
    assert await _reported(a) == [("a", {"a1": 0}), ("b", {"a1": 0})]
    assert await _reported(b) == [("b", {"a1": 0}), ("a", {"a1": 0})]
    a.live.add(session("s1", "ann", 1.0))
    assert (await a.reports())[0] == report_of(a)
    b.live.add(session("s2", "ann", 2.0))
    b.live.add(session("s3", "bob", 3.0))
    await eventually(lambda: _reports_equal(a, [("a", {"a1": 1}), ("b", {"a1": 2})]))
    await eventually(lambda: _reports_equal(b, [("b", {"a1": 2}), ("a", {"a1": 1})]))


async def test_a_stopped_node_leaves_the_reports_at_once(nodes: Start) -> None:
    """A node that stops is gone from the other nodes' reports with no wait for its
    heartbeat to lapse."""
    a, b = await nodes("a"), await nodes("b")
    assert len(await a.reports()) == 2
    await b.stop()
    assert await _reported(a) == [("a", {"a1": 0})]


async def test_a_dead_nodes_report_lapses_within_the_ttl(nodes: Start) -> None:
    """A node whose heartbeat stops without stop() keeps its report in the others' until its
    heartbeat lapses, and no longer than the heartbeat's TTL."""
    a, b = await nodes("a", **QUICK), await nodes("b", **QUICK)
    for task in b._tasks:
        task.cancel()
    died = time.monotonic()
    assert len(await a.reports()) == 2
    await eventually(lambda: _reports_equal(a, [("a", {"a1": 0})]), timeout=5)
    assert time.monotonic() - died <= b.heartbeat_ttl + 0.5


async def test_a_failing_report_does_not_stop_the_heartbeat(
        nodes: Start, caplog: pytest.LogCaptureFixture) -> None:
    """A node whose report raises still beats: the others list its sessions and get {} as
    its report, and the failure is logged."""
    a, b = await nodes("a", **QUICK), await nodes("b", **QUICK)

    def broken() -> dict[str, Any]:
        raise RuntimeError("no numbers")

    caplog.set_level(logging.ERROR, "chatcamp_server.cluster")
    b.report = broken
    b.live.add(session("s2", "ann", 2.0))
    await eventually(lambda: _reports_equal(a, [("a", {"a1": 0}), (None, None)]))
    assert (await a.reports())[1] == {}
    await eventually(lambda: _equal(listed(a), ["s2"]))
    assert b.healthy
    assert any("node b: its report failed" in r.getMessage() for r in caplog.records)


async def test_an_unreadable_report_is_left_out(nodes: Start, prefix: str,
                                               redis_server: RedisServer) -> None:
    """A live node's report that is not a JSON object is skipped, not raised."""
    a = await nodes("a")
    raw = Redis.from_url(redis_server.url())
    try:
        for node, report in (("x", "{not json"), ("y", "[1, 2]")):
            await raw.set(f"{prefix}node:{node}", "incarnation", px=60_000)
            await raw.set(f"{prefix}node:{node}:report", report, px=60_000)
            await raw.sadd(f"{prefix}nodes", node)
        assert await _reported(a) == [("a", {"a1": 0})]
    finally:
        await raw.aclose()


async def test_with_redis_down_reports_holds_this_nodes_report_alone(
        nodes: Start, redis_server: RedisServer) -> None:
    """With Redis gone, reports() answers at once with this node's own report, never
    raises, and the outage is recorded as the inventory's."""
    a, _ = await nodes("a"), await nodes("b")
    assert len(await a.reports()) == 2
    redis_server.stop()
    async with asyncio.timeout(1):
        assert await _reported(a) == [("a", {"a1": 0})]
    assert a.outage.down and not a.healthy
    a.live.add(session("s1", "ann", 1.0))
    for _ in range(2):
        async with asyncio.timeout(1):
            assert await _reported(a) == [("a", {"a1": 1})]


async def test_with_redis_hung_reports_gives_up_within_the_command_timeout(
        nodes: Start, redis_server: RedisServer) -> None:
    """A Redis that accepts nothing more (stopped with SIGSTOP) costs reports() one command
    timeout, after which it answers with this node's report alone."""
    a, _ = await nodes("a"), await nodes("b")
    assert len(await a.reports()) == 2
    process = redis_server._process
    assert process is not None
    process.send_signal(signal.SIGSTOP)
    try:
        asked = time.monotonic()
        assert await _reported(a) == [("a", {"a1": 0})]
        assert time.monotonic() - asked <= COMMAND_TIMEOUT + 0.25
        assert a.outage.down
    finally:
        process.send_signal(signal.SIGCONT)
