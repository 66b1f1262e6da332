"""The server API's results, as the OpenAPI document's schemas name them."""

from __future__ import annotations

from typing import Any, TypedDict


class User(TypedDict):
    id: str
    display_name: str
    avatar_url: str
    profile_url: str
    data: str
    metadata: dict[str, Any]
    check_access_token: bool
    is_online: bool


class UserView(TypedDict):
    """A user and their readable profile token (None when they have none)."""

    user: User
    access_token: str | None


class Token(TypedDict):
    id: str
    kind: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None


class IssuedToken(TypedDict):
    """A new token: ``access_token`` is shown in this answer only."""

    access_token: str
    token: Token


class Revocation(TypedDict):
    revoked: list[str]
    sessions_closed: int


class Session(TypedDict):
    session_id: str
    started_at: float
    remote_address: str
    user_agent: str
    token_id: str | None


class App(TypedDict):
    app_id: str
    name: str
    allowed_origins: list[str]
    require_access_token: bool
    created_at: float


class SigningKey(TypedDict):
    key_id: str
    created_at: float
    revoked_at: float | None


class NewSigningKey(TypedDict):
    """A new key: ``secret`` (the HMAC key for :func:`chatcamp_client.sign_token`) is shown in
    this answer only."""

    key_id: str
    secret: str
    created_at: float


class KeyRevocation(TypedDict):
    key: SigningKey
    sessions_closed: int


class AppRevocation(TypedDict):
    issued_before: float
    revoked: int
    sessions_closed: int


class OpenChannel(TypedDict):
    id: str
    name: str
    avatar_url: str
    data: str
    metadata: dict[str, Any]
    custom_filter: list[str]
    inserted_at: int
    updated_at: int
    participants_count: int


class Participant(User):
    status: str
    """``ACCEPTED`` (a member) or ``INVITED`` (until the user accepts)."""


class GroupChannel(OpenChannel):
    """As the user it is listed for sees it (``list_for_user``); from the other methods,
    as nobody in particular: ``unread_message_count`` 0 and ``my_status`` ``NONE``."""

    participants: list[Participant]
    is_distinct: bool
    last_message: dict[str, Any]
    """The newest message, or ``{}`` when there is none."""
    unread_message_count: int
    read_receipt: dict[str, int]
    """Each member's last read, in epoch seconds."""
    my_status: str


class GroupChannelMade(TypedDict):
    group_channel: GroupChannel
    created: bool
    """False when ``is_distinct`` found the channel of that set already there."""


class ChannelMessage(TypedDict, total=False):
    """A message as pushed to participants; ``user`` is absent for an announcement."""

    id: str
    type: str
    text: str
    channel_id: str
    channel_type: str
    user: User
    inserted_at: int
    updated_at: int
    metadata: dict[str, Any]
    custom_filter: list[str]
    data: str
