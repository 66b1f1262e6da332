"""Bounds on connections that never finish a request, and on connections per client address.

This exists because aiohttp's server has neither: its only timer is the keep-alive one
(3,630 s by default), so a silent socket, or one that sends half a request head and stops,
stayed open for an hour, and one address holding a thousand of them made other clients'
logins time out.  ``runner`` is ``web.AppRunner`` with two additions:

- a request head (a WebSocket upgrade included) must be complete within
  ``Limits.request_head_timeout`` of connecting, or of its first byte on a keep-alive
  connection, whose idle wait between requests ``Limits.keepalive_timeout`` bounds (aiohttp's
  own keep-alive timer); a partial head is answered ``408``, a silent socket just closed;
- at most ``Limits.connections_per_address`` connections (sessions included) per client
  address are open at once; the next gets a short ``503`` before anything is parsed.

The server API bounds its bodies itself (``server_api.ServerApi._body``).
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler

from chatcamp_server.sessions.rate_limit import address_key
from chatcamp_server.settings import Limits

log = logging.getLogger("chatcamp_server.web.connections")


def _plain_response(status: str, text: str, *headers: str) -> bytes:
    body = text.encode()
    head = [f"HTTP/1.1 {status}", *headers, "Connection: close",
            "Content-Type: text/plain; charset=utf-8", f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


TOO_MANY = _plain_response("503 Service Unavailable",
                           "too many connections from this address\n", "Retry-After: 10")
HEAD_TIMED_OUT = _plain_response("408 Request Timeout", "the request head came too slowly\n")
REFUSAL_LINGER = 1.0
"""Seconds a refused socket keeps reading (and dropping) what the client sends after the 503
and the FIN: closing with unread input makes the kernel send a reset, which can destroy the
503 before the client reads it."""
SWEEP_SECONDS = 1.0
"""How often the connections awaiting a head are looked at."""
REFUSAL_LOG_INTERVAL = 60.0
"""At most one log line per this many seconds about refused connections, however many."""


class AddressCounter:
    """Open connections per client address; refuses those over ``cap`` (0: no cap)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.open: dict[str, int] = {}
        self._refused = 0
        self._logged_at = -math.inf

    def admit(self, address: str, now: float) -> bool:
        count = self.open.get(address, 0)
        if count >= self.cap:
            self._refused += 1
            if now - self._logged_at >= REFUSAL_LOG_INTERVAL:
                log.info("refused a connection from %s, over the cap of %d per address "
                         "(%d refusals since the last such line)", address, self.cap,
                         self._refused)
                self._refused, self._logged_at = 0, now
            return False
        self.open[address] = count + 1
        return True

    def release(self, address: str) -> None:
        count = self.open.pop(address, 0) - 1
        if count > 0:
            self.open[address] = count


class HeadDeadlines:
    """Connections awaiting a request head, with their deadlines, swept once a second: one
    timer for all of them rather than one per connection, which a login would pay for even
    though it sends its head within milliseconds.  A head timeout therefore fires between
    ``request_head_timeout`` and one second later."""

    def __init__(self, timeout: float, loop: asyncio.AbstractEventLoop) -> None:
        self.timeout = timeout
        self._loop = loop
        self._due: dict[BoundedRequestHandler, float] = {}
        self._sweep_handle: asyncio.TimerHandle | None = None

    def expect(self, handler: BoundedRequestHandler) -> None:
        """Start (or restart) ``handler``'s clock; the dict stays ordered by deadline."""
        self._due.pop(handler, None)
        self._due[handler] = self._loop.time() + self.timeout
        if self._sweep_handle is None:
            self._sweep_handle = self._loop.call_later(SWEEP_SECONDS, self._sweep)

    def done(self, handler: BoundedRequestHandler) -> None:
        self._due.pop(handler, None)

    def _sweep(self) -> None:
        now = self._loop.time()
        late = []
        for handler, due in self._due.items():
            if due > now:
                break
            late.append(handler)
        for handler in late:
            del self._due[handler]
            handler.head_timed_out()
        self._sweep_handle = (self._loop.call_later(SWEEP_SECONDS, self._sweep)
                              if self._due else None)


class BoundedRequestHandler(RequestHandler):
    """aiohttp's protocol, plus the address cap and the request head deadline."""

    __slots__ = ("_address", "_refused", "_awaiting_head", "_head_started", "_responded",
                 "_payload")
    _manager: BoundedServer

    def __init__(self, manager: BoundedServer, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._address: str | None = None
        self._refused = False
        self._awaiting_head = True
        """True from connecting, and from each response, until the next head is complete."""
        self._head_started = False
        """Bytes of the awaited head have arrived (so a timeout is answered with a 408)."""
        self._responded = False
        """A response was sent: the next head's clock starts with its first byte, not at
        connecting."""
        self._payload: StreamReader | None = None
        """The last request's body: bytes after its response still belong to it until eof."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        counter = self._manager.counter
        if counter is not None:
            peer = transport.get_extra_info("peername")
            address = peer[0] if isinstance(peer, tuple) and peer else None
            if isinstance(address, str):
                address = address_key(address)
                if not counter.admit(address, self._manager.loop.time()):
                    self._refuse(transport)
                    return
                self._address = address
        super().connection_made(transport)
        self._manager.heads.expect(self)

    def _refuse(self, transport: asyncio.BaseTransport) -> None:
        """503 and FIN at once; nothing is parsed, and the socket is gone within the linger."""
        self._refused = True
        assert isinstance(transport, asyncio.Transport)
        transport.write(TOO_MANY)
        if transport.can_write_eof():
            transport.write_eof()
            self._manager.loop.call_later(REFUSAL_LINGER, transport.close)
        else:
            transport.close()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        if data and self._awaiting_head and not self._head_started and (
                self._payload is None or self._payload.is_eof()):
            self._head_started = True
            if self._responded:
                self._manager.heads.expect(self)

    def head_received(self, payload: StreamReader) -> None:
        """The parser produced a complete head (called from the request factory)."""
        self._awaiting_head = False
        self._payload = payload
        self._manager.heads.done(self)

    async def finish_response(self, request: web.BaseRequest, resp: web.StreamResponse,
                              start_time: float | None) -> tuple[web.StreamResponse, bool]:
        result = await super().finish_response(request, resp, start_time)
        # The next head's clock starts with its first byte; until then the connection is
        # idle, and aiohttp's keep-alive timer (Limits.keepalive_timeout) bounds that.
        self._awaiting_head, self._head_started, self._responded = True, False, True
        return result

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._refused:
            return
        self._manager.heads.done(self)
        if self._address is not None:
            assert self._manager.counter is not None
            self._manager.counter.release(self._address)
            self._address = None
        super().connection_lost(exc)

    def head_timed_out(self) -> None:
        if not self._awaiting_head or self.transport is None:
            return
        if self._head_started:
            self.transport.write(HEAD_TIMED_OUT)
        self.force_close()  # flushes the 408, then closes


class BoundedServer(web.Server):
    """``web.Server`` whose protocol is ``BoundedRequestHandler``, with one address counter
    and one set of head deadlines."""

    def __init__(self, made: web.Server, limits: Limits) -> None:
        # web.Server keeps the handler arguments the app assembled (access log class, debug,
        # keepalive_timeout, the app's handler_args) only in its private ``_kwargs``; they are
        # taken from there so that nothing aiohttp would have passed to the protocol is lost.
        handler_args: dict[str, Any] = dict(made._kwargs)
        self._app_request_factory = made.request_factory
        self.loop = asyncio.get_running_loop()
        self.counter = AddressCounter(limits.connections_per_address) \
            if limits.connections_per_address > 0 else None
        self.heads = HeadDeadlines(limits.request_head_timeout, self.loop)
        super().__init__(made.request_handler, request_factory=self._request,
                         handler_cancellation=made.handler_cancellation,
                         loop=self.loop, **handler_args)
        self._handler_args = handler_args

    def __call__(self) -> RequestHandler:
        return BoundedRequestHandler(self, loop=self.loop, **self._handler_args)

    def _request(self, message: RawRequestMessage, payload: StreamReader,
                 protocol: RequestHandler, writer: AbstractStreamWriter,
                 task: asyncio.Task[None]) -> web.BaseRequest:
        if isinstance(protocol, BoundedRequestHandler):
            protocol.head_received(payload)
        return self._app_request_factory(message, payload, protocol, writer, task)


class BoundedAppRunner(web.AppRunner):
    __slots__ = ("_limits",)

    def __init__(self, app: web.Application, limits: Limits, **kwargs: Any) -> None:
        super().__init__(app, keepalive_timeout=limits.keepalive_timeout, **kwargs)
        self._limits = limits

    async def _make_server(self) -> web.Server:
        # BaseRunner's one hook for the server its sites listen with (AppRunner runs the
        # app's startup there); the server it builds is wrapped, not rebuilt by hand.
        return BoundedServer(await super()._make_server(), self._limits)


def runner(app: web.Application, limits: Limits, **kwargs: Any) -> web.AppRunner:
    """``web.AppRunner(app, **kwargs)`` with the head timeout, keep-alive timeout and
    per-address cap of ``limits``."""
    return BoundedAppRunner(app, limits, **kwargs)
