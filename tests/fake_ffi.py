"""A fake of ``chatcamp_web._ffi`` for in-process tests of the client's logic.

It stands in for one module only, the FFI, and behaves as the real SDK does by the protocol
spec (§2.3 handshake, §2.6 reconnect policy, §3 states and listeners, §8 quirks): a refusal
leaves the SDK's state unchanged until the server closes; NOT_AUTHORIZED and NOT_FOUND turn
auto-reconnect off; a closed socket is held until the reconnect timer fires, and a connect()
meanwhile is queued; connect() while open answers with the current user, whoever was asked
for; a drop resumes with the session key.  The server side is a script the test sets.

``install()`` puts it in ``sys.modules`` before ``chatcamp_web`` is imported.
"""

from __future__ import annotations

import asyncio
import importlib
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
