"""Real browser: the unmodified ChatCamp SDK in Debian Chromium against a real serve.py."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import wait_until
from sdk_page import open_sdk_page
from server_process import ServerProcess

OPEN, CONNECTING, CLOSED = 0, 1, 3


def live_sessions(api: Any, user_id: str) -> list[dict[str, Any]]:
    status, body = api("users.sessions.list", {"id": user_id})
    assert status == 200, body
    return body["sessions"]


def test_connect_by_user_id_opens_as_that_user(page: Any, guard: Any, server: ServerProcess, site: Any,
                                               api: Any) -> None:
    """connect(USER_ID) → OPEN, the callback gets that user, and the server lists the session."""
    open_sdk_page(page, site.origin, server.port, server.app_id)
    result = page.evaluate("connectAs('alice-browser')")
    assert result == {"user": {"id": "alice-browser", "displayName": "", "accessToken": None}}
    assert page.evaluate("state()") == OPEN
    assert page.evaluate("changes") == [True]
    assert len(live_sessions(api, "alice-browser")) == 1
    guard.check()


def test_connect_with_token_from_server_api(page: Any, guard: Any, server: ServerProcess, site: Any,
                                            api: Any) -> None:
    """A user created through the server API with a token connects with that token → OPEN."""
    status, body = api("users.create", {"id": "bob-browser", "display_name": "Bob"})
    assert status == 200, body
    token = body["access_token"]
    open_sdk_page(page, site.origin, server.port, server.app_id)
    result = page.evaluate("([u, t]) => connectAs(u, t)", ["bob-browser", token])
    assert result == {"user": {"id": "bob-browser", "displayName": "Bob", "accessToken": token}}
    assert page.evaluate("state()") == OPEN
    guard.check()


def _assert_stopped_for_good(page: Any) -> None:
    wait_until(lambda: page.evaluate("state()") == CLOSED)
    assert page.evaluate("cc.isAutoReconnectEnabled()") is False
    # The SDK's reconnect timer fires 1 s after the close; give it that window to misbehave.
    page.wait_for_timeout(1500)
    assert page.evaluate("sockets") == 1
    assert page.evaluate("state()") == CLOSED


def test_wrong_token_is_refused_without_reconnect_loop(page: Any, guard: Any,
                                                        server: ServerProcess, site: Any, api: Any) -> None:
    """A wrong token → NOT_AUTHORIZED in the callback, socket closed, no reconnect attempts."""
    api("users.create", {"id": "carol-browser", "access_token": "the-right-token-0123"})
    open_sdk_page(page, site.origin, server.port, server.app_id)
    result = page.evaluate("([u, t]) => connectAs(u, t)", ["carol-browser", "wrong-token-0123456"])
    assert result == {"error": {"code": "NOT_AUTHORIZED", "message": "Invalid access token"}}
    _assert_stopped_for_good(page)
    guard.check()


def test_unknown_app_is_not_found(page: Any, guard: Any, server: ServerProcess, site: Any) -> None:
    """An app ID the server does not know → NOT_FOUND, and the SDK stops."""
    open_sdk_page(page, site.origin, server.port, "1234567890123456789")
    result = page.evaluate("connectAs('dave-browser')")
    assert result == {"error": {"code": "NOT_FOUND", "message": "App not found"}}
    _assert_stopped_for_good(page)
    guard.check()


def test_disconnect_closes_and_ends_session(page: Any, guard: Any, server: ServerProcess, site: Any,
                                            api: Any) -> None:
    """disconnect() → CLOSED in the browser and the session no longer live on the server."""
    open_sdk_page(page, site.origin, server.port, server.app_id)
    assert "user" in page.evaluate("connectAs('erin-browser')")
    assert len(live_sessions(api, "erin-browser")) == 1
    page.evaluate("disconnect()")
    wait_until(lambda: page.evaluate("state()") == CLOSED)
    wait_until(lambda: live_sessions(api, "erin-browser") == [])
    guard.check()


@pytest.fixture
def own_server(tmp_path: Any) -> Any:
    proc = ServerProcess(tmp_path)
    proc.start()
    yield proc
    proc.stop()


def test_sdk_reconnects_by_itself_after_server_restart(page: Any, context: Any,
                                                       own_server: ServerProcess, site: Any) -> None:
    """After a server restart the SDK reconnects on its own, resuming with its session key."""
    open_sdk_page(page, site.origin, own_server.port, own_server.app_id)
    assert "user" in page.evaluate("connectAs('frank-browser')")
    own_server.restart()
    # One False per failed cycle: a restart slower than the SDK's first retry (1.16 s after
    # the close) costs it a cycle, and another onConnectionChanged(false), before it is back.
    wait_until(lambda: page.evaluate("changes")[-1:] == [True]
               and len(page.evaluate("changes")) >= 3, timeout=20)
    changes = page.evaluate("changes")
    assert changes[0] is True and set(changes[1:-1]) == {False}
    assert page.evaluate("state()") == OPEN
    assert "session_key=" in page.evaluate("lastUrl")
    assert page.evaluate("cc.getCurrentUser().id") == "frank-browser"


def test_sdk_updates_profile_fields(page: Any, guard: Any, server: ServerProcess, site: Any,
                                    api: Any) -> None:
    """The SDK's own updateUser* calls change display name, avatar, profile URL, data, metadata."""
    open_sdk_page(page, site.origin, server.port, server.app_id)
    assert "user" in page.evaluate("connectAs('gina-browser')")
    calls = [("updateUserDisplayName", "Gina", "display_name"),
             ("updateUserAvatarUrl", "https://img.example/g.png", "avatar_url"),
             ("updateUserProfileUrl", "https://example.com/gina", "profile_url"),
             ("updateUserData", "some data", "data"),
             ("updateUserMetadata", {"team": "blue"}, "metadata")]
    for method, value, _ in calls:
        error = page.evaluate(
            "([m, v]) => new Promise((r) => cc[m](v, (err) => r(err ? err.code || String(err) : null)))",
            [method, value])
        assert error is None, (method, error)
    user = api("users.get", {"id": "gina-browser"})[1]["user"]
    assert {field: user[field] for _, _, field in calls} == {field: value
                                                              for _, value, field in calls}
    guard.check()
