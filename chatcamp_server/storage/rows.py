"""Operators, audit entries, channels, participants and messages as both SQL stores lay them
out: the same columns, in the same order, converted the same way, so the two backends cannot
drift apart on them."""

from __future__ import annotations

import json
from typing import Any, Sequence

from chatcamp_server.storage.store import (
    AuditEntry,
    Channel,
    Message,
    MyChannel,
    Operator,
    Participant,
)

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


CHANNEL_FIELDS = ("app_id", "id", "kind", "name", "avatar_url", "data", "metadata",
                  "custom_filter", "created_by", "created_at", "updated_at", "last_seq",
                  "is_distinct", "distinct_key", "active_at")
CHANNEL_COLUMNS = ", ".join(CHANNEL_FIELDS)
CHANNEL_OUTPUT = (", ".join(f"c.{name}" for name in CHANNEL_FIELDS)
                  + ", (SELECT count(*) FROM participants p"
                  " WHERE p.app_id = c.app_id AND p.channel_id = c.id)")
"""A channel of ``channels c`` with its participants counted in the same statement (a SELECT
list or a RETURNING clause): the count is never stored, so it cannot drift."""
CHANNEL_SELECT = f"SELECT {CHANNEL_OUTPUT} FROM channels c"
CHANGEABLE_CHANNEL_FIELDS = frozenset({"name", "avatar_url", "data", "metadata",
                                       "custom_filter", "distinct_key"})

MESSAGE_FIELDS = ("app_id", "channel_id", "id", "type", "text", "user_id", "inserted_at",
                  "updated_at", "metadata", "data", "custom_filter", "seq")
MESSAGE_COLUMNS = ", ".join(MESSAGE_FIELDS)
CHANGEABLE_MESSAGE_FIELDS = frozenset({"text", "metadata", "data", "custom_filter"})

PARTICIPANT_FIELDS = ("app_id", "channel_id", "user_id", "joined_at", "status", "last_read_seq",
                      "read_at")
PARTICIPANT_COLUMNS = ", ".join(PARTICIPANT_FIELDS)
PARTICIPANT_OUTPUT = ", ".join(f"p.{name}" for name in PARTICIPANT_FIELDS)
"""A participant of ``participants p``, in a statement that names other tables too."""
_CHANNEL_WIDTH = len(CHANNEL_FIELDS) + 1
_MY_CHANNEL_WIDTH = _CHANNEL_WIDTH + len(PARTICIPANT_FIELDS)


def my_channel_output(unread: str) -> str:
    """What ``my_channel_from`` reads: the channel ``c`` with its count, the user's row
    ``p``, the backend's expression of the unread count, and the newest message ``m`` (all
    NULL when there is none)."""
    return (f"{CHANNEL_OUTPUT}, {PARTICIPANT_OUTPUT}, {unread}, "
            + ", ".join(f"m.{name}" for name in MESSAGE_FIELDS))


def my_channel_from(row: Sequence[Any]) -> MyChannel:
    """A message's ``app_id`` is never NULL, so a NULL there is a channel without one."""
    values = tuple(row)
    last = values[_MY_CHANNEL_WIDTH + 1:]
    return MyChannel(channel_from(values[:_CHANNEL_WIDTH]),
                     participant_from(values[_CHANNEL_WIDTH:_MY_CHANNEL_WIDTH]),
                     values[_MY_CHANNEL_WIDTH], None if last[0] is None else message_from(last))


def channel_from(row: Sequence[Any]) -> Channel:
    """``metadata`` and ``custom_filter`` are JSON text, as a user's metadata is: neither
    store queries inside them.  SQLite gives ``is_distinct`` as an integer."""
    return Channel(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6]),
                   tuple(json.loads(row[7])), row[8], row[9], row[10], row[15], row[11],
                   bool(row[12]), row[13], row[14])


def channel_values(channel: Channel) -> tuple[Any, ...]:
    return (channel.app_id, channel.id, channel.kind, channel.name, channel.avatar_url,
            channel.data, json.dumps(channel.metadata), json.dumps(list(channel.custom_filter)),
            channel.created_by, channel.created_at, channel.updated_at, channel.last_seq,
            channel.is_distinct, channel.distinct_key, channel.active_at)


def message_from(row: Sequence[Any]) -> Message:
    return Message(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7],
                   json.loads(row[8]), row[9], tuple(json.loads(row[10])), row[11])


def message_values(message: Message) -> tuple[Any, ...]:
    return (message.app_id, message.channel_id, message.id, message.type, message.text,
            message.user_id, message.inserted_at, message.updated_at,
            json.dumps(message.metadata), message.data, json.dumps(list(message.custom_filter)),
            message.seq)


def participant_from(row: Sequence[Any]) -> Participant:
    return Participant(row[0], row[1], row[2], row[3], row[4], row[5], row[6])


def participant_values(participant: Participant) -> tuple[Any, ...]:
    return (participant.app_id, participant.channel_id, participant.user_id,
            participant.joined_at, participant.status, participant.last_read_seq,
            participant.read_at)


def column_changes(changes: dict[str, Any], changeable: frozenset[str]) -> dict[str, Any]:
    """``changes`` as the columns to set, encoded as stored.  A key outside ``changeable`` is
    a ValueError before anything is written: a caller's typo must not vanish silently, nor
    name a column (``seq``, ``app_id``) that no update may touch."""
    unknown = set(changes) - changeable
    if unknown:
        raise ValueError(f"cannot change {sorted(unknown)}: only {sorted(changeable)}")
    columns = dict(changes)
    if "metadata" in columns:
        columns["metadata"] = json.dumps(columns["metadata"])
    if "custom_filter" in columns:
        columns["custom_filter"] = json.dumps(list(columns["custom_filter"]))
    return columns
