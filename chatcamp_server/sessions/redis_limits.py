"""The login limits of a cluster: ``MemoryLoginLimits``' windows, shared by every node in Redis.

Each window is a list of failure times, trimmed to its limit and expiring a window after its
last entry, so Redis holds only what still counts.  Each call is one script (one round trip),
which reads and writes atomically: two nodes counting the same user's failures at once count
both.  The times are Redis's own (``TIME``) unless a clock is given, so nodes with skewed
clocks still agree on when a window ends.

Keys, under a prefix (``chatcamp:`` unless told), all expiring::

    limits:address:ADDRESS          failures of an address
    limits:pair:["APP","USER","ADDRESS"]   failures of a user from an address
    limits:user:["APP","USER"]      failures of a user from every address
    limits:new:ADDRESS              users an address created
    limits:known:DIGEST             when an address last logged in as a user

With Redis down, a ``MemoryLoginLimits`` of this node takes over: logins go on, still limited
per node, and what it counted is forgotten when Redis is back, which costs an attacker at
most one more window per outage.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import Counter
from typing import Any, Callable

from redis.commands.core import AsyncScript

from chatcamp_server.sessions.rate_limit import (
    ADDRESS_LIMITED,
    NEW_USERS_LIMITED,
    PAIR_LIMITED,
    USER_LIMITED,
    LoginLimits,
    MemoryLoginLimits,
    address_key,
    refuse,
)
from chatcamp_server.sessions.redis_support import (
    COMMAND_TIMEOUT,
    RECONNECT_INTERVAL,
    UNAVAILABLE,
    Outage,
    connect,
)
from chatcamp_server.settings import DEFAULT_LIMITS, Limits

_WINDOWS = """
local now, stamp = tonumber(ARGV[1]), ARGV[1]
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
  stamp = string.format('%.6f', now)
end
local window = tonumber(ARGV[2])
local function wait(key, limit)
  if limit <= 0 or redis.call('LLEN', key) < limit then return 0 end
  local oldest = tonumber(redis.call('LINDEX', key, -limit))
  if oldest <= now - window then return 0 end
  return oldest + window - now
end
local function count(key, limit)
  if limit <= 0 then return false end
  local was_locked = wait(key, limit) > 0
  redis.call('RPUSH', key, stamp)
  redis.call('LTRIM', key, -limit, -1)
  redis.call('PEXPIRE', key, math.ceil(window * 1000))
  return not was_locked and wait(key, limit) > 0
end
local function seconds(wait) return string.format('%.17g', wait) end
"""
"""ARGV[1] is the time ('' for Redis's), ARGV[2] the window.  A window's list holds its last
``limit`` times; the oldest of them, while inside the window, is when the next try is due,
as in ``rate_limit._Windows``.  Waits go back as strings: Lua numbers would be truncated.
``count`` says whether its entry filled the window: a lockout starts."""

_CHECK = _WINDOWS + """
local w = wait(KEYS[1], tonumber(ARGV[3]))
if w > 0 then return {'address', seconds(w)} end
if #KEYS == 1 then return {'', '0'} end
w = wait(KEYS[2], tonumber(ARGV[4]))
if w > 0 then return {'pair', seconds(w)} end
local seen = redis.call('GET', KEYS[4])
if not seen or now - tonumber(seen) >= tonumber(ARGV[6]) then
  w = wait(KEYS[3], tonumber(ARGV[5]))
  if w > 0 then return {'user', seconds(w)} end
end
return {'', '0'}
"""
"""KEYS: address [, pair, user, known]; ARGV: time, window, the three limits, known_for."""

_FAILED = _WINDOWS + """
local started = {}
if count(KEYS[1], tonumber(ARGV[3])) then table.insert(started, 'address') end
if #KEYS == 3 then
  if count(KEYS[2], tonumber(ARGV[4])) then table.insert(started, 'user_address') end
  if count(KEYS[3], tonumber(ARGV[5])) then table.insert(started, 'user') end
end
return started
"""
"""KEYS: address [, pair, user]; ARGV: time, window, the three limits.  Replies with the
scopes (``rate_limit.SCOPES``) of the lockouts this failure started."""

_SUCCEEDED = _WINDOWS + """
redis.call('SET', KEYS[1], stamp, 'PX', math.ceil(tonumber(ARGV[3]) * 1000))
"""
"""KEYS: known; ARGV: time, window (unused), known_for."""

_CREATING_USER = _WINDOWS + """
local w = wait(KEYS[1], tonumber(ARGV[3]))
if w > 0 then return {seconds(w), 0} end
if count(KEYS[1], tonumber(ARGV[3])) then return {'0', 1} end
return {'0', 0}
"""
"""KEYS: new users of the address; ARGV: time, window, limit.  Replies with the wait, and 1
when this user started a lockout."""

_REFUSALS = {"address": ADDRESS_LIMITED, "pair": PAIR_LIMITED, "user": USER_LIMITED}


class RedisLoginLimits(LoginLimits):
    """``clock`` None takes the time from Redis; tests hand a clock of their own.  When Redis
    is down, this node's ``fallback`` counts, and Redis is tried again at most every
    ``RECONNECT_INTERVAL``, so that a Redis that hangs costs one login a short wait, not
    every login."""

    def __init__(self, limits: Limits = DEFAULT_LIMITS, redis_url: str = "redis://localhost",
                 *, prefix: str = "chatcamp:", clock: Callable[[], float] | None = None) -> None:
        self.limits = limits
        self.clock = clock
        self.lockouts: Counter[str] = Counter()
        self.fallback = MemoryLoginLimits(limits, clock or time.time, self.lockouts)
        self._prefix = f"{prefix}limits:"
        self._redis = connect(redis_url)
        self._check = self._redis.register_script(_CHECK)
        self._failed = self._redis.register_script(_FAILED)
        self._succeeded = self._redis.register_script(_SUCCEEDED)
        self._creating_user = self._redis.register_script(_CREATING_USER)
        self.outage = Outage("limits", "login limits", "counting on this node alone")
        self._retry_at = 0.0

    @property
    def healthy(self) -> bool:
        """Whether the limits are counted in Redis now, not by this node alone."""
        return not self.outage.down

    async def aclose(self) -> None:
        await self._redis.aclose()

    async def check(self, address: str, app_id: str | None = None,
                    user_id: str | None = None) -> None:
        address = address_key(address)
        keys = [self._key("address", address)]
        if app_id is not None and user_id is not None:
            keys += [self._key("pair", app_id, user_id, address),
                     self._key("user", app_id, user_id), self._known(app_id, user_id, address)]
        limits = self.limits
        reply = await self._run(self._check, keys, limits.failed_logins_per_address,
                                limits.failed_logins_per_user_address,
                                limits.failed_logins_per_user, limits.known_address_seconds)
        if reply is None:
            await self.fallback.check(address, app_id, user_id)
        elif reply[0]:
            refuse(float(reply[1]), _REFUSALS[reply[0]])

    async def failed(self, address: str, app_id: str | None = None,
                     user_id: str | None = None) -> None:
        address = address_key(address)
        keys = [self._key("address", address)]
        if app_id is not None and user_id is not None:
            keys += [self._key("pair", app_id, user_id, address),
                     self._key("user", app_id, user_id)]
        limits = self.limits
        started = await self._run(self._failed, keys, limits.failed_logins_per_address,
                                  limits.failed_logins_per_user_address,
                                  limits.failed_logins_per_user)
        if started is None:
            await self.fallback.failed(address, app_id, user_id)
        else:
            self.lockouts.update(started)

    async def succeeded(self, address: str, app_id: str, user_id: str) -> None:
        known = self._known(app_id, user_id, address_key(address))
        if await self._run(self._succeeded, [known], self.limits.known_address_seconds,
                           ok=True) is None:
            await self.fallback.succeeded(address, app_id, user_id)

    async def creating_user(self, address: str) -> None:
        address = address_key(address)
        reply = await self._run(self._creating_user, [self._key("new", address)],
                                self.limits.new_users_per_address)
        if reply is None:
            await self.fallback.creating_user(address)
            return
        wait, started = reply
        refuse(float(wait), NEW_USERS_LIMITED)
        if started:
            self.lockouts["new_users"] += 1

    def _key(self, kind: str, *parts: str) -> str:
        named = parts[0] if len(parts) == 1 else json.dumps(parts, separators=(",", ":"))
        return f"{self._prefix}{kind}:{named}"

    def _known(self, app_id: str, user_id: str, address: str) -> str:
        """A digest: every login adds one of these, and each is kept for a month."""
        digest = hashlib.blake2b(json.dumps([app_id, user_id, address]).encode(),
                                 digest_size=16).hexdigest()
        return f"{self._prefix}known:{digest}"

    async def _run(self, script: AsyncScript, keys: list[str], *args: float,
                   ok: bool = False) -> Any:
        """The script's reply (``True`` for a script that has none, when ``ok``), or None
        when Redis is down and the fallback must answer."""
        loop_time = asyncio.get_running_loop().time()
        if self.outage.down:
            if loop_time < self._retry_at:
                return None
            self._retry_at = loop_time + RECONNECT_INTERVAL
        now = "" if self.clock is None else repr(self.clock())
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT):
                reply = await script(keys=keys, args=[now, self.limits.failed_login_window,
                                                      *args])
        except UNAVAILABLE as error:
            self.outage.failed(error)
            self._retry_at = loop_time + RECONNECT_INTERVAL
            return None
        self.outage.recovered()
        return True if ok else reply
