"""Real processes: ``--ready-file`` and ``--port 0``, the signal a harness waits on."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from server_process import ROOT

from chatcamp_server import __version__


def start(tmp_path: Path, *options: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "chatcamp_server", "--db", str(tmp_path / "chat.sqlite3"),
         *options], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for_file(path: Path, proc: subprocess.Popen[str], timeout: float = 20.0) -> Any:
    """The file's JSON once it exists; a process that exits first fails with its stderr."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            assert proc.stderr is not None
            raise AssertionError(f"the server exited first: {proc.stderr.read()}")
        assert time.monotonic() < deadline, f"no {path} within {timeout} s"
        time.sleep(0.05)
    return json.loads(path.read_text())


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as reply:
        return reply.status, reply.read().decode()


def stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGINT)
    return proc.wait(timeout=15)


def test_port_zero_is_reported_in_a_private_ready_file(tmp_path: Path) -> None:
    """--port 0 binds a free port; the ready file (0600, whole, no temp left) names it, the
    pid, the version and the metrics port, and both listeners answer there at once."""
    ready_file = tmp_path / "run" / "ready.json"
    proc = start(tmp_path, "--port", "0", "--metrics-port", "0", "--ready-file", str(ready_file))
    try:
        ready = wait_for_file(ready_file, proc)
        assert set(ready) == {"url", "port", "pid", "version", "metrics_port"}
        assert ready["url"] == f"http://127.0.0.1:{ready['port']}" and ready["port"] > 0
        assert ready["pid"] == proc.pid and ready["version"] == __version__
        assert stat.S_IMODE(ready_file.stat().st_mode) == 0o600
        assert os.listdir(ready_file.parent) == ["ready.json"]
        assert get(ready["url"] + "/readyz")[0] == 200
        status, metrics = get(f"http://127.0.0.1:{ready['metrics_port']}/metrics")
        assert status == 200 and "chatcamp_" in metrics
    finally:
        assert stop(proc) == 0


def test_ready_file_is_removed_at_a_clean_stop(tmp_path: Path) -> None:
    """After Ctrl-C the ready file is gone, so a stale one never passes for a live server."""
    ready_file = tmp_path / "ready.json"
    proc = start(tmp_path, "--port", "0", "--ready-file", str(ready_file))
    wait_for_file(ready_file, proc)
    assert stop(proc) == 0
    assert not ready_file.exists()


def test_ready_file_omits_metrics_port_without_metrics(tmp_path: Path) -> None:
    """Without --metrics-port the ready file has exactly url, port, pid and version."""
    ready_file = tmp_path / "ready.json"
    proc = start(tmp_path, "--port", "0", "--ready-file", str(ready_file))
    try:
        assert set(wait_for_file(ready_file, proc)) == {"url", "port", "pid", "version"}
    finally:
        stop(proc)


def test_unwritable_ready_file_stops_the_server_with_a_sentence(tmp_path: Path) -> None:
    """A ready file that cannot be written stops the start with one line, not a traceback."""
    (tmp_path / "taken").mkdir()
    proc = start(tmp_path, "--port", "0", "--ready-file", str(tmp_path / "taken"))
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert f"cannot write the ready file {tmp_path / 'taken'}" in stderr
    assert "Traceback" not in stderr
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
