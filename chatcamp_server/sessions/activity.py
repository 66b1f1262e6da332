"""What the dashboard's live view shows: each node's report of itself, and their sum.

Prometheus counters answer "how many since the process started"; an operator watching the
dashboard asks "how many this minute, and the last hour's shape".  Each node keeps the last
``MINUTES`` minutes of its own login counts here, a few hundred bytes, and reports them with
its live sessions per app and its lockouts (``node_report``).  In a cluster, each node's
heartbeat in the session inventory carries its report, so any node can show the sum
(``summary``).  A report from another node is data from outside this process, perhaps from
another release during a rolling upgrade: ``summary`` takes from it only what has the
expected shape, so no report can break the view.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from typing import Any, Callable

from chatcamp_server.sessions.live import LiveSessions
from chatcamp_server.sessions.rate_limit import LoginLimits

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


def node_report(live: LiveSessions, activity: Activity,
                failures: LoginLimits) -> dict[str, Any]:
    """This node's report: live sessions per app, logins per minute, lockouts now (when its
    limits can tell) and lockouts started since it started."""
    by_app = Counter(session.app_id for session in live.all())
    return {"live": dict(by_app), "activity": activity.snapshot(),
            "lockouts": failures.locked_out(),
            "lockouts_started": sum(failures.lockouts.values())}


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _counts(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    return {key: _count(n) for key, n in value.items() if isinstance(key, str)}


def summary(reports: list[Any], now: float) -> dict[str, Any]:
    """The nodes' reports summed: live sessions (in all and per app), one entry for each of
    the last ``MINUTES`` minutes (zeros included, oldest first), lockouts by scope (None
    when no node's limits can tell) and lockouts started."""
    current = int(now // 60)
    minutes = {minute: [0, 0] for minute in range(current - MINUTES + 1, current + 1)}
    by_app: Counter[str] = Counter()
    lockouts: Counter[str] | None = None
    started = 0
    for report in reports:
        if not isinstance(report, dict):
            continue
        by_app.update(_counts(report.get("live")))
        entries = report.get("activity")
        for entry in entries if isinstance(entries, list) else ():
            if isinstance(entry, list) and len(entry) == 3 and entry[0] in minutes:
                minutes[entry[0]][0] += _count(entry[1])
                minutes[entry[0]][1] += _count(entry[2])
        if isinstance(report.get("lockouts"), dict):
            lockouts = Counter() if lockouts is None else lockouts
            lockouts.update(_counts(report["lockouts"]))
        started += _count(report.get("lockouts_started"))
    return {
        "live_sessions": sum(by_app.values()),
        "nodes": len(reports),
        "minutes": [{"minute": minute * 60, "logins": logins, "failed": failed}
                    for minute, (logins, failed) in minutes.items()],
        "lockouts": None if lockouts is None else dict(lockouts),
        "lockouts_started": started,
        "apps": dict(by_app),
    }
