"""Getting a new token from the page's ``token_provider``: one call at a time, retried with
backoff when it fails for a reason that may pass.

Stream's ``tokenProvider``, Ably's ``authCallback`` and centrifuge-js's ``getToken`` behave
the same way: every trigger that needs a token while a call is under way shares that call's
answer, so a burst of triggers costs the integrator's backend one request.
"""

from . import _ffi
from .errors import ChatCampError, NotAuthorizedError, TokenFetchError

RENEWAL_ATTEMPTS = 4
"""Tries at getting a token and reconnecting with it before the session ends in ``failed``."""
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 8.0
"""Seconds before the second try, doubling up to this; each wait is jittered to between half
and all of it, so that pages whose tokens expired together do not retry together."""


def backoff(attempt):
    """The wait before try number ``attempt + 1`` (``attempt`` ≥ 1)."""
    wait = min(BACKOFF_MAX, BACKOFF_FIRST * (2 ** (attempt - 1)))
    return wait * (0.5 + 0.5 * _ffi.random())


class _Call:
    def __init__(self):
        self.done = _ffi.deferred()
        self.token = None
        self.error = None


class TokenSource:
    """The page's ``token_provider`` (``async user_id -> token``) behind a single flight."""

    def __init__(self, provider):
        self.provider = provider
        self.calls = 0
        """How many times the provider was called: what a single flight saves is visible."""
        self._current = None

    async def token(self, user_id):
        """A token for ``user_id``, or the ChatCampError the provider's failure amounts to."""
        call = self._current
        if call is None:
            call = self._current = _Call()
            try:
                await self._ask(call, user_id)
            finally:
                self._current = None
                call.done.resolve(None)
        else:
            await call.done.promise
        if call.error is not None:
            raise call.error
        return call.token

    async def _ask(self, call, user_id):
        self.calls += 1
        try:
            token = await self.provider(user_id)
        except ChatCampError as error:
            call.error = error
            return
        except Exception as error:  # the provider is the page's code: any failure is possible
            call.error = TokenFetchError("the token provider raised %r" % (error,),
                                         "TOKEN_PROVIDER_FAILED")
            return
        if not isinstance(token, str) or not token:
            call.error = NotAuthorizedError("the token provider returned no token", "NO_TOKEN")
            return
        call.token = token
