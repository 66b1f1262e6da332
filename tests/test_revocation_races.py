"""In-process server on a real socket: a revocation that lands while a login is between its
credential check and its registration still ends that session.

The server runs in this process so a test can hold a resume at exactly that point: the
store's write that consumes the old session key comes after the token check and before the
live session is registered.  While it is held, the credential is revoked; once released, the
resumed session must be refused rather than live on the revoked credential.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from server_process import free_port
from ws_client import receive_frame

from chatcamp_server.app import Server, open_server
from chatcamp_server.deployment import Deployment
from chatcamp_server.policies import PublicOrigins
from chatcamp_server.storage.store import App


class World:
    def __init__(self, server: Server, app: App, site: TestServer,
                 http: aiohttp.ClientSession) -> None:
        self.server, self.app, self.site, self.http = server, app, site, http

    def url(self, query: str) -> str:
        return f"ws://127.0.0.1:{self.site.port}/chat/2.0?{query}"

    async def first_frame(self, query: str) -> tuple[dict[str, Any], aiohttp.ClientWebSocketResponse]:
        ws = await self.http.ws_connect(self.url(query))
        return (await receive_frame(ws))["d"], ws

    async def dropped_session_key(self, query: str) -> str:
        """Log in, then drop the connection the way a network does, keeping the session key."""
        ack, ws = await self.first_frame(query)
        assert ack["ok"] is True
        user_id = ack["user"]["id"]
        await ws.close(code=1001)
        await self.offline(user_id)
        return str(ack["session_key"])

    async def offline(self, user_id: str) -> None:
        """Wait (at most 2 s) until the user has no live session left."""
        for _ in range(200):
            if not self.server.live.for_user(self.app.id, user_id):
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{user_id} still has live sessions")

    async def resume_across(self, session_key: str,
                            revocation: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
        """Resume with ``session_key``, running ``revocation`` after the resume's credential
        check and before its session is registered; the first frame the resume gets."""
        store = self.server.store
        original = store.consume_session
        reached, release = asyncio.Event(), asyncio.Event()

        async def held(*args: Any) -> bool:
            reached.set()
            await release.wait()
            return await original(*args)

        store.consume_session = held  # type: ignore[method-assign]
        try:
            resume = asyncio.create_task(self.first_frame("session_key=" + quote(session_key)))
            await asyncio.wait_for(reached.wait(), 5)
            store.consume_session = original  # type: ignore[method-assign]
            await revocation()
            release.set()
            ack, ws = await asyncio.wait_for(resume, 5)
        finally:
            store.consume_session = original  # type: ignore[method-assign]
        await ws.close()
        return ack


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    port = free_port()
    deployment = Deployment(str(tmp_path / "chat.sqlite3"), secrets.token_bytes(32))
    server, created = await open_server(deployment, PublicOrigins.default("127.0.0.1", port))
    assert created is not None
    app = await server.store.get_app(created[0])
    assert app is not None
    site = TestServer(server.web_app, host="127.0.0.1", port=port)
    await site.start_server()
    async with aiohttp.ClientSession() as http:
        yield World(server, app, site, http)
    await site.close()
    await server.close()


async def test_token_revoked_during_a_resume_ends_it(world: World) -> None:
    """users.tokens.revoke between a resume's token check and its registration: refused."""
    made = await world.server.users.create(world.app, {"id": "race-revoked"})
    key = await world.dropped_session_key(
        f"app_id={world.app.id}&user_id=race-revoked&access_token={quote(made['access_token'])}")
    ack = await world.resume_across(key, lambda: world.server.users.revoke_tokens(
        world.app, {"id": "race-revoked"}))
    assert ack["ok"] is False and ack["error"]["message"] == "Access token revoked"
    await world.offline("race-revoked")


async def test_profile_token_replaced_during_a_resume_ends_it(world: World) -> None:
    """users.update with a new access_token in the same gap: refused, the old one is revoked."""
    made = await world.server.users.create(world.app, {"id": "race-rotated"})
    key = await world.dropped_session_key(
        f"app_id={world.app.id}&user_id=race-rotated&access_token={quote(made['access_token'])}")
    ack = await world.resume_across(key, lambda: world.server.users.update(
        world.app, {"id": "race-rotated", "access_token": "r" * 24}))
    assert ack["ok"] is False and ack["error"]["message"] == "Access token revoked"


async def test_check_access_token_switched_on_during_a_resume_ends_it(world: World) -> None:
    """check_access_token switched on in the same gap: the ID-only session is refused."""
    key = await world.dropped_session_key(f"app_id={world.app.id}&user_id=race-switched")
    ack = await world.resume_across(key, lambda: world.server.users.update(
        world.app, {"id": "race-switched", "check_access_token": True}))
    assert ack["ok"] is False
    assert ack["error"]["message"] == "An access token is required for this user"


async def test_an_unrelated_revocation_leaves_the_resume_alone(world: World) -> None:
    """A revocation of another user's token in the gap only costs a second check: the resume
    succeeds and its session is live."""
    mine = await world.server.users.create(world.app, {"id": "race-mine"})
    await world.server.users.create(world.app, {"id": "race-theirs"})
    key = await world.dropped_session_key(
        f"app_id={world.app.id}&user_id=race-mine&access_token={quote(mine['access_token'])}")
    ack = await world.resume_across(key, lambda: world.server.users.revoke_tokens(
        world.app, {"id": "race-theirs"}))
    assert ack["ok"] is True and ack["user"]["id"] == "race-mine"


async def test_ending_a_session_is_durable_before_it_answers(world: World) -> None:
    """users.sessions.end has consumed the session's key in the store by the time it answers,
    however late the socket's own wind-down (held here) gets to it, so a crash right after
    the answer cannot revive the session."""
    ack, ws = await world.first_frame(f"app_id={world.app.id}&user_id=race-ended")
    session = world.server.live.for_user(world.app.id, "race-ended")[0]
    auth = world.server.auth
    wind_down, release = auth.end_session, asyncio.Event()

    async def held(login: Any) -> None:
        await release.wait()
        await wind_down(login)

    auth.end_session = held  # type: ignore[method-assign]
    try:
        answer = await world.server.users.end_session(
            world.app, {"id": "race-ended", "session_id": session.session_id})
        assert answer == {"sessions_closed": 1}
        assert await world.server.store.is_session_consumed(session.session_id)
    finally:
        release.set()
        auth.end_session = wind_down  # type: ignore[method-assign]
    await ws.close()
