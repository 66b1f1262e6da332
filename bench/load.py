"""Shared pieces of the server benchmarks: servers to measure, CPU accounting, WebSocket dialers.

Every load generator here targets 127.0.0.1 only and stops by itself (a count or a deadline).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import aiohttp
import jwt

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "tests"))
sys.path.insert(0, str(BENCH.parent))

from postgres_service import PostgresServer  # noqa: E402
from redis_service import RedisServer  # noqa: E402
from server_process import ServerProcess, free_port  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tree_cpu_seconds(root: int) -> float:
    """CPU time of ``root`` and its living children: PostgreSQL's postmaster and the backends
    it forked, whose work a PostgreSQL-backed login costs on top of the node's own."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid, rest = stat.read_text().split(" (", 1)
        except OSError:
            continue
        fields = rest.rsplit(")", 1)[1].split()
        if int(pid) == root or int(fields[1]) == root:
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


@dataclass
class CpuPeak:
    """Samples a process's CPU every ``interval`` seconds in a thread (the event loop of a
    crowd of clients is too busy to keep time): its share of one core in each sample."""

    pid: int
    interval: float = 0.1
    samples: list[tuple[float, float]] = field(default_factory=list)
    """(the sample's end, ``time.monotonic()``; the share of a core over the sample)"""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> "CpuPeak":
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()

    def _run(self) -> None:
        cpu, wall = cpu_seconds(self.pid), time.monotonic()
        while not self._stop.wait(self.interval):
            now_cpu, now = cpu_seconds(self.pid), time.monotonic()
            self.samples.append((now, (now_cpu - cpu) / (now - wall)))
            cpu, wall = now_cpu, now

    @property
    def peak(self) -> float:
        return max((share for _, share in self.samples), default=0.0)

    def share_above(self, level: float) -> float:
        """The share of samples in which the process used more than ``level`` of a core."""
        return sum(share > level for _, share in self.samples) / max(1, len(self.samples))


@contextlib.contextmanager
def private_services(redis: bool = True) -> Iterator[tuple[PostgresServer, RedisServer | None]]:
    """A PostgreSQL (and a Redis) of this benchmark's own on loopback, stopped and removed
    after, as the tests run theirs: nothing the machine happens to run is touched."""
    postgres = PostgresServer()
    cache = RedisServer() if redis else None
    try:
        postgres.init()
        postgres.start()
        if cache is not None:
            cache.start()
        yield postgres, cache
    finally:
        if cache is not None:
            cache.stop()
            cache.remove()
        if postgres.running:
            postgres.stop()
        postgres.remove()


def postmaster_pid(postgres: PostgresServer) -> int:
    return int((postgres.data / "postmaster.pid").read_text().split()[0])


UNLIMITED = ("--connections-per-address", "0", "--new-users-per-address", "0",
             "--failed-logins-per-address", "0")
"""Every benchmark client dials from loopback, thousands at once, each a new user."""


def start_node(postgres: PostgresServer, redis: RedisServer | None = None,
               *options: str) -> ServerProcess:
    """``serve.py`` on a fresh database of ``postgres`` (with ``redis``: as a cluster node),
    its app made with the CLI, since a shared database gets no first app."""
    workdir = Path(tempfile.mkdtemp())
    shared = ("--redis", redis.url(0)) if redis is not None else ()
    server = ServerProcess(workdir, database=postgres.url(postgres.create_database()),
                           secret_file=workdir / "secret",
                           options=(*UNLIMITED, *shared, *options))
    server.start()
    server.create_app()
    return server


def pin(server_pids: list[int]) -> str:
    """Servers on the last CPU, this process (the dialler) on the others, so that every server
    is measured under the same conditions; a no-op on a single CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return "not pinned (one CPU)"
    for pid in server_pids:
        os.sched_setaffinity(pid, {cpus[-1]})
    os.sched_setaffinity(0, set(cpus[:-1]))
    return f"servers pinned to CPU {cpus[-1]}, dialler to {cpus[:-1]}"


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class BareServer:
    """The same stack (aiohttp, same access log) accepting a WebSocket and sending one frame:
    what a connect costs before any authentication."""

    def __init__(self) -> None:
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp())
        self.proc: subprocess.Popen[str] | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/chat/2.0"

    def start(self) -> None:
        log = open(self.workdir / "bare.log", "a")
        self.proc = subprocess.Popen([sys.executable, str(BENCH / "bare_ws_server.py"),
                                      str(self.port)], stdout=subprocess.PIPE, stderr=log,
                                     text=True)
        assert self.proc.stdout is not None
        if not self.proc.stdout.readline().startswith("ready"):
            raise RuntimeError("the bare server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@dataclass
class CheckoutServer(ServerProcess):
    """``serve.py`` of another checkout (``git worktree add DIR COMMIT``), started as it
    starts, so that a change is measured against its parent side by side in one run."""

    checkout: Path = BENCH.parent

    def command(self, *args: str) -> list[str]:
        return [sys.executable, str(self.checkout / "serve.py"), "--db", str(self.db), *args]

    def start(self, timeout: float = 20.0) -> None:
        super().start(timeout)
        for line in self.output:  # versions before the first-app file printed the key
            if match := re.match(r"\s+(APP_ID|API_KEY)\s+(\S+)", line):
                setattr(self, match.group(1).lower(), match.group(2))


def start_serve(*options: str) -> ServerProcess:
    """``serve.py`` with ``UNLIMITED``."""
    server = ServerProcess(Path(tempfile.mkdtemp()), options=(*UNLIMITED, *options))
    server.start()
    return server


def id_query(server: ServerProcess, user_id: str) -> str:
    return f"app_id={server.app_id}&user_id={quote(user_id)}"


async def auth_ack(ws: aiohttp.ClientWebSocketResponse, timeout: float) -> dict[str, Any]:
    """The ``users.auth.ack`` frame, past the ``session.ended`` notice a refusal comes after."""
    while True:
        message = await ws.receive(timeout=timeout)
        if message.type != aiohttp.WSMsgType.TEXT:
            raise RuntimeError(f"no users.auth.ack: {message.type!r}")
        frame: dict[str, Any] = json.loads(message.data)
        if frame.get("t") == "users.auth.ack":
            return frame


async def dial(http: aiohttp.ClientSession, url: str, origin: str | None = None) -> float:
    """Open, wait for the ``users.auth.ack``, close; seconds to the ack."""
    started = time.perf_counter()
    async with http.ws_connect(url, autoping=False, origin=origin) as ws:
        ack = await auth_ack(ws, 30)
        elapsed = time.perf_counter() - started
        if not ack["d"]["ok"]:
            raise RuntimeError(f"refused: {ack!r}"[:300])
    return elapsed


async def dial_many(urls: list[str], concurrency: int) -> list[float]:
    """Dial every URL, ``concurrency`` at a time; the open-to-ack times."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for url in urls:
        queue.put_nowait(url)
    times: list[float] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        async def worker() -> None:
            while not queue.empty():
                times.append(await dial(http, queue.get_nowait()))
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return times


def create_token_users(server: ServerProcess, count: int, prefix: str) -> dict[str, str]:
    """``count`` users made through the server API: user ID → token."""
    async def create() -> dict[str, str]:
        tokens: dict[str, str] = {}
        connector = aiohttp.TCPConnector(limit=50)
        async with aiohttp.ClientSession(connector=connector) as http:
            async def one(n: int) -> None:
                async with http.post(f"{server.base_url}/api/2.0/users.create",
                                     data=json.dumps({"id": f"{prefix}-{n}"}),
                                     headers={"x-api-key": server.api_key}) as reply:
                    tokens[f"{prefix}-{n}"] = (await reply.json())["access_token"]
            await asyncio.gather(*(one(n) for n in range(count)))
        return tokens
    return asyncio.run(create())


def signed_tokens(server: ServerProcess, count: int, prefix: str,
                  per_user: int = 1) -> dict[str, list[str]]:
    """A signing key made through the server API, and ``per_user`` distinct JWTs under it for
    each of ``count`` users (made by their first login): user ID → tokens, as an integrator's
    backend signs them."""
    async def key() -> dict[str, str]:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{server.base_url}/api/2.0/apps.signing_keys.create",
                                 data="{}", headers={"x-api-key": server.api_key}) as reply:
                made: dict[str, str] = await reply.json()
                return made
    made = asyncio.run(key())
    now = int(time.time())
    return {f"{prefix}-{n}": [jwt.encode({"sub": f"{prefix}-{n}", "iat": now, "exp": now + 86400,
                                         "jti": str(k)}, made["secret"], "HS256",
                                        headers={"kid": made["key_id"]})
                              for k in range(per_user)]
            for n in range(count)}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

