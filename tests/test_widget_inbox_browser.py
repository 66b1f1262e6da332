"""Real browser: the widget's inbox (data-channel="inbox") on MicroPython, on a host page of
another origin, with a second user on a chatcamp_web page of their own who writes to it."""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest
from conftest import BrowserGuard
from server_process import ROOT, ServerProcess
from test_chat_browser import HOSTILE, Browser
from test_widget_browser import host_page, snippet, wait_state, widgets

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ROWS = """() => [...document.querySelector("chatcamp-widget").shadowRoot
  .querySelectorAll(".conversation")].map((b) => ({
    id: b.dataset.id, name: b.querySelector(".name").textContent,
    last: b.querySelector(".last").textContent,
    unread: b.querySelector(".unread").hidden ? 0
            : Number(b.querySelector(".unread .count").textContent)}))"""
"""The inbox's rows, top first, as the user sees them."""
FOCUSED = """() => { const active = document.querySelector("chatcamp-widget").shadowRoot
                                      .activeElement;
                     return active && active.tagName + (active.dataset.id ? ":" + active.dataset.id
                                                                           : ""); }"""
"""What has the focus in the widget: its tag, and the conversation's ID on a row."""


@pytest.fixture(scope="module")
def bob(browser: Any, server: ServerProcess, site: Any) -> Iterator[Browser]:
    """The other user, on a chatcamp_web page (MicroPython), to make channels and write."""
    user = Browser(browser, server, site, "micropython", "winbox-bob")
    user.ready()
    yield user
    user.guard.check()
    user.context.close()


def open_inbox(page: Any, site: Any, server: ServerProcess, user: str) -> Any:
    """The user's widget with the inbox, once connected and its list read."""
    page.goto(host_page(site, f"/{user}.html", snippet(server, user_id=user, channel="inbox")))
    widget = widgets(page).first
    wait_state(widget, "connected")
    widget.locator('.conversations[aria-busy="false"]').wait_for(state="attached")
    return widget


def rows(page: Any) -> list[dict[str, Any]]:
    return page.evaluate(ROWS)


def wait_rows(page: Any, condition: str) -> list[dict[str, Any]]:
    """Until the rows (``rows`` in ``condition``, JavaScript) meet ``condition``."""
    page.wait_for_function(f"() => {{ const rows = ({ROWS})(); return {condition}; }}")
    return rows(page)


def texts(widget: Any) -> list[str]:
    return widget.locator(".messages li .text").evaluate_all("ns => ns.map(n => n.textContent)")


def test_inbox_shows_unread_bumps_live_and_reading_clears_it(
        page: Any, guard: BrowserGuard, server: ServerProcess, site: Any, bob: Browser) -> None:
    """A conversation shows with its unread count, live and after a reload; a new message
    bumps it; opening it shows the history, clears the count and sends a read receipt, and
    what comes while it is open is read too."""
    ann = "winbox-ann"
    widget = open_inbox(page, site, server, ann)
    assert widget.get_by_text("No conversations yet").is_visible()
    channel = bob.value("g_create", ids=[ann], distinct=True)["id"]
    bob.value("g_listen", id=channel)
    wait_rows(page, f"rows.length === 1 && rows[0].id === {json.dumps(channel)}")
    for text in ("first", "second"):
        bob.value("g_send", id=channel, text=text)
    shown = wait_rows(page, "rows[0].unread === 2")
    assert shown == [{"id": channel, "name": bob.user, "last": f"{bob.user}: second",
                      "unread": 2}]
    widget = open_inbox(page, site, server, ann)
    assert rows(page)[0]["unread"] == 2
    bob.value("g_send", id=channel, text="third")
    wait_rows(page, "rows[0].unread === 3")
    widget.get_by_role("button", name=f"{bob.user}, 3 unread").click()
    widget.get_by_role("button", name="Back to conversations").wait_for()
    page.wait_for_function("""() => document.querySelector("chatcamp-widget").shadowRoot
                                      .querySelectorAll(".messages li").length === 3""")
    assert texts(widget) == ["first", "second", "third"]
    assert widget.locator(".chat-title").inner_text() == f"Conversation: {bob.user}"
    newest = bob.value("g_history", id=channel, limit=1)[0]["inserted_at"]
    bob.page.wait_for_function(f"JSON.parse(window.chatEvents).some(e => e.kind === 'read' "
                               f"&& e.item[{json.dumps(ann)}] >= {newest})")
    reads = len([e for e in bob.events() if e["kind"] == "read"])
    bob.value("g_send", id=channel, text="while open")
    page.wait_for_function("""() => document.querySelector("chatcamp-widget").shadowRoot
                                      .querySelectorAll(".messages li").length === 4""")
    bob.page.wait_for_function(f"JSON.parse(window.chatEvents).filter(e => e.kind === 'read')"
                               f".length > {reads}")
    widget.get_by_role("button", name="Back to conversations").click()
    assert wait_rows(page, "rows[0].last.endsWith('while open')")[0]["unread"] == 0
    assert bob.value("g_get", id=channel)["read_receipt"][ann] >= 1
    bob.value("g_unlisten", id=channel)
    guard.check()


def test_inbox_orders_by_activity_and_shows_names_as_text(
        page: Any, guard: BrowserGuard, server: ServerProcess, site: Any, bob: Browser) -> None:
    """The conversation with the newest message is at the top, and a message moves its
    conversation there; hostile channel names and texts are shown exactly, as text."""
    cid = "winbox-cid"
    open_inbox(page, site, server, cid)
    hostile = bob.value("g_create", name=HOSTILE[0], ids=[cid])["id"]
    plain = bob.value("g_create", name="Plain talk", ids=[cid])["id"]
    bob.value("g_send", id=hostile, text=HOSTILE[1])
    bob.value("g_send", id=plain, text="newer")
    shown = wait_rows(page, "rows.length === 2 && rows[0].last.endsWith('newer')")
    assert [r["id"] for r in shown] == [plain, hostile]
    bob.value("g_send", id=hostile, text=HOSTILE[2])
    shown = wait_rows(page, f"rows[0].id === {json.dumps(hostile)}")
    assert [r["id"] for r in shown] == [hostile, plain]
    assert (shown[0]["name"], shown[0]["last"]) == (HOSTILE[0], f"{bob.user}: {HOSTILE[2]}")
    assert page.locator("img").count() == 0
    assert widgets(page).first.locator("img, script:not([type])").count() == 0
    guard.check()


def test_inbox_works_from_the_keyboard_and_passes_axe(
        page: Any, guard: BrowserGuard, server: ServerProcess, site: Any, bob: Browser) -> None:
    """Enter on a conversation opens it with the message box focused, Enter there sends to
    the other user, and Back returns the focus to the conversation; axe-core finds no
    serious violation in the widget."""
    dee = "winbox-dee"
    widget = open_inbox(page, site, server, dee)
    channel = bob.value("g_create", ids=[dee])["id"]
    bob.value("g_listen", id=channel)
    bob.value("g_send", id=channel, text="ping")
    wait_rows(page, "rows.length === 1 && rows[0].unread === 1")
    row = widget.locator(".conversation")
    row.focus()
    page.keyboard.press("Enter")
    box = widget.get_by_label("Message", exact=True)
    page.wait_for_function(f"({FOCUSED})() === 'INPUT'")
    box.fill("pong")
    page.keyboard.press("Enter")
    bob.page.wait_for_function("JSON.parse(window.chatEvents).some(e => e.kind === 'received' "
                               "&& e.item.text === 'pong')")
    page.add_script_tag(path=str(AXE))
    results = page.evaluate("""axe.run(document.querySelector("chatcamp-widget"),
        {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'best-practice']}})""")
    serious = [(v["id"], [n["html"] for n in v["nodes"]][:3]) for v in results["violations"]
               if v["impact"] in ("serious", "critical")]
    assert serious == []
    widget.get_by_role("button", name="Back to conversations").focus()
    page.keyboard.press("Enter")
    page.wait_for_function(f"({FOCUSED})() === 'BUTTON:{channel}'")
    assert wait_rows(page, "rows[0].last.endsWith('pong')")[0]["last"] == f"{dee}: pong"
    bob.value("g_unlisten", id=channel)
    guard.check()
