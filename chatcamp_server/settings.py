"""Limits and tunables, each with a default a deployment should never need to change.

They live in one frozen object so tests can shrink a limit for one server without
monkeypatching, and so the numbers the documentation promises are written exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Limits:
    max_frame_bytes: int = 64 * 1024
    """Frames above this get a ``PAYLOAD_TOO_LARGE`` error ack; the session stays open."""
    transport_max_bytes: int = 1024 * 1024
    """Frames above this are not even read: the socket is closed with 1009, as RFC 6455 allows."""
    idle_timeout: float = 300.0
    """The SDK pings every 60 s; a socket silent for five pings' time is dead."""
    session_key_ttl: float = 24 * 3600.0
    """How long a session key lets the SDK resume without its user ID and token."""
    max_user_id_chars: int = 128
    max_app_id_chars: int = 64
    min_token_chars: int = 16
    max_token_chars: int = 512
    max_api_body_bytes: int = 64 * 1024
    max_profile_field_chars: int = 2048
    max_data_chars: int = 16 * 1024
    max_metadata_bytes: int = 16 * 1024
    failed_logins_per_user: int = 10
    """Failed logins as one (app, user) within the window before that user is locked out."""
    failed_logins_per_address: int = 100
    """Failed logins (and wrong API keys) from one address within the window; 0 turns the
    per-address limit off, for a server behind a proxy that hides client addresses."""
    failed_login_window: float = 300.0
    failed_login_keys: int = 100_000
    """Users and addresses tracked at once; the least recently failed are forgotten first."""


DEFAULT_LIMITS = Limits()
