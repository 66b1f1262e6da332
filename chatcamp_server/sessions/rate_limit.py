"""Login limits: a brute force is bounded, without handing a stranger a way to lock users out.

Sliding windows of failure times, each bounded to ``failed_logins_*`` within
``failed_login_window`` seconds:

* per (app, user, address): the pair that fails too often waits.  The right credential is
  refused too: letting it through would let a guess that happens to be right succeed, so
  the attack would not be bounded.  The same user from any other address is untouched, so
  ten wrong tokens from a stranger lock out only the stranger (the pairing Auth0 uses).
* per (app, user), over all addresses, with a far higher ceiling: past it, the user's logins
  are refused from every address that has not logged in as them within
  ``known_address_seconds``.  A brute force spread over many addresses stays bounded, and
  the user still gets in from where they usually do.
* per address: after ``failed_logins_per_address`` failures, every login from that address
  waits, so one client cannot walk through many user IDs.
* new users per address: ID logins that create a user are counted, not only failures, so
  one client cannot fill the database with users.

The refusal's code, ``RATE_LIMITED``, is not one of the two that stop the SDK's reconnect
loop, so a refused browser comes back by itself once the window has passed.  A refusal
here is not itself a failure (it would keep a patient user locked out for ever),
and neither is a stale session key, which every client meets after a restart.  In
``MemoryLoginLimits`` the counters live in memory, bounded by ``failed_login_keys``: a restart
forgives everyone, which costs an attacker at most one more window per restart.

Each implementation counts, by scope, the lockouts it started: a failure (or a user created)
that filled a window, so that the limit refuses from then on.  The refusals that follow are
not counted again: they are one lockout, however often the locked-out client retries.
"""

from __future__ import annotations

import abc
import functools
import ipaddress
import math
import time
from collections import Counter, OrderedDict, deque
from typing import Callable

from chatcamp_server.errors import RateLimited
from chatcamp_server.settings import DEFAULT_LIMITS, Limits

ADDRESS_LIMITED = "Too many failed logins from this address"
PAIR_LIMITED = "Too many failed logins for this user from this address"
USER_LIMITED = "Too many failed logins for this user"
NEW_USERS_LIMITED = "Too many new users from this address"
"""What each refusal says, the same from every implementation."""
SCOPES = ("address", "user_address", "user", "new_users")
"""The limits, as ``chatcamp_login_lockouts_total`` labels them: per address, per user from
an address, per user from every address, new users per address."""


@functools.lru_cache(maxsize=4096)
def address_key(address: str) -> str:
    """What a per-address limit counts: an IPv4 address (an IPv4-mapped IPv6 one as the IPv4
    it is), or an IPv6 address's /64, which one subscriber usually holds whole: counted one
    by one, a /64 would give one client 2^64 addresses."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return address


class _Windows:
    def __init__(self, limit: int, window: float, max_keys: int, scope: str,
                 started: Counter[str]) -> None:
        """``started`` counts, under ``scope``, each record that fills a key's window."""
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self.scope = scope
        self.started = started
        self._times: OrderedDict[object, deque[float]] = OrderedDict()

    def _recent(self, key: object, now: float) -> deque[float] | None:
        times = self._times.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._times[key]
            return None
        return times

    def retry_after(self, key: object, now: float) -> float:
        """Seconds until ``key`` may try again; 0 when it may now."""
        if self.limit <= 0:
            return 0.0
        times = self._recent(key, now)
        if times is None or len(times) < self.limit:
            return 0.0
        return times[-self.limit] + self.window - now

    def record(self, key: object, now: float) -> None:
        if self.limit <= 0:
            return
        times = self._recent(key, now)
        if times is None:
            times = self._times[key] = deque(maxlen=self.limit)
        was_full = len(times) == self.limit
        times.append(now)
        if not was_full and len(times) == self.limit:
            self.started[self.scope] += 1
        self._times.move_to_end(key)
        while len(self._times) > self.max_keys:
            self._times.popitem(last=False)

    def locked(self, now: float) -> int:
        """Keys refused now: one pass over the keys (a few ms at ``failed_login_keys``),
        made at a scrape, never on a login."""
        if self.limit <= 0:
            return 0
        since = now - self.window
        return sum(1 for times in self._times.values()
                   if len(times) == self.limit and times[0] > since)


class LoginLimits(abc.ABC):
    """The login limits as the server uses them: asynchronous, so that the counters can live
    in this process or in a store every node shares."""

    @abc.abstractmethod
    async def check(self, address: str, app_id: str | None = None,
                    user_id: str | None = None) -> None:
        """Raise ``RateLimited`` when this address, this user from this address, or (from an
        address not known for them) this user, has failed too often."""

    @abc.abstractmethod
    async def failed(self, address: str, app_id: str | None = None,
                     user_id: str | None = None) -> None:
        """Count a failed login (or a wrong API key, without a user)."""

    @abc.abstractmethod
    async def succeeded(self, address: str, app_id: str, user_id: str) -> None:
        """Remember that this address logged in as this user: the user's ceiling spares it."""

    lockouts: Counter[str]
    """Lockouts started, by scope (``SCOPES``), since this process started."""

    def locked_out(self) -> dict[str, int] | None:
        """What each scope refuses now, when these limits can tell without a round trip."""
        return None

    async def aclose(self) -> None:
        """Release what the counters hold outside this process (a connection to Redis)."""

    @abc.abstractmethod
    async def creating_user(self, address: str) -> None:
        """Count one user created by an ID login from ``address``; refuse past the limit."""


class MemoryLoginLimits(LoginLimits):
    """The limits in this process's memory: one server, and a restart forgives everyone."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS,
                 clock: Callable[[], float] = time.monotonic,
                 lockouts: Counter[str] | None = None) -> None:
        """``lockouts``: where to count, when another implementation counts there too."""
        self.clock = clock
        self.lockouts = Counter() if lockouts is None else lockouts

        def windows(limit: int, scope: str) -> _Windows:
            return _Windows(limit, limits.failed_login_window, limits.failed_login_keys, scope,
                            self.lockouts)

        self._addresses = windows(limits.failed_logins_per_address, "address")
        self._pairs = windows(limits.failed_logins_per_user_address, "user_address")
        self._users = windows(limits.failed_logins_per_user, "user")
        self._new_users = windows(limits.new_users_per_address, "new_users")
        self._known: dict[int, float] = {}
        """hash((app, user, address)) → when it last logged in: a hash, not the strings, since
        every login adds one (Python's string hashes are seeded per process, so no one can
        aim a collision at another user's entry)."""
        self._known_for = limits.known_address_seconds
        self._max_keys = limits.failed_login_keys

    async def check(self, address: str, app_id: str | None = None,
                    user_id: str | None = None) -> None:
        address = address_key(address)
        now = self.clock()
        refuse(self._addresses.retry_after(address, now), ADDRESS_LIMITED)
        if app_id is None or user_id is None:
            return
        refuse(self._pairs.retry_after((app_id, user_id, address), now), PAIR_LIMITED)
        if not self._is_known(app_id, user_id, address, now):
            refuse(self._users.retry_after((app_id, user_id), now), USER_LIMITED)

    async def failed(self, address: str, app_id: str | None = None,
                     user_id: str | None = None) -> None:
        address = address_key(address)
        now = self.clock()
        self._addresses.record(address, now)
        if app_id is not None and user_id is not None:
            self._pairs.record((app_id, user_id, address), now)
            self._users.record((app_id, user_id), now)

    async def succeeded(self, address: str, app_id: str, user_id: str) -> None:
        key = _known_key(app_id, user_id, address_key(address))
        self._known.pop(key, None)
        self._known[key] = self.clock()
        if len(self._known) > self._max_keys:
            del self._known[next(iter(self._known))]

    async def creating_user(self, address: str) -> None:
        address = address_key(address)
        now = self.clock()
        refuse(self._new_users.retry_after(address, now), NEW_USERS_LIMITED)
        self._new_users.record(address, now)

    def locked_out(self) -> dict[str, int]:
        now = self.clock()
        return {windows.scope: windows.locked(now) for windows in
                (self._addresses, self._pairs, self._users, self._new_users)}

    def _is_known(self, app_id: str, user_id: str, address: str, now: float) -> bool:
        seen = self._known.get(_known_key(app_id, user_id, address))
        return seen is not None and now - seen < self._known_for


def _known_key(app_id: str, user_id: str, address: str) -> int:
    return hash((app_id, user_id, address))


def refuse(wait: float, what: str) -> None:
    """Raise ``RateLimited`` for a positive ``wait``, telling whole seconds."""
    if wait > 0:
        raise RateLimited(f"{what}; try again in {math.ceil(wait)} s", math.ceil(wait))
