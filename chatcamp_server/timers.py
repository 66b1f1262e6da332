"""Background timers' rounds: each round may fail, the timer must not."""

from __future__ import annotations

import logging
from typing import Awaitable

from chatcamp_server.errors import StorageUnavailable

log = logging.getLogger("chatcamp_server")


class Rounds:
    """The rounds of one background timer: a failure is logged and the timer goes on.  An
    unreachable database is logged once when the rounds start failing and once when they
    work again, without a traceback: twice a second for the length of an outage would bury
    everything else in the log."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.failing = False

    async def run(self, work: Awaitable[object]) -> None:
        try:
            await work
        except StorageUnavailable as exc:
            if not self.failing:
                log.warning("%s failed: %s; retrying until it answers", self.what, exc.message)
            self.failing = True
            return
        except Exception:
            log.exception("%s failed", self.what)
            return
        if self.failing:
            log.info("%s works again", self.what)
            self.failing = False
