"""The WebSocket adapter for ``/chat/2.0``: moves frames between aiohttp and the protocol core.

Credentials are checked before the upgrade; the upgrade still happens on failure because
the SDK learns why only from a pushed ``users.auth.ack``, after which the socket is closed
(left open, the SDK would sit in CONNECTING forever).

Every failure ``users.auth.ack`` on a chat socket, refusing a connect or a resume or ending
a live session by any path (the bus, locally or from another node; the reconcile; the expiry
sweep; ``users.sessions.end``), is preceded by a ``session.ended`` notice on the same socket
(``protocol.session_ended``): the SDK hides that ack from the page, but re-emits the notice
as an event on its client object.  It is derived here from the failure ack itself, so every
path that ends a session gets it without knowing of it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from chatcamp_server import protocol
from chatcamp_server.errors import SESSION_KEY_INVALID, ServerError, StorageUnavailable
from chatcamp_server.metrics import Metrics
from chatcamp_server.sessions.auth import Authenticator, Client, Login
from chatcamp_server.sessions.live import How, LiveSession, LiveSessions
from chatcamp_server.settings import Limits
from chatcamp_server.users import Users

log = logging.getLogger("chatcamp_server.socket")

CLIENT_DISCONNECT_CODES = (0, 1005)
"""The SDK's ``disconnect()`` sends a close frame with no status code (1005 on the wire), which
aiohttp reports as 0.  A dropped connection reports something else and keeps the session key."""


async def _send(ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
    """One frame as a text message, encoded once (send_str would encode it a second time)."""
    await ws.send_frame(protocol.encode(frame), WSMsgType.TEXT)


async def _send_failure(ws: web.WebSocketResponse, failure: dict[str, Any]) -> None:
    """A failure ack, preceded by its ``session.ended`` notice when it has one; any other
    frame as it is."""
    notice = protocol.session_ended(failure)
    if notice is not None:
        await _send(ws, notice)
    await _send(ws, failure)


class ChatSocket:
    def __init__(self, auth: Authenticator, users: Users, live: LiveSessions,
                 limits: Limits, metrics: Metrics) -> None:
        self.auth = auth
        self.metrics = metrics
        self.users = users
        self.live = live
        self.limits = limits

    async def handle(self, request: web.Request) -> web.StreamResponse:
        # Compression is off: the SDK's frames are a few hundred bytes, and permessage-deflate
        # would let a small frame inflate to the transport limit, and cost every idle
        # session a zlib context.
        ws = web.WebSocketResponse(max_msg_size=self.limits.transport_max_bytes,
                                   receive_timeout=self.limits.idle_timeout,
                                   heartbeat=None, autoping=True, compress=False)
        if request.headers.get("Upgrade", "").lower() != "websocket":
            raise web.HTTPBadRequest(text="This endpoint speaks WebSocket only.\n")
        revocations = self.live.revocations
        try:
            try:
                creds = protocol.parse_connect_query(request.rel_url.raw_query_string,
                                                     self.limits)
                login = await self.auth.login(creds, Client(request.remote or "",
                                                            request.headers.get("Origin")))
            except ServerError as exc:
                await ws.prepare(request)
                await self._refuse(ws, exc)
                return ws
            await ws.prepare(request)
            await self._serve(request, ws, login, revocations, creds.session_key is not None)
        except ConnectionError:
            # The client hung up (during the upgrade, or while a frame was being sent): there
            # is no one to answer, and aiohttp drops a 4xx that cannot be written, silently.
            log.debug("client went away during the WebSocket exchange")
            raise web.HTTPBadRequest(text="the client went away\n") from None
        return ws

    async def _refuse(self, ws: web.WebSocketResponse, exc: ServerError) -> None:
        self.metrics.refused(exc.code)
        await _send_failure(ws, protocol.auth_failure(exc.code, exc.client_message))
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"auth failed")

    async def _serve(self, request: web.Request, ws: web.WebSocketResponse, login: Login,
                     revocations: int, resumed: bool) -> None:
        ended_by_server = False

        async def deliver(frame: dict[str, Any] | None, how: How) -> None:
            """Never raises: that a client has just gone away is no concern of the revocation
            or the message that was on its way to it."""
            nonlocal ended_by_server
            if how != "send":
                ended_by_server = how == "end"
            if how == "end" and frame is not None:
                notice = protocol.session_ended(frame)
                self.metrics.ended(str(notice["d"]["code"]) if notice else SESSION_KEY_INVALID)
            try:
                if frame is not None and not ws.closed:
                    await (_send_failure(ws, frame) if how == "end" else _send(ws, frame))
                if how != "send":
                    await ws.close(code=WSCloseCode.POLICY_VIOLATION if ended_by_server
                                   else WSCloseCode.GOING_AWAY,
                                   message=b"session ended" if ended_by_server
                                   else b"server shutting down")
            except ConnectionError:
                log.debug("session %s went away before its %s frame", login.session_id, how)

        session = LiveSession(login.session_id, login.app.id, login.user.id, login.token_id,
                              time.time(), request.remote or "",
                              request.headers.get("User-Agent", "")[:512], deliver,
                              key_expires_at=login.expires_at,
                              token_expires_at=login.token_expires_at,
                              token_issued_at=login.token_issued_at)
        self.live.add(session)
        try:
            if self.live.revocations != revocations:
                try:
                    await self.auth.recheck(login)
                except ServerError as exc:
                    ended_by_server = True
                    await self._refuse(ws, exc)
                    return
            if ws.closed:
                return
            self.metrics.login(resumed)
            await _send(ws, protocol.auth_ok(
                protocol.wire_user(login.user, True, login.access_token), login.session_key))
            budget = protocol.FrameBudget(self.limits, time.monotonic())
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await self._on_text(ws, login, message.data, budget)
                elif message.type == WSMsgType.BINARY:
                    log.debug("binary frame of %d bytes dropped", len(message.data))
        except asyncio.TimeoutError:
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"idle timeout")
        finally:
            self.live.remove(session)
            if ended_by_server or ws.close_code in CLIENT_DISCONNECT_CODES:
                try:
                    await self.auth.end_session(login)
                except StorageUnavailable as exc:
                    # The socket is gone either way; the key stays usable until it expires,
                    # which is what a dropped connection leaves too.
                    log.warning("could not record the end of session %s: %s",
                                login.session_id, exc.message)

    async def _on_text(self, ws: web.WebSocketResponse, login: Login, text: str,
                       budget: protocol.FrameBudget) -> None:
        try:
            if not budget.take(time.monotonic()):
                raise protocol.over_budget(text, self.limits)
            request = protocol.parse_frame(text, self.limits)
            action = protocol.decide(request, login.user.id, self.limits)
        except protocol.FrameError as exc:
            action = protocol.frame_error_action(exc)
        if isinstance(action, protocol.UpdateProfile):
            try:
                user = await self.users.update_own_profile(login.app.id, login.user.id,
                                                           action.changes)
            except ServerError as exc:
                if action.rid is not None:
                    await _send(ws, protocol.error_ack("users.update", action.rid, exc.code,
                                                       exc.client_message))
                return
            if action.rid is not None:
                await _send(ws, protocol.ack("users.update", action.rid, {"user": user}))
        elif isinstance(action, protocol.Reply):
            await _send(ws, action.frame)
