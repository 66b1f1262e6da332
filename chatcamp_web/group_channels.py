"""Group channels: private conversations of their members, with unread counts, read receipts,
typing and invitations.  Messages, history, participants and listeners work as in an open
channel (``channels.py``, which this builds on).

    channel = await cc.create_group_channel("", ["bob"], distinct=True)  # the pair's one
    await channel.send("hi bob")
    for channel in await cc.my_group_channels(limit=20):    # the newest activity first
        print(channel.title(), channel.unread_count, channel.last_message)
    await channel.mark_read()                               # bob's listener: on_read_receipt
    await channel.invite(["carol"])                         # carol: accept() or decline()
    await channel.start_typing()                            # on each keystroke (see below)
    channel.add_listener(MyListener())                      # a GroupChannelListener
    cc.add_group_channel_listener(MyInbox())                # every group channel of the user's

Every call has a timeout and raises from the one tree in ``errors.py``, as in channels.py.
What the SDK forced, read in ``ChatCamp.min.js``:

* ``invite``: the SDK's handler of ``group_channels.invite.ack`` does nothing with a failure,
  so its callback never comes (spec §5.2).  Its transport hands every frame it receives to
  its listeners, though: the FFI watches for the ack of the request it just sent and hands a
  failure to the SDK's own error listener, which then calls back (and lets go of the two
  listeners the SDK would otherwise keep for good).  A refused invite so raises the server's
  error at once; the timeout is left for a server that never answers.
* ``mark_read``: the SDK's ``markAsRead()`` sends only when its own copy of the channel says
  there is something unread (a copy made from the ID, as the FFI makes them, never does),
  and ``group_channels.read`` has no callback at all.  The FFI sends the request itself and
  ends the call on its ack, read off the transport in the same way, whose read receipt it
  returns.  The SDK's own handler of that ack reads the last message of its cached copy and
  throws on a copy of an empty channel; the FFI sees the ack first and drops such a copy.
* ``group_channel()`` asks the server each time: the SDK's ``GroupChannel.get`` answers from
  a cache whose read state and members lag behind (and which it empties on reconnects).
* Typing: the SDK sends at most one ``start_typing`` and one ``stop_typing`` each 10 s per
  channel object; the FFI keeps one object per channel, so this holds across calls, and
  ``start_typing()`` says False when the SDK held the request back.  The other members' SDK
  forgets a typist 10 s after the start it heard (on a 1 s timer), so call ``start_typing()``
  on each keystroke: one goes out every 10 s.  The SDK keeps who is typing on its cached copy,
  which it replaces, without telling, when the server next describes the channel (a read
  receipt, say): a typing indicator should also lapse by itself 10 s after its last
  ``on_typing``.
* Unread counts: the SDK counts the messages of others on its cached copy, so an
  ``on_channel_updated`` carries the SDK's count; ``my_group_channels()`` and
  ``group_channel()`` carry the server's.

Runs unchanged on Pyodide and on MicroPython (no dataclasses, no enum, no typing).
"""

from .channels import (GROUP, BaseChannel, ChannelListener, _call, _check_channel_id,
                       _check_limit, _hub, _message, _person)
from .client import _check_user_id
from .errors import InvalidArgumentError, LimitReachedError
from .limits import MAX_GROUP_CHANNEL_PARTICIPANTS

STATUSES = ("ALL", "ACCEPTED", "INVITED")
"""The SDK's participant states a list of one's channels may be limited to."""


class GroupChannelListener(ChannelListener):
    """What a group channel tells its listeners, besides messages and members joining (an
    invitation accepted) and leaving; override the methods wanted, plain or async."""

    def on_participant_invited(self, channel_id, user):
        pass

    def on_participant_declined(self, channel_id, user):
        pass

    def on_read_receipt(self, channel_id, read_receipt):
        """``read_receipt``: member's user ID → when they last read (epoch seconds)."""

    def on_typing(self, channel_id, user_ids):
        """``user_ids``: the others typing now (the SDK's view; see the module's notes)."""

    def on_channel_updated(self, channel_id, channel):
        """A GroupChannel with a new last message or unread count, and the like."""


class GroupChannel(BaseChannel):
    """A group channel as the server (or, in an event, the SDK) last described it, and the
    calls made in it.  ``members`` are its participants as Users whose ``status`` is
    ``ACCEPTED`` or ``INVITED`` (the SDK's ``participants``; ``participants()`` pages them
    afresh), and ``read_receipt`` maps a member's user ID to when they last read it."""

    kind = GROUP

    def __init__(self, cc, wire):
        super().__init__(cc, wire)
        self.members = [_person(u) for u in wire.get("participants") or []]
        self.unread_count = wire.get("unread_count", 0)
        last = wire.get("last_message")
        self.last_message = _message(last) if last else None
        self.my_status = str(wire.get("my_status", ""))
        self.is_distinct = wire.get("is_distinct") is True
        self.read_receipt = dict(wire.get("read_receipt") or {})

    def __repr__(self):
        return "GroupChannel(%r, name=%r)" % (self.id, self.name)

    def title(self):
        """The channel's name, or else the names of its other members (an unnamed channel
        is known by who is in it)."""
        if self.name:
            return self.name
        me = self._cc.user.id if self._cc.user is not None else None
        names = [u.display_name or u.id for u in self.members if u.id != me]
        return ", ".join(names) or self.id

    async def invite(self, user_ids, timeout=None):
        """Invite users (IDs) to join; each member's listener hears on_participant_invited.
        LimitReachedError: ``TOO_MANY_PARTICIPANTS`` for more than 100 at once, checked
        here, and ``CHANNEL_FULL`` from the server when they would not all fit."""
        await self._ask("invite", {"id": self.id,
                                   "participant_ids": _user_ids(user_ids, False)}, timeout)

    async def accept(self, timeout=None):
        """Accept this user's invitation: a member from now on."""
        await self._ask("accept", {"id": self.id}, timeout)

    async def decline(self, timeout=None):
        await self._ask("decline", {"id": self.id}, timeout)

    async def mark_read(self, timeout=None):
        """Mark everything so far read: ``unread_count`` becomes 0 and ``read_receipt`` the
        server's, and the other members hear on_read_receipt."""
        self.read_receipt = dict(await self._ask("read", {"id": self.id}, timeout) or {})
        self.unread_count = 0

    async def start_typing(self, timeout=None):
        """Tell the others this user is typing; False when the SDK held it back (at most one
        each 10 s)."""
        return bool(await self._ask("start_typing", {"id": self.id}, timeout))

    async def stop_typing(self, timeout=None):
        """Tell the others this user stopped typing; False when the SDK held it back."""
        return bool(await self._ask("stop_typing", {"id": self.id}, timeout))


async def create(cc, name, participant_ids, distinct=False, timeout=None):
    """A new group channel of ``participant_ids`` (existing users, members at once) and the
    user; with ``distinct``, the one these members already have if there is one, however
    many creates race.  At most ``MAX_GROUP_CHANNEL_PARTICIPANTS`` (100) in all."""
    if not isinstance(name, str):
        raise InvalidArgumentError("name must be a string (empty for none)", "INVALID_NAME")
    if not isinstance(distinct, bool):
        raise InvalidArgumentError("distinct must be True or False", "INVALID_DISTINCT")
    user_ids = _user_ids(participant_ids, True)
    me = cc.user.id if cc.user is not None else None
    _check_count(len(set(user_ids + [me]) - {None}))
    args = {"name": name, "participant_ids": user_ids, "distinct": distinct}
    return GroupChannel(cc, await _call(cc, GROUP, "create", args, timeout))


async def get(cc, channel_id, timeout=None):
    """The group channel ``channel_id`` as the server has it now."""
    _check_channel_id(channel_id)
    return GroupChannel(cc, await _call(cc, GROUP, "get", {"id": channel_id}, timeout))


async def my_channels(cc, limit=20, after=None, status="ALL", timeout=None):
    """One page of the user's group channels, the newest activity first, after the channel
    ID ``after`` (the last of the previous page)."""
    _check_limit(limit)
    if status not in STATUSES:
        raise InvalidArgumentError("status must be one of %s" % ", ".join(STATUSES),
                                   "INVALID_STATUS")
    args = {"limit": limit, "status": status}
    if after is not None:
        _check_channel_id(after)
        args["reference"] = after
    return [GroupChannel(cc, c) for c in await _call(cc, GROUP, "my_list", args, timeout)]


async def total_unread_count(cc, timeout=None):
    """Messages of others the user has not read, in all their group channels."""
    return int(await _call(cc, GROUP, "unread_count", {}, timeout) or 0)


async def mark_all_read(cc, timeout=None):
    await _call(cc, GROUP, "read_all", {}, timeout)


def add_listener(cc, listener):
    """``listener`` hears every group channel of the user's, those they join later too."""
    _hub(cc).add(listener, GROUP, None)


def remove_listener(cc, listener):
    _hub(cc).remove(listener, GROUP, None)


def _user_ids(user_ids, allow_none):
    if isinstance(user_ids, str) or not isinstance(user_ids, (list, tuple)):
        raise InvalidArgumentError("participant IDs are a list of user IDs",
                                   "INVALID_USER_ID")
    if not user_ids and not allow_none:
        raise InvalidArgumentError("name at least one user to invite", "INVALID_USER_ID")
    for user_id in user_ids:
        _check_user_id(user_id)
    _check_count(len(user_ids))
    return list(user_ids)


def _check_count(count):
    if count > MAX_GROUP_CHANNEL_PARTICIPANTS:
        raise LimitReachedError("a group channel has at most %d participants"
                                % MAX_GROUP_CHANNEL_PARTICIPANTS, "TOO_MANY_PARTICIPANTS")
