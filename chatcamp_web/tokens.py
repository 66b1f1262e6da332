"""Getting an access token from the integrator's backend, as ordinary Python.

Under Pyodide this is plain ``urllib.request``, made to work in the browser by
``pyodide_http.patch_all()`` (the pyodide-http wheel is unpacked through pyscript.toml
``[files]``).  MicroPython has no urllib, so there the browser's fetch does the request.
"""

import json

from . import _ffi
from .errors import NetworkError, NotAuthorizedError, TokenFetchError


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


def _urllib_get(url):
    import urllib.error
    import urllib.request

    import pyodide_http

    pyodide_http.patch_all()
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request) as reply:
            return reply.status, reply.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")
    except OSError as error:
        raise NetworkError("the token endpoint %s could not be reached: %s" % (url, error))


async def fetch_access_token(url, field="access_token", credentials=False):
    """GET ``url`` and return the JSON field ``field`` (the integrator's token endpoint).

    ``url`` may be relative to the page.  ``credentials=True`` sends cookies to a token
    endpoint on another origin (fetch only).
    """
    url = _ffi.absolute_url(url)
    if _ffi.RUNTIME == "pyodide" and not credentials:
        status, text = _urllib_get(url)
    else:
        reply = await _ffi.fetch_text(url, credentials)
        if not reply.ok:
            raise NetworkError("the token endpoint %s could not be reached: %s"
                               % (url, reply.message))
        status, text = int(reply.status), str(reply.text)
    return _token_from(status, text, url, field)
