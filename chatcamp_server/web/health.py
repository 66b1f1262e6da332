"""``/healthz`` and ``/readyz``, for a load balancer or a service manager.

``/healthz`` says the process answers at all; ``/readyz`` says this node should be sent new
clients: its store answers and it is not draining.  A load balancer that checks ``/readyz``
takes a node out as soon as either stops being true, and puts it back by itself.

The store is asked on a timer of its own, and ``/readyz`` answers from the last answer.  Asked
inside each check, a store that answers slowly because this node is busy (a reconnect storm
after another node died: thousands of logins queued on one event loop) would fail the check,
the load balancer would take out the node that is taking the storm, and, with no node left,
refuse every client until the next check: a slow node is not an unreachable database.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

from aiohttp import web

from chatcamp_server.errors import Draining, ServerError, StorageUnavailable
from chatcamp_server.storage.store import Store
from chatcamp_server.web.server_api import error_response, json_response

CHECK_INTERVAL = 1.0
"""How often the store is asked: a load balancer checking every second sees an outage within
about two of its checks."""
PING_TIMEOUT = 5.0
"""A database that does not answer within this (the store's own statement timeout) counts as
down: a hung database, not only a refusing one, takes the node out."""


class Health:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.draining = False
        """Set once on SIGTERM, never cleared: a draining node only ever stops."""
        self.store_error: StorageUnavailable | None = None
        """Why the store's last check failed; None when it answered.  The store was open and
        answering when the node started."""

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.cleanup_ctx.append(lambda _: self._watch())

    async def check_store(self) -> None:
        """Ask the store once and remember its answer."""
        try:
            await asyncio.wait_for(self.store.ping(), PING_TIMEOUT)
        except TimeoutError:
            self.store_error = StorageUnavailable("the database did not answer in time")
        except StorageUnavailable as exc:
            self.store_error = exc
        else:
            self.store_error = None

    async def _watch(self) -> AsyncIterator[None]:
        async def forever() -> None:
            while True:
                await asyncio.sleep(CHECK_INTERVAL)
                await self.check_store()

        task = asyncio.create_task(forever())
        yield
        task.cancel()

    async def healthz(self, _: web.Request) -> web.Response:
        return json_response({"ok": True})

    async def readyz(self, _: web.Request) -> web.Response:
        failure: ServerError | None = self.store_error
        if self.draining:
            failure = Draining("this node is shutting down")
        if failure is not None:
            return error_response(failure)
        return json_response({"ok": True})
