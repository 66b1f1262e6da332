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

Behind a trusted proxy (``--trusted-proxy``, see ``proxies.py``) the peer is the proxy, which
carries every client, so the cap moves from connections to requests:

- a connection from a trusted proxy is not counted when it is accepted;
- each request on it is made to tell its forwarded client (``request.remote`` and
  ``request.scheme``, once, in the request factory, so the middleware, the handlers and the
  access log all see the same client);
- that client's address then holds one place in the same per-address count, shared with its
  direct connections, from the request's head until its response is done: for a WebSocket,
  for the whole session.  Past the cap the request gets ``503`` with ``Retry-After``, and
  the connection stays open, since it carries other clients too.

What a proxy holds open without a request (idle keep-alive, heads still arriving) is the
proxy's to bound; the sessions and requests that cost this server something are bounded
per client here.

The server API bounds its bodies itself (``server_api.ServerApi._body``).
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any, Awaitable, Iterable

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler

from chatcamp_server.sessions.rate_limit import address_key
from chatcamp_server.settings import Limits
from chatcamp_server.web.proxies import TrustedProxies

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
                 "_payload", "proxied", "_client")
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
        self.proxied = False
        """The peer is a trusted proxy: its requests are counted by their forwarded client."""
        self._client: str | None = None
        """The address key the current proxied request holds a place for, until its end."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        manager = self._manager
        if manager.counter is not None or manager.trusted:
            peer = transport.get_extra_info("peername")
            address = peer[0] if isinstance(peer, tuple) and peer else None
            if isinstance(address, str) and manager.trusted.trusts(address):
                self.proxied = True
            elif isinstance(address, str) and manager.counter is not None:
                address = address_key(address)
                if not manager.counter.admit(address, manager.loop.time()):
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

    def hold_client(self, remote: str | None) -> bool:
        """Count a proxied request's client against its address's cap until the response is
        done; False when that address is already at the cap."""
        counter = self._manager.counter
        if counter is None or remote is None:
            return True
        key = address_key(remote)
        if not counter.admit(key, self._manager.loop.time()):
            return False
        self._client = key
        return True

    def _release_client(self) -> None:
        if self._client is not None:
            assert self._manager.counter is not None
            self._manager.counter.release(self._client)
            self._client = None

    async def finish_response(self, request: web.BaseRequest, resp: web.StreamResponse,
                              start_time: float | None) -> tuple[web.StreamResponse, bool]:
        try:
            result = await super().finish_response(request, resp, start_time)
        finally:
            self._release_client()
        # The next head's clock starts with its first byte; until then the connection is
        # idle, and aiohttp's keep-alive timer (Limits.keepalive_timeout) bounds that.
        self._awaiting_head, self._head_started, self._responded = True, False, True
        return result

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._refused:
            return
        self._manager.heads.done(self)
        self._release_client()
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


async def _over_cap() -> web.StreamResponse:
    return web.Response(status=503, text="too many connections from this address\n",
                        headers={"Retry-After": "10"})


class BoundedServer(web.Server):
    """``web.Server`` whose protocol is ``BoundedRequestHandler``, with one address counter,
    one set of head deadlines and the trusted proxies."""

    def __init__(self, made: web.Server, limits: Limits, trusted: TrustedProxies) -> None:
        # web.Server keeps the handler arguments the app assembled (access log class, debug,
        # keepalive_timeout, the app's handler_args) only in its private ``_kwargs``; they are
        # taken from there so that nothing aiohttp would have passed to the protocol is lost.
        handler_args: dict[str, Any] = dict(made._kwargs)
        self._app_request_factory = made.request_factory
        self._app_handler = made.request_handler
        self.trusted = trusted
        self.loop = asyncio.get_running_loop()
        self.counter = AddressCounter(limits.connections_per_address) \
            if limits.connections_per_address > 0 else None
        self.heads = HeadDeadlines(limits.request_head_timeout, self.loop)
        super().__init__(self._handle, request_factory=self._request,
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
        request = self._app_request_factory(message, payload, protocol, writer, task)
        if not isinstance(protocol, BoundedRequestHandler) or not protocol.proxied:
            return request
        peer = request.remote
        if peer is None:
            return request
        headers = request.headers
        client = self.trusted.client(peer, headers.getall("X-Forwarded-For", ()),
                                     headers.getall("X-Forwarded-Proto", ()))
        if client.scheme is not None:
            return request.clone(remote=client.remote, scheme=client.scheme)
        return request.clone(remote=client.remote) if client.remote != peer else request

    def _handle(self, request: web.BaseRequest) -> Awaitable[web.StreamResponse]:
        """Not a coroutine: the app's own coroutine is handed back unwrapped, so that a
        session does not keep one more frame suspended for its whole life."""
        protocol = request.protocol
        if isinstance(protocol, BoundedRequestHandler) and protocol.proxied and \
                not protocol.hold_client(request.remote):
            return _over_cap()
        return self._app_handler(request)


class BoundedAppRunner(web.AppRunner):
    __slots__ = ("_limits", "_trusted")

    def __init__(self, app: web.Application, limits: Limits, trusted: TrustedProxies,
                 **kwargs: Any) -> None:
        super().__init__(app, keepalive_timeout=limits.keepalive_timeout, **kwargs)
        self._limits = limits
        self._trusted = trusted

    async def _make_server(self) -> web.Server:
        # BaseRunner's one hook for the server its sites listen with (AppRunner runs the
        # app's startup there); the server it builds is wrapped, not rebuilt by hand.
        return BoundedServer(await super()._make_server(), self._limits, self._trusted)


def runner(app: web.Application, limits: Limits, trusted_proxies: Iterable[str] = (),
           **kwargs: Any) -> web.AppRunner:
    """``web.AppRunner(app, **kwargs)`` with the head timeout, keep-alive timeout and
    per-address cap of ``limits``, believing forwarding headers from ``trusted_proxies``
    (``--trusted-proxy`` values; a bad one raises ``ServerError``)."""
    return BoundedAppRunner(app, limits, TrustedProxies.parse(trusted_proxies), **kwargs)
