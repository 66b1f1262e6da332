"""A private Redis for the tests: Debian's ``redis-server``, never one the machine happens to run.

It listens on a free loopback port, works in a temporary directory and keeps nothing on disk
(``--save ''``, no append-only file), so a restart brings it back empty, as a Redis without
persistence comes back in production.  Tests share it and stay apart by key prefix: pub/sub
channels are not per database, so a database number alone would not separate the bus tests.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from server_process import free_port

REDIS_SERVER = "/usr/bin/redis-server"
START_TIMEOUT = 10.0


class RedisServer:
    """One ``redis-server``: ``start()`` and ``stop()`` on the same port, for outage tests."""

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="chatcamp-redis-"))
        self.port = free_port()
        self._prefixes = itertools.count(1)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def prefix(self) -> str:
        """A key prefix (and bus channel) no other test of this session uses."""
        return f"test{next(self._prefixes)}:"

    def start(self) -> None:
        """Start, and return once it answers PING."""
        log = open(self.workdir / "redis.log", "ab")
        self._process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
             str(self.workdir), "--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._answers_ping():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("redis-server did not start:\n" + self._log_tail())
            time.sleep(0.01)

    def stop(self) -> None:
        """Kill it, as a crash would: its clients see their connections end, its data goes."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None

    def remove(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _answers_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def _log_tail(self) -> str:
        return (self.workdir / "redis.log").read_text(errors="replace")[-3000:]


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One private Redis per test session, killed and deleted at its end."""
    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()
        server.remove()


async def eventually(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``condition`` (a function, or one returning an awaitable) until it gives something
    truthy, and return that; fail with its last value once ``timeout`` has passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value or time.monotonic() > deadline:
            assert value, f"condition not met within {timeout} s (last value: {value!r})"
            return value
        await asyncio.sleep(0.02)
