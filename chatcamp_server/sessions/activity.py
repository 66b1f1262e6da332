"""Logins per minute, for the dashboard's live view.

Prometheus counters answer "how many since the process started"; an operator watching the
dashboard asks "how many this minute, and the last hour's shape".  Each node keeps the last
``MINUTES`` minutes of its own counts here, a few hundred bytes.  In a cluster, each node's
heartbeat in the session inventory carries its snapshot, so any node can show the sum.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any, Callable

MINUTES = 60


class Activity:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._minutes: deque[list[int]] = deque(maxlen=MINUTES)
        """[minute, logins, failed], oldest first, only minutes that saw any."""

    def _now(self) -> list[int]:
        minute = int(self.clock() // 60)
        if not self._minutes or self._minutes[-1][0] != minute:
            self._minutes.append([minute, 0, 0])
        return self._minutes[-1]

    def login(self) -> None:
        self._now()[1] += 1

    def failed(self) -> None:
        self._now()[2] += 1

    def snapshot(self) -> list[list[int]]:
        """The counts of the last ``MINUTES`` minutes that saw any, oldest first."""
        since = int(self.clock() // 60) - MINUTES
        return [list(m) for m in self._minutes if m[0] > since]


def combine(snapshots: list[list[list[int]]], now: float) -> list[dict[str, Any]]:
    """Every node's snapshot summed per minute, one entry for each of the last ``MINUTES``
    minutes (zeros included), oldest first: what the live view draws."""
    current = int(now // 60)
    totals = {minute: [0, 0] for minute in range(current - MINUTES + 1, current + 1)}
    for snapshot in snapshots:
        for minute, logins, failed in snapshot:
            if minute in totals:
                totals[minute][0] += logins
                totals[minute][1] += failed
    return [{"minute": minute * 60, "logins": counts[0], "failed": counts[1]}
            for minute, counts in totals.items()]
