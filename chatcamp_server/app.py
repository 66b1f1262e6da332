"""Assembling the server: one aiohttp application, one store, one secret."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import AsyncIterator

from aiohttp import web

from chatcamp_server.apps import create_app
from chatcamp_server.chat.account import Account
from chatcamp_server.chat.group_channels import GroupChannels
from chatcamp_server.chat.open_channels import OpenChannels
from chatcamp_server.chat.router import Router
from chatcamp_server.cluster import Sharing, sharing_for
from chatcamp_server.dashboard.pages import Dashboard
from chatcamp_server.deployment import Deployment
from chatcamp_server.keys import ServerKeys
from chatcamp_server.metrics import Metrics
from chatcamp_server.policies import PublicOrigins
from chatcamp_server.sessions.activity import node_report
from chatcamp_server.sessions.auth import Authenticator
from chatcamp_server.sessions.live import LiveSessions
from chatcamp_server.settings import DEFAULT_LIMITS, Limits
from chatcamp_server.storage.backends import demo_table_for, store_for
from chatcamp_server.storage.store import Store
from chatcamp_server.timers import Rounds
from chatcamp_server.users import Users
from chatcamp_server.web import openapi, static_files
from chatcamp_server.web.chat_socket import ChatSocket
from chatcamp_server.web.demo import DemoBackend
from chatcamp_server.web.health import Health
from chatcamp_server.web.http_support import Gate, client_api_not_implemented
from chatcamp_server.web.server_api import ServerApi

log = logging.getLogger("chatcamp_server")
EXPIRY_SWEEP_SECONDS = 0.5
"""How often sessions on expired tokens are looked for: they end within this time."""
DRAIN_TICK = 0.05
"""How often a drain closes the sockets whose turn has come: 20 batches a second."""


@dataclass
class Server:
    """Everything one running server holds; built by ``open_server``, torn down by ``close``."""

    store: Store
    keys: ServerKeys
    limits: Limits
    auth: Authenticator
    users: Users
    live: LiveSessions
    sharing: Sharing
    demo: DemoBackend | None
    health: Health
    web_app: web.Application
    metrics: Metrics
    dashboard: Dashboard
    missing_assets: list[str] = field(default_factory=list)

    async def close_sockets(self) -> None:
        """Close every live socket without ending its session, so clients resume after a restart.
        All at once: one by one, each waiting for its client's close frame, 5,000 took seconds."""
        await asyncio.gather(*(session.socket.close(None, "shutdown")
                               for session in self.live.all()), return_exceptions=True)

    async def drain(self, seconds: float) -> None:
        """Take this node out of service without a stampede: ``/readyz`` fails at once, so
        the load balancer sends no one new; then the sockets close evenly over ``seconds``,
        each SDK resuming elsewhere with its session key.  All at once, every client would
        come back on the other nodes in the same second: the SDK's backoff has no jitter."""
        self.health.draining = True
        sessions = self.live.all()
        loop = asyncio.get_running_loop()
        started = loop.time()
        closed = 0
        while closed < len(sessions) and seconds > 0:
            due = min(len(sessions),
                      1 + int(len(sessions) * (loop.time() - started) / seconds))
            await asyncio.gather(*(s.socket.close(None, "shutdown") for s in sessions[closed:due]),
                                 return_exceptions=True)
            closed = due
            await asyncio.sleep(DRAIN_TICK)
        await self.close_sockets()

    async def close(self) -> None:
        await self.close_sockets()
        if self.demo is not None:
            await self.demo.stop()
        await self.sharing.stop()
        await self.store.close()


async def open_store(deployment: Deployment) -> tuple[Store, ServerKeys]:
    store = store_for(deployment.database)
    await store.open()
    return store, ServerKeys(deployment.secret)


FIRST_APP_NAME = "first app"


async def open_server(deployment: Deployment, public: PublicOrigins,
                      limits: Limits = DEFAULT_LIMITS,
                      demo: bool = False) -> tuple[Server, tuple[str, str] | None]:
    """Open storage and build the app.

    A database without any app gets one, so that a first start has an app to use; one that
    already has apps (made with ``serve.py apps create`` before the first start, say) gets
    none, and neither does a shared one: two nodes starting at once would make two.
    Returns the server and, when the first app was just made, its (app ID, API key), which
    the caller hands to the operator once: the key is not kept anywhere readable.
    The demo, when asked for, makes an app of its own, never counted as that first app.
    """
    store, keys = await open_store(deployment)
    live = LiveSessions()
    sharing = sharing_for(deployment.redis_url, live, limits, store)
    failures = sharing.failures
    auth = Authenticator(store, keys, limits, public, failures=failures)
    users = Users(store, keys, limits, live, bus=sharing.bus, inventory=sharing.inventory)
    created = None
    if not deployment.shared and not await store.list_apps():
        app, api_key = await create_app(store, keys, limits, FIRST_APP_NAME)
        created = (app.id, api_key)
    demo_backend = DemoBackend(store, demo_table_for(store), keys, limits) if demo else None
    if demo_backend is not None:
        await demo_backend.open()

    web_app = web.Application(client_max_size=limits.transport_max_bytes,
                              middlewares=[Gate(store, public).middleware])
    web_app.cleanup_ctx.append(lambda _: _sweep_expired_sessions(users))
    health = Health(store)
    health.add_routes(web_app)
    metrics = Metrics(live, store, failures, sharing.outages)
    open_channels = OpenChannels(store, sharing.bus, sharing.inventory, limits)
    group_channels = GroupChannels(store, sharing.bus, sharing.inventory, limits)
    server_api = ServerApi(auth, users, limits, failures, metrics, open_channels,
                           group_channels)
    sharing.inventory.report = lambda: node_report(live, metrics.activity, failures)
    dashboard = Dashboard(store, keys, limits, public, server_api, failures, sharing.inventory)
    dashboard.add_routes(web_app)
    router = Router({**Account(users).routes(), **open_channels.routes(),
                     **group_channels.routes()},
                    metrics.chat_request)
    chat_socket = ChatSocket(auth, router, users, live, limits, metrics)
    web_app.router.add_get("/chat/2.0", chat_socket.handle)
    described = openapi.document(limits)

    async def openapi_document(_: web.Request) -> web.Response:
        return web.json_response(described)

    web_app.router.add_get("/api/2.0/openapi.json", openapi_document)
    web_app.router.add_route("POST", "/api/2.0/{method}", server_api.handle)
    web_app.router.add_route("*", "/client-api/2.0/{path:.*}", client_api_not_implemented)
    if demo_backend is not None:
        demo_backend.add_routes(web_app)
    missing = static_files.add_routes(web_app)
    server = Server(store, keys, limits, auth, users, live, sharing, demo_backend, health,
                    web_app, metrics, dashboard, missing)
    await sharing.start()
    return server, created


async def _sweep_expired_sessions(users: Users) -> AsyncIterator[None]:
    """A token can expire in the middle of a session; nothing else would notice, so a timer
    looks twice a second for sessions that rest on one."""

    rounds = Rounds("ending sessions on expired tokens")

    async def sweep() -> None:
        while True:
            await asyncio.sleep(EXPIRY_SWEEP_SECONDS)
            await rounds.run(users.end_expired_sessions())

    task = asyncio.create_task(sweep())
    yield
    task.cancel()
