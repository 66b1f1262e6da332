"""In-process: which database, secret and Redis a node uses, from options and environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatcamp_server.deployment import resolve
from chatcamp_server.errors import ServerError

PG = "postgresql://chat:hunter2@db.example:5433/chat"


def test_the_single_process_default_is_sqlite_with_its_secret_beside_it(tmp_path: Path) -> None:
    """With nothing given: the default SQLite file, a secret made beside it, no Redis."""
    made = resolve(None, None, None, None, tmp_path / "chat.sqlite3", environ={})
    assert made.database == str(tmp_path / "chat.sqlite3") and not made.shared
    assert made.redis_url is None
    assert bytes.fromhex((tmp_path / "chat.sqlite3.secret").read_text()) == made.secret


def test_options_win_over_the_environment(tmp_path: Path) -> None:
    """--database and --redis win over CHATCAMP_DATABASE_URL and CHATCAMP_REDIS_URL."""
    environ = {"CHATCAMP_DATABASE_URL": PG, "CHATCAMP_REDIS_URL": "redis://env:7100/0",
               "CHATCAMP_SECRET": "ab" * 32}
    made = resolve(str(tmp_path / "x.sqlite3"), None, None, "redis://opt:7101/1",
                   tmp_path / "d", environ)
    assert made.database == str(tmp_path / "x.sqlite3") and made.redis_url == "redis://opt:7101/1"
    from_env = resolve(None, None, None, None, tmp_path / "d", environ)
    assert from_env.database == PG and from_env.redis_url == "redis://env:7100/0"
    assert from_env.shared and from_env.secret == bytes.fromhex("ab" * 32)


def test_a_shared_database_needs_a_named_secret(tmp_path: Path) -> None:
    """PostgreSQL without --secret-file or CHATCAMP_SECRET is refused in one sentence; with
    a secret file it is used (made if missing) and CHATCAMP_SECRET_FILE works too."""
    with pytest.raises(ServerError, match="--secret-file PATH"):
        resolve(PG, None, None, None, tmp_path / "d", environ={})
    made = resolve(PG, None, str(tmp_path / "shared.secret"), None, tmp_path / "d", environ={})
    again = resolve(PG, None, None, None, tmp_path / "d",
                    environ={"CHATCAMP_SECRET_FILE": str(tmp_path / "shared.secret")})
    assert made.secret == again.secret and len(made.secret) == 32


def test_contradictions_and_malformed_values_are_refused(tmp_path: Path) -> None:
    """--database with --db, a non-Redis URL and a malformed CHATCAMP_SECRET each get a clear
    error naming what is wrong."""
    with pytest.raises(ServerError, match="not both"):
        resolve(PG, "x.sqlite3", None, None, tmp_path / "d", environ={})
    with pytest.raises(ServerError, match="not a Redis URL"):
        resolve(None, None, None, "http://cache:7102", tmp_path / "d", environ={})
    with pytest.raises(ServerError, match="64 hexadecimal digits"):
        resolve(PG, None, None, None, tmp_path / "d", environ={"CHATCAMP_SECRET": "abc"})


def test_a_database_is_described_without_its_password(tmp_path: Path) -> None:
    """A log line names the PostgreSQL host, port and database, never the password."""
    made = resolve(PG, None, str(tmp_path / "s"), None, tmp_path / "d", environ={})
    assert made.describe_database() == "PostgreSQL at db.example:5433/chat"
    assert "hunter2" not in made.describe_database()
