"""In-process: chatcamp_web's open channels over the fake FFI: calls, timeouts, the error tree,
paging, listeners and their proxies."""

from __future__ import annotations

import asyncio
import importlib
import sys
from typing import Any

import fake_ffi
import pytest
from fake_ffi import FakeChannels, FakeSdk, until

APP = "1234567890"


class Web:
    """chatcamp_web over the fake FFI, connected as ``alice``, with a channel ``lobby``."""

    def __init__(self) -> None:
        self.page = fake_ffi.reset()
        self.pkg = fake_ffi.install()
        self.channels = importlib.import_module("chatcamp_web.channels")
        self.cc = self.pkg.ChatCamp(APP, timeout=0.2)
        self.server.create("lobby", "The lobby")

    @property
    def sdk(self) -> FakeSdk:
        assert self.page.sdk is not None
        return self.page.sdk

    @property
    def server(self) -> FakeChannels:
        return self.sdk.open_channels

    async def joined(self, channel_id: str = "lobby") -> Any:
        await self.cc.connect("alice")
        channel = await self.cc.open_channel(channel_id)
        await channel.join()
        return channel


@pytest.fixture
def web() -> Web:
    return Web()


class Recorder:
    """A ChannelListener that writes down what it hears."""

    def __init__(self) -> None:
        self.heard: list[tuple[str, str, str]] = []

    def on_message_received(self, channel_id: str, message: Any) -> None:
        self.heard.append(("received", channel_id, message.text))

    def on_message_updated(self, channel_id: str, message: Any) -> None:
        self.heard.append(("updated", channel_id, message.text))

    def on_message_deleted(self, channel_id: str, message: Any) -> None:
        self.heard.append(("deleted", channel_id, message.id))

    def on_participant_joined(self, channel_id: str, user: Any) -> None:
        self.heard.append(("joined", channel_id, user.id))

    def on_participant_left(self, channel_id: str, user: Any) -> None:
        self.heard.append(("left", channel_id, user.id))


# opening, joining, sending

async def test_open_channel_is_a_python_object_with_the_channels_fields(web: Web) -> None:
    """open_channel gives an OpenChannel with ID, name and participant count, no JS proxy."""
    await web.cc.connect("alice")
    channel = await web.cc.open_channel("lobby")
    assert isinstance(channel, web.channels.OpenChannel)
    assert (channel.id, channel.name, channel.participants_count) == ("lobby", "The lobby", 0)


async def test_unknown_channel_is_channel_not_found_not_app_not_found(web: Web) -> None:
    """NOT_FOUND from a channel call is ChannelNotFoundError, never the connect's
    AppNotFoundError."""
    await web.cc.connect("alice")
    with pytest.raises(web.pkg.ChannelNotFoundError) as raised:
        await web.cc.open_channel("nowhere")
    assert raised.value.code == "NOT_FOUND"
    assert not isinstance(raised.value, web.pkg.AppNotFoundError)


async def test_calls_before_connect_fail_at_once_without_reaching_the_sdk(web: Web) -> None:
    """Not connected: InvalidStateError NOT_CONNECTED at once; the SDK would drop the send
    and never call back."""
    with pytest.raises(web.pkg.InvalidStateError) as raised:
        await web.cc.open_channel("lobby")
    assert raised.value.code == "NOT_CONNECTED"
    assert web.server.calls == []


async def test_send_after_join_returns_the_stored_message(web: Web) -> None:
    """A sent text comes back as a Message with ID, text, sender, display name and times."""
    channel = await web.joined()
    message = await channel.send("hello")
    assert isinstance(message, web.channels.Message)
    assert (message.text, message.user_id, message.display_name) == ("hello", "alice", "Alice")
    assert message.id and message.inserted_at > 0 and message.updated_at == 0
    assert not message.edited


async def test_send_before_join_is_not_a_participant(web: Web) -> None:
    """The server's NOT_A_PARTICIPANT is NotAParticipantError."""
    await web.cc.connect("alice")
    channel = await web.cc.open_channel("lobby")
    with pytest.raises(web.pkg.NotAParticipantError):
        await channel.send("too early")


async def test_texts_are_checked_before_the_sdk_sees_them(web: Web) -> None:
    """Empty and over-long texts raise InvalidArgumentError without a call; the limit itself
    is allowed, counted in code points."""
    channel = await web.joined()
    before = len(web.server.calls)
    limit = web.channels.MAX_MESSAGE_CHARS
    for text, code in (("", "INVALID_TEXT"), ("x" * (limit + 1), "MESSAGE_TOO_LONG"),
                       (None, "INVALID_TEXT")):
        with pytest.raises(web.pkg.InvalidArgumentError) as raised:
            await channel.send(text)
        assert raised.value.code == code
    assert len(web.server.calls) == before
    assert (await channel.send("😀" * limit)).text == "😀" * limit


async def test_bad_limits_timeouts_and_ids_raise_before_any_call(web: Web) -> None:
    """A limit that is not a positive int, a bad timeout or an empty ID is refused locally."""
    channel = await web.joined()
    before = len(web.server.calls)
    for call in (lambda: channel.history(0), lambda: channel.history(True),
                 lambda: channel.participants(-1), lambda: web.cc.open_channels(2.5),
                 lambda: channel.send("x", timeout=0), lambda: web.cc.open_channel(""),
                 lambda: channel.delete("")):
        with pytest.raises(web.pkg.InvalidArgumentError):
            await call()
    with pytest.raises(ValueError):
        channel.previous_messages(0)
    assert len(web.server.calls) == before


# timeouts and errors

async def test_a_call_the_server_never_answers_times_out(web: Web) -> None:
    """With no answer, a call ends with ConnectTimeoutError (TIMEOUT) after its timeout."""
    channel = await web.joined()
    web.server.silent.add("send")
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(web.pkg.ConnectTimeoutError) as raised:
        await channel.send("into the void", timeout=0.05)
    assert raised.value.code == "TIMEOUT" and raised.value.retryable
    assert 0.05 <= loop.time() - started < 1


async def test_a_call_on_a_socket_the_sdk_has_not_yet_seen_die_times_out(web: Web) -> None:
    """The SDK drops a send on a closed socket; the client's default timeout ends the call."""
    channel = await web.joined()
    web.sdk.state = fake_ffi.CLOSED  # closed, before the SDK tells its listener
    with pytest.raises(web.pkg.ConnectTimeoutError):
        await channel.history()


async def test_calls_while_reconnecting_fail_at_once(web: Web) -> None:
    """After a drop the session is disconnected, and a call says NOT_CONNECTED at once."""
    FakeSdk.timer_delay = 5.0
    try:
        channel = await web.joined()
        web.sdk.drop()
        assert web.cc.state == "disconnected"
        with pytest.raises(web.pkg.InvalidStateError) as raised:
            await channel.send("lost")
    finally:
        FakeSdk.timer_delay = 0.0
    assert raised.value.code == "NOT_CONNECTED"


@pytest.mark.parametrize("code, name, retryable", [
    ("RATE_LIMITED", "RateLimitedError", True),
    ("MESSAGE_TOO_LONG", "InvalidArgumentError", False),
    ("NOT_A_PARTICIPANT", "NotAParticipantError", False),
    ("FORBIDDEN", "ForbiddenError", False),
    ("MESSAGE_NOT_FOUND", "MessageNotFoundError", False),
    ("TOO_MANY_CHANNELS", "LimitReachedError", False),
    ("NOT_FOUND", "ChannelNotFoundError", False),
    ("INTERNAL", "ChatCampError", True),
    ("SOMETHING_NEW", "ChatCampError", False),
])
async def test_error_acks_map_into_the_one_tree(web: Web, code: str, name: str,
                                                retryable: bool) -> None:
    """Each error ack becomes its class of the tree with the server's code and message."""
    channel = await web.joined()
    web.server.refuse["send"] = (code, "the server says no")
    with pytest.raises(web.pkg.ChatCampError) as raised:
        await channel.send("hi")
    assert type(raised.value).__name__ == name
    assert (raised.value.code, raised.value.message) == (code, "the server says no")
    assert raised.value.retryable is retryable
    assert "the server says no" in str(raised.value) and code in str(raised.value)


async def test_too_many_channels_on_join_is_limit_reached(web: Web) -> None:
    """The server's TOO_MANY_CHANNELS on a join is LimitReachedError."""
    await web.cc.connect("alice")
    channel = await web.cc.open_channel("lobby")
    web.server.refuse["join"] = ("TOO_MANY_CHANNELS", "in 100 channels already")
    with pytest.raises(web.pkg.LimitReachedError):
        await channel.join()


# history and paging

async def test_history_is_newest_first_and_pages_backwards(web: Web) -> None:
    """history() gives the newest first; before= and previous_messages() page back to the
    start, then say there is no more."""
    channel = await web.joined()
    for n in range(7):
        await channel.send(f"m{n}")
    newest = await channel.history(limit=3)
    assert [m.text for m in newest] == ["m6", "m5", "m4"]
    older = await channel.history(limit=3, before=newest[-1])
    assert [m.text for m in older] == ["m3", "m2", "m1"]
    assert [m.text for m in await channel.history(limit=3, before=older[-1].id)] == ["m0"]
    query = channel.previous_messages(limit=3)
    pages = []
    while query.has_more:
        pages.append([m.text for m in await query.load()])
    assert pages == [["m6", "m5", "m4"], ["m3", "m2", "m1"], ["m0"]]
    assert await query.load() == []


async def test_edits_and_deletes_of_ones_own_messages(web: Web) -> None:
    """update() returns the edited Message; delete() removes it; get_message() reads one."""
    channel = await web.joined()
    sent = await channel.send("frist")
    edited = await channel.update(sent, "first")
    assert (edited.id, edited.text, edited.edited) == (sent.id, "first", True)
    assert (await channel.get_message(sent.id)).text == "first"
    await channel.delete(sent.id)
    with pytest.raises(web.pkg.MessageNotFoundError):
        await channel.get_message(sent)
    assert await channel.history() == []


async def test_another_users_message_cannot_be_changed(web: Web) -> None:
    """Editing or deleting someone else's message is ForbiddenError."""
    channel = await web.joined()
    theirs = web.server.post("lobby", "bob", "bob's")
    with pytest.raises(web.pkg.ForbiddenError):
        await channel.update(theirs["id"], "mine now")
    with pytest.raises(web.pkg.ForbiddenError):
        await channel.delete(theirs["id"])


async def test_participants_and_channels_page_by_id(web: Web) -> None:
    """participants() and open_channels() give a page by ID, and the next after= a given ID."""
    channel = await web.joined()
    web.server.participants["lobby"] += ["bob", "carol"]
    people = await channel.participants(limit=2)
    assert [(u.id, type(u).__name__) for u in people] == [("alice", "User"), ("bob", "User")]
    assert [u.id for u in await channel.participants(limit=2, after="bob")] == ["carol"]
    for name in ("b-room", "a-room"):
        web.server.create(name)
    assert [c.id for c in await web.cc.open_channels(limit=2)] == ["a-room", "b-room"]
    assert [c.id for c in await web.cc.open_channels(after="b-room")] == ["lobby"]


# listeners and proxies

async def test_listener_hears_its_channel_only(web: Web) -> None:
    """A channel's listener hears its own messages, edits, deletes, joins and leaves, and
    nothing of another channel."""
    web.server.create("other")
    channel = await web.joined()
    other = await web.cc.open_channel("other")
    heard = Recorder()
    channel.add_listener(heard)
    await other.join()
    await other.send("elsewhere")
    sent = await channel.send("here")
    await channel.update(sent, "here!")
    await channel.delete(sent)
    await channel.leave()
    await until(lambda: len(heard.heard) == 4, "four events")
    assert heard.heard == [("received", "lobby", "here"), ("updated", "lobby", "here!"),
                           ("deleted", "lobby", sent.id), ("left", "lobby", "alice")]


async def test_one_proxy_for_all_listeners_destroyed_with_the_last(web: Web) -> None:
    """However many listeners on however many channels, JS holds one proxy; removing the last
    listener destroys it and unregisters the SDK's ChannelListener."""
    web.server.create("other")
    channel = await web.joined()
    other = await web.cc.open_channel("other")
    baseline = fake_ffi.live_proxies()
    first, second = Recorder(), Recorder()
    channel.add_listener(first)
    channel.add_listener(first)
    other.add_listener(second)
    assert fake_ffi.live_proxies() == baseline + 1
    assert fake_ffi.sdk_channel_listener_count(web.sdk) == 1
    channel.remove_listener(first)
    assert fake_ffi.live_proxies() == baseline + 1
    other.remove_listener(second)
    assert fake_ffi.live_proxies() == baseline
    assert fake_ffi.sdk_channel_listener_count(web.sdk) == 0
    channel.remove_listener(first)  # twice is harmless
    assert fake_ffi.live_proxies() == baseline


async def test_close_destroys_every_proxy(web: Web) -> None:
    """close() with channel listeners in place leaves JS holding no Python callable."""
    channel = await web.joined()
    channel.add_listener(Recorder())
    await web.cc.close()
    assert fake_ffi.live_proxies() == 0
    assert fake_ffi.sdk_channel_listener_count(web.sdk) == 0


async def test_async_and_partial_listeners_and_a_broken_one(web: Web) -> None:
    """Async methods are run, missing methods are skipped, and a raising listener does not
    keep the others from hearing."""
    channel = await web.joined()
    heard: list[str] = []

    class AsyncOne:
        async def on_message_received(self, channel_id: str, message: Any) -> None:
            await asyncio.sleep(0)
            heard.append("async:" + message.text)

    class Broken(web.channels.ChannelListener):
        def on_message_received(self, channel_id: str, message: Any) -> None:
            raise RuntimeError("a listener bug")

    class Partial:
        pass

    for listener in (Broken(), Partial(), AsyncOne()):
        channel.add_listener(listener)
    await channel.send("hey")
    await channel.update((await channel.history())[0], "hey!")  # AsyncOne has no such method
    await until(lambda: heard == ["async:hey"], "the async listener")


async def test_events_of_another_user_carry_their_names(web: Web) -> None:
    """A push of bob's message reaches alice's listener as a Message from bob."""
    channel = await web.joined()
    got: list[Any] = []

    class Listener(web.channels.ChannelListener):
        def on_message_received(self, channel_id: str, message: Any) -> None:
            got.append(message)

    channel.add_listener(Listener())
    message = web.server.post("lobby", "bob", "<b>hi</b>\u202e\n")
    web.sdk.push_channel("message_received", "lobby", message=message)
    await until(lambda: got, "bob's message")
    assert (got[0].user_id, got[0].display_name, got[0].text) == ("bob", "Bob",
                                                                 "<b>hi</b>\u202e\n")


async def test_a_page_that_never_chats_never_imports_the_channels_module() -> None:
    """``import chatcamp_web`` and connecting leave chatcamp_web.channels and group_channels
    unloaded (the widget's start does not pay for them); the first open_channel() loads
    channels."""
    fake_ffi.reset()
    pkg = fake_ffi.install()
    cc = pkg.ChatCamp(APP)
    await cc.connect("alice")
    assert "chatcamp_web.channels" not in sys.modules
    assert "chatcamp_web.group_channels" not in sys.modules
    with pytest.raises(pkg.ChannelNotFoundError):
        await cc.open_channel("lobby")
    assert "chatcamp_web.channels" in sys.modules
