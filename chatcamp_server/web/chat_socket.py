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
from chatcamp_server.chat.outbox import Outbox
from chatcamp_server.chat.router import Router
from chatcamp_server.chat.session import ChatSession
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
FRAME_HEADER_MAX_BYTES = 10
"""A server's WebSocket frame header at its longest (a 64-bit length, no mask)."""
CLOSE_FLUSH_SECONDS = 2.0
"""How long the frames that end a session may take to reach a slow client before its
socket is dropped without them."""


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
    def __init__(self, auth: Authenticator, router: Router, users: Users, live: LiveSessions,
                 limits: Limits, metrics: Metrics) -> None:
        self.auth = auth
        self.users = users
        self.metrics = metrics
        self.router = router
        self.live = live
        self.limits = limits
        self.flusher = Flusher()

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
        chat = ChatSession(login.app.id, login.user.id, login.session_id, self.limits,
                           time.monotonic())
        socket = _Socket(ws, chat.outbox, request, self.metrics, self.flusher)
        session = LiveSession(login.session_id, login.app.id, login.user.id, login.token_id,
                              time.time(), request.remote or "",
                              request.headers.get("User-Agent", "")[:512], socket,
                              key_expires_at=login.expires_at,
                              token_expires_at=login.token_expires_at,
                              token_issued_at=login.token_issued_at)
        self.live.add(session)
        try:
            if self.live.revocations != revocations:
                try:
                    await self.auth.recheck(login)
                except ServerError as exc:
                    socket.ended_by_server = True
                    await self._refuse(ws, exc)
                    return
            if ws.closed:
                return
            self.metrics.login(resumed)
            chat.reply(protocol.auth_ok(
                protocol.wire_user(login.user, True, login.access_token), login.session_key))
            socket.wake()
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    served = chat.receive(message.data, time.monotonic())
                    if served is not None:
                        chat.reply(await self.router.serve(chat, served))
                    socket.replied()
                elif message.type == WSMsgType.BINARY:
                    log.debug("binary frame of %d bytes dropped", len(message.data))
        except asyncio.TimeoutError:
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"idle timeout")
        finally:
            # The session leaves the registry last: until then it counts as live, so the
            # user cannot be seen offline before last_seen is written.
            try:
                await self._ended(login, socket.ended_by_server
                                  or ws.close_code in CLIENT_DISCONNECT_CODES)
                if self.live.for_user(login.app.id, login.user.id) == [session]:
                    await self._note_leaving(login)
            finally:
                self.live.remove(session)
                socket.stop()

    async def _ended(self, login: Login, ended: bool) -> None:
        """An ended session's key is revoked at once: the SDK that disconnected may not
        resume with it, however soon it tries."""
        if not ended:
            return
        try:
            await self.auth.end_session(login)
        except StorageUnavailable as exc:
            # The socket is gone either way; the key stays usable until it expires,
            # which is what a dropped connection leaves too.
            log.warning("could not record the end of session %s: %s",
                        login.session_id, exc.message)

    async def _note_leaving(self, login: Login) -> None:
        try:
            await self.users.note_leaving(login.app.id, login.user.id)
        except StorageUnavailable as exc:
            log.warning("could not record when the user of session %s was last seen: %s",
                        login.session_id, exc.message)


class Flusher:
    """Writes the frames waiting for many sessions from one task: a message to a channel of
    a thousand is written to a thousand sockets in one pass, where a task per socket cost
    the event loop a thousand schedulings (with ``live.send_all``, the node's CPU for 100
    messages a second into 100 fell from 60% to 42% of a core: ``BENCHMARKS.md``).  A
    socket whose client reads slowly, so that a write could wait, is left to a task of its
    own (``_Socket.drain``), and the pass goes on."""

    __slots__ = ("waiting", "task")

    def __init__(self) -> None:
        self.waiting: dict[_Socket, None] = {}
        self.task: asyncio.Task[None] | None = None

    def want(self, socket: _Socket) -> None:
        self.waiting[socket] = None
        if self.task is None:
            self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            while self.waiting:
                batch = list(self.waiting)
                self.waiting.clear()
                for socket in batch:
                    try:
                        await socket.write_ready()
                    except Exception:
                        # One socket's failure must not leave the rest of the batch unwritten.
                        log.exception("writing to a session's socket failed")
                        socket.abort()
        finally:
            self.task = None


class _Socket:
    """One session's socket as the buses reach it (``live.Socket``).  Its outbox is written
    by the node's ``Flusher`` while the client keeps up, and by a task of its own, only
    while frames wait, when it does not (an idle session costs no task).  When the outbox
    overflows, the client is not reading: its socket is dropped (the session stays, for the
    SDK to resume).  Nothing here raises: that a client has just gone away is no concern of
    the revocation or the message that was on its way to it."""

    __slots__ = ("ws", "outbox", "request", "metrics", "flusher", "task", "ended_by_server",
                 "dropped")

    def __init__(self, ws: web.WebSocketResponse, outbox: Outbox, request: web.Request,
                 metrics: Metrics, flusher: Flusher) -> None:
        self.ws = ws
        self.outbox = outbox
        self.request = request
        self.metrics = metrics
        self.flusher = flusher
        self.task: asyncio.Task[None] | None = None
        self.ended_by_server = False
        self.dropped = False

    def push(self, data: bytes) -> None:
        if self.outbox.overflowed:
            return  # dropped already: the session is on its way out of the registry
        if self.outbox.put(data):
            self.wake()
        else:
            self._drop()

    def replied(self) -> None:
        """After the session queued its own answer, which overflows like a push: a client
        that asks for more than it reads is dropped too, not left waiting for an answer
        that will never be written."""
        if self.outbox.overflowed:
            self._drop()
        else:
            self.wake()

    def _drop(self) -> None:
        if self.dropped:
            return
        self.dropped = True
        log.info("a session's socket dropped: %d bytes waited for it to read",
                 self.outbox.size)
        self.metrics.slow_client()
        self.abort()

    def wake(self) -> None:
        if self.task is None and len(self.outbox) and not self.outbox.overflowed:
            self.flusher.want(self)

    async def write_ready(self) -> None:
        """The flusher's turn: write what can be written without waiting; the rest, if
        any, to this socket's own task.  A frame is taken and written with no await
        between, so the two never reorder frames."""
        try:
            while (data := self._next_that_fits()) is not None:
                await self.ws.send_frame(data, WSMsgType.TEXT)
        except ConnectionError:
            log.debug("a session went away with %d frames still to send", len(self.outbox))
            return
        self.drain()

    def _next_that_fits(self) -> bytes | None:
        """The next frame, if writing it cannot wait: nothing is buffered in user space (so
        the transport is not paused) and the frame stays below the point where the
        transport would pause, the only case where aiohttp's ``send_frame`` awaits."""
        transport = self.request.transport
        if (self.task is not None or self.outbox.overflowed or not self.outbox.frames
                or transport is None or transport.is_closing()
                or transport.get_write_buffer_size() > 0
                or (len(self.outbox.frames[0]) + FRAME_HEADER_MAX_BYTES
                    >= transport.get_write_buffer_limits()[1])):
            return None
        return self.outbox.take()

    def drain(self) -> None:
        transport = self.request.transport
        if (self.task is None and len(self.outbox) and not self.outbox.overflowed
                and transport is not None and not transport.is_closing()):
            self.task = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while (data := self.outbox.take()) is not None:
                await self.ws.send_frame(data, WSMsgType.TEXT)
        except ConnectionError:
            log.debug("a session went away with %d frames still to send", len(self.outbox))
        finally:
            self.task = None

    async def close(self, failure: dict[str, Any] | None, how: How) -> None:
        self.ended_by_server = how == "end"
        if failure is not None and self.ended_by_server:
            notice = protocol.session_ended(failure)
            self.metrics.ended(str(notice["d"]["code"]) if notice else SESSION_KEY_INVALID)
            for last in ((notice, failure) if notice else (failure,)):
                self.outbox.put(protocol.encode(last), bounded=False)
        if self.ended_by_server:
            await self._flush_and_close(WSCloseCode.POLICY_VIOLATION, b"session ended")
        else:
            await self._flush_and_close(WSCloseCode.GOING_AWAY, b"server shutting down")

    async def _flush_and_close(self, code: int, message: bytes) -> None:
        """Send what waits (the frames that end the session last), then close."""
        try:
            if self.task is not None:
                await asyncio.wait_for(asyncio.shield(self.task), CLOSE_FLUSH_SECONDS)
            self.drain()
            if self.task is not None:
                await asyncio.wait_for(asyncio.shield(self.task), CLOSE_FLUSH_SECONDS)
            await self.ws.close(code=code, message=message)
        except (ConnectionError, asyncio.TimeoutError):
            log.debug("a session's socket could not be closed cleanly")
            self.abort()

    def abort(self) -> None:
        """Drop the socket at once (the session stays, for the SDK to resume)."""
        self.stop()
        if self.request.transport is not None:
            self.request.transport.abort()

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None
