"""``ChatCamp``: the SDK's client with awaitable calls, named states, tokens that renew
themselves, and the SDK's quirks fixed.

Every change of state goes through ``_apply(event)`` and the table in ``state.py``.  Each
``connect``/``disconnect`` starts a new *generation*; the outcome of an attempt (or of a
token renewal) from an earlier generation changes nothing.

What it corrects (protocol spec §8):

* ``connect`` while connected as another user raises instead of returning the old user;
* ``connect`` as B right after ``disconnect`` as A ends connected as B, not as A;
* ``disconnect`` before ``connect``, or twice, does nothing instead of throwing;
* a second ``ChatCamp`` with another app ID raises instead of being silently ignored;
* every ``connect``/``disconnect`` has a timeout (the SDK waits forever), and overlapping
  calls run one after another in call order;
* a session the server ended is reported with the server's reason (its ``session.ended``
  notice), and when the reason is an expired token and there is a ``token_provider``, the
  client gets a new token and reconnects by itself;
* after a successful connect the SDK reconnects by itself again (it turns that off for good
  after any refusal).
"""

import asyncio

from . import _ffi
from .errors import (ChatCampError, ConnectTimeoutError, InvalidArgumentError,
                     InvalidStateError, NetworkError, NotAuthorizedError, from_server)
from .limits import MAX_USER_ID_CHARS
from .renewal import RENEWAL_ATTEMPTS, TokenSource, backoff
from .state import IGNORED, ConnectionState, Event, StateChange, next_state

SDK_CLOSED = 3
LISTENER_ID = "chatcamp_web"
TOKEN_EXPIRED = "TOKEN_EXPIRED"

_instance = None


class User:
    """The connected user as the SDK holds it, or a channel's participant; a participant's
    ``is_online`` says whether they have a live session now, ``last_seen`` (seconds) when
    their last one ended, and a group channel's ``status`` whether they are a member
    (``ACCEPTED``) or only invited (``INVITED``)."""

    def __init__(self, id, display_name="", avatar_url="", access_token=None, is_online=False,
                 last_seen=0, status=""):
        self.id = id
        self.display_name = display_name
        self.avatar_url = avatar_url
        self.access_token = access_token
        self.is_online = is_online
        self.last_seen = last_seen
        self.status = status

    def __repr__(self):
        return "User(%r, display_name=%r)" % (self.id, self.display_name)


def _user(wire):
    if not wire:
        return None
    return User(str(wire.id), str(wire.displayName or ""), str(wire.avatarUrl or ""),
                wire.accessToken if wire.accessToken else None)


def _check_user_id(user_id):
    if not isinstance(user_id, str) or not user_id:
        raise InvalidArgumentError("user_id must be a non-empty string", "INVALID_USER_ID")
    if len(user_id) > MAX_USER_ID_CHARS:
        raise InvalidArgumentError("user_id is longer than %d characters" % MAX_USER_ID_CHARS,
                                   "INVALID_USER_ID")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in user_id):
        raise InvalidArgumentError("user_id contains control characters", "INVALID_USER_ID")


def _check_timeout(timeout):
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or timeout <= 0):
        raise InvalidArgumentError("timeout must be a positive number of seconds",
                                   "INVALID_TIMEOUT")


class ChatCamp:
    """One per page, like the SDK: ``ChatCamp(app_id)`` again returns the same object.

    ``host`` and ``port`` default to the page's own origin.  ``token_provider``, an async
    function ``user_id -> token``, lets ``connect`` fetch a token by itself, and renews the
    session's token when the server ends it for having expired.
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
            raise InvalidArgumentError("app_id must be a non-empty string", "INVALID_APP_ID")
        _check_timeout(timeout)
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
        self.timeout = timeout
        self._tokens = None
        self.token_provider = token_provider
        self._client = created.client
        self._state = ConnectionState.INITIALIZED
        self._reason = None
        self._user = None
        self._user_id = None
        self._listeners = []
        self._tail = None
        self._close_waiter = None
        self._generation = 0
        self._renewing = None
        """The generation a renewal is running for, so that one expiry starts one renewal."""
        self._attempting = False
        """An attempt awaits its result: that result, not the SDK's listener, says whether it
        connected (a result that timed out wins over a success reported just after)."""
        self._notice = None
        """The server's last ``session.ended`` notice, until the event it explains uses it."""
        self._channel_hub = None
        """The channel listeners of both kinds (channels.Hub), made with the first one."""
        _ffi.listen(self._client, LISTENER_ID, self._on_sdk)
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

    @property
    def token_provider(self):
        return self._tokens.provider if self._tokens is not None else None

    @token_provider.setter
    def token_provider(self, provider):
        if provider is not None and not callable(provider):
            raise InvalidArgumentError("token_provider must be an async function of the user "
                                       "ID", "INVALID_TOKEN_PROVIDER")
        self._tokens = TokenSource(provider) if provider is not None else None

    @property
    def token_provider_calls(self):
        """How many times the current ``token_provider`` has been called."""
        return self._tokens.calls if self._tokens is not None else 0

    def add_listener(self, listener):
        """``listener(change)`` — plain or async — gets every StateChange."""
        if listener not in self._listeners:
            self._listeners.append(listener)

    def remove_listener(self, listener):
        if listener in self._listeners:
            self._listeners.remove(listener)

    # open channels (chatcamp_web.channels)

    async def open_channel(self, channel_id, timeout=None):
        """The open channel ``channel_id``, as an OpenChannel to join, read and post in."""
        from . import channels
        return await channels.get(self, channel_id, timeout)

    async def open_channels(self, limit=20, after=None, timeout=None):
        """One page of the app's open channels, by ID, after the channel ID ``after``."""
        from . import channels
        return await channels.list_channels(self, limit, after, timeout)

    # group channels (chatcamp_web.group_channels)

    async def create_group_channel(self, name, participant_ids, distinct=False, timeout=None):
        """A new group channel of ``participant_ids`` and this user, as a GroupChannel; with
        ``distinct``, the one these members already have, if any."""
        from . import group_channels
        return await group_channels.create(self, name, participant_ids, distinct, timeout)

    async def group_channel(self, channel_id, timeout=None):
        """The group channel ``channel_id`` afresh from the server (the SDK's copy lags)."""
        from . import group_channels
        return await group_channels.get(self, channel_id, timeout)

    async def my_group_channels(self, limit=20, after=None, status="ALL", timeout=None):
        """One page of this user's group channels, the newest activity first, after the
        channel ID ``after``; ``status`` ``ALL``, ``ACCEPTED`` or ``INVITED``."""
        from . import group_channels
        return await group_channels.my_channels(self, limit, after, status, timeout)

    async def total_unread_count(self, timeout=None):
        """Messages of others this user has not read, in all their group channels."""
        from . import group_channels
        return await group_channels.total_unread_count(self, timeout)

    async def mark_all_read(self, timeout=None):
        """Mark every group channel of this user's read."""
        from . import group_channels
        await group_channels.mark_all_read(self, timeout)

    def add_group_channel_listener(self, listener):
        """``listener`` (a GroupChannelListener) hears every group channel of this user's,
        those it joins later too: what an inbox needs."""
        from . import group_channels
        group_channels.add_listener(self, listener)

    def remove_group_channel_listener(self, listener):
        from . import group_channels
        group_channels.remove_listener(self, listener)

    # commands

    async def connect(self, user_id, access_token=None, timeout=None):
        """Connect as ``user_id`` (by ID, or with a token); return the connected User."""
        _check_user_id(user_id)
        _check_timeout(timeout)
        if access_token is not None and (not isinstance(access_token, str) or not access_token):
            raise InvalidArgumentError("access_token must be a non-empty string",
                                       "INVALID_TOKEN")
        return await self._serialized(self._connect, user_id, access_token,
                                      self.timeout if timeout is None else timeout)

    async def disconnect(self, timeout=None):
        """Disconnect; harmless before any connect and when already disconnected."""
        _check_timeout(timeout)
        await self._serialized(self._disconnect, self.timeout if timeout is None else timeout)

    async def close(self, timeout=None):
        """Disconnect and let go of the SDK: the listener proxies (connection and channels) are
        destroyed, and the next
        ``ChatCamp(...)`` (same app: the SDK keeps its app for the page) starts afresh."""
        global _instance
        await self.disconnect(timeout)
        _ffi.unlisten(self._client, LISTENER_ID)
        if self._channel_hub is not None:
            self._channel_hub.release()
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
        self._generation += 1
        generation = self._generation
        self._user_id = user_id
        self._apply(Event.CONNECT)
        if access_token is None and self._tokens is not None:
            try:
                access_token = await self._tokens.token(user_id)
            except ChatCampError as error:
                self._apply(Event.REFUSED, error, generation)
                raise
        user, error = await self._attempt(user_id, access_token, timeout, generation)
        if error is None:
            return user
        if isinstance(error, ConnectTimeoutError):
            self._apply(Event.TIMED_OUT, error, generation)
            await self._abort()
        elif error.retryable:
            self._apply(Event.RETRY_LATER, error, generation)
        else:
            self._apply(Event.REFUSED, error, generation)
        raise error

    async def _attempt(self, user_id, access_token, timeout, generation):
        """One login through the SDK: ``(user, None)`` once connected, else ``(None, error)``.
        Applies AUTHENTICATED itself; what a failure means is the caller's to say, and after
        a timeout the caller applies its event first and then ``_abort``s, so that an answer
        arriving meanwhile finds the attempt already over."""
        if not await _ffi.socket_released(self._client, timeout):
            return None, ConnectTimeoutError("the SDK did not let go of its last socket within "
                                             "%s s" % timeout)
        self._attempting = True
        try:
            result = await _ffi.connect(self._client, user_id, access_token, self.host,
                                        self.port, timeout)
        finally:
            self._attempting = False
        if result.ok:
            if generation == self._generation:
                _ffi.enable_auto_reconnect(self._client)
                self._user = _user(result.user)
                self._apply(Event.AUTHENTICATED, None, generation)
            return self._user, None
        error = from_server(str(result.code), str(result.message))
        if isinstance(error, ConnectTimeoutError):
            return None, error
        return None, self._take_notice() or error

    async def _abort(self):
        """Stop the SDK's timed-out attempt: it would never end by itself."""
        await _ffi.disconnect(self._client)

    async def _disconnect(self, timeout):
        self._generation += 1  # whatever was under way, an attempt or a renewal, is past now
        if not self._apply(Event.DISCONNECT):
            return
        waiter = _ffi.deferred()
        self._close_waiter = waiter
        result = await _ffi.disconnect(self._client)
        if result.ok and _ffi.sdk_state(self._client) != SDK_CLOSED:
            await _ffi.with_timeout(waiter.promise, timeout)
        self._close_waiter = None
        self._user = None
        self._apply(Event.CLOSED)

    # renewing the token

    async def _renew(self, generation):
        """Get a new token and reconnect with it, up to RENEWAL_ATTEMPTS times; stops as soon
        as a ``connect``/``disconnect`` of the page starts a new generation."""
        failure = None
        try:
            for attempt in range(RENEWAL_ATTEMPTS):
                if attempt:
                    await _ffi.sleep(backoff(attempt))
                if generation != self._generation:
                    return
                if self._tokens is None:
                    failure = NotAuthorizedError("the token expired and the token provider "
                                                 "was removed", TOKEN_EXPIRED)
                    break
                try:
                    token = await self._tokens.token(self._user_id)
                except ChatCampError as error:
                    failure = error
                    if not error.retryable:
                        break
                    continue
                failure = await self._serialized(self._reconnect_renewed, token, generation)
                if failure is None or not failure.retryable:
                    return
            self._apply(Event.RENEWAL_FAILED, failure, generation)
        finally:
            if self._renewing == generation:
                self._renewing = None

    async def _reconnect_renewed(self, token, generation):
        """The renewal's reconnect, queued with the page's calls; None once connected (or
        when the page has moved on), else the error."""
        if not self._apply(Event.RENEWING, None, generation):
            return None
        _, error = await self._attempt(self._user_id, token, self.timeout, generation)
        if error is not None:
            if error.retryable:
                self._apply(Event.RETRY_LATER, error, generation)
            else:
                self._apply(Event.REFUSED, error, generation)
            if isinstance(error, ConnectTimeoutError):
                await self._abort()
        return error

    # events from the SDK

    def _take_notice(self):
        notice, self._notice = self._notice, None
        return notice

    def _on_sdk(self, kind, value, message):
        if kind == "ended":
            self._notice = from_server(str(value), str(message))
        elif value:
            self._on_up()
        else:
            self._on_down()

    def _on_up(self):
        if self._state == ConnectionState.CLOSING or self._attempting:
            return  # an attempt's success is its result's to report, and may come too late
        if self._state in (ConnectionState.DISCONNECTED, ConnectionState.CONNECTING):
            self._user = _user(_ffi.current_user(self._client)) or self._user
        self._apply(Event.AUTHENTICATED)

    def _on_down(self):
        if self._state == ConnectionState.CLOSING:
            if self._close_waiter is not None:
                self._close_waiter.resolve(None)
            return
        if _ffi.auto_reconnect(self._client):
            self._apply(Event.LOST, NetworkError("the connection was lost; reconnecting",
                                                 "NETWORK"))
            return
        if self._state not in (ConnectionState.CONNECTED, ConnectionState.DISCONNECTED):
            return  # an attempt's own refusal, which its result reports
        notice = self._take_notice() or NotAuthorizedError("the server ended this session",
                                                           "SESSION_ENDED")
        if notice.code == TOKEN_EXPIRED and self._tokens is not None:
            if self._apply(Event.TOKEN_EXPIRED, notice) and self._renewing != self._generation:
                self._renewing = self._generation
                asyncio.create_task(self._renew(self._generation))
        else:
            self._apply(Event.ENDED, notice)

    def _apply(self, event, reason=None, generation=None):
        """Move by the table; False when the event is ignored here, or belongs to an earlier
        generation than the current one."""
        if generation is not None and generation != self._generation:
            return False
        target = next_state(self._state, event)
        if target is IGNORED:
            return False
        change = StateChange(self._state, target, reason, _ffi.now())
        self._state = target
        self._reason = reason
        for listener in list(self._listeners):
            try:
                outcome = listener(change)
                if hasattr(outcome, "send"):
                    asyncio.create_task(outcome)
            except Exception as exc:  # a listener's bug must not break the session
                print("chatcamp_web: listener %r raised %r" % (listener, exc))
        return True
