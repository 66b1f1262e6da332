"""In-process, on a private Redis: the login limits are shared by every node, kept only as
long as they count, and fall back to this node's memory while Redis is down."""

from __future__ import annotations

import logging
import time
from typing import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis
from redis_service import RedisServer, eventually

from chatcamp_server.errors import RateLimited
from chatcamp_server.sessions.redis_limits import RedisLoginLimits
from chatcamp_server.settings import Limits

LIMITS = Limits(failed_logins_per_user_address=3, failed_logins_per_user=10,
                failed_logins_per_address=10, failed_login_window=60.0,
                known_address_seconds=3600.0)

Nodes = Callable[[], RedisLoginLimits]


@pytest.fixture
async def nodes(redis_server: RedisServer) -> AsyncIterator[Nodes]:
    """Makes nodes' limits on one set of keys, on Redis's own clock; closes them, and
    restarts a stopped Redis."""
    prefix, made = redis_server.prefix(), []

    def node() -> RedisLoginLimits:
        made.append(RedisLoginLimits(LIMITS, redis_server.url(), prefix=prefix))
        return made[-1]

    try:
        yield node
    finally:
        if not redis_server.running:
            redis_server.start()
        for limits in made:
            await limits.aclose()


async def test_failures_counted_on_one_node_lock_on_another(nodes: Nodes) -> None:
    """Failures that two nodes count, on Redis's clock, add up: the pair locks on both, for
    the window, and the same user from another address still gets in."""
    a, b = nodes(), nodes()
    await a.failed("6.6.6.6", "app", "bob")
    await b.failed("6.6.6.6", "app", "bob")
    await a.failed("6.6.6.6", "app", "bob")
    for node in (a, b):
        with pytest.raises(RateLimited) as locked:
            await node.check("6.6.6.6", "app", "bob")
        assert locked.value.retry_after == 60
    await b.check("1.1.1.1", "app", "bob")


async def test_every_key_expires_with_what_it_counts(nodes: Nodes,
                                                     redis_server: RedisServer) -> None:
    """Each window's key lasts one window past its last entry and the known address as long
    as its exemption, so Redis keeps no more than what still counts."""
    a = nodes()
    await a.failed("6.6.6.6", "app", "bob")
    await a.succeeded("7.7.7.7", "app", "bob")
    await a.creating_user("8.8.8.8")
    raw = Redis.from_url(redis_server.url(), decode_responses=True)
    try:
        keys = await raw.keys(f"{a._prefix}*")
        ttls = {key.split(":")[2]: await raw.pttl(key) for key in keys}
    finally:
        await raw.aclose()
    assert len(keys) == 5
    assert all(59_000 < ttls[kind] <= 60_000 for kind in ("address", "pair", "user", "new"))
    assert 3_599_000 < ttls["known"] <= 3_600_000


async def test_with_redis_down_this_node_limits_alone_then_redis_again(
        nodes: Nodes, redis_server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    """With Redis gone, logins are neither blocked nor unlimited: this node's memory counts
    and locks, each call answers at once, each node logs the outage once; once Redis is back,
    the limits are shared again."""
    a, b = nodes(), nodes()
    caplog.set_level(logging.WARNING, "chatcamp_server.cluster")
    redis_server.stop()
    for _ in range(3):
        started = time.monotonic()
        await a.check("6.6.6.6", "app", "bob")
        await a.failed("6.6.6.6", "app", "bob")
        assert time.monotonic() - started < 0.5
    with pytest.raises(RateLimited):
        await a.check("6.6.6.6", "app", "bob")
    await b.check("6.6.6.6", "app", "bob")
    assert not a.healthy
    assert len([r for r in caplog.records if "Redis unavailable" in r.getMessage()]) == 2
    redis_server.start()
    await eventually(lambda: _checks_in_redis(a))
    for _ in range(3):
        await a.failed("9.9.9.9", "app", "carol")
    with pytest.raises(RateLimited):
        await b.check("9.9.9.9", "app", "carol")
    assert b.healthy


async def _checks_in_redis(limits: RedisLoginLimits) -> bool:
    await limits.check("1.1.1.1")
    return limits.healthy
