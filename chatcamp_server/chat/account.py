"""The session's requests about users: its own profile (``users.update``) and the app's
users with their presence (``users.list``)."""

from __future__ import annotations

import asyncio
from typing import Any

from chatcamp_server import protocol, validation
from chatcamp_server.chat.router import Route
from chatcamp_server.chat.session import ChatSession
from chatcamp_server.errors import BadRequest, Unauthorized
from chatcamp_server.storage.store import User
from chatcamp_server.users import Users

ONLINE_FILTERS = ("ALL", "ONLINE", "OFFLINE")
SCANNED_PAGES = 10
"""A presence-filtered page looks through at most this many pages of users after its
reference: presence lives in the session inventory, not beside the users in the store, so a
page of the few online users among many is found by looking, within a bound."""


class Account:
    def __init__(self, users: Users) -> None:
        self.users = users

    def routes(self) -> dict[str, Route]:
        return {"users.update": Route(self.update, "change the session's own profile fields"),
                "users.list": Route(self.list_users,
                                    "the app's users by ID, with is_online_filter and "
                                    "display_name_search, paged with reference")}

    async def update(self, session: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        if data.get("id", session.user_id) != session.user_id:
            raise Unauthorized("A session can only update its own user", "NOT_AUTHORIZED")
        changes = validation.profile_changes(data, session.limits)
        user = await self.users.update_own_profile(session.app_id, session.user_id, changes)
        return {"user": user}

    async def list_users(self, session: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        limits = session.limits
        limit = validation.page_limit(data.get("limit"), 20, limits.list_page_max)
        wanted = data.get("is_online_filter") or "ALL"
        if wanted not in ONLINE_FILTERS:
            raise BadRequest("is_online_filter must be ALL, ONLINE or OFFLINE", "INVALID_FIELD")
        name = data.get("display_name_search") or ""
        if not isinstance(name, str):
            raise BadRequest("display_name_search must be a string", "INVALID_FIELD")
        name = validation.search_text(name, "display_name_search",
                                      limits.max_profile_field_chars)
        store, inventory = self.users.store, self.users.inventory
        after: User | None = None
        if data.get("reference") not in (None, ""):
            reference = validation.user_id(data["reference"], limits, "reference")
            after = await store.get_user(session.app_id, reference) or User(session.app_id,
                                                                            reference)
        found: list[dict[str, Any]] = []
        for _ in range(SCANNED_PAGES if wanted != "ALL" else 1):
            page = await store.search_users(session.app_id, name, by_name=bool(name),
                                            after=after, limit=limit)
            online = await asyncio.gather(*(inventory.is_online(u.app_id, u.id) for u in page))
            found += [protocol.wire_user(user, is_on) for user, is_on in zip(page, online)
                      if wanted == "ALL" or is_on == (wanted == "ONLINE")]
            if len(found) >= limit or len(page) < limit:
                break
            after = page[-1]
        return {"users": found[:limit]}
