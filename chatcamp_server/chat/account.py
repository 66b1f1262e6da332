"""The session's requests about users: its own profile (``users.update``)."""

from __future__ import annotations

from typing import Any

from chatcamp_server import validation
from chatcamp_server.chat.router import Route
from chatcamp_server.chat.session import ChatSession
from chatcamp_server.errors import Unauthorized
from chatcamp_server.users import Users


class Account:
    def __init__(self, users: Users) -> None:
        self.users = users

    def routes(self) -> dict[str, Route]:
        return {"users.update": Route(self.update, "change the session's own profile fields")}

    async def update(self, session: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        if data.get("id", session.user_id) != session.user_id:
            raise Unauthorized("A session can only update its own user", "NOT_AUTHORIZED")
        changes = validation.profile_changes(data, session.limits)
        user = await self.users.update_own_profile(session.app_id, session.user_id, changes)
        return {"user": user}
