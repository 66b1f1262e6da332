"""Prometheus metrics for operators, with prometheus-client, on a listener of their own.

They are never on the public listener: counts of logins and refusals per code tell an
attacker how an attack is going.  ``serve.py --metrics-port PORT`` serves ``/metrics`` on
``--metrics-host`` (127.0.0.1 unless told otherwise), for a Prometheus on the same machine or
behind the operator's own network.

Each server holds a registry of its own, not prometheus-client's global one, so that tests
(and a process holding two servers) count apart.  Labels take values from closed sets only
(outcome, the server's error codes, the server API's method names), never from what a client
sent, so no client can grow the number of series.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from chatcamp_server.errors import RateLimited, ServerError
from chatcamp_server.sessions.redis_support import Outage
from chatcamp_server.storage.store import Store
from chatcamp_server.sessions.live import LiveSessions

REVOCATIONS = {"users.tokens.revoke": "user_tokens", "users.sessions.end": "session",
               "apps.signing_keys.revoke": "signing_key", "apps.tokens.revoke": "app_tokens"}
"""The server-API methods that revoke, and the ``kind`` label of each."""

UNKNOWN_METHOD = "unknown"
"""The ``method`` label of a server-API call to a method that does not exist."""


class _Errors(Collector):
    """Counts the store and the Redis parts keep themselves, read at each scrape: they are
    made before the metrics, and an outage must not wait on a metrics call to be counted."""

    def __init__(self, store: Store, outages: Callable[[], Iterable[Outage]]) -> None:
        self.store = store
        self.outages = outages

    def collect(self) -> Iterator[Metric]:
        store = CounterMetricFamily("chatcamp_store_errors", "Store operations that found the "
                                    "database unavailable, by backend", labels=["backend"])
        store.add_metric([self.store.backend], self.store.errors)
        yield store
        redis = CounterMetricFamily("chatcamp_redis_errors", "Failed calls to Redis by the "
                                    "part that fell back to this node (bus, inventory, limits)",
                                    labels=["part"])
        for outage in self.outages():
            redis.add_metric([outage.part], outage.errors)
        yield redis


class Metrics:
    def __init__(self, live: LiveSessions, store: Store,
                 outages: Callable[[], Iterable[Outage]] = tuple) -> None:
        """``outages``: the Redis parts' trackers, counted at each scrape."""
        self.registry = CollectorRegistry()
        self.registry.register(_Errors(store, outages))
        self.logins = Counter(
            "chatcamp_logins", "Chat-socket logins by outcome (accepted, resumed, refused) and "
            "the refusal's code", ["outcome", "code"], registry=self.registry)
        self.session_ends = Counter(
            "chatcamp_session_ends", "Live sessions the server ended, by the code of its "
            "session.ended notice", ["reason"], registry=self.registry)
        self.api_requests = Counter(
            "chatcamp_api_requests", "Server-API requests by method and HTTP status",
            ["method", "status"], registry=self.registry)
        self.api_seconds = Histogram(
            "chatcamp_api_request_seconds", "Server-API request latency by method",
            ["method"], registry=self.registry)
        self.lockouts = Counter(
            "chatcamp_login_lockouts", "Logins, user creations and server-API calls refused "
            "by a failed-login or new-user limit, by the limit's scope (address, user_address, "
            "user, new_users)", ["scope"], registry=self.registry)
        self.revocations = Counter(
            "chatcamp_revocations", "Revocations done through the server API, by what they "
            "revoked", ["kind"], registry=self.registry)
        live_sessions = Gauge("chatcamp_live_sessions", "Live sessions on this node",
                              registry=self.registry)
        live_sessions.set_function(lambda: len(live))

    def login(self, resumed: bool) -> None:
        self.logins.labels("resumed" if resumed else "accepted", "").inc()

    def refused(self, error: ServerError) -> None:
        """A login refused with ``error``; a limit's refusal is also a lockout."""
        self.logins.labels("refused", error.code).inc()
        self.limited(error)

    def limited(self, error: ServerError) -> None:
        if isinstance(error, RateLimited) and error.scope:
            self.lockouts.labels(error.scope).inc()

    def ended(self, reason: str) -> None:
        self.session_ends.labels(reason).inc()

    def api_request(self, method: str, status: int, seconds: float) -> None:
        """``method`` one of the server API's own names, or ``UNKNOWN_METHOD``; a revoking
        method that succeeded counts as its kind of revocation."""
        self.api_requests.labels(method, str(status)).inc()
        self.api_seconds.labels(method).observe(seconds)
        if status == 200 and method in REVOCATIONS:
            self.revocations.labels(REVOCATIONS[method]).inc()

    async def handle(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    def web_app(self) -> web.Application:
        """The metrics listener's application: ``GET /metrics`` and nothing else."""
        app = web.Application()
        app.router.add_get("/metrics", self.handle)
        return app
