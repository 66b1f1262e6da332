"""A copy of one store into another, for ``serve.py migrate`` (SQLite to PostgreSQL, say).

Rows pass as they are stored: keyed hashes of API keys, tokens and session keys, sealed
profile tokens and signing keys, operators' password hashes, the audit log with its
entries' IDs, and channels with their participants and messages, each message with its
``seq`` and each channel with the last it gave, so no number is given twice after.  Both
stores are used under the one server secret, so every key and token that worked before the
copy works after it, every revoked token or used session key stays refused, and every
operator signs in with the same password.  The target must be empty: a copy is never merged
into live data.
"""

from __future__ import annotations

from chatcamp_server.errors import Conflict
from chatcamp_server.storage.store import (
    AppRecord,
    AuditEntry,
    Channel,
    ConsumedSession,
    Message,
    Operator,
    Participant,
    Record,
    SigningKey,
    Store,
    Token,
    User,
)

BATCH = 1000
"""Records per ``import_records`` call: a transaction of bounded size, and bounded memory."""

KINDS: dict[type, str] = {AppRecord: "apps", User: "users", Token: "tokens",
                          SigningKey: "signing_keys", ConsumedSession: "consumed_sessions",
                          Operator: "operators", AuditEntry: "audit", Channel: "channels",
                          Participant: "participants", Message: "messages"}
"""What ``copy_store`` counts each kind of record as, in the order they are exported."""


async def copy_store(source: Store, target: Store) -> dict[str, int]:
    """Copy every record of ``source`` (open) into ``target`` (open and empty); return how
    many of each kind were copied.  Raise Conflict, having copied nothing, if the target
    already has an app, an operator or an audit entry: a server run without apps may have
    had its dashboard set up, and audit entries merged with copied ones would collide on
    their IDs halfway through the copy."""
    apps, operators = await target.list_apps(), await target.list_operators()
    found = [f"{len(apps)} app(s)" if apps else "",
             f"{len(operators)} operator(s)" if operators else "",
             "an audit log" if await target.list_audit(limit=1) else ""]
    if any(found):
        raise Conflict(f"the target already has {' and '.join(filter(None, found))}: copy only"
                       " into an empty database, so that nothing is merged", "TARGET_NOT_EMPTY")
    counts = dict.fromkeys(KINDS.values(), 0)
    batch: list[Record] = []
    async for record in source.export_records():
        batch.append(record)
        counts[KINDS[type(record)]] += 1
        if len(batch) == BATCH:
            await target.import_records(batch)
            batch = []
    if batch:
        await target.import_records(batch)
    return counts
