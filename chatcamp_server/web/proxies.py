"""Which client a request comes from when a trusted reverse proxy or load balancer relays it.

A proxy hides the client: every connection comes from the proxy's address, so the
per-address limits would count every client as one.  ``X-Forwarded-For`` and
``X-Forwarded-Proto`` say who the client is, but anyone can send them, so they are believed
only from the peers named by ``--trusted-proxy`` and ignored from everyone else.

The rule, the one nginx's ``real_ip_recursive`` and most frameworks follow: the entries of
``X-Forwarded-For`` are read from the right, since each proxy appends the address it saw;
trusted proxies are skipped, and the first entry that is not a trusted proxy is the client.
What a client wrote itself stands to the left of that and is never reached.  When every
entry is a trusted proxy, the left-most one is the client.  A header line that HAProxy's
``option forwardfor`` adds beside the client's own counts as the list's continuation, as
HTTP says repeated lines do.  An entry that is not an IP address, met before the client is
found, means the chain cannot be read: the request is taken as coming from the peer itself.
Nothing is refused, since the fault is a proxy's, not the client's.

``X-Forwarded-Proto`` is taken from the same hop as the client when it lists one scheme per
hop, otherwise its last entry, the one the nearest proxy wrote; only ``http`` and ``https``
are believed.

Written here rather than taken from aiohttp-remotes: its strict X-Forwarded middleware
refuses a request with two ``X-Forwarded-For`` lines (which ``option forwardfor`` produces
whenever a client sends its own) and answers a malformed chain with an error, takes the
client's left-most ``X-Forwarded-Proto`` entry, and would rewrite the Host that the Host
check relies on.  It would also be one more middleware, whose frame every WebSocket session
keeps for its whole life.  The rule itself is a few lines.
"""

from __future__ import annotations

import ipaddress
from typing import Iterable, NamedTuple, Sequence

from chatcamp_server.errors import ServerError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
SCHEMES = frozenset({"http", "https"})


def parse_address(text: str) -> Address | None:
    """An address as a proxy writes it (bare, or an IPv6 one in brackets); an IPv4-mapped
    IPv6 address is the IPv4 address it carries.  None for anything else."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_network(text: str) -> Network:
    """``--trusted-proxy``'s value: an address, or a network such as 10.0.0.0/8."""
    if "/" not in text:
        address = parse_address(text)
        if address is not None:
            return ipaddress.ip_network(address)
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ServerError(f"--trusted-proxy {text!r} is not an IP address or a network "
                          "such as 10.0.0.0/8", "BAD_TRUSTED_PROXY") from None


class Forwarded(NamedTuple):
    remote: str
    """The client's address, as ``request.remote`` should tell it."""
    scheme: str | None
    """The scheme the client used, or None to keep the connection's own."""


class TrustedProxies:
    def __init__(self, networks: Iterable[Network] = ()) -> None:
        self.networks = tuple(networks)

    @classmethod
    def parse(cls, specs: Iterable[str]) -> TrustedProxies:
        """From ``--trusted-proxy`` values; a bad one raises ``ServerError`` saying which."""
        return cls(parse_network(spec) for spec in specs)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, peer: str | None) -> bool:
        """Whether ``peer`` (a transport's peer address) is a trusted proxy."""
        if not self.networks or peer is None:
            return False
        address = parse_address(peer)
        return address is not None and self._trusted(address)

    def _trusted(self, address: Address) -> bool:
        return any(address in network for network in self.networks)

    def client(self, peer: str, forwarded_for: Sequence[str],
               forwarded_proto: Sequence[str] = ()) -> Forwarded:
        """The client of a request that a trusted ``peer`` relayed, from the lines of its
        ``X-Forwarded-For`` and ``X-Forwarded-Proto`` headers."""
        hops = [entry for line in forwarded_for for entry in line.split(",")]
        chosen: tuple[int, Address] | None = None
        for index in range(len(hops) - 1, -1, -1):
            address = parse_address(hops[index])
            if address is None:
                return Forwarded(peer, None)
            chosen = index, address
            if not self._trusted(address):
                break
        if chosen is None:
            return Forwarded(peer, None)
        index, address = chosen
        return Forwarded(str(address), _scheme(forwarded_proto, index, len(hops)))


def _scheme(forwarded_proto: Sequence[str], index: int, hops: int) -> str | None:
    schemes = [entry.strip().lower() for line in forwarded_proto for entry in line.split(",")]
    if not schemes:
        return None
    scheme = schemes[index] if len(schemes) == hops else schemes[-1]
    return scheme if scheme in SCHEMES else None
