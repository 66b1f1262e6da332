"""Real browser: sessions with a token provider renew their own tokens, on Pyodide and on
MicroPython at once, against a real server, with the real SDK."""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Iterator
from urllib.parse import urlencode

import pytest
from conftest import api_caller
from server_process import ServerProcess
from site_server import PageSite, Response

INTERPRETERS = ("pyodide", "micropython")
RENEWAL_ATTEMPTS = 4
"""chatcamp_web.renewal.RENEWAL_ATTEMPTS (that module imports the browser's FFI)."""


@pytest.fixture(scope="module")
def renewal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server of this module's own, since one test restarts it."""
    proc = ServerProcess(tmp_path_factory.mktemp("renewal"))
    proc.start()
    yield proc
    proc.stop()


class TokenEndpoint:
    """The integrator's token endpoint: each GET issues the user a new token through the server
    API that expires in ``ttl`` seconds, unless ``override`` (of the call's number) answers."""

    def __init__(self, server: ServerProcess, user: str, ttl: float,
                 override: Callable[[int], Response | None] | None = None) -> None:
        self.call = api_caller(server)
        self.user = user
        self.ttl = ttl
        self.override = override
        self.calls = 0
        status, _ = self.call("users.create", {"id": user})
        assert status == 200

    def __call__(self, query: str) -> Response:
        self.calls += 1
        answer = self.override(self.calls) if self.override else None
        if answer is not None:
            return answer
        status, body = self.call("users.tokens.issue", {"id": self.user, "expires_in": self.ttl})
        assert status == 200, body
        return 200, "application/json", json.dumps({"access_token": body["access_token"]})


class Session:
    """One page of tests/pages/renewal.py in a browser context of its own."""

    def __init__(self, browser: Any, server: ServerProcess, site: PageSite, interpreter: str,
                 endpoint: TokenEndpoint) -> None:
        self.endpoint = endpoint
        path = f"/token/{endpoint.user}"
        site.responses[path] = endpoint
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        query = urlencode({"server": server.base_url, "app": server.app_id, "site": site.origin,
                           "interpreter": interpreter, "script": "renewal.py",
                           "user": endpoint.user, "token_path": path})
        self.page.goto(f"{site.origin}/api_suite.html?{query}")

    def progress(self) -> dict[str, Any]:
        return json.loads(self.page.evaluate("window.renewal || 'null'") or "null") or {
            "timeline": [], "calls": 0, "state": "loading"}

    @property
    def state(self) -> str:
        return str(self.progress()["state"])

    def transitions(self) -> list[tuple[str, str, str | None]]:
        return [(p, c, code) for _, p, c, code, _ in self.progress()["timeline"]]

    def close(self) -> None:
        assert self.errors == []
        self.context.close()


def wait_all(sessions: list[Session], condition: Callable[[Session], bool], what: str,
             timeout: float = 60.0) -> None:
    """Until ``condition`` holds for every session, polling the pages."""
    deadline = time.monotonic() + timeout
    while not all(condition(s) for s in sessions):
        assert time.monotonic() < deadline, (what, [s.progress() for s in sessions])
        sessions[0].page.wait_for_timeout(50)


def open_sessions(browser: Any, server: ServerProcess, site: PageSite, name: str, ttl: float,
                  override: Callable[[int], Response | None] | None = None) -> list[Session]:
    sessions = [Session(browser, server, site, interpreter,
                        TokenEndpoint(server, f"renew-{name}-{interpreter}", ttl, override))
                for interpreter in INTERPRETERS]
    wait_all(sessions, lambda s: any(c == "connected" for _, c, _ in s.transitions()),
             "the first connect", timeout=120)
    return sessions


def connected_share(timeline: list[list[Any]], until: float) -> tuple[float, list[float]]:
    """The share of time since the first connect spent connected, and each gap's length."""
    start = next(at for at, _, current, _, _ in timeline if current == "connected")
    connected, gaps, since, gap_from = 0.0, [], start, None
    state = "connected"
    for at, _, current, _, _ in timeline:
        if at < start:
            continue
        if state == "connected" and current != "connected":
            connected += at - since
            gap_from = at
        if current == "connected" and state != "connected" and gap_from is not None:
            gaps.append(at - gap_from)
            since = at
        state = current
    if state == "connected":
        connected += until - since
    return connected / (until - start), gaps


def test_two_minute_session_on_ten_second_tokens_stays_connected(
        browser: Any, renewal_server: ServerProcess, site: PageSite) -> None:
    """Over two minutes on tokens that live 10 s, a session never fails, calls the provider
    once per token, and is connected at least 85% of the time."""
    sessions = open_sessions(browser, renewal_server, site, "long", ttl=10)
    started = time.monotonic()
    while time.monotonic() - started < 120:
        assert all(s.state != "failed" for s in sessions), [s.progress() for s in sessions]
        sessions[0].page.wait_for_timeout(1000)
    for session in sessions:
        progress = session.progress()
        now = session.page.evaluate("Date.now() / 1000")
        share, gaps = connected_share(progress["timeline"], now)
        renewals = session.transitions().count(("disconnected", "connecting", None))
        print(f"{progress['runtime']}: {renewals} renewals, connected {share:.1%}, gaps "
              f"min {min(gaps):.3f} s, mean {sum(gaps) / len(gaps):.3f} s, max {max(gaps):.3f} s")
        assert "failed" not in [c for _, c, _ in session.transitions()]
        assert 10 <= renewals <= 13, session.transitions()
        assert session.endpoint.calls == progress["calls"] == renewals + 1
        assert all(code == "TOKEN_EXPIRED" for p, c, code in session.transitions()
                   if c == "disconnected"), session.transitions()
        assert share >= 0.85, (share, gaps)
        session.close()


def test_network_flap_resumes_without_calling_the_provider(
        browser: Any, renewal_server: ServerProcess, site: PageSite) -> None:
    """A server restart while the token is valid: disconnected, then connected again through
    the SDK's session key, and the provider is not called."""
    sessions = open_sessions(browser, renewal_server, site, "flap", ttl=600)
    renewal_server.restart()
    wait_all(sessions, lambda s: ("connected", "disconnected", "NETWORK") in s.transitions()
             and s.state == "connected", "the resume after the restart")
    for session in sessions:
        assert session.endpoint.calls == session.progress()["calls"] == 1
        session.close()


def test_failing_provider_fails_after_its_bounded_retries(
        browser: Any, renewal_server: ServerProcess, site: PageSite) -> None:
    """A provider whose endpoint keeps failing with 503 after the first token is retried
    RENEWAL_ATTEMPTS times, then the session fails with the endpoint's error."""
    sessions = open_sessions(browser, renewal_server, site, "503", ttl=3,
                             override=lambda n: (503, "text/plain", "down") if n > 1 else None)
    wait_all(sessions, lambda s: s.state == "failed", "the failure")
    for session in sessions:
        assert session.endpoint.calls == 1 + RENEWAL_ATTEMPTS
        assert session.transitions()[-2:] == [("connected", "disconnected", "TOKEN_EXPIRED"),
                                              ("disconnected", "failed", "HTTP_5XX")]
        session.close()


def test_renewed_token_the_server_refuses_fails_at_once(
        browser: Any, renewal_server: ServerProcess, site: PageSite) -> None:
    """A new token the server refuses ends the session in failed after one provider call."""
    bad = json.dumps({"access_token": "not-a-token-of-this-server"})
    sessions = open_sessions(browser, renewal_server, site, "bad", ttl=3,
                             override=lambda n: (200, "application/json", bad) if n > 1 else None)
    wait_all(sessions, lambda s: s.state == "failed", "the failure")
    for session in sessions:
        assert session.endpoint.calls == 2
        assert session.transitions()[-1] == ("connecting", "failed", "NOT_AUTHORIZED")
        session.close()


@pytest.mark.parametrize("method, body, code, message", [
    ("users.tokens.revoke", {}, "TOKEN_REVOKED", "Access token revoked"),
    ("users.sessions.end", None, "SESSION_ENDED", "Session ended by the server"),
])
def test_server_reason_for_ending_reaches_python(
        browser: Any, renewal_server: ServerProcess, site: PageSite, method: str,
        body: dict[str, Any] | None, code: str, message: str) -> None:
    """A session the server ends by revocation or by the operator fails at once, its reason
    the server's code and message, and the provider is not called."""
    sessions = open_sessions(browser, renewal_server, site, code.lower(), ttl=600)
    call = api_caller(renewal_server)
    for session in sessions:
        user = session.endpoint.user
        if body is None:
            live = call("users.sessions.list", {"id": user})[1]["sessions"]
            request = {"id": user, "session_id": live[0]["session_id"]}
        else:
            request = {"id": user, **body}
        assert call(method, request)[0] == 200
    wait_all(sessions, lambda s: s.state == "failed", "the end")
    for session in sessions:
        when, previous, current, reason, text = session.progress()["timeline"][-1]
        assert (previous, current, reason, text) == ("connected", "failed", code, message)
        assert session.endpoint.calls == 1
        session.close()
