"""Real browser: the Pyodide session page (index.html) against the real serve.py."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from conftest import BrowserGuard, install_guard, wait_until
from server_process import ServerProcess

BOOT_TIMEOUT = 120_000


def open_page(browser: Any, server: ServerProcess,
              query: str = "") -> tuple[Any, Any, BrowserGuard]:
    """A fresh context with the offline guard, on the booted session page."""
    context = browser.new_context()
    guard = install_guard(context, {server.base_url})
    page = context.new_page()
    page.goto(server.base_url + "/" + query)
    page.get_by_role("progressbar", name="Starting Python").wait_for(state="visible",
                                                                timeout=10_000)
    page.get_by_role("button", name="Connect", exact=True).wait_for(state="visible")
    page.wait_for_function("!document.getElementById('connect').disabled", timeout=BOOT_TIMEOUT)
    return context, page, guard


@pytest.fixture(scope="module")
def session_page(browser: Any, server: ServerProcess) -> Iterator[tuple[Any, BrowserGuard]]:
    """One booted page shared by this module's tests (Pyodide takes seconds to start)."""
    context, page, guard = open_page(browser, server)
    yield page, guard
    context.close()


def status(page: Any) -> str:
    return page.get_by_role("status").inner_text()


def connect(page: Any, user_id: str, with_token: bool = False) -> None:
    page.get_by_label("User ID").fill(user_id)
    page.get_by_label("Use access token").set_checked(with_token)
    page.get_by_role("button", name="Connect", exact=True).click()


def disconnect(page: Any) -> None:
    page.get_by_role("button", name="Disconnect", exact=True).click()
    wait_until(lambda: "State: closed" in status(page))


def test_page_boots_offline_without_errors(session_page: Any) -> None:
    """The page boots on Pyodide: loading indicator gone, state initialized, nothing off-origin."""
    page, guard = session_page
    assert page.get_by_role("progressbar", name="Starting Python").count() == 0
    assert "State: initialized" in status(page)
    guard.check()


def test_id_login_shows_connected_user(session_page: Any) -> None:
    """ID login → connected as that user, no token, state changes in the timeline."""
    page, guard = session_page
    connect(page, "page-alice")
    wait_until(lambda: "State: connected" in status(page))
    text = status(page)
    assert "User: page-alice" in text and "Access token: not used" in text
    assert "initialized → connecting" in text and "connecting → connected" in text
    disconnect(page)
    guard.check()


def test_token_login_through_the_demo_backend(session_page: Any, demo_api: Any) -> None:
    """With the checkbox: sign in to the backend, fetch the token, connect with it."""
    page, guard = session_page
    connect(page, "page-bob", with_token=True)
    wait_until(lambda: "State: connected" in status(page))
    assert "User: page-bob" in status(page) and "Access token: used" in status(page)
    sessions = demo_api("users.sessions.list", {"id": "page-bob"})[1]["sessions"]
    assert len(sessions) == 1 and sessions[0]["token_id"] is not None
    disconnect(page)
    wait_until(lambda: demo_api("users.sessions.list", {"id": "page-bob"})[1]["sessions"] == [])
    guard.check()


def test_revoked_token_fails_without_retry(session_page: Any, demo_api: Any,
                                          server: ServerProcess) -> None:
    """A token the server no longer accepts → failed, its reason (TOKEN_REVOKED) shown, no reconnect loop."""
    page, guard = session_page
    connect(page, "page-carol", with_token=True)
    wait_until(lambda: "State: connected" in status(page))
    disconnect(page)
    assert demo_api("users.tokens.revoke", {"id": "page-carol"})[0] == 200
    connect(page, "page-carol", with_token=True)
    wait_until(lambda: "State: failed" in status(page))
    assert "Error: Access token revoked (TOKEN_REVOKED)" in status(page)
    attempts = server.log().count("user_id=page-carol")
    page.wait_for_timeout(2500)  # longer than the SDK's first reconnect delay
    assert server.log().count("user_id=page-carol") == attempts
    assert "State: failed" in status(page)
    guard.check()


def test_switching_from_user_a_to_b(session_page: Any) -> None:
    """Connect as A, disconnect, connect as B at once → connected as B."""
    page, guard = session_page
    connect(page, "page-a")
    wait_until(lambda: "User: page-a" in status(page) and "State: connected" in status(page))
    page.get_by_role("button", name="Disconnect", exact=True).click()
    wait_until(lambda: "State: closed" in status(page))
    connect(page, "page-b")
    wait_until(lambda: "State: connected" in status(page))
    assert "User: page-b" in status(page)
    page.wait_for_timeout(1500)  # past the SDK's reconnect timer, which used to switch back to A
    assert "User: page-b" in status(page)
    disconnect(page)
    guard.check()


def test_hostile_display_name_stays_text(session_page: Any, demo_api: Any) -> None:
    """A display name made of HTML is shown as that text; nothing is injected or run."""
    page, guard = session_page
    hostile = "<img src=x onerror=alert(1)>"
    demo_api("users.create", {"id": "page-evil", "display_name": hostile,
                              "check_access_token": False})
    connect(page, "page-evil")
    wait_until(lambda: "State: connected" in status(page))
    assert f"User: page-evil ({hostile})" in status(page)
    assert page.locator("#session img").count() == 0
    disconnect(page)
    guard.check()


@pytest.fixture
def own_server(tmp_path: Any) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path, options=("--demo",))
    proc.start()
    yield proc
    proc.stop()


def test_server_restart_shows_disconnected_then_connected(browser: Any,
                                                          own_server: ServerProcess) -> None:
    """Restarting the server: the page shows disconnected, then connected again by itself."""
    context, page, guard = open_page(browser, own_server)
    connect(page, "page-restart")
    wait_until(lambda: "State: connected" in status(page))
    own_server.restart()
    wait_until(lambda: "connected → disconnected" in status(page), timeout=20)
    wait_until(lambda: "disconnected → connected" in status(page), timeout=20)
    assert "State: connected" in status(page)
    # A restart refuses the SDK's WebSocket while the server is down; if the server is back
    # before its polling fallback's first GET, that GET meets the server's "WebSocket only" 400.
    guard.errors = [e for e in guard.errors if "WebSocket" not in e and "ERR_CONNECTION" not in e
                    and not ("status of 400" in e and "/chat/2.0?" in e)]
    guard.check()
    context.close()


def test_page_says_so_when_the_demo_is_off(browser: Any, tmp_path: Any) -> None:
    """Served without --demo, the page boots, says the demo backend is off, and offers no
    Connect (it has no app to connect to)."""
    proc = ServerProcess(tmp_path)
    proc.start()
    try:
        context = browser.new_context()
        guard = install_guard(context, {proc.base_url})
        page = context.new_page()
        page.goto(proc.base_url + "/")
        error = page.locator("#error")
        error.wait_for(state="visible", timeout=BOOT_TIMEOUT)
        assert "start the server with --demo" in error.inner_text()
        assert "(DEMO_OFF)" in error.inner_text()
        assert page.get_by_role("button", name="Connect", exact=True).is_disabled()
        guard.errors = [e for e in guard.errors if "404" not in e]
        guard.check()
        context.close()
    finally:
        proc.stop()


def test_short_lived_tokens_renew_in_the_timeline(browser: Any, server: ServerProcess) -> None:
    """With ?token_ttl=3 the demo's tokens expire every 3 s; the page renews them by itself
    and its timeline shows each expiry and renewal."""
    context, page, guard = open_page(browser, server, "?token_ttl=3")
    connect(page, "page-renewing", with_token=True)
    wait_until(lambda: status(page).count("token fetched (expires in 3 s)") >= 3, timeout=30)
    wait_until(lambda: "State: connected" in status(page))
    text = status(page)
    assert "connected → disconnected — Access token expired (TOKEN_EXPIRED)" in text
    assert "disconnected → connecting" in text and "failed" not in text
    disconnect(page)
    guard.check()
    context.close()
