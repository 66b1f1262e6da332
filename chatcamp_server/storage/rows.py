"""Operators and audit entries as both SQL stores lay them out: the same columns, in the same
order, converted the same way, so the two backends cannot drift apart on them."""

from __future__ import annotations

import json
from typing import Any, Sequence

from chatcamp_server.storage.store import AuditEntry, Operator

OPERATOR_COLUMNS = "name, password_hash, created_at, password_changed_at"
AUDIT_FIELDS = "at, actor, action, target, detail, address"
"""What ``add_audit`` writes; the store assigns the ``id``."""
AUDIT_COLUMNS = AUDIT_FIELDS + ", id"


def operator_from(row: Sequence[Any]) -> Operator:
    return Operator(row[0], row[1], row[2], row[3])


def operator_values(found: Operator) -> tuple[Any, ...]:
    return (found.name, found.password_hash, found.created_at, found.password_changed_at)


def audit_from(row: Sequence[Any]) -> AuditEntry:
    """``detail`` is stored as JSON text: neither store needs to query inside it."""
    return AuditEntry(row[0], row[1], row[2], row[3], json.loads(row[4]), row[5], row[6])


def audit_values(entry: AuditEntry) -> tuple[Any, ...]:
    return (entry.at, entry.actor, entry.action, entry.target, json.dumps(entry.detail),
            entry.address)
