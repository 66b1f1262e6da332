"""What every channel has (messages, participants, listeners), and open channels: rooms anyone
in the app may join.  Group channels (``group_channels.py``) build on this module.

    channel = await cc.open_channel("lobby")       # the SDK's OpenChannel.get
    await channel.join()
    for message in reversed(await channel.history(limit=50)):   # newest first on the wire
        print(message.display_name, message.text)
    sent = await channel.send("hello")
    await channel.update(sent, "hello, all")
    await channel.delete(sent)
    channel.add_listener(MyListener())             # a ChannelListener, sync or async methods

Every call is awaitable, has a timeout (``ChatCamp(timeout=...)`` unless given) and raises
from the one tree in ``errors.py``; what comes back is Python objects, never SDK proxies.

Why it is built the way it is (the SDK's quirks, met while reading ``ChatCamp.min.js``):

* The SDK's calls have no timeout, and one made while its socket is down is dropped with its
  callback pending forever; so a call while not connected fails at once (NOT_CONNECTED) and
  every other one ends by its timeout.  A send that timed out may still have been delivered:
  the SDK cannot take it back, so it is not retried here either.
* Join, leave, messages and queries read only the channel's ID from the SDK's channel
  object, so the FFI builds one from the ID for each call instead of ``OpenChannel.get``:
  that one answers from a cache the SDK empties on every reconnect, and would otherwise cost
  a round trip (and a second way to fail) in front of every call.
* The SDK hands an error over sometimes as its ChatCampError and sometimes as the ack's raw
  ``{code, message}``; both carry the two fields, which is all that is read.  NOT_FOUND from
  a channel call is the channel, not the app (``errors.CHANNEL_CODES``).
* One SDK ChannelListener hears every channel, open and group, and for a channel it does not
  hold it first asks the server for it and may then pass no channel at all: events are
  routed here by the channel's type and the message's own channel ID, so a listener hears
  its channel only (or, added with no channel, every group channel: an inbox).
* The SDK's message query never moves its ``reference`` on (its participant query does), so
  ``previous_messages()`` keeps the oldest message's ID itself.
* ``updateMessage`` leaves out an empty text without a word, and the SDK's callbacks of
  join, leave and delete carry no value: empty texts are refused before the SDK sees them.

Runs unchanged on Pyodide and on MicroPython (no dataclasses, no enum, no typing).
"""

import asyncio

from . import _ffi
from .client import User, _check_timeout
from .errors import CHANNEL_CODES, InvalidArgumentError, InvalidStateError, from_server
from .limits import MAX_MESSAGE_CHARS
from .state import ConnectionState

CHANNEL_LISTENER_ID = "chatcamp_web.channels"

OPEN = "open"
GROUP = "group"

_EVENTS = {"message_received": "on_message_received", "message_updated": "on_message_updated",
           "message_deleted": "on_message_deleted", "joined": "on_participant_joined",
           "left": "on_participant_left", "invited": "on_participant_invited",
           "declined": "on_participant_declined", "read_receipt": "on_read_receipt",
           "typing": "on_typing", "channel_updated": "on_channel_updated"}
"""The FFI's event kinds → the listener method each calls."""
_FIELDS = ("message", "user", "read_receipt", "user_ids", "channel")
"""The fields an event may carry its item in, one per event."""


class Message:
    """One message of a channel; times are epoch seconds, ``updated_at`` 0 until edited."""

    def __init__(self, id, text, user_id="", display_name="", inserted_at=0, updated_at=0,
                 type="text", channel_id=""):
        self.id = id
        self.text = text
        self.user_id = user_id
        self.display_name = display_name
        self.inserted_at = inserted_at
        self.updated_at = updated_at
        self.type = type
        self.channel_id = channel_id

    @property
    def edited(self):
        return bool(self.updated_at) and self.updated_at > self.inserted_at

    def __repr__(self):
        return "Message(%r, %r, user_id=%r)" % (self.id, self.text, self.user_id)


def _message(wire):
    return Message(str(wire["id"]), str(wire["text"]), str(wire["user_id"]),
                   str(wire["display_name"]), wire["inserted_at"], wire["updated_at"],
                   str(wire["type"]), str(wire["channel_id"]))


def _person(wire):
    return User(str(wire["id"]), str(wire["display_name"]), str(wire["avatar_url"]),
                is_online=wire.get("is_online") is True, last_seen=wire.get("last_seen") or 0,
                status=str(wire.get("status") or ""))


class ChannelListener:
    """What a channel tells its listeners; override the methods wanted, plain or async.
    Each gets the channel's ID and a Message, or the User who joined or left."""

    def on_message_received(self, channel_id, message):
        pass

    def on_message_updated(self, channel_id, message):
        pass

    def on_message_deleted(self, channel_id, message):
        pass

    def on_participant_joined(self, channel_id, user):
        pass

    def on_participant_left(self, channel_id, user):
        pass


class BaseChannel:
    """What every kind of channel has: its messages, its participants and its listeners.
    The fields are the server's when the object was made; ask again for fresh ones."""

    kind = ""

    def __init__(self, cc, wire):
        self._cc = cc
        self.id = str(wire["id"])
        self.name = str(wire.get("name", ""))
        self.data = str(wire.get("data", ""))
        self.avatar_url = str(wire.get("avatar_url", ""))
        self.participants_count = wire.get("participants_count", 0)
        self.inserted_at = wire.get("inserted_at", 0)
        self.updated_at = wire.get("updated_at", 0)

    def _ask(self, name, args, timeout):
        return _call(self._cc, self.kind, name, args, timeout)

    async def leave(self, timeout=None):
        await self._ask("leave", {"id": self.id}, timeout)

    async def history(self, limit=20, before=None, timeout=None):
        """Up to ``limit`` messages, newest first, older than the message ``before`` (an ID
        or a Message) when given."""
        _check_limit(limit)
        args = {"id": self.id, "limit": limit}
        if before is not None:
            args["reference"] = _message_id(before)
        return [_message(m) for m in await self._ask("history", args, timeout)]

    def previous_messages(self, limit=20):
        """A query whose ``load()`` gives the next older page each time (the SDK's
        ``createPreviousMessageListQuery``)."""
        _check_limit(limit)
        return PreviousMessageQuery(self, limit)

    async def send(self, text, timeout=None):
        """Post ``text``; the Message as the server stored it."""
        _check_text(text)
        return _message(await self._ask("send", {"id": self.id, "text": text}, timeout))

    async def get_message(self, message, timeout=None):
        args = {"id": self.id, "message_id": _message_id(message)}
        return _message(await self._ask("message", args, timeout))

    async def update(self, message, text, timeout=None):
        """Replace the text of one's own message (an ID or a Message); the updated Message."""
        _check_text(text)
        args = {"id": self.id, "message_id": _message_id(message), "text": text}
        return _message(await self._ask("update", args, timeout))

    async def delete(self, message, timeout=None):
        """Delete one's own message (an ID or a Message)."""
        await self._ask("delete", {"id": self.id, "message_id": _message_id(message)},
                        timeout)

    async def participants(self, limit=20, after=None, timeout=None):
        """One page of the participants as Users, by user ID, after the user ID ``after``."""
        _check_limit(limit)
        args = {"id": self.id, "limit": limit}
        if after is not None:
            args["reference"] = str(after)
        return [_person(u) for u in await self._ask("participants", args, timeout)]

    def add_listener(self, listener):
        """``listener`` hears this channel's messages and participants (and, for a group
        channel, the rest of a GroupChannelListener's methods)."""
        _hub(self._cc).add(listener, self.kind, self.id)

    def remove_listener(self, listener):
        _hub(self._cc).remove(listener, self.kind, self.id)


class OpenChannel(BaseChannel):
    """An open channel as the server last described it, and the calls made in it."""

    kind = OPEN

    def __repr__(self):
        return "OpenChannel(%r, name=%r)" % (self.id, self.name)

    async def join(self, timeout=None):
        """Become a participant (again is harmless): needed to send and read."""
        await self._ask("join", {"id": self.id}, timeout)


class PreviousMessageQuery:
    """Pages of a channel's history going back in time, newest first within each page."""

    def __init__(self, channel, limit):
        self.channel = channel
        self.limit = limit
        self.reference = None
        self.has_more = True

    async def load(self, timeout=None):
        """The next older page; empty, and ``has_more`` False, once the start is reached."""
        if not self.has_more:
            return []
        page = await self.channel.history(self.limit, self.reference, timeout)
        if page:
            self.reference = page[-1].id
        self.has_more = len(page) >= self.limit
        return page


async def get(cc, channel_id, timeout=None):
    """The open channel ``channel_id`` (ChannelNotFoundError if there is none)."""
    _check_channel_id(channel_id)
    return OpenChannel(cc, await _call(cc, OPEN, "get", {"id": channel_id}, timeout))


async def list_channels(cc, limit=20, after=None, timeout=None):
    """One page of the app's open channels, by ID, after the channel ID ``after``."""
    _check_limit(limit)
    args = {"limit": limit}
    if after is not None:
        args["reference"] = str(after)
    return [OpenChannel(cc, c) for c in await _call(cc, OPEN, "list", args, timeout)]


async def _call(cc, kind, name, args, timeout):
    """One SDK call of a channel of ``kind``: its value, or the error of the tree."""
    _check_timeout(timeout)
    if cc.state != ConnectionState.CONNECTED:
        raise InvalidStateError("not connected (%s): connect() first, or wait for the "
                                "reconnect" % cc.state, "NOT_CONNECTED")
    result = await _ffi.channel_call(cc._client, kind, name, args,
                                     cc.timeout if timeout is None else timeout)
    if result.get("ok"):
        return result.get("value")
    raise from_server(str(result.get("code") or "UNKNOWN"), str(result.get("message") or ""),
                      CHANNEL_CODES)


def _check_channel_id(channel_id):
    if not isinstance(channel_id, str) or not channel_id:
        raise InvalidArgumentError("channel_id must be a non-empty string",
                                   "INVALID_CHANNEL_ID")


def _check_limit(limit):
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidArgumentError("limit must be a positive whole number", "INVALID_LIMIT")


def _check_text(text):
    if not isinstance(text, str) or not text:
        raise InvalidArgumentError("text must be a non-empty string", "INVALID_TEXT")
    if len(text) > MAX_MESSAGE_CHARS:
        raise InvalidArgumentError("the message is longer than %d characters"
                                   % MAX_MESSAGE_CHARS, "MESSAGE_TOO_LONG")


def _message_id(message):
    if isinstance(message, Message):
        return message.id
    if not isinstance(message, str) or not message:
        raise InvalidArgumentError("a message is a Message or its non-empty ID",
                                   "INVALID_MESSAGE_ID")
    return message


class Hub:
    """A client's channel listeners, of both kinds: one SDK listener (one proxy) while there
    is any.  An entry is (listener, kind, channel ID), the ID None for every channel of the
    kind."""

    def __init__(self, cc):
        self._cc = cc
        self._entries = []
        self._listening = False

    def add(self, listener, kind, channel_id):
        if not any(entry[0] is listener and entry[1:] == (kind, channel_id)
                   for entry in self._entries):
            self._entries.append((listener, kind, channel_id))
        if not self._listening:
            _ffi.channel_listen(self._cc._client, CHANNEL_LISTENER_ID, self._on_event)
            self._listening = True

    def remove(self, listener, kind, channel_id):
        self._entries = [entry for entry in self._entries
                         if not (entry[0] is listener and entry[1:] == (kind, channel_id))]
        if not self._entries:
            self.release()

    def release(self):
        self._entries = []
        if self._listening:
            _ffi.channel_unlisten(self._cc._client, CHANNEL_LISTENER_ID)
            self._listening = False

    def _on_event(self, event):
        method_name = _EVENTS.get(event.get("kind"))
        kind, channel_id = event.get("channel_type"), event.get("channel_id")
        if method_name is None:
            return
        methods = []
        for listener, wanted_kind, wanted_id in list(self._entries):
            method = getattr(listener, method_name, None)
            if method is not None and wanted_kind == kind and wanted_id in (None, channel_id):
                methods.append((listener, method))
        if not methods:
            return  # a group channel's update carries all its members: not made for nobody
        item = self._item(event)
        for listener, method in methods:
            try:
                outcome = method(channel_id, item)
                if hasattr(outcome, "send"):
                    asyncio.create_task(outcome)
            except Exception as exc:  # a listener's bug must not break the others
                print("chatcamp_web: channel listener %r raised %r" % (listener, exc))

    def _item(self, event):
        for field in _FIELDS:
            value = event.get(field)
            if value is None:
                continue
            if field == "message":
                return _message(value)
            if field == "user":
                return _person(value)
            if field == "channel":
                from .group_channels import GroupChannel  # only group channels send one
                return GroupChannel(self._cc, value)
            return value
        return None


def _hub(cc):
    if cc._channel_hub is None:
        cc._channel_hub = Hub(cc)
    return cc._channel_hub
