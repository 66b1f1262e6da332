"""A real chatcamp-web server in a subprocess, as an integrator's tests need one.

The server is the installed ``chatcamp_server`` run as ``python -m chatcamp_server`` on a port
the system picks, with a database of its own in a temporary directory.  It is ready when it
writes its ``--ready-file``: nothing here reads the console, whose wording may change.
"""

from __future__ import annotations

import functools
import html
import json
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from chatcamp_client import Client

DEFAULT_ARGS = ("--new-users-per-address", "0")
"""A test suite logs in more new users from 127.0.0.1 than a default server allows one
address; options given to the fixture come after these and win."""
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
POLL_SECONDS = 0.05
"""How often the ready file is looked for: it has no event to wait on."""
OUTPUT_TAIL_LINES = 20


class ServerStartError(Exception):
    """The server (or the ``apps create`` before it) did not come up; the message carries the
    end of its output."""


@dataclass(frozen=True)
class ChatCampUser:
    """A user for a test: an ID never used before, and its access token when it has one."""

    id: str
    access_token: str | None = None


def new_user_id(prefix: str = "test") -> str:
    """A user ID no other test of the session uses, so tests never share a session."""
    return f"{prefix}-{secrets.token_hex(6)}"


class ChatCampServer:
    """One server process with an app made for the test session.

    ``url``, ``app_id`` and ``api_key`` are set by ``start``; ``client`` is the server-side
    client for that app.
    """

    def __init__(self, workdir: Path, options: Sequence[str] = (),
                 timeout: float = START_TIMEOUT) -> None:
        self.workdir = workdir
        self.options = tuple(options)
        self.timeout = timeout
        self.url = ""
        self.port = 0
        self.app_id = ""
        self.api_key = ""
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def database(self) -> Path:
        return self.workdir / "chat.sqlite3"

    @property
    def ready_file(self) -> Path:
        return self.workdir / "ready.json"

    @property
    def log_file(self) -> Path:
        """Everything the server printed, for reading after a failure."""
        return self.workdir / "server.log"

    @functools.cached_property
    def client(self) -> Client:
        """The server-side client for the session's app, made on first use."""
        return Client(self.url, self.api_key)

    def start(self) -> None:
        """Make the app, start the server, and return once its ready file says it serves."""
        self.app_id, self.api_key = self._create_app()
        self.ready_file.unlink(missing_ok=True)
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [*self._command(), "--port", "0", "--ready-file", str(self.ready_file),
                 *DEFAULT_ARGS, *self.options],
                cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        ready = self._wait_until_ready(self.process)
        self.url, self.port = ready["url"], ready["port"]

    def stop(self) -> None:
        """Ctrl-C, which closes every session at once; a server that hangs is killed."""
        if "client" in self.__dict__:
            self.client.close()
            del self.client
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def create_user(self, user_id: str | None = None, **profile: Any) -> ChatCampUser:
        """A user made through the server API (``users.create``) with a generated access
        token; ``profile`` takes that method's other fields, such as ``display_name``."""
        created = self.client.users.create(user_id or new_user_id(), **profile)
        return ChatCampUser(created["user"]["id"], created["access_token"])

    def widget_script(self, user_id: str | None = None, **data: str) -> str:
        """The widget's one-tag snippet for this server and app, as an integrator's page
        embeds it: ``data`` names further ``data-*`` attributes, ``token_url="/token"`` for
        ``data-token-url``."""
        attributes = {"app-id": self.app_id, "user-id": user_id or "",
                      **{name.replace("_", "-"): value for name, value in data.items()}}
        rendered = " ".join(f'data-{name}="{html.escape(value)}"'
                            for name, value in attributes.items())
        return f'<script src="{self.url}/static/widget.js" {rendered} async></script>'

    def output_tail(self, lines: int = OUTPUT_TAIL_LINES) -> str:
        if not self.log_file.exists():
            return ""
        text = self.log_file.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _command(self) -> list[str]:
        return [sys.executable, "-m", "chatcamp_server", "--db", str(self.database)]

    def _create_app(self) -> tuple[str, str]:
        """Made before the server starts, so the server makes no "first app" of its own; its
        API key is in memory only, never in a file or the output."""
        made = subprocess.run([*self._command(), "apps", "create", "pytest"], cwd=self.workdir,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=self.timeout)
        if made.returncode != 0:
            raise ServerStartError(f"`python -m chatcamp_server apps create` failed (exit "
                                   f"{made.returncode}):\n{made.stderr.strip()}")
        created = json.loads(made.stdout)
        return created["app_id"], created["api_key"]

    def _wait_until_ready(self, process: subprocess.Popen[bytes]) -> Any:
        deadline = time.monotonic() + self.timeout
        while True:
            if self.ready_file.exists():
                ready = json.loads(self.ready_file.read_text())
                if ready["pid"] == process.pid:
                    return ready
            code = process.poll()
            if code is not None:
                raise ServerStartError(f"the chatcamp-web server exited with code {code} "
                                       f"before it was ready; its last output:\n"
                                       f"{self.output_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(f"the chatcamp-web server was not ready within "
                                       f"{self.timeout:g} s; its last output:\n"
                                       f"{self.output_tail()}")
            time.sleep(POLL_SECONDS)
