"""Limits and tunables, each with a default a deployment should never need to change.

They live in one frozen object so tests can shrink a limit for one server without
monkeypatching, and so the numbers the documentation promises are written exactly once.
"""

from __future__ import annotations

import importlib.util
import runpy
from dataclasses import dataclass
from pathlib import Path


def browser_limits(package: Path | None = None) -> dict[str, int]:
    """``chatcamp_web/limits.py``'s constants (of ``package``, or the installed one), read by
    running that one file: importing it would run the package's ``__init__``, which needs
    the browser's ``js`` module."""
    if package is None:
        spec = importlib.util.find_spec("chatcamp_web")
        assert spec is not None and spec.submodule_search_locations, "chatcamp_web is missing"
        package = Path(list(spec.submodule_search_locations)[0])
    found = runpy.run_path(str(package / "limits.py"))
    return {name: int(value) for name, value in found.items() if name.isupper()}


BROWSER = browser_limits()


@dataclass(frozen=True, kw_only=True)
class Limits:
    max_frame_bytes: int = 64 * 1024
    """Frames above this get a ``PAYLOAD_TOO_LARGE`` error ack without being parsed; the
    session stays open."""
    transport_max_bytes: int = 128 * 1024
    """Frames above this are not even read: the socket is closed with 1009, as RFC 6455 allows.
    Compression is off, so this bounds what one frame can make the server hold."""
    frames_per_second: float = 20.0
    """Sustained requests one session may send; above it they get ``RATE_LIMITED`` error acks
    and are not served.  The SDK sends a ping a minute and one request per user action."""
    frame_burst: int = 40
    """Requests a session may send at once before ``frames_per_second`` applies."""
    messages_per_second: float = 5.0
    """Messages one session may post, edit or delete a second, sustained; above it they get
    ``RATE_LIMITED`` error acks.  Each is stored and pushed to every participant."""
    message_burst: int = 10
    """Messages a session may send at once before ``messages_per_second`` applies."""
    max_message_chars: int = BROWSER["MAX_MESSAGE_CHARS"]
    """Characters (code points) in one message's text (``chatcamp_web/limits.py``)."""
    history_page_max: int = 100
    """Messages one ``history`` request may ask for."""
    list_page_max: int = 100
    """Channels or participants one list request may ask for."""
    open_channels_per_user: int = 100
    """Open channels one user may be a participant of at once."""
    group_channels_per_user: int = 10_000
    """Group channels one user may be in (member or invited): ``my_list`` pages by keyset,
    so an inbox this large costs a page what a small one does."""
    group_channel_max_participants: int = BROWSER["MAX_GROUP_CHANNEL_PARTICIPANTS"]
    """Members and invitees of one group channel, Sendbird's default for a group channel
    (``chatcamp_web/limits.py``): a channel is shown with all of them."""
    typing_per_second: float = 0.5
    """Typing events (start or stop) one session may send a second, sustained; above it they
    get ``RATE_LIMITED`` error acks (which the SDK ignores) and are not pushed."""
    typing_burst: int = 6
    outbox_max_bytes: int = 1024 * 1024
    """Frames waiting for one session's socket: past this the client is reading too slowly,
    and its socket is closed (the session stays, for the SDK to resume), as Centrifugo's 1 MB
    client queue does."""
    request_head_timeout: float = 10.0
    """Time a client has to send a complete request head (a WebSocket upgrade included) after
    connecting, or from the first byte of a keep-alive connection's next head; websockets
    uses 10 s, nginx 60 s."""
    request_body_timeout: float = 10.0
    """Time a client has to send a server-API body once its head has arrived."""
    keepalive_timeout: float = 15.0
    """An idle keep-alive connection is closed after this; a browser simply opens a new one."""
    connections_per_address: int = 256
    """Open connections (sessions included) from one client address; 0 turns the cap off,
    as a server behind a proxy that hides client addresses needs."""
    idle_timeout: float = 300.0
    """The SDK pings every 60 s; a socket silent for five pings' time is dead."""
    session_key_ttl: float = 24 * 3600.0
    """How long a session key lets the SDK resume without its user ID and token."""
    max_user_id_chars: int = BROWSER["MAX_USER_ID_CHARS"]
    max_app_id_chars: int = BROWSER["MAX_APP_ID_CHARS"]
    min_token_chars: int = 16
    max_token_chars: int = 512
    """Opaque tokens (issued, or set through ``users.create``/``users.update``)."""
    max_jwt_chars: int = 4096
    """Tokens an integrator's backend signs (JWTs): longer ones are refused unread."""
    jwt_leeway: float = 30.0
    """Seconds of clock skew allowed to a signed token's ``nbf`` and ``iat`` (an ``iat`` up to
    this far in the future is accepted); ``exp`` gets none."""
    verified_tokens: int = 10_000
    """Signed tokens remembered as verified (under a KiB each), so that a login with
    one again skips the signature check; every other check runs each time.  0 turns it
    off."""
    signing_keys_per_app: int = 5
    """Active signing keys one app may hold at once: two suffice for a rotation."""
    max_api_body_bytes: int = 64 * 1024
    max_profile_field_chars: int = 2048
    max_data_chars: int = 16 * 1024
    max_metadata_bytes: int = 16 * 1024
    failed_logins_per_user_address: int = 10
    """Failed logins as one (app, user) from one address within the window before that pair
    must wait; the user's logins from other addresses are untouched."""
    failed_logins_per_user: int = 100
    """Failed logins as one (app, user) from all addresses within the window, after which the
    user's logins are refused from every address that has not logged in as them recently: a
    brute force spread over many addresses stays bounded, and the user is not locked out."""
    known_address_seconds: float = 30 * 86400.0
    """How long an address that logged in as a user stays exempt from that user's ceiling."""
    failed_logins_per_address: int = 100
    """Failed logins (and wrong API keys) from one address within the window; 0 turns the
    per-address limit off, for a server behind a proxy that hides client addresses."""
    failed_login_window: float = 300.0
    new_users_per_address: int = 50
    """Users one address may create by ID login within ``failed_login_window``; 0 turns it off."""
    failed_login_keys: int = 100_000
    """Entries each login limit tracks at once (users, addresses, pairs, known addresses);
    the least recent are forgotten first."""
    dashboard_idle_timeout: float = 30 * 60.0
    """A dashboard session unused for this long is over (OWASP's advice for a console with
    high-value actions is 15 to 30 minutes); the live view's polling does not count as use."""
    dashboard_session_lifetime: float = 12 * 3600.0
    """However busy, a dashboard session lasts at most a working day."""
    dashboard_page_size: int = 50
    """Users on one page of the dashboard's search, and audit entries on one page."""


DEFAULT_LIMITS = Limits()
