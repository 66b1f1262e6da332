"""The storage interface: what the server keeps, independent of the database behind it.

SQLite (``sqlite.py``) and PostgreSQL (``postgres.py``, for cluster mode) implement it and
pass the same contract tests.  Methods are coroutines so a networked database fits without
changing callers.  Secrets never cross this interface in plaintext: callers pass
keyed hashes (``*_mac``) and sealed blobs made by ``keys.ServerKeys``.
"""

from __future__ import annotations

import abc
import hashlib
import string
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable, Collection, Sequence, Union

from chatcamp_server.errors import Forbidden


@dataclass(frozen=True)
class App:
    """An app and its policies.

    ``allowed_origins`` empty means any page may open the WebSocket and only the server's own
    origin gets CORS; listed, only those origins (and the server's own) may do either.
    ``require_access_token`` turns ID-only login off, and with it the creation of users by
    whoever connects first.
    """

    id: str
    name: str
    allowed_origins: tuple[str, ...]
    created_at: float
    require_access_token: bool = False
    tokens_revoked_before: float | None = None
    """``apps.tokens.revoke``: signed tokens of the app issued (``iat``) before this are
    refused."""


@dataclass(frozen=True)
class User:
    app_id: str
    id: str
    display_name: str = ""
    avatar_url: str = ""
    profile_url: str = ""
    data: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    check_access_token: bool = False
    created_at: float = 0.0
    updated_at: float = 0.0
    tokens_revoked_before: float | None = None
    """``users.tokens.revoke`` of all or by time: the user's signed tokens issued (``iat``)
    before this are refused."""
    last_seen_at: float | None = None
    """When the user's last live session ended (presence's ``last_seen``)."""


PROFILE_TOKEN = "profile"
"""The one readable token per user, set through users.create/users.update (ChatCamp's)."""
ISSUED_TOKEN = "issued"
"""Tokens minted by the server's own token API: keyed hash only, shown once."""


@dataclass(frozen=True)
class Token:
    id: str
    app_id: str
    user_id: str
    kind: str
    mac: bytes
    sealed: bytes | None
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None

    def usable(self, now: float) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True)
class SigningKey:
    """A key an app's backend signs tokens (JWTs, HS256) with.  The server must read the
    secret back to verify, so it is stored sealed (``keys.ServerKeys.seal``, bound to the app
    and the key ID), never in plaintext."""

    id: str
    app_id: str
    sealed: bytes
    created_at: float
    revoked_at: float | None = None


@dataclass(frozen=True)
class AppRecord:
    """An app as stored: ``App`` leaves out its API key's keyed hash, which a copy of the
    store must carry for the key to keep working."""

    app: App
    api_key_mac: bytes


@dataclass(frozen=True)
class ConsumedSession:
    """A used session key, remembered until ``expires_at``."""

    id: str
    expires_at: float


@dataclass(frozen=True)
class Operator:
    """Someone who may sign in to the dashboard.  ``password_hash`` is a slow password hash
    (argon2id, as a PHC string), never the password; ``password_changed_at`` ends every
    dashboard session begun before it, on every node, with no list of sessions to keep."""

    name: str
    password_hash: str
    created_at: float
    password_changed_at: float


@dataclass(frozen=True)
class AuditEntry:
    """One change an operator made (or a sign-in), as ``serve.py admin audit`` prints it.
    ``detail`` never holds a secret: the dashboard shows a new key once and records only
    that it was made."""

    at: float
    actor: str
    action: str
    target: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    address: str = ""
    id: int = 0
    """Assigned by the store, increasing with each entry; 0 before it is stored."""


OPEN_CHANNEL = "open"
"""A room anyone in the app may join (``open_channels.*``)."""
GROUP_CHANNEL = "group"
"""A private conversation (``group_channels.*``): only its members read or write it."""


@dataclass(frozen=True)
class Channel:
    """A channel and its profile.  ``participants_count`` is read with it, never stored
    apart from the participants themselves, so it cannot drift."""

    app_id: str
    id: str
    kind: str
    name: str = ""
    avatar_url: str = ""
    data: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    custom_filter: tuple[str, ...] = ()
    created_by: str | None = None
    """The user who made it from the SDK; None when made through the server API."""
    created_at: float = 0.0
    updated_at: float = 0.0
    participants_count: int = 0
    last_seq: int = 0
    """The highest ``seq`` the channel's messages were given, deleted ones included: the
    next follows it, and a copy of the store (``export_records``) carries it, so that no
    ``seq`` is given twice."""
    is_distinct: bool = False
    distinct_key: str | None = None
    """For a distinct group channel while its members are the set it was made for: the set,
    as ``distinct_key`` gives it.  At most one channel of an app has a given key (the store
    enforces it, so racing creates make one channel); None once the members change."""
    active_at: float = 0.0
    """When its newest message was posted, else when it was made: a group channel list
    ordered by recent chat sorts on it (``add_message`` sets it)."""


@dataclass(frozen=True)
class Message:
    """One message of a channel.  ``seq`` is its place in the channel's one order, given by
    the store (1, 2, 3, ... per channel, never reused after a delete); ``id`` is what
    clients name it by."""

    app_id: str
    channel_id: str
    id: str
    type: str
    text: str
    user_id: str | None
    """None for an announcement posted through the server API."""
    inserted_at: float
    updated_at: float
    metadata: dict[str, Any] = field(default_factory=dict)
    data: str = ""
    custom_filter: tuple[str, ...] = ()
    seq: int = 0


ACCEPTED = "ACCEPTED"
"""A member: reads, writes and gets the channel's messages."""
INVITED = "INVITED"
"""Invited to a group channel and not yet accepted: sees the channel and its members, never
its messages."""


@dataclass(frozen=True)
class Participant:
    """A user in a channel (a row of its own, so ``serve.py migrate`` copies it).  The
    status and read state are what the SDK calls ``my_status`` and ``read_receipt``."""

    app_id: str
    channel_id: str
    user_id: str
    joined_at: float
    status: str = ACCEPTED
    last_read_seq: int = 0
    """The channel's ``last_seq`` when the user last read it: newer messages from others
    are unread."""
    read_at: float = 0.0
    """When the user last read the channel (0: never); the read receipt others see."""


@dataclass(frozen=True)
class MyChannel:
    """A channel as one of its participants lists it (``group_channels.my_list``)."""

    channel: Channel
    me: Participant
    unread: int
    """Messages of others after ``me.last_read_seq`` that still exist (0 while invited)."""
    last_message: Message | None


JOINED = "joined"
ALREADY_JOINED = "already"
TOO_MANY_CHANNELS = "too_many"
NO_CHANNEL = "no_channel"
CHANNEL_FULL = "full"


def too_many_channels(user_id: str, max_channels: int) -> Forbidden:
    return Forbidden(f"{user_id!r} is already in {max_channels} channels of this kind",
                     "TOO_MANY_CHANNELS")


def distinct_key(user_ids: Collection[str]) -> str:
    """The key of a distinct channel of these members: the same for any order or repeats,
    and short whatever their number (an index entry has a size limit)."""
    return hashlib.sha256("\n".join(sorted(set(user_ids))).encode()).hexdigest()


Record = Union[AppRecord, User, Token, SigningKey, ConsumedSession, Operator, AuditEntry,
               Channel, Participant, Message]
"""One stored row, as ``export_records`` gives it and ``import_records`` takes it."""

PREFIX_END = "\U0010ffff"
"""The greatest code point: prefix + PREFIX_END bounds, as a range, the keys that start with
prefix.  Exact for user IDs, which hold no unassigned code point (``validation.user_id``),
and U+10FFFF is one; a display name with U+10FFFF right after the prefix would be missed."""

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def name_key(display_name: str) -> str:
    """A display name as ``search_users`` matches and orders it: ASCII letters in lower case,
    every other character as it is.  That is SQLite's NOCASE; ``str.lower`` or PostgreSQL's
    lower() would fold more, and the latter by the database's locale."""
    return display_name.translate(_ASCII_LOWER)


def search_after(prefix: str, by_name: bool, after: User | None) -> tuple[str, str] | None:
    """The (key, ID) that ``search_users``'s page starts after, the key being the ID or the
    name's ``name_key``; None when the page starts at the prefix's first match, since an
    ``after`` that sorts before that match bounds nothing.  With one lower bound a query
    enters its index where the page starts, however deep the page."""
    if after is None:
        return None
    key = name_key(after.display_name) if by_name else after.id
    start = name_key(prefix) if by_name else prefix
    return (key, after.id) if key >= start else None


class Store(abc.ABC):
    """Durable state of apps, users and tokens, plus the session-key revocation list."""

    backend = "sqlite"
    """What ``chatcamp_store_errors_total`` labels the store's errors with."""
    errors = 0
    """How often an operation found the database unavailable (``StorageUnavailable``)."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Create or migrate the schema; raise StorageUnavailable with a clear message."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def ping(self) -> None:
        """One cheap round trip, raising StorageUnavailable when the database cannot answer:
        ``/readyz`` asks it every second or so for the load balancer."""
        await self.get_app("")

    # apps
    @abc.abstractmethod
    async def create_app(self, app: App, api_key_mac: bytes) -> App:
        """Raise Conflict when the app ID or the API key is taken."""

    @abc.abstractmethod
    async def get_app(self, app_id: str) -> App | None: ...

    @abc.abstractmethod
    async def find_app_by_key(self, api_key_mac: bytes) -> App | None: ...

    @abc.abstractmethod
    async def list_apps(self) -> list[App]: ...

    @abc.abstractmethod
    async def update_app(self, app_id: str, allowed_origins: tuple[str, ...] | None = None,
                         require_access_token: bool | None = None) -> App | None:
        """Change the given policies (None leaves one as it is); None if no such app."""

    @abc.abstractmethod
    async def replace_api_key(self, app_id: str, api_key_mac: bytes) -> App | None:
        """Give the app a new API key's keyed hash; the old key stops matching at once.
        None if no such app; Conflict when another app has that key."""

    @abc.abstractmethod
    async def user_counts(self) -> dict[str, int]:
        """How many users each app has (apps without users left out), in one query: the
        dashboard's list of apps shows them all at once."""

    # users
    @abc.abstractmethod
    async def get_user(self, app_id: str, user_id: str) -> User | None: ...

    @abc.abstractmethod
    async def get_or_create_user(self, app_id: str, user_id: str, now: float) -> User:
        """Atomic: any number of concurrent callers for a new ID end with exactly one user."""

    @abc.abstractmethod
    async def create_user(self, user: User, token: Token | None) -> User:
        """Create the user and its profile token together; raise Conflict if the ID exists."""

    @abc.abstractmethod
    async def update_user(
        self, app_id: str, user_id: str, changes: dict[str, Any], now: float,
        new_profile_token: Token | None = None,
    ) -> tuple[User, list[str]] | None:
        """Apply the changes (and replace the profile token) atomically; return the user and
        the IDs of the profile tokens replaced, or None if no such user."""

    @abc.abstractmethod
    async def search_users(self, app_id: str, prefix: str = "", *, by_name: bool = False,
                           after: User | None = None, limit: int = 50) -> list[User]:
        """One page of the app's users whose ID starts with ``prefix`` (exactly), ordered by
        ID; or, ``by_name``, whose display name starts with it (ASCII letters in either
        case), ordered by display name (case folded the same way: ``name_key``), then ID.
        Orders are by code point, whatever the database's collation.  ``after`` is the
        last user of the previous page.  Index-backed on both fields, so a page costs the
        same with 100,000 users as with 100."""

    # tokens
    @abc.abstractmethod
    async def add_token(self, token: Token) -> None: ...

    @abc.abstractmethod
    async def find_token(self, app_id: str, user_id: str,
                         mac: bytes) -> tuple[User, Token] | None:
        """The token with this keyed hash (an unrevoked one first) and its user, in one lookup:
        it is on the path of every token login."""

    @abc.abstractmethod
    async def get_token(self, token_id: str) -> Token | None: ...

    @abc.abstractmethod
    async def profile_token(self, app_id: str, user_id: str) -> Token | None:
        """The user's current unrevoked profile token, if any."""

    @abc.abstractmethod
    async def list_tokens(self, app_id: str, user_id: str) -> list[Token]: ...

    @abc.abstractmethod
    async def revoke_tokens(
        self, app_id: str, user_id: str, now: float, token_id: str | None = None,
        issued_before: float | None = None,
    ) -> list[str]:
        """Revoke one token, or all of the user's (those created before ``issued_before``, if
        given) when ``token_id`` is None; return the IDs revoked.  Without ``token_id`` it
        also raises the user's ``tokens_revoked_before`` to ``issued_before`` (or ``now``),
        never lowering it, in the same transaction."""

    @abc.abstractmethod
    async def revoke_app_tokens(self, app_id: str, issued_before: float,
                                now: float) -> list[str]:
        """Revoke every stored token of the app created before ``issued_before`` and raise
        the app's ``tokens_revoked_before`` to it (never lowering it), in one transaction;
        return the IDs revoked."""

    # signing keys

    @abc.abstractmethod
    async def add_signing_key(self, key: SigningKey, max_active: int) -> bool:
        """Add the key unless its app already has ``max_active`` unrevoked ones (False);
        atomic, so concurrent callers never pass the cap."""

    @abc.abstractmethod
    async def list_signing_keys(self, app_id: str) -> list[SigningKey]:
        """The app's keys, revoked ones included, oldest first."""

    @abc.abstractmethod
    async def revoke_signing_key(self, app_id: str, key_id: str,
                                 now: float) -> SigningKey | None:
        """Revoke one of the app's unrevoked keys; the key as revoked, or None if the app
        has no such unrevoked key."""

    # session keys
    @abc.abstractmethod
    async def consume_session(self, session_id: str, expires_at: float, now: float) -> bool:
        """Mark a session's key used (resumed, disconnected or ended), remembered until it
        would have expired anyway.  Atomic: of any number of concurrent callers for one
        session, exactly one gets True; every later caller gets False."""

    @abc.abstractmethod
    async def is_session_consumed(self, session_id: str) -> bool:
        """A read, to refuse a used key before any other work; ``consume_session`` decides."""

    # checks of many live sessions at once

    @abc.abstractmethod
    async def unusable_tokens(self, token_ids: Collection[str], now: float) -> set[str]:
        """Of these token IDs, those revoked, expired or gone.  A cluster node asks this of
        its live sessions' tokens on a timer, so a revocation whose bus message was lost
        (the broker down) still ends them: one query for all, not one per session."""

    @abc.abstractmethod
    async def users_requiring_token(self, app_id: str, user_ids: Collection[str]) -> set[str]:
        """Of these users of the app, those with ``check_access_token`` on or gone: the
        sessions they hold without a token must end.  The same timer's third question."""

    @abc.abstractmethod
    async def unusable_signing_keys(self, key_ids: Collection[str]) -> set[str]:
        """Of these signing key IDs, those revoked or gone: the live sessions on tokens they
        signed must end."""

    @abc.abstractmethod
    async def token_watermarks(self, app_id: str, user_ids: Collection[str]) -> dict[str, float]:
        """For these users of the app, the time before which their signed tokens are refused
        (the later of the user's and the app's ``tokens_revoked_before``), for those that
        have one."""

    @abc.abstractmethod
    async def consumed_sessions(self, session_ids: Collection[str]) -> set[str]:
        """Of these session IDs, those whose key is used: for a live session, ended by the
        server (``users.sessions.end``); the same timer's second question."""

    # operators and their audit log (the dashboard)

    @abc.abstractmethod
    async def create_operator(self, operator: Operator) -> None:
        """Raise Conflict (``OPERATOR_EXISTS``) when the name is taken."""

    @abc.abstractmethod
    async def get_operator(self, name: str) -> Operator | None: ...

    @abc.abstractmethod
    async def list_operators(self) -> list[Operator]:
        """Every operator, by name (by code point, whatever the database's collation)."""

    @abc.abstractmethod
    async def delete_operator(self, name: str) -> bool:
        """False when there was no such operator."""

    @abc.abstractmethod
    async def set_operator_password(self, name: str, password_hash: str, now: float,
                                    replacing: str | None = None) -> bool:
        """Replace the hash and set ``password_changed_at`` to ``now``; False when there is
        no such operator, or, given ``replacing``, when the stored hash is no longer that
        one (a rehash at sign-in must not undo a new password set meanwhile)."""

    @abc.abstractmethod
    async def add_audit(self, entry: AuditEntry) -> AuditEntry:
        """Append the entry; return it with the ``id`` the store gave it."""

    @abc.abstractmethod
    async def list_audit(self, limit: int = 100, before: int | None = None) -> list[AuditEntry]:
        """The newest entries first, at most ``limit``, those with an ``id`` below
        ``before`` when given (the next page)."""

    # channels, their participants and messages

    @abc.abstractmethod
    async def create_channel(self, channel: Channel) -> Channel:
        """Raise Conflict (``CHANNEL_EXISTS``) when the app has a channel with that ID."""

    @abc.abstractmethod
    async def get_channel(self, app_id: str, channel_id: str) -> Channel | None:
        """The channel with its ``participants_count``."""

    @abc.abstractmethod
    async def list_channels(self, app_id: str, kind: str, after: str | None = None,
                            limit: int = 20) -> list[Channel]:
        """One page of the app's channels of ``kind``, by ID (code point order), those
        after the ID ``after``: keyset pages, so a page costs the same however deep."""

    @abc.abstractmethod
    async def update_channel(self, app_id: str, channel_id: str, changes: dict[str, Any],
                             now: float) -> Channel | None:
        """Apply profile changes (``name``, ``avatar_url``, ``data``, ``metadata``,
        ``custom_filter``, and ``distinct_key`` to None once a distinct channel's members
        change); None if no such channel."""

    @abc.abstractmethod
    async def delete_channel(self, app_id: str, channel_id: str) -> bool:
        """Delete it with its participants and messages; False if there was none."""

    @abc.abstractmethod
    async def create_group_channel(self, channel: Channel, members: Sequence[Participant],
                                   max_channels: int | None = None) -> tuple[Channel, bool]:
        """Store the channel and its first participants in one transaction and return it
        with True.  When ``channel.distinct_key`` is set and the app already has a channel
        with that key, return that one with False and change nothing, however many
        creates race; a channel ID already taken is Conflict (``CHANNEL_EXISTS``); a member
        already in ``max_channels`` (when given) channels of the kind is Forbidden
        (``TOO_MANY_CHANNELS``), counted as ``add_participant`` counts, so that nobody is
        put in more channels by others than they could join themselves."""

    @abc.abstractmethod
    async def add_participant(self, participant: Participant, max_channels: int,
                              max_participants: int | None = None) -> str:
        """Atomic: ``JOINED``, ``ALREADY_JOINED`` (nothing changes, whatever the stored
        status), ``NO_CHANNEL``, ``TOO_MANY_CHANNELS`` when the user is already in
        ``max_channels`` channels of the channel's kind in the app, or ``CHANNEL_FULL`` when
        the channel has ``max_participants`` participants, however many joins race."""

    @abc.abstractmethod
    async def remove_participant(self, app_id: str, channel_id: str, user_id: str) -> bool:
        """False when the user was not a participant."""

    @abc.abstractmethod
    async def is_participant(self, app_id: str, channel_id: str, user_id: str) -> bool: ...

    @abc.abstractmethod
    async def get_participant(self, app_id: str, channel_id: str,
                              user_id: str) -> Participant | None: ...

    @abc.abstractmethod
    async def participants_of(self, app_id: str, channel_id: str) -> list[Participant]:
        """Every participant row of the channel (a group channel's are bounded), by user
        ID: its members' statuses and read receipts."""

    @abc.abstractmethod
    async def participants_of_channels(self, app_id: str, channel_ids: Collection[str]
                                       ) -> dict[str, list[Participant]]:
        """``participants_of`` for several channels in one query (a page of a user's
        channels shows each one's members); a channel without participants is left out."""

    @abc.abstractmethod
    async def accept_invite(self, app_id: str, channel_id: str, user_id: str) -> bool:
        """Make an ``INVITED`` participant ``ACCEPTED``, its read state at the channel's
        ``last_seq`` (what came before the invite is not unread); False if not invited."""

    @abc.abstractmethod
    async def mark_read(self, app_id: str, channel_id: str, user_id: str,
                        now: float) -> Participant | None:
        """Set an ``ACCEPTED`` participant's ``last_read_seq`` to the channel's ``last_seq``
        and ``read_at`` to ``now``; None if the user is no accepted participant."""

    @abc.abstractmethod
    async def mark_all_read(self, app_id: str, user_id: str, kind: str,
                            now: float) -> list[str]:
        """``mark_read`` in every channel of ``kind`` where the user is accepted and has
        unread messages, in one statement; the IDs of those channels."""

    @abc.abstractmethod
    async def my_channels(self, app_id: str, user_id: str, kind: str, *,
                          status: str | None = None, after: Channel | None = None,
                          limit: int = 20, channel_ids: Collection[str] | None = None
                          ) -> list[MyChannel]:
        """One page of the channels of ``kind`` the user participates in (with ``status``
        when given, among ``channel_ids`` when given), most recently active first
        (``active_at`` descending, then ID descending), those after ``after`` in that
        order: keyset pages, each channel with the user's row, unread count and newest
        message, in a bounded number of queries however many channels the user has."""

    @abc.abstractmethod
    async def unread_totals(self, app_id: str, user_id: str, kind: str) -> tuple[int, int]:
        """Across the user's accepted channels of ``kind``: unread messages, and channels
        with any."""

    @abc.abstractmethod
    async def list_participants(self, app_id: str, channel_id: str, after: str | None = None,
                                limit: int = 20) -> list[User]:
        """One page of the channel's participants as users, by user ID, after ``after``."""

    @abc.abstractmethod
    async def participant_ids(self, app_id: str, channel_id: str,
                              status: str | None = None) -> list[str]:
        """Every participant's user ID (with ``status`` when given): whom a message of the
        channel is pushed to."""

    @abc.abstractmethod
    async def add_message(self, message: Message,
                          then: Callable[[Message], Awaitable[None]]) -> Message | None:
        """Store the message with the channel's next ``seq`` and return it as stored; None if
        there is no such channel.  ``then`` is awaited with it while the channel's order is
        still held (no other message of that channel, from any node, is stored before it
        returns), so pushes made there leave in ``seq`` order.  ``then`` must not use the
        store: on PostgreSQL the channel is held by a pooled connection, and enough messages
        at once would hold every one while waiting for another.  If ``then`` raises, the
        message is not stored.  The channel's ``active_at`` becomes the message's
        ``inserted_at``."""

    @abc.abstractmethod
    async def get_message(self, app_id: str, channel_id: str,
                          message_id: str) -> Message | None: ...

    @abc.abstractmethod
    async def update_message(self, app_id: str, channel_id: str, message_id: str,
                             changes: dict[str, Any], now: float) -> Message | None:
        """Apply ``text``, ``metadata``, ``data`` or ``custom_filter`` changes and set
        ``updated_at``; ``seq`` and ``inserted_at`` stay.  None if no such message."""

    @abc.abstractmethod
    async def delete_message(self, app_id: str, channel_id: str,
                             message_id: str) -> Message | None:
        """Delete it and return it as it was; None if no such message."""

    @abc.abstractmethod
    async def history(self, app_id: str, channel_id: str, before_seq: int | None = None,
                      limit: int = 20) -> list[Message]:
        """The newest messages first, at most ``limit``, those with ``seq`` below
        ``before_seq`` when given (the next page): one index range, however long the
        history."""

    @abc.abstractmethod
    async def get_users(self, app_id: str, user_ids: Collection[str]) -> dict[str, User]:
        """The app's users among ``user_ids``, by ID, in one query (the senders of a page of
        history); IDs of no user are left out."""

    @abc.abstractmethod
    async def set_last_seen(self, app_id: str, user_id: str, when: float) -> None:
        """Record when the user's last live session ended (``User.last_seen_at``)."""

    # copies between stores (``serve.py migrate``)

    @abc.abstractmethod
    def export_records(self) -> AsyncIterator[Record]:
        """Every row as stored, from one snapshot: apps, then users, tokens, signing keys,
        consumed sessions, operators and audit entries (oldest first, ``id`` kept), then
        channels, their participants and messages (``seq`` kept), the order in which
        ``import_records`` can insert them.  Keyed hashes and
        sealed tokens pass as they are, since both stores share the server secret."""

    @abc.abstractmethod
    async def import_records(self, records: Sequence[Record]) -> None:
        """Insert exported records as they are, in one transaction; rows a record refers to
        (a token's user, a user's app) must be in this batch or an earlier one."""
