"""Getting an access token from the integrator's backend, without freezing the page.

The request is the browser's own ``fetch`` on both interpreters, with a timeout: Pyodide's
``urllib`` (made to work by pyodide-http) sends a synchronous XMLHttpRequest, which stops the
page's rendering, timers and sockets until the answer comes, with no timeout at all.  Code
that wants ``urllib`` all the same still has it, untouched: with the pyodide-http wheel on
the page (pyscript.toml ``[files]``), ``pyodide_http.patch_all()`` and then ``urllib`` as
ever.  chatcamp_web does not import either: that would cost every page's start-up.
"""

import json

from . import _ffi
from .errors import InvalidArgumentError, NetworkError, NotAuthorizedError, TokenFetchError

TOKEN_FETCH_TIMEOUT = 10.0


def _token_from(status, text, url, field):
    if status in (401, 403):
        raise NotAuthorizedError("the token endpoint %s answered %d: sign in first" % (url, status),
                                 "HTTP_%d" % status)
    if status >= 500:
        raise NetworkError("the token endpoint %s failed with %d" % (url, status), "HTTP_5XX")
    if not 200 <= status < 300:
        raise TokenFetchError("the token endpoint %s answered %d" % (url, status),
                              "HTTP_%d" % status)
    try:
        body = json.loads(text)
    except ValueError:
        raise TokenFetchError("the token endpoint %s did not answer JSON" % url)
    token = body.get(field) if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise TokenFetchError("the token endpoint's JSON has no %r" % field)
    return token


async def fetch_access_token(url, field="access_token", credentials=False,
                             timeout=TOKEN_FETCH_TIMEOUT):
    """GET ``url`` and return the JSON field ``field`` (the integrator's token endpoint).

    ``url`` may be relative to the page.  ``credentials=True`` sends cookies to a token
    endpoint on another origin.  No answer within ``timeout`` seconds raises NetworkError
    with code ``TIMEOUT``; the page keeps running while it waits.
    """
    if not isinstance(timeout, (int, float)) or timeout <= 0:
        raise InvalidArgumentError("timeout must be a positive number of seconds",
                                   "INVALID_TIMEOUT")
    url = _ffi.absolute_url(url)
    reply = await _ffi.fetch_text(url, credentials, timeout)
    if not reply.ok:
        raise NetworkError("the token endpoint %s could not be reached: %s"
                           % (url, reply.message), str(reply.code))
    return _token_from(int(reply.status), str(reply.text), url, field)
