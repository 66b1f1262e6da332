"""The one table from request type to handler: it dispatches, and it describes what the
server speaks (``described``), so the list in the documentation cannot drift from it.

Every request with an ``r`` gets exactly one ack: the handler's payload, or an error ack
with the code of the ``ServerError`` it raised, or ``NOT_IMPLEMENTED`` for a type the table
lacks (the SDK waits forever for an ack that never comes).  A handler's bug is logged and
answered ``INTERNAL``; the session goes on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping

from chatcamp_server import protocol
from chatcamp_server.chat.session import ChatSession
from chatcamp_server.errors import ServerError

log = logging.getLogger("chatcamp_server.chat")

Handler = Callable[[ChatSession, dict[str, Any]], Awaitable[dict[str, Any]]]
Observe = Callable[[str, str], None]
"""Told of every request served: its type (``OTHER`` for one the table lacks, so a client
cannot mint labels) and ``ok`` or the error code it was answered with."""
OTHER = "other"


@dataclass(frozen=True)
class Route:
    handler: Handler
    summary: str
    """One line for the documentation: what the request does here."""


class Router:
    def __init__(self, routes: Mapping[str, Route],
                 observe: Observe = lambda type_, outcome: None) -> None:
        self.routes = dict(routes)
        self.observe = observe

    def described(self) -> dict[str, str]:
        return {type_: route.summary for type_, route in sorted(self.routes.items())}

    async def serve(self, session: ChatSession, request: protocol.Request
                    ) -> dict[str, Any] | None:
        """The ack to ``request``, or None when it has no ``r`` to answer."""
        route = self.routes.get(request.type)
        observed = OTHER if route is None else request.type
        try:
            if route is None:
                raise ServerError(f"{request.type} is not supported by this server",
                                  "NOT_IMPLEMENTED")
            payload = await route.handler(session, request.data)
        except ServerError as exc:
            self.observe(observed, exc.code)
            if request.rid is None:
                return None
            return protocol.error_ack(request.type, request.rid, exc.code, exc.client_message)
        except Exception:
            log.exception("%s failed", request.type)
            self.observe(observed, "INTERNAL")
            if request.rid is None:
                return None
            return protocol.error_ack(request.type, request.rid, "INTERNAL",
                                      "The server failed to serve this request")
        self.observe(observed, "ok")
        if request.rid is None:
            return None
        return protocol.ack(request.type, request.rid, payload)
