"""Fixtures shared by the three tiers: a real ``serve.py`` process and Debian's Chromium."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Iterator
from urllib.parse import urlsplit

import aiohttp
import pytest
from postgres_service import postgres_server  # noqa: F401
from redis_service import redis_server  # noqa: F401
from server_process import CHROMIUM, ServerProcess
from site_server import PageSite


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server per test module, demo on; tests use fresh user IDs so they do not interfere,
    and make more users from one address than a stranger may (tests/test_safe_defaults.py
    tests that limit)."""
    proc = ServerProcess(tmp_path_factory.mktemp("server"),
                         options=("--demo", "--new-users-per-address", "0"))
    proc.start()
    yield proc
    proc.stop()


def api_caller(server: ServerProcess) -> Any:
    """A synchronous server-API caller: ``call("users.create", {...}) -> (status, body)``.

    A JSON object goes through ``chatcamp_client``'s ``Client.call``, so every test that calls
    the API uses the integrators' client; a refusal is answered as the status and the error
    body the server sent (``{"ok": false, "error": {code, message}}``), for the tests that
    check them; no answer at all is the client's ``TransportError``. Anything else
    (malformed bytes, a JSON array) cannot be a call of the client and is posted as is
    through the client's own HTTP connection.
    """
    from chatcamp_client import ChatCampApiError, Client, TransportError

    def call(method: str, body: Any, api_key: str | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
        key = server.api_key if api_key is None else api_key
        with Client(server.base_url, key, headers=headers) as client:
            if not isinstance(body, dict):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                reply = client.http.post(f"/api/2.0/{method}", content=data)
                return reply.status_code, reply.json()
            try:
                return 200, client.call(method, body)
            except TransportError:
                raise  # no answer came: the test fails with the client's sentence
            except ChatCampApiError as refused:
                return refused.status, {"ok": False, "error": {"code": refused.code,
                                                               "message": refused.message}}

    return call


@pytest.fixture
def api(server: ServerProcess) -> Any:
    """The server API of the module's server (see ``api_caller``)."""
    return api_caller(server)


@pytest.fixture
def demo_api(server: ServerProcess) -> Any:
    """The server API of the demo's own app."""
    app_id, api_key = server.demo_app()
    call = api_caller(server)
    return lambda method, body: call(method, body, api_key)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp client session for real-server tests (see ``ws_client.py``)."""
    async with aiohttp.ClientSession() as session:
        yield session


# Debian's Chromium for pytest-playwright (Playwright's own browser download is never used).

@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": CHROMIUM,
            "args": ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--disable-background-networking", "--disable-component-update",
                     "--no-first-run", "--disable-sync"]}


@dataclass
class BrowserGuard:
    """Records off-origin requests (aborted) and console/page errors for one browser context."""

    allowed_origins: set[str]
    off_origin: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def check(self) -> None:
        assert self.off_origin == [], f"requests left the test origins: {self.off_origin}"
        assert self.errors == [], f"console errors: {self.errors}"


@pytest.fixture(scope="session")
def site() -> Iterator[PageSite]:
    """Test pages on their own origin, as an integrator's site would serve them."""
    test_site = PageSite()
    yield test_site
    test_site.close()


def install_guard(context: Any, origins: set[str]) -> BrowserGuard:
    """Abort and record any request off ``origins``; collect console errors, page errors and
    dialogs of every page of ``context``."""
    guard = BrowserGuard(origins)

    def route(route: Any) -> None:
        parts = urlsplit(route.request.url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if parts.scheme in ("data", "blob") or origin in guard.allowed_origins:
            route.fallback()
        else:
            guard.off_origin.append(route.request.url)
            route.abort()

    context.route("**/*", route)

    def on_page(page: Any) -> None:
        page.on("console", lambda m: m.type == "error" and guard.errors.append(
            f"{m.text} [{m.location.get('url', '')}]"))
        page.on("pageerror", lambda e: guard.errors.append(str(e)))
        page.on("dialog", lambda d: (guard.errors.append("dialog: " + d.message), d.dismiss()))

    for page in context.pages:
        on_page(page)
    context.on("page", on_page)
    return guard


@pytest.fixture
def guard(context: Any, server: ServerProcess, site: PageSite) -> BrowserGuard:
    """The offline guard for the test server and the test site."""
    return install_guard(context, {server.base_url, site.origin})


def wait_until(condition: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``condition`` until it returns something truthy; fail with its last value.

    It sleeps without calling Playwright, and the offline guard's route handler runs only
    inside Playwright calls: while it polls, a page's new requests stall. Wait on the page
    (a locator) for anything that needs the page to load more.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            assert value, f"condition not met within {timeout} s (last value: {value!r})"
            return value
        time.sleep(interval)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run browser tests last: Playwright's sync API leaves an event loop marked running on the
    main thread, after which pytest-asyncio cannot start its own loop for async tests."""
    items.sort(key=lambda item: "browser" in getattr(item, "fixturenames", ()))
