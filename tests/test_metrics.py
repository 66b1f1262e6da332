"""Real server (and real limits, store and Redis in process): Prometheus metrics on a
listener of their own, counting logins, refusals, lockouts, revocations, ends of sessions,
server-API calls, store and Redis errors, and absent from the public listener."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import aiohttp
import pytest
from conftest import api_caller, wait_until
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from redis_service import RedisServer
from server_process import ServerProcess, free_port
from ws_client import ended_by_server, id_query, login, refusal, request

from chatcamp_server.errors import RateLimited, StorageUnavailable
from chatcamp_server.metrics import REVOCATION_KINDS, Metrics
from chatcamp_server.sessions.live import LiveSessions
from chatcamp_server.sessions.rate_limit import SCOPES, MemoryLoginLimits
from chatcamp_server.sessions.redis_limits import RedisLoginLimits
from chatcamp_server.settings import Limits
from chatcamp_server.storage.postgres import PostgresStore
from chatcamp_server.storage.sqlite import SQLiteStore

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def metered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with its metrics listener on a port of its own."""
    proc = ServerProcess(tmp_path_factory.mktemp("metered"),
                         options=("--metrics-port", str(free_port())))
    proc.start()
    yield proc
    proc.stop()


def parse(text: str) -> Samples:
    """Every sample of an exposition: (name, labels) → value."""
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def scrape(server: ServerProcess) -> Samples:
    """Every sample of the metrics listener."""
    port = server.options[server.options.index("--metrics-port") + 1]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        assert reply.headers["Content-Type"].startswith("text/plain")
        return parse(reply.read().decode())


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_logins_refusals_and_ends_are_counted(metered: ServerProcess,
                                                    http: aiohttp.ClientSession) -> None:
    """An ID login, a refused token and an operator's end of a session each move their
    counter, and the live-sessions gauge follows the sockets."""
    api = api_caller(metered)
    api("users.create", {"id": "metered-bob", "access_token": "the-right-token-0123"})
    before = scrape(metered)
    ack, ws = await login(http, metered, id_query(metered, "metered-ann"))
    assert ack["d"]["ok"] is True
    await refusal(http, metered, id_query(metered, "metered-bob")
                  + "&access_token=wrong-token-0123456")
    after = scrape(metered)
    assert value(after, "chatcamp_logins_total", outcome="accepted", code="") == \
        value(before, "chatcamp_logins_total", outcome="accepted", code="") + 1
    assert value(after, "chatcamp_logins_total", outcome="refused", code="NOT_AUTHORIZED") == \
        value(before, "chatcamp_logins_total", outcome="refused", code="NOT_AUTHORIZED") + 1
    assert value(after, "chatcamp_live_sessions") == 1
    session = api("users.sessions.list", {"id": "metered-ann"})[1]["sessions"][0]
    assert api("users.sessions.end", {"id": "metered-ann",
                                      "session_id": session["session_id"]})[0] == 200
    await ended_by_server(ws)
    await ws.close()
    wait_until(lambda: value(scrape(metered), "chatcamp_live_sessions") == 0)
    ended = scrape(metered)
    assert value(ended, "chatcamp_session_ends_total", reason="SESSION_ENDED") == 1
    assert value(ended, "chatcamp_revocations_total", kind="session") == \
        value(before, "chatcamp_revocations_total", kind="session") + 1


async def test_chat_requests_are_counted_by_type_and_outcome(
        metered: ServerProcess, http: aiohttp.ClientSession) -> None:
    """A served chat request counts as ok, a refused one by its code, and a type the server
    does not serve as other, whatever its name."""
    before = scrape(metered)
    _, ws = await login(http, metered, id_query(metered, "metered-chat"))
    assert (await request(ws, {"t": "open_channels.list", "d": {"limit": 5}, "r": 1}))[
        "d"]["ok"] is True
    missing = await request(ws, {"t": "open_channels.get", "d": {"id": "no-such"}, "r": 2})
    assert missing["d"]["error"]["code"] == "NOT_FOUND"
    await request(ws, {"t": "made_up.thing", "d": {}, "r": 3})
    await ws.close()
    after = scrape(metered)

    def moved(**labels: str) -> float:
        return (value(after, "chatcamp_chat_requests_total", **labels)
                - value(before, "chatcamp_chat_requests_total", **labels))
    assert moved(type="open_channels.list", outcome="ok") == 1
    assert moved(type="open_channels.get", outcome="NOT_FOUND") == 1
    assert moved(type="other", outcome="NOT_IMPLEMENTED") == 1
    assert not any(name == "chatcamp_chat_requests_total" and ("type", "made_up.thing") in labels
                   for name, labels in after)


def test_server_api_calls_are_counted_by_method_and_status(metered: ServerProcess) -> None:
    """Each server-API call counts under its method and status, with its latency; a method
    that does not exist counts as "unknown", whatever name the client made up."""
    api = api_caller(metered)
    assert api("users.create", {"id": "metered-cat"})[0] == 200
    assert api("no.such.method", {})[0] == 404
    assert api("made.up." + "x" * 40, {})[0] == 404
    samples = scrape(metered)
    assert value(samples, "chatcamp_api_requests_total", method="users.create",
                 status="200") >= 1
    assert value(samples, "chatcamp_api_requests_total", method="unknown", status="404") == 2
    assert value(samples, "chatcamp_api_request_seconds_count", method="users.create") >= 1
    assert not any("no.such" in str(labels) for _, labels in samples)


def test_metrics_are_not_on_the_public_listener(metered: ServerProcess) -> None:
    """The public listener has no /metrics: the counts would tell an attacker how an attack
    goes."""
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{metered.base_url}/metrics", timeout=10)
    assert missing.value.code == 404
    assert "Metrics on http://127.0.0.1:" in metered.log() + "".join(metered.output)


def test_revocations_are_counted_by_kind(metered: ServerProcess) -> None:
    """One token, a user's tokens, a user's tokens issued before a time, the app's tokens
    (all, or issued before a time) and a signing key each count once under their own kind;
    a revocation the server refuses counts nothing, and every kind is a series from the
    start."""
    api = api_caller(metered)
    api("users.create", {"id": "metered-cy"})
    token = api("users.tokens.issue", {"id": "metered-cy"})[1]["token"]["id"]
    before = scrape(metered)
    assert all(("chatcamp_revocations_total", (("kind", kind),)) in before
               for kind in REVOCATION_KINDS)
    assert api("users.tokens.revoke", {"id": "metered-cy", "token_id": token})[0] == 200
    assert api("users.tokens.revoke", {"id": "metered-cy"})[0] == 200
    assert api("users.tokens.revoke", {"id": "metered-cy", "issued_before": 1})[0] == 200
    assert api("users.tokens.revoke", {"id": "metered-nobody"})[0] == 404
    assert api("users.tokens.revoke", {"id": "metered-cy", "token_id": token,
                                       "issued_before": 1})[0] == 400
    assert api("apps.tokens.revoke", {})[0] == 200
    assert api("apps.tokens.revoke", {"issued_before": 1})[0] == 200
    key = api("apps.signing_keys.create", {})[1]["key_id"]
    assert api("apps.signing_keys.revoke", {"key_id": key})[0] == 200
    assert api("apps.signing_keys.revoke", {"key_id": key})[0] == 404
    after = scrape(metered)
    moved = {kind: value(after, "chatcamp_revocations_total", kind=kind)
             - value(before, "chatcamp_revocations_total", kind=kind)
             for kind in REVOCATION_KINDS}
    assert moved == {"token": 1, "user_tokens": 1, "user_tokens_before": 1, "app_tokens": 1,
                     "app_tokens_before": 1, "signing_key": 1, "session": 0}


async def test_lockouts_are_counted_by_scope(tmp_path: Path,
                                             http: aiohttp.ClientSession) -> None:
    """The wrong API key that fills the address's limit starts one lockout of scope address,
    however many calls and logins it then refuses, and the address counts as locked out
    now."""
    proc = ServerProcess(tmp_path, options=("--metrics-port", str(free_port()),
                                            "--failed-logins-per-address", "2"))
    proc.start()
    try:
        api = api_caller(proc)
        assert [api("apps.get", {}, api_key="cck_wrong")[0] for _ in range(3)] == [401, 401, 429]
        failed = await refusal(http, proc, id_query(proc, "locked-out"))
        assert failed["code"] == "RATE_LIMITED"
        assert api("users.create", {"id": "locked-too"}, api_key="cck_wrong")[0] == 429
        samples = scrape(proc)
        assert {scope: value(samples, "chatcamp_login_lockouts_total", scope=scope)
                for scope in SCOPES} == {"address": 1, "user_address": 0, "user": 0,
                                         "new_users": 0}
        assert value(samples, "chatcamp_login_lockouts_active", scope="address") == 1
        assert value(samples, "chatcamp_login_lockouts_active", scope="user") == 0
    finally:
        proc.stop()


async def test_store_and_redis_errors_are_counted() -> None:
    """A PostgreSQL store that cannot be reached, and Redis login limits that fall back to
    the node, count their failed calls under their backend and part; a call made while the
    part waits to retry Redis does not reach Redis and counts nothing."""
    store = PostgresStore(f"postgresql://chat@127.0.0.1:{free_port()}/chat")
    with pytest.raises(StorageUnavailable):
        await store.open()
    limits = RedisLoginLimits(redis_url=f"redis://127.0.0.1:{free_port()}")
    try:
        await limits.failed("192.0.2.1")
        await limits.check("192.0.2.1")
        samples = parse(generate_latest(
            Metrics(LiveSessions(), store, limits, lambda: [limits.outage]).registry).decode())
    finally:
        await limits.aclose()
    assert value(samples, "chatcamp_store_errors_total", backend="postgresql") == store.errors >= 1
    assert value(samples, "chatcamp_redis_errors_total", part="limits") == 1


def test_a_single_node_reports_no_redis_parts(metered: ServerProcess) -> None:
    """On SQLite with no Redis, the store's errors read 0 and there is no Redis series."""
    samples = scrape(metered)
    assert value(samples, "chatcamp_store_errors_total", backend="sqlite") == 0
    assert ("chatcamp_store_errors_total", (("backend", "sqlite"),)) in samples
    assert not [name for name, _ in samples if name.startswith("chatcamp_redis_errors")]


async def test_memory_limits_count_each_lockout_once_while_it_lasts() -> None:
    """The failure that fills a user's pair window starts one lockout, the refusals and
    failures after it start none, the gauge shows it until the window passes, and the next
    filled window is a second lockout; new users per address count the same way."""
    now = [1000.0]
    limits = MemoryLoginLimits(Limits(failed_logins_per_user_address=2, failed_logins_per_user=50,
                                      failed_logins_per_address=50, new_users_per_address=1,
                                      failed_login_window=60.0), clock=lambda: now[0])
    for _ in range(2):
        await limits.failed("192.0.2.7", "app", "dee")
    assert limits.lockouts["user_address"] == 1
    for _ in range(3):
        with pytest.raises(RateLimited):
            await limits.check("192.0.2.7", "app", "dee")
    await limits.failed("192.0.2.7", "app", "dee")
    assert limits.lockouts["user_address"] == 1
    assert limits.locked_out()["user_address"] == 1
    now[0] += 61
    assert limits.locked_out()["user_address"] == 0
    for _ in range(2):
        await limits.failed("192.0.2.7", "app", "dee")
    assert limits.lockouts["user_address"] == 2
    await limits.creating_user("192.0.2.8")
    with pytest.raises(RateLimited):
        await limits.creating_user("192.0.2.8")
    assert limits.lockouts == {"user_address": 2, "new_users": 1}
    assert limits.locked_out() == {"address": 0, "user_address": 1, "user": 0, "new_users": 1}


async def test_redis_limits_count_the_lockout_on_the_node_that_started_it(
        redis_server: RedisServer) -> None:
    """Two nodes' failures fill one shared window: only the node whose failure filled it
    counts the lockout, once, and the same holds for new users; with Redis the nodes report
    no gauge of current lockouts, which only Redis could tell."""
    settings = Limits(failed_logins_per_user_address=3, failed_logins_per_user=50,
                      failed_logins_per_address=50, new_users_per_address=2,
                      failed_login_window=60.0)
    prefix = redis_server.prefix()
    a, b = (RedisLoginLimits(settings, redis_server.url(), prefix=prefix) for _ in range(2))
    try:
        await a.failed("192.0.2.9", "app", "eve")
        await b.failed("192.0.2.9", "app", "eve")
        await a.failed("192.0.2.9", "app", "eve")
        await b.failed("192.0.2.9", "app", "eve")
        await b.creating_user("192.0.2.10")
        await a.creating_user("192.0.2.10")
        with pytest.raises(RateLimited):
            await b.creating_user("192.0.2.10")
        assert (a.lockouts, b.lockouts) == ({"user_address": 1, "new_users": 1}, {})
        assert a.healthy and b.healthy
        samples = parse(generate_latest(Metrics(LiveSessions(), SQLiteStore(":memory:"), a)
                                        .registry).decode())
    finally:
        await a.aclose()
        await b.aclose()
    assert value(samples, "chatcamp_login_lockouts_total", scope="user_address") == 1
    assert not [name for name, _ in samples if name.startswith("chatcamp_login_lockouts_active")]
