"""X-Forwarded-For on a real ``serve.py``: believed only from ``--trusted-proxy`` peers, for the
login limits, the connection cap, ``users.sessions.list`` and the access log alike."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any, AsyncIterator, Iterator
from urllib.parse import quote

import aiohttp
import pytest
from conftest import api_caller
from server_process import ServerProcess
from ws_client import receive_frame

TRUSTING_CAP = 4
PLAIN_CAP = 4
TRUSTING_FAILED_PER_ADDRESS = 5
PAIR_LIMIT = 10
"""Failures for one user from one address before that pair waits (not an option)."""


@pytest.fixture(scope="module")
def trusting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that believes 127.0.0.1, with small per-address limits."""
    proc = ServerProcess(tmp_path_factory.mktemp("trusting"), options=(
        "--trusted-proxy", "127.0.0.1", "--connections-per-address", str(TRUSTING_CAP),
        "--failed-logins-per-address", str(TRUSTING_FAILED_PER_ADDRESS)))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that trusts no proxy."""
    proc = ServerProcess(tmp_path_factory.mktemp("plain"),
                         options=("--connections-per-address", str(PLAIN_CAP)))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
async def from_127_0_0_2() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session whose connections come from 127.0.0.2, a peer nobody trusts."""
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


def new_user(server: ServerProcess) -> tuple[str, str]:
    """A fresh user with a token, made through the server API (from no forwarded address)."""
    user_id = f"u-{uuid.uuid4().hex[:12]}"
    status, body = api_caller(server)("users.create", {"id": user_id})
    assert status == 200, body
    return user_id, body["access_token"]


def token_query(server: ServerProcess, user_id: str, token: str) -> str:
    return f"app_id={server.app_id}&user_id={quote(user_id)}&access_token={quote(token)}"


async def connect(http: aiohttp.ClientSession, server: ServerProcess, query: str,
                  forwarded_for: str | None = None
                  ) -> tuple[dict[str, Any], aiohttp.ClientWebSocketResponse]:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    ws = await http.ws_connect(f"{server.ws_url}?{query}", headers=headers)
    return (await receive_frame(ws))["d"], ws


async def login_result(http: aiohttp.ClientSession, server: ServerProcess, query: str,
                       forwarded_for: str | None = None) -> str:
    """``ok`` or the refusal's code, with the socket closed again."""
    ack, ws = await connect(http, server, query, forwarded_for)
    await ws.close()
    return "ok" if ack["ok"] else ack["error"]["code"]


def remote_addresses(server: ServerProcess, user_id: str) -> list[str]:
    status, body = api_caller(server)("users.sessions.list", {"id": user_id})
    assert status == 200, body
    return [session["remote_address"] for session in body["sessions"]]


async def access_line(server: ServerProcess, needle: str, timeout: float = 5.0) -> str:
    """The access log line holding ``needle`` (a session's line comes when it ends)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in server.log().splitlines() if needle in line]
        if lines or time.monotonic() > deadline:
            assert lines, f"no access line with {needle!r}"
            return lines[-1]
        await asyncio.sleep(0.05)


async def test_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(
        http: aiohttp.ClientSession, plain: ServerProcess) -> None:
    """Without --trusted-proxy the session, and its access line, show the real peer."""
    user_id, token = new_user(plain)
    ack, ws = await connect(http, plain, token_query(plain, user_id, token), "198.51.100.9")
    assert ack["ok"], ack
    assert remote_addresses(plain, user_id) == ["127.0.0.1"]
    await ws.close()
    line = await access_line(plain, f"user_id={user_id}")
    assert line.split(" INFO aiohttp.access: ")[1].startswith("127.0.0.1 ")
    assert "198.51.100.9" not in plain.log()


async def test_untrusted_peer_failures_count_against_its_real_address(
        http: aiohttp.ClientSession, plain: ServerProcess) -> None:
    """A new spoofed address for every wrong token does not escape the user-and-address limit."""
    user_id, token = new_user(plain)
    for attempt in range(PAIR_LIMIT):
        assert await login_result(http, plain, token_query(plain, user_id, "wrong" * 4),
                                  f"203.0.113.{attempt + 1}") == "NOT_AUTHORIZED"
    assert await login_result(http, plain, token_query(plain, user_id, token),
                              "203.0.113.200") == "RATE_LIMITED"


async def test_spoofed_addresses_do_not_lift_the_connection_cap(
        http: aiohttp.ClientSession, plain: ServerProcess) -> None:
    """Sessions claiming different forwarded addresses still count as their one real peer."""
    held: list[aiohttp.ClientWebSocketResponse] = []
    refused = []
    users = [new_user(plain) for _ in range(PLAIN_CAP + 1)]
    try:
        for n, (user_id, token) in enumerate(users):
            try:
                held.append((await connect(http, plain, token_query(plain, user_id, token),
                                           f"192.0.2.{n + 1}"))[1])
            except aiohttp.WSServerHandshakeError as exc:
                refused.append(exc.status)
    finally:
        for ws in held:
            await ws.close()
    assert refused == [503]


async def test_forwarded_client_is_believed_from_a_trusted_proxy(
        http: aiohttp.ClientSession, trusting: ServerProcess) -> None:
    """From a trusted peer the right-most address that is not a trusted proxy is the client."""
    user_id, token = new_user(trusting)
    ack, ws = await connect(http, trusting, token_query(trusting, user_id, token),
                            "6.6.6.6, 198.51.100.20, 127.0.0.1")
    assert ack["ok"], ack
    assert remote_addresses(trusting, user_id) == ["198.51.100.20"]
    await ws.close()
    line = await access_line(trusting, f"user_id={user_id}")
    assert line.split(" INFO aiohttp.access: ")[1].startswith("198.51.100.20 ")


async def test_trust_depends_on_the_peer(from_127_0_0_2: aiohttp.ClientSession,
                                         trusting: ServerProcess) -> None:
    """The same header from a peer that is not a trusted proxy is ignored."""
    user_id, token = new_user(trusting)
    ack, ws = await connect(from_127_0_0_2, trusting, token_query(trusting, user_id, token),
                            "198.51.100.21")
    assert ack["ok"], ack
    assert remote_addresses(trusting, user_id) == ["127.0.0.2"]
    await ws.close()


async def test_malformed_forwarded_for_falls_back_to_the_proxy(
        http: aiohttp.ClientSession, trusting: ServerProcess) -> None:
    """A chain that cannot be read counts as the proxy's own request, without a traceback."""
    user_id, token = new_user(trusting)
    ack, ws = await connect(http, trusting, token_query(trusting, user_id, token),
                            "198.51.100.22, not-an-address")
    assert ack["ok"], ack
    assert remote_addresses(trusting, user_id) == ["127.0.0.1"]
    await ws.close()
    assert "Traceback" not in trusting.log()


async def test_one_forwarded_clients_lockout_spares_another(
        http: aiohttp.ClientSession, trusting: ServerProcess) -> None:
    """Failed logins are counted per forwarded client: the next client of the proxy gets in."""
    user_id, token = new_user(trusting)
    for _ in range(TRUSTING_FAILED_PER_ADDRESS):
        assert await login_result(http, trusting, token_query(trusting, user_id, "wrong" * 4),
                                  "6.6.6.6, 198.51.100.30") == "NOT_AUTHORIZED"
    assert await login_result(http, trusting, token_query(trusting, user_id, token),
                              "198.51.100.30") == "RATE_LIMITED"
    assert await login_result(http, trusting, token_query(trusting, user_id, token),
                              "198.51.100.31") == "ok"
    assert await login_result(http, trusting, token_query(trusting, user_id, token)) == "ok"


def test_wrong_api_keys_lock_out_only_their_forwarded_client(trusting: ServerProcess) -> None:
    """The per-address limit on wrong API keys waits one forwarded client, not the proxy."""
    call = api_caller(trusting)
    spoofer = {"X-Forwarded-For": "198.51.100.40"}
    for _ in range(TRUSTING_FAILED_PER_ADDRESS):
        status, body = call("apps.get", {}, api_key="wrong-key-" * 3, headers=spoofer)
        assert status == 401, body
    status, body = call("apps.get", {}, headers=spoofer)
    assert status == 429 and body["error"]["code"] == "RATE_LIMITED", body
    status, body = call("apps.get", {}, headers={"X-Forwarded-For": "198.51.100.41"})
    assert status == 200, body
    assert call("apps.get", {})[0] == 200


async def test_connection_cap_counts_forwarded_clients(
        http: aiohttp.ClientSession, trusting: ServerProcess) -> None:
    """Through a trusted proxy the cap applies to each forwarded client, not to the proxy."""
    held: list[aiohttp.ClientWebSocketResponse] = []
    users = [new_user(trusting) for _ in range(TRUSTING_CAP + 2)]
    queries = [token_query(trusting, user_id, token) for user_id, token in users]
    try:
        for query in queries[:TRUSTING_CAP]:
            ack, ws = await connect(http, trusting, query, "198.51.100.50")
            assert ack["ok"], ack
            held.append(ws)
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await connect(http, trusting, queries[TRUSTING_CAP], "198.51.100.50")
        assert refused.value.status == 503
        assert refused.value.headers is not None and refused.value.headers["Retry-After"]
        ack, ws = await connect(http, trusting, queries[TRUSTING_CAP + 1], "198.51.100.51")
        assert ack["ok"], ack
        held.append(ws)
        await held.pop(0).close()
        ack, ws = await connect(http, trusting, queries[TRUSTING_CAP], "198.51.100.50")
        assert ack["ok"], ack
        held.append(ws)
    finally:
        for ws in held:
            await ws.close()


async def test_a_forwarded_clients_place_is_freed_after_each_request(
        http: aiohttp.ClientSession, trusting: ServerProcess) -> None:
    """Requests one after another on one proxied connection never reach the client's cap."""
    statuses = []
    for _ in range(TRUSTING_CAP * 3):
        async with http.get(f"{trusting.base_url}/api/2.0/openapi.json",
                            headers={"X-Forwarded-For": "198.51.100.60"}) as reply:
            await reply.read()
            statuses.append(reply.status)
    assert statuses == [200] * (TRUSTING_CAP * 3)
