"""The table of server-API methods the clients wrap: each one's name, the request fields it
may send and how its answer becomes a result. Both clients read it, and
``tests/test_api_client.py`` checks it against the server's OpenAPI document."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar, cast

from chatcamp_client import types

T = TypeVar("T")

PROFILE = ("display_name", "avatar_url", "profile_url", "data", "metadata",
           "check_access_token", "access_token")
"""The profile fields of ``users.create`` and ``users.update``."""


@dataclass(frozen=True)
class Method(Generic[T]):
    name: str
    fields: tuple[str, ...]
    result: Callable[[dict[str, Any]], T]

    def params(self, given: dict[str, Any]) -> dict[str, Any]:
        """The request body: the fields given, those left at None not sent (the server's
        default applies)."""
        unknown = set(given) - set(self.fields)
        if unknown:
            raise TypeError(f"{self.name} takes no field {', '.join(sorted(unknown))}")
        return {name: value for name, value in given.items() if value is not None}


def _whole(kind: type[T]) -> Callable[[dict[str, Any]], T]:
    """The answer without its ``ok``, as ``kind``."""
    def parse(body: dict[str, Any]) -> T:
        return cast(T, {key: value for key, value in body.items() if key != "ok"})
    return parse


def _field(name: str, kind: type[T]) -> Callable[[dict[str, Any]], T]:
    def parse(body: dict[str, Any]) -> T:
        return cast(T, body[name])
    return parse


USERS_CREATE = Method("users.create", ("id", *PROFILE), _whole(types.UserView))
USERS_GET = Method("users.get", ("id",), _whole(types.UserView))
USERS_UPDATE = Method("users.update", ("id", *PROFILE), _whole(types.UserView))
TOKENS_ISSUE = Method("users.tokens.issue", ("id", "expires_in"), _whole(types.IssuedToken))
TOKENS_LIST = Method("users.tokens.list", ("id",), _field("tokens", list[types.Token]))
TOKENS_REVOKE = Method("users.tokens.revoke", ("id", "token_id", "issued_before"),
                       _whole(types.Revocation))
SESSIONS_LIST = Method("users.sessions.list", ("id",),
                       _field("sessions", list[types.Session]))
SESSIONS_END = Method("users.sessions.end", ("id", "session_id"), _field("sessions_closed", int))
APPS_GET = Method("apps.get", (), _field("app", types.App))
APPS_UPDATE = Method("apps.update", ("allowed_origins", "require_access_token"),
                     _field("app", types.App))
KEYS_CREATE = Method("apps.signing_keys.create", (), _whole(types.NewSigningKey))
KEYS_LIST = Method("apps.signing_keys.list", (),
                   _field("signing_keys", list[types.SigningKey]))
KEYS_REVOKE = Method("apps.signing_keys.revoke", ("key_id",), _whole(types.KeyRevocation))
APP_TOKENS_REVOKE = Method("apps.tokens.revoke", ("issued_before",),
                           _whole(types.AppRevocation))

CHANNEL_PROFILE = ("name", "avatar_url", "data", "metadata", "custom_filter")
"""The profile fields of ``open_channels.create`` and ``open_channels.update``."""
CHANNELS_CREATE = Method("open_channels.create", ("id", *CHANNEL_PROFILE),
                         _field("open_channel", types.OpenChannel))
CHANNELS_GET = Method("open_channels.get", ("id",), _field("open_channel", types.OpenChannel))
CHANNELS_UPDATE = Method("open_channels.update", ("id", *CHANNEL_PROFILE),
                         _field("open_channel", types.OpenChannel))
CHANNELS_LIST = Method("open_channels.list", ("limit", "reference"),
                       _field("open_channels", list[types.OpenChannel]))
CHANNELS_DELETE = Method("open_channels.delete", ("id",), _field("deleted", str))
CHANNELS_ANNOUNCE = Method("open_channels.announce", ("id", "text"),
                           _field("message", types.ChannelMessage))

GROUPS_CREATE = Method("group_channels.create",
                       ("id", "participant_ids", "is_distinct", *CHANNEL_PROFILE),
                       _whole(types.GroupChannelMade))
GROUPS_GET = Method("group_channels.get", ("id",), _field("group_channel", types.GroupChannel))
GROUPS_UPDATE = Method("group_channels.update", ("id", *CHANNEL_PROFILE),
                       _field("group_channel", types.GroupChannel))
GROUPS_DELETE = Method("group_channels.delete", ("id",), _field("deleted", str))
GROUPS_ADD = Method("group_channels.add_participants", ("id", "participant_ids"),
                    _field("added", list[str]))
GROUPS_REMOVE = Method("group_channels.remove_participants", ("id", "participant_ids"),
                       _field("removed", list[str]))
GROUPS_FOR_USER = Method("group_channels.list_for_user",
                         ("user_id", "participant_state_filter", "limit", "reference"),
                         _field("group_channels", list[types.GroupChannel]))
GROUPS_ANNOUNCE = Method("group_channels.announce", ("id", "text"),
                         _field("message", types.ChannelMessage))

METHODS: tuple[Method[Any], ...] = (
    USERS_CREATE, USERS_GET, USERS_UPDATE, TOKENS_ISSUE, TOKENS_LIST, TOKENS_REVOKE,
    SESSIONS_LIST, SESSIONS_END, APPS_GET, APPS_UPDATE, KEYS_CREATE, KEYS_LIST, KEYS_REVOKE,
    APP_TOKENS_REVOKE, CHANNELS_CREATE, CHANNELS_GET, CHANNELS_UPDATE, CHANNELS_LIST,
    CHANNELS_DELETE, CHANNELS_ANNOUNCE, GROUPS_CREATE, GROUPS_GET, GROUPS_UPDATE, GROUPS_DELETE,
    GROUPS_ADD, GROUPS_REMOVE, GROUPS_FOR_USER, GROUPS_ANNOUNCE)
