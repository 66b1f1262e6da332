"""The one exception tree users of chatcamp_web see; no JavaScript error ever escapes.

    ChatCampError                 code, message, retryable
    ├── NotAuthorizedError        NOT_AUTHORIZED: wrong, missing, revoked or expired credentials
    ├── AppNotFoundError          NOT_FOUND: the app ID is unknown to the server
    ├── ConnectTimeoutError       TIMEOUT: no answer within the timeout
    ├── InvalidStateError         INVALID_STATE: the call does not fit the current state
    ├── NetworkError              NETWORK: the server or the token endpoint could not be reached
    └── TokenFetchError           the token endpoint answered, but not with a token

Runs unchanged on Pyodide and on MicroPython (no dataclasses, no enum, no typing).
"""

RETRYABLE_CODES = ("TIMEOUT", "NETWORK", "INTERNAL", "UPSTREAM_ERROR", "HTTP_5XX",
                   "RATE_LIMITED")
"""Codes after which trying again later may succeed; every other failure needs a change first."""


class ChatCampError(Exception):
    """Root of every error chatcamp_web raises; ``code`` and ``message`` come from the server
    when it gave them."""

    default_code = "ERROR"

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code or self.default_code
        self.message = message

    @property
    def retryable(self):
        return self.code in RETRYABLE_CODES

    def __str__(self):
        return "%s (%s)" % (self.message, self.code)

    def __repr__(self):
        return "%s(%r, code=%r)" % (type(self).__name__, self.message, self.code)


class NotAuthorizedError(ChatCampError):
    default_code = "NOT_AUTHORIZED"


class AppNotFoundError(ChatCampError):
    default_code = "NOT_FOUND"


class ConnectTimeoutError(ChatCampError):
    default_code = "TIMEOUT"


class InvalidStateError(ChatCampError):
    default_code = "INVALID_STATE"


class NetworkError(ChatCampError):
    default_code = "NETWORK"


class TokenFetchError(ChatCampError):
    default_code = "BAD_TOKEN_RESPONSE"


def from_server(code, message):
    """The exception for an error the SDK reported with the server's code and message."""
    cls = {"NOT_AUTHORIZED": NotAuthorizedError, "NOT_FOUND": AppNotFoundError,
           "TIMEOUT": ConnectTimeoutError, "NETWORK": NetworkError}.get(code, ChatCampError)
    return cls(message or "the server refused the connection", code)
