"""Real browser: two users chat live in an open channel through chatcamp_web and the real SDK,
one page each in its own browser context, on Pyodide and on MicroPython."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any, Iterator
from urllib.parse import urlencode

import pytest
from conftest import api_caller, install_guard
from server_process import ServerProcess

BOOT = 120_000
TESTS = itertools.count()
HOSTILE = ["<img src=x onerror=alert(1)>", "<script>alert(2)</script>",
           "\u202eevil\u202c right-to-left override", "emoji 😀👩‍👩‍👧 and ∑ and 中文",
           "two\nlines\r\nand\ttabs", "  spaced  ", "&amp; &lt;b&gt; \\u0000 \"quotes\" 'x'"]


class Browser:
    """One user's page: ``call(op, **args)`` runs one chatcamp_web call inside it."""

    def __init__(self, browser: Any, server: ServerProcess, site: Any, interpreter: str,
                 user: str) -> None:
        self.context = browser.new_context()
        self.guard = install_guard(self.context, {server.base_url, site.origin})
        self.page = self.context.new_page()
        self.user = user
        query = urlencode({"server": server.base_url, "app": server.app_id,
                           "interpreter": interpreter, "script": "chat_page.py"})
        self.page.goto(f"{site.origin}/api_suite.html?{query}")

    def ready(self) -> None:
        self.page.wait_for_function("window.chatCall !== undefined", timeout=BOOT)
        assert self.value("connect", user=self.user) == self.user

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        return self.page.evaluate("([op, args]) => window.chatCall(op, args)", [op, args])

    def value(self, op: str, **args: Any) -> Any:
        outcome = self.call(op, **args)
        assert "error" not in outcome, (op, args, outcome["error"])
        return outcome["value"]

    def error(self, op: str, **args: Any) -> dict[str, Any]:
        outcome = self.call(op, **args)
        assert "error" in outcome, (op, args, outcome)
        return outcome["error"]

    def events(self) -> list[dict[str, Any]]:
        return json.loads(self.page.evaluate("window.chatEvents"))

    def wait_events(self, count: int, timeout: float = 10_000) -> list[dict[str, Any]]:
        """Until the listener has heard at least ``count`` events."""
        self.page.wait_for_function(f"JSON.parse(window.chatEvents).length >= {count}",
                                    timeout=timeout)
        return self.events()


@pytest.fixture(scope="module", params=["pyodide", "micropython"])
def pages(request: Any, browser: Any, server: ServerProcess,
          site: Any) -> Iterator[tuple[Browser, Browser]]:
    """Alice's and Bob's pages, each in a browser context of its own, running
    ``request.param``; started once for the module's tests."""
    interpreter = request.param
    alice = Browser(browser, server, site, interpreter, f"alice-{interpreter}")
    bob = Browser(browser, server, site, interpreter, f"bob-{interpreter}")
    alice.ready()
    bob.ready()
    assert alice.page.evaluate("window.chatRuntime") == interpreter
    yield alice, bob
    for user in (alice, bob):
        user.guard.check()
        user.context.close()


@pytest.fixture
def pair(pages: tuple[Browser, Browser]) -> tuple[Browser, Browser]:
    """The two pages connected as users of this test's own (new sessions, so each test has
    its own message budget), with no listener and no events left from another test."""
    test = next(TESTS)
    for user, name in zip(pages, ("alice", "bob")):
        user.user = f"{name}-{test}-{user.page.evaluate('window.chatRuntime')}"
        assert user.value("reset", user=user.user) == user.user
    return pages


def room(server: ServerProcess, channel_id: str, name: str = "") -> str:
    """Make an open channel through the server API, with an ID of our choosing."""
    status, body = api_caller(server)("open_channels.create",
                                      {"id": channel_id, "name": name or channel_id})
    assert status == 200, body
    return channel_id


def both_in(pair: tuple[Browser, Browser], channel_id: str) -> None:
    for user in pair:
        user.value("open", id=channel_id)
        user.value("join", id=channel_id)


def kinds(events: list[dict[str, Any]], channel_id: str) -> list[tuple[str, Any]]:
    return [(e["kind"], e["item"]["text"] if isinstance(e["item"], dict) else e["item"])
            for e in events if e["channel_id"] == channel_id]


def test_two_users_chat_live(pair: tuple[Browser, Browser], server: ServerProcess) -> None:
    """What one user sends, the other's listener gets at once, with sender and display name;
    each sees the other join."""
    alice, bob = pair
    channel = room(server, f"live-{alice.user}", "Live room")
    for user in pair:
        user.value("open", id=channel)
        user.value("listen", id=channel)
    alice.value("join", id=channel)
    bob.value("join", id=channel)
    assert kinds(alice.wait_events(1), channel) == [("joined", bob.user)]
    sent = alice.value("send", id=channel, text="hello bob")
    assert (sent["text"], sent["user_id"], sent["type"]) == ("hello bob", alice.user, "text")
    got = [e for e in bob.wait_events(1) if e["kind"] == "received"]
    assert not [e for e in alice.events() if e["kind"] == "received"]  # its own: the ack
    assert got and got[0]["item"]["id"] == sent["id"]
    assert (got[0]["item"]["user_id"], got[0]["item"]["display_name"]) == (alice.user,
                                                                           sent["display_name"])
    bob.value("send", id=channel, text="hi alice")
    alice.page.wait_for_function("JSON.parse(window.chatEvents).some("
                                 "e => e.kind === 'received' && e.item.text === 'hi alice')")
    info = alice.value("open", id=channel)
    assert (info["name"], info["participants_count"]) == ("Live room", 2)
    assert sorted(alice.value("participants", id=channel)) == sorted([alice.user, bob.user])


def test_history_is_newest_first_and_pages_back(pair: tuple[Browser, Browser],
                                                server: ServerProcess) -> None:
    """History lists the newest first; pages and before= go back to the first message."""
    alice, bob = pair
    channel = room(server, f"history-{alice.user}")
    both_in(pair, channel)
    texts = [f"m{n}" for n in range(7)]
    for text in texts:
        alice.value("send", id=channel, text=text)
    newest = bob.value("history", id=channel, limit=3)
    assert [m["text"] for m in newest] == ["m6", "m5", "m4"]
    older = bob.value("history", id=channel, limit=3, before=newest[-1]["id"])
    assert [m["text"] for m in older] == ["m3", "m2", "m1"]
    pages = bob.value("pages", id=channel, limit=3)
    assert [[m["text"] for m in page] for page in pages] == [["m6", "m5", "m4"],
                                                             ["m3", "m2", "m1"], ["m0"]]
    times = [m["inserted_at"] for page in pages for m in page]
    assert times == sorted(times, reverse=True) and times[-1] > 1_500_000_000


def test_edits_and_deletes_are_seen_by_both(pair: tuple[Browser, Browser],
                                            server: ServerProcess) -> None:
    """An edit and a delete reach the other user's listener and history; the other user may
    change neither."""
    alice, bob = pair
    channel = room(server, f"edits-{alice.user}")
    both_in(pair, channel)
    bob.value("listen", id=channel)
    sent = alice.value("send", id=channel, text="frist")
    forbidden = bob.error("update", id=channel, message_id=sent["id"], text="mine")
    assert (forbidden["type"], forbidden["code"]) == ("ForbiddenError", "FORBIDDEN")
    assert bob.error("delete", id=channel, message_id=sent["id"])["code"] == "FORBIDDEN"
    edited = alice.value("update", id=channel, message_id=sent["id"], text="first")
    assert (edited["id"], edited["text"]) == (sent["id"], "first")
    assert edited["updated_at"] >= edited["inserted_at"]
    bob.page.wait_for_function("JSON.parse(window.chatEvents).some(e => e.kind === 'updated')")
    assert [m["text"] for m in bob.value("history", id=channel)] == ["first"]
    alice.value("delete", id=channel, message_id=sent["id"])
    bob.page.wait_for_function("JSON.parse(window.chatEvents).some(e => e.kind === 'deleted')")
    assert any(e["kind"] == "deleted" and e["item"]["id"] == sent["id"] for e in bob.events())
    assert bob.value("history", id=channel) == []
    gone = alice.error("get", id=channel, message_id=sent["id"])
    assert (gone["type"], gone["code"]) == ("MessageNotFoundError", "MESSAGE_NOT_FOUND")
    bob.value("unlisten", id=channel)


def test_hostile_text_arrives_exactly_as_sent(pair: tuple[Browser, Browser],
                                              server: ServerProcess) -> None:
    """Markup, bidi overrides, emoji, newlines and quotes come back unchanged, live and in
    history, on both sides."""
    alice, bob = pair
    channel = room(server, f"hostile-{alice.user}")
    both_in(pair, channel)
    bob.value("listen", id=channel)
    for text in HOSTILE:
        assert alice.value("send", id=channel, text=text)["text"] == text
    bob.page.wait_for_function(
        f"JSON.parse(window.chatEvents).filter(e => e.channel_id === {json.dumps(channel)})"
        f".length >= {len(HOSTILE)}")
    live = [text for kind, text in kinds(bob.events(), channel) if kind == "received"]
    assert live == HOSTILE
    assert [m["text"] for m in bob.value("history", id=channel)] == HOSTILE[::-1]
    bob.value("unlisten", id=channel)


def test_mistakes_are_clear_errors(pair: tuple[Browser, Browser],
                                   server: ServerProcess) -> None:
    """An unknown channel, a send before joining, an over-long text and a call while
    disconnected each raise their own error of the tree."""
    alice, bob = pair
    missing = alice.error("open", id="no-such-room")
    assert (missing["type"], missing["code"]) == ("ChannelNotFoundError", "NOT_FOUND")
    channel = room(server, f"mistakes-{alice.user}")
    alice.value("open", id=channel)
    early = alice.error("send", id=channel, text="not yet")
    assert (early["type"], early["code"]) == ("NotAParticipantError", "NOT_A_PARTICIPANT")
    alice.value("join", id=channel)
    long = alice.error("send", id=channel, text="x" * 4001)
    assert (long["type"], long["code"]) == ("InvalidArgumentError", "MESSAGE_TOO_LONG")
    assert alice.value("send", id=channel, text="😀" * 4000)["text"] == "😀" * 4000
    assert channel in alice.value("list", limit=100)
    assert channel not in alice.value("list", after=channel)


def test_listeners_hold_one_proxy_and_let_it_go(pair: tuple[Browser, Browser],
                                                server: ServerProcess) -> None:
    """Listening on channels holds one proxy and one SDK ChannelListener, both gone with the
    last listener."""
    alice, _ = pair
    baseline = alice.value("proxies")
    first, second = room(server, f"proxy1-{alice.user}"), room(server, f"proxy2-{alice.user}")
    for channel in (first, second):
        alice.value("open", id=channel)
        alice.value("listen", id=channel)
    assert alice.value("proxies") == baseline + 1 and alice.value("listeners") == 1
    alice.value("unlisten", id=first)
    assert alice.value("proxies") == baseline + 1
    alice.value("unlisten", id=second)
    assert alice.value("proxies") == baseline and alice.value("listeners") == 0


def test_flood_is_refused_with_rate_limited(pair: tuple[Browser, Browser],
                                            server: ServerProcess) -> None:
    """Twenty sends at once: the first go through, the rest are RateLimitedError
    (RATE_LIMITED, retryable); then, disconnected, a send fails at once with NOT_CONNECTED."""
    alice, bob = pair
    channel = room(server, f"flood-{alice.user}")
    both_in(pair, channel)
    outcomes = bob.value("flood", id=channel, count=20, text="spam")
    sent = outcomes.count("ok")
    assert 5 <= sent < 20, outcomes
    assert set(outcomes) == {"ok", "RateLimitedError:RATE_LIMITED:True"}, outcomes
    assert len(alice.value("history", id=channel, limit=100)) == sent
    assert bob.value("disconnect") == "closed"
    offline = bob.error("send", id=channel, text="gone")
    assert (offline["type"], offline["code"]) == ("InvalidStateError", "NOT_CONNECTED")


def test_presence_turns_offline_within_two_seconds(pair: tuple[Browser, Browser],
                                                   server: ServerProcess) -> None:
    """A participant is online while connected; within 2 s of their disconnect the other
    sees them offline, with last_seen set; connected again, online."""
    alice, bob = pair
    channel = room(server, f"presence-{alice.user}")
    both_in(pair, channel)
    assert alice.value("presence", id=channel)[bob.user][0] is True
    started = int(time.time())
    assert bob.value("disconnect") == "closed"
    deadline = time.monotonic() + 2
    seen = alice.value("presence", id=channel)[bob.user]
    while seen[0] and time.monotonic() < deadline:
        seen = alice.value("presence", id=channel)[bob.user]
    assert seen[0] is False, "still online 2 s after the disconnect"
    assert seen[1] >= started
    bob.value("connect", user=bob.user)
    assert alice.value("presence", id=channel)[bob.user][0] is True
