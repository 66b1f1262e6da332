"""Real processes: ``serve.py admin`` makes, lists and deletes operators and prints the audit
log, passwords never on the command line, in the output only when generated."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from server_process import ROOT

from chatcamp_server.dashboard.operators import Operators
from chatcamp_server.storage.sqlite import SQLiteStore


def admin(db: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "serve.py"), "--db", str(db), "admin",
                           *args], input=stdin, capture_output=True, text=True, timeout=60)


def verifies(db: Path, name: str, password: str) -> bool:
    async def check() -> bool:
        store = SQLiteStore(db)
        await store.open()
        try:
            return await Operators(store).verify(await store.get_operator(name), password)
        finally:
            await store.close()
    return asyncio.run(check())


def test_create_reads_the_password_from_stdin(tmp_path: Path) -> None:
    """A piped password is the operator's; it appears in no output and not in the database."""
    db = tmp_path / "chat.db"
    made = admin(db, "create", "alice", stdin="correct horse battery staple\n")
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout) == {"name": "alice"}
    assert verifies(db, "alice", "correct horse battery staple")
    assert not verifies(db, "alice", "correct horse battery")
    assert b"correct horse battery staple" not in db.read_bytes()
    assert db.stat().st_mode & 0o077 == 0


def test_create_without_a_password_generates_one_printed_once(tmp_path: Path) -> None:
    """No password given: one is generated, printed once, and works."""
    db = tmp_path / "chat.db"
    made = json.loads(admin(db, "create", "bob").stdout)
    assert len(made["password"]) >= 20
    assert verifies(db, "bob", made["password"])
    listed = admin(db, "list")
    assert made["password"] not in listed.stdout
    assert [json.loads(line)["name"] for line in listed.stdout.splitlines()] == ["bob"]


def test_set_password_delete_and_the_audit_log(tmp_path: Path) -> None:
    """set-password replaces the password, delete removes the operator; audit shows both."""
    db = tmp_path / "chat.db"
    admin(db, "create", "carol", stdin="first long password\n")
    changed = admin(db, "set-password", "carol", stdin="second long password\n")
    assert changed.returncode == 0 and json.loads(changed.stdout) == {"name": "carol"}
    assert verifies(db, "carol", "second long password")
    assert not verifies(db, "carol", "first long password")
    assert admin(db, "delete", "carol").returncode == 0
    assert admin(db, "list").stdout == ""
    text = admin(db, "audit").stdout.splitlines()
    assert [line.split("  ")[2] for line in text] == [
        "operator.delete", "operator.set_password", "operator.create"]
    assert all("  cli  " in line and "carol" in line for line in text)
    entries = [json.loads(line) for line in admin(db, "audit", "--json").stdout.splitlines()]
    assert [e["action"] for e in entries] == ["operator.delete", "operator.set_password",
                                              "operator.create"]
    assert "password" not in json.dumps([e["detail"] for e in entries])


def test_admin_errors_are_sentences(tmp_path: Path) -> None:
    """Bad names, short passwords, duplicates and unknown operators: one line, no traceback."""
    db = tmp_path / "chat.db"
    cases = [
        (("create", "no spaces allowed"), "x" * 20, "an operator name is"),
        (("create", "dave"), "short", "a password is 12 to"),
        (("delete", "nobody"), "", "there is no operator named 'nobody'"),
        (("set-password", "nobody"), "a long enough password", "there is no operator"),
    ]
    for args, stdin, expected in cases:
        result = admin(db, *args, stdin=stdin + "\n")
        assert result.returncode == 1, result
        assert expected in result.stderr and "Traceback" not in result.stderr
    admin(db, "create", "erin", stdin="a long enough password\n")
    again = admin(db, "create", "erin", stdin="a long enough password\n")
    assert again.returncode == 1 and "already exists" in again.stderr


def test_audit_printout_neutralises_control_characters(tmp_path: Path) -> None:
    """A target holding terminal escapes, a bidirectional override or a line separator is
    printed with them replaced, and as ASCII-only JSON with --json."""
    db = tmp_path / "chat.db"

    async def record() -> None:
        store = SQLiteStore(db)
        await store.open()
        await Operators(store).record("ops", "users.tokens.revoke",
                                      "app/\x1b[31mred\x07\u202e\u2028")
        await store.close()
    asyncio.run(record())
    line = admin(db, "audit").stdout
    assert "\x1b" not in line and "\x07" not in line and "?[31mred???" in line
    as_json = admin(db, "audit", "--json").stdout
    assert as_json.isascii() and json.loads(as_json)["target"] == "app/\x1b[31mred\x07\u202e\u2028"


def test_apps_commands_are_audited(tmp_path: Path) -> None:
    """apps create and apps update leave audit entries under the command line's name."""
    db = tmp_path / "chat.db"
    run = [sys.executable, str(ROOT / "serve.py"), "--db", str(db), "apps"]
    made = subprocess.run([*run, "create", "shop"], capture_output=True, text=True, timeout=60)
    app_id = json.loads(made.stdout)["app_id"]
    subprocess.run([*run, "update", app_id, "--require-access-token"], capture_output=True,
                   text=True, timeout=60, check=True)
    entries = [json.loads(line) for line in admin(db, "audit", "--json").stdout.splitlines()]
    assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
        ("cli", "apps.update", app_id), ("cli", "apps.create", app_id)]
    assert entries[0]["detail"] == {"require_access_token": True}
    assert made.stdout.split('"api_key": "')[1].split('"')[0] not in json.dumps(entries)
