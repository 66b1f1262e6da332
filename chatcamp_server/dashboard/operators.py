"""Operators, their passwords, and the audit log of what they change.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's second recommended
profile: 64 MiB, three passes), slow on purpose: a stolen database must not give passwords
back at GPU speed.  This is not on the path of chat logins, only of an operator signing in,
and each hash runs in a worker thread so that the event loop keeps serving sockets meanwhile.
A sign-in for a name that does not exist verifies against a dummy hash, so that the answer
takes as long as for a real operator and does not tell which names exist.

The command line (``serve.py admin``) and the dashboard change operators through this one
class, so both validate the same way and both leave an audit entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import re
import secrets
import time
from collections import Counter
from typing import Any, AsyncIterator, Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from chatcamp_server.errors import BadRequest, NotFound, RateLimited
from chatcamp_server.sessions.rate_limit import address_key
from chatcamp_server.storage.store import AuditEntry, Operator, Store

HASHER = PasswordHasher()
MIN_PASSWORD_CHARS = 12
"""NIST SP 800-63B asks for at least 8 and recommends longer for privileged accounts."""
MAX_PASSWORD_CHARS = 1024
"""Long enough for any passphrase, short enough that hashing one stays cheap to refuse."""
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
"""Operator names: printable, with nothing that needs escaping in a log or a terminal."""
HASHES_AT_ONCE = 2
"""Passwords hashed or verified at once: each hash holds 64 MiB for its duration, so a crowd
of sign-ins queues here instead of taking the machine's memory (``CHECKING_AT_ONCE`` bounds
the queue)."""
CHECKING_AT_ONCE = 32
"""Sign-ins being checked at once, from everyone: past it, more are refused at once rather
than queued behind the hashes for seconds, holding up every other operator's sign-in."""
CHECKING_PER_ADDRESS = 2
"""Sign-ins one address may have checked at once, under any names."""
BUSY = "Another sign-in from this address is being checked; try again in 1 s"
UNKNOWN_ACTOR = "(unknown)"
"""Who the audit log names for a failed sign-in: whoever typed the password, not the operator
whose name they typed (the entry's target)."""
CLI_ACTOR = "cli"
"""Who the audit log names for a change made with ``serve.py admin``: whoever had shell
access to the database and its secret."""


def format_time(at: float) -> str:
    """A moment as the dashboard and ``serve.py admin audit`` show it: UTC, to the second."""
    return datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise BadRequest("an operator name is 1 to 64 letters, digits, '.', '_', '@' or '-', "
                         "starting with a letter or digit", "INVALID_OPERATOR_NAME")
    return name


def check_password(password: str) -> str:
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise BadRequest(f"a password is {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} "
                         "characters", "INVALID_PASSWORD")
    return password


def generate_password() -> str:
    """144 random bits in 24 URL-safe characters: typed once into a password manager."""
    return secrets.token_urlsafe(18)


@functools.cache
def _dummy_hash() -> str:
    return HASHER.hash(generate_password())


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return HASHER.verify(password_hash or _dummy_hash(), password) and \
            password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


class Operators:
    """Who may sign in to the dashboard, and the record of what each one did."""

    def __init__(self, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self._hashing = asyncio.Semaphore(HASHES_AT_ONCE)
        self._checking: set[tuple[str, str]] = set()
        self._addresses: Counter[str] = Counter()

    @contextlib.asynccontextmanager
    async def attempt(self, name: str, address: str) -> AsyncIterator[None]:
        """A turn to check one sign-in.  The login limits count a failure only once its
        hash has been checked, so attempts checked side by side would each pass the limit
        before any was counted: a burst of 20 got 20 guesses.  One at a time per name and
        address, each attempt sees every failure before it, and the limit holds."""
        key = (address_key(address), name)
        if key in self._checking or len(self._checking) >= CHECKING_AT_ONCE or \
                self._addresses[key[0]] >= CHECKING_PER_ADDRESS:
            raise RateLimited(BUSY, 1)
        self._checking.add(key)
        self._addresses[key[0]] += 1
        try:
            yield
        finally:
            self._checking.discard(key)
            self._addresses[key[0]] -= 1
            if not self._addresses[key[0]]:
                del self._addresses[key[0]]

    async def warm(self) -> None:
        """Make the dummy hash before the first sign-in for an unknown name needs it, which
        would otherwise take twice as long as any other and so tell that the name is
        unknown."""
        await asyncio.to_thread(_dummy_hash)

    async def _hash(self, password: str) -> str:
        async with self._hashing:
            return await asyncio.to_thread(HASHER.hash, check_password(password))

    async def verify(self, operator: Operator | None, password: str) -> bool:
        """Whether ``password`` is the operator's, taking as long for an unknown operator.
        A password longer than any that can be set is refused without hashing it."""
        if len(password) > MAX_PASSWORD_CHARS:
            return False
        async with self._hashing:
            return await asyncio.to_thread(
                _verify, operator.password_hash if operator else None, password)

    async def create(self, name: str, password: str | None, actor: str,
                     address: str = "") -> tuple[Operator, str | None]:
        """Make an operator; with no password, one is generated and returned (shown once)."""
        generated = generate_password() if password is None else None
        now = self.clock()
        operator = Operator(check_name(name), await self._hash(password or generated or ""),
                            now, now)
        await self.store.create_operator(operator)
        await self.record(actor, "operator.create", name, address=address)
        return operator, generated

    async def delete(self, name: str, actor: str, address: str = "") -> None:
        """Their dashboard sessions end with them: every request checks the operator."""
        if not await self.store.delete_operator(name):
            raise NotFound(f"there is no operator named {name!r}", "OPERATOR_NOT_FOUND")
        await self.record(actor, "operator.delete", name, address=address)

    async def set_password(self, name: str, password: str, actor: str,
                           address: str = "") -> None:
        """Every dashboard session the operator has open ends (``password_changed_at``)."""
        if not await self.store.set_operator_password(name, await self._hash(password),
                                                      self.clock()):
            raise NotFound(f"there is no operator named {name!r}", "OPERATOR_NOT_FOUND")
        await self.record(actor, "operator.set_password", name, address=address)

    async def signed_in(self, operator: Operator, password: str, address: str) -> None:
        """Record the sign-in, and rehash a password hashed under older parameters now that
        it is at hand, so raising the cost reaches every operator at their next sign-in."""
        if HASHER.check_needs_rehash(operator.password_hash):
            await self.store.set_operator_password(
                operator.name, await self._hash(password), operator.password_changed_at,
                replacing=operator.password_hash)
        await self.record(operator.name, "signin", address=address)

    async def record(self, actor: str, action: str, target: str = "",
                     detail: dict[str, Any] | None = None, address: str = "") -> AuditEntry:
        return await self.store.add_audit(AuditEntry(self.clock(), actor, action, target,
                                                     detail or {}, address))
