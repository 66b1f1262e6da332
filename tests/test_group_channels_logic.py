"""In-process: chatcamp_web's group channels over the fake FFI: create and list, unread counts
and read receipts, invitations, typing, the error tree, and listeners that share the open
channels' one proxy."""

from __future__ import annotations

import asyncio
import importlib
import sys
from typing import Any

import fake_ffi
import pytest
from fake_ffi import FakeGroupChannels, FakeSdk, until

APP = "1234567890"


class Web:
    """chatcamp_web over the fake FFI, connected as ``alice`` by ``ready()``."""

    def __init__(self) -> None:
        self.page = fake_ffi.reset()
        self.pkg = fake_ffi.install()
        self.groups = importlib.import_module("chatcamp_web.group_channels")
        self.cc = self.pkg.ChatCamp(APP, timeout=0.2)

    @property
    def sdk(self) -> FakeSdk:
        assert self.page.sdk is not None
        return self.page.sdk

    @property
    def server(self) -> FakeGroupChannels:
        return self.sdk.group_channels

    async def ready(self) -> None:
        await self.cc.connect("alice")

    async def with_bob(self, name: str = "") -> Any:
        """A connected alice's new channel with bob."""
        await self.ready()
        return await self.cc.create_group_channel(name, ["bob"])


@pytest.fixture
def web() -> Web:
    return Web()


class Recorder:
    """A GroupChannelListener that writes down what it hears."""

    def __init__(self) -> None:
        self.heard: list[tuple[str, str, Any]] = []

    def on_message_received(self, channel_id: str, message: Any) -> None:
        self.heard.append(("received", channel_id, message.text))

    def on_participant_joined(self, channel_id: str, user: Any) -> None:
        self.heard.append(("joined", channel_id, (user.id, user.status)))

    def on_participant_left(self, channel_id: str, user: Any) -> None:
        self.heard.append(("left", channel_id, user.id))

    def on_participant_invited(self, channel_id: str, user: Any) -> None:
        self.heard.append(("invited", channel_id, (user.id, user.status)))

    def on_participant_declined(self, channel_id: str, user: Any) -> None:
        self.heard.append(("declined", channel_id, user.id))

    def on_read_receipt(self, channel_id: str, read_receipt: dict[str, float]) -> None:
        self.heard.append(("read", channel_id, sorted(read_receipt)))

    def on_typing(self, channel_id: str, user_ids: list[str]) -> None:
        self.heard.append(("typing", channel_id, user_ids))

    def on_channel_updated(self, channel_id: str, channel: Any) -> None:
        self.heard.append(("updated", channel_id, (type(channel).__name__, channel.unread_count,
                                                   channel.last_message.text)))


# creating, getting, listing

async def test_create_gives_a_python_group_channel_with_its_members(web: Web) -> None:
    """create_group_channel gives a GroupChannel: ID, name, members with their status, the
    user's status, no unread message and no last message."""
    channel = await web.with_bob("Plans")
    assert isinstance(channel, web.groups.GroupChannel)
    assert (channel.name, channel.participants_count, channel.my_status) == ("Plans", 2,
                                                                             "ACCEPTED")
    assert [(u.id, u.status, type(u).__name__) for u in channel.members] == [
        ("alice", "ACCEPTED", "User"), ("bob", "ACCEPTED", "User")]
    assert (channel.unread_count, channel.last_message, channel.read_receipt) == (0, None, {})
    assert channel.is_distinct is False


async def test_distinct_creates_give_one_channel_and_plain_ones_a_new_one(web: Web) -> None:
    """Two distinct creates of one pair, even at once, give the same channel; a plain create
    makes another."""
    await web.ready()
    first, second = await asyncio.gather(
        web.cc.create_group_channel("", ["bob"], distinct=True),
        web.cc.create_group_channel("", ["bob"], distinct=True))
    assert first.id == second.id and first.is_distinct
    assert (await web.cc.create_group_channel("", ["bob"])).id != first.id


async def test_group_channel_asks_the_server_and_names_what_is_wrong(web: Web) -> None:
    """group_channel() gives the server's channel; an unknown ID is ChannelNotFoundError and
    another pair's channel NotAParticipantError."""
    channel = await web.with_bob()
    web.server.post(channel.id, "bob", "news")
    fresh = await web.cc.group_channel(channel.id)
    assert (fresh.id, fresh.unread_count, fresh.last_message.text) == (channel.id, 1, "news")
    with pytest.raises(web.pkg.ChannelNotFoundError):
        await web.cc.group_channel("g404")
    theirs = web.server.make("", {"bob": "ACCEPTED", "carol": "ACCEPTED"})
    with pytest.raises(web.pkg.NotAParticipantError) as raised:
        await web.cc.group_channel(theirs)
    assert raised.value.code == "NOT_A_PARTICIPANT"


async def test_my_channels_are_newest_activity_first_paged_and_filtered(web: Web) -> None:
    """my_group_channels lists the newest activity first, pages after the last ID, and keeps
    to INVITED or ACCEPTED when asked; others' channels are not in it."""
    await web.ready()
    quiet = await web.cc.create_group_channel("quiet", ["bob"])
    busy = await web.cc.create_group_channel("busy", ["carol"])
    invited = web.server.make("invite", {"dan": "ACCEPTED", "alice": "INVITED"})
    web.server.make("not mine", {"dan": "ACCEPTED", "eve": "ACCEPTED"})
    web.server.post(busy.id, "carol", "latest")
    assert [c.name for c in await web.cc.my_group_channels()] == ["busy", "invite", "quiet"]
    first = await web.cc.my_group_channels(limit=2)
    assert [c.name for c in await web.cc.my_group_channels(after=first[-1].id)] == ["quiet"]
    assert [c.id for c in await web.cc.my_group_channels(status="INVITED")] == [invited]
    accepted = await web.cc.my_group_channels(status="ACCEPTED")
    assert [c.id for c in accepted] == [busy.id, quiet.id]
    assert accepted[0].last_message.text == "latest" and accepted[0].unread_count == 1


async def test_bad_arguments_are_refused_before_any_call(web: Web) -> None:
    """Participant IDs that are not a list of valid user IDs, an empty invite, a name or
    distinct of the wrong type, an unknown status or a bad limit raise InvalidArgumentError
    without a call."""
    channel = await web.with_bob()
    before = len(web.server.calls)
    for call in (lambda: web.cc.create_group_channel("", "bob"),
                 lambda: web.cc.create_group_channel("", [""]),
                 lambda: web.cc.create_group_channel("", ["x" * 129]),
                 lambda: web.cc.create_group_channel("", ["bad\nid"]),
                 lambda: web.cc.create_group_channel(None, ["bob"]),
                 lambda: web.cc.create_group_channel("", ["bob"], distinct="yes"),
                 lambda: web.cc.my_group_channels(status="JOINED"),
                 lambda: web.cc.my_group_channels(limit=0),
                 lambda: web.cc.my_group_channels(after=""),
                 lambda: web.cc.group_channel(""), lambda: channel.invite([]),
                 lambda: channel.invite("carol"), lambda: channel.send("x" * 4001)):
        with pytest.raises(web.pkg.InvalidArgumentError):
            await call()
    assert len(web.server.calls) == before


async def test_calls_while_disconnected_fail_at_once(web: Web) -> None:
    """Not connected: every group call raises InvalidStateError NOT_CONNECTED and reaches no
    server."""
    for call in (lambda: web.cc.create_group_channel("", ["bob"]),
                 lambda: web.cc.my_group_channels(), lambda: web.cc.total_unread_count(),
                 lambda: web.cc.mark_all_read(), lambda: web.cc.group_channel("g1")):
        with pytest.raises(web.pkg.InvalidStateError) as raised:
            await call()
        assert raised.value.code == "NOT_CONNECTED"
    assert web.server.calls == []


# reading, unread counts

async def test_messages_of_others_are_unread_until_marked_read(web: Web) -> None:
    """Bob's messages count as unread, per channel and in total; mark_read zeroes the channel
    and returns the user's read receipt, and mark_all_read zeroes everything."""
    channel = await web.with_bob()
    other = await web.cc.create_group_channel("", ["carol"])
    await channel.send("mine does not count")
    for n in range(2):
        web.server.post(channel.id, "bob", f"b{n}")
    web.server.post(other.id, "carol", "c")
    assert (await web.cc.group_channel(channel.id)).unread_count == 2
    assert await web.cc.total_unread_count() == 3
    await channel.mark_read()
    assert channel.unread_count == 0 and "alice" in channel.read_receipt
    assert (await web.cc.group_channel(channel.id)).unread_count == 0
    assert await web.cc.total_unread_count() == 1
    await web.cc.mark_all_read()
    assert await web.cc.total_unread_count() == 0


async def test_history_and_paging_work_as_in_open_channels(web: Web) -> None:
    """A group channel's history is newest first and previous_messages() pages back to the
    start."""
    channel = await web.with_bob()
    for n in range(5):
        await channel.send(f"m{n}")
    assert [m.text for m in await channel.history(limit=2)] == ["m4", "m3"]
    query = channel.previous_messages(limit=2)
    pages = []
    while query.has_more:
        pages.append([m.text for m in await query.load()])
    assert pages == [["m4", "m3"], ["m2", "m1"], ["m0"]]


async def test_mark_read_that_is_never_answered_times_out(web: Web) -> None:
    """The SDK's read request has no callback: with no ack, mark_read ends with
    ConnectTimeoutError after its timeout, and the count stays as it was."""
    channel = await web.with_bob()
    web.server.silent.add("read")
    channel.unread_count = 3
    with pytest.raises(web.pkg.ConnectTimeoutError):
        await channel.mark_read(timeout=0.05)
    assert channel.unread_count == 3


# invitations

async def test_an_invited_user_sees_the_channel_but_reads_only_after_accepting(
        web: Web) -> None:
    """Invited, the user lists the channel and its members but may not read it; after
    accept() they read it and are ACCEPTED."""
    await web.ready()
    channel_id = web.server.make("team", {"bob": "ACCEPTED", "alice": "INVITED"})
    web.server.post(channel_id, "bob", "welcome")
    invited = await web.cc.group_channel(channel_id)
    assert (invited.my_status, invited.unread_count) == ("INVITED", 0)
    with pytest.raises(web.pkg.NotAParticipantError):
        await invited.history()
    await invited.accept()
    assert [m.text for m in await invited.history()] == ["welcome"]
    assert (await web.cc.group_channel(channel_id)).my_status == "ACCEPTED"


async def test_invite_accept_decline_and_leave_are_heard(web: Web) -> None:
    """A channel's listener hears the invitation (as INVITED), an acceptance (as a join), a
    decline and a leave."""
    channel = await web.with_bob()
    heard = Recorder()
    channel.add_listener(heard)
    await channel.invite(["carol"])
    assert [(u.id, u.status) for u in await channel.participants()] == [
        ("alice", "ACCEPTED"), ("bob", "ACCEPTED"), ("carol", "INVITED")]
    second = web.server.make("", {"bob": "ACCEPTED", "alice": "INVITED"})
    invited = await web.cc.group_channel(second)
    invited.add_listener(heard)
    await invited.decline()
    assert second not in [c.id for c in await web.cc.my_group_channels()]
    await channel.leave()
    await until(lambda: len(heard.heard) == 3, "three events")
    assert heard.heard == [("invited", channel.id, ("carol", "INVITED")),
                           ("declined", second, "alice"), ("left", channel.id, "alice")]


async def test_accepting_is_heard_as_a_join(web: Web) -> None:
    """accept() reaches the channel's listeners as on_participant_joined of an ACCEPTED
    member."""
    await web.ready()
    channel_id = web.server.make("", {"bob": "ACCEPTED", "alice": "INVITED"})
    invited = await web.cc.group_channel(channel_id)
    heard = Recorder()
    invited.add_listener(heard)
    await invited.accept()
    await until(lambda: heard.heard, "the join")
    assert heard.heard == [("joined", channel_id, ("alice", "ACCEPTED"))]


@pytest.mark.parametrize("code, name", [
    ("NOT_A_PARTICIPANT", "NotAParticipantError"), ("FORBIDDEN", "ForbiddenError"),
    ("CHANNEL_FULL", "LimitReachedError"), ("RATE_LIMITED", "RateLimitedError"),
    ("NOT_FOUND", "ChannelNotFoundError"), ("USER_NOT_FOUND", "InvalidArgumentError"),
    ("TOO_MANY_PARTICIPANTS", "LimitReachedError"), ("INVALID_FIELD", "ChatCampError"),
])
async def test_a_refused_invite_raises_its_error(web: Web, code: str, name: str) -> None:
    """The server's refusal of an invite (which the SDK alone would never report) is its
    class of the tree, with the server's code and message."""
    channel = await web.with_bob()
    web.server.refuse["invite"] = (code, "the server says no")
    with pytest.raises(web.pkg.ChatCampError) as raised:
        await channel.invite(["carol"])
    assert (type(raised.value).__name__, raised.value.code) == (name, code)
    assert raised.value.message == "the server says no"


async def test_answering_no_invitation_is_an_invalid_state(web: Web) -> None:
    """A member's accept() or decline() is InvalidStateError NOT_INVITED, and changes
    nothing."""
    channel = await web.with_bob()
    for answer in (channel.accept, channel.decline):
        with pytest.raises(web.pkg.InvalidStateError) as raised:
            await answer()
        assert raised.value.code == "NOT_INVITED"
    assert (await web.cc.group_channel(channel.id)).my_status == "ACCEPTED"


async def test_more_participants_than_a_channel_holds_are_refused_here(web: Web) -> None:
    """A create of more than 100 participants with the user, or an invite of more than 100,
    is LimitReachedError TOO_MANY_PARTICIPANTS before any call; 100 in all is allowed."""
    channel = await web.with_bob()
    before = len(web.server.calls)
    limit = web.groups.MAX_GROUP_CHANNEL_PARTICIPANTS
    others = [f"user{n}" for n in range(limit)]
    for call in (lambda: web.cc.create_group_channel("", others),
                 lambda: channel.invite(others + ["one-more"])):
        with pytest.raises(web.pkg.LimitReachedError) as raised:
            await call()
        assert raised.value.code == "TOO_MANY_PARTICIPANTS" and "100" in raised.value.message
    assert len(web.server.calls) == before
    full = await web.cc.create_group_channel("", others[:-1] + ["alice"])
    assert full.participants_count == limit


async def test_an_unanswered_invite_ends_by_its_timeout(web: Web) -> None:
    """An invite the server never answers raises ConnectTimeoutError (TIMEOUT) once its
    timeout is up."""
    channel = await web.with_bob()
    web.server.silent.add("invite")
    with pytest.raises(web.pkg.ConnectTimeoutError):
        await channel.invite(["carol"], timeout=0.05)


# typing

async def test_typing_is_held_back_as_the_sdk_does(web: Web) -> None:
    """The first start and the first stop go out; another of each within 10 s is held back
    by the SDK, and the call says so with False."""
    channel = await web.with_bob()
    assert await channel.start_typing() is True
    assert await channel.start_typing() is False
    assert await channel.stop_typing() is True
    assert await channel.stop_typing() is False


# listeners

async def test_group_events_reach_their_channel_only_with_python_items(web: Web) -> None:
    """A group channel's listener gets messages, read receipts, typing and channel updates of
    its channel, as Message, dict, list and GroupChannel; an open channel with the same ID
    hears none of it."""
    channel = await web.with_bob()
    other = await web.cc.create_group_channel("", ["carol"])
    web.sdk.open_channels.create(channel.id)
    same_id = await web.cc.open_channel(channel.id)
    heard, open_heard = Recorder(), Recorder()
    channel.add_listener(heard)
    same_id.add_listener(open_heard)
    await other.send("elsewhere")
    await channel.send("here")
    await channel.mark_read()
    web.sdk.push_channel("typing", channel.id, "group", user_ids=["bob"])
    await until(lambda: len(heard.heard) == 4, "four events")
    assert heard.heard == [("received", channel.id, "here"),
                           ("updated", channel.id, ("GroupChannel", 0, "here")),
                           ("read", channel.id, ["alice"]), ("typing", channel.id, ["bob"])]
    assert open_heard.heard == []


async def test_the_inbox_listener_hears_every_group_channel(web: Web) -> None:
    """add_group_channel_listener hears every group channel, one made later too, and no open
    channel; removed, it hears nothing more."""
    channel = await web.with_bob()
    web.sdk.open_channels.create("lobby")
    lobby = await web.cc.open_channel("lobby")
    await lobby.join()
    inbox = Recorder()
    web.cc.add_group_channel_listener(inbox)
    later = await web.cc.create_group_channel("", ["carol"])
    await lobby.send("open room")
    message = web.server.post(later.id, "carol", "hi")
    web.sdk.push_channel("message_received", later.id, "group", message=message)
    await channel.send("first")
    await until(lambda: len(inbox.heard) == 3, "three events")
    assert [(kind, channel_id) for kind, channel_id, _ in inbox.heard] == [
        ("received", later.id), ("received", channel.id), ("updated", channel.id)]
    web.cc.remove_group_channel_listener(inbox)
    await channel.send("unheard")
    await asyncio.sleep(0.01)
    assert len(inbox.heard) == 3


async def test_open_and_group_listeners_share_one_proxy(web: Web) -> None:
    """Listeners on open channels, group channels and every group channel hold one proxy and
    one SDK ChannelListener, both gone with the last listener; close() lets go of them too."""
    channel = await web.with_bob()
    web.sdk.open_channels.create("lobby")
    lobby = await web.cc.open_channel("lobby")
    baseline = fake_ffi.live_proxies()
    first, second, inbox = Recorder(), Recorder(), Recorder()
    channel.add_listener(first)
    lobby.add_listener(second)
    web.cc.add_group_channel_listener(inbox)
    assert fake_ffi.live_proxies() == baseline + 1
    assert fake_ffi.sdk_channel_listener_count(web.sdk) == 1
    channel.remove_listener(first)
    lobby.remove_listener(second)
    assert fake_ffi.live_proxies() == baseline + 1
    web.cc.remove_group_channel_listener(inbox)
    assert fake_ffi.live_proxies() == baseline
    assert fake_ffi.sdk_channel_listener_count(web.sdk) == 0
    channel.add_listener(first)
    await web.cc.close()
    assert fake_ffi.live_proxies() == 0 and fake_ffi.sdk_channel_listener_count(web.sdk) == 0


async def test_a_group_listener_may_be_partial_async_or_broken(web: Web) -> None:
    """A listener without some methods is skipped for them, an async one is run, and one that
    raises does not keep the others from hearing."""
    channel = await web.with_bob()
    heard: list[str] = []

    class Broken(web.groups.GroupChannelListener):
        def on_read_receipt(self, channel_id: str, read_receipt: Any) -> None:
            raise RuntimeError("a listener bug")

    class AsyncOne:
        async def on_read_receipt(self, channel_id: str, read_receipt: Any) -> None:
            await asyncio.sleep(0)
            heard.append("async")

    for listener in (Broken(), object(), AsyncOne()):
        channel.add_listener(listener)
    await channel.mark_read()
    await until(lambda: heard == ["async"], "the async listener")


# names, loading

async def test_title_is_the_name_or_the_other_members(web: Web) -> None:
    """title() is the channel's name, else the other members' display names."""
    named = await web.with_bob("Plans")
    trio = await web.cc.create_group_channel("", ["bob", "carol"])
    assert (named.title(), trio.title()) == ("Plans", "Bob, Carol")


async def test_an_open_channel_page_never_imports_group_channels() -> None:
    """Connecting and chatting in an open channel leave chatcamp_web.group_channels unloaded;
    the first group call loads it."""
    fake_ffi.reset()
    pkg = fake_ffi.install()
    cc = pkg.ChatCamp(APP)
    await cc.connect("alice")
    page = fake_ffi.page.sdk
    assert page is not None
    page.open_channels.create("lobby")
    await (await cc.open_channel("lobby")).join()
    assert "chatcamp_web.group_channels" not in sys.modules
    assert await cc.my_group_channels() == []
    assert "chatcamp_web.group_channels" in sys.modules
