"""Real browser: the embeddable widget on a host page served from another origin."""

from __future__ import annotations

import html
import json
import time
from typing import Any

from conftest import BrowserGuard, api_caller, install_guard, wait_until
from server_process import ServerProcess

BOOT = 60_000
PYODIDE_BOOT = 120_000

HOSTILE_CSS = """
* { color: rgb(255, 0, 0) !important; font-size: 31px !important; font-family: serif !important;
    background: rgb(255, 255, 0) !important; }
button, [role=status], p, section { display: none !important; visibility: hidden !important; }
.status, .error, .ccw { border: 9px solid red !important; }
chatcamp-widget { opacity: 0.5; }
"""
"""The host's own rules, written to break anything they reach."""

AMD_LOADER = """
window.amdCalls = [];
window.define = function (name) { window.amdCalls.push(String(name)); };
window.define.amd = {jQuery: true};
"""
"""A minimal AMD loader, enough for the SDK's UMD wrapper to hand itself over instead of
setting window.ChatCamp (spec §8)."""


def snippet(server: ServerProcess, **data: str) -> str:
    attributes = {"app-id": server.app_id, **{k.replace("_", "-"): v for k, v in data.items()}}
    rendered = " ".join(f'data-{name}="{html.escape(value)}"' for name, value in attributes.items())
    return f'<script src="{server.base_url}/static/widget.js" {rendered} async></script>'


def host_page(site: Any, path: str, body: str, head: str = "") -> str:
    """Serve ``body`` as an existing site's page on the test site's origin; return its URL."""
    site.responses[path] = (200, "text/html; charset=utf-8", f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>An existing site</title>
<link rel="icon" href="data:,">{head}</head>
<body><h1>An existing site</h1><p class="status" id="host-status">host text</p>
<button id="host-button" type="button">Host button</button>
{body}</body></html>""")
    return site.origin + path


def widgets(page: Any) -> Any:
    return page.locator("chatcamp-widget")


def status(widget: Any) -> str:
    return widget.get_by_role("status").inner_text()


def wait_state(widget: Any, state: str, timeout: float = BOOT) -> None:
    widget.locator(f'[role=status][data-state="{state}"]').wait_for(timeout=timeout)


def expect_console_errors(guard: BrowserGuard, *expected: str) -> None:
    """The console errors are exactly the expected ones (by fragment), then forgotten."""
    assert len(guard.errors) == len(expected), guard.errors
    for fragment in expected:
        assert any(fragment in error for error in guard.errors), (fragment, guard.errors)
    guard.errors.clear()


def live_sessions(api: Any, user_id: str) -> list[dict[str, Any]]:
    status_code, body = api("users.sessions.list", {"id": user_id})
    assert status_code == 200, body
    return body["sessions"]


def test_widget_connects_by_id_on_hostile_host_page(page: Any, guard: BrowserGuard,
                                                    server: ServerProcess, site: Any,
                                                    api: Any) -> None:
    """On another origin with hostile CSS and an AMD loader the widget connects by ID, looks
    like itself, leaves the host's styles alone and loads nothing from a third origin."""
    url = host_page(site, "/hostile.html", snippet(server, user_id="wid-ann"),
                    f"<style>{HOSTILE_CSS}</style><script>{AMD_LOADER}</script>")
    page.goto(url)
    widget = widgets(page).first
    wait_state(widget, "connected")
    assert status(widget) == "State: connected · User: wid-ann"
    assert len(live_sessions(api, "wid-ann")) == 1
    assert page.evaluate("window.amdCalls") == []
    button = widget.get_by_role("button", name="Disconnect", exact=True)
    assert button.is_visible() and button.is_enabled()
    style = button.evaluate("b => { const s = getComputedStyle(b); return [s.color, s.fontSize,"
                            " s.backgroundColor, s.display]; }")
    assert style == ["rgb(255, 255, 255)", "14px", "rgb(36, 87, 197)", "inline-block"]
    assert widget.get_by_role("status").evaluate("s => getComputedStyle(s).color") \
        == "rgb(10, 107, 43)"
    host_status = page.locator("#host-status").evaluate(
        "s => [getComputedStyle(s).borderTopWidth, getComputedStyle(s).color]")
    assert host_status == ["9px", "rgb(255, 0, 0)"]
    assert page.locator("#host-button").evaluate("b => getComputedStyle(b).display") == "none"
    guard.check()


def test_widget_is_accessible_by_role_and_name(page: Any, guard: BrowserGuard,
                                               server: ServerProcess, site: Any) -> None:
    """Real buttons named Connect and Disconnect, a polite live status naming state and user."""
    page.goto(host_page(site, "/a11y.html", snippet(server, user_id="wid-ben")))
    widget = widgets(page).first
    wait_state(widget, "connected")
    live = widget.get_by_role("status")
    assert live.get_attribute("aria-live") == "polite"
    assert "connected" in live.inner_text() and "wid-ben" in live.inner_text()
    for name in ("Connect", "Disconnect"):
        assert widget.get_by_role("button", name=name, exact=True).evaluate("b => b.tagName") \
            == "BUTTON"
    assert widget.get_by_role("region", name="ChatCamp session").count() == 1
    guard.check()


def test_widget_disconnects_and_reconnects(page: Any, guard: BrowserGuard,
                                           server: ServerProcess, site: Any, api: Any) -> None:
    """Disconnect ends the server session and says closed; Connect brings it back."""
    page.goto(host_page(site, "/disconnect.html", snippet(server, user_id="wid-cat")))
    widget = widgets(page).first
    wait_state(widget, "connected")
    widget.get_by_role("button", name="Disconnect", exact=True).click()
    wait_state(widget, "closed", 15_000)
    assert status(widget) == "State: closed · User: wid-cat"
    wait_until(lambda: live_sessions(api, "wid-cat") == [])
    widget.get_by_role("button", name="Connect", exact=True).click()
    wait_state(widget, "connected", 15_000)
    assert len(live_sessions(api, "wid-cat")) == 1
    guard.check()


def test_widget_connects_with_token_from_host_backend(page: Any, guard: BrowserGuard,
                                                      server: ServerProcess, site: Any,
                                                      api: Any) -> None:
    """data-token-url: the token comes from the host site's backend and the login uses it."""
    created_status, created = api("users.create", {"id": "wid-dan"})
    assert created_status == 200, created
    site.responses["/backend/chat-token"] = (
        200, "application/json", json.dumps({"access_token": created["access_token"]}))
    page.goto(host_page(site, "/token.html", snippet(server, user_id="wid-dan",
                                                     token_url="/backend/chat-token")))
    widget = widgets(page).first
    wait_state(widget, "connected")
    sessions = live_sessions(api, "wid-dan")
    assert len(sessions) == 1 and sessions[0]["token_id"]
    guard.check()


def test_widget_renews_short_lived_tokens_by_itself(page: Any, guard: BrowserGuard,
                                                    server: ServerProcess, site: Any,
                                                    api: Any) -> None:
    """With data-token-url handing out 2 s tokens, the widget asks the endpoint again each
    time one expires and is connected again, never failed."""
    assert api("users.create", {"id": "wid-brief"})[0] == 200
    calls = []

    def issue(query: str) -> tuple[int, str, str]:
        calls.append(query)
        body = api("users.tokens.issue", {"id": "wid-brief", "expires_in": 2})[1]
        return 200, "application/json", json.dumps({"access_token": body["access_token"]})

    site.responses["/backend/brief-token"] = issue
    page.goto(host_page(site, "/brief.html", snippet(server, user_id="wid-brief",
                                                     token_url="/backend/brief-token")))
    widget = widgets(page).first
    wait_state(widget, "connected")
    deadline = time.monotonic() + 20
    while len(calls) < 3:
        assert time.monotonic() < deadline, calls
        assert "failed" not in status(widget)
        page.wait_for_timeout(100)
    wait_state(widget, "connected")
    assert len(live_sessions(api, "wid-brief")) == 1
    guard.check()


def test_widget_reports_refused_token_and_stops(page: Any, guard: BrowserGuard,
                                                server: ServerProcess, site: Any,
                                                api: Any) -> None:
    """A token the server refuses leaves the widget failed with the reason, not retrying."""
    api("users.create", {"id": "wid-eve"})
    site.responses["/backend/stale-token"] = (
        200, "application/json", json.dumps({"access_token": "cct_not-the-token-of-eve-0000"}))
    page.goto(host_page(site, "/refused.html", snippet(server, user_id="wid-eve",
                                                       token_url="/backend/stale-token")))
    widget = widgets(page).first
    wait_state(widget, "failed")
    alert = widget.get_by_role("alert")
    assert alert.is_visible() and "NOT_AUTHORIZED" in alert.inner_text()
    assert widget.get_by_role("button", name="Connect", exact=True).is_enabled()
    assert live_sessions(api, "wid-eve") == []
    guard.check()


def test_widget_reports_token_endpoint_failure(page: Any, guard: BrowserGuard,
                                               server: ServerProcess, site: Any) -> None:
    """A host backend answering 401 shows a sign-in error instead of a broken widget."""
    site.responses["/backend/signed-out"] = (401, "application/json", '{"error": "sign in"}')
    page.goto(host_page(site, "/signed-out.html", snippet(server, user_id="wid-fay",
                                                          token_url="/backend/signed-out")))
    widget = widgets(page).first
    widget.get_by_role("alert").wait_for(timeout=BOOT)
    assert "sign in first (HTTP_401)" in widget.get_by_role("alert").inner_text()
    assert widget.get_by_role("button", name="Connect", exact=True).is_enabled()
    expect_console_errors(guard, "status of 401")
    guard.check()


def test_two_widgets_share_one_session(page: Any, guard: BrowserGuard, server: ServerProcess,
                                       site: Any, api: Any) -> None:
    """Widgets for one user share the SDK's single session; a widget for another user says
    why it cannot connect, and can once the other user disconnects."""
    users = ["wid-gus", "wid-gus", "wid-hal"]
    body = (snippet(server, user_id=users[0]) + snippet(server, user_id=users[1])
            + '<div id="later"></div>' + snippet(server, user_id=users[2], target="#later"))
    page.goto(host_page(site, "/two.html", body))
    assert page.locator("#later chatcamp-widget").count() == 1
    found = [widgets(page).nth(i) for i in range(3)]
    # The snippets are async, so which user's widget connects first is up to the browser.
    # Every widget shows the page's one session as connected, whoever it belongs to.
    for widget in found:
        wait_state(widget, "connected")
    winner = next(user for user in set(users) if live_sessions(api, user))
    loser = ({"wid-gus", "wid-hal"} - {winner}).pop()
    for widget, user in zip(found, users):
        if user == loser:
            widget.get_by_role("alert").wait_for()
            assert "ALREADY_CONNECTED" in widget.get_by_role("alert").inner_text()
    assert len(live_sessions(api, winner)) == 1 and live_sessions(api, loser) == []
    found[users.index(winner)].get_by_role("button", name="Disconnect", exact=True).click()
    for widget in found:
        wait_state(widget, "closed", 15_000)
    found[users.index(loser)].get_by_role("button", name="Connect", exact=True).click()
    for widget in found:
        wait_state(widget, "connected", 15_000)
    assert status(found[users.index(winner)]) == f"State: connected · User: {loser}"
    assert len(live_sessions(api, loser)) == 1 and live_sessions(api, winner) == []
    guard.check()


def test_second_interpreter_on_one_page_is_refused(page: Any, guard: BrowserGuard,
                                                   server: ServerProcess, site: Any) -> None:
    """A widget asking for another interpreter than the page's first one says why it cannot."""
    page.goto(host_page(site, "/mixed.html", snippet(server, user_id="wid-ida")))
    wait_state(widgets(page).first, "connected")
    page.evaluate("""url => { const tag = document.createElement("script");
        Object.assign(tag, {src: url, async: true});
        Object.assign(tag.dataset, {appId: "%s", userId: "wid-ida", interpreter: "pyodide"});
        document.body.append(tag); }""" % server.app_id, f"{server.base_url}/static/widget.js")
    wait_until(lambda: widgets(page).count() == 2)
    second = widgets(page).nth(1)
    assert "same data-interpreter" in second.get_by_role("alert").inner_text()
    assert not any("pyodide" in url for url in page.evaluate(
        "performance.getEntriesByType('resource').map(e => e.name)"))
    expect_console_errors(guard, "same data-interpreter")
    guard.check()


def test_bad_snippets_say_what_is_wrong(page: Any, guard: BrowserGuard, server: ServerProcess,
                                        site: Any) -> None:
    """Missing or malformed attributes give a clear message in the widget, and no Python."""
    cases = {
        "data-app-id is missing": snippet(server, app_id="", user_id="x"),
        "data-app-id must be letters": snippet(server, app_id="12&3", user_id="x"),
        'data-interpreter must be "micropython" or "pyodide"':
            snippet(server, user_id="x", interpreter="constructor"),
        "data-port must be a TCP port number": snippet(server, user_id="x", port="70000"),
        'data-target "#nowhere" matches no element': snippet(server, user_id="x",
                                                             target="#nowhere"),
        "data-target is not a valid CSS selector": snippet(server, user_id="x", target="[["),
    }
    page.goto(host_page(site, "/bad.html", "".join(cases.values())))
    found = widgets(page)
    wait_until(lambda: found.count() == len(cases))
    messages = [found.nth(i).get_by_role("alert").inner_text() for i in range(len(cases))]
    for expected, message in zip(cases, messages):
        assert expected in message
    assert page.evaluate("typeof window.ChatCamp") == "undefined"
    expect_console_errors(guard, *("ChatCamp widget: " + expected for expected in cases))
    guard.check()


def test_unknown_app_fails_with_not_found(page: Any, guard: BrowserGuard,
                                          server: ServerProcess, site: Any) -> None:
    """An app ID the server does not know ends failed with NOT_FOUND, without retrying."""
    page.goto(host_page(site, "/unknown.html", snippet(server, app_id="9" * 19,
                                                       user_id="wid-jon")))
    widget = widgets(page).first
    wait_state(widget, "failed")
    assert "NOT_FOUND" in widget.get_by_role("alert").inner_text()
    guard.check()


def test_widget_runs_on_pyodide_when_asked(page: Any, guard: BrowserGuard,
                                           server: ServerProcess, site: Any, api: Any) -> None:
    """data-interpreter="pyodide" runs the same widget on Pyodide, still from one origin."""
    page.goto(host_page(site, "/pyodide.html", snippet(server, user_id="wid-kim",
                                                       interpreter="pyodide")))
    widget = widgets(page).first
    wait_state(widget, "connected", PYODIDE_BOOT)
    assert len(live_sessions(api, "wid-kim")) == 1
    assert any(url.endswith("pyodide.asm.wasm") for url in page.evaluate(
        "performance.getEntriesByType('resource').map(e => e.name)"))
    guard.check()


def test_demo_page_embeds_the_widget(page: Any, server: ServerProcess, demo_api: Any) -> None:
    """serve.py's widget demo page mounts the snippet into its #chat box and connects."""
    guard = install_guard(page.context, {server.base_url})
    page.goto(server.base_url + "/static/widget_demo.html?user=wid-demo")
    widget = page.locator("#chat chatcamp-widget")
    wait_state(widget, "connected")
    assert len(live_sessions(demo_api, "wid-demo")) == 1
    guard.check()


def test_widget_talks_to_the_chat_server_named_by_data_host_and_port(
        page: Any, server: ServerProcess, site: Any, tmp_path: Any) -> None:
    """With data-host/data-port the widget loads from one server and logs in to another."""
    chat = ServerProcess(tmp_path)
    chat.start()
    try:
        guard = install_guard(page.context, {server.base_url, chat.base_url, site.origin})
        page.goto(host_page(site, "/elsewhere.html", snippet(
            server, app_id=chat.app_id, user_id="wid-lee", host="127.0.0.1", port=str(chat.port))))
        wait_state(widgets(page).first, "connected")
        assert len(live_sessions(api_caller(chat), "wid-lee")) == 1
        loaded = page.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
        assert any(url.startswith(server.base_url + "/vendor/") for url in loaded)
        assert not any(url.startswith(chat.base_url) for url in loaded)
        guard.check()
    finally:
        chat.stop()
