"""Creating apps: 19-digit IDs like ChatCamp's, API keys shown once and stored as keyed hashes."""

from __future__ import annotations

import secrets
import time

from . import validation
from .auth import API_KEY_MAC
from .errors import BadRequest
from .keys import API_KEY_PREFIX, ServerKeys, random_secret
from .settings import Limits
from .store import App, Store

MIN_API_KEY_CHARS = 16


def new_app_id() -> str:
    """A random 19-digit number: the iFlyChat plugin only talks to 19-character app IDs."""
    return str(10**18 + secrets.randbelow(9 * 10**18))


def check_origin(origin: str) -> str:
    """An exact origin (scheme://host[:port]) as browsers send it in the Origin header."""
    scheme, sep, rest = origin.partition("://")
    if scheme not in ("http", "https") or not sep or not rest or "/" in rest or origin != origin.strip():
        raise BadRequest(f"{origin!r} is not an origin like https://example.com:8443",
                         "INVALID_ORIGIN")
    return origin


async def create_app(store: Store, keys: ServerKeys, limits: Limits, name: str,
                     app_id: str | None = None, api_key: str | None = None,
                     allowed_origins: tuple[str, ...] = ()) -> tuple[App, str]:
    """Make an app; an integrator moving from ChatCamp may keep their app ID and API key."""
    app_id = validation.app_id(app_id, limits) if app_id is not None else new_app_id()
    if api_key is None:
        api_key = random_secret(API_KEY_PREFIX)
    elif len(api_key) < MIN_API_KEY_CHARS or not all("!" <= c <= "~" for c in api_key):
        raise BadRequest(f"an API key must be at least {MIN_API_KEY_CHARS} printable characters",
                         "INVALID_API_KEY")
    name = validation.text_field(name, "name", 200)
    app = App(app_id, name, tuple(check_origin(o) for o in allowed_origins), time.time())
    await store.create_app(app, keys.mac(API_KEY_MAC, api_key))
    return app, api_key
