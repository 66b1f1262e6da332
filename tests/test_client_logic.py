"""In-process: the browser client's logic over a fake of its FFI module that behaves as the SDK.

Each SDK quirk the client corrects (protocol spec §8), every path through the table, token
renewal and its single flight, and stale outcomes of earlier generations.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable

import fake_ffi
import pytest
from fake_ffi import Answer, FakeSdk, until

APP = "1234567890"


class Web:
    """chatcamp_web imported over the fake FFI, with the fake's page state at hand."""

    def __init__(self) -> None:
        self.page = fake_ffi.reset()
        self.pkg = fake_ffi.install()
        self.changes: list[tuple[str, str, str | None]] = []

    def client(self, **options: Any) -> Any:
        cc = self.pkg.ChatCamp(APP, **options)
        cc.add_listener(lambda c: self.changes.append(
            (c.previous, c.current, c.reason.code if c.reason else None)))
        return cc

    @property
    def sdk(self) -> FakeSdk:
        assert self.page.sdk is not None
        return self.page.sdk

    def decide(self, fn: Callable[[str | None, str | None, str | None], Answer]) -> None:
        self.sdk.server.decide = fn

    def expire(self) -> None:
        """The server ends the live session because its token expired, saying so."""
        self.sdk.end_by_server("NOT_AUTHORIZED", "Access token expired", notice="TOKEN_EXPIRED")


@pytest.fixture
def web() -> Web:
    return Web()


def first_token_then(error: Exception) -> tuple[Callable[[str], Any], list[str]]:
    """A token provider handing out one token, then raising ``error`` on every later call;
    and the list of users it was asked for."""
    asked: list[str] = []

    async def provider(user_id: str) -> str:
        asked.append(user_id)
        if len(asked) == 1:
            return "token-one-123456"
        raise error

    return provider, asked


def tokens(*values: str) -> tuple[Callable[[str], Any], list[str]]:
    """A token provider handing out ``values`` in turn, and the list of users it was asked for."""
    asked: list[str] = []
    supply = list(values)

    async def provider(user_id: str) -> str:
        asked.append(user_id)
        return supply.pop(0)

    return provider, asked


# connecting and disconnecting

async def test_connect_by_id_goes_connecting_then_connected(web: Web) -> None:
    """An ID login reports initialized → connecting → connected and returns the user."""
    cc = web.client()
    user = await cc.connect("alice")
    assert user.id == "alice" and cc.state == "connected"
    assert web.changes == [("initialized", "connecting", None), ("connecting", "connected", None)]


async def test_connect_as_another_user_while_connected_raises_without_asking_the_sdk(
        web: Web) -> None:
    """The SDK would answer with the current user; the client refuses instead (§8)."""
    cc = web.client()
    await cc.connect("alice")
    with pytest.raises(web.pkg.InvalidStateError) as raised:
        await cc.connect("bob")
    assert raised.value.code == "ALREADY_CONNECTED"
    assert [opened[0] for opened in web.sdk.server.opened] == ["alice"]
    assert (await cc.connect("alice")).id == "alice"


async def test_connect_as_b_right_after_disconnect_as_a_is_b(web: Web) -> None:
    """While the SDK still holds A's closed socket, a connect as B waits for it to go and
    opens B's, instead of being queued and answered with A (§8)."""
    FakeSdk.timer_delay = 0.05
    try:
        cc = web.client()
        await cc.connect("a")
        await cc.disconnect()
        assert web.sdk.socket, "the fake holds the closed socket, as the SDK does"
        user = await cc.connect("b")
    finally:
        FakeSdk.timer_delay = 0.0
    assert user.id == "b" and web.sdk.user.id == "b"
    assert [opened[0] for opened in web.sdk.server.opened] == ["a", "b"]


async def test_disconnect_before_connect_and_twice_is_harmless(web: Web) -> None:
    """disconnect() before any connect, and a second disconnect(), change nothing."""
    cc = web.client()
    await cc.disconnect()
    assert cc.state == "initialized" and web.changes == []
    await cc.connect("alice")
    await cc.disconnect()
    await cc.disconnect()
    assert cc.state == "closed" and cc.user is None
    assert web.changes[-2:] == [("connected", "closing", None), ("closing", "closed", None)]


async def test_overlapping_calls_complete_in_call_order(web: Web) -> None:
    """connect, disconnect, connect issued at once run one after another, in call order."""
    cc = web.client()
    order: list[int] = []

    async def run(label: int, call: Any) -> None:
        await call
        order.append(label)

    await asyncio.gather(run(1, cc.connect("p")), run(2, cc.disconnect()),
                         run(3, cc.connect("q")))
    assert order == [1, 2, 3] and cc.user.id == "q" and cc.state == "connected"


async def test_a_second_client_for_another_app_raises(web: Web) -> None:
    """The SDK keeps one app per page and would silently ignore the second app ID."""
    cc = web.client()
    assert web.pkg.ChatCamp(APP) is cc
    with pytest.raises(web.pkg.InvalidStateError) as raised:
        web.pkg.ChatCamp("another-app")
    assert raised.value.code == "APP_MISMATCH"


async def test_bad_arguments_raise_invalid_argument_a_value_error(web: Web) -> None:
    """Bad arguments raise InvalidArgumentError, which is a ChatCampError and a ValueError,
    before the SDK is asked anything."""
    cc = web.client()
    for call, code in ((cc.connect(""), "INVALID_USER_ID"),
                       (cc.connect("x" * 129), "INVALID_USER_ID"),
                       (cc.connect("a\nb"), "INVALID_USER_ID"),
                       (cc.connect("u", access_token=""), "INVALID_TOKEN"),
                       (cc.connect("u", timeout=0), "INVALID_TIMEOUT"),
                       (cc.disconnect(timeout=-1), "INVALID_TIMEOUT")):
        with pytest.raises(ValueError) as raised:
            await call
        assert isinstance(raised.value, web.pkg.InvalidArgumentError)
        assert isinstance(raised.value, web.pkg.ChatCampError) and raised.value.code == code
    with pytest.raises(web.pkg.InvalidArgumentError):
        cc.token_provider = "not a function"
    assert web.sdk.server.opened == [] and cc.state == "initialized"


async def test_refusal_fails_with_the_servers_reason(web: Web) -> None:
    """A refused login ends in failed with the server's code and message, and the notice's
    specific code when the server sent one."""
    cc = web.client()
    web.decide(lambda user, token, key: Answer(False, "NOT_AUTHORIZED",
                                               "This app requires an access token",
                                               notice="POLICY"))
    with pytest.raises(web.pkg.NotAuthorizedError) as raised:
        await cc.connect("alice")
    assert (raised.value.code, raised.value.message) == ("POLICY",
                                                         "This app requires an access token")
    assert cc.state == "failed" and cc.reason is raised.value
    assert web.changes[-1] == ("connecting", "failed", "POLICY")


async def test_after_a_refusal_a_successful_connect_reconnects_by_itself_again(web: Web) -> None:
    """The SDK turns auto-reconnect off for good after NOT_AUTHORIZED; the next successful
    connect turns it on, so a later network drop resumes instead of ending the session."""
    cc = web.client()
    web.decide(lambda user, token, key: Answer(False, "NOT_AUTHORIZED", "Invalid access token"))
    with pytest.raises(web.pkg.NotAuthorizedError):
        await cc.connect("alice", access_token="wrong-token-123456")
    web.decide(lambda user, token, key: Answer())
    await cc.connect("alice", access_token="right-token-123456")
    assert web.sdk.auto
    web.sdk.drop()
    await until(lambda: cc.state == "connected" and len(web.sdk.server.opened) == 3, "a resume")
    assert web.sdk.server.opened[-1][2] is not None, "resumed with the session key"


async def test_connect_timeout_fails_and_stops_the_sdk(web: Web) -> None:
    """A login the server never answers fails with TIMEOUT, stops the SDK's attempt, and the
    next connect works."""
    cc = web.client()
    web.decide(lambda user, token, key: Answer(silent=True))
    with pytest.raises(web.pkg.ConnectTimeoutError):
        await cc.connect("slow", timeout=0.01)
    assert cc.state == "failed" and cc.reason.code == "TIMEOUT" and web.sdk.forced
    web.decide(lambda user, token, key: Answer())
    assert (await cc.connect("slow")).id == "slow" and cc.state == "connected"


async def test_connect_after_a_timeout_waits_out_the_aborted_socket(web: Web) -> None:
    """A login answered just after its timeout opens the socket the client is closing; the
    next connect must not join that socket, which is about to go, but wait and open its own."""
    FakeSdk.close_delay = 0.05
    try:
        cc = web.client()
        web.decide(lambda user, token, key: Answer(delay=0.02))
        with pytest.raises(web.pkg.ConnectTimeoutError):
            await cc.connect("late", timeout=0.01)
        web.decide(lambda user, token, key: Answer())
        assert (await cc.connect("late")).id == "late"
    finally:
        FakeSdk.close_delay = 0.0
    assert cc.state == "connected" and web.sdk.state == fake_ffi.OPEN and not web.sdk.forced
    assert len(web.sdk.server.opened) == 2, "a socket of its own, not the dying one"


async def test_an_answer_racing_the_abort_of_a_timed_out_login_changes_nothing(
        web: Web) -> None:
    """The timed-out attempt is over before the SDK is stopped: the server's answer, arriving
    just then, leaves the client failed with TIMEOUT, and the next connect works."""
    cc = web.client()
    web.decide(lambda user, token, key: Answer(on_disconnect=True))
    with pytest.raises(web.pkg.ConnectTimeoutError):
        await cc.connect("racer", timeout=0.01)
    assert cc.state == "failed" and cc.reason.code == "TIMEOUT"
    assert ("connecting", "connected", None) not in web.changes
    web.decide(lambda user, token, key: Answer())
    assert (await cc.connect("racer")).id == "racer" and cc.state == "connected"


async def test_a_success_reported_as_the_attempt_times_out_changes_nothing(web: Web) -> None:
    """The SDK's listener telling of a login the attempt has just given up on does not make
    the client connected: the attempt's result (TIMEOUT) decides, and the SDK is stopped."""
    cc = web.client()
    web.decide(lambda user, token, key: Answer(at_timeout=True))
    with pytest.raises(web.pkg.ConnectTimeoutError):
        await cc.connect("racer", timeout=0.01)
    assert cc.state == "failed" and web.sdk.forced
    assert ("connecting", "connected", None) not in web.changes
    web.decide(lambda user, token, key: Answer())
    assert (await cc.connect("racer")).id == "racer" and cc.state == "connected"


async def test_network_drop_resumes_with_the_session_key_and_no_new_token(web: Web) -> None:
    """A network flap goes disconnected (NETWORK) and back to connected through the SDK's own
    resume; the token provider is never called for it."""
    provider, asked = tokens("token-one-123456")
    cc = web.client(token_provider=provider)
    await cc.connect("alice")
    web.sdk.drop()
    await until(lambda: cc.state == "connected" and len(web.sdk.server.opened) == 2, "a resume")
    assert web.changes[-2:] == [("connected", "disconnected", "NETWORK"),
                                ("disconnected", "connected", None)]
    assert asked == ["alice"] and cc.token_provider_calls == 1


async def test_expired_token_is_renewed_and_the_session_reconnects(web: Web) -> None:
    """When the server ends the session because its token expired, the client gets one new
    token and reconnects with it: connected → disconnected (TOKEN_EXPIRED) → connecting →
    connected."""
    provider, asked = tokens("token-one-123456", "token-two-123456")
    cc = web.client(token_provider=provider)
    await cc.connect("alice")
    web.expire()
    await until(lambda: cc.state == "connected" and asked == ["alice", "alice"], "the renewal")
    assert web.changes[-3:] == [("connected", "disconnected", "TOKEN_EXPIRED"),
                                ("disconnected", "connecting", None),
                                ("connecting", "connected", None)]
    assert web.sdk.server.opened[-1] == ("alice", "token-two-123456", None)
    assert cc.user.access_token == "token-two-123456" and web.sdk.auto


async def test_resume_refused_for_expiry_while_away_is_renewed(web: Web) -> None:
    """A token that expired during a network flap: the SDK's resume is refused with the
    expiry notice, and the client renews from disconnected."""
    provider, asked = tokens("token-one-123456", "token-two-123456")
    cc = web.client(token_provider=provider)
    await cc.connect("alice")
    web.decide(lambda user, token, key: Answer(False, "NOT_AUTHORIZED", "Access token expired",
                                               notice="TOKEN_EXPIRED") if key else Answer())
    web.sdk.drop()
    await until(lambda: cc.state == "connected" and len(asked) == 2, "the renewal")
    assert ("disconnected", "disconnected", "TOKEN_EXPIRED") in web.changes
    assert web.changes[-1] == ("connecting", "connected", None)


@pytest.mark.parametrize("notice, code", [("TOKEN_REVOKED", "TOKEN_REVOKED"),
                                          ("SESSION_ENDED", "SESSION_ENDED"),
                                          (None, "SESSION_ENDED")])
async def test_session_ended_for_other_reasons_fails_without_renewing(
        web: Web, notice: str | None, code: str) -> None:
    """A revoked token or an operator's end fails at once with the server's reason (a generic
    SESSION_ENDED when a server sends no notice); the provider is not called."""
    provider, asked = tokens("token-one-123456", "token-two-123456")
    cc = web.client(token_provider=provider)
    await cc.connect("alice")
    web.sdk.end_by_server("NOT_AUTHORIZED", "Access token revoked", notice=notice)
    await until(lambda: cc.state == "failed", "the failure")
    assert cc.reason.code == code and isinstance(cc.reason, web.pkg.NotAuthorizedError)
    assert asked == ["alice"]


async def test_expiry_without_a_provider_fails_with_the_reason(web: Web) -> None:
    """Without a token provider an expired token ends the session in failed, saying why."""
    cc = web.client()
    await cc.connect("alice", access_token="token-one-123456")
    web.expire()
    await until(lambda: cc.state == "failed", "the failure")
    assert (cc.reason.code, cc.reason.message) == ("TOKEN_EXPIRED", "Access token expired")


async def test_failing_provider_is_retried_with_backoff_then_fails(web: Web) -> None:
    """A provider that keeps failing for a reason that may pass is called RENEWAL_ATTEMPTS
    times, with waits doubling and jittered, then the session fails with its error."""
    attempts = web.pkg.renewal.RENEWAL_ATTEMPTS
    provider, calls = first_token_then(
        web.pkg.NetworkError("the token endpoint failed with 503", "HTTP_5XX"))
    web.page.random = 0.5
    cc = web.client(token_provider=provider)
    await cc.connect("alice")
    web.expire()
    await until(lambda: cc.state == "failed", "the failure")
    assert len(calls) == 1 + attempts
    assert cc.reason.code == "HTTP_5XX"
    first = web.pkg.renewal.BACKOFF_FIRST * 0.75
    assert web.page.sleeps == [first * 2 ** i for i in range(attempts - 1)]


async def test_provider_bug_is_retried_and_reported(web: Web) -> None:
    """A provider raising any exception counts as a failure that may pass; the session's
    reason names it."""
    provider, calls = first_token_then(KeyError("session"))

    cc = web.client(token_provider=provider)
    await cc.connect("alice")
    web.expire()
    await until(lambda: cc.state == "failed", "the failure")
    assert cc.reason.code == "TOKEN_PROVIDER_FAILED" and "KeyError" in cc.reason.message
    assert len(calls) == 1 + web.pkg.renewal.RENEWAL_ATTEMPTS


async def test_provider_saying_signed_out_fails_at_once(web: Web) -> None:
    """A provider failure that cannot pass by waiting (401: signed out) is not retried."""
    provider, calls = first_token_then(web.pkg.NotAuthorizedError("sign in first", "HTTP_401"))

    cc = web.client(token_provider=provider)
    await cc.connect("alice")
    web.expire()
    await until(lambda: cc.state == "failed", "the failure")
    assert len(calls) == 2 and cc.reason.code == "HTTP_401" and web.page.sleeps == []


async def test_renewed_token_refused_fails_at_once(web: Web) -> None:
    """A new token the server refuses ends the session in failed, with no further calls."""
    provider, asked = tokens("token-one-123456", "token-bad-123456", "token-three-12345")
    cc = web.client(token_provider=provider)
    await cc.connect("alice")
    web.decide(lambda user, token, key: Answer(False, "NOT_AUTHORIZED", "Invalid access token")
               if token == "token-bad-123456" else Answer())
    web.expire()
    await until(lambda: cc.state == "failed", "the failure")
    assert len(asked) == 2 and cc.reason.message == "Invalid access token"


async def test_concurrent_token_requests_share_one_provider_call(web: Web) -> None:
    """Triggers that need a token while a call is under way share its answer (single flight),
    failures included."""
    release = asyncio.Event()
    calls = 0

    async def provider(user_id: str) -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        return f"token-{calls}-1234567890"

    source = web.pkg.renewal.TokenSource(provider)
    waiting = [asyncio.create_task(source.token("alice")) for _ in range(5)]
    await until(lambda: calls == 1, "the provider call")
    release.set()
    assert await asyncio.gather(*waiting) == ["token-1-1234567890"] * 5 and calls == 1
    assert await source.token("alice") == "token-2-1234567890", "a later need makes a new call"

    async def failing(user_id: str) -> str:
        await asyncio.sleep(0)
        raise web.pkg.NetworkError("down")

    source = web.pkg.renewal.TokenSource(failing)
    outcomes = await asyncio.gather(source.token("a"), source.token("a"), return_exceptions=True)
    assert [type(o).__name__ for o in outcomes] == ["NetworkError"] * 2 and source.calls == 1


class HeldProvider:
    """A token provider whose first call answers at once and whose later calls wait for
    ``release``: a renewal caught while it waits on the integrator's backend."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.calls = 0

    async def __call__(self, user_id: str) -> str:
        self.calls += 1
        call = self.calls
        if call > 1:
            await self.release.wait()
        return f"token-{call}-1234567890"


async def renewal_waiting(web: Web) -> tuple[Any, HeldProvider]:
    """A connected client whose token has just expired, its renewal waiting on the provider."""
    provider = HeldProvider()
    cc = web.client(token_provider=provider)
    await cc.connect("alice")
    web.expire()
    await until(lambda: provider.calls == 2, "the renewal's call")
    return cc, provider


async def test_connect_during_a_renewal_shares_its_token(web: Web) -> None:
    """The page's own connect() while a renewal waits on the provider uses the same call."""
    cc, provider = await renewal_waiting(web)
    connecting = asyncio.create_task(cc.connect("alice"))
    await asyncio.sleep(0)
    provider.release.set()
    user = await connecting
    await until(lambda: cc.state == "connected", "connected")
    assert provider.calls == 2 and user.access_token == "token-2-1234567890"
    assert [o for o in web.sdk.server.opened if o[1] == "token-2-1234567890"] == [
        ("alice", "token-2-1234567890", None)]


async def test_disconnect_during_a_renewal_wins(web: Web) -> None:
    """A token that arrives after the page disconnected belongs to an earlier generation: no
    socket is opened with it and the client stays closed."""
    cc, provider = await renewal_waiting(web)
    await cc.disconnect()
    opened = len(web.sdk.server.opened)
    provider.release.set()
    await until(lambda: cc._renewing is None, "the renewal's end")
    assert cc.state == "closed" and len(web.sdk.server.opened) == opened
    assert web.changes[-1] == ("closing", "closed", None)


async def test_stale_outcome_does_not_change_the_state(web: Web) -> None:
    """An event applied for an earlier generation is ignored by the client."""
    cc = web.client()
    await cc.connect("alice")
    old = cc._generation
    await cc.disconnect()
    assert cc._apply(web.pkg.state.Event.AUTHENTICATED, None, old) is False
    assert cc.state == "closed"


async def test_listeners_plain_async_and_broken(web: Web) -> None:
    """Async listeners get every change too, and a raising listener breaks nothing."""
    cc = web.client()
    seen: list[str] = []

    async def later(change: Any) -> None:
        await asyncio.sleep(0)
        seen.append(change.current)

    def broken(change: Any) -> None:
        raise RuntimeError("a listener bug")

    cc.add_listener(later)
    cc.add_listener(broken)
    await cc.connect("alice")
    await until(lambda: seen == ["connecting", "connected"], "the async listener")
    assert cc.state == "connected"


async def test_close_releases_the_listener(web: Web) -> None:
    """close() unregisters the one proxy the client gave the SDK, and a new client starts
    afresh on the same SDK."""
    cc = web.client()
    await cc.connect("alice")
    assert fake_ffi.live_proxies() == 1
    await cc.close()
    assert fake_ffi.live_proxies() == 0 and web.sdk.listeners == {}
    fresh = web.pkg.ChatCamp(APP)
    assert fresh is not cc and fresh.state == "initialized"


async def test_fetch_access_token_maps_answers_to_errors(web: Web) -> None:
    """The token endpoint's answers become a token or a clear error of the tree."""
    fetches = web.page.fetches
    base = "http://127.0.0.1:8080"
    fetches[base + "/ok"] = (200, json.dumps({"access_token": "token-123456789"}))
    fetches[base + "/401"] = (401, "{}")
    fetches[base + "/500"] = (500, "boom")
    fetches[base + "/html"] = (200, "<html>")
    fetches[base + "/slow"] = (0, "TIMEOUT")
    fetch = web.pkg.fetch_access_token
    assert await fetch("/ok") == "token-123456789"
    for url, cls, code in (("/401", "NotAuthorizedError", "HTTP_401"),
                           ("/500", "NetworkError", "HTTP_5XX"),
                           ("/html", "TokenFetchError", "BAD_TOKEN_RESPONSE"),
                           ("/slow", "NetworkError", "TIMEOUT")):
        with pytest.raises(getattr(web.pkg, cls)) as raised:
            await fetch(url)
        assert raised.value.code == code, url
    with pytest.raises(web.pkg.InvalidArgumentError):
        await fetch("/ok", timeout=0)
