"""An app's policies and the server's own origins, each rule written once.

Who may open the WebSocket, who gets credentialed CORS, and whether a login without a token
is allowed are decided here, for every adapter.  The server's own origins come from
configuration, never from the request: a Host header is whatever the client wrote, so a page
on ``evil.example`` that rebinds its DNS to this server would otherwise be "same-origin".
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from chatcamp_server.errors import BadRequest
from chatcamp_server.storage.store import App

DEFAULT_PORTS = {"http": 80, "https": 443}
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
WILDCARD_HOSTS = ("", "0.0.0.0", "::")
"""Listening addresses that mean every address, so name no origin of their own."""


def check_origin(origin: str) -> str:
    """An exact origin (scheme://host[:port]) as browsers send it in the Origin header."""
    scheme, sep, rest = origin.partition("://")
    if scheme not in DEFAULT_PORTS or not sep or not rest or "/" in rest \
            or origin != origin.strip() or "@" in rest:
        raise BadRequest(f"{origin!r} is not an origin like https://example.com:8443",
                         "INVALID_ORIGIN")
    return origin


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def normalize_origin(origin: str) -> str:
    """An origin as browsers write it in ``Origin``: lower-case scheme and host, and no port
    when it is the scheme's default."""
    parts = urlsplit(check_origin(origin))
    try:
        port = parts.port
    except ValueError:
        raise BadRequest(f"{origin!r} has no valid port", "INVALID_ORIGIN") from None
    host = (parts.hostname or "").lower()
    if not host:
        raise BadRequest(f"{origin!r} names no host", "INVALID_ORIGIN")
    host = f"[{host}]" if ":" in host else host
    scheme = parts.scheme.lower()
    return f"{scheme}://{host}" if port in (None, DEFAULT_PORTS[scheme]) else \
        f"{scheme}://{host}:{port}"


@dataclass(frozen=True)
class PublicOrigins:
    """The origins under which browsers reach this server, and the Host values they imply."""

    ordered: tuple[str, ...]
    """As configured (normalized); the first is the one the server names in its output."""
    origins: frozenset[str]
    hosts: frozenset[str]

    @classmethod
    def of(cls, origins: list[str]) -> PublicOrigins:
        ordered = tuple(dict.fromkeys(normalize_origin(o) for o in origins))
        hosts = set()
        for origin in ordered:
            parts = urlsplit(origin)
            netloc = parts.netloc
            port = parts.port or DEFAULT_PORTS[parts.scheme]
            host = netloc if parts.port is None else netloc.rsplit(":", 1)[0]
            hosts.add(f"{host}:{port}")
            if port == DEFAULT_PORTS[parts.scheme]:
                hosts.add(host)
        return cls(ordered, frozenset(ordered), frozenset(hosts))

    @classmethod
    def default(cls, listen_host: str, port: int) -> PublicOrigins:
        """The listening address's own origin; for a loopback or wildcard address, loopback
        under each of its names, so ``make run`` works from ``localhost`` too.  A server
        reached under any other name must be told so with ``--public-origin``."""
        host = listen_host.strip("[]")
        if host in WILDCARD_HOSTS or _is_loopback(host):
            names: tuple[str, ...] = LOOPBACK_NAMES
        else:
            names = (f"[{host}]" if ":" in host else host,)
        return cls.of([f"http://{name}:{port}" for name in names])

    def serves_host(self, host: str | None) -> bool:
        return host is not None and host.lower() in self.hosts

    def first(self) -> str:
        return self.ordered[0]


def may_connect(app: App, origin: str | None, public: PublicOrigins) -> bool:
    """Whether a WebSocket from ``origin`` may log in to ``app``.  Browsers always send Origin
    on a WebSocket; a client without one is not a browser, and could claim any origin anyway,
    so only a present, unlisted origin is refused."""
    return (origin is None or not app.allowed_origins or origin in public.origins
            or origin in app.allowed_origins)


def gets_cors(app: App | None, origin: str, public: PublicOrigins,
              listed_anywhere: bool = False) -> bool:
    """Whether REST answers carry credentialed CORS for ``origin``: the server's own origins,
    and those the app lists (or, for a preflight that carries no key, any app lists)."""
    if origin in public.origins:
        return True
    return origin in app.allowed_origins if app is not None else listed_anywhere


def allows_id_login(app: App) -> bool:
    """Logins (and resumed sessions) by user ID alone, without a token."""
    return not app.require_access_token
