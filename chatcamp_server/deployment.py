"""Where a node keeps its state and with whom it shares it: one SQLite file for a single
process, or PostgreSQL (and Redis) shared by every node of a cluster.

Options win over the environment (``CHATCAMP_DATABASE_URL``, ``CHATCAMP_REDIS_URL``,
``CHATCAMP_SECRET``, ``CHATCAMP_SECRET_FILE``), which wins over the single-process defaults:
a service manager can hand every node the same settings without a command line per node.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

from chatcamp_server.errors import ServerError
from chatcamp_server.keys import SECRET_BYTES, load_or_create_secret

POSTGRES_SCHEMES = ("postgresql", "postgres")
ENV_DATABASE = "CHATCAMP_DATABASE_URL"
ENV_REDIS = "CHATCAMP_REDIS_URL"
ENV_SECRET = "CHATCAMP_SECRET"
ENV_SECRET_FILE = "CHATCAMP_SECRET_FILE"


@dataclass(frozen=True)
class Deployment:
    database: str
    """A SQLite file's path, or a ``postgresql://`` URL."""
    secret: bytes
    redis_url: str | None = None

    @property
    def shared(self) -> bool:
        """Whether other nodes may use the same database: then no node may assume it is the
        first (two would each make a first app), and its outages are another process's."""
        return is_postgres(self.database)

    def describe_database(self) -> str:
        """The database for a log line: a URL's host, port and name, never its password."""
        if not self.shared:
            return self.database
        parts = urlsplit(self.database)
        return f"PostgreSQL at {parts.hostname}:{parts.port or 5432}{parts.path}"


def is_postgres(location: str) -> bool:
    return urlsplit(location).scheme in POSTGRES_SCHEMES


def resolve(database: str | None, db: str | None, secret_file: str | None,
            redis_url: str | None, default_db: Path,
            environ: Mapping[str, str] = os.environ) -> Deployment:
    """The deployment the options and the environment describe.

    A shared database needs a secret that every node shares: the SQLite default (a file
    beside the database, made on first start) would give each node a different one, and
    none could read another's tokens.  So with PostgreSQL the secret must be named.
    """
    if database is not None and db is not None:
        raise ServerError("give --database or --db, not both", "BAD_OPTIONS")
    location = database or db or environ.get(ENV_DATABASE) or str(default_db)
    redis = redis_url or environ.get(ENV_REDIS) or None
    if redis is not None and urlsplit(redis).scheme not in ("redis", "rediss", "unix"):
        raise ServerError(f"{redis!r} is not a Redis URL (redis://HOST:PORT/DB)", "BAD_OPTIONS")
    if environ.get(ENV_SECRET):
        return Deployment(location, _secret_from_environment(environ[ENV_SECRET]), redis)
    named = secret_file or environ.get(ENV_SECRET_FILE)
    if named is None and is_postgres(location):
        raise ServerError(
            "a PostgreSQL database is shared by every node, and so must the server secret "
            f"be: give --secret-file PATH (the same file on every node) or {ENV_SECRET}",
            "BAD_OPTIONS")
    path = Path(named) if named is not None else Path(location + ".secret")
    return Deployment(location, load_or_create_secret(path), redis)


def _secret_from_environment(text: str) -> bytes:
    try:
        secret = bytes.fromhex(text.strip())
    except ValueError:
        secret = b""
    if len(secret) != SECRET_BYTES:
        raise ServerError(f"{ENV_SECRET} must hold {SECRET_BYTES * 2} hexadecimal digits, as "
                          "a secret file does", "BAD_OPTIONS")
    return secret
