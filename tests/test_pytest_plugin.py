"""The ``chatcamp`` pytest plugin, used as an integrator uses it: its fixtures start a real
server, its users log in through the real SDK in Chromium, and its waits say why they failed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import BrowserGuard, install_guard
from fake_ffi import install, reset
from server_process import ServerProcess
from site_server import PageSite

from chatcamp_pytest import (
    ChatCampServer,
    ChatCampUser,
    ServerStartError,
    wait_for_session_page_state,
    wait_for_widget_state,
)
from chatcamp_pytest.browser import STATES


def host_page(site: PageSite, path: str, body: str) -> str:
    """Serve ``body`` as a page of the integrator's own site; return its URL."""
    site.responses[path] = (200, "text/html; charset=utf-8", f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shop</title><link rel="icon" href="data:,">
</head><body><h1>Shop</h1>{body}</body></html>""")
    return site.origin + path


@pytest.fixture
def guard(context: Any, chatcamp_server: ChatCampServer, site: PageSite) -> BrowserGuard:
    """Requests may go to the plugin's server and the test site only."""
    return install_guard(context, {chatcamp_server.url, site.origin})


def test_server_fixture_serves_on_a_free_port_with_an_app(
        chatcamp_server: ChatCampServer) -> None:
    """chatcamp_server is up on the loopback port its ready file named, with an app's ID
    and API key."""
    assert chatcamp_server.url == f"http://127.0.0.1:{chatcamp_server.port}"
    with urllib.request.urlopen(chatcamp_server.url + "/readyz", timeout=10) as reply:
        assert reply.status == 200
    assert re.fullmatch(r"[1-9]\d{18}", chatcamp_server.app_id)
    assert chatcamp_server.api_key.startswith("cck_")


def test_server_fixture_client_is_the_apps(chatcamp_server: ChatCampServer,
                                           chatcamp_user_with_token: ChatCampUser) -> None:
    """chatcamp_server.client calls the server API as the session's app, and the user the
    token fixture made is there with that token."""
    assert chatcamp_server.client.apps.get()["app_id"] == chatcamp_server.app_id
    seen = chatcamp_server.client.users.get(chatcamp_user_with_token.id)
    assert seen["access_token"] == chatcamp_user_with_token.access_token


def test_user_fixtures_give_fresh_users(chatcamp_user: ChatCampUser,
                                        chatcamp_user_with_token: ChatCampUser) -> None:
    """chatcamp_user is a new ID without a token; chatcamp_user_with_token has its own."""
    assert chatcamp_user.access_token is None
    assert chatcamp_user_with_token.access_token
    assert chatcamp_user.id != chatcamp_user_with_token.id


def test_widget_states_are_chatcamp_web_states() -> None:
    """The waits know exactly the states chatcamp_web's session can be in."""
    reset()
    assert STATES == install().state.ConnectionState.ALL


def test_a_misspelt_state_is_a_clear_error() -> None:
    """Waiting for a state no page shows is refused at once, naming the states there are."""
    with pytest.raises(ValueError, match="'conected' is not a state the page shows"):
        wait_for_widget_state(None, "conected")


def test_a_server_that_cannot_start_says_why(tmp_path: Path) -> None:
    """A server that exits before it is ready fails the start with the end of its output."""
    server = ChatCampServer(tmp_path, ["--log-level", "LOUD"])
    with pytest.raises(ServerStartError, match="exited with code 2 before it was ready") as raised:
        server.start()
    assert "invalid choice: 'LOUD'" in str(raised.value)


def test_fixture_failure_names_the_servers_reason(tmp_path: Path) -> None:
    """In a suite, a server given a bad option by --chatcamp-server-arg errors each test that
    uses it with the server's own words."""
    (tmp_path / "test_uses_server.py").write_text(
        "def test_uses_server(chatcamp_server):\n    pass\n")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--chatcamp-server-arg=--log-level=LOUD"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 error" in run.stdout and "invalid choice: 'LOUD'" in run.stdout


def test_widget_connects_by_id_for_a_fresh_user(page: Any, guard: BrowserGuard,
                                                chatcamp_server: ChatCampServer,
                                                chatcamp_user: ChatCampUser,
                                                site: PageSite) -> None:
    """The snippet from chatcamp_server on the site's page logs chatcamp_user in by ID."""
    page.goto(host_page(site, "/plugin-id.html",
                        chatcamp_server.widget_script(user_id=chatcamp_user.id)))
    wait_for_widget_state(page, "connected")
    assert page.get_by_role("status").inner_text() == \
        f"State: connected · User: {chatcamp_user.id}"
    guard.check()


def test_widget_connects_with_the_users_token(page: Any, guard: BrowserGuard,
                                              chatcamp_server: ChatCampServer,
                                              chatcamp_user_with_token: ChatCampUser,
                                              site: PageSite) -> None:
    """chatcamp_user_with_token's token, handed out by the site's backend, logs it in."""
    user = chatcamp_user_with_token
    site.responses["/backend/plugin-token"] = (
        200, "application/json", json.dumps({"access_token": user.access_token}))
    page.goto(host_page(site, "/plugin-token.html", chatcamp_server.widget_script(
        user_id=user.id, token_url="/backend/plugin-token")))
    wait_for_widget_state(page, "connected")
    guard.check()


def test_failed_widget_wait_quotes_the_reason(page: Any, guard: BrowserGuard,
                                              chatcamp_server: ChatCampServer,
                                              chatcamp_user_with_token: ChatCampUser,
                                              site: PageSite) -> None:
    """A widget refused by the server fails the wait at once, quoting its state and reason."""
    user = chatcamp_user_with_token
    site.responses["/backend/plugin-stale-token"] = (
        200, "application/json", json.dumps({"access_token": "cct_not-this-users-token-0000"}))
    page.goto(host_page(site, "/plugin-refused.html", chatcamp_server.widget_script(
        user_id=user.id, token_url="/backend/plugin-stale-token")))
    with pytest.raises(AssertionError) as raised:
        wait_for_widget_state(page, "connected")
    message = str(raised.value)
    assert message.startswith("the ChatCamp widget is 'failed', not 'connected': it shows "
                              f"'State: failed · User: {user.id}'")
    assert "(NOT_AUTHORIZED)" in message
    guard.check()


def test_session_page_waits_report_the_page_state(browser: Any, server: ServerProcess) -> None:
    """The session page reaches connected by ID; a wait for a state it never reaches times
    out quoting the state it shows."""
    context = browser.new_context()
    guard = install_guard(context, {server.base_url})
    page = context.new_page()
    page.goto(server.base_url + "/")
    wait_for_session_page_state(page, "initialized", timeout=120)
    page.get_by_label("User ID").fill("plugin-page-user")
    page.get_by_role("button", name="Connect", exact=True).click()
    wait_for_session_page_state(page, "connected")
    with pytest.raises(AssertionError) as raised:
        wait_for_session_page_state(page, "closed", timeout=0.5)
    assert str(raised.value) == ("the session page did not reach 'closed' within 0.5 s: it "
                                 "shows state 'connected' (no error shown)")
    guard.check()
    context.close()
