"""Open channels: rooms anyone in the app may join, read and write in once joined.

One class serves both callers: the SDK's ``open_channels.*`` requests (``routes``) and the
server API's (``api_methods``), so a channel made with the API key and one read from the
browser go through the same code.  Every push goes through the session bus to every live
session of every participant, on every node; a message is pushed while the store holds its
channel's order (``Store.add_message``), so every client sees one order, the store's.

Open channels are made by the integrator's backend (``open_channels.create`` with the API
key), never from a browser: an SDK ``open_channels.create`` is refused, since any visitor
could otherwise fill the app with rooms.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

from chatcamp_server import protocol, validation
from chatcamp_server.chat import wire
from chatcamp_server.chat.router import Route
from chatcamp_server.chat.session import ChatSession
from chatcamp_server.errors import BadRequest, Forbidden, NotFound, RateLimited
from chatcamp_server.keys import random_id
from chatcamp_server.sessions.bus import SessionBus
from chatcamp_server.sessions.inventory import SessionInventory
from chatcamp_server.sessions.live import Target
from chatcamp_server.settings import Limits
from chatcamp_server.storage.store import (
    JOINED,
    NO_CHANNEL,
    OPEN_CHANNEL,
    TOO_MANY_CHANNELS,
    App,
    Channel,
    Message,
    Participant,
    Store,
)

PREFIX = "open_channels."
DEFAULT_PAGE = 20
CHANNEL_FIELDS = ("name", "avatar_url")


class OpenChannels:
    def __init__(self, store: Store, bus: SessionBus, inventory: SessionInventory,
                 limits: Limits, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.bus = bus
        self.inventory = inventory
        self.limits = limits
        self.clock = clock

    def routes(self) -> dict[str, Route]:
        table = {
            "get": (self.get, "an open channel by ID"),
            "list": (self.list_channels, "the app's open channels, by ID, paged with reference"),
            "create": (self.create_refused, "refused: open channels are made with the API key"),
            "join": (self.join, "become a participant; join.pub to the others"),
            "leave": (self.leave, "stop being a participant; leave.pub to the others"),
            "participants_list": (self.participants, "a channel's participants, paged"),
            "message": (self.message, "post a text message; message.pub to the participants"),
            "history": (self.history, "messages newest first, paged with reference"),
            "message_get": (self.message_get, "one message by ID"),
            "message_update": (self.message_update,
                               "edit one's own message; message_update.pub"),
            "message_delete": (self.message_delete,
                               "delete one's own message; message_delete.pub"),
        }
        return {PREFIX + name: Route(handler, summary)
                for name, (handler, summary) in table.items()}

    # reading

    async def _channel(self, app_id: str, value: Any) -> Channel:
        channel_id = validation.channel_id(value, self.limits)
        channel = await self.store.get_channel(app_id, channel_id)
        if channel is None or channel.kind != OPEN_CHANNEL:
            raise NotFound(f"open channel {channel_id!r} does not exist", "NOT_FOUND")
        return channel

    async def _joined(self, session: ChatSession, data: dict[str, Any]) -> Channel:
        channel = await self._channel(session.app_id, data.get("id"))
        if not await self.store.is_participant(session.app_id, channel.id, session.user_id):
            raise Forbidden("Join the channel first", "NOT_A_PARTICIPANT")
        return channel

    async def _messages(self, app_id: str, found: list[Message]) -> list[dict[str, Any]]:
        """Messages with their senders as users, in two queries however many there are."""
        ids = {m.user_id for m in found if m.user_id is not None}
        users = await self.store.get_users(app_id, ids)
        online = dict(zip(ids, await asyncio.gather(
            *(self.inventory.is_online(app_id, user_id) for user_id in ids))))
        return [wire.message(m, wire.sender(users.get(m.user_id or ""), m.user_id,
                                            online.get(m.user_id or "", False)))
                for m in found]

    async def get(self, session: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        return {"open_channel": wire.open_channel(await self._channel(session.app_id,
                                                                      data.get("id")))}

    async def list_channels(self, session: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        return {"open_channels": await self._list(session.app_id, data)}

    async def _list(self, app_id: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        limit = validation.page_limit(data.get("limit"), DEFAULT_PAGE, self.limits.list_page_max)
        after = data.get("reference")
        after = None if after in (None, "") else validation.channel_id(after, self.limits,
                                                                       "reference")
        found = await self.store.list_channels(app_id, OPEN_CHANNEL, after, limit)
        return [wire.open_channel(channel) for channel in found]

    async def participants(self, session: ChatSession, data: dict[str, Any]
                           ) -> dict[str, Any]:
        channel = await self._channel(session.app_id, data.get("id"))
        limit = validation.page_limit(data.get("limit"), DEFAULT_PAGE, self.limits.list_page_max)
        after = data.get("reference")
        after = None if after in (None, "") else validation.user_id(after, self.limits,
                                                                    "reference")
        users = await self.store.list_participants(session.app_id, channel.id, after, limit)
        online = await asyncio.gather(*(self.inventory.is_online(u.app_id, u.id) for u in users))
        return {"open_channel": {"participants": [
            protocol.wire_user(user, is_on) for user, is_on in zip(users, online)]}}

    async def history(self, session: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        limit = validation.page_limit(data.get("limit"), DEFAULT_PAGE,
                                      self.limits.history_page_max)
        channel = await self._joined(session, data)
        before = None
        if data.get("reference") not in (None, ""):
            reference = await self._message(session.app_id, channel.id, data["reference"])
            before = reference.seq
        found = await self.store.history(session.app_id, channel.id, before, limit)
        return {"messages": await self._messages(session.app_id, found)}

    async def _message(self, app_id: str, channel_id: str, value: Any) -> Message:
        message_id = validation.record_id(value, "message_id")
        found = await self.store.get_message(app_id, channel_id, message_id)
        if found is None:
            raise NotFound(f"message {message_id!r} does not exist", "MESSAGE_NOT_FOUND")
        return found

    async def message_get(self, session: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        channel = await self._joined(session, data)
        found = await self._message(session.app_id, channel.id, data.get("message_id"))
        return {"message": (await self._messages(session.app_id, [found]))[0]}

    # participants

    async def create_refused(self, session: ChatSession, data: dict[str, Any]
                             ) -> dict[str, Any]:
        raise Forbidden("Open channels are created by the app's server (open_channels.create "
                        "with its API key)", "FORBIDDEN")

    async def join(self, session: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        channel = await self._channel(session.app_id, data.get("id"))
        outcome = await self.store.add_participant(
            Participant(session.app_id, channel.id, session.user_id, self.clock()),
            self.limits.open_channels_per_user)
        if outcome == NO_CHANNEL:
            raise NotFound(f"open channel {channel.id!r} does not exist", "NOT_FOUND")
        if outcome == TOO_MANY_CHANNELS:
            raise Forbidden(f"A user may be in at most {self.limits.open_channels_per_user} "
                            "open channels", "TOO_MANY_CHANNELS")
        joined = await self._channel(session.app_id, channel.id)
        if outcome == JOINED:
            await self._announce_member(session, joined, "join")
        return {"open_channel": wire.open_channel(joined)}

    async def leave(self, session: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        channel = await self._channel(session.app_id, data.get("id"))
        left = await self.store.remove_participant(session.app_id, channel.id, session.user_id)
        channel = await self._channel(session.app_id, channel.id)
        if left:
            await self._announce_member(session, channel, "leave", also=session.user_id)
        return {"open_channel": wire.open_channel(channel)}

    async def _announce_member(self, session: ChatSession, channel: Channel, what: str,
                               also: str | None = None) -> None:
        user = await self.store.get_user(session.app_id, session.user_id)
        member = wire.sender(user, session.user_id, True)
        ids = set(await self.store.participant_ids(session.app_id, channel.id))
        if also is not None:
            ids.add(also)
        await self.bus.send(Target(session.app_id, user_ids=frozenset(ids),
                                   except_session=session.session_id),
                            wire.push(PREFIX + what, {"open_channel": wire.open_channel(channel),
                                                      "users": [member]}))

    # messages

    def _spend(self, session: ChatSession) -> None:
        if not session.messages.take(time.monotonic()):
            raise RateLimited(f"Too many messages: at most {self.limits.messages_per_second:g} "
                              "per second", retry_after=1)

    async def message(self, session: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        self._spend(session)
        if data.get("type", "text") != "text":
            raise BadRequest("Only text messages are supported", "UNSUPPORTED_MESSAGE_TYPE")
        text = validation.message_text(data.get("text"), self.limits)
        channel = await self._joined(session, data)
        user = await self.store.get_user(session.app_id, session.user_id)
        return {"message": await self._post(
            channel, session.user_id, "text", text, data,
            wire.sender(user, session.user_id, True), except_session=session.session_id)}

    async def _post(self, channel: Channel, user_id: str | None, type_: str, text: str,
                    data: dict[str, Any], sender: dict[str, Any] | None,
                    except_session: str | None = None) -> dict[str, Any]:
        now = self.clock()
        metadata = validation.metadata(data.get("metadata"), self.limits) \
            if data.get("metadata") is not None else {}
        extra = validation.text_field(data.get("data"), "data", self.limits.max_data_chars)
        draft = Message(channel.app_id, channel.id, random_id(), type_, text, user_id, now, now,
                        metadata, extra, validation.custom_filter(data.get("custom_filter")))
        posted: dict[str, Any] = {}

        async def push(stored: Message) -> None:
            posted.update(wire.message(stored, sender))
            ids = await self.store.participant_ids(channel.app_id, channel.id)
            await self.bus.publish(Target(channel.app_id, user_ids=frozenset(ids),
                                          except_session=except_session),
                                   wire.push(PREFIX + "message", {"message": posted}))

        if await self.store.add_message(draft, push) is None:
            raise NotFound(f"open channel {channel.id!r} does not exist", "NOT_FOUND")
        return posted

    async def _own(self, session: ChatSession, data: dict[str, Any]) -> tuple[Channel, Message]:
        self._spend(session)
        channel = await self._joined(session, data)
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
        shown = (await self._messages(session.app_id, [updated]))[0]
        await self._push_change(session, channel, "message_update", shown)
        return {"message": shown}

    async def message_delete(self, session: ChatSession, data: dict[str, Any]
                             ) -> dict[str, Any]:
        channel, found = await self._own(session, data)
        deleted = await self.store.delete_message(session.app_id, channel.id, found.id)
        if deleted is None:
            raise NotFound(f"message {found.id!r} does not exist", "MESSAGE_NOT_FOUND")
        shown = (await self._messages(session.app_id, [deleted]))[0]
        await self._push_change(session, channel, "message_delete", shown)
        return {}

    async def _push_change(self, session: ChatSession, channel: Channel, what: str,
                           shown: dict[str, Any]) -> None:
        ids = await self.store.participant_ids(session.app_id, channel.id)
        await self.bus.publish(Target(session.app_id, user_ids=frozenset(ids),
                                      except_session=session.session_id),
                               wire.push(PREFIX + what, {"message": shown}))

    # the server API

    def api_methods(self) -> dict[str, Any]:
        return {PREFIX + "create": self.api_create, PREFIX + "get": self.api_get,
                PREFIX + "update": self.api_update, PREFIX + "list": self.api_list,
                PREFIX + "delete": self.api_delete, PREFIX + "announce": self.api_announce}

    def _profile(self, body: dict[str, Any]) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        for name in CHANNEL_FIELDS:
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

    async def api_create(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """Create an open channel, with the caller's ``id`` or a generated one."""
        channel_id = (validation.channel_id(body["id"], self.limits)
                      if body.get("id") is not None else random_id())
        now = self.clock()
        channel = await self.store.create_channel(Channel(
            app.id, channel_id, OPEN_CHANNEL, created_at=now, updated_at=now,
            **self._profile(body)))
        return {"open_channel": wire.open_channel(channel)}

    async def api_get(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        return {"open_channel": wire.open_channel(await self._channel(app.id, body.get("id")))}

    async def api_list(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        return {"open_channels": await self._list(app.id, body)}

    async def api_update(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        channel = await self._channel(app.id, body.get("id"))
        updated = await self.store.update_channel(app.id, channel.id, self._profile(body),
                                                  self.clock())
        if updated is None:
            raise NotFound(f"open channel {channel.id!r} does not exist", "NOT_FOUND")
        shown = wire.open_channel(updated)
        ids = await self.store.participant_ids(app.id, channel.id)
        await self.bus.send(Target(app.id, user_ids=frozenset(ids)),
                            wire.push(PREFIX + "update", {"open_channel": shown}))
        return {"open_channel": shown}

    async def api_delete(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        channel = await self._channel(app.id, body.get("id"))
        ids = await self.store.participant_ids(app.id, channel.id)
        if not await self.store.delete_channel(app.id, channel.id):
            raise NotFound(f"open channel {channel.id!r} does not exist", "NOT_FOUND")
        await self.bus.send(Target(app.id, user_ids=frozenset(ids)), wire.push(
            PREFIX + "delete", {"open_channel": wire.open_channel(channel)}))
        return {"deleted": channel.id}

    async def api_announce(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """Post an announcement (a message from no user) to the channel's participants."""
        channel = await self._channel(app.id, body.get("id"))
        text = validation.message_text(body.get("text"), self.limits)
        return {"message": await self._post(channel, None, "announcement", text, body, None)}

