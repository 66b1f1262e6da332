"""In-process: the server's own origins come from configuration, and app policies apply them."""

from __future__ import annotations

import pytest

from chatcamp_server.errors import BadRequest
from chatcamp_server.policies import PublicOrigins, check_origin, gets_cors, may_connect
from chatcamp_server.storage.store import App

SHOP = App("1", "shop", ("https://shop.example",), 0.0)
OPEN = App("2", "open", (), 0.0)


def test_hosts_follow_the_configured_origins_only() -> None:
    """Host values served are those of the configured origins (default ports optional); the
    Host a client writes is never taken as the server's own."""
    public = PublicOrigins.of(["https://chat.example", "http://10.0.0.5:8000"])
    for host in ("chat.example", "chat.example:443", "CHAT.example", "10.0.0.5:8000"):
        assert public.serves_host(host), host
    for host in (None, "", "evil.example", "chat.example:80", "10.0.0.5", "chat.example.evil"):
        assert not public.serves_host(host), host


def test_default_origins_are_the_listening_address() -> None:
    """Loopback or wildcard listening answers for loopback names; a specific address only for
    itself."""
    assert PublicOrigins.default("127.0.0.1", 8000).origins == {
        "http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"}
    assert PublicOrigins.default("0.0.0.0", 80).serves_host("localhost")
    specific = PublicOrigins.default("192.0.2.7", 9080)
    assert specific.origins == {"http://192.0.2.7:9080"} and not specific.serves_host("localhost")
    assert PublicOrigins.default("::1", 8000).serves_host("[::1]:8000")


def test_websocket_and_cors_rules() -> None:
    """A listed app admits its origins and the server's own; an unlisted origin is refused,
    but not an absent one; CORS goes only to listed and own origins."""
    public = PublicOrigins.of(["https://chat.example"])
    assert may_connect(SHOP, "https://shop.example", public)
    assert may_connect(SHOP, "https://chat.example", public)
    assert may_connect(SHOP, None, public)
    assert not may_connect(SHOP, "https://evil.example", public)
    assert may_connect(OPEN, "https://evil.example", public)
    assert gets_cors(SHOP, "https://shop.example", public)
    assert gets_cors(OPEN, "https://chat.example", public)
    assert not gets_cors(OPEN, "https://evil.example", public)
    assert gets_cors(None, "https://shop.example", public, listed_anywhere=True)


@pytest.mark.parametrize("origin", ["shop.example", "ftp://x", "https://x/", " https://x",
                                    "https://user@x", "https://"])
def test_bad_origins_are_refused(origin: str) -> None:
    """Only scheme://host[:port] is an origin."""
    with pytest.raises(BadRequest):
        check_origin(origin)
