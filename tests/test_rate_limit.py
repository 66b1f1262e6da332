"""In-process: the failed-login windows, with a hand-driven clock, in memory and in Redis."""

from __future__ import annotations

from typing import AsyncIterator, Callable

import pytest
from redis_service import RedisServer

from chatcamp_server.errors import RateLimited
from chatcamp_server.sessions import redis_limits, redis_support
from chatcamp_server.sessions.rate_limit import LoginLimits, MemoryLoginLimits
from chatcamp_server.sessions.redis_limits import RedisLoginLimits
from chatcamp_server.settings import Limits


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def settings(**limits: float) -> Limits:
    chosen = {"failed_logins_per_user": 3, "failed_logins_per_address": 5,
              "failed_login_window": 60.0, **limits}
    return Limits(**chosen)  # type: ignore[arg-type]


Make = Callable[..., LoginLimits]


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest,
                  monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Make]:
    """Makes the limits under test, in this process or in Redis (keys of their own each);
    the Redis ones must have counted in Redis throughout, not in their fallback.  These
    tests are of the counting, not of outages (tests/test_redis_limits.py has those), so
    their connections get longer than the 250 ms a node allows: a loaded test machine must
    not turn one slow connect into a fallback."""
    made: list[RedisLoginLimits] = []
    server: RedisServer | None = (request.getfixturevalue("redis_server")
                                  if request.param == "redis" else None)
    monkeypatch.setattr(redis_support, "CONNECT_TIMEOUT", 5.0)
    monkeypatch.setattr(redis_support, "COMMAND_TIMEOUT", 5.0)
    monkeypatch.setattr(redis_limits, "COMMAND_TIMEOUT", 5.0)

    def make(clock: Clock, **limits: float) -> LoginLimits:
        if server is None:
            return MemoryLoginLimits(settings(**limits), clock)
        made.append(RedisLoginLimits(settings(**limits), server.url(), prefix=server.prefix(),
                                     clock=clock))
        return made[-1]

    yield make
    for limits in made:
        assert limits.healthy
        await limits.aclose()


async def test_user_locked_after_limit_until_oldest_failure_leaves_window(limiter: Make) -> None:
    """The 3rd failure locks the user; the lock lifts when the 1st failure is 60 s old."""
    clock = Clock()
    failures = limiter(clock)
    for step in range(3):
        await failures.check("1.1.1.1", "app", "bob")
        await failures.failed("1.1.1.1", "app", "bob")
        clock.now += 10
    with pytest.raises(RateLimited) as locked:
        await failures.check("2.2.2.2", "app", "bob")
    assert locked.value.retry_after == 30 and "for this user" in locked.value.message
    clock.now += 29.5
    with pytest.raises(RateLimited):
        await failures.check("2.2.2.2", "app", "bob")
    clock.now += 0.5
    await failures.check("2.2.2.2", "app", "bob")


async def test_other_users_and_apps_are_not_locked(limiter: Make) -> None:
    """A locked user does not lock the same ID in another app, nor other IDs."""
    clock = Clock()
    failures = limiter(clock)
    for _ in range(3):
        await failures.failed(f"10.0.0.{_}", "app", "bob")
    await failures.check("10.0.0.9", "app", "carol")
    await failures.check("10.0.0.9", "other-app", "bob")
    with pytest.raises(RateLimited):
        await failures.check("10.0.0.9", "app", "bob")


async def test_address_locked_across_user_ids(limiter: Make) -> None:
    """Five failures over five user IDs lock the address, for every user and for no-user checks."""
    clock = Clock()
    failures = limiter(clock)
    for n in range(5):
        await failures.failed("6.6.6.6", "app", f"user-{n}")
    with pytest.raises(RateLimited) as locked:
        await failures.check("6.6.6.6", "app", "fresh-user")
    assert "from this address" in locked.value.message
    with pytest.raises(RateLimited):
        await failures.check("6.6.6.6")
    await failures.check("7.7.7.7", "app", "fresh-user")


async def test_zero_turns_a_limit_off(limiter: Make) -> None:
    """failed_logins_per_address=0 never locks an address (a proxy in front)."""
    clock = Clock()
    failures = limiter(clock, failed_logins_per_address=0)
    for n in range(50):
        await failures.failed("proxy", "app", f"user-{n}")
    await failures.check("proxy", "app", "user-x")


async def test_memory_is_bounded_by_forgetting_least_recent() -> None:
    """At most failed_login_keys users are tracked; the least recently failed go first."""
    clock = Clock()
    failures = MemoryLoginLimits(settings(failed_login_keys=100, failed_logins_per_user=1,
                                          failed_logins_per_address=0), clock)
    for n in range(1000):
        await failures.failed("a", "app", f"user-{n}")
    assert len(failures._users._times) == 100
    with pytest.raises(RateLimited):
        await failures.check("a", "app", "user-999")
    await failures.check("a", "app", "user-0")


async def test_refusals_do_not_extend_the_lock(limiter: Make) -> None:
    """Checking while locked is not a failure: the lock lifts on schedule however often one asks."""
    clock = Clock()
    failures = limiter(clock)
    for _ in range(3):
        await failures.failed("a", "app", "bob")
    for _ in range(100):
        with pytest.raises(RateLimited):
            await failures.check("a", "app", "bob")
        clock.now += 0.5
    clock.now += 10
    await failures.check("a", "app", "bob")


async def test_failures_from_one_address_lock_only_that_pair(limiter: Make) -> None:
    """Below the user's ceiling, failures lock the (user, address) pair: the same user from
    another address is untouched, so a stranger cannot lock a user out."""
    clock = Clock()
    failures = limiter(clock, failed_logins_per_user_address=2, failed_logins_per_user=100)
    for _ in range(2):
        await failures.failed("6.6.6.6", "app", "bob")
    with pytest.raises(RateLimited) as locked:
        await failures.check("6.6.6.6", "app", "bob")
    assert "for this user from this address" in locked.value.message
    await failures.check("1.1.1.1", "app", "bob")


async def test_user_ceiling_spares_addresses_known_for_the_user(limiter: Make) -> None:
    """Past the ceiling over all addresses, only addresses that logged in as the user within
    known_address_seconds still get in; the exemption expires."""
    clock = Clock()
    failures = limiter(clock, failed_logins_per_user_address=100, failed_logins_per_user=3,
                       failed_logins_per_address=100, known_address_seconds=30.0)
    await failures.succeeded("1.1.1.1", "app", "bob")
    for n in range(3):
        await failures.failed(f"10.0.0.{n}", "app", "bob")
    with pytest.raises(RateLimited) as locked:
        await failures.check("10.0.0.99", "app", "bob")
    assert "for this user;" in locked.value.message
    clock.now += 29
    await failures.check("1.1.1.1", "app", "bob")
    clock.now += 1
    with pytest.raises(RateLimited):
        await failures.check("1.1.1.1", "app", "bob")


async def test_new_users_per_address_are_counted_and_bounded(limiter: Make) -> None:
    """creating_user counts every user an address creates; past the limit it refuses until
    the oldest leaves the window, and other addresses are untouched."""
    clock = Clock()
    failures = limiter(clock, new_users_per_address=2)
    await failures.creating_user("6.6.6.6")
    clock.now += 10
    await failures.creating_user("6.6.6.6")
    with pytest.raises(RateLimited) as limited:
        await failures.creating_user("6.6.6.6")
    assert limited.value.retry_after == 50 and "new users" in limited.value.message
    await failures.creating_user("7.7.7.7")
    clock.now += 50
    await failures.creating_user("6.6.6.6")


async def test_an_ipv6_slash_64_is_one_address(limiter: Make) -> None:
    """Addresses in one IPv6 /64 share the per-address limits, and an IPv4-mapped address is
    its IPv4 one: a client cannot walk through its own /64 to escape them."""
    clock = Clock()
    failures = limiter(clock)
    for n in range(5):
        await failures.failed(f"2001:db8:1:2::{n + 1:x}", "app", f"user-{n}")
    with pytest.raises(RateLimited):
        await failures.check("2001:db8:1:2:ffff::9", "app", "fresh-user")
    await failures.check("2001:db8:1:3::1", "app", "fresh-user")
    for n in range(5):
        await failures.failed("::ffff:192.0.2.1", "app", f"user-{n}")
    with pytest.raises(RateLimited):
        await failures.check("192.0.2.1")
