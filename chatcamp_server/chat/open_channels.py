"""Open channels: rooms anyone in the app may join, read and write in once joined.

One class serves both callers: the SDK's ``open_channels.*`` requests (``routes``) and the
server API's (``api_methods``), so a channel made with the API key and one read from the
browser go through the same code.  Messages are the shared ``ChannelKind``'s.

Open channels are made by the integrator's backend (``open_channels.create`` with the API
key), never from a browser: an SDK ``open_channels.create`` is refused, since any visitor
could otherwise fill the app with rooms.
"""

from __future__ import annotations

import asyncio
from typing import Any

from chatcamp_server import protocol, validation
from chatcamp_server.chat import wire
from chatcamp_server.chat.channels import DEFAULT_PAGE, ChannelKind
from chatcamp_server.chat.router import Route
from chatcamp_server.chat.session import ChatSession
from chatcamp_server.errors import Forbidden
from chatcamp_server.keys import random_id
from chatcamp_server.sessions.live import Target
from chatcamp_server.storage.store import (
    JOINED,
    NO_CHANNEL,
    OPEN_CHANNEL,
    TOO_MANY_CHANNELS,
    App,
    Channel,
    Participant,
)

PREFIX = "open_channels."


class OpenChannels(ChannelKind):
    prefix = PREFIX
    kind = OPEN_CHANNEL
    wire_type = wire.OPEN_CHANNEL_TYPE
    label = "open channel"

    def routes(self) -> dict[str, Route]:
        table = {
            "get": (self.get, "an open channel by ID"),
            "list": (self.list_channels, "the app's open channels, by ID, paged with reference"),
            "create": (self.create_refused, "refused: open channels are made with the API key"),
            "join": (self.join, "become a participant; join.pub to the others"),
            "leave": (self.leave, "stop being a participant; leave.pub to the others"),
            "participants_list": (self.participants, "a channel's participants, paged"),
            **self.message_routes(),
        }
        return {PREFIX + name: Route(handler, summary)
                for name, (handler, summary) in table.items()}

    async def member_channel(self, session: ChatSession, data: dict[str, Any]) -> Channel:
        channel = await self.channel(session.app_id, data.get("id"))
        if not await self.store.is_participant(session.app_id, channel.id, session.user_id):
            raise Forbidden("Join the channel first", "NOT_A_PARTICIPANT")
        return channel

    # reading

    async def get(self, session: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        return {"open_channel": wire.open_channel(await self.channel(session.app_id,
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
        channel = await self.channel(session.app_id, data.get("id"))
        limit = validation.page_limit(data.get("limit"), DEFAULT_PAGE, self.limits.list_page_max)
        after = data.get("reference")
        after = None if after in (None, "") else validation.user_id(after, self.limits,
                                                                    "reference")
        users = await self.store.list_participants(session.app_id, channel.id, after, limit)
        online = await asyncio.gather(*(self.inventory.is_online(u.app_id, u.id) for u in users))
        return {"open_channel": {"participants": [
            protocol.wire_user(user, is_on) for user, is_on in zip(users, online)]}}

    # participants

    async def create_refused(self, session: ChatSession, data: dict[str, Any]
                             ) -> dict[str, Any]:
        raise Forbidden("Open channels are created by the app's server (open_channels.create "
                        "with its API key)", "FORBIDDEN")

    async def join(self, session: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        channel = await self.channel(session.app_id, data.get("id"))
        outcome = await self.store.add_participant(
            Participant(session.app_id, channel.id, session.user_id, self.clock()),
            self.limits.open_channels_per_user)
        if outcome == NO_CHANNEL:
            raise self.missing(channel.id)
        if outcome == TOO_MANY_CHANNELS:
            raise Forbidden(f"A user may be in at most {self.limits.open_channels_per_user} "
                            "open channels", "TOO_MANY_CHANNELS")
        joined = await self.channel(session.app_id, channel.id)
        if outcome == JOINED:
            await self._announce_member(session, joined, "join")
        return {"open_channel": wire.open_channel(joined)}

    async def leave(self, session: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        channel = await self.channel(session.app_id, data.get("id"))
        left = await self.store.remove_participant(session.app_id, channel.id, session.user_id)
        channel = await self.channel(session.app_id, channel.id)
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

    # the server API

    def api_methods(self) -> dict[str, Any]:
        return {PREFIX + "create": self.api_create, PREFIX + "get": self.api_get,
                PREFIX + "update": self.api_update, PREFIX + "list": self.api_list,
                PREFIX + "delete": self.api_delete, PREFIX + "announce": self.api_announce}

    async def api_create(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """Create an open channel, with the caller's ``id`` or a generated one."""
        channel_id = (validation.channel_id(body["id"], self.limits)
                      if body.get("id") is not None else random_id())
        now = self.clock()
        channel = await self.store.create_channel(Channel(
            app.id, channel_id, OPEN_CHANNEL, created_at=now, updated_at=now,
            **self.profile(body)))
        return {"open_channel": wire.open_channel(channel)}

    async def api_get(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        return {"open_channel": wire.open_channel(await self.channel(app.id, body.get("id")))}

    async def api_list(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        return {"open_channels": await self._list(app.id, body)}

    async def api_update(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        channel = await self.channel(app.id, body.get("id"))
        updated = await self.store.update_channel(app.id, channel.id, self.profile(body),
                                                  self.clock())
        if updated is None:
            raise self.missing(channel.id)
        shown = wire.open_channel(updated)
        ids = await self.store.participant_ids(app.id, channel.id)
        await self.bus.send(Target(app.id, user_ids=frozenset(ids)),
                            wire.push(PREFIX + "update", {"open_channel": shown}))
        return {"open_channel": shown}

    async def api_delete(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        channel = await self.channel(app.id, body.get("id"))
        ids = await self.store.participant_ids(app.id, channel.id)
        if not await self.store.delete_channel(app.id, channel.id):
            raise self.missing(channel.id)
        await self.bus.send(Target(app.id, user_ids=frozenset(ids)), wire.push(
            PREFIX + "delete", {"open_channel": wire.open_channel(channel)}))
        return {"deleted": channel.id}

    async def api_announce(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """Post an announcement (a message from no user) to the channel's participants."""
        channel = await self.channel(app.id, body.get("id"))
        text = validation.message_text(body.get("text"), self.limits)
        return {"message": await self.post(channel, None, "announcement", text, body, None)}

