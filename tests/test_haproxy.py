"""``serve.py`` behind a private HAProxy running ``deploy/haproxy.cfg``: WebSocket logins pass
through, the node sees the client HAProxy saw, and a dead node is taken out by the health
checks while its connections are retried on the live one."""

from __future__ import annotations

import json
import uuid
from typing import Any, AsyncIterator, Iterator, NamedTuple
from urllib.parse import quote

import aiohttp
import pytest
from haproxy_service import HAProxyService
from server_process import ServerProcess, free_port

CLIENT_ADDRESS = "127.0.0.2"
"""The tests' own address: not HAProxy's (127.0.0.1, the trusted one), so the two differ."""
SPOOFED = "198.51.100.77"


class Cluster(NamedTuple):
    proxy: HAProxyService
    node: ServerProcess


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """HAProxy before one live node and one address where nothing listens."""
    port = free_port()
    node = ServerProcess(tmp_path_factory.mktemp("node"), options=(
        "--trusted-proxy", "127.0.0.1", "--public-origin", f"http://127.0.0.1:{port}"))
    node.start()
    service = HAProxyService(tmp_path_factory.mktemp("haproxy"),
                             [("127.0.0.1", node.port), ("127.0.0.1", free_port())], port)
    try:
        service.start()
        yield Cluster(service, node)
    finally:
        service.stop()
        node.stop()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session connecting from ``CLIENT_ADDRESS``."""
    connector = aiohttp.TCPConnector(local_addr=(CLIENT_ADDRESS, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def api(client: aiohttp.ClientSession, cluster: Cluster, method: str,
              body: dict[str, Any]) -> dict[str, Any]:
    proxy, node = cluster
    async with client.post(f"{proxy.base_url}/api/2.0/{method}", json=body,
                           headers={"x-api-key": node.api_key,
                                    "X-Forwarded-For": SPOOFED}) as reply:
        answer: dict[str, Any] = await reply.json()
        assert reply.status == 200, answer
        return answer


async def token_login(client: aiohttp.ClientSession, cluster: Cluster
                      ) -> tuple[str, str, aiohttp.ClientWebSocketResponse]:
    """A new user's token login through HAProxy, as the SDK makes it, with a spoofed
    X-Forwarded-For; returns the user, the token and the open socket."""
    proxy, node = cluster
    user_id = f"u-{uuid.uuid4().hex[:12]}"
    token = (await api(client, cluster, "users.create", {"id": user_id}))["access_token"]
    query = f"app_id={node.app_id}&user_id={quote(user_id)}&access_token={quote(token)}"
    ws = await client.ws_connect(f"{proxy.ws_url}?{query}", origin=proxy.origin,
                                 headers={"X-Forwarded-For": SPOOFED})
    ack = json.loads((await ws.receive(timeout=5)).data)
    assert ack["t"] == "users.auth.ack" and ack["d"]["ok"] is True, ack
    return user_id, token, ws


async def test_websocket_login_through_haproxy_sees_the_real_client(
        client: aiohttp.ClientSession, cluster: Cluster) -> None:
    """The node records the address HAProxy saw, not the X-Forwarded-For the client wrote."""
    user_id, _, ws = await token_login(client, cluster)
    await ws.send_str(json.dumps({"t": "users.update", "d": {"display_name": "via haproxy"},
                                  "r": 7}))
    reply = json.loads((await ws.receive(timeout=5)).data)
    assert reply["to"] == 7 and reply["d"]["ok"] is True, reply
    sessions = (await api(client, cluster, "users.sessions.list", {"id": user_id}))["sessions"]
    assert [s["remote_address"] for s in sessions] == [CLIENT_ADDRESS]
    await ws.close()


async def test_a_dead_node_is_marked_down_and_logins_go_on(
        client: aiohttp.ClientSession, cluster: Cluster) -> None:
    """Health checks take out the node nobody answers on; every login lands on the live one."""
    cluster.proxy.wait_for("node2", "DOWN")
    cluster.proxy.wait_for("node1", "UP")
    for _ in range(6):
        _, _, ws = await token_login(client, cluster)
        await ws.close()


async def test_haproxy_logs_no_query_string(client: aiohttp.ClientSession,
                                            cluster: Cluster) -> None:
    """HAProxy's own log keeps the path only: a login's token never reaches it."""
    _, token, ws = await token_login(client, cluster)
    await ws.close()
    proxy, node = cluster
    assert "/chat/2.0" in proxy.log()
    assert token not in proxy.log() and node.api_key not in proxy.log()


async def test_a_node_that_stops_is_taken_out_and_put_back(
        client: aiohttp.ClientSession, cluster: Cluster) -> None:
    """Checks a second apart mark a stopped node down, and up again once it answers /readyz."""
    proxy, node = cluster
    node.stop()
    proxy.wait_for("node1", "DOWN", timeout=5)
    async with client.get(f"{proxy.base_url}/healthz") as reply:
        assert reply.status == 503
    node.start()
    proxy.wait_for("node1", "UP", timeout=5)
    _, _, ws = await token_login(client, cluster)
    await ws.close()
