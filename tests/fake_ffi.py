"""A fake of ``chatcamp_web._ffi`` for in-process tests of the client's logic.

It stands in for one module only, the FFI, and behaves as the real SDK does by the protocol
spec (§2.3 handshake, §2.6 reconnect policy, §3 states and listeners, §8 quirks): a refusal
leaves the SDK's state unchanged until the server closes; NOT_AUTHORIZED and NOT_FOUND turn
auto-reconnect off; a closed socket is held until the reconnect timer fires, and a connect()
meanwhile is queued; connect() while open answers with the current user, whoever was asked
for; a drop resumes with the session key.  The server side is a script the test sets, and
its open and group channels small models of the server's (``FakeChannels``,
``FakeGroupChannels``).

``install()`` puts it in ``sys.modules`` before ``chatcamp_web`` is imported.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import types
from dataclasses import dataclass, field
from typing import Any, Callable

RUNTIME = "cpython-fake"
SESSION_KEY_INVALID = "Session Key Invalid"
OPEN, CONNECTING, CLOSING, CLOSED = 0, 1, 2, 3


def obj(**fields: Any) -> types.SimpleNamespace:
    return types.SimpleNamespace(**fields)


@dataclass
class Answer:
    """What the fake server does with one socket's login: accept, refuse or stay silent."""

    ok: bool = True
    code: str = ""
    message: str = ""
    notice: str | None = None
    """The code of a ``session.ended`` notice sent before a refusal, if any."""
    silent: bool = False
    delay: float = 0.0
    """Seconds before the answer arrives."""
    at_timeout: bool = False
    """The answer arrives just as the page's timeout fires: the SDK tells its listener of a
    success that the attempt's result no longer reports."""
    on_disconnect: bool = False
    """The answer arrives only as the page's ``disconnect()`` reaches the SDK: the race of a
    timed-out login answered just before it is stopped."""


@dataclass
class FakeServer:
    """Decides each login; by default accepts everyone, echoing the token."""

    decide: Callable[[str | None, str | None, str | None], Answer] = (
        lambda user, token, key: Answer())
    opened: list[tuple[str | None, str | None, str | None]] = field(default_factory=list)
    """(user_id, access_token, session_key) of every socket the SDK opened, in order."""


@dataclass
class FakeChannels:
    """The server's open channels as the SDK would see them through its acks and pushes
    (spec §5.2–§5.4): history newest first, paged by ``reference``; a send or an edit pushed
    to every listener, as the server pushes to every participant, the sender included."""

    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    participants: dict[str, list[str]] = field(default_factory=dict)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    refuse: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Call name → (code, message) of the error ack that call gets."""
    silent: set[str] = field(default_factory=set)
    """Calls the server never answers."""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    clock: float = 1_700_000_000.0

    def create(self, channel_id: str, name: str = "") -> None:
        self.channels[channel_id] = {"id": channel_id, "name": name or channel_id, "data": "",
                                     "avatar_url": "", "participants_count": 0,
                                     "inserted_at": self.clock, "updated_at": self.clock,
                                     "is_active": True, "is_read_only": False,
                                     "is_view_only": False}
        self.participants[channel_id] = []
        self.messages[channel_id] = []

    def post(self, channel_id: str, user_id: str, text: str) -> dict[str, Any]:
        self.clock += 1
        message = {"id": f"m{sum(len(m) for m in self.messages.values()) + 1}", "type": "text",
                   "text": text, "channel_id": channel_id, "channel_type": "open_channel",
                   "user_id": user_id, "display_name": user_id.title(),
                   "inserted_at": self.clock, "updated_at": 0}
        self.messages[channel_id].append(message)
        return message

    def answer(self, sdk: FakeSdk, name: str, args: dict[str, Any]) -> Any:
        """The value of the call's ack, or raises Refused with its error."""
        self.calls.append((name, args))
        if name in self.refuse:
            raise Refused(*self.refuse[name])
        me = sdk.user.id if sdk.user is not None else ""
        if name == "list":
            ids = sorted(i for i in self.channels if i > args.get("reference", ""))
            return [self.channels[i] for i in ids[:args["limit"]]]
        channel_id = args["id"]
        if channel_id not in self.channels:
            raise Refused("NOT_FOUND", "no such channel")
        members = self.participants[channel_id]
        if name == "get":
            return {**self.channels[channel_id], "participants_count": len(members)}
        if name == "join":
            if me not in members:
                members.append(me)
                sdk.push_channel("joined", channel_id, user={"id": me, "display_name": me,
                                                             "avatar_url": ""})
            return True
        if name == "leave":
            if me in members:
                members.remove(me)
                sdk.push_channel("left", channel_id, user={"id": me, "display_name": me,
                                                           "avatar_url": ""})
            return True
        if name == "participants":
            people = sorted(u for u in members if u > args.get("reference", ""))
            return [{"id": u, "display_name": u, "avatar_url": ""} for u in people[:args["limit"]]]
        if me not in members:
            raise Refused("NOT_A_PARTICIPANT", "join the channel first")
        held = self.messages[channel_id]
        if name == "history":
            return history_page(held, args)
        if name == "send":
            if len(args["text"]) > 4000:
                raise Refused("MESSAGE_TOO_LONG", "the text is over 4000 characters")
            message = self.post(channel_id, me, args["text"])
            sdk.push_channel("message_received", channel_id, message=message)
            return message
        found = [m for m in held if m["id"] == args["message_id"]]
        if not found:
            raise Refused("MESSAGE_NOT_FOUND", "no such message")
        message = found[0]
        if name == "message":
            return message
        if message["user_id"] != me:
            raise Refused("FORBIDDEN", "not your message")
        if name == "update":
            self.clock += 1
            message.update(text=args["text"], updated_at=self.clock)
            sdk.push_channel("message_updated", channel_id, message=message)
            return message
        assert name == "delete", name
        held.remove(message)
        sdk.push_channel("message_deleted", channel_id, message=message)
        return True


@dataclass
class FakeGroupChannels:
    """The server's group channels as the page's SDK would see them (spec §5.2–§5.4): members
    ``ACCEPTED`` or ``INVITED``, messages for the accepted only, unread counts and read
    receipts per member, a distinct channel once per set of members, the user's list the
    newest activity first, paged by ``reference``.  Pushes go to every listener of the page,
    as the server sends them to every member's sessions; the others' doings come from the
    test (``post``, ``FakeSdk.push_channel``)."""

    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, dict[str, str]] = field(default_factory=dict)
    """Channel ID → user ID → status."""
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    read_at: dict[str, dict[str, float]] = field(default_factory=dict)
    refuse: dict[str, tuple[str, str]] = field(default_factory=dict)
    silent: set[str] = field(default_factory=set)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    typing_sent: dict[tuple[str, str], float] = field(default_factory=dict)
    """(channel ID, call) → when the SDK last let that typing call go (the page's clock)."""
    clock: float = 1_700_000_000.0

    def make(self, name: str, members: dict[str, str], distinct: bool = False) -> str:
        self.clock += 1
        channel_id = f"g{len(self.channels) + 1}"
        self.channels[channel_id] = {"id": channel_id, "name": name, "is_distinct": distinct,
                                     "inserted_at": self.clock, "active_at": self.clock}
        self.members[channel_id] = dict(members)
        self.messages[channel_id] = []
        self.read_at[channel_id] = {}
        return channel_id

    def post(self, channel_id: str, user_id: str, text: str) -> dict[str, Any]:
        self.clock += 1
        message = {"id": f"gm{sum(len(m) for m in self.messages.values()) + 1}",
                   "type": "text", "text": text, "channel_id": channel_id,
                   "channel_type": "group_channel", "user_id": user_id,
                   "display_name": user_id.title(), "inserted_at": self.clock, "updated_at": 0}
        self.messages[channel_id].append(message)
        self.channels[channel_id]["active_at"] = self.clock
        return message

    def wire(self, channel_id: str, me: str) -> dict[str, Any]:
        """The channel as ``me`` gets it in an ack."""
        held, members = self.messages[channel_id], self.members[channel_id]
        seen = self.read_at[channel_id].get(me, 0)
        unread = [m for m in held if m["user_id"] != me and m["inserted_at"] > seen]
        channel = self.channels[channel_id]
        return {"id": channel_id, "name": channel["name"], "data": "", "avatar_url": "",
                "participants_count": len(members), "inserted_at": channel["inserted_at"],
                "updated_at": channel["inserted_at"], "is_active": True,
                "is_read_only": False, "is_view_only": False,
                "participants": [{"id": u, "display_name": u.title(), "avatar_url": "",
                                  "is_online": False, "last_seen": 0, "status": status}
                                 for u, status in sorted(members.items())],
                "unread_count": len(unread) if members.get(me) == "ACCEPTED" else 0,
                "last_message": held[-1] if held else False,
                "my_status": members.get(me, "NONE"), "is_distinct": channel["is_distinct"],
                "is_public": False, "read_receipt": dict(self.read_at[channel_id])}

    def answer(self, sdk: FakeSdk, name: str, args: dict[str, Any]) -> Any:
        """The value of the call's ack, or raises Refused with its error."""
        self.calls.append((name, args))
        if name in self.refuse:
            raise Refused(*self.refuse[name])
        me = sdk.user.id if sdk.user is not None else ""
        mine = [c for c in self.channels if me in self.members[c]]
        if name == "create":
            wanted = {me, *args["participant_ids"]}
            same = [c for c in mine if self.channels[c]["is_distinct"]
                    and set(self.members[c]) == wanted]
            if args["distinct"] and same:
                return self.wire(same[0], me)
            channel_id = self.make(args["name"], dict.fromkeys(wanted, "ACCEPTED"),
                                   args["distinct"])
            return self.wire(channel_id, me)
        if name == "my_list":
            wanted = [c for c in mine if args["status"] in ("ALL", self.members[c][me])]
            wanted.sort(key=lambda c: -self.channels[c]["active_at"])
            if "reference" in args:
                wanted = wanted[wanted.index(args["reference"]) + 1:]
            return [self.wire(c, me) for c in wanted[:args["limit"]]]
        if name == "unread_count":
            return sum(self.wire(c, me)["unread_count"] for c in mine)
        if name == "read_all":
            for channel_id in mine:
                self.read_at[channel_id][me] = self.clock
            return True
        channel_id = args["id"]
        if channel_id not in self.channels:
            raise Refused("NOT_FOUND", "no such channel")
        members = self.members[channel_id]
        status = members.get(me)
        if status is None:
            raise Refused("NOT_A_PARTICIPANT", "not a member of this channel")
        person = {"id": me, "display_name": me.title(), "avatar_url": "", "status": status}
        if name == "get":
            return self.wire(channel_id, me)
        if status == "INVITED":
            if name not in ("accept", "decline"):
                raise Refused("NOT_A_PARTICIPANT", "accept the invitation first")
            if name == "accept":
                members[me] = "ACCEPTED"
                self.read_at[channel_id][me] = self.clock
            else:
                del members[me]
            sdk.push_channel("joined" if name == "accept" else "declined", channel_id,
                             "group", user={**person, "status": members.get(me, "")})
            return True
        if name in ("accept", "decline"):
            raise Refused("NOT_INVITED", "there is no invitation to answer")
        if name == "invite":
            for user_id in args["participant_ids"]:
                if user_id not in members:
                    members[user_id] = "INVITED"
                    sdk.push_channel("invited", channel_id, "group",
                                     user={"id": user_id, "display_name": user_id.title(),
                                           "avatar_url": "", "status": "INVITED"})
            return True
        if name == "leave":
            del members[me]
            sdk.push_channel("left", channel_id, "group", user=person)
            return True
        if name == "read":
            self.read_at[channel_id][me] = self.clock
            sdk.push_channel("read_receipt", channel_id, "group",
                             read_receipt=dict(self.read_at[channel_id]))
            return dict(self.read_at[channel_id])
        if name in ("start_typing", "stop_typing"):
            now = asyncio.get_running_loop().time()
            if now - self.typing_sent.get((channel_id, name), -10.0) < 10.0:
                return False
            self.typing_sent[(channel_id, name)] = now
            return True
        if name == "participants":
            people = sorted(u for u in members if u > args.get("reference", ""))
            return [{"id": u, "display_name": u.title(), "avatar_url": "",
                     "status": members[u]} for u in people[:args["limit"]]]
        held = self.messages[channel_id]
        if name == "history":
            return history_page(held, args)
        assert name == "send", name
        if len(args["text"]) > 4000:
            raise Refused("MESSAGE_TOO_LONG", "the text is over 4000 characters")
        message = self.post(channel_id, me, args["text"])
        sdk.push_channel("message_received", channel_id, "group", message=message)
        sdk.push_channel("channel_updated", channel_id, "group",
                         channel=self.wire(channel_id, me))
        return message



async def until(condition: Callable[[], Any], what: str, limit: float = 2.0) -> None:
    """Wait for ``condition`` to hold (the fake's callbacks come on later loop turns)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.001)


def history_page(held: list[dict[str, Any]], args: dict[str, Any]) -> list[dict[str, Any]]:
    """A page of ``held`` (oldest first) as the SDK's query gives it: newest first, older
    than ``args["reference"]`` when given, at most ``args["limit"]``."""
    newest_first = held[::-1]
    if "reference" in args:
        at = [m["id"] for m in newest_first].index(args["reference"])
        newest_first = newest_first[at + 1:]
    return newest_first[:args["limit"]]

class Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class FakeSdk:
    """One page's SDK instance."""

    timer_delay = 0.0
    """The reconnect timer after a close; 0 models chatcamp_web's quick release of a socket
    the SDK will not reuse (the real one is 1 s, then 2, 4, ... for network drops)."""
    close_delay = 0.0
    """How long a close that ``disconnect()`` starts takes to complete."""

    def __init__(self, app_id: str) -> None:
        self.app = obj(id=app_id)
        self.state = CLOSED
        self.auto = True
        self.forced = False
        self.user: types.SimpleNamespace | None = None
        self.user_id: str | None = None
        self.token: str | None = None
        self.session_key: str | None = None
        self.socket = False
        self.queued: list[asyncio.Future[Any]] = []
        self.listeners: dict[str, Callable[..., Any]] = {}
        self.server = FakeServer()
        self.in_flight: tuple[Answer, str | None, str | None] | None = None
        self._keys = 0
        self.open_channels = FakeChannels()
        self.group_channels = FakeGroupChannels()
        self.channel_listeners: dict[str, Callable[[Any], Any]] = {}

    def push_channel(self, kind: str, channel_id: str, channel_type: str = "open",
                     **item: Any) -> None:
        """A push of the server's, as the FFI's channel listener hands it over (JSON-made):
        ``item`` is its one field (``message=``, ``user=``, ``read_receipt=``, ...)."""
        event = json.loads(json.dumps({"kind": kind, "channel_type": channel_type,
                                       "channel_id": channel_id, **item}))
        for listener in list(self.channel_listeners.values()):
            asyncio.get_running_loop().call_soon(listener, event)

    # the page's calls

    def connect(self, user_id: str, token: str | None) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.state == OPEN:
            future.set_result(obj(ok=True, user=self.user))  # whoever was asked for (§8)
            return future
        self.forced = False
        self.queued.append(future)
        self.user_id, self.token = user_id, token
        if self.state != CONNECTING and not self.socket:
            self._open(user_id, token)
        return future

    def timed_out(self) -> None:
        if self.in_flight is not None and self.in_flight[0].at_timeout:
            self._answer(*self.in_flight)
            self.in_flight = None

    def disconnect(self) -> None:
        if self.in_flight is not None:
            self._answer(*self.in_flight)
            self.in_flight = None
        self.forced = True
        self.session_key = None
        if self.socket and self.state != CLOSED:
            self.state = CLOSING
            asyncio.get_running_loop().call_later(self.close_delay, self._closed)
        self.user = None  # as chatcamp_web's helper does

    # the server's and the network's doings

    def drop(self) -> None:
        """The network fails under an open socket."""
        assert self.state == OPEN
        self._closed()

    def end_by_server(self, code: str, message: str, notice: str | None) -> None:
        """The server ends the session: an optional notice, a failure ack, then the close."""
        assert self.state == OPEN
        self._refuse(Answer(ok=False, code="NOT_AUTHORIZED", message=message, notice=notice))
        self._closed()

    # internals

    def _open(self, user: str | None, token: str | None) -> None:
        """A socket with the session key if one is held, else with ``user`` and ``token``."""
        self.state = CONNECTING
        self.socket = True
        key = self.session_key
        if key:
            user, token = None, None
        self.server.opened.append((user, token, key))
        answer = self.server.decide(user, token, key)
        if answer.on_disconnect or answer.at_timeout:
            self.in_flight = (answer, user or self.user_id, token)
        elif not answer.silent:
            asyncio.get_running_loop().call_later(answer.delay, self._answer, answer,
                                                  user or self.user_id, token)

    def _reconnect_credentials(self) -> tuple[str | None, str | None]:
        """The timer's choice (§2.6): the user of the last ack, with its echoed token, before
        the last connect()'s arguments."""
        if self.user is not None and self.user.accessToken:
            return self.user.id, self.user.accessToken
        if self.user is not None:
            return self.user.id, None
        return self.user_id, self.token

    def _answer(self, answer: Answer, user_id: str | None, token: str | None) -> None:
        """The users.auth.ack; as in the SDK, a late one opens even a socket that
        ``disconnect()`` is closing (its close then follows)."""
        if self.state not in (CONNECTING, CLOSING):
            return
        if not answer.ok:
            self._refuse(answer)
            asyncio.get_running_loop().call_soon(self._closed)
            return
        if self.session_key is None or self.user is None:
            self.user = obj(id=user_id, displayName="", avatarUrl="", accessToken=token or "")
        self._keys += 1
        self.session_key = f"key-{self._keys}"
        self.state = OPEN
        queued, self.queued = self.queued, []
        for future in queued:
            if not future.done():
                future.set_result(obj(ok=True, user=self.user))
        for listener in list(self.listeners.values()):
            listener("connection", True, "")

    def _refuse(self, answer: Answer) -> None:
        if answer.notice is not None:
            for listener in list(self.listeners.values()):
                listener("ended", answer.notice, answer.message)
        self.session_key = None
        if answer.code in ("NOT_AUTHORIZED", "NOT_FOUND") and answer.message != SESSION_KEY_INVALID:
            self.auto = False
        queued, self.queued = self.queued, []
        for future in queued:
            if not future.done():
                future.set_result(obj(ok=False, code=answer.code, message=answer.message))

    def _closed(self) -> None:
        if self.state == CLOSED:
            return
        self.state = CLOSED
        for listener in list(self.listeners.values()):
            listener("connection", False, "")
        asyncio.get_running_loop().call_later(self.timer_delay, self._timer)

    def _timer(self) -> None:
        self.socket = False
        if not self.forced and self.auto and (self.session_key or self.user or self.user_id):
            self._open(*self._reconnect_credentials())


class Deferred:
    def __init__(self) -> None:
        self.promise: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def resolve(self, value: Any) -> None:
        if not self.promise.done():
            self.promise.set_result(value)


class Page:
    """Everything the fake module holds for one test: the SDK, the clock, what was asked."""

    def __init__(self) -> None:
        self.sdk: FakeSdk | None = None
        self.sleeps: list[float] = []
        self.fetches: dict[str, tuple[int, str]] = {}
        self.random = 0.0
        self.proxies = 0


page = Page()


def reset() -> Page:
    global page
    page = Page()
    return page


# the module's interface, as chatcamp_web/_ffi.py defines it

def sdk_available() -> bool:
    return True


def existing_client() -> FakeSdk | None:
    return page.sdk


def create_client(app_id: str) -> types.SimpleNamespace:
    if page.sdk is None:
        page.sdk = FakeSdk(app_id)
    return obj(ok=True, client=page.sdk)


def client_app_id(client: FakeSdk) -> str:
    return str(client.app.id)


async def connect(client: FakeSdk, user_id: str, token: str | None, host: str, port: str,
                  timeout: float) -> Any:
    future = client.connect(user_id, token or None)
    try:
        return await asyncio.wait_for(asyncio.shield(future), timeout)
    except asyncio.TimeoutError:
        client.timed_out()
        return obj(ok=False, code="TIMEOUT", message=f"no answer within {timeout} s")


async def disconnect(client: FakeSdk) -> Any:
    client.disconnect()
    return obj(ok=True, state=client.state)


def sdk_state(client: FakeSdk) -> int:
    return client.state


def auto_reconnect(client: FakeSdk) -> bool:
    return client.auto


def enable_auto_reconnect(client: FakeSdk) -> None:
    client.auto = True


def current_user(client: FakeSdk) -> Any:
    return client.user


def listen(client: FakeSdk, listener_id: str, fn: Callable[..., Any]) -> None:
    page.proxies += 1
    client.listeners[listener_id] = fn


def unlisten(client: FakeSdk, listener_id: str) -> None:
    if client.listeners.pop(listener_id, None) is not None:
        page.proxies -= 1


def live_proxies() -> int:
    return page.proxies


def sdk_listener_count(client: FakeSdk) -> int:
    return len(client.listeners)


async def socket_released(client: FakeSdk, timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    until = loop.time() + timeout
    while client.socket and (client.forced or not (
            client.state == OPEN or (client.state == CONNECTING and client.auto))):
        if loop.time() >= until:
            return False
        await asyncio.sleep(0.001)
    return True


async def channel_call(client: FakeSdk, kind: str, name: str, args: dict[str, Any],
                       timeout: float) -> dict[str, Any]:
    """As the FFI's: JSON both ways; a call while the socket is not open is dropped by the SDK,
    so it, like a call the server is silent to, ends only by the timeout."""
    args = json.loads(json.dumps(args))
    server = client.open_channels if kind == "open" else client.group_channels
    if client.state != OPEN or name in server.silent:
        server.calls.append((name, args))
        await asyncio.sleep(timeout)
        return {"ok": False, "code": "TIMEOUT", "message": f"no answer within {timeout} s"}
    await asyncio.sleep(0)
    try:
        value = server.answer(client, name, args)
    except Refused as refused:
        return {"ok": False, "code": refused.code, "message": refused.message}
    return json.loads(json.dumps({"ok": True, "value": value}))


def channel_listen(client: FakeSdk, listener_id: str, fn: Callable[[Any], Any]) -> None:
    page.proxies += 1
    client.channel_listeners[listener_id] = fn


def channel_unlisten(client: FakeSdk, listener_id: str) -> None:
    if client.channel_listeners.pop(listener_id, None) is not None:
        page.proxies -= 1


def sdk_channel_listener_count(client: FakeSdk) -> int:
    return len(client.channel_listeners)


def deferred() -> Deferred:
    return Deferred()


async def with_timeout(promise: asyncio.Future[Any], seconds: float) -> Any:
    try:
        return await asyncio.wait_for(asyncio.shield(promise), seconds)
    except asyncio.TimeoutError:
        return obj(ok=False, code="TIMEOUT", message="timeout")


async def sleep(seconds: float) -> None:
    """Recorded, and not waited: the tests look at the waits, not at the clock."""
    page.sleeps.append(seconds)
    await asyncio.sleep(0)


def now() -> float:
    return asyncio.get_running_loop().time()


def random() -> float:
    return page.random


def page_origin() -> tuple[str, str]:
    return "127.0.0.1", "8080"


def absolute_url(url: str) -> str:
    return url if "://" in url else "http://127.0.0.1:8080" + url


async def fetch_text(url: str, credentials: bool, timeout: float) -> Any:
    status, text = page.fetches.get(url, (404, ""))
    if status == 0:
        return obj(ok=False, code=text, message="fetch failed")
    return obj(ok=True, status=status, text=text)


def install() -> types.ModuleType:
    """Make ``chatcamp_web`` import this module as its FFI; returns the fresh package."""
    for name in [n for n in sys.modules if n == "chatcamp_web" or n.startswith("chatcamp_web.")]:
        del sys.modules[name]
    sys.modules["chatcamp_web._ffi"] = sys.modules[__name__]
    return importlib.import_module("chatcamp_web")
