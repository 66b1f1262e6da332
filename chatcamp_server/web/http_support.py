"""HTTP plumbing shared by every route: the Host check, CORS and JSON errors in one gate, and
an access log without secrets."""

from __future__ import annotations

import logging
import re
from typing import Awaitable, Callable
from urllib.parse import unquote

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError

from chatcamp_server import policies
from chatcamp_server.errors import MisdirectedRequest, NotFound, ServerError
from chatcamp_server.policies import PublicOrigins
from chatcamp_server.storage.store import App, Store
from chatcamp_server.web.server_api import error_response

log = logging.getLogger("chatcamp_server.http")

REST_PREFIXES = ("/api/", "/client-api/")
ASSET_PREFIXES = ("/static/", "/vendor/", "/chatcamp_web/", "/chatcamp_web.zip")
ALLOW_HEADERS = "content-type, x-api-key, x-session-key, iflychat-token, x-csrf-token"
LOGGED_PARAMS = frozenset({"app_id", "user_id", "user"})
"""Query parameters whose values the access log keeps; every other value is redacted, so a
secret under a name nobody expected (``?x=<token>``) stays out of the log too."""
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def redact_query(raw_query: str) -> str:
    """The query with every value but those of ``LOGGED_PARAMS`` replaced by ``[redacted]``."""
    parts = []
    for segment in raw_query.split("&"):
        name, sep, value = segment.partition("=")
        if value and unquote(name) not in LOGGED_PARAMS:
            segment = f"{name}{sep}[redacted]"
        parts.append(segment)
    return "&".join(parts)


class RedactingAccessLogger(AbstractAccessLogger):
    """One line per request: no headers (so no x-api-key), query values redacted."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        url = request.rel_url
        target = url.raw_path + ("?" + redact_query(url.raw_query_string)
                                 if url.raw_query_string else "")
        self.logger.info('%s "%s %s" %s %.1fms', request.remote, request.method,
                         _printable(target), response.status, time * 1000)


class MalformedRequestLog(logging.Filter):
    """aiohttp logs a request it cannot parse with a traceback that quotes the raw request line,
    query string and all, so a token in an over-long URL would reach the log.  Such a request
    is the client's fault and is already refused with a 4xx: one line without its text is
    enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg = "refused a malformed HTTP request with %s (%s)"
            record.args = (error.code, type(error).__name__)
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


def quiet_malformed_requests() -> None:
    logging.getLogger("aiohttp.server").addFilter(MalformedRequestLog())


def _printable(text: str) -> str:
    return re.sub(r"[^\x20-\x7e]", "?", text)[:2000]


class Gate:
    """What every request meets first, in one middleware: the Host check, CORS, and JSON for
    every failure on a REST path.

    - **Host.** A request for a Host this server does not answer for is refused: a page whose
      DNS name was rebound to this server's address would otherwise talk to it as if
      same-origin.
    - **CORS.** REST answers carry the exact origin with credentials only when
      ``policies.gets_cors`` allows it.  A preflight carries no API key, so it is answered
      for any origin that some app allows; the actual response then checks the origin
      against the app the key belongs to.  Assets are open to every origin.
    - **Errors.** REST paths answer every failure in JSON; no path ever shows a client a
      traceback.

    One middleware rather than three: each middleware's frame stays suspended for as long
    as a WebSocket session lasts, about 230 bytes a session each.
    """

    def __init__(self, store: Store, public: PublicOrigins) -> None:
        self.store = store
        self.public = public
        self.unknown_host = (f"this server answers only for {', '.join(public.ordered)}; "
                             "start it with --public-origin for the address you used")

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        rest = path.startswith(REST_PREFIXES)
        origin = request.headers.get("Origin")
        try:
            if not self.public.serves_host(request.headers.get("Host")):
                # a new error each time: a raised exception keeps its traceback, and one
                # shared instance would chain every refused request's frame onto it
                raise MisdirectedRequest(self.unknown_host, "UNKNOWN_HOST")
            if rest and request.method == "OPTIONS":
                return await self._preflight(origin)
            response = await handler(request)
        except web.HTTPException as exc:
            if not rest or exc.status < 400:
                raise
            code = "METHOD_NOT_ALLOWED" if exc.status == 405 else "HTTP_%d" % exc.status
            if exc.status == 404:
                return error_response(NotFound("no such endpoint", "UNKNOWN_METHOD"))
            return error_response(ServerError(exc.reason, code), exc.status)
        except ServerError as exc:
            return error_response(exc)
        except Exception:
            log.exception("unhandled error on %s %s", request.method, path)
            if rest:
                return error_response(ServerError("internal server error"))
            return web.Response(status=500, text="internal server error\n")
        if path.startswith(ASSET_PREFIXES):
            response.headers["Access-Control-Allow-Origin"] = "*"
        elif rest and origin is not None and await self._allowed(origin,
                                                                 request.get("chatcamp_app")):
            response.headers.update(_cors_headers(origin))
        return response

    async def _preflight(self, origin: str | None) -> web.Response:
        if origin is None or not await self._allowed(origin, None):
            return web.Response(status=403, text="origin not allowed\n")
        return web.Response(status=204, headers={
            **_cors_headers(origin),
            "Access-Control-Allow-Methods": "POST, GET, OPTIONS",
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": "600",
        })

    async def _allowed(self, origin: str, app: App | None) -> bool:
        if policies.gets_cors(app, origin, self.public):
            return True
        if app is not None:
            return False
        apps = await self.store.list_apps()
        return policies.gets_cors(None, origin, self.public,
                                  any(origin in a.allowed_origins for a in apps))


def _cors_headers(origin: str) -> dict[str, str]:
    return {"Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true", "Vary": "Origin"}


async def client_api_not_implemented(request: web.Request) -> web.Response:
    """``/client-api/2.0`` uploads are not served yet; say so in the SDK's terms."""
    return error_response(ServerError("uploads are not supported by this server",
                                      "NOT_IMPLEMENTED"), 501)
