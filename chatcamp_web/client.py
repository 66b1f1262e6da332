"""``ChatCamp``: the SDK's client with awaitable calls, named states and the SDK's quirks fixed.

What it corrects (protocol spec §8):

* ``connect`` while connected as another user raises instead of returning the old user;
* ``connect`` as B right after ``disconnect`` as A ends connected as B, not as A;
* ``disconnect`` before ``connect``, or twice, does nothing instead of throwing;
* a second ``ChatCamp`` with another app ID raises instead of being silently ignored;
* every ``connect``/``disconnect`` has a timeout (the SDK waits forever), and overlapping
  calls run one after another in call order.
"""

import asyncio

from . import _ffi
from .errors import (ChatCampError, ConnectTimeoutError, InvalidStateError, NotAuthorizedError,
                     from_server)
from .state import ConnectionState, StateChange

SDK_OPEN, SDK_CLOSED = 0, 3
SDK_RECONNECT_TIMER = 1.3
"""The SDK clears a refused socket only when its reconnect timer fires, 1 s after the close
(spec §2.6 and §8); a connect() before then is queued behind the refused attempt forever."""
MAX_USER_ID_CHARS = 128
LISTENER_ID = "chatcamp_web"

_instance = None


class User:
    """The connected user as the SDK holds it."""

    def __init__(self, id, display_name="", avatar_url="", access_token=None):
        self.id = id
        self.display_name = display_name
        self.avatar_url = avatar_url
        self.access_token = access_token

    def __repr__(self):
        return "User(%r, display_name=%r)" % (self.id, self.display_name)


def _user(wire):
    if not wire:
        return None
    return User(str(wire.id), str(wire.displayName or ""), str(wire.avatarUrl or ""),
                wire.accessToken if wire.accessToken else None)


def _check_user_id(user_id):
    if not isinstance(user_id, str) or not user_id:
        raise InvalidStateError("user_id must be a non-empty string", "INVALID_USER_ID")
    if len(user_id) > MAX_USER_ID_CHARS:
        raise InvalidStateError("user_id is longer than %d characters" % MAX_USER_ID_CHARS,
                                "INVALID_USER_ID")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in user_id):
        raise InvalidStateError("user_id contains control characters", "INVALID_USER_ID")


class ChatCamp:
    """One per page, like the SDK: ``ChatCamp(app_id)`` again returns the same object.

    ``host`` and ``port`` default to the page's own origin.  ``token_provider``, an async
    function ``user_id -> token``, lets ``connect`` fetch a fresh token by itself.
    """

    def __new__(cls, app_id, host=None, port=None, token_provider=None, timeout=15.0):
        global _instance
        if _instance is not None:
            _instance._check_same(app_id, host, port)
            return _instance
        return super().__new__(cls)

    def __init__(self, app_id, host=None, port=None, token_provider=None, timeout=15.0):
        global _instance
        if _instance is self:
            return
        if not isinstance(app_id, str) or not app_id:
            raise InvalidStateError("app_id must be a non-empty string", "INVALID_APP_ID")
        if not _ffi.sdk_available():
            raise InvalidStateError("the ChatCamp SDK (ChatCamp.min.js) is not loaded on this "
                                    "page", "SDK_MISSING")
        existing = _ffi.existing_client()
        if existing is not None and _ffi.client_app_id(existing) != app_id:
            raise InvalidStateError(
                "this page's ChatCamp SDK already belongs to app %s; the SDK holds one app per "
                "page" % _ffi.client_app_id(existing), "APP_MISMATCH")
        created = _ffi.create_client(app_id)
        if not created.ok:
            raise ChatCampError(str(created.message), str(created.code))
        page_host, page_port = _ffi.page_origin()
        self.app_id = app_id
        self.host = host or page_host
        self.port = str(port or page_port)
        self.token_provider = token_provider
        self.timeout = timeout
        self._client = created.client
        self._state = ConnectionState.INITIALIZED
        self._reason = None
        self._user = None
        self._listeners = []
        self._tail = None
        self._close_waiter = None
        self._refused_at = None
        _ffi.listen(self._client, LISTENER_ID, self._on_connection_changed)
        _instance = self

    def _check_same(self, app_id, host, port):
        if app_id != self.app_id:
            raise InvalidStateError(
                "ChatCamp is already set up for app %s on this page; the SDK holds one app per "
                "page" % self.app_id, "APP_MISMATCH")
        if (host and host != self.host) or (port and str(port) != self.port):
            raise InvalidStateError("ChatCamp already talks to %s:%s on this page"
                                    % (self.host, self.port), "HOST_MISMATCH")

    # read-only view

    @property
    def state(self):
        return self._state

    @property
    def reason(self):
        """Why the last transition happened (a ChatCampError), or None."""
        return self._reason

    @property
    def user(self):
        return self._user

    def add_listener(self, listener):
        """``listener(change)`` — plain or async — gets every StateChange."""
        if listener not in self._listeners:
            self._listeners.append(listener)

    def remove_listener(self, listener):
        if listener in self._listeners:
            self._listeners.remove(listener)

    # commands

    async def connect(self, user_id, access_token=None, timeout=None):
        """Connect as ``user_id`` (by ID, or with a token); return the connected User."""
        _check_user_id(user_id)
        if access_token is not None and (not isinstance(access_token, str) or not access_token):
            raise InvalidStateError("access_token must be a non-empty string", "INVALID_TOKEN")
        return await self._serialized(self._connect, user_id, access_token,
                                      self.timeout if timeout is None else timeout)

    async def disconnect(self, timeout=None):
        """Disconnect; harmless before any connect and when already disconnected."""
        await self._serialized(self._disconnect, self.timeout if timeout is None else timeout)

    async def close(self, timeout=None):
        """Disconnect and let go of the SDK: the listener proxy is destroyed, and the next
        ``ChatCamp(...)`` (same app: the SDK keeps its app for the page) starts afresh."""
        global _instance
        await self.disconnect(timeout)
        _ffi.unlisten(self._client, LISTENER_ID)
        self._listeners = []
        if _instance is self:
            _instance = None

    async def _serialized(self, operation, *args):
        previous = self._tail
        done = _ffi.deferred()
        self._tail = done.promise
        try:
            if previous is not None:
                await previous
            return await operation(*args)
        finally:
            done.resolve(None)
            if self._tail is done.promise:
                self._tail = None

    async def _connect(self, user_id, access_token, timeout):
        if self._state == ConnectionState.CONNECTED and self._user is not None:
            if self._user.id == user_id:
                return self._user
            raise InvalidStateError("connected as %s; disconnect() before connecting as %s"
                                    % (self._user.id, user_id), "ALREADY_CONNECTED")
        if self._state in (ConnectionState.CONNECTING, ConnectionState.DISCONNECTED):
            current = _ffi.current_user(self._client)
            if current is not None and str(current.id) != user_id:
                raise InvalidStateError("reconnecting as %s; disconnect() before connecting as "
                                        "%s" % (current.id, user_id), "ALREADY_CONNECTED")
        if access_token is None and self.token_provider is not None:
            access_token = await self._provided_token(user_id)
        if self._refused_at is not None:
            wait = self._refused_at + SDK_RECONNECT_TIMER - _ffi.now()
            if wait > 0:
                await _ffi.sleep(wait)
            self._refused_at = None
        self._set_state(ConnectionState.CONNECTING)
        result = await _ffi.connect(self._client, user_id, access_token, self.host, self.port,
                                    timeout)
        if result.ok:
            _ffi.enable_auto_reconnect(self._client)
            self._user = _user(result.user)
            self._set_state(ConnectionState.CONNECTED)
            return self._user
        error = from_server(str(result.code), str(result.message))
        if isinstance(error, ConnectTimeoutError):
            await _ffi.disconnect(self._client)
        elif not error.retryable:
            await self._until_sdk_closed(timeout)
            self._refused_at = _ffi.now()
        if error.retryable and not isinstance(error, ConnectTimeoutError):
            self._set_state(ConnectionState.DISCONNECTED, error)
        else:
            self._set_state(ConnectionState.FAILED, error)
        raise error

    async def _until_sdk_closed(self, timeout):
        """After a refusal the server closes the socket; until the SDK has seen that close, a
        new connect() would only be queued behind the refused attempt."""
        waited = 0.0
        while _ffi.sdk_state(self._client) != SDK_CLOSED and waited < timeout:
            await _ffi.sleep(0.02)
            waited += 0.02

    async def _provided_token(self, user_id):
        try:
            token = await self.token_provider(user_id)
        except ChatCampError as error:
            self._set_state(ConnectionState.FAILED, error)
            raise
        if not isinstance(token, str) or not token:
            error = NotAuthorizedError("the token provider returned no token", "NO_TOKEN")
            self._set_state(ConnectionState.FAILED, error)
            raise error
        return token

    async def _disconnect(self, timeout):
        if self._state in (ConnectionState.INITIALIZED, ConnectionState.CLOSED):
            return
        self._set_state(ConnectionState.CLOSING)
        waiter = _ffi.deferred()
        self._close_waiter = waiter
        result = await _ffi.disconnect(self._client)
        if result.ok and _ffi.sdk_state(self._client) != SDK_CLOSED:
            await _ffi.with_timeout(waiter.promise, timeout)
        self._close_waiter = None
        self._user = None
        self._set_state(ConnectionState.CLOSED)

    # events from the SDK

    def _on_connection_changed(self, connected):
        if self._state == ConnectionState.CLOSING:
            if not connected and self._close_waiter is not None:
                self._close_waiter.resolve(None)
            return
        if connected:
            if self._state in (ConnectionState.DISCONNECTED, ConnectionState.CONNECTING):
                self._user = _user(_ffi.current_user(self._client)) or self._user
                self._set_state(ConnectionState.CONNECTED)
            return
        if self._state in (ConnectionState.CONNECTED, ConnectionState.CONNECTING):
            if _ffi.auto_reconnect(self._client):
                self._set_state(ConnectionState.DISCONNECTED,
                                ChatCampError("the connection was lost; reconnecting",
                                              "NETWORK"))
            elif self._state == ConnectionState.CONNECTED:
                self._set_state(ConnectionState.FAILED, NotAuthorizedError(
                    "the server ended this session", "SESSION_ENDED"))

    def _set_state(self, state, reason=None):
        if state == self._state and reason is None:
            return
        change = StateChange(self._state, state, reason, _ffi.now())
        self._state = state
        self._reason = reason
        for listener in list(self._listeners):
            try:
                outcome = listener(change)
                if hasattr(outcome, "send"):
                    asyncio.create_task(outcome)
            except Exception as exc:  # a listener's bug must not break the session
                print("chatcamp_web: listener %r raised %r" % (listener, exc))
