"""What every kind of channel does alike: its messages (post, history, get, edit, delete),
their pushes and the session's message budget.

A kind (``OpenChannels``, ``GroupChannels``) names its request prefix, how it shows a channel
on the wire, who is a member (only members read and write) and who gets a message (the
recipients).  A message is pushed while the store holds its channel's order
(``Store.add_message``), so every client sees one order, the store's; every push goes
through the session bus to every live session of every recipient, on every node.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Collection

from chatcamp_server import validation
from chatcamp_server.chat import wire
from chatcamp_server.chat.session import ChatSession
from chatcamp_server.errors import BadRequest, Forbidden, NotFound, RateLimited
from chatcamp_server.keys import random_id
from chatcamp_server.sessions.bus import SessionBus
from chatcamp_server.sessions.inventory import SessionInventory
from chatcamp_server.sessions.live import Target
from chatcamp_server.settings import Limits
from chatcamp_server.storage.store import Channel, Message, Store

DEFAULT_PAGE = 20
Summaries = dict[str, tuple[Callable[..., Any], str]]


class ChannelKind:
    prefix: str
    """``open_channels.``: every request and push of the kind starts with it."""
    kind: str
    """The store's ``Channel.kind``."""
    wire_type: str
    """``open_channel``: a message's ``channel_type``, and the key a channel is sent under."""
    label: str
    """How an error names a channel of this kind: ``open channel``."""

    def __init__(self, store: Store, bus: SessionBus, inventory: SessionInventory,
                 limits: Limits, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.bus = bus
        self.inventory = inventory
        self.limits = limits
        self.clock = clock

    def message_routes(self) -> Summaries:
        return {
            "message": (self.message, "post a text message; message.pub to the members"),
            "history": (self.history, "messages newest first, paged with reference"),
            "message_get": (self.message_get, "one message by ID"),
            "message_update": (self.message_update,
                               "edit one's own message; message_update.pub"),
            "message_delete": (self.message_delete,
                               "delete one's own message; message_delete.pub"),
        }

    # what a kind decides

    async def member_channel(self, session: ChatSession, data: dict[str, Any]) -> Channel:
        """The channel named by ``data["id"]`` if the session's user may read and write it;
        ``NOT_A_PARTICIPANT`` otherwise."""
        raise NotImplementedError

    async def recipients(self, app_id: str, channel_id: str) -> list[str]:
        """Whose sessions a message of the channel is pushed to."""
        return await self.store.participant_ids(app_id, channel_id)

    # reading

    def missing(self, channel_id: str) -> NotFound:
        return NotFound(f"{self.label} {channel_id!r} does not exist", "NOT_FOUND")

    async def channel(self, app_id: str, value: Any) -> Channel:
        channel_id = validation.channel_id(value, self.limits)
        found = await self.store.get_channel(app_id, channel_id)
        if found is None or found.kind != self.kind:
            raise self.missing(channel_id)
        return found

    async def presence(self, app_id: str, user_ids: Collection[str]) -> dict[str, bool]:
        """Whether each user has a live session anywhere, asked all at once."""
        online = await self.inventory.online_among(app_id, user_ids)
        return {user_id: user_id in online for user_id in user_ids}

    async def shown_messages(self, app_id: str, found: list[Message]) -> list[dict[str, Any]]:
        """Messages with their senders as users, in two queries however many there are."""
        ids = {m.user_id for m in found if m.user_id is not None}
        users = await self.store.get_users(app_id, ids)
        online = await self.presence(app_id, ids)
        return [wire.message(m, wire.sender(users.get(m.user_id or ""), m.user_id,
                                            online.get(m.user_id or "", False)),
                             self.wire_type)
                for m in found]

    async def history(self, session: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        limit = validation.page_limit(data.get("limit"), DEFAULT_PAGE,
                                      self.limits.history_page_max)
        channel = await self.member_channel(session, data)
        before = None
        if data.get("reference") not in (None, ""):
            reference = await self._message(session.app_id, channel.id, data["reference"])
            before = reference.seq
        found = await self.store.history(session.app_id, channel.id, before, limit)
        return {"messages": await self.shown_messages(session.app_id, found)}

    async def _message(self, app_id: str, channel_id: str, value: Any) -> Message:
        message_id = validation.record_id(value, "message_id")
        found = await self.store.get_message(app_id, channel_id, message_id)
        if found is None:
            raise NotFound(f"message {message_id!r} does not exist", "MESSAGE_NOT_FOUND")
        return found

    async def message_get(self, session: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        channel = await self.member_channel(session, data)
        found = await self._message(session.app_id, channel.id, data.get("message_id"))
        return {"message": (await self.shown_messages(session.app_id, [found]))[0]}

    # messages

    def spend(self, session: ChatSession) -> None:
        if not session.messages.take(time.monotonic()):
            raise RateLimited(f"Too many messages: at most {self.limits.messages_per_second:g} "
                              "per second", retry_after=1)

    async def message(self, session: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        self.spend(session)
        if data.get("type", "text") != "text":
            raise BadRequest("Only text messages are supported", "UNSUPPORTED_MESSAGE_TYPE")
        text = validation.message_text(data.get("text"), self.limits)
        channel = await self.member_channel(session, data)
        user = await self.store.get_user(session.app_id, session.user_id)
        return {"message": await self.post(
            channel, session.user_id, "text", text, data,
            wire.sender(user, session.user_id, True), except_session=session.session_id)}

    async def post(self, channel: Channel, user_id: str | None, type_: str, text: str,
                   data: dict[str, Any], sender: dict[str, Any] | None,
                   except_session: str | None = None) -> dict[str, Any]:
        now = self.clock()
        metadata = validation.metadata(data.get("metadata"), self.limits) \
            if data.get("metadata") is not None else {}
        extra = validation.text_field(data.get("data"), "data", self.limits.max_data_chars)
        draft = Message(channel.app_id, channel.id, random_id(), type_, text, user_id, now, now,
                        metadata, extra, validation.custom_filter(data.get("custom_filter")))
        posted: dict[str, Any] = {}
        # Whom to tell is read before the channel is held: on PostgreSQL, holding it holds a
        # pooled connection, and a read from inside would wait for another one, which enough
        # posts at once would all be holding.
        target = Target(channel.app_id, except_session=except_session,
                        user_ids=frozenset(await self.recipients(channel.app_id, channel.id)))

        async def push(stored: Message) -> None:
            posted.update(wire.message(stored, sender, self.wire_type))
            await self.bus.publish(target,
                                   wire.push(self.prefix + "message", {"message": posted}))

        if await self.store.add_message(draft, push) is None:
            raise self.missing(channel.id)
        return posted

    async def _own(self, session: ChatSession, data: dict[str, Any]) -> tuple[Channel, Message]:
        self.spend(session)
        channel = await self.member_channel(session, data)
        found = await self._message(session.app_id, channel.id, data.get("message_id"))
        if found.user_id != session.user_id:
            raise Forbidden("Only its sender may change a message", "FORBIDDEN")
        return channel, found

    async def message_update(self, session: ChatSession, data: dict[str, Any]
                             ) -> dict[str, Any]:
        channel, found = await self._own(session, data)
        changes: dict[str, Any] = {}
        if data.get("text") is not None:
            changes["text"] = validation.message_text(data["text"], self.limits)
        if data.get("metadata") is not None:
            changes["metadata"] = validation.metadata(data["metadata"], self.limits)
        if data.get("data") is not None:
            changes["data"] = validation.text_field(data["data"], "data",
                                                    self.limits.max_data_chars)
        updated = await self.store.update_message(session.app_id, channel.id, found.id,
                                                  changes, self.clock())
        if updated is None:
            raise NotFound(f"message {found.id!r} does not exist", "MESSAGE_NOT_FOUND")
        shown = (await self.shown_messages(session.app_id, [updated]))[0]
        await self._push_change(session, channel, "message_update", shown)
        return {"message": shown}

    async def message_delete(self, session: ChatSession, data: dict[str, Any]
                             ) -> dict[str, Any]:
        channel, found = await self._own(session, data)
        deleted = await self.store.delete_message(session.app_id, channel.id, found.id)
        if deleted is None:
            raise NotFound(f"message {found.id!r} does not exist", "MESSAGE_NOT_FOUND")
        shown = (await self.shown_messages(session.app_id, [deleted]))[0]
        await self._push_change(session, channel, "message_delete", shown)
        return {}

    async def _push_change(self, session: ChatSession, channel: Channel, what: str,
                           shown: dict[str, Any]) -> None:
        ids = await self.recipients(session.app_id, channel.id)
        await self.bus.publish(Target(session.app_id, user_ids=frozenset(ids),
                                      except_session=session.session_id),
                               wire.push(self.prefix + what, {"message": shown}))

    # the server API's share

    def profile(self, body: dict[str, Any]) -> dict[str, Any]:
        """The channel profile fields present in ``body``, checked."""
        changes: dict[str, Any] = {}
        for name in ("name", "avatar_url"):
            if name in body:
                changes[name] = validation.text_field(body[name], name,
                                                      self.limits.max_profile_field_chars)
        if "data" in body:
            changes["data"] = validation.text_field(body["data"], "data",
                                                    self.limits.max_data_chars)
        if "metadata" in body:
            changes["metadata"] = validation.metadata(body["metadata"], self.limits)
        if "custom_filter" in body:
            changes["custom_filter"] = validation.custom_filter(body["custom_filter"])
        return changes
