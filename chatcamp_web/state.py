"""Connection states with the names Ably users know, the events that move between them, and
the one table of transitions the client applies.

Every (state, event) pair is in ``TRANSITIONS``: it either names the next state or is
``IGNORED``, written out so that a reader sees what each event does in each state, and a
test can check that no pair is forgotten.  The client never assigns a state itself; it
applies an event (``ChatCamp._apply``) and the table decides.
"""


class ConnectionState:
    """The session's state; plain strings so they print, compare and serialise as themselves."""

    INITIALIZED = "initialized"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    """Lost, and it will come back by itself: the SDK resumes, or a new token is on its way."""
    CLOSING = "closing"
    CLOSED = "closed"
    FAILED = "failed"
    """Terminal until the next ``connect()``; ``reason`` says why."""

    ALL = (INITIALIZED, CONNECTING, CONNECTED, DISCONNECTED, CLOSING, CLOSED, FAILED)


class Event:
    """What can happen to a session: a call of the page, a report of the SDK, a word of the
    server, or a step of renewing the token."""

    CONNECT = "connect"
    """``connect()`` starts an attempt."""
    AUTHENTICATED = "authenticated"
    """The server accepted a login or a resume (the SDK's ``users.auth.ack``)."""
    LOST = "lost"
    """The socket went away and the SDK will reconnect by itself."""
    RETRY_LATER = "retry_later"
    """The server refused this attempt for now (rate limit, outage); the SDK tries again."""
    REFUSED = "refused"
    """The server refused the attempt for good: wrong credentials, unknown app, policy."""
    TIMED_OUT = "timed_out"
    """No answer to an attempt within its timeout."""
    ENDED = "ended"
    """The server ended the session, or refused its resume, and the SDK has stopped."""
    TOKEN_EXPIRED = "token_expired"
    """As ``ENDED``, because the token expired, with a token provider to get a new one."""
    RENEWING = "renewing"
    """A new token is in hand and the client reconnects with it."""
    RENEWAL_FAILED = "renewal_failed"
    """The token provider failed for good, or after its bounded retries."""
    DISCONNECT = "disconnect"
    """``disconnect()`` starts closing."""
    CLOSED = "closed"
    """The close ``disconnect()`` asked for is done."""

    ALL = (CONNECT, AUTHENTICATED, LOST, RETRY_LATER, REFUSED, TIMED_OUT, ENDED, TOKEN_EXPIRED,
           RENEWING, RENEWAL_FAILED, DISCONNECT, CLOSED)


IGNORED = None
"""The table's word for "this event changes nothing in this state"."""

_S = ConnectionState
_E = Event

TRANSITIONS = {
    _S.INITIALIZED: {
        _E.CONNECT: _S.CONNECTING,
        _E.AUTHENTICATED: IGNORED, _E.LOST: IGNORED, _E.RETRY_LATER: IGNORED,
        _E.REFUSED: IGNORED, _E.TIMED_OUT: IGNORED, _E.ENDED: IGNORED,
        _E.TOKEN_EXPIRED: IGNORED, _E.RENEWING: IGNORED, _E.RENEWAL_FAILED: IGNORED,
        _E.DISCONNECT: IGNORED,  # nothing to close: disconnect() before connect() is harmless
        _E.CLOSED: IGNORED,
    },
    _S.CONNECTING: {
        _E.CONNECT: IGNORED,  # calls are queued, so only a renewal's attempt can be under way
        _E.AUTHENTICATED: _S.CONNECTED,
        _E.LOST: _S.DISCONNECTED,  # the first socket failed; the SDK keeps trying
        _E.RETRY_LATER: _S.DISCONNECTED,
        _E.REFUSED: _S.FAILED,
        _E.TIMED_OUT: _S.FAILED,
        _E.ENDED: IGNORED,  # an attempt's refusal comes as REFUSED, from its own result
        _E.TOKEN_EXPIRED: IGNORED,
        _E.RENEWING: IGNORED,
        _E.RENEWAL_FAILED: _S.FAILED,
        _E.DISCONNECT: _S.CLOSING,
        _E.CLOSED: IGNORED,
    },
    _S.CONNECTED: {
        _E.CONNECT: IGNORED,  # connect() as the same user returns the user
        _E.AUTHENTICATED: IGNORED,
        _E.LOST: _S.DISCONNECTED,
        _E.RETRY_LATER: IGNORED, _E.REFUSED: IGNORED, _E.TIMED_OUT: IGNORED,
        _E.ENDED: _S.FAILED,
        _E.TOKEN_EXPIRED: _S.DISCONNECTED,
        _E.RENEWING: IGNORED, _E.RENEWAL_FAILED: IGNORED,
        _E.DISCONNECT: _S.CLOSING,
        _E.CLOSED: IGNORED,
    },
    _S.DISCONNECTED: {
        _E.CONNECT: _S.CONNECTING,
        _E.AUTHENTICATED: _S.CONNECTED,  # the SDK resumed by itself
        _E.LOST: IGNORED,  # one more failed reconnect of the SDK's
        _E.RETRY_LATER: _S.DISCONNECTED,  # a renewal's attempt must wait: say why
        _E.REFUSED: _S.FAILED,  # the attempt begun while disconnected was refused
        _E.TIMED_OUT: _S.FAILED,
        _E.ENDED: _S.FAILED,  # a resume refused, the token revoked while away
        _E.TOKEN_EXPIRED: _S.DISCONNECTED,  # the token expired while away: say so, renew
        _E.RENEWING: _S.CONNECTING,
        _E.RENEWAL_FAILED: _S.FAILED,
        _E.DISCONNECT: _S.CLOSING,
        _E.CLOSED: IGNORED,
    },
    _S.CLOSING: {
        _E.CONNECT: IGNORED, _E.AUTHENTICATED: IGNORED, _E.LOST: IGNORED,
        _E.RETRY_LATER: IGNORED, _E.REFUSED: IGNORED, _E.TIMED_OUT: IGNORED,
        _E.ENDED: IGNORED, _E.TOKEN_EXPIRED: IGNORED, _E.RENEWING: IGNORED,
        _E.RENEWAL_FAILED: IGNORED, _E.DISCONNECT: IGNORED,
        _E.CLOSED: _S.CLOSED,
    },
    _S.CLOSED: {
        _E.CONNECT: _S.CONNECTING,
        _E.AUTHENTICATED: IGNORED, _E.LOST: IGNORED, _E.RETRY_LATER: IGNORED,
        _E.REFUSED: IGNORED, _E.TIMED_OUT: IGNORED, _E.ENDED: IGNORED,
        _E.TOKEN_EXPIRED: IGNORED, _E.RENEWING: IGNORED, _E.RENEWAL_FAILED: IGNORED,
        _E.DISCONNECT: IGNORED,  # twice is harmless
        _E.CLOSED: IGNORED,
    },
    _S.FAILED: {
        _E.CONNECT: _S.CONNECTING,
        _E.AUTHENTICATED: IGNORED, _E.LOST: IGNORED, _E.RETRY_LATER: IGNORED,
        _E.REFUSED: IGNORED, _E.TIMED_OUT: IGNORED, _E.ENDED: IGNORED,
        _E.TOKEN_EXPIRED: IGNORED, _E.RENEWING: IGNORED, _E.RENEWAL_FAILED: IGNORED,
        _E.DISCONNECT: _S.CLOSING,  # the SDK may still hold a socket: close it
        _E.CLOSED: IGNORED,
    },
}


def next_state(state, event):
    """The state ``event`` leads to from ``state``, or ``IGNORED``; KeyError for a pair the
    table does not know, which would be a bug in the client."""
    return TRANSITIONS[state][event]


class StateChange:
    """One transition: ``previous`` → ``current``, with the error that caused it, if any."""

    def __init__(self, previous, current, reason=None, at=None):
        self.previous = previous
        self.current = current
        self.reason = reason
        self.at = at

    def __repr__(self):
        return "StateChange(%r -> %r, reason=%r)" % (self.previous, self.current, self.reason)
