"""Failed-login limits: a brute force is bounded, and cannot spill over onto other users.

Two counters, each a sliding window of failure times:

* per (app, user): after ``failed_logins_per_user`` failures within ``failed_login_window``
  seconds, every login as that
  user is refused until the oldest failure leaves the window.  The right credential is
  refused too: letting it through would let a guess that happens to be right succeed, so
  the attack would not be bounded.  Other users of the app are untouched.
* per remote address: after ``failed_logins_per_address`` failures, every login from that address is
  refused the same way, so one client cannot walk through many user IDs.

The refusal's code, ``RATE_LIMITED``, is not one of the two that stop the SDK's reconnect
loop, so a locked-out browser comes back by itself once the window has passed.  A refusal
here is not itself a failure (it would keep a patient user locked out for ever),
and neither is a stale session key, which every client meets after a restart.  The counters
live in memory, bounded by ``failed_login_keys``: a restart forgives everyone, which costs an
attacker at most one more window per restart.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from typing import Callable

from .errors import RateLimited
from .settings import DEFAULT_LIMITS, Limits


class _Windows:
    def __init__(self, limit: int, window: float, max_keys: int) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
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
        times.append(now)
        self._times.move_to_end(key)
        while len(self._times) > self.max_keys:
            self._times.popitem(last=False)


class FailedLogins:
    def __init__(self, limits: Limits = DEFAULT_LIMITS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        window, keys = limits.failed_login_window, limits.failed_login_keys
        self._users = _Windows(limits.failed_logins_per_user, window, keys)
        self._addresses = _Windows(limits.failed_logins_per_address, window, keys)

    def check(self, address: str, app_id: str | None = None, user_id: str | None = None) -> None:
        """Raise ``RateLimited`` when this address, or this user, has failed too often."""
        now = self.clock()
        wait = self._addresses.retry_after(address, now)
        if wait > 0:
            raise RateLimited(f"Too many failed logins from this address; try again in "
                              f"{math.ceil(wait)} s", math.ceil(wait))
        if app_id is not None and user_id is not None:
            wait = self._users.retry_after((app_id, user_id), now)
            if wait > 0:
                raise RateLimited(f"Too many failed logins for this user; try again in "
                                  f"{math.ceil(wait)} s", math.ceil(wait))

    def failed(self, address: str, app_id: str | None = None, user_id: str | None = None) -> None:
        now = self.clock()
        self._addresses.record(address, now)
        if app_id is not None and user_id is not None:
            self._users.record((app_id, user_id), now)
