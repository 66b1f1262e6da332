"""Connection states with the names Ably users know, and the change record listeners get."""


class ConnectionState:
    """The session's state; plain strings so they print, compare and serialise as themselves."""

    INITIALIZED = "initialized"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    """Lost, and the SDK will retry by itself."""
    CLOSING = "closing"
    CLOSED = "closed"
    FAILED = "failed"
    """Terminal until the next ``connect()``; ``reason`` says why."""

    ALL = (INITIALIZED, CONNECTING, CONNECTED, DISCONNECTED, CLOSING, CLOSED, FAILED)


class StateChange:
    """One transition: ``previous`` → ``current``, with the error that caused it, if any."""

    def __init__(self, previous, current, reason=None, at=None):
        self.previous = previous
        self.current = current
        self.reason = reason
        self.at = at

    def __repr__(self):
        return "StateChange(%r -> %r, reason=%r)" % (self.previous, self.current, self.reason)
