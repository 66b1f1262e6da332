"""Fixtures shared by the three tiers: a real ``serve.py`` process and Debian's Chromium."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest

from site_server import PageSite

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServerProcess:
    """``serve.py`` in a subprocess on a free port, with its own database and secret."""

    workdir: Path
    port: int = field(default_factory=free_port)
    app_id: str = ""
    api_key: str = ""
    proc: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/chat/2.0"

    @property
    def db(self) -> Path:
        return self.workdir / "chat.sqlite3"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    def command(self, *args: str) -> list[str]:
        return [sys.executable, str(ROOT / "serve.py"), "--db", str(self.db), *args]

    def start(self, timeout: float = 20.0) -> None:
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            self.command("--port", str(self.port)), cwd=ROOT, stdout=subprocess.PIPE,
            stderr=log, text=True, bufsize=1)
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"serve.py exited early:\n{self.log_path.read_text()}")
            self.output.append(line)
            if match := re.match(r"\s+APP_ID\s+(\S+)", line):
                self.app_id = match.group(1)
            if match := re.match(r"\s+API_KEY\s+(\S+)", line):
                self.api_key = match.group(1)
            if line.startswith("Serving on"):
                return
        raise RuntimeError("serve.py did not start in time")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=15)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def run_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(*args), cwd=ROOT, capture_output=True, text=True,
                              timeout=60)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server per test module; tests use fresh user IDs so they do not interfere."""
    proc = ServerProcess(tmp_path_factory.mktemp("server"))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def api(server: ServerProcess) -> Any:
    """A synchronous server-API caller: ``api("users.create", {...}) -> (status, body)``."""
    import urllib.error
    import urllib.request

    def call(method: str, body: Any, api_key: str | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{server.base_url}/api/2.0/{method}", data=data, method="POST",
            headers={"Content-Type": "application/json",
                     "x-api-key": server.api_key if api_key is None else api_key,
                     **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=10) as reply:
                return reply.status, json.loads(reply.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    return call


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
        page.on("console", lambda m: m.type == "error" and guard.errors.append(m.text))
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
    """Poll ``condition`` until it returns something truthy; fail with its last value."""
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
