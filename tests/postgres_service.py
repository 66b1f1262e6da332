"""A private PostgreSQL 15 for the tests and the benchmarks (which import this file).

Debian's server binaries, never a PostgreSQL the machine happens to run: a fresh cluster in a
temporary directory, listening on a free loopback port with its Unix socket beside its data,
so two test sessions on one machine never meet.  ``fsync`` and full-page writes are off,
since the data dies with the session; commits stay synchronous, so a committed row survives
``stop()`` (a crash of the server, not of the machine) as it would in production.  The tests' own user logs
in over loopback without a password; any other user must give a password, so a test can see
an authentication failure.  ``initdb`` refuses to run as root, so under root the binaries run
as the ``postgres`` system user.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest
from server_process import free_port

BIN = Path("/usr/lib/postgresql/15/bin")
USER = "chat"
START_TIMEOUT = 20.0


class PostgresServer:
    """One PostgreSQL cluster: ``start()``, ``stop()``, and a fresh database per test."""

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="chatcamp-pg-"))
        self.data = self.workdir / "data"
        self.port = free_port()
        self.user = USER
        self._names = itertools.count(1)
        self._as_owner: list[str] = []
        self.running = False
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres", "postgres")
            self._as_owner = ["runuser", "-u", "postgres", "--"]

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str) -> None:
        result = subprocess.run([*self._as_owner, *command], capture_output=True, text=True,
                                timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout}{result.stderr}"
                               + self._log_tail())

    def _log_tail(self) -> str:
        log = self.workdir / "postgres.log"
        return log.read_text()[-3000:] if log.exists() else ""

    def init(self) -> None:
        self._run(str(BIN / "initdb"), "-D", str(self.data), "-U", self.user, "-E", "UTF8",
                  "--auth=trust", "--no-sync", "--no-instructions")
        (self.data / "pg_hba.conf").write_text(
            "local all all trust\n"
            f"host all {self.user} 127.0.0.1/32 trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n")

    def start(self) -> None:
        """Start the cluster and return once it accepts connections (``pg_ctl -w``)."""
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.workdir}"
                   " -c fsync=off -c full_page_writes=off")
        self._run(str(BIN / "pg_ctl"), "-D", str(self.data), "-l",
                  str(self.workdir / "postgres.log"), "-w", "-t", str(int(START_TIMEOUT)),
                  "-o", options, "start")
        self.wait_ready()
        self.running = True

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while subprocess.run([str(BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p",
                              str(self.port), "-U", self.user]).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError("PostgreSQL did not become ready:\n" + self._log_tail())
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop at once, as a crash would: every client sees its connection end."""
        self._run(str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        self.running = False

    def create_database(self) -> str:
        """A new, empty database's name: cheap enough for one per test."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        self._run(str(BIN / "createdb"), "-h", str(self.workdir), "-p", str(self.port),
                  "-U", self.user, name)
        return name

    def remove(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One private PostgreSQL per test session, stopped and deleted at its end."""
    server = PostgresServer()
    try:
        server.init()
        server.start()
        yield server
    finally:
        if server.running:
            server.stop()
        server.remove()
