"""``/healthz`` and ``/readyz``, for a load balancer or a service manager.

``/healthz`` says the process answers at all; ``/readyz`` says this node should be sent new
clients: its store answers and it is not draining.  A load balancer that checks ``/readyz``
takes a node out as soon as either stops being true, and puts it back by itself.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from chatcamp_server.errors import Draining, ServerError, StorageUnavailable
from chatcamp_server.storage.store import Store
from chatcamp_server.web.server_api import error_response, json_response

PING_TIMEOUT = 2.0
"""Longer than any healthy round trip, shorter than a load balancer's check interval times
its fall count: a database that hangs counts as down."""


class Health:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.draining = False
        """Set once on SIGTERM, never cleared: a draining node only ever stops."""

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)

    async def healthz(self, _: web.Request) -> web.Response:
        return json_response({"ok": True})

    async def readyz(self, _: web.Request) -> web.Response:
        try:
            if self.draining:
                raise Draining("this node is shutting down")
            try:
                await asyncio.wait_for(self.store.ping(), PING_TIMEOUT)
            except TimeoutError:
                raise StorageUnavailable("the database did not answer in time") from None
        except ServerError as exc:
            return error_response(exc)
        return json_response({"ok": True})
