"""Connections that never finish a request are closed, and one address cannot hold more than
its share of connections (``chatcamp_server/web/connections.py``).

The head and keep-alive timers are tested in-process with short ``Limits`` on a small app
(``serve.py`` has no option for them); the body timeout and the per-address cap on a real
``serve.py``."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from typing import AsyncIterator, Iterator, NamedTuple

import aiohttp
import pytest
from aiohttp import web
from server_process import ServerProcess
from ws_client import assert_healthy, id_query, login

from chatcamp_server.settings import DEFAULT_LIMITS, Limits
from chatcamp_server.web import connections

CLOSE_MARGIN = 3.0
"""Seconds a close may come after its deadline on a busy test machine."""
SHORT = dataclasses.replace(DEFAULT_LIMITS, request_head_timeout=0.5, keepalive_timeout=4.0,
                            connections_per_address=4)
"""The keep-alive timeout is longer than the head timeout plus the margin, so that a close
within the head timeout cannot be aiohttp's own keep-alive timer."""
CAP = 8
OVER_CAP = 24


def request_for(server: ServerProcess, connection: str = "close") -> bytes:
    """A complete GET of the OpenAPI document, with the Host the server answers for."""
    return (f"GET /api/2.0/openapi.json HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Connection: {connection}\r\n\r\n").encode()


class Local(NamedTuple):
    port: int
    runner: web.AppRunner


@contextlib.asynccontextmanager
async def serving(limits: Limits) -> AsyncIterator[Local]:
    """A one-route app behind ``connections.runner`` with ``limits``, on loopback."""
    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", ok)
    runner = connections.runner(app, limits)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield Local(runner.addresses[0][1], runner)
    finally:
        await runner.cleanup()


@pytest.fixture
async def local(caplog: pytest.LogCaptureFixture) -> AsyncIterator[Local]:
    """``serving(SHORT)``; the test fails if anything is logged at WARNING or above, or with a
    traceback."""
    async with serving(SHORT) as served:
        yield served
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert not noisy, [r.getMessage() for r in noisy]


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One ``serve.py`` with a cap of ``CAP`` connections per address."""
    proc = ServerProcess(tmp_path_factory.mktemp("capped"),
                         options=("--connections-per-address", str(CAP)))
    proc.start()
    yield proc
    proc.stop()
    assert "Traceback" not in proc.log()


async def read_to_close(reader: asyncio.StreamReader, timeout: float) -> bytes:
    """Everything the server sends until it closes the socket; fails after ``timeout``."""
    data = b""
    async with asyncio.timeout(timeout):
        while chunk := await reader.read(65536):
            data += chunk
    return data


async def open_raw(port: int, local_host: str = "127.0.0.1"
                   ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(local_host, 0))


async def answer_once_a_slot_frees(port: int, request: bytes) -> bytes:
    """The reply to ``request`` once the server has seen a held connection close: it sees the
    close a moment later, so the first attempts may still meet the cap."""
    reply = b""
    for _ in range(50):
        reader, writer = await open_raw(port)
        writer.write(request)
        reply = await read_to_close(reader, CLOSE_MARGIN)
        writer.close()
        if not reply.startswith(b"HTTP/1.1 503 "):
            break
        await asyncio.sleep(0.05)
    return reply


async def test_silent_connection_is_closed_within_the_head_timeout(local: Local) -> None:
    """A socket that sends nothing is closed, without a reply, once the head timeout passes."""
    started = time.monotonic()
    reader, writer = await open_raw(local.port)
    assert await read_to_close(reader, SHORT.request_head_timeout + CLOSE_MARGIN) == b""
    assert time.monotonic() - started >= SHORT.request_head_timeout * 0.9
    writer.close()


async def test_a_late_first_head_keeps_the_deadline_of_connecting() -> None:
    """A first head that starts just before the deadline does not get a second one: the
    clock runs from connecting (only a keep-alive head's starts at its first byte)."""
    limits = dataclasses.replace(SHORT, request_head_timeout=3.0, keepalive_timeout=30.0)
    async with serving(limits) as served:
        started = time.monotonic()
        reader, writer = await open_raw(served.port)
        await asyncio.sleep(2.5)  # the client's own pause before it starts its head
        writer.write(b"GET / HTTP/1.1\r\n")
        reply = await read_to_close(reader, 10.0)
        elapsed = time.monotonic() - started
        writer.close()
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert elapsed < 5.0, elapsed


async def test_half_a_head_gets_408_and_is_closed(local: Local) -> None:
    """A request head that stops halfway is answered 408 with Connection: close, then closed."""
    reader, writer = await open_raw(local.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    reply = await read_to_close(reader, SHORT.request_head_timeout + CLOSE_MARGIN)
    assert reply.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"\r\nConnection: close\r\n" in reply
    writer.close()


async def test_trickled_head_is_closed_even_while_bytes_keep_coming(local: Local) -> None:
    """A head sent a byte at a time never completes: the deadline holds, it is not reset.

    The server answers 408 and closes; a byte of ours that reaches it after its last read
    makes its kernel reset the connection, and a reset may discard the 408 before we read it.
    Either way the connection ended at the deadline, while bytes kept coming."""
    reader, writer = await open_raw(local.port)
    started = time.monotonic()
    closed = asyncio.create_task(read_to_close(reader, SHORT.request_head_timeout + CLOSE_MARGIN))
    for byte in b"GET / HTTP/1.1\r\nX-Slow: " + b"a" * 200:
        if closed.done():
            break
        writer.write(bytes([byte]))
        await asyncio.sleep(0.02)
    try:
        assert (await closed).startswith(b"HTTP/1.1 408 ")
    except ConnectionResetError:
        assert time.monotonic() - started >= SHORT.request_head_timeout
    assert time.monotonic() - started < SHORT.request_head_timeout + CLOSE_MARGIN
    writer.close()


async def test_keep_alive_connection_idles_until_keepalive_timeout_then_closes(
        local: Local) -> None:
    """After a response an idle keep-alive connection stays usable past the head timeout and
    is closed silently at the keep-alive timeout; a half head after a response gets 408."""
    reader, writer = await open_raw(local.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200 ") and await reader.readexactly(2) == b"ok"
    answered = time.monotonic()
    assert await read_to_close(reader, SHORT.keepalive_timeout + CLOSE_MARGIN) == b""
    assert time.monotonic() - answered >= SHORT.keepalive_timeout * 0.9
    writer.close()

    reader, writer = await open_raw(local.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200 ") and await reader.readexactly(2) == b"ok"
    writer.write(b"GET / HTTP/1.1\r\n")
    reply = await read_to_close(reader, SHORT.request_head_timeout + CLOSE_MARGIN)
    assert reply.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    writer.close()


async def test_in_process_cap_refuses_then_frees_a_slot_on_close(local: Local) -> None:
    """Over the cap a connection gets 503 at once; closing a held one frees its slot."""
    held = [await open_raw(local.port) for _ in range(SHORT.connections_per_address)]
    reader, writer = await open_raw(local.port)
    reply = await read_to_close(reader, CLOSE_MARGIN)
    assert reply.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    writer.close()
    held.pop()[1].close()
    reply = await answer_once_a_slot_frees(
        local.port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200 ")
    for _, held_writer in held:
        held_writer.close()


async def test_slow_server_api_body_gets_408_json(capped: ServerProcess) -> None:
    """A server-API body not complete within the body timeout gets a 408 REQUEST_TIMEOUT JSON."""
    reader, writer = await open_raw(capped.port)
    body = json.dumps({"id": "slow-body-user"}).encode()
    writer.write(b"POST /api/2.0/users.create HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                 b"Content-Type: application/json\r\nx-api-key: %s\r\n"
                 b"Content-Length: %d\r\n\r\n" % (capped.port, capped.api_key.encode(), len(body)))
    writer.write(body[:3])
    started = time.monotonic()
    async with asyncio.timeout(DEFAULT_LIMITS.request_body_timeout + CLOSE_MARGIN):
        head = await reader.readuntil(b"\r\n\r\n")
    assert time.monotonic() - started >= DEFAULT_LIMITS.request_body_timeout * 0.9
    assert head.startswith(b"HTTP/1.1 408 "), head
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    error = json.loads(await reader.readexactly(length))
    assert error["ok"] is False and error["error"]["code"] == "REQUEST_TIMEOUT"
    writer.close()


async def test_over_the_cap_gets_503_while_another_address_logs_in_fast(
        capped: ServerProcess) -> None:
    """With one address at its cap (sessions and silent sockets), its further connections get a
    short 503 and are closed, a login from another address succeeds at once, the held sessions
    still work, a closed session frees its slot, and the log has one line at most."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        sessions = [(await login(http, capped, id_query(capped, f"cap-held-{n}")))[1]
                    for n in range(CAP // 2)]
        silent = [await open_raw(capped.port) for _ in range(CAP - len(sessions))]
        other = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
        async with aiohttp.ClientSession(connector=other) as elsewhere:
            # Answered after the server has accepted (and counted) every socket opened before.
            async with elsewhere.get(f"{capped.base_url}/api/2.0/openapi.json") as answer:
                assert answer.status == 200

            async def refused(n: int) -> bytes:
                reader, writer = await open_raw(capped.port)
                if n % 2:
                    writer.write(request_for(capped))
                try:
                    return await read_to_close(reader, CLOSE_MARGIN)
                finally:
                    writer.close()

            replies = await asyncio.gather(*(refused(n) for n in range(OVER_CAP)))
            for reply in replies:
                head, _, text = reply.partition(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), reply
                assert b"\r\nRetry-After: 10\r\n" in head and b"\r\nConnection: close\r\n" in head
                assert text.count(b"\n") == 1 and len(text) < 100

            extra_silent = [await open_raw(capped.port) for _ in range(OVER_CAP)]
            started = time.monotonic()
            ack, ws = await login(elsewhere, capped, id_query(capped, "cap-elsewhere"))
            assert ack["d"]["ok"] is True
            assert time.monotonic() - started < 2.0
            await ws.close()
            for _, writer in extra_silent:
                writer.close()

        for n, ws in enumerate(sessions):
            await assert_healthy(ws, 900 + n)
        await sessions.pop().close()
        reply = await answer_once_a_slot_frees(capped.port, request_for(capped))
        assert reply.startswith(b"HTTP/1.1 200 ")
        for ws in sessions:
            await ws.close()
        for _, writer in silent:
            writer.close()
    log = capped.log()
    assert "Traceback" not in log
    assert sum("over the cap" in line for line in log.splitlines()) <= 1
    assert not any(" WARNING " in line or " ERROR " in line for line in log.splitlines())


async def test_cap_zero_means_no_cap(tmp_path_factory: pytest.TempPathFactory) -> None:
    """With --connections-per-address 0, one address holds more than the default 256 at once."""
    server = ServerProcess(tmp_path_factory.mktemp("uncapped"),
                           options=("--connections-per-address", "0"))
    server.start()
    held: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    try:
        for _ in range(DEFAULT_LIMITS.connections_per_address + 20):
            held.append(await open_raw(server.port))
            held[-1][1].write(request_for(server, "keep-alive"))
        for reader, _ in held:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert head.startswith(b"HTTP/1.1 200 "), head
    finally:
        for _, writer in held:
            writer.close()
        server.stop()
    assert "Traceback" not in server.log()
