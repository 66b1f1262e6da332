"""Real browser: chatcamp_web's own tests run inside Chromium on Pyodide and on MicroPython."""

from __future__ import annotations

import json
from typing import Any, Iterator
from urllib.parse import urlencode

import pytest
from server_process import ServerProcess

CASES = [
    "test_disconnect_before_connect_is_harmless",
    "test_same_app_returns_same_client_other_app_raises",
    "test_bad_arguments_raise_before_touching_the_sdk",
    "test_connect_by_id",
    "test_async_listeners_get_changes_too",
    "test_a_raising_listener_does_not_break_the_session",
    "test_connect_again_as_same_user_returns_it",
    "test_connect_as_other_user_while_connected_raises",
    "test_disconnect_closes_and_twice_is_harmless",
    "test_connect_as_b_right_after_disconnect_as_a",
    "test_wrong_token_fails_with_reason",
    "test_token_login_after_failure",
    "test_token_provider_hook",
    "test_fetch_access_token_errors_are_clear",
    "test_fetch_access_token_does_not_block_the_page",
    "test_fetch_access_token_times_out",
    "test_urllib_still_works_where_there_is_one",
    "test_connect_timeout",
    "test_overlapping_calls_complete_in_call_order",
    "test_hundred_cycles_leak_nothing",
    "test_close_releases_the_listener_proxy",
]


@pytest.fixture(scope="module", params=["pyodide", "micropython"])
def suite(request: Any, browser: Any, server: ServerProcess, site: Any) -> Iterator[dict[str, Any]]:
    """Run tests/pages/api_suite.py once per interpreter; yield its results by name."""
    interpreter = request.param
    user = f"web-token-{interpreter}"
    status, body = _create(server, user)
    site.responses.update({
        "/token-ok": (200, "application/json", json.dumps({"access_token": body})),
        "/token-401": (401, "application/json", '{"error": "sign in"}'),
        "/token-500": (500, "text/plain", "boom"),
        "/token-html": (200, "text/html", "<html>not json</html>"),
        "/token-slow": (200, "application/json", json.dumps({"access_token": body})),
    })
    site.delays["/token-slow"] = 0.6
    context = browser.new_context()
    errors: list[str] = []
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    query = urlencode({"server": server.base_url, "app": server.app_id, "site": site.origin,
                       "interpreter": interpreter, "token_user": user})
    page.goto(f"{site.origin}/api_suite.html?{query}")
    page.wait_for_function("window.suiteResults !== undefined", timeout=400_000)
    outcome = json.loads(page.evaluate("window.suiteResults"))
    assert outcome["runtime"] == interpreter
    yield {"results": {r["name"]: r for r in outcome["results"]}, "errors": errors}
    context.close()


def _create(server: ServerProcess, user: str) -> tuple[int, str]:
    import urllib.request
    req = urllib.request.Request(f"{server.base_url}/api/2.0/users.create",
                                 data=json.dumps({"id": user}).encode(), method="POST",
                                 headers={"x-api-key": server.api_key,
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as reply:
        return reply.status, json.loads(reply.read())["access_token"]


@pytest.mark.parametrize("case", CASES)
def test_in_browser_case(suite: dict[str, Any], case: str) -> None:
    """Each chatcamp_web behaviour listed in CASES holds inside the browser."""
    result = suite["results"].get(case)
    assert result is not None, f"{case} did not run; ran: {sorted(suite['results'])}"
    assert result["ok"], result.get("error")


def test_suite_ran_exactly_the_listed_cases(suite: dict[str, Any]) -> None:
    """The in-browser suite ran every listed case and nothing unlisted, with no page errors."""
    assert sorted(suite["results"]) == sorted(CASES)
    assert suite["errors"] == []
