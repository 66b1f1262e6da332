"""Real browser: three users in group channels through chatcamp_web and the real SDK, one page
each in its own browser context, on Pyodide and on MicroPython: distinct channels, live
messages and unread counts, read receipts, typing, invitations, privacy, hostile text and
the errors of floods and over-long messages."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any, Iterator

import pytest
from server_process import ServerProcess
from test_chat_browser import HOSTILE, Browser, room

TESTS = itertools.count()
Trio = tuple[Browser, ...]


@pytest.fixture(scope="module", params=["pyodide", "micropython"])
def pages(request: Any, browser: Any, server: ServerProcess, site: Any) -> Iterator[Trio]:
    """Three users' pages, each in a browser context of its own, running ``request.param``;
    started once for the module's tests."""
    interpreter = request.param
    trio = tuple(Browser(browser, server, site, interpreter, f"g{n}-{interpreter}")
                 for n in (1, 2, 3))
    for user in trio:
        user.ready()
    assert trio[0].page.evaluate("window.chatRuntime") == interpreter
    yield trio
    for user in trio:
        user.guard.check()
        user.context.close()


@pytest.fixture
def trio(pages: Trio) -> Trio:
    """The three pages connected as users of this test's own (new sessions, so each test has
    its own message budget), with no listener and no events left from another test."""
    test = next(TESTS)
    for n, user in enumerate(pages, 1):
        user.user = f"u{n}-{test}-{user.page.evaluate('window.chatRuntime')}"
        assert user.value("reset", user=user.user) == user.user
    return pages


def wait_for(user: Browser, condition: str, timeout: float = 10_000) -> list[dict[str, Any]]:
    """Until one of the user's events ``e`` meets the JavaScript ``condition``; the events."""
    user.page.wait_for_function(f"JSON.parse(window.chatEvents).some(e => {condition})",
                                timeout=timeout)
    return user.events()


def heard(user: Browser, kind: str, channel_id: str) -> list[Any]:
    return [e["item"] for e in user.events() if e["kind"] == kind
            and e["channel_id"] == channel_id]


def test_a_distinct_channel_made_twice_at_once_is_one(trio: Trio) -> None:
    """Two distinct creates of the same pair at the same moment give one channel, the one the
    other user lists; a plain create makes another."""
    u1, u2, _ = trio
    first, second = u1.value("g_create_twice", ids=[u2.user])
    assert first == second
    listed = u2.value("g_mine")
    assert [c["id"] for c in listed] == [first]
    assert listed[0]["is_distinct"] is True and listed[0]["my_status"] == "ACCEPTED"
    assert sorted(listed[0]["members"]) == sorted([[u1.user, "ACCEPTED"],
                                                   [u2.user, "ACCEPTED"]])
    assert u1.value("g_create", ids=[u2.user])["id"] != first


def test_a_message_arrives_live_and_counts_as_unread(trio: Trio) -> None:
    """What u1 sends reaches u2's listener at once, with an update that counts it unread;
    u2's list and total say so too, and u1's own message is not unread for u1."""
    u1, u2, _ = trio
    channel = u1.value("g_create", ids=[u2.user])["id"]
    u2.value("g_listen_all")
    sent = u1.value("g_send", id=channel, text="hello u2")
    wait_for(u2, "e.kind === 'updated' && e.item.last_message === 'hello u2'")
    assert [m["id"] for m in heard(u2, "received", channel)] == [sent["id"]]
    assert heard(u2, "received", channel)[0]["user_id"] == u1.user
    update = [u for u in heard(u2, "updated", channel) if u["last_message"]][-1]
    assert update == {"unread_count": 1, "last_message": "hello u2"}
    listed = u2.value("g_mine")[0]
    assert (listed["unread_count"], listed["last_message"]) == (1, "hello u2")
    assert u2.value("g_unread") == 1
    assert u1.value("g_unread") == 0


def test_reading_sends_the_other_a_read_receipt(trio: Trio) -> None:
    """When u2 marks the channel read, u1's listener gets the read receipt with u2's read
    time, and u2's unread count is 0 again; mark_all_read clears another channel."""
    u1, u2, _ = trio
    channel = u1.value("g_create", ids=[u2.user])["id"]
    other = u1.value("g_create", name="other", ids=[u2.user])["id"]
    sent = u1.value("g_send", id=channel, text="read me")
    u1.value("g_send", id=other, text="and me")
    u1.value("g_listen", id=channel)
    receipt = u2.value("g_read", id=channel)
    assert receipt[u2.user] >= sent["inserted_at"]
    wait_for(u1, f"e.kind === 'read' && {json.dumps(u2.user)} in e.item")
    assert heard(u1, "read", channel)[-1][u2.user] >= sent["inserted_at"]
    assert u2.value("g_get", id=channel)["unread_count"] == 0
    assert u2.value("g_unread") == 1
    u2.value("g_readall")
    assert u2.value("g_unread") == 0


def test_typing_is_shown_and_cleared(trio: Trio) -> None:
    """u2's start_typing shows u2 typing on u1's listener and stop_typing clears it; a second
    start within 10 s is held back by the SDK."""
    u1, u2, _ = trio
    channel = u1.value("g_create", ids=[u2.user])["id"]
    u1.value("g_listen", id=channel)
    assert u2.value("g_typing", id=channel, on=True) is True
    wait_for(u1, f"e.kind === 'typing' && e.item.includes({json.dumps(u2.user)})")
    assert u2.value("g_typing", id=channel, on=False) is True
    wait_for(u1, "e.kind === 'typing' && e.item.length === 0")
    assert heard(u1, "typing", channel)[-1] == []
    assert u2.value("g_typing", id=channel, on=True) is False


def test_an_outsider_neither_lists_nor_reads_the_channel(trio: Trio) -> None:
    """u3, in no channel of u1 and u2's, does not see it in their list, and reading,
    fetching, sending and inviting in it are each NotAParticipantError."""
    u1, u2, u3 = trio
    channel = u1.value("g_create", ids=[u2.user])["id"]
    u1.value("g_send", id=channel, text="private")
    assert channel not in [c["id"] for c in u3.value("g_mine")]
    for op, args in (("g_history", {}), ("g_get", {}), ("g_send", {"text": "let me in"}),
                     ("g_invite", {"user_ids": [u3.user]})):
        refused = u3.error(op, id=channel, **args)
        assert (refused["type"], refused["code"]) == ("NotAParticipantError",
                                                      "NOT_A_PARTICIPANT"), op
    assert [m["text"] for m in u1.value("g_history", id=channel)] == ["private"]


def test_invite_accept_and_leave_as_the_sdk_reports_them(trio: Trio) -> None:
    """u1 invites u3: both members hear it, and u3 lists the channel as INVITED but may not
    read it; u3 accepts: both hear u3 join, and u3 reads; u3 leaves: the others hear it."""
    u1, u2, u3 = trio
    channel = u1.value("g_create", name="team", ids=[u2.user])["id"]
    u1.value("g_send", id=channel, text="before u3")
    for user in (u1, u2):
        user.value("g_listen", id=channel)
    u1.value("g_invite", id=channel, user_ids=[u3.user])
    for user in (u1, u2):
        wait_for(user, f"e.kind === 'invited' && e.item === {json.dumps(u3.user)}")
    invited = u3.value("g_mine", status="INVITED")
    assert [(c["id"], c["my_status"], c["last_message"]) for c in invited] == [
        (channel, "INVITED", None)]
    assert [u3.user, "INVITED"] in u1.value("g_participants", id=channel)
    assert u3.error("g_history", id=channel)["code"] == "NOT_A_PARTICIPANT"
    u3.value("g_accept", id=channel)
    for user in (u1, u2):
        wait_for(user, f"e.kind === 'joined' && e.item === {json.dumps(u3.user)}")
    assert [m["text"] for m in u3.value("g_history", id=channel)] == ["before u3"]
    assert u3.value("g_get", id=channel)["my_status"] == "ACCEPTED"
    u3.value("g_leave", id=channel)
    for user in (u1, u2):
        wait_for(user, f"e.kind === 'left' && e.item === {json.dumps(u3.user)}")
    assert channel not in [c["id"] for c in u3.value("g_mine")]


def test_a_declined_invitation_is_heard_and_gone(trio: Trio) -> None:
    """u3 declines u1's invitation: u1 hears it, u3 is no participant and no longer lists the
    channel, so a late accept is NotAParticipantError."""
    u1, u2, u3 = trio
    channel = u1.value("g_create", ids=[u2.user])["id"]
    u1.value("g_listen", id=channel)
    u1.value("g_invite", id=channel, user_ids=[u3.user])
    assert [c["id"] for c in u3.value("g_mine", status="INVITED")] == [channel]
    u3.value("g_decline", id=channel)
    wait_for(u1, f"e.kind === 'declined' && e.item === {json.dumps(u3.user)}")
    assert channel not in [c["id"] for c in u3.value("g_mine")]
    assert [u3.user, "INVITED"] not in u1.value("g_participants", id=channel)
    assert u3.error("g_accept", id=channel)["code"] == "NOT_A_PARTICIPANT"


def test_a_refused_invite_raises_at_once(trio: Trio) -> None:
    """An invite the server refuses (an unknown user) raises the server's error well within
    the 10 s timeout, although the SDK never reports a failed invite."""
    u1, u2, _ = trio
    channel = u1.value("g_create", ids=[u2.user])["id"]
    started = time.monotonic()
    refused = u1.error("g_invite", id=channel, user_ids=["nobody-" + u1.user])
    assert time.monotonic() - started < 5, "the invite ended by its timeout"
    assert (refused["type"], refused["code"]) == ("InvalidArgumentError", "USER_NOT_FOUND")
    assert u1.value("g_invite", id=channel, user_ids=[u2.user]) is None


def test_hostile_names_and_texts_stay_text(trio: Trio) -> None:
    """A channel named with markup and messages of markup, bidi overrides, emoji and newlines
    come back exactly as sent, live, in history and in the list."""
    u1, u2, _ = trio
    channel = u1.value("g_create", name=HOSTILE[0], ids=[u2.user])["id"]
    u2.value("g_listen", id=channel)
    for text in HOSTILE:
        assert u1.value("g_send", id=channel, text=text)["text"] == text
    u2.page.wait_for_function(
        f"JSON.parse(window.chatEvents).filter(e => e.kind === 'received').length "
        f">= {len(HOSTILE)}")
    assert [m["text"] for m in heard(u2, "received", channel)] == HOSTILE
    assert [m["text"] for m in u2.value("g_history", id=channel)] == HOSTILE[::-1]
    listed = u2.value("g_mine")[0]
    assert (listed["name"], listed["title"], listed["last_message"]) == (
        HOSTILE[0], HOSTILE[0], HOSTILE[-1])


def test_an_over_long_message_and_a_flood_are_clear_errors(trio: Trio) -> None:
    """4,001 characters are InvalidArgumentError MESSAGE_TOO_LONG, 4,000 emoji are sent;
    twenty sends at once let the first through and refuse the rest as RATE_LIMITED."""
    u1, u2, _ = trio
    channel = u1.value("g_create", ids=[u2.user])["id"]
    long = u1.error("g_send", id=channel, text="x" * 4001)
    assert (long["type"], long["code"]) == ("InvalidArgumentError", "MESSAGE_TOO_LONG")
    assert u1.value("g_send", id=channel, text="😀" * 4000)["text"] == "😀" * 4000
    outcomes = u2.value("g_flood", id=channel, count=20, text="spam")
    assert 5 <= outcomes.count("ok") < 20, outcomes
    assert set(outcomes) == {"ok", "RateLimitedError:RATE_LIMITED:True"}, outcomes


def test_open_and_group_listeners_hold_one_proxy(trio: Trio, server: ServerProcess) -> None:
    """Listening on a group channel, on every group channel and on an open channel holds one
    proxy and one SDK ChannelListener, both gone with the last listener."""
    u1, u2, _ = trio
    lobby = room(server, f"globby-{u1.user}")
    channel = u1.value("g_create", ids=[u2.user])["id"]
    baseline = u1.value("proxies")
    u1.value("open", id=lobby)
    for op, args in (("listen", {"id": lobby}), ("g_listen", {"id": channel}),
                     ("g_listen_all", {})):
        u1.value(op, **args)
    assert u1.value("proxies") == baseline + 1 and u1.value("listeners") == 1
    for op, args in (("unlisten", {"id": lobby}), ("g_unlisten", {"id": channel})):
        u1.value(op, **args)
    assert u1.value("proxies") == baseline + 1
    u1.value("g_unlisten_all")
    assert u1.value("proxies") == baseline and u1.value("listeners") == 0
