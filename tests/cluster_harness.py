"""A two-node cluster for the tests: a fresh PostgreSQL database, a Redis database, one shared
secret file, two ``serve.py`` nodes and a private HAProxy before them.

Every service is the tests' own (``postgres_server``, ``redis_server``, ``HAProxyService``);
nothing the machine happens to run is touched.  Each node answers for HAProxy's origin and for
its own, so a test reaches the cluster through HAProxy or one node directly.  HAProxy connects
from 127.0.0.1, the nodes' one trusted proxy; the tests' clients connect from other loopback
addresses (``CLIENT_ADDRESS`` unless told), so the nodes see them as HAProxy saw them.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import quote

import aiohttp
from haproxy_service import HAProxyService
from postgres_service import PostgresServer
from redis_service import RedisServer
from server_process import ServerProcess, free_port
from ws_client import receive_frame

CLIENT_ADDRESS = "127.0.0.2"
"""Where the tests' clients connect from: not 127.0.0.1, HAProxy's (trusted) address."""
HAPROXY_BACKEND = "chatcamp_nodes"
LOAD_OPTIONS = ("--connections-per-address", "0", "--new-users-per-address", "0")
"""For the cases with a thousand clients from one loopback address."""


@dataclass
class Endpoint:
    """Where a client connects: HAProxy or one node, for the cluster's app."""

    base_url: str
    app_id: str
    origin: str

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1) + "/chat/2.0"


@dataclass
class Cluster:
    """Two nodes on one database, one Redis and one secret, behind HAProxy."""

    workdir: Path
    database: str
    redis_url: str
    secret_file: Path
    options: tuple[str, ...] = ()
    drain_seconds: float = 4.0
    nodes: list[ServerProcess] = field(default_factory=list)
    proxy: HAProxyService | None = None
    app_id: str = ""
    api_key: str = ""

    def __post_init__(self) -> None:
        haproxy_port = free_port()
        for name in ("a", "b"):
            node = ServerProcess(self.workdir / name, database=self.database,
                                 secret_file=self.secret_file)
            node.workdir.mkdir(parents=True, exist_ok=True)
            node.options = (
                "--redis", self.redis_url, "--trusted-proxy", "127.0.0.1",
                "--public-origin", f"http://127.0.0.1:{haproxy_port}",
                "--public-origin", node.base_url,
                "--drain-seconds", str(self.drain_seconds), *self.options)
            self.nodes.append(node)
        (self.workdir / "haproxy").mkdir(parents=True, exist_ok=True)
        self.proxy = HAProxyService(self.workdir / "haproxy",
                                    [("127.0.0.1", node.port) for node in self.nodes],
                                    haproxy_port)

    @property
    def a(self) -> ServerProcess:
        return self.nodes[0]

    @property
    def b(self) -> ServerProcess:
        return self.nodes[1]

    @property
    def haproxy(self) -> HAProxyService:
        assert self.proxy is not None
        return self.proxy

    def start(self, app: tuple[str, str] | None = None) -> None:
        """Start both nodes and HAProxy; use ``app`` (ID, API key), or make one with the CLI."""
        for node in self.nodes:
            node.start()
        if app is None:
            self.a.create_app()
            app = (self.a.app_id, self.a.api_key)
        self.app_id, self.api_key = app
        for node in self.nodes:
            node.app_id, node.api_key = app
        self.haproxy.start()
        self.wait_up()

    def stop(self) -> None:
        self.haproxy.stop()
        for node in self.nodes:
            node.stop()

    def name(self, node: ServerProcess) -> str:
        """HAProxy's name for ``node``: node1, node2."""
        return f"node{self.nodes.index(node) + 1}"

    def wait_up(self, timeout: float = 15.0) -> None:
        for node in self.nodes:
            self.haproxy.wait_for(self.name(node), "UP", timeout)

    def restore(self) -> None:
        """Both nodes running and UP in HAProxy, none held out of it: what a test that
        killed, drained or pinned leaves behind is put right for the next."""
        for node in self.nodes:
            if node.proc is None or node.proc.poll() is not None:
                node.proc = None
                node.start()
            self.haproxy.command(f"enable server {HAPROXY_BACKEND}/{self.name(node)}")
        self.wait_up()

    def pin(self, node: ServerProcess) -> None:
        """Send HAProxy's new connections to ``node`` only (the others in maintenance)."""
        for other in self.nodes:
            if other is not node:
                self.haproxy.command(f"disable server {HAPROXY_BACKEND}/{self.name(other)}")

    def unpin(self) -> None:
        for node in self.nodes:
            self.haproxy.command(f"enable server {HAPROXY_BACKEND}/{self.name(node)}")
        self.wait_up()

    def current_sessions(self) -> dict[str, int]:
        """HAProxy's count of the connections it holds open to each node (``scur``)."""
        rows = csv.DictReader(io.StringIO(self.haproxy.command("show stat").lstrip("# ")))
        return {row["svname"]: int(row["scur"]) for row in rows
                if row["pxname"] == HAPROXY_BACKEND
                and row["svname"] not in ("FRONTEND", "BACKEND")}

    def kill(self, node: ServerProcess) -> None:
        """``kill -9``: no drain, no goodbye, its sockets closed by the kernel."""
        assert node.proc is not None
        node.proc.send_signal(signal.SIGKILL)
        node.proc.wait(timeout=10)
        node.proc = None

    def endpoint(self, node: ServerProcess | None = None) -> Endpoint:
        """HAProxy's endpoint, or ``node``'s own."""
        if node is None:
            return Endpoint(self.haproxy.base_url, self.app_id, self.haproxy.origin)
        return Endpoint(node.base_url, self.app_id, node.base_url)

    def logs(self) -> str:
        """Every node's log and HAProxy's, for an assertion message."""
        return "\n".join(f"--- {self.name(node)}:\n{node.log()[-4000:]}"
                         for node in self.nodes) + f"\n--- haproxy:\n{self.haproxy.log()[-2000:]}"


def new_cluster(workdir: Path, postgres: PostgresServer, redis: RedisServer, redis_db: int,
                options: Sequence[str] = (), database: str | None = None,
                secret_file: Path | None = None) -> Cluster:
    """A cluster (not started) on a fresh database, or on ``database`` with its secret file."""
    workdir.mkdir(parents=True, exist_ok=True)
    if database is None:
        database = postgres.url(postgres.create_database())
    return Cluster(workdir, database, redis.url(redis_db), secret_file or workdir / "secret",
                   tuple(options))


def client_session(address: str = CLIENT_ADDRESS) -> aiohttp.ClientSession:
    """An HTTP client connecting from ``address``, with no cap on its connections."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0,
                                                                local_addr=(address, 0)))


async def call(http: aiohttp.ClientSession, where: Endpoint | ServerProcess, api_key: str,
               method: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], Any]:
    """One server-API call: (status, body, headers)."""
    async with http.post(f"{where.base_url}/api/2.0/{method}", json=body,
                         headers={"x-api-key": api_key}) as reply:
        return reply.status, await reply.json(), reply.headers


async def api(http: aiohttp.ClientSession, where: Endpoint | ServerProcess, api_key: str,
              method: str, body: dict[str, Any]) -> dict[str, Any]:
    """A server-API call that must succeed; its answer."""
    status, answer, _ = await call(http, where, api_key, method, body)
    assert status == 200 and answer["ok"] is True, (method, status, answer)
    return answer


def token_query(app_id: str, user_id: str, token: str | None = None) -> str:
    return f"app_id={app_id}&user_id={quote(user_id, safe='')}" + (
        f"&access_token={quote(token, safe='')}" if token else "")


async def connect(http: aiohttp.ClientSession, where: Endpoint, query: str
                  ) -> tuple[dict[str, Any], aiohttp.ClientWebSocketResponse]:
    """Open the chat socket with ``query``; the auth ack's ``d`` and the socket."""
    ws = await http.ws_connect(f"{where.ws_url}?{query}", origin=where.origin)
    ack = await receive_frame(ws, 10.0)
    assert ack["t"] == "users.auth.ack", ack
    return ack["d"], ws


async def logged_in(http: aiohttp.ClientSession, where: Endpoint, query: str
                    ) -> tuple[dict[str, Any], aiohttp.ClientWebSocketResponse]:
    ack, ws = await connect(http, where, query)
    assert ack["ok"] is True, ack
    return ack, ws


async def refused(http: aiohttp.ClientSession, where: Endpoint, query: str) -> dict[str, Any]:
    """The error of a login that must fail, after checking the server closes the socket."""
    ack, ws = await connect(http, where, query)
    assert ack["ok"] is False, ack
    closing = await ws.receive(timeout=5)
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), closing
    await ws.close()
    error: dict[str, Any] = ack["error"]
    return error


async def ended(ws: aiohttp.ClientWebSocketResponse, timeout: float) -> dict[str, Any]:
    """The failure ack a live session gets when the server ends it (after its
    ``session.ended`` notice, see ``ws_client.receive_frame``), and the close after it, all
    within ``timeout`` seconds; other frames before the ack (none expected) fail the test."""
    deadline = time.monotonic() + timeout
    frame = await receive_frame(ws, max(0.0, deadline - time.monotonic()))
    assert frame["t"] == "users.auth.ack" and frame["d"]["ok"] is False, frame
    assert "notice" in frame, frame
    closing = await ws.receive(timeout=max(0.0, deadline - time.monotonic()))
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), closing
    error: dict[str, Any] = frame["d"]["error"]
    return error


async def still_open(ws: aiohttp.ClientWebSocketResponse, rid: int = 901) -> None:
    """The session answers a request."""
    await ws.send_str(json.dumps({"t": "users.update", "d": {"display_name": "here"},
                                  "r": rid}))
    reply = json.loads((await ws.receive(timeout=5)).data)
    assert reply["to"] == rid and reply["d"]["ok"] is True, reply


class SdkClient:
    """Reconnects as the SDK does (spec §2.6) through ``where``: its session key first; on
    "Session Key Invalid" its user ID and token; 1, 2, 4 … s between attempts (at most
    ``max_delay``), back to 1 s after any frame.  Records each login, each loss of a live
    session (and when), and each refusal that would stop the SDK."""

    def __init__(self, http: aiohttp.ClientSession, where: Endpoint, user_id: str,
                 token: str | None = None, max_delay: float = 4.0) -> None:
        self.http = http
        self.where = where
        self.user_id = user_id
        self.query = token_query(where.app_id, user_id, token)
        self.session_key: str | None = None
        self.connected = asyncio.Event()
        self.logins = 0
        self.resumes = 0
        self.drops: list[float] = []
        """When each live session of this client ended (``time.monotonic()``)."""
        self.refusals: list[dict[str, Any]] = []
        self.max_delay = max_delay

    async def run(self) -> None:
        delay = 1.0
        while True:
            resuming = self.session_key is not None
            query = f"session_key={quote(self.session_key or '')}" if resuming else self.query
            try:
                async with self.http.ws_connect(f"{self.where.ws_url}?{query}",
                                                origin=self.where.origin) as ws:
                    frame = json.loads((await ws.receive()).data)
                    if frame["t"] == "session.ended":  # the notice before a failure ack
                        frame = json.loads((await ws.receive()).data)
                    ack = frame["d"]
                    delay = 1.0
                    if ack["ok"]:
                        self.session_key = ack["session_key"]
                        self.logins += 1
                        self.resumes += resuming
                        self.connected.set()
                        try:
                            async for _ in ws:
                                pass
                        finally:
                            self.drops.append(time.monotonic())
                            self.connected.clear()
                    elif ack["error"]["message"] == "Session Key Invalid":
                        self.session_key = None
                    else:
                        self.refusals.append(ack["error"])
                        return
            except (aiohttp.ClientError, OSError, json.JSONDecodeError, TypeError, KeyError):
                pass
            self.connected.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_delay)


class Crowd:
    """Many ``SdkClient``s run as tasks, cancelled on leaving the ``async with``."""

    def __init__(self, clients: list[SdkClient]) -> None:
        self.clients = clients
        self.tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> "Crowd":
        self.tasks = [asyncio.create_task(client.run()) for client in self.clients]
        return self

    async def __aexit__(self, *_: object) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def all_connected(self, timeout: float) -> None:
        await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in self.clients)),
                               timeout)

    def refusals(self) -> list[dict[str, Any]]:
        return [error for client in self.clients for error in client.refusals]
