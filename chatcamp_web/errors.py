"""The one exception tree users of chatcamp_web see; no JavaScript error ever escapes.

    ChatCampError                 code, message, retryable
    ├── NotAuthorizedError        NOT_AUTHORIZED: wrong, missing, revoked or expired credentials;
    │                             TOKEN_EXPIRED, TOKEN_REVOKED, SESSION_ENDED, POLICY: why the
    │                             server ended a session (its ``session.ended`` notice)
    ├── AppNotFoundError          NOT_FOUND: the app ID is unknown to the server
    ├── ConnectTimeoutError       TIMEOUT: no answer within the timeout (a connect, or any
    │                             channel call: the SDK itself never gives up waiting)
    ├── InvalidArgumentError      INVALID_ARGUMENT and the like: a bad argument (a ValueError too);
    │                             MESSAGE_TOO_LONG: a message's text over the server's limit;
    │                             USER_NOT_FOUND: a group channel for a user who does not exist
    ├── InvalidStateError         INVALID_STATE: the call does not fit the current state;
    │                             NOT_CONNECTED: a channel call while not connected;
    │                             NOT_INVITED: accepting or declining without an invitation
    ├── NetworkError              NETWORK: the server or the token endpoint could not be reached
    ├── TokenFetchError           the token endpoint answered, but not with a token
    ├── RateLimitedError          RATE_LIMITED: too many messages too fast; retryable
    ├── ChannelNotFoundError      NOT_FOUND from a channel call: no channel with that ID
    ├── MessageNotFoundError      MESSAGE_NOT_FOUND: no message with that ID in the channel
    ├── NotAParticipantError      NOT_A_PARTICIPANT: join the channel (or be a member of the
    │                             group channel) first
    ├── ForbiddenError            FORBIDDEN: e.g. changing another user's message
    └── LimitReachedError         TOO_MANY_CHANNELS: the user is in as many channels as allowed;
                                  CHANNEL_FULL, TOO_MANY_PARTICIPANTS: a group channel would
                                  have more participants than allowed

Runs unchanged on Pyodide and on MicroPython (no dataclasses, no enum, no typing).
"""

import sys

RETRYABLE_CODES = ("TIMEOUT", "NETWORK", "INTERNAL", "UPSTREAM_ERROR", "HTTP_5XX",
                   "RATE_LIMITED", "STORAGE_UNAVAILABLE", "DRAINING", "TOKEN_PROVIDER_FAILED")
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


if sys.implementation.name == "micropython":
    class InvalidArgumentError(ChatCampError):
        """MicroPython refuses a class with two native exception bases ("multiple bases have
        instance lay-out conflict"), so here it is a ChatCampError only: catch it as one."""

        default_code = "INVALID_ARGUMENT"
else:
    class InvalidArgumentError(ChatCampError, ValueError):
        """An argument is wrong before anything is tried: ``except ValueError`` catches it."""

        default_code = "INVALID_ARGUMENT"


class InvalidStateError(ChatCampError):
    default_code = "INVALID_STATE"


class NetworkError(ChatCampError):
    default_code = "NETWORK"


class TokenFetchError(ChatCampError):
    default_code = "BAD_TOKEN_RESPONSE"


class RateLimitedError(ChatCampError):
    default_code = "RATE_LIMITED"


class ChannelNotFoundError(ChatCampError):
    default_code = "NOT_FOUND"


class MessageNotFoundError(ChatCampError):
    default_code = "MESSAGE_NOT_FOUND"


class NotAParticipantError(ChatCampError):
    default_code = "NOT_A_PARTICIPANT"


class ForbiddenError(ChatCampError):
    default_code = "FORBIDDEN"


class LimitReachedError(ChatCampError):
    default_code = "TOO_MANY_CHANNELS"


SERVER_CODES = {"NOT_AUTHORIZED": NotAuthorizedError, "TOKEN_EXPIRED": NotAuthorizedError,
                "TOKEN_REVOKED": NotAuthorizedError, "SESSION_ENDED": NotAuthorizedError,
                "POLICY": NotAuthorizedError, "NOT_FOUND": AppNotFoundError,
                "TIMEOUT": ConnectTimeoutError, "NETWORK": NetworkError,
                "RATE_LIMITED": RateLimitedError, "MESSAGE_TOO_LONG": InvalidArgumentError,
                "MESSAGE_NOT_FOUND": MessageNotFoundError,
                "NOT_A_PARTICIPANT": NotAParticipantError, "FORBIDDEN": ForbiddenError,
                "TOO_MANY_CHANNELS": LimitReachedError, "CHANNEL_FULL": LimitReachedError,
                "TOO_MANY_PARTICIPANTS": LimitReachedError,
                "USER_NOT_FOUND": InvalidArgumentError, "NOT_INVITED": InvalidStateError,
                "NOT_CONNECTED": InvalidStateError}

CHANNEL_CODES = {"NOT_FOUND": ChannelNotFoundError}
"""Where a channel call's code means something else than a connect's: NOT_FOUND there is the
channel, not the app."""


def from_server(code, message, codes=None):
    """The exception for an error the SDK or the server reported with a code and message;
    ``codes`` (e.g. CHANNEL_CODES) is looked up before the common table."""
    cls = (codes or {}).get(code) or SERVER_CODES.get(code, ChatCampError)
    return cls(message or ("the server refused the request" if codes else
                           "the server refused the connection"), code)
