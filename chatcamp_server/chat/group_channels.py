"""Group channels: private conversations, with invites, unread counts, read receipts and
typing, as the SDK 2.4.6 speaks them (protocol spec §5.2–§5.4).

Who may do what rests on the participant's stored status: ``ACCEPTED`` members read, write
and get the messages; ``INVITED`` ones see the channel and its members (in ``my_list``, with
their status) and nothing of its messages until they accept; a user who left or declined
has no row, so receives nothing more.  Users named at creation are members at once.

A channel on the wire carries per-user fields (``unread_message_count``, ``my_status``), and
the SDK replaces its cached channel with every one it is pushed (``update``, ``accept``,
``leave``), so those pushes are made per recipient; they are rare, unlike messages, whose
push carries no channel and is encoded once for all.

Typing is pushed, never stored, and bounded per session (``Limits.typing_per_second``).
"""

from __future__ import annotations

import time
from typing import Any, Collection

from chatcamp_server import validation
from chatcamp_server.chat import wire
from chatcamp_server.chat.channels import DEFAULT_PAGE, ChannelKind
from chatcamp_server.chat.router import Route
from chatcamp_server.chat.session import ChatSession
from chatcamp_server.errors import BadRequest, Forbidden, NotFound, RateLimited, ServerError
from chatcamp_server.keys import random_id
from chatcamp_server.sessions.live import Target
from chatcamp_server.storage.store import (
    ACCEPTED,
    CHANNEL_FULL,
    GROUP_CHANNEL,
    INVITED,
    JOINED,
    NO_CHANNEL,
    TOO_MANY_CHANNELS,
    App,
    Channel,
    MyChannel,
    Participant,
    distinct_key,
)

PREFIX = "group_channels."
STATE_FILTERS = {"ALL": None, "ACCEPTED": ACCEPTED, "INVITED": INVITED}
UNSUPPORTED_LIST_FILTERS = (
    "active_filter", "channel_name_search", "custom_filter", "custom_filter_search",
    "is_distinct_filter", "public_filter", "user_ids_all_filter", "user_ids_filter_search",
    "user_name_search", "view_only_filter")
"""``my_list`` filters this server does not apply: refused by name rather than ignored, since
an ignored filter would answer with channels the caller asked to leave out."""


class GroupChannels(ChannelKind):
    prefix = PREFIX
    kind = GROUP_CHANNEL
    wire_type = wire.GROUP_CHANNEL_TYPE
    label = "group channel"

    def routes(self) -> dict[str, Route]:
        table = {
            "create": (self.create, "a channel of the caller and participant_ids (members "
                                    "at once); is_distinct gives one per set of members"),
            "get": (self.get, "a channel the caller is a member of or invited to"),
            "my_list": (self.my_list, "the caller's channels, most recent chat first, with "
                                      "unread counts and last messages, paged"),
            "update": (self.update, "change a channel's name, data or metadata; update.pub"),
            "invite": (self.invite, "invite users (pending until they accept); invite.pub"),
            "accept": (self.accept, "accept an invitation; accept.pub"),
            "decline": (self.decline, "decline an invitation; decline.pub"),
            "join": (self.join_refused, "refused: group channels are joined by invitation"),
            "leave": (self.leave, "leave a channel; leave.pub"),
            "participants_list": (self.participants, "a channel's members and invitees"),
            "read": (self.read, "mark the channel read; read.pub with the read receipts"),
            "start_typing": (self.start_typing, "tell the members; never stored"),
            "stop_typing": (self.stop_typing, "tell the members; never stored"),
            **self.message_routes(),
        }
        routes = {PREFIX + name: Route(handler, summary)
                  for name, (handler, summary) in table.items()}
        routes["users.get_total_unread_message_count"] = Route(
            self.total_unread, "unread messages across the caller's group channels")
        routes["users.get_total_unread_group_channel_count"] = Route(
            self.total_unread_channels, "the caller's group channels with unread messages")
        routes["users.mark_as_read_all"] = Route(
            self.read_all, "mark every group channel of the caller read")
        return routes

    # who is who

    async def _row(self, session: ChatSession, data: dict[str, Any]
                   ) -> tuple[Channel, Participant]:
        """The channel and the caller's row in it: members and invitees alike."""
        channel = await self.channel(session.app_id, data.get("id"))
        row = await self.store.get_participant(session.app_id, channel.id, session.user_id)
        if row is None:
            raise Forbidden("You are not a participant of this channel", "NOT_A_PARTICIPANT")
        return channel, row

    async def member_channel(self, session: ChatSession, data: dict[str, Any]) -> Channel:
        channel, row = await self._row(session, data)
        if row.status != ACCEPTED:
            raise Forbidden("Accept the invitation first", "NOT_A_PARTICIPANT")
        return channel

    async def recipients(self, app_id: str, channel_id: str) -> list[str]:
        return await self.store.participant_ids(app_id, channel_id, ACCEPTED)

    async def _users(self, app_id: str, value: Any, field: str = "participant_ids"
                     ) -> list[str]:
        """Existing users of the app, each once: a channel with a user who does not exist
        would be one nobody can answer in."""
        if value is None:
            return []
        if not isinstance(value, list):
            raise BadRequest(f"{field} must be a list of user IDs", "INVALID_FIELD")
        if len(value) > self.limits.group_channel_max_participants:
            raise BadRequest(f"{field} names more than "
                             f"{self.limits.group_channel_max_participants} users",
                             "TOO_MANY_PARTICIPANTS")
        ids = list(dict.fromkeys(validation.user_id(v, self.limits, field) for v in value))
        found = await self.store.get_users(app_id, ids)
        unknown = [user_id for user_id in ids if user_id not in found]
        if unknown:
            raise NotFound(f"no such user: {', '.join(map(repr, unknown[:5]))}",
                           "USER_NOT_FOUND")
        return ids

    # how a channel is shown

    async def _views(self, channel: Channel, viewers: Collection[str]
                     ) -> dict[str, dict[str, Any]]:
        """The channel as each of ``viewers`` sees it: members, read receipts and last
        message shared, unread count and status each their own."""
        rows = await self.store.participants_of(channel.app_id, channel.id)
        users = await self.store.get_users(channel.app_id, [r.user_id for r in rows])
        online = await self.presence(channel.app_id, [r.user_id for r in rows])
        members = [wire.participant(r, users.get(r.user_id), online[r.user_id]) for r in rows]
        last = await self.store.history(channel.app_id, channel.id, None, 1)
        shown_last = (await self.shown_messages(channel.app_id, last))[0] if last else None
        receipt = wire.read_receipt([r for r in rows if r.status == ACCEPTED],
                                    last[0] if last else None)
        status = {r.user_id: r.status for r in rows}
        views = {}
        for viewer in viewers:
            mine = await self.store.my_channels(channel.app_id, viewer, GROUP_CHANNEL,
                                                channel_ids=[channel.id], limit=1)
            unread = mine[0].unread if mine else 0
            mine_status = status.get(viewer, "NONE")
            views[viewer] = wire.group_channel(
                channel, members, receipt, shown_last if mine_status == ACCEPTED else None,
                unread, mine_status)
        return views

    async def _view(self, channel: Channel, viewer: str) -> dict[str, Any]:
        return (await self._views(channel, [viewer]))[viewer]

    async def _listed(self, app_id: str, found: list[MyChannel]) -> list[dict[str, Any]]:
        """A page of ``my_list``: each channel's members, and every sender and member shown
        from one lookup of users and presence for the whole page."""
        rows = await self.store.participants_of_channels(
            app_id, [mine.channel.id for mine in found])
        ids = {r.user_id for page in rows.values() for r in page}
        users = await self.store.get_users(app_id, ids)
        online = await self.presence(app_id, ids)
        lasts = await self.shown_messages(
            app_id, [mine.last_message for mine in found
                     if mine.last_message is not None and mine.me.status == ACCEPTED])
        by_id = {shown["id"]: shown for shown in lasts}
        listed = []
        for mine in found:
            members = rows.get(mine.channel.id, [])
            last = mine.last_message if mine.me.status == ACCEPTED else None
            listed.append(wire.group_channel(
                mine.channel,
                [wire.participant(r, users.get(r.user_id), online[r.user_id]) for r in members],
                wire.read_receipt([r for r in members if r.status == ACCEPTED], last),
                by_id.get(last.id) if last is not None else None, mine.unread,
                mine.me.status))
        return listed

    async def _push_each(self, channel: Channel, what: str, user_ids: Collection[str],
                         extra: dict[str, Any] | None = None,
                         except_session: str | None = None) -> None:
        for user_id, view in (await self._views(channel, user_ids)).items():
            await self.bus.send(Target(channel.app_id, user_id=user_id,
                                       except_session=except_session),
                                wire.push(PREFIX + what, {"group_channel": view,
                                                          **(extra or {})}))

    async def _people(self, app_id: str, user_ids: list[str]) -> list[dict[str, Any]]:
        users = await self.store.get_users(app_id, user_ids)
        online = await self.presence(app_id, user_ids)
        return [wire.sender(users.get(u), u, online[u]) or {} for u in user_ids]

    # reading

    async def get(self, session: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        channel, _ = await self._row(session, data)
        return {"group_channel": await self._view(channel, session.user_id)}

    async def my_list(self, session: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        return {"group_channels": await self._my_list(session.app_id, session.user_id, data)}

    async def _my_list(self, app_id: str, user_id: str, data: dict[str, Any]
                       ) -> list[dict[str, Any]]:
        for name in UNSUPPORTED_LIST_FILTERS:
            if data.get(name) not in (None, "", [], {}, "ALL", "All"):
                raise BadRequest(f"{name} is not supported by this server",
                                 "UNSUPPORTED_FILTER")
        if data.get("order") not in (None, "RECENT_CHAT"):
            raise BadRequest("Only the RECENT_CHAT order is supported", "UNSUPPORTED_ORDER")
        if data.get("include_empty") is False:
            raise BadRequest("include_empty false is not supported by this server: every "
                             "channel is listed", "UNSUPPORTED_FILTER")
        state = data.get("participant_state_filter", "ALL")
        if not isinstance(state, str) or state not in STATE_FILTERS:
            raise BadRequest("participant_state_filter is ALL, ACCEPTED or INVITED",
                             "INVALID_FIELD")
        limit = validation.page_limit(data.get("limit"), DEFAULT_PAGE, self.limits.list_page_max)
        after = None
        if data.get("reference") not in (None, ""):
            after = await self.store.get_channel(
                app_id, validation.channel_id(data["reference"], self.limits, "reference"))
            if (after is None or after.kind != GROUP_CHANNEL or await self.store.get_participant(
                    app_id, after.id, user_id) is None):
                raise NotFound("the reference is none of the user's channels", "NOT_FOUND")
        channel_ids = None
        if data.get("channel_ids_filter") not in (None, []):
            if (not isinstance(data["channel_ids_filter"], list)
                    or len(data["channel_ids_filter"]) > self.limits.list_page_max):
                raise BadRequest(f"channel_ids_filter must be a list of at most "
                                 f"{self.limits.list_page_max} IDs", "INVALID_FIELD")
            channel_ids = [validation.channel_id(v, self.limits, "channel_ids_filter")
                           for v in data["channel_ids_filter"]]
        found = await self.store.my_channels(app_id, user_id, GROUP_CHANNEL,
                                             status=STATE_FILTERS[state], after=after,
                                             limit=limit, channel_ids=channel_ids)
        return await self._listed(app_id, found)

    async def participants(self, session: ChatSession, data: dict[str, Any]
                           ) -> dict[str, Any]:
        channel, _ = await self._row(session, data)
        limit = validation.page_limit(data.get("limit"), DEFAULT_PAGE, self.limits.list_page_max)
        after = data.get("reference")
        after = None if after in (None, "") else validation.user_id(after, self.limits,
                                                                    "reference")
        rows = [r for r in await self.store.participants_of(session.app_id, channel.id)
                if after is None or r.user_id > after][:limit]
        users = await self.store.get_users(session.app_id, [r.user_id for r in rows])
        online = await self.presence(session.app_id, [r.user_id for r in rows])
        return {"group_channel": {"participants": [
            wire.participant(r, users.get(r.user_id), online[r.user_id]) for r in rows]}}

    # making and changing channels

    async def create(self, session: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        self.spend(session)
        others = await self._users(session.app_id, data.get("participant_ids"))
        members = list(dict.fromkeys([session.user_id, *others]))
        channel, created = await self._create(session.app_id, members, data,
                                              created_by=session.user_id)
        if created:
            await self._push_each(channel, "update",
                                  [m for m in members if m != session.user_id])
        return {"group_channel": await self._view(channel, session.user_id)}

    async def _create(self, app_id: str, members: list[str], data: dict[str, Any],
                      created_by: str | None, channel_id: str | None = None
                      ) -> tuple[Channel, bool]:
        if data.get("is_public") is not None and validation.flag(data["is_public"],
                                                                 "is_public"):
            raise BadRequest("Public group channels are not supported by this server",
                             "UNSUPPORTED")
        if len(members) > self.limits.group_channel_max_participants:
            raise BadRequest(f"A group channel has at most "
                             f"{self.limits.group_channel_max_participants} participants",
                             "TOO_MANY_PARTICIPANTS")
        distinct = (data.get("is_distinct") is not None
                    and validation.flag(data["is_distinct"], "is_distinct"))
        now = self.clock()
        draft = Channel(app_id, channel_id or random_id(), GROUP_CHANNEL,
                        created_by=created_by, created_at=now, updated_at=now,
                        is_distinct=distinct,
                        distinct_key=distinct_key(members) if distinct else None,
                        active_at=now, **self.profile(data))
        return await self.store.create_group_channel(
            draft, [Participant(app_id, draft.id, m, now) for m in members],
            self.limits.group_channels_per_user)

    async def update(self, session: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        self.spend(session)
        channel = await self.member_channel(session, data)
        if data.get("participant_ids"):
            raise BadRequest("Members change by invite and leave, not update",
                             "INVALID_FIELD")
        updated = await self._apply(channel, self.profile(data))
        return {"group_channel": await self._view(updated, session.user_id)}

    async def _apply(self, channel: Channel, changes: dict[str, Any]) -> Channel:
        updated = await self.store.update_channel(channel.app_id, channel.id, changes,
                                                  self.clock())
        if updated is None:
            raise self.missing(channel.id)
        await self._push_each(updated, "update",
                              await self.store.participant_ids(channel.app_id, channel.id))
        return updated

    async def _members_changed(self, channel: Channel) -> Channel:
        """A distinct channel whose members changed is no longer the one of its first set:
        a create of that set makes a new channel."""
        if channel.distinct_key is None:
            return channel
        updated = await self.store.update_channel(channel.app_id, channel.id,
                                                  {"distinct_key": None}, channel.updated_at)
        return updated or channel

    async def _add(self, channel: Channel, user_ids: list[str], status: str
                   ) -> tuple[list[str], ServerError | None]:
        """Add the users with ``status`` until one cannot be: those newly added
        (already-participants are left as they are), and why the rest were not.  The
        caller tells of the added before it raises the refusal, so that nobody is in a
        channel its members were not told of."""
        added: list[str] = []
        for user_id in user_ids:
            outcome = await self.store.add_participant(
                Participant(channel.app_id, channel.id, user_id, self.clock(), status),
                self.limits.group_channels_per_user,
                self.limits.group_channel_max_participants)
            if outcome == NO_CHANNEL:
                return added, self.missing(channel.id)
            if outcome == CHANNEL_FULL:
                return added, Forbidden(
                    f"A group channel has at most "
                    f"{self.limits.group_channel_max_participants} participants",
                    "CHANNEL_FULL")
            if outcome == TOO_MANY_CHANNELS:
                return added, Forbidden(f"{user_id!r} is already in "
                                        f"{self.limits.group_channels_per_user} group channels",
                                        "TOO_MANY_CHANNELS")
            if outcome == JOINED:
                added.append(user_id)
        return added, None

    async def invite(self, session: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        self.spend(session)
        channel = await self.member_channel(session, data)
        invited, refusal = await self._add(
            channel, await self._users(session.app_id, data.get("participant_ids")), INVITED)
        if invited:
            channel = await self._members_changed(await self.channel(session.app_id,
                                                                     channel.id))
            everyone = await self.store.participant_ids(session.app_id, channel.id)
            await self._push_each(channel, "invite", everyone,
                                  {"users": await self._people(session.app_id, invited)})
        if refusal is not None:
            raise refusal
        return {"group_channel": await self._view(channel, session.user_id)}

    async def accept(self, session: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        channel, row = await self._row(session, data)
        if row.status != INVITED or not await self.store.accept_invite(
                session.app_id, channel.id, session.user_id):
            raise Forbidden("There is no invitation to accept", "NOT_INVITED")
        await self._announce(channel, "accept", session.user_id)
        return {"group_channel": await self._view(channel, session.user_id)}

    async def decline(self, session: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        channel, row = await self._row(session, data)
        if row.status != INVITED:
            raise Forbidden("There is no invitation to decline", "NOT_INVITED")
        return {"group_channel": await self._remove(channel, session.user_id, "decline")}

    async def join_refused(self, session: ChatSession, data: dict[str, Any]
                           ) -> dict[str, Any]:
        raise Forbidden("Group channels are private: a member invites, the invitee accepts",
                        "FORBIDDEN")

    async def leave(self, session: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        channel, _ = await self._row(session, data)
        return {"group_channel": await self._remove(channel, session.user_id, "leave")}

    async def _remove(self, channel: Channel, user_id: str, what: str) -> dict[str, Any]:
        """Take the user out, tell the rest and the user's own sessions, and give the
        channel as the user last saw it.  The channel goes with its last participant."""
        shown = await self._view(channel, user_id)
        if not await self.store.remove_participant(channel.app_id, channel.id, user_id):
            return shown
        remaining = await self.store.participant_ids(channel.app_id, channel.id)
        current = await self.store.get_channel(channel.app_id, channel.id)
        if not remaining or current is None:
            # The last one out takes the channel; of two leaving at once, each may be.
            await self.store.delete_channel(channel.app_id, channel.id)
            return {**shown, "my_status": "NONE"}
        await self._announce(await self._members_changed(current), what, user_id,
                             also=user_id)
        return {**shown, "my_status": "NONE"}

    async def _announce(self, channel: Channel, what: str, user_id: str,
                        also: str | None = None) -> None:
        """``what``.pub about ``user_id`` to every participant (and ``also``)."""
        everyone = await self.store.participant_ids(channel.app_id, channel.id)
        if also is not None and also not in everyone:
            everyone.append(also)
        current = await self.store.get_channel(channel.app_id, channel.id)
        if current is not None:
            await self._push_each(current, what, everyone,
                                  {"users": await self._people(channel.app_id, [user_id])})

    # read state and typing

    async def read(self, session: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        """Spends the message budget, and tells the members only when the read state moved:
        each ``read.pub`` carries the whole channel to every member."""
        self.spend(session)
        channel, row = await self._row(session, data)
        if row.status != ACCEPTED:
            raise Forbidden("Accept the invitation first", "NOT_A_PARTICIPANT")
        if row.read_at and row.last_read_seq >= channel.last_seq:
            return {"group_channel": await self._view(channel, session.user_id)}
        if await self.store.mark_read(session.app_id, channel.id, session.user_id,
                                      self.clock()) is None:
            raise Forbidden("Accept the invitation first", "NOT_A_PARTICIPANT")
        shown = await self._view(channel, session.user_id)
        await self._push_read(channel, shown)
        return {"group_channel": shown}

    async def _push_read(self, channel: Channel, shown: dict[str, Any]) -> None:
        """``read.pub`` to every member: the SDK keeps its own unread count over the one in
        the push, so one frame serves all."""
        members = await self.recipients(channel.app_id, channel.id)
        await self.bus.send(Target(channel.app_id, user_ids=frozenset(members)),
                            wire.push(PREFIX + "read", {"group_channel": shown}))

    async def _typing(self, session: ChatSession, data: dict[str, Any], what: str
                      ) -> dict[str, Any]:
        if not session.typing.take(time.monotonic()):
            raise RateLimited(f"Too many typing events: at most "
                              f"{self.limits.typing_per_second:g} per second", retry_after=2)
        channel = await self.member_channel(session, data)
        others = [m for m in await self.recipients(session.app_id, channel.id)
                  if m != session.user_id]
        await self.bus.send(Target(session.app_id, user_ids=frozenset(others)),
                            wire.push(PREFIX + what, {"group_channel": {
                                "id": channel.id, "typing_participant_id": session.user_id}}))
        return {}

    async def start_typing(self, session: ChatSession, data: dict[str, Any]
                           ) -> dict[str, Any]:
        return await self._typing(session, data, "start_typing")

    async def stop_typing(self, session: ChatSession, data: dict[str, Any]
                          ) -> dict[str, Any]:
        return await self._typing(session, data, "stop_typing")

    async def total_unread(self, session: ChatSession, data: dict[str, Any]
                           ) -> dict[str, Any]:
        messages, _ = await self.store.unread_totals(session.app_id, session.user_id,
                                                     GROUP_CHANNEL)
        return {"user": {"unread_message_count": messages}}

    async def total_unread_channels(self, session: ChatSession, data: dict[str, Any]
                                    ) -> dict[str, Any]:
        _, channels = await self.store.unread_totals(session.app_id, session.user_id,
                                                     GROUP_CHANNEL)
        return {"user": {"unread_group_channel_count": channels}}

    async def read_all(self, session: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        """Every channel is marked read; the read receipts are pushed for at most a page of
        them (``Limits.list_page_max``), so one request costs a bounded number of pushes
        however many channels the user has: the others show on the members' next read."""
        self.spend(session)
        changed = await self.store.mark_all_read(session.app_id, session.user_id,
                                                 GROUP_CHANNEL, self.clock())
        for channel_id in changed[:self.limits.list_page_max]:
            channel = await self.store.get_channel(session.app_id, channel_id)
            if channel is not None:
                await self._push_read(channel, await self._view(channel, session.user_id))
        return {}

    # the server API

    def api_methods(self) -> dict[str, Any]:
        return {PREFIX + "create": self.api_create, PREFIX + "get": self.api_get,
                PREFIX + "update": self.api_update, PREFIX + "delete": self.api_delete,
                PREFIX + "add_participants": self.api_add,
                PREFIX + "remove_participants": self.api_remove,
                PREFIX + "list_for_user": self.api_list_for_user,
                PREFIX + "announce": self.api_announce}

    async def _api_view(self, channel: Channel) -> dict[str, Any]:
        """The channel as the server API shows it: as seen by nobody in particular."""
        return await self._view(channel, "")

    async def api_create(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """Create a group channel of ``participant_ids`` (members at once), with the caller's
        ``id`` or a generated one; ``is_distinct`` returns the existing one of that set."""
        members = await self._users(app.id, body.get("participant_ids"))
        if not members:
            raise BadRequest("participant_ids must name at least one user", "INVALID_FIELD")
        channel_id = (validation.channel_id(body["id"], self.limits)
                      if body.get("id") is not None else None)
        channel, created = await self._create(app.id, members, body, None, channel_id)
        if created:
            await self._push_each(channel, "update", members)
        return {"group_channel": await self._api_view(channel), "created": created}

    async def api_get(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        return {"group_channel": await self._api_view(await self.channel(app.id,
                                                                         body.get("id")))}

    async def api_update(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        channel = await self.channel(app.id, body.get("id"))
        return {"group_channel": await self._api_view(await self._apply(channel,
                                                                        self.profile(body)))}

    async def api_delete(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        channel = await self.channel(app.id, body.get("id"))
        everyone = await self.store.participant_ids(app.id, channel.id)
        views = await self._views(channel, everyone)
        if not await self.store.delete_channel(app.id, channel.id):
            raise self.missing(channel.id)
        for user_id, view in views.items():
            await self.bus.send(Target(app.id, user_id=user_id),
                                wire.push(PREFIX + "delete", {"group_channel": view}))
        return {"deleted": channel.id}

    async def api_add(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """Make users members at once (no invitation); each is told with ``join.pub``."""
        channel = await self.channel(app.id, body.get("id"))
        added, refusal = await self._add(
            channel, await self._users(app.id, body.get("participant_ids")), ACCEPTED)
        if added:
            channel = await self._members_changed(await self.channel(app.id, channel.id))
            for user_id in added:
                await self._announce(channel, "join", user_id)
        if refusal is not None:
            raise refusal
        return {"group_channel": await self._api_view(channel), "added": added}

    async def api_remove(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        channel = await self.channel(app.id, body.get("id"))
        removed = []
        for user_id in await self._users(app.id, body.get("participant_ids")):
            if await self.store.get_participant(app.id, channel.id, user_id) is not None:
                await self._remove(channel, user_id, "leave")
                removed.append(user_id)
        found = await self.store.get_channel(app.id, channel.id)
        return {"group_channel": None if found is None else await self._api_view(found),
                "removed": removed}

    async def api_list_for_user(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """A user's channels as that user's ``my_list`` gives them."""
        user_id = validation.user_id(body.get("user_id"), self.limits, "user_id")
        if await self.store.get_user(app.id, user_id) is None:
            raise NotFound(f"no such user: {user_id!r}", "USER_NOT_FOUND")
        return {"group_channels": await self._my_list(app.id, user_id, body)}

    async def api_announce(self, app: App, body: dict[str, Any]) -> dict[str, Any]:
        """Post an announcement (a message from no user) to the channel's members."""
        channel = await self.channel(app.id, body.get("id"))
        text = validation.message_text(body.get("text"), self.limits)
        return {"message": await self.post(channel, None, "announcement", text, body, None)}
