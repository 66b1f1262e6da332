"""Real processes: serve.py's command line, first start, and clear errors instead of tracebacks."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

from server_process import ROOT, ServerProcess


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "serve.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_apps_create_prints_one_json_line(tmp_path: Path) -> None:
    """apps create NAME prints {"app_id", "api_key"}; the ID has 19 digits, no dash."""
    result = run("apps", "create", "shop", "--db", str(tmp_path / "a.db"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    created = json.loads(lines[0])
    assert set(created) == {"app_id", "api_key"}
    assert re.fullmatch(r"[1-9]\d{18}", created["app_id"])
    assert created["api_key"].startswith("cck_")


def test_apps_create_keeps_existing_chatcamp_ids(tmp_path: Path) -> None:
    """--app-id and --api-key keep an integrator's existing configuration; --db before or after."""
    db = str(tmp_path / "a.db")
    result = run("--db", db, "apps", "create", "moved", "--app-id", "6346990561630613504",
                 "--api-key", "my-old-chatcamp-api-key")
    assert json.loads(result.stdout) == {"app_id": "6346990561630613504",
                                         "api_key": "my-old-chatcamp-api-key"}
    listed = run("apps", "list", "--db", db)
    assert json.loads(listed.stdout)["app_id"] == "6346990561630613504"
    assert "my-old-chatcamp-api-key" not in listed.stdout


def test_apps_create_errors_are_sentences(tmp_path: Path) -> None:
    """Bad or taken IDs and short keys fail with one clear line and exit code 1."""
    db = str(tmp_path / "a.db")
    run("apps", "create", "a", "--db", db, "--app-id", "1111111111111111111")
    for args, words in ((["--app-id", "has-dash"], "letters, digits or '_'"),
                        (["--app-id", "1111111111111111111"], "already exists"),
                        (["--api-key", "short"], "at least 16"),
                        (["--allowed-origin", "shop.example"], "is not an origin")):
        result = run("apps", "create", "b", "--db", db, *args)
        assert result.returncode == 1 and words in result.stderr
        assert "Traceback" not in result.stderr


def test_help_documents_every_option() -> None:
    """--help names every option of the server and of apps create."""
    main = run("--help").stdout
    for option in ("--host", "--port", "--db", "--secret-file", "--log-level", "--demo",
                   "--public-origin", "--connections-per-address", "--new-users-per-address"):
        assert option in main
    create = run("apps", "create", "--help").stdout
    for option in ("--app-id", "--api-key", "--allowed-origin", "--db"):
        assert option in create


def test_first_start_prints_app_once_and_restart_keeps_it(tmp_path: Path) -> None:
    """The first start creates an app and names it; the second start makes none and keeps it."""
    server = ServerProcess(tmp_path)
    server.start()
    first_app = server.app_id
    assert re.fullmatch(r"\d{19}", first_app) and server.api_key.startswith("cck_")
    printed_before = len(server.output)
    server.restart()
    assert not any("first app" in line for line in server.output[printed_before:])
    listed = json.loads(server.run_cli("apps", "list").stdout)
    assert listed["app_id"] == first_app
    server.stop()


def test_ctrl_c_the_moment_serving_is_printed_stops_cleanly(tmp_path: Path) -> None:
    """A SIGINT sent as soon as "Serving on" appears finds the server's own handler in place:
    a clean stop with status 0, not an interrupt in the middle of start-up."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "serve.py"), "--db",
                             str(tmp_path / "a.db"), "--port", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("Serving on"):
            proc.send_signal(signal.SIGINT)
            break
    assert proc.wait(timeout=30) == 0
    assert "Traceback" not in proc.stdout.read()


def test_corrupt_database_is_a_clear_error(tmp_path: Path) -> None:
    """A file that is not a database stops start-up with a sentence, not a traceback."""
    db = tmp_path / "bad.db"
    db.write_bytes(b"this is not sqlite" * 100)
    result = run("--db", str(db), "--port", "0")
    assert result.returncode == 1
    assert "cannot open the database" in result.stderr and "Traceback" not in result.stderr


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    """A taken port stops start-up with a sentence, not a traceback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = run("--db", str(tmp_path / "a.db"), "--port", str(port))
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr


def test_python_dash_m_is_serve_py_under_its_own_name() -> None:
    """``python -m chatcamp_server`` has serve.py's options and subcommands, word for word,
    named as it is run; ``--version`` prints the one version both share."""
    from chatcamp_server import __version__

    module = subprocess.run([sys.executable, "-m", "chatcamp_server", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    script = run("--help")
    assert module.returncode == script.returncode == 0
    # the usage lines wrap by the name's length; everything after them is the same
    after_usage = [out.split("\n\n", 1)[1] for out in (module.stdout, script.stdout)]
    assert after_usage[0] == after_usage[1]
    assert module.stdout.startswith("usage: python -m chatcamp_server ")
    for argv in ([str(ROOT / "serve.py"), "--version"], ["-m", "chatcamp_server", "--version"]):
        shown = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True,
                               text=True, timeout=60)
        assert shown.stdout.strip().endswith(f" {__version__}"), shown
    assert f"## {__version__} " in (ROOT / "CHANGELOG.md").read_text()


def test_json_log_lines_parse_and_carry_no_secret(tmp_path: Path) -> None:
    """With --log-format json every line on standard error is one JSON object (time, level,
    logger, message), and a token sent in a connect's URL appears in none of them."""
    proc = ServerProcess(tmp_path, options=("--log-format", "json"))
    proc.start()
    token = "cct_secret-never-logged-0123"
    try:
        with socket.create_connection(("127.0.0.1", proc.port), timeout=5) as conn:
            conn.sendall(f"GET /chat/2.0?app_id=1&user_id=u&access_token={token} HTTP/1.1\r\n"
                         "Host: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
            conn.recv(4096)
    finally:
        proc.stop()
    lines = [line for line in proc.log().splitlines() if line.strip()]
    assert lines, "the server logged nothing"
    for line in lines:
        record = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(record), line
    assert any("/chat/2.0" in json.loads(line)["message"] for line in lines)
    assert token not in proc.log()
