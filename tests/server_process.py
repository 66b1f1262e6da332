"""``serve.py`` in a subprocess, for the tests and the benchmarks (which import this file)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

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
    options: tuple[str, ...] = ()
    """Extra ``serve.py`` options, e.g. ``("--failed-logins-per-address", "3")``."""
    proc: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)
    database: str | None = None
    """A ``postgresql://`` URL that other nodes share; None: a SQLite file of this process's."""
    secret_file: Path | None = None
    """The secret file every node of a cluster shares (with ``database``)."""

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
        storage = (["--database", self.database, "--secret-file", str(self.secret_file)]
                   if self.database else ["--db", str(self.db)])
        return [sys.executable, str(ROOT / "serve.py"), *storage, *args]

    def create_app(self, name: str = "test app") -> None:
        """Make an app with the CLI and use it: a shared database gets no first app."""
        made = self.run_cli("apps", "create", name)
        assert made.returncode == 0, made.stderr
        created = json.loads(made.stdout)
        self.app_id, self.api_key = created["app_id"], created["api_key"]

    def start(self, timeout: float = 20.0) -> None:
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            self.command("--port", str(self.port), *self.options), cwd=ROOT, stdout=subprocess.PIPE,
            stderr=log, text=True, bufsize=1)
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"serve.py exited early:\n{self.log_path.read_text()}")
            self.output.append(line)
            if line.startswith("Created the first app"):
                first = json.loads(Path(str(self.db) + ".first-app.json").read_text())
                self.app_id, self.api_key = first["app_id"], first["api_key"]
            if line.startswith("Serving on"):
                return
        raise RuntimeError("serve.py did not start in time")

    def stop(self, sig: int = signal.SIGINT) -> None:
        """SIGINT closes at once; SIGTERM would drain over the drain window first."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=15)
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def demo_app(self) -> tuple[str, str]:
        """The demo's own app ID and API key, read the way the demo reads them: sealed in its
        table under the server secret (the key is shown nowhere)."""
        import sqlite3

        from chatcamp_server.keys import ServerKeys, load_or_create_secret
        from chatcamp_server.web.demo import CONFIG_KEY

        keys = ServerKeys(load_or_create_secret(Path(str(self.db) + ".secret")))
        with sqlite3.connect(self.db) as db:
            sealed = db.execute("SELECT value FROM demo_kv WHERE key=?", (CONFIG_KEY,)).fetchone()
        config = json.loads(keys.unseal(sealed[0], "demo-config") or "{}")
        return config["app_id"], config["api_key"]

    def run_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(*args), cwd=ROOT, capture_output=True, text=True,
                              timeout=60)
