"""A bare WebSocket client for the real-server tests: log in, send a frame, read the reply."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any, AsyncIterator
from urllib.parse import quote

import aiohttp
import pytest
from server_process import ServerProcess


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session for the test (import this fixture into the test module)."""
    async with aiohttp.ClientSession() as session:
        yield session


NOTICE = "session.ended"
"""The frame the server sends before every failure users.auth.ack but "Session Key Invalid"."""


async def receive_frame(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5.0
                        ) -> dict[str, Any]:
    """The next frame from the server.  A failure ``users.auth.ack`` must come right after a
    ``session.ended`` notice with its message (none for "Session Key Invalid"): both are
    checked here, and the ack is returned with the notice's ``d`` under ``"notice"``."""
    message = await ws.receive(timeout=timeout)
    assert message.type == aiohttp.WSMsgType.TEXT, message
    frame: dict[str, Any] = json.loads(message.data)
    if frame.get("t") == NOTICE:
        notice = frame["d"]
        message = await ws.receive(timeout=timeout)
        assert message.type == aiohttp.WSMsgType.TEXT, message
        frame = json.loads(message.data)
        assert frame["t"] == "users.auth.ack" and frame["d"]["ok"] is False, frame
        error = frame["d"]["error"]
        assert notice["ok"] is True and notice["message"] == error["message"], (notice, error)
        assert error["message"] != "Session Key Invalid", notice
        frame["notice"] = notice
    elif frame.get("t") == "users.auth.ack" and frame["d"]["ok"] is False:
        assert frame["d"]["error"]["message"] == "Session Key Invalid", \
            f"a failure ack without its session.ended notice: {frame}"
    return frame


async def login(http: aiohttp.ClientSession, server: ServerProcess, query: str
                ) -> tuple[dict[str, Any], aiohttp.ClientWebSocketResponse]:
    """The first ``users.auth.ack`` of a connect (see ``receive_frame``) and the socket."""
    ws = await http.ws_connect(f"{server.ws_url}?{query}")
    return await receive_frame(ws), ws


async def ended_by_server(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5.0
                          ) -> dict[str, Any]:
    """The failure ack (with its ``"notice"``) that ends a live session, and the close after
    it."""
    ack = await receive_frame(ws, timeout)
    assert ack["t"] == "users.auth.ack" and ack["d"]["ok"] is False, ack
    assert "notice" in ack, ack
    closing = await ws.receive(timeout=timeout)
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED), closing
    return ack


async def refusal(http: aiohttp.ClientSession, server: ServerProcess, query: str) -> dict[str, Any]:
    """The failure ack for ``query``, after checking the server then closes the socket."""
    ack, ws = await login(http, server, query)
    assert ack["t"] == "users.auth.ack" and ack["d"]["ok"] is False, ack
    closing = await ws.receive(timeout=5)
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    await ws.close()
    return ack["d"]["error"]


def id_query(server: ServerProcess, user_id: str) -> str:
    return f"app_id={server.app_id}&user_id={quote(user_id, safe='')}"


async def request(ws: aiohttp.ClientWebSocketResponse, frame: Any) -> dict[str, Any]:
    await ws.send_str(frame if isinstance(frame, str) else json.dumps(frame))
    reply = await ws.receive(timeout=5)
    assert reply.type == aiohttp.WSMsgType.TEXT, reply
    return json.loads(reply.data)


RIDS = itertools.count(1)


async def call(ws: aiohttp.ClientWebSocketResponse, type_: str, data: dict[str, Any]
               ) -> dict[str, Any]:
    """The ack to one request (pushes arriving before it are skipped)."""
    rid = next(RIDS)
    await ws.send_str(json.dumps({"t": type_, "d": data, "r": rid}))
    while True:
        frame = json.loads((await ws.receive(timeout=5)).data)
        if frame.get("to") == rid:
            assert frame["t"] == type_ + ".ack", frame
            return frame["d"]


async def push(ws: aiohttp.ClientWebSocketResponse, type_: str) -> dict[str, Any]:
    """The next push of ``type_`` (other frames skipped)."""
    while True:
        frame = json.loads((await ws.receive(timeout=5)).data)
        if frame["t"] == type_:
            assert frame["d"]["ok"] is True
            return frame["d"]


async def assert_healthy(ws: aiohttp.ClientWebSocketResponse, rid: int = 900) -> None:
    """The session still answers requests."""
    reply = await request(ws, {"t": "users.update", "d": {"display_name": "still here"}, "r": rid})
    assert reply["to"] == rid and reply["d"]["ok"] is True


class ReconnectingClient:
    """Reconnects the way the SDK does (spec §2.6): with its session key first; on "Session Key
    Invalid" with its user ID and token; waiting 1, 2, 4 … s (at most ``max_delay``, 120 s in
    the SDK; no jitter) between attempts, back to 1 s after any frame from the server."""

    def __init__(self, http: aiohttp.ClientSession, server: ServerProcess, user_id: str,
                 token: str | None, max_delay: float = 120.0) -> None:
        self.http = http
        self.server = server
        self.query = f"app_id={server.app_id}&user_id={quote(user_id)}" + (
            f"&access_token={quote(token)}" if token else "")
        self.session_key: str | None = None
        self.connected = asyncio.Event()
        self.logins = 0
        self.refusals: list[dict[str, Any]] = []
        self.max_delay = max_delay

    async def run(self) -> None:
        delay = 1.0
        while True:
            query = f"session_key={quote(self.session_key)}" if self.session_key else self.query
            try:
                async with self.http.ws_connect(f"{self.server.ws_url}?{query}") as ws:
                    frame = json.loads((await ws.receive()).data)
                    if frame["t"] == "session.ended":  # the notice before a failure ack
                        frame = json.loads((await ws.receive()).data)
                    ack = frame["d"]
                    delay = 1.0
                    if ack["ok"]:
                        self.session_key = ack["session_key"]
                        self.logins += 1
                        self.connected.set()
                        async for _ in ws:
                            pass
                    elif ack["error"]["message"] == "Session Key Invalid":
                        self.session_key = None
                    else:
                        self.refusals.append(ack["error"])
                        return
            except (aiohttp.ClientError, OSError, json.JSONDecodeError, TypeError):
                pass
            self.connected.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_delay)
