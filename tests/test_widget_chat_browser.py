"""Real browser: the widget's chat panel (data-channel) on MicroPython, on a host page of
another origin, with a second user on a chatcamp_web page of their own."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from conftest import BrowserGuard, api_caller
from server_process import ServerProcess
from test_chat_browser import HOSTILE, Browser
from test_widget_browser import host_page, snippet, wait_state, widgets

SETTLED = """([host, before]) => {
  const root = document.querySelector(host).shadowRoot;
  const error = root.querySelector(".chat-error");
  return root.querySelector("input").value === ""
         || (!error.hidden && error.textContent !== before);
}"""
"""The widget is done with a send: the box emptied, or a new error said why not."""


@pytest.fixture(scope="module")
def bob(browser: Any, server: ServerProcess, site: Any) -> Iterator[Browser]:
    """A second user on a chatcamp_web page (MicroPython), to post, edit and delete."""
    user = Browser(browser, server, site, "micropython", "wchat-bob")
    user.ready()
    yield user
    user.guard.check()
    user.context.close()


def room(server: ServerProcess, channel_id: str) -> str:
    status, body = api_caller(server)("open_channels.create", {"id": channel_id,
                                                               "name": channel_id.title()})
    assert status == 200, body
    return channel_id


def open_widget(page: Any, site: Any, server: ServerProcess, user: str, channel: str) -> Any:
    page.goto(host_page(site, f"/{user}.html", snippet(server, user_id=user, channel=channel)))
    widget = widgets(page).first
    wait_state(widget, "connected")
    widget.get_by_label("Message", exact=True).wait_for()
    page.wait_for_function("""() => !document.querySelector("chatcamp-widget").shadowRoot
                                      .querySelector("input").disabled""")
    return widget


def texts(widget: Any) -> list[str]:
    return widget.locator(".messages li .text").evaluate_all("ns => ns.map(n => n.textContent)")


def type_and_send(page: Any, widget: Any, text: str) -> None:
    before = widget.locator(".chat-error").evaluate("e => e.hidden ? '' : e.textContent")
    box = widget.get_by_label("Message", exact=True)
    box.fill(text)
    box.press("Enter")
    page.wait_for_function(SETTLED, arg=["chatcamp-widget", before])


def test_panel_shows_history_oldest_first_then_live_messages_edits_and_deletes(
        page: Any, guard: BrowserGuard, server: ServerProcess, site: Any, bob: Browser) -> None:
    """The panel opens with the recent history oldest at the top, then shows the other user's
    new messages at the bottom as they come, their edits in place and their deletes gone."""
    channel = room(server, "wchat-history")
    bob.value("open", id=channel)
    bob.value("join", id=channel)
    for n in range(3):
        bob.value("send", id=channel, text=f"old {n}")
    widget = open_widget(page, site, server, "wchat-ann", channel)
    assert texts(widget) == ["old 0", "old 1", "old 2"]
    assert widget.locator(".messages li .from").first.inner_text() == "wchat-bob"
    fresh = bob.value("send", id=channel, text="new one")
    page.wait_for_function("""() => [...document.querySelector("chatcamp-widget").shadowRoot
        .querySelectorAll(".messages li")].length === 4""")
    assert texts(widget)[-1] == "new one"
    bob.value("update", id=channel, message_id=fresh["id"], text="new one, edited")
    widget.locator(".messages li .edited").wait_for()
    assert texts(widget)[-1] == "new one, edited"
    bob.value("delete", id=channel, message_id=fresh["id"])
    widget.locator(f'.messages li[data-id="{fresh["id"]}"]').wait_for(state="detached")
    assert texts(widget) == ["old 0", "old 1", "old 2"]
    guard.check()


def test_typing_and_enter_sends_and_the_other_user_gets_it(
        page: Any, guard: BrowserGuard, server: ServerProcess, site: Any, bob: Browser) -> None:
    """A labelled box and Enter send the message: it shows in the panel, the box empties, and
    the other user hears it; the Send button does the same."""
    channel = room(server, "wchat-send")
    bob.value("open", id=channel)
    bob.value("join", id=channel)
    bob.value("listen", id=channel)
    widget = open_widget(page, site, server, "wchat-cid", channel)
    type_and_send(page, widget, "hello from the widget")
    widget.get_by_label("Message", exact=True).fill("and by the button")
    widget.get_by_role("button", name="Send", exact=True).click()
    page.wait_for_function(SETTLED, arg=["chatcamp-widget", ""])
    assert texts(widget) == ["hello from the widget", "and by the button"]
    bob.page.wait_for_function("JSON.parse(window.chatEvents).filter(e => e.channel_id === "
                               "'wchat-send' && e.kind === 'received').length >= 2")
    heard = [e["item"]["text"] for e in bob.events()
             if e["channel_id"] == channel and e["kind"] == "received"]
    assert ("joined", "wchat-cid") in [(e["kind"], e["item"]) for e in bob.events()]
    assert heard == ["hello from the widget", "and by the button"]
    assert widget.get_by_role("log", name="Messages").count() == 1
    bob.value("unlisten", id=channel)
    guard.check()


def test_hostile_text_is_shown_as_text(page: Any, guard: BrowserGuard, server: ServerProcess,
                                       site: Any, bob: Browser) -> None:
    """Markup, bidi overrides, emoji and newlines, in history and live, are shown exactly as
    text: no element is made from them and no script runs."""
    channel = room(server, "wchat-hostile")
    bob.value("open", id=channel)
    bob.value("join", id=channel)
    bob.value("send", id=channel, text=HOSTILE[0])
    widget = open_widget(page, site, server, "wchat-dee", channel)
    for text in HOSTILE[1:]:
        bob.value("send", id=channel, text=text)
    page.wait_for_function(f"""() => document.querySelector("chatcamp-widget").shadowRoot
        .querySelectorAll(".messages li").length === {len(HOSTILE)}""")
    assert texts(widget) == HOSTILE
    assert widget.locator("img, script:not([type])").count() == 0
    assert page.locator("img").count() == 0
    assert widget.locator(".messages li .text").first.get_attribute("dir") == "auto"
    guard.check()


def test_send_errors_are_said_clearly(page: Any, guard: BrowserGuard, server: ServerProcess,
                                      site: Any) -> None:
    """An over-long message and a flood each show a clear error and keep the text to send
    again; the panel says nothing went wrong once a send succeeds."""
    channel = room(server, "wchat-errors")
    widget = open_widget(page, site, server, "wchat-eli", channel)
    alert = widget.locator(".chat-error")
    type_and_send(page, widget, "x" * 4001)
    assert "at most 4000 characters (MESSAGE_TOO_LONG)" in alert.inner_text()
    assert len(widget.get_by_label("Message", exact=True).input_value()) == 4001
    type_and_send(page, widget, "short")
    assert alert.is_hidden()
    for n in range(80):
        type_and_send(page, widget, f"flood {n}")
        if alert.is_visible():
            break
    assert "too fast" in alert.inner_text() and "(RATE_LIMITED)" in alert.inner_text()
    assert widget.get_by_label("Message", exact=True).input_value().startswith("flood")
    guard.check()


def test_unknown_channel_is_said_and_sending_stays_off(
        page: Any, guard: BrowserGuard, server: ServerProcess, site: Any) -> None:
    """data-channel naming no channel says so in the panel, and the send box stays disabled,
    while the session itself is connected."""
    page.goto(host_page(site, "/wchat-nowhere.html",
                        snippet(server, user_id="wchat-fin", channel="no-such-channel")))
    widget = widgets(page).first
    wait_state(widget, "connected")
    alert = widget.locator(".chat-error")
    alert.wait_for()
    assert "no such channel" in alert.inner_text() and "(NOT_FOUND)" in alert.inner_text()
    assert widget.get_by_label("Message", exact=True).is_disabled()
    assert widget.get_by_role("button", name="Send", exact=True).is_disabled()
    guard.check()
