"""What the Redis bus, inventory and login limits share: a client that fails fast, and one
log line per outage.

Redis only makes the cluster fast; the truth (tokens, revocations, ended sessions) is in the
store.  So a node must never wait on a Redis that is gone: redis-py's default retries take
about 4 s to give up on a dead server, during which a revocation or a login would hang.  Each
command here gets one attempt under short timeouts, and the caller degrades to what this node
knows by itself.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

log = logging.getLogger("chatcamp_server.cluster")

CONNECT_TIMEOUT = 0.25
"""Seconds to open a connection: Redis sits on the same network, where a connect takes well
under a millisecond, so anything slower is an outage, not a slow link."""
COMMAND_TIMEOUT = 0.5
"""Seconds for one command's reply: every command here is O(1) or a short script, and a caller
(a revocation, a login) must get its answer well under a second even from a hung Redis."""
RECONNECT_INTERVAL = 0.5
"""Seconds between attempts to reach Redis again while it is down: it comes back within a
second of its return, at a cost of two connection attempts a second per node."""

UNAVAILABLE: tuple[type[BaseException], ...] = (RedisError, OSError)
"""What a Redis outage raises: redis-py's errors, and the socket's own (``TimeoutError``, a
deadline of ours, is an ``OSError``)."""


def connect(redis_url: str) -> Redis:
    """A client that tries each command once: the callers retry on their own schedule."""
    return Redis.from_url(redis_url, decode_responses=True,
                          socket_connect_timeout=CONNECT_TIMEOUT,
                          socket_timeout=COMMAND_TIMEOUT, retry=Retry(NoBackoff(), 0))


class Outage:
    """Logs that Redis went away once, when it happens, and once when it is back: a node
    that logged each failed call would flood its log for as long as the outage lasts."""

    def __init__(self, part: str, what: str, meanwhile: str) -> None:
        """``part`` (bus, inventory, limits) labels ``chatcamp_redis_errors_total``."""
        self.part = part
        self.what = what
        self.meanwhile = meanwhile
        self.down = False
        self.errors = 0

    def failed(self, error: BaseException) -> None:
        """Only the error's class and text are logged, never the URL, which may hold a
        password."""
        self.errors += 1
        if not self.down:
            self.down = True
            log.warning("%s: Redis unavailable (%s: %s); %s", self.what,
                        type(error).__name__, error, self.meanwhile)

    def recovered(self) -> None:
        if self.down:
            self.down = False
            log.warning("%s: Redis is back", self.what)
