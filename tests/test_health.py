"""Health for a load balancer, and the drain that takes a node out of service without a
stampede: ``/healthz``, ``/readyz`` and SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import AsyncIterator

import aiohttp
import pytest
from server_process import ServerProcess
from ws_client import http, id_query, login  # noqa: F401

from chatcamp_server.storage.sqlite import SQLiteStore
from chatcamp_server.web.health import Health


async def test_readyz_answers_from_the_last_check_of_the_store(tmp_path: Path) -> None:
    """/readyz is 503 STORAGE_UNAVAILABLE with Retry-After once a check found the store unable
    to answer, 200 once a check found it answering, and 503 DRAINING for good once draining
    began; /healthz stays 200."""
    store = SQLiteStore(tmp_path / "health.sqlite3")
    health = Health(store)
    await health.check_store()
    closed = await health.readyz(None)  # type: ignore[arg-type]
    assert closed.status == 503 and closed.headers["Retry-After"] == "2"
    assert json.loads(closed.text or "")["error"]["code"] == "STORAGE_UNAVAILABLE"
    await store.open()
    try:
        assert (await health.readyz(None)).status == 503  # type: ignore[arg-type]
        await health.check_store()
        assert (await health.readyz(None)).status == 200  # type: ignore[arg-type]
        health.draining = True
        draining = await health.readyz(None)  # type: ignore[arg-type]
        assert draining.status == 503
        assert json.loads(draining.text or "")["error"]["code"] == "DRAINING"
        assert (await health.healthz(None)).status == 200  # type: ignore[arg-type]
    finally:
        await store.close()


@pytest.fixture
async def draining_server(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    proc = ServerProcess(tmp_path, options=("--drain-seconds", "2"))
    proc.start()
    yield proc
    proc.stop()


async def test_health_endpoints_answer_on_a_running_server(
        draining_server: ServerProcess, http: aiohttp.ClientSession) -> None:
    """A running server answers /healthz and /readyz with 200 {"ok": true}."""
    for path in ("/healthz", "/readyz"):
        async with http.get(draining_server.base_url + path) as response:
            assert response.status == 200 and await response.json() == {"ok": True}


async def test_sigterm_closes_sessions_spread_over_the_drain_window(
        draining_server: ServerProcess, http: aiohttp.ClientSession) -> None:
    """On SIGTERM the node stops accepting and closes its 40 sessions spread over the 2 s
    drain window, each without a failure ack (the SDK resumes elsewhere), then exits 0."""
    sockets = []
    for n in range(40):
        ack, ws = await login(http, draining_server, id_query(draining_server, f"drain-{n}"))
        assert ack["d"]["ok"] is True
        sockets.append(ws)

    async def closed_at(ws: aiohttp.ClientWebSocketResponse) -> float:
        message = await ws.receive(timeout=10)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), message
        return time.monotonic()

    assert draining_server.proc is not None
    sent = time.monotonic()
    draining_server.proc.send_signal(signal.SIGTERM)
    times = sorted(await asyncio.gather(*(closed_at(ws) for ws in sockets)))
    assert times[-1] - times[0] >= 1.0, "the closes were not spread"
    assert times[-1] - sent <= 4.0
    with pytest.raises(aiohttp.ClientConnectorError):
        await http.get(draining_server.base_url + "/healthz")
    assert await asyncio.to_thread(draining_server.proc.wait, 10) == 0
