"""The trusted-proxy rule (``chatcamp_server/web/proxies.py``), without sockets."""

from __future__ import annotations

import pytest

from chatcamp_server.errors import ServerError
from chatcamp_server.web.proxies import Forwarded, TrustedProxies

PROXIES = TrustedProxies.parse(["10.0.0.0/8", "192.0.2.7", "2001:db8:aaaa::/48"])


def test_right_most_untrusted_entry_is_the_client() -> None:
    """What a client prepends stands left of the address its proxy appended, and is not read."""
    assert PROXIES.client("10.0.0.1", ["6.6.6.6, 203.0.113.5"]) == \
        Forwarded("203.0.113.5", None)


def test_trusted_hops_are_skipped_along_a_chain() -> None:
    """A chain of trusted proxies (in one line or several) is walked to the first stranger."""
    assert PROXIES.client("10.0.0.1", ["6.6.6.6, 203.0.113.5, 192.0.2.7", "10.1.2.3"]) == \
        Forwarded("203.0.113.5", None)


def test_all_trusted_chain_gives_its_left_most_entry() -> None:
    """A client inside a trusted network is the left-most hop when every hop is trusted."""
    assert PROXIES.client("10.0.0.1", ["10.9.9.9, 10.0.0.2"]).remote == "10.9.9.9"


def test_no_header_keeps_the_peer() -> None:
    """A trusted proxy's own request (a health check) comes from the proxy."""
    assert PROXIES.client("10.0.0.1", []) == Forwarded("10.0.0.1", None)


@pytest.mark.parametrize("header", ["", "unknown", "203.0.113.5, nonsense", "203.0.113.5,,",
                                    "203.0.113.5:4711", "[203.0.113.5", "1.2.3.4.5",
                                    "\x00", "203.0.113.5, 10.0.0.2, ???"])
def test_malformed_chain_falls_back_to_the_peer(header: str) -> None:
    """An entry that is no address, met before the client is found, leaves the peer as client."""
    assert PROXIES.client("10.0.0.1", [header], ["https"]) == Forwarded("10.0.0.1", None)


def test_garbage_left_of_the_client_is_never_read() -> None:
    """Whatever a client wrote itself cannot spoil the entry its proxy appended."""
    assert PROXIES.client("10.0.0.1", ["<script>, ::: , 203.0.113.5"]).remote == "203.0.113.5"


def test_ipv6_entries_bracketed_or_bare() -> None:
    """IPv6 clients are read bare or in brackets, and an IPv6 trusted network is skipped."""
    assert PROXIES.client("10.0.0.1", ["[2001:db8:1::5]"]).remote == "2001:db8:1::5"
    assert PROXIES.client("10.0.0.1", ["2001:db8:1::5, 2001:db8:aaaa::1"]).remote == \
        "2001:db8:1::5"


def test_ipv4_mapped_addresses_count_as_ipv4() -> None:
    """A mapped peer is trusted as its IPv4 address, and a mapped entry is told as IPv4."""
    assert PROXIES.trusts("::ffff:10.0.0.1")
    assert PROXIES.client("::ffff:10.0.0.1", ["::ffff:203.0.113.5"]).remote == "203.0.113.5"
    assert PROXIES.client("10.0.0.1", ["203.0.113.5, ::ffff:10.0.0.3"]).remote == "203.0.113.5"


def test_trust_is_by_network() -> None:
    """Only peers inside a trusted network are trusted; names and nonsense never are."""
    assert PROXIES.trusts("10.255.0.1") and PROXIES.trusts("192.0.2.7")
    assert not PROXIES.trusts("192.0.2.8")
    assert not PROXIES.trusts("11.0.0.1")
    assert not PROXIES.trusts("proxy.example")
    assert not PROXIES.trusts(None)
    assert not TrustedProxies().trusts("10.0.0.1")


def test_scheme_of_the_client_hop() -> None:
    """X-Forwarded-Proto is read at the client's hop when it lists one scheme per hop."""
    assert PROXIES.client("10.0.0.1", ["203.0.113.5, 10.0.0.2"], ["https, http"]).scheme == \
        "https"
    assert PROXIES.client("10.0.0.1", ["6.6.6.6, 203.0.113.5"], ["HTTPS"]).scheme == "https"
    assert PROXIES.client("10.0.0.1", ["203.0.113.5"], ["gopher"]).scheme is None
    assert PROXIES.client("10.0.0.1", ["203.0.113.5"], []).scheme is None


@pytest.mark.parametrize("spec, network", [("10.0.0.0/8", "10.0.0.0/8"),
                                           ("10.1.2.3/8", "10.0.0.0/8"),
                                           ("127.0.0.1", "127.0.0.1/32"),
                                           ("::ffff:127.0.0.1", "127.0.0.1/32"),
                                           ("[::1]", "::1/128"),
                                           ("fd00::/8", "fd00::/8")])
def test_trusted_proxy_values(spec: str, network: str) -> None:
    """--trusted-proxy takes an address (IPv4-mapped ones as IPv4) or a network."""
    assert [str(n) for n in TrustedProxies.parse([spec]).networks] == [network]


@pytest.mark.parametrize("spec", ["", "proxy.example", "10.0.0.0/33", "300.1.1.1", "10.0.0.1,"])
def test_bad_trusted_proxy_values_say_which(spec: str) -> None:
    """A value that is no address or network is refused with a sentence naming it."""
    with pytest.raises(ServerError) as refused:
        TrustedProxies.parse(["127.0.0.1", spec])
    assert repr(spec) in refused.value.message and "--trusted-proxy" in refused.value.message
