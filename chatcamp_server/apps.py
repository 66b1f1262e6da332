"""Creating apps: 19-digit IDs like ChatCamp's, API keys shown once and stored as keyed hashes."""

from __future__ import annotations

import secrets
import time

from chatcamp_server import validation
from chatcamp_server.errors import BadRequest, NotFound
from chatcamp_server.keys import API_KEY_PREFIX, ServerKeys, random_secret
from chatcamp_server.policies import check_origin
from chatcamp_server.sessions.auth import API_KEY_MAC
from chatcamp_server.settings import Limits
from chatcamp_server.storage.store import App, Store

MAX_ALLOWED_ORIGINS = 100

MIN_API_KEY_CHARS = 16


def new_app_id() -> str:
    """A random 19-digit number: the iFlyChat plugin only talks to 19-character app IDs."""
    return str(10**18 + secrets.randbelow(9 * 10**18))


async def create_app(store: Store, keys: ServerKeys, limits: Limits, name: str,
                     app_id: str | None = None, api_key: str | None = None,
                     origins: tuple[str, ...] = (),
                     require_access_token: bool = False) -> tuple[App, str]:
    """Make an app; an integrator moving from ChatCamp may keep their app ID and API key."""
    app_id = validation.app_id(app_id, limits) if app_id is not None else new_app_id()
    if api_key is None:
        api_key = random_secret(API_KEY_PREFIX)
    elif len(api_key) < MIN_API_KEY_CHARS or not all("!" <= c <= "~" for c in api_key):
        raise BadRequest(f"an API key must be at least {MIN_API_KEY_CHARS} printable characters",
                         "INVALID_API_KEY")
    name = validation.text_field(name, "name", 200)
    app = App(app_id, name, tuple(check_origin(o) for o in origins), time.time(),
              require_access_token)
    await store.create_app(app, keys.mac(API_KEY_MAC, api_key))
    return app, api_key


def describe(app: App) -> dict[str, object]:
    """An app as the server API and the CLI show it: never its API key."""
    return {"app_id": app.id, "name": app.name, "allowed_origins": list(app.allowed_origins),
            "require_access_token": app.require_access_token, "created_at": app.created_at}


def allowed_origins(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_ALLOWED_ORIGINS or \
            not all(isinstance(o, str) for o in value):
        raise BadRequest(f"allowed_origins must be a list of at most {MAX_ALLOWED_ORIGINS} "
                         "origins", "INVALID_FIELD")
    return tuple(dict.fromkeys(check_origin(o) for o in value))


async def update_policies(store: Store, app_id: str, body: dict[str, object]) -> App:
    """Apply ``allowed_origins`` and/or ``require_access_token`` from ``body``."""
    origins = allowed_origins(body["allowed_origins"]) if "allowed_origins" in body else None
    require = (validation.flag(body["require_access_token"], "require_access_token")
               if "require_access_token" in body else None)
    if origins is None and require is None:
        raise BadRequest("give allowed_origins and/or require_access_token", "NOTHING_TO_UPDATE")
    app = await store.update_app(app_id, origins, require)
    if app is None:
        raise NotFound(f"no app {app_id}", "APP_NOT_FOUND")
    return app


async def rotate_api_key(store: Store, keys: ServerKeys, app_id: str) -> str:
    """A new API key for the app, returned to be shown once; the old one is refused from the
    next request on, on every node, since each request looks its key's hash up."""
    api_key = random_secret(API_KEY_PREFIX)
    if await store.replace_api_key(app_id, keys.mac(API_KEY_MAC, api_key)) is None:
        raise NotFound(f"no app {app_id}", "APP_NOT_FOUND")
    return api_key
