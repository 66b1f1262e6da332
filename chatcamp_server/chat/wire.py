"""Channels and messages as the SDK 2.4.6 reads them (protocol spec §5.4).

Every field the SDK dereferences is always sent (flags it would read as undefined, empty
lists), and every message but an announcement carries its ``user``: the SDK's handlers throw
on a message without one, and the listener never fires.
"""

from __future__ import annotations

from typing import Any

from chatcamp_server import protocol
from chatcamp_server.storage.store import Channel, Message, Participant, User

OPEN_CHANNEL_TYPE = "open_channel"
GROUP_CHANNEL_TYPE = "group_channel"


def open_channel(channel: Channel) -> dict[str, Any]:
    return {**_channel_base(channel), "participants": [], "moderators": []}


def _channel_base(channel: Channel) -> dict[str, Any]:
    return {
        "id": channel.id, "name": channel.name, "data": channel.data,
        "avatar_url": channel.avatar_url, "avatar_url_check_session_key": False,
        "metadata": channel.metadata, "custom_filter": list(channel.custom_filter),
        "inserted_at": int(channel.created_at), "updated_at": int(channel.updated_at),
        "is_view_only": False, "is_active": True, "is_muted_for_me": False,
        "is_read_only": False, "is_moderator": False,
        "participants_count": channel.participants_count,
    }


def participant(row: Participant, user: User | None, online: bool) -> dict[str, Any]:
    """A group channel's participant: its user, with ``status`` ``ACCEPTED`` or ``INVITED``."""
    return {**protocol.wire_user(user or User(row.app_id, row.user_id), online),
            "status": row.status, "is_moderator": False, "is_blocked_by_me": False,
            "is_blocking_me": False}


def read_receipt(rows: list[Participant], last: Message | None) -> dict[str, int]:
    """Each member's read time in seconds, as the SDK compares it with a message's
    ``inserted_at`` (whole seconds too).  A member with an unread newest message is shown
    as having read before it even when both fall in the same second, so the SDK neither
    counts it read nor skips the ``read`` that would mark it."""
    receipt = {}
    for row in rows:
        seen = int(row.read_at)
        if last is not None and row.last_read_seq < last.seq:
            seen = min(seen, int(last.inserted_at) - 1)
        receipt[row.user_id] = max(seen, 0)
    return receipt


def group_channel(channel: Channel, members: list[dict[str, Any]], receipt: dict[str, int],
                  last_message: dict[str, Any] | None, unread: int, my_status: str
                  ) -> dict[str, Any]:
    """``last_message`` is sent as ``{}`` when there is none: the SDK's lodash ``isEmpty``
    reads that as no message, and ``read_receipt`` always, which the SDK dereferences
    unchecked."""
    return {**_channel_base(channel), "participants": members,
            "last_message": last_message or {}, "unread_message_count": unread,
            "read_receipt": receipt, "my_status": my_status,
            "is_distinct": channel.is_distinct, "is_archived": False, "is_public": False,
            "is_flexible": False}


def message(found: Message, sender: dict[str, Any] | None, channel_type: str) -> dict[str, Any]:
    """``sender`` is the wire user (None for an announcement, which has none)."""
    wire: dict[str, Any] = {
        "id": found.id, "type": found.type, "text": found.text,
        "channel_id": found.channel_id, "channel_type": channel_type,
        "inserted_at": int(found.inserted_at), "updated_at": int(found.updated_at),
        "metadata": found.metadata, "custom_filter": list(found.custom_filter),
        "data": found.data,
    }
    if sender is not None:
        wire["user"] = sender
    return wire


def sender(user: User | None, user_id: str | None, online: bool) -> dict[str, Any] | None:
    """The wire user of a message's sender; a sender since deleted is still named."""
    if user_id is None:
        return None
    return protocol.wire_user(user or User("", user_id), online)


def push(type_: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A ``.pub`` event: the SDK ignores one whose ``d.ok`` is not true."""
    return {"t": type_ + ".pub", "d": {"ok": True, **payload}}
