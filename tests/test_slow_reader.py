"""In-process server on a real socket: a client that stops reading is dropped when its outbox
fills, without holding up the channel or costing its session."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import socket
from pathlib import Path
from typing import AsyncIterator

import aiohttp
from aiohttp.test_utils import TestServer
from server_process import free_port

from chatcamp_server.app import Server, open_server
from chatcamp_server.deployment import Deployment
from chatcamp_server.policies import PublicOrigins
from chatcamp_server.settings import Limits

LIMITS = Limits(outbox_max_bytes=64 * 1024, messages_per_second=10_000, message_burst=10_000,
                frames_per_second=10_000, frame_burst=10_000)
TEXT = "x" * 4000
MESSAGES = 1500
"""About 6 MB in all: more than loopback's socket buffers hold for a reader that stopped."""


def stalled_client(port: int, query: str) -> socket.socket:
    """A WebSocket upgrade with a tiny receive buffer, after which nothing is ever read."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /chat/2.0?{query} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    return sock


@contextlib.asynccontextmanager
async def serving(tmp_path: Path) -> AsyncIterator[tuple[Server, int, str, str]]:
    """An in-process server on a free port under LIMITS: it, the port, the first app's ID
    and its API key."""
    port = free_port()
    server, created = await open_server(
        Deployment(str(tmp_path / "chat.sqlite3"), secrets.token_bytes(32)),
        PublicOrigins.default("127.0.0.1", port), LIMITS)
    assert created is not None
    site = TestServer(server.web_app, host="127.0.0.1", port=port)
    await site.start_server()
    try:
        yield server, port, *created
    finally:
        await site.close()
        await server.close()


def send_masked(sock: socket.socket, request: dict[str, object]) -> None:
    """One client frame (masked, as RFC 6455 wants from a client), under 64 KiB."""
    frame = json.dumps(request).encode()
    mask = os.urandom(4)
    header = (bytes([0x81, 0x80 | len(frame)]) if len(frame) < 126
              else bytes([0x81, 0x80 | 126]) + len(frame).to_bytes(2, "big"))
    sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(frame)))


async def test_a_client_that_asks_and_never_reads_is_dropped(tmp_path: Path) -> None:
    """A client asking for page after page of history and reading none of it is dropped
    once its answers pass the bound, and counted, as a reader too slow for pushes is."""
    async with serving(tmp_path) as (server, port, app_id, api_key):
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            async with http.post(base + "/api/2.0/open_channels.create",
                                 json={"id": "long"}, headers={"x-api-key": api_key}) as made:
                assert made.status == 200
            for _ in range(100):
                async with http.post(base + "/api/2.0/open_channels.announce",
                                     json={"id": "long", "text": TEXT},
                                     headers={"x-api-key": api_key}) as said:
                    assert said.status == 200
            stalled = stalled_client(port, f"app_id={app_id}&user_id=asker")
            while not server.live.is_online(app_id, "asker"):
                await asyncio.sleep(0.01)
            send_masked(stalled, {"t": "open_channels.join", "d": {"id": "long"}, "r": 1})
            for rid in range(2, 40):
                send_masked(stalled, {"t": "open_channels.history",
                                      "d": {"id": "long", "limit": 100}, "r": rid})
            async with asyncio.timeout(10):
                while server.live.is_online(app_id, "asker"):
                    await asyncio.sleep(0.01)
            assert server.metrics.registry.get_sample_value(
                "chatcamp_slow_clients_dropped_total") == 1
            stalled.close()


async def test_a_reader_that_stops_is_dropped_and_the_others_get_everything(
        tmp_path: Path) -> None:
    """With a participant that never reads, every message still reaches a reading
    participant; the stalled socket is dropped once its outbox passes the bound, and
    counted; the server's memory for it is released (its live session is gone)."""
    async with serving(tmp_path) as (server, port, app_id, api_key):
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            async with http.post(base + "/api/2.0/open_channels.create",
                                 json={"id": "busy"}, headers={"x-api-key": api_key}) as made:
                assert made.status == 200

            async def member(user: str) -> aiohttp.ClientWebSocketResponse:
                ws = await http.ws_connect(f"{base}/chat/2.0?app_id={app_id}&user_id={user}")
                assert json.loads((await ws.receive(timeout=5)).data)["d"]["ok"] is True
                await ws.send_str(json.dumps({"t": "open_channels.join", "d": {"id": "busy"},
                                              "r": 1}))
                assert json.loads((await ws.receive(timeout=5)).data)["d"]["ok"] is True
                return ws

            writer, reader = await member("writer"), await member("reader")
            stalled = stalled_client(port, f"app_id={app_id}&user_id=stalled")
            while not server.live.is_online(app_id, "stalled"):
                await asyncio.sleep(0.01)
            send_masked(stalled, {"t": "open_channels.join", "d": {"id": "busy"}, "r": 1})
            while "stalled" not in await server.store.participant_ids(app_id, "busy"):
                await asyncio.sleep(0.01)

            async def read_all() -> int:
                got = 0
                while got < MESSAGES:
                    pushed = json.loads((await reader.receive(timeout=10)).data)
                    got += pushed["t"] == "open_channels.message.pub"
                return got

            reading = asyncio.create_task(read_all())
            for rid in range(2, MESSAGES + 2):
                await writer.send_str(json.dumps({"t": "open_channels.message", "d": {
                    "id": "busy", "text": TEXT}, "r": rid}))
                assert json.loads((await writer.receive(timeout=10)).data)["d"]["ok"] is True
            assert await reading == MESSAGES
            async with asyncio.timeout(10):
                while server.live.is_online(app_id, "stalled"):
                    await asyncio.sleep(0.01)
            assert server.metrics.registry.get_sample_value(
                "chatcamp_slow_clients_dropped_total") == 1
            stalled.close()
            await writer.close()
            await reader.close()
