"""A private HAProxy in front of ``serve.py`` nodes, run from ``deploy/haproxy.cfg`` itself.

The shipped configuration names two nodes by environment variables; ``HAProxyService`` puts
one ``server`` line per node of its list in their place and changes nothing else, so what
the tests exercise is what the README shows.  HAProxy runs in the foreground (``-db``) on a
free loopback port, with its admin socket in the work directory, and is never a service.
"""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from server_process import ROOT, free_port

HAPROXY = "/usr/sbin/haproxy"
CONFIG = ROOT / "deploy" / "haproxy.cfg"
SERVER_LINE = re.compile(r"\s*server\s")


def with_nodes(config: str, nodes: Sequence[tuple[str, int]]) -> str:
    """``config`` with its ``server`` lines replaced by one line per node (node1, node2 …)."""
    out: list[str] = []
    placed = False
    for line in config.splitlines():
        if SERVER_LINE.match(line):
            if not placed:
                indent = line[:len(line) - len(line.lstrip())]
                out += [f"{indent}server node{n} {host}:{port}"
                        for n, (host, port) in enumerate(nodes, 1)]
                placed = True
            continue
        out.append(line)
    assert placed, f"{CONFIG} has no server line to replace"
    return "\n".join(out) + "\n"


@dataclass
class HAProxyService:
    """HAProxy on 127.0.0.1:``port`` before ``nodes``; ``host`` is the Host of the public
    origin the nodes answer for (by default HAProxy's own address, as the tests use it)."""

    workdir: Path
    nodes: Sequence[tuple[str, int]]
    port: int = field(default_factory=free_port)
    check_path: str = "/readyz"
    host: str = ""
    proc: subprocess.Popen[bytes] | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.origin

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/chat/2.0"

    @property
    def socket_path(self) -> Path:
        return self.workdir / "haproxy.sock"

    @property
    def log_path(self) -> Path:
        return self.workdir / "haproxy.log"

    def start(self, timeout: float = 10.0) -> None:
        """Write the configuration, start HAProxy and return once it accepts connections and
        its admin socket answers."""
        config = self.workdir / "haproxy.cfg"
        config.write_text(with_nodes(CONFIG.read_text(), self.nodes))
        env = {**os.environ, "CHATCAMP_BIND": f"127.0.0.1:{self.port}",
               "CHATCAMP_HOST": self.host or f"127.0.0.1:{self.port}",
               "CHATCAMP_CHECK_PATH": self.check_path,
               "CHATCAMP_HAPROXY_SOCKET": str(self.socket_path)}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([HAPROXY, "-f", str(config), "-db"], env=env,
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"haproxy exited with {self.proc.returncode}:\n{self.log()}")
            if self._listening():
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"haproxy did not start within {timeout} s:\n{self.log()}")

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                pass
            self.command("show info")
        except OSError:
            return False
        return True

    def stop(self) -> None:
        """SIGUSR1 would wait for every tunnel to end; the tests want HAProxy gone now."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        self.proc = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def command(self, line: str) -> str:
        """One command on the admin socket (``show stat``, ``disable server …``)."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(str(self.socket_path))
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def statuses(self) -> dict[str, str]:
        """HAProxy's view of each node: ``UP``, ``DOWN``, ``UP 1/2`` (going down) …"""
        rows = csv.DictReader(io.StringIO(self.command("show stat").lstrip("# ")))
        return {row["svname"]: row["status"] for row in rows
                if row["pxname"] == "chatcamp_nodes" and row["svname"] not in
                ("FRONTEND", "BACKEND")}

    def wait_for(self, node: str, status: str, timeout: float = 10.0) -> None:
        """Until HAProxy reports ``node`` (``node1`` …) as ``status``; fails with its last view."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.statuses()
            if seen.get(node) == status:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{node} not {status} within {timeout} s: {seen}")
            time.sleep(0.05)
