"""In-process: logins per minute, and the live view's sum of every node's report."""

from __future__ import annotations

from typing import Any

from chatcamp_server.sessions.activity import MINUTES, Activity, summary

NOW = 1_800_000_000.0


def test_counts_fall_into_their_minute_and_age_out() -> None:
    """Logins and failures count in the minute they happen, and leave after an hour."""
    clock = [NOW]
    activity = Activity(lambda: clock[0])
    activity.login()
    activity.failed()
    clock[0] += 60
    activity.login()
    minute = int(NOW // 60)
    assert activity.snapshot() == [[minute, 1, 1], [minute + 1, 1, 0]]
    clock[0] += 60 * MINUTES
    assert activity.snapshot() == []


def test_summary_adds_every_nodes_report() -> None:
    """Live sessions, minutes and lockouts are summed over nodes, each minute of the hour."""
    minute = int(NOW // 60)
    reports = [
        {"live": {"a": 2}, "activity": [[minute, 3, 1]], "lockouts": {"address": 1},
         "lockouts_started": 2},
        {"live": {"a": 1, "b": 4}, "activity": [[minute, 1, 0], [minute - 1, 5, 5]],
         "lockouts": None, "lockouts_started": 1},
    ]
    total = summary(reports, NOW)
    assert total["live_sessions"] == 7 and total["apps"] == {"a": 3, "b": 4}
    assert total["nodes"] == 2
    assert len(total["minutes"]) == MINUTES
    assert total["minutes"][-1] == {"minute": minute * 60, "logins": 4, "failed": 1}
    assert total["minutes"][-2]["logins"] == 5
    assert total["lockouts"] == {"address": 1} and total["lockouts_started"] == 3


def test_a_malformed_report_cannot_break_the_sum() -> None:
    """A report of another shape (another release, a corrupted key) adds only what fits."""
    minute = int(NOW // 60)
    odd: list[Any] = [
        {"lockouts": {"address": 1}},
        {"live": []},
        {"activity": [[1, 2]]},
        {"activity": [[minute, "x", None]], "live": {"a": -3, "b": True, "c": "9"}},
        {"lockouts_started": "x", "lockouts": {"user": 2.5}},
        "not a report",
        {"live": {"a": 1}},
    ]
    total = summary(odd, NOW)
    assert total["live_sessions"] == 1 and total["apps"] == {"a": 1, "b": 0, "c": 0}
    assert total["lockouts"] == {"address": 1, "user": 0}
    assert total["lockouts_started"] == 0
    assert total["minutes"][-1] == {"minute": minute * 60, "logins": 0, "failed": 0}
