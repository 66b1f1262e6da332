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

from typing import Any, Callable, Iterable, Iterator, Mapping

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from chatcamp_server.sessions.activity import Activity
from chatcamp_server.sessions.live import LiveSessions
from chatcamp_server.sessions.rate_limit import SCOPES, LoginLimits
from chatcamp_server.sessions.redis_support import Outage
from chatcamp_server.storage.store import Store

REVOCATION_KINDS = ("token", "user_tokens", "user_tokens_before", "app_tokens",
                    "app_tokens_before", "signing_key", "session")
"""The ``kind`` label of ``chatcamp_revocations_total``: one token of a user, all of a
user's tokens, a user's tokens issued before a time, the same two for a whole app, a signing
key, one live session."""

UNKNOWN_METHOD = "unknown"
"""The ``method`` label of a server-API call to a method that does not exist."""


def revocation_kind(method: str, body: Mapping[str, Any]) -> str | None:
    """What a server-API call revokes, once it has succeeded (so its body was valid), or
    None for a method that revokes nothing."""
    if method == "users.tokens.revoke":
        if body.get("token_id") is not None:
            return "token"
        return "user_tokens_before" if body.get("issued_before") is not None else "user_tokens"
    if method == "apps.tokens.revoke":
        return "app_tokens_before" if body.get("issued_before") is not None else "app_tokens"
    return {"apps.signing_keys.revoke": "signing_key", "users.sessions.end": "session"}.get(
        method)


class _Kept(Collector):
    """Counts the store, the Redis parts and the login limits keep themselves, read at each
    scrape: they are made before the metrics, and an outage or a lockout must not wait on a
    metrics call to be counted."""

    def __init__(self, store: Store, outages: Callable[[], Iterable[Outage]],
                 failures: LoginLimits) -> None:
        self.store = store
        self.outages = outages
        self.failures = failures

    def collect(self) -> Iterator[Metric]:
        lockouts = CounterMetricFamily(
            "chatcamp_login_lockouts", "Lockouts started by a failed-login or new-user limit "
            "(a failure or new user that filled its window), by the limit's scope",
            labels=["scope"])
        for scope in SCOPES:
            lockouts.add_metric([scope], self.failures.lockouts[scope])
        yield lockouts
        locked = self.failures.locked_out()
        if locked is not None:
            active = GaugeMetricFamily(
                "chatcamp_login_lockouts_active", "Addresses, users and user-address pairs a "
                "limit refuses now, by scope (single node only)", labels=["scope"])
            for scope in SCOPES:
                active.add_metric([scope], locked[scope])
            yield active
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
    def __init__(self, live: LiveSessions, store: Store, failures: LoginLimits,
                 outages: Callable[[], Iterable[Outage]] = tuple) -> None:
        """``outages``: the Redis parts' trackers, counted at each scrape."""
        self.registry = CollectorRegistry()
        self.activity = Activity()
        """The same logins per minute, for the dashboard's live view."""
        self.registry.register(_Kept(store, outages, failures))
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
        self.revocations = Counter(
            "chatcamp_revocations", "Revocations done through the server API, by what they "
            "revoked", ["kind"], registry=self.registry)
        for kind in REVOCATION_KINDS:
            self.revocations.labels(kind)
        self.chat_requests = Counter(
            "chatcamp_chat_requests", "Requests served on chat sockets, by type (other: one "
            "this server does not serve) and outcome (ok, or the error code)",
            ["type", "outcome"], registry=self.registry)
        self.slow_clients = Counter(
            "chatcamp_slow_clients_dropped", "Chat sockets dropped because their client "
            "stopped reading (their outbound queue passed its bound)", registry=self.registry)
        live_sessions = Gauge("chatcamp_live_sessions", "Live sessions on this node",
                              registry=self.registry)
        live_sessions.set_function(lambda: len(live))

    def login(self, resumed: bool) -> None:
        self.logins.labels("resumed" if resumed else "accepted", "").inc()
        self.activity.login()

    def refused(self, code: str) -> None:
        self.logins.labels("refused", code).inc()
        self.activity.failed()

    def ended(self, reason: str) -> None:
        self.session_ends.labels(reason).inc()

    def chat_request(self, type_: str, outcome: str) -> None:
        self.chat_requests.labels(type_, outcome).inc()

    def slow_client(self) -> None:
        self.slow_clients.inc()

    def api_request(self, method: str, status: int, seconds: float) -> None:
        """``method`` one of the server API's own names, or ``UNKNOWN_METHOD``."""
        self.api_requests.labels(method, str(status)).inc()
        self.api_seconds.labels(method).observe(seconds)

    def succeeded(self, method: str, body: Mapping[str, Any]) -> None:
        """A server-API method that did what ``body`` asked: a revoking one counts as its
        kind of revocation."""
        kind = revocation_kind(method, body)
        if kind is not None:
            self.revocations.labels(kind).inc()

    async def handle(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(self.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    def web_app(self) -> web.Application:
        """The metrics listener's application: ``GET /metrics`` and nothing else."""
        app = web.Application()
        app.router.add_get("/metrics", self.handle)
        return app
