"""The dashboard's pages at ``/dashboard/``: server-rendered HTML and one small script.

No framework and no interpreter in the page: an operator keeps it open all day, and a page
that is HTML from the server is usable the moment it arrives.  The script (``static/``) only
copies IDs and keys to the clipboard, asks before the changes that cannot be undone, and
refreshes the live view.

Every change is a form POST.  Those the server API also offers go through its methods
(``ServerApi.run``), so they are validated, applied across the cluster and counted exactly as
a call with the app's API key would be; the rest (creating an app, rotating its key) call
the same functions as ``serve.py apps``.  Each is then recorded in the audit log under the
operator's name.  A change answers with a redirect back to its page (so a reload does not
repeat it), except the few that make a secret: those answer with the one page that shows
it, marked ``no-store``, and the secret is never shown again.

Every response under ``/dashboard`` carries a Content-Security-Policy that allows only the
dashboard's own script and style, so a string that slipped past the templates' escaping
still could not run; Jinja2 escapes every value, so user IDs and display names are always
text.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import re
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping
from urllib.parse import quote, urlencode

from aiohttp import web
from jinja2 import Environment, PackageLoader, StrictUndefined
from multidict import MultiDictProxy

from chatcamp_server import apps, validation
from chatcamp_server.dashboard.cookies import COOKIE, PATH, OperatorSessions, Signed
from chatcamp_server.dashboard.operators import NAME, UNKNOWN_ACTOR, Operators, format_time
from chatcamp_server.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    RateLimited,
    RequestTimeout,
    ServerError,
    UnsupportedMediaType,
)
from chatcamp_server.keys import ServerKeys
from chatcamp_server.policies import PublicOrigins
from chatcamp_server.sessions.activity import summary
from chatcamp_server.sessions.inventory import INTERNAL_FIELDS, SessionInventory
from chatcamp_server.sessions.rate_limit import LoginLimits
from chatcamp_server.settings import Limits
from chatcamp_server.storage.store import App, Operator, Store
from chatcamp_server.web.server_api import ServerApi

SIGNIN_SCOPE = "\0dashboard"
"""The "app" under which the login limits count an operator's failed sign-ins: no app ID can
hold a NUL, so an operator's budget is never a chat user's.  The per-address budget is
shared on purpose, as wrong API keys already share it: an address that guesses passwords
here is refused chat logins and server-API calls too, for the window."""
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
"""On every dashboard response, with a Content-Security-Policy made per request (``_headers``).
``same-origin`` rather than ``no-referrer``: the latter makes Chromium send ``Origin: null``
with a form post, which the Origin check would then refuse."""
STATIC = "/dashboard/static/"
HSTS_SECONDS = 365 * 86400
DONE = {
    "policies": "Policies saved.",
    "revoked": "Tokens revoked; their live sessions have ended.",
    "ended": "The session has ended.",
    "key-revoked": "Signing key revoked; sessions on tokens it signed have ended.",
}
"""What a redirect after a change may announce, by the code in its ``done`` parameter: only
these texts, never one from the request."""
EXPIRIES = {"3600": "1 hour", "86400": "1 day", "2592000": "30 days", "": "Never"}
"""The token lifetimes the issue form offers, in seconds."""
MAX_QUERY_CHARS = 128
FORM_TYPE = "application/x-www-form-urlencoded"
COUNTS_SECONDS = 10.0
"""How long the users-per-app counts are kept: counting reads every user of the server
(10 ms at 100,000 on SQLite, on the event loop), once per this however often apps are
viewed."""
FORM: web.RequestKey[MultiDictProxy[Any]] = web.RequestKey("form", MultiDictProxy)
"""A change's form, read (and its CSRF token checked) before its handler runs."""
Page = Callable[[web.Request, Signed], Awaitable[web.StreamResponse]]


def _when(value: float | None) -> str:
    return "—" if value is None else format_time(value)


def _templates() -> Environment:
    env = Environment(loader=PackageLoader("chatcamp_server.dashboard"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["when"] = _when
    env.filters["pretty"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False)
    env.filters["q"] = lambda value: quote(str(value), safe="")
    return env


def _field(form: Mapping[str, Any], name: str, max_chars: int = 4096) -> str:
    """A form field's text; no form of the dashboard sends a NUL, which PostgreSQL refuses."""
    value = form.get(name, "")
    if not isinstance(value, str) or len(value) > max_chars or "\0" in value:
        raise BadRequest(f"the form field {name} must be text of at most {max_chars} "
                         "characters", "INVALID_FIELD")
    return value


def _address(request: web.Request) -> str:
    """The client's address, as the trusted proxies report it (``web/proxies.py``)."""
    return request.remote or ""


class Dashboard:
    def __init__(self, store: Store, keys: ServerKeys, limits: Limits, public: PublicOrigins,
                 server_api: ServerApi, failures: LoginLimits, inventory: SessionInventory,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.keys = keys
        self.limits = limits
        self.public = public
        self.api = server_api
        self.failures = failures
        self.inventory = inventory
        self.clock = clock
        self.sessions = OperatorSessions(keys, store, limits)
        self.operators = Operators(store, lambda: self.clock())
        self.templates = _templates()
        self._counts: tuple[float, dict[str, int]] = (-COUNTS_SECONDS, {})

    def add_routes(self, app: web.Application) -> None:
        page = self._signed_in
        routes = [
            web.get("/dashboard", self._to_home),
            web.get("/dashboard/", self._to_home),
            web.get("/dashboard/signin", self._signin_page),
            web.post("/dashboard/signin", self._signin),
            web.post("/dashboard/signout", page(self._signout, renew=False)),
            web.get("/dashboard/apps", page(self._apps)),
            web.post("/dashboard/apps", page(self._create_app)),
            web.get("/dashboard/apps/{app_id}", page(self._app)),
            web.post("/dashboard/apps/{app_id}/policies", page(self._policies)),
            web.post("/dashboard/apps/{app_id}/api-key", page(self._rotate_key)),
            web.post("/dashboard/apps/{app_id}/signing-keys", page(self._create_signing_key)),
            web.post("/dashboard/apps/{app_id}/signing-keys/revoke",
                     page(self._revoke_signing_key)),
            web.get("/dashboard/apps/{app_id}/users", page(self._users)),
            web.get("/dashboard/apps/{app_id}/user", page(self._user)),
            web.post("/dashboard/apps/{app_id}/user/tokens", page(self._issue_token)),
            web.post("/dashboard/apps/{app_id}/user/revoke", page(self._revoke_tokens)),
            web.post("/dashboard/apps/{app_id}/user/end", page(self._end_session)),
            web.get("/dashboard/live", page(self._live)),
            web.get("/dashboard/live.json", page(self._live_json, renew=False)),
            web.get("/dashboard/audit", page(self._audit)),
            web.static("/dashboard/static", _static_dir(), append_version=False),
        ]
        app.router.add_routes(routes)

        async def warm(_: web.Application) -> AsyncIterator[None]:
            """In the background: awaited here, the hash held up the listening socket by
            0.2 s, long enough for an SDK reconnecting after a restart to find it refused."""
            task = asyncio.create_task(self.operators.warm())
            yield
            await task

        app.cleanup_ctx.append(warm)
        app.on_response_prepare.append(self._headers)

    # the frame every page shares: session, CSRF, headers, errors

    def _signed_in(self, handler: Page, renew: bool = True) -> Callable[
            [web.Request], Awaitable[web.StreamResponse]]:
        async def serve(request: web.Request) -> web.StreamResponse:
            now = self.clock()
            signed = await self.sessions.open(request.cookies.get(COOKIE), now)
            if signed is None:
                if request.method != "GET":
                    return self._render(
                        request, None, "error.html", status=403, title="Signed out",
                        message="Your session has ended: sign in again, then repeat the "
                                "change.")
                return self._to_signin(request, expired=COOKIE in request.cookies)
            try:
                if request.method == "POST":
                    form = await self._form(request)
                    if not self._same_origin(request) or not self.sessions.csrf_ok(
                            signed, _field(form, "csrf", 100)):
                        raise Forbidden("this form did not come from this dashboard's own "
                                        "page, so it was not applied", "CSRF")
                    request[FORM] = form
                response = await handler(request, signed)
            except ServerError as exc:
                response = self._render(request, signed, "error.html", status=exc.http_status,
                                        title="Not done", message=exc.message)
            if renew:
                self._set_cookie(request, response, self.sessions.renewed(signed, now))
            return response
        return serve

    async def _form(self, request: web.Request) -> MultiDictProxy[Any]:
        """The posted form, urlencoded as every form of the dashboard sends it, arriving as
        promptly as a server-API body must: a client that trickles one would otherwise hold
        its connection for as long as it liked."""
        if request.content_type != FORM_TYPE:
            raise UnsupportedMediaType(f"the dashboard's forms are sent as {FORM_TYPE}")
        try:
            async with asyncio.timeout(self.limits.request_body_timeout):
                form: MultiDictProxy[Any] = await request.post()
        except TimeoutError:
            raise RequestTimeout(f"the form must arrive within "
                                 f"{self.limits.request_body_timeout:g} s") from None
        except (ValueError, LookupError):
            raise BadRequest("the form is not valid urlencoded text", "INVALID_FORM") from None
        return form

    def _same_origin(self, request: web.Request) -> bool:
        """A browser names the page a post came from; only this server's own origins pass.
        A client that sends neither header is not a browser: it has no cookie to abuse."""
        origin = request.headers.get("Origin")
        if origin is not None:
            return origin in self.public.origins
        return request.headers.get("Sec-Fetch-Site", "same-origin") in ("same-origin", "none")

    def _set_cookie(self, request: web.Request, response: web.StreamResponse,
                    value: str) -> None:
        response.set_cookie(COOKIE, value, path=PATH, httponly=True, samesite="Strict",
                            secure=self._https(request),
                            max_age=int(self.limits.dashboard_session_lifetime))

    def _https(self, request: web.Request) -> bool:
        return request.scheme == "https" or self.public.first().startswith("https:")

    async def _headers(self, request: web.Request, response: web.StreamResponse) -> None:
        """The security headers of every response under ``/dashboard`` (aiohttp's own 404
        and 405 pages included), set in one place just before it is sent.  Scripts and
        styles may come from the dashboard's own folder only, not from the rest of the
        server's origin, whose files are served to every site."""
        path = request.path
        if path != "/dashboard" and not path.startswith("/dashboard/"):
            return
        response.headers.update(SECURITY_HEADERS)
        mine = (f"{request.scheme}://{request.host}{STATIC}"
                if self.public.serves_host(request.host) else "'none'")
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; script-src {mine}; style-src {mine}; img-src 'self'; "
            "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
        if not path.startswith(STATIC):
            response.headers["Cache-Control"] = "no-store"
        if request.scheme == "https":
            response.headers["Strict-Transport-Security"] = f"max-age={HSTS_SECONDS}"

    def _render(self, request: web.Request, signed: Signed | None, template: str,
                status: int = 200, **context: Any) -> web.Response:
        html = self.templates.get_template(template).render(
            operator=signed.operator.name if signed else None,
            csrf=self.sessions.csrf_token(signed) if signed else "",
            path=request.path, done=DONE.get(request.query.get("done", "")), **context)
        return web.Response(text=html, status=status, content_type="text/html")

    async def _user_counts(self) -> dict[str, int]:
        """Users per app, counted at most once per ``COUNTS_SECONDS``."""
        counted_at, counts = self._counts
        now = time.monotonic()
        if now - counted_at >= COUNTS_SECONDS:
            counts = await self.store.user_counts()
            self._counts = (now, counts)
        return counts

    async def _app_of(self, request: web.Request) -> App:
        app = await self.store.get_app(validation.app_id(request.match_info["app_id"],
                                                         self.limits))
        if app is None:
            raise NotFound("there is no such app", "APP_NOT_FOUND")
        return app

    async def _change(self, request: web.Request, signed: Signed, name: str, app: App,
                      body: dict[str, Any], detail: dict[str, Any],
                      target: str | None = None) -> dict[str, Any]:
        """A server-API method on the operator's behalf, then its audit entry."""
        answer = await self.api.run(name, app, body)
        await self._record(request, signed, name, app.id if target is None else target, detail)
        return answer

    async def _record(self, request: web.Request, signed: Signed, action: str,
                      target: str = "", detail: dict[str, Any] | None = None) -> None:
        """The audit entry of what the signed-in operator just did from this request."""
        await self.operators.record(signed.operator.name, action, target, detail,
                                    _address(request))

    @staticmethod
    def _back(location: str, done: str, **query: str) -> web.Response:
        """Back to the page the change was made on, announcing it (``DONE``)."""
        return _redirect(f"{location}?{urlencode({**query, 'done': done})}")

    # signing in and out

    async def _to_home(self, request: web.Request) -> web.StreamResponse:
        return _redirect("/dashboard/apps")

    def _to_signin(self, request: web.Request, expired: bool = False) -> web.StreamResponse:
        query = {"next": request.path_qs}
        if expired:
            query["expired"] = "1"
        response = _redirect(f"/dashboard/signin?{urlencode(query)}")
        if expired:
            response.del_cookie(COOKIE, path=PATH)
        return response

    async def _signin_page(self, request: web.Request) -> web.StreamResponse:
        return self._signin_form(request)

    def _signin_form(self, request: web.Request, error: str = "", status: int = 200,
                     name: str = "", next_page: str | None = None) -> web.Response:
        """``next_page``: where to go once signed in, carried by a failed attempt's form."""
        chosen = request.query.get("next", "") if next_page is None else next_page
        return self._render(request, None, "signin.html", status=status, error=error, name=name,
                            next=_local_next(chosen),
                            expired=request.query.get("expired") == "1")

    async def _signin(self, request: web.Request) -> web.StreamResponse:
        if not self._same_origin(request):
            return self._render(request, None, "error.html", status=403, title="Not signed in",
                                message="Sign in from this dashboard's own page.")
        try:
            form = await self._form(request)
            name = _field(form, "name", 200)
            password = _field(form, "password", 4096)
            next_page = _local_next(_field(form, "next", 2000))
        except ServerError as exc:
            return self._signin_form(request, exc.message, exc.http_status)
        address = _address(request)
        try:
            async with self.operators.attempt(name, address):
                if request.transport is None or request.transport.is_closing():
                    return web.Response(status=400, text="the client went away\n")
                operator = await self._check_password(name, password, address)
        except RateLimited as exc:
            response = self._signin_form(request, exc.message, 429, name, next_page)
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        if operator is None:
            return self._signin_form(request, "Wrong name or password.", 401, name,
                                     next_page)
        await self.operators.signed_in(operator, password, address)
        response = _redirect(next_page or "/dashboard/apps")
        self._set_cookie(request, response, self.sessions.new(name, self.clock()))
        return response

    async def _check_password(self, name: str, password: str,
                              address: str) -> Operator | None:
        """The operator, when the limits let this attempt through and the password is
        theirs; a wrong one is counted, and recorded when the operator exists."""
        await self.failures.check(address, SIGNIN_SCOPE, name)
        operator = await self.store.get_operator(name) if NAME.fullmatch(name) else None
        if not await self.operators.verify(operator, password) or operator is None:
            await self.failures.failed(address, SIGNIN_SCOPE, name)
            if operator is not None:
                await self.operators.record(UNKNOWN_ACTOR, "signin.failed", name,
                                            address=address)
            return None
        await self.failures.succeeded(address, SIGNIN_SCOPE, name)
        return operator

    async def _signout(self, request: web.Request, signed: Signed) -> web.StreamResponse:
        await self.sessions.end(signed, self.clock())
        await self._record(request, signed, "signout")
        response = _redirect("/dashboard/signin")
        response.del_cookie(COOKIE, path=PATH)
        return response

    # apps

    async def _apps(self, request: web.Request, signed: Signed) -> web.StreamResponse:
        listed = await self.store.list_apps()
        counts = await self._user_counts()
        live = (await self._live_numbers())["apps"]
        return self._render(request, signed, "apps.html", title="Apps", apps=listed,
                            users=counts, live=live)

    async def _create_app(self, request: web.Request, signed: Signed) -> web.StreamResponse:
        form = request[FORM]
        origins = _origins(_field(form, "allowed_origins"))
        app, api_key = await apps.create_app(
            self.store, self.keys, self.limits, _field(form, "name", 200).strip() or "app",
            origins=origins, require_access_token=form.get("require_access_token") == "on")
        await self._record(request, signed, "apps.create", app.id,
                           {"name": app.name, "allowed_origins": list(origins),
                            "require_access_token": app.require_access_token})
        return self._render(request, signed, "secret.html", title="App created", app=app,
                            secret_name="API key", secret=api_key, key_id=None,
                            note="Give it to the app's backend now: it is shown only this once.")

    async def _app(self, request: web.Request, signed: Signed) -> web.StreamResponse:
        app = await self._app_of(request)
        keys = (await self.api.run("apps.signing_keys.list", app, {}))["signing_keys"]
        return self._render(request, signed, "app.html", title=app.name, app=app,
                            users=(await self._user_counts()).get(app.id, 0),
                            live=(await self._live_numbers())["apps"].get(app.id, 0),
                            signing_keys=keys, max_keys=self.limits.signing_keys_per_app)

    async def _policies(self, request: web.Request, signed: Signed) -> web.StreamResponse:
        app = await self._app_of(request)
        form = request[FORM]
        body = {"allowed_origins": list(_origins(_field(form, "allowed_origins"))),
                "require_access_token": form.get("require_access_token") == "on"}
        await self._change(request, signed, "apps.update", app, body, body)
        return self._back(f"/dashboard/apps/{app.id}", "policies")

    async def _rotate_key(self, request: web.Request, signed: Signed) -> web.StreamResponse:
        app = await self._app_of(request)
        api_key = await apps.rotate_api_key(self.store, self.keys, app.id)
        await self._record(request, signed, "apps.rotate_api_key", app.id)
        return self._render(request, signed, "secret.html", title="New API key", app=app,
                            secret_name="API key", secret=api_key, key_id=None,
                            note="The old key is refused from now on. Give this one to the "
                                 "app's backend now: it is shown only this once.")

    async def _create_signing_key(self, request: web.Request,
                                  signed: Signed) -> web.StreamResponse:
        app = await self._app_of(request)
        made = await self.api.run("apps.signing_keys.create", app, {})
        key_id = made["key_id"]
        await self._record(request, signed, "apps.signing_keys.create", app.id,
                           {"key_id": key_id})
        return self._render(request, signed, "secret.html", title="New signing key", app=app,
                            secret_name="Signing key secret", secret=made["secret"],
                            key_id=key_id,
                            note="The app's backend signs tokens with this secret and the key "
                                 "ID as kid. It is shown only this once.")

    async def _revoke_signing_key(self, request: web.Request,
                                  signed: Signed) -> web.StreamResponse:
        app = await self._app_of(request)
        form: MultiDictProxy[Any] = request[FORM]
        key_id = _field(form, "key_id", 100)
        await self._change(request, signed, "apps.signing_keys.revoke", app,
                           {"key_id": key_id}, {"key_id": key_id})
        return self._back(f"/dashboard/apps/{app.id}", "key-revoked")

    # users

    async def _users(self, request: web.Request, signed: Signed) -> web.StreamResponse:
        app = await self._app_of(request)
        query = validation.search_text(request.query.get("q", ""), "the search",
                                       MAX_QUERY_CHARS)
        by_name = request.query.get("by") == "name"
        after_id = request.query.get("after", "")
        after = (await self.store.get_user(app.id, validation.user_id(after_id, self.limits,
                                                                      "after"))
                 if after_id else None)
        size = self.limits.dashboard_page_size
        found = await self.store.search_users(app.id, query, by_name=by_name, after=after,
                                              limit=size + 1)
        more = len(found) > size
        found = found[:size]
        by = "name" if by_name else "id"
        next_page = f"?{urlencode({'q': query, 'by': by, 'after': found[-1].id})}" if more \
            else None
        return self._render(request, signed, "users.html", title=f"Users of {app.name}",
                            app=app, query=query, by_name=by_name, users=found,
                            next_page=next_page, first_page=after is None)

    async def _user(self, request: web.Request, signed: Signed) -> web.StreamResponse:
        app = await self._app_of(request)
        user_id = validation.user_id(request.query.get("id"), self.limits)
        user = await self.store.get_user(app.id, user_id)
        if user is None:
            raise NotFound("this app has no such user", "USER_NOT_FOUND")
        tokens = await self.store.list_tokens(app.id, user.id)
        sessions = [{k: v for k, v in found.items() if k not in INTERNAL_FIELDS}
                    for found in await self.inventory.for_user(app.id, user.id)]
        return self._render(request, signed, "user.html", title=f"User {user.id}", app=app,
                            user=user, tokens=tokens, sessions=sessions, now=self.clock(),
                            expiries=EXPIRIES)

    def _user_page(self, app: App, user_id: str) -> str:
        return f"/dashboard/apps/{app.id}/user?{urlencode({'id': user_id})}"

    async def _issue_token(self, request: web.Request, signed: Signed) -> web.StreamResponse:
        app = await self._app_of(request)
        form = request[FORM]
        user_id = validation.user_id(_field(form, "id", 200), self.limits)
        lifetime = _field(form, "expires_in", 20)
        if lifetime not in EXPIRIES:
            raise BadRequest("choose one of the offered lifetimes", "INVALID_FIELD")
        body: dict[str, Any] = {"id": user_id}
        if lifetime:
            body["expires_in"] = int(lifetime)
        issued = await self._change(request, signed, "users.tokens.issue", app, body,
                                    {"expires_in": body.get("expires_in")},
                                    target=f"{app.id}/{user_id}")
        return self._render(request, signed, "secret.html", title="New access token", app=app,
                            secret_name=f"Access token for {user_id}",
                            secret=issued["access_token"], key_id=None,
                            back=self._user_page(app, user_id),
                            note="Hand it to the user's page now: it is shown only this once.")

    async def _revoke_tokens(self, request: web.Request, signed: Signed) -> web.StreamResponse:
        app = await self._app_of(request)
        form = request[FORM]
        user_id = validation.user_id(_field(form, "id", 200), self.limits)
        body: dict[str, Any] = {"id": user_id}
        token_id = _field(form, "token_id", 100)
        issued_before = _field(form, "issued_before", 40)
        if token_id:
            body["token_id"] = token_id
        elif issued_before:
            body["issued_before"] = _local_time(issued_before, _field(form, "utc_offset", 10))
        await self._change(request, signed, "users.tokens.revoke", app, body,
                           {k: v for k, v in body.items() if k != "id"},
                           target=f"{app.id}/{user_id}")
        return self._back(f"/dashboard/apps/{app.id}/user", "revoked", id=user_id)

    async def _end_session(self, request: web.Request, signed: Signed) -> web.StreamResponse:
        app = await self._app_of(request)
        form = request[FORM]
        user_id = validation.user_id(_field(form, "id", 200), self.limits)
        session_id = _field(form, "session_id", 100)
        await self._change(request, signed, "users.sessions.end", app,
                           {"id": user_id, "session_id": session_id},
                           {"session_id": session_id}, target=f"{app.id}/{user_id}")
        return self._back(f"/dashboard/apps/{app.id}/user", "ended", id=user_id)

    # live view and audit log

    async def _live_numbers(self) -> dict[str, Any]:
        return summary(await self.inventory.reports(), self.clock())

    async def _live(self, request: web.Request, signed: Signed) -> web.StreamResponse:
        apps_by_id = {app.id: app for app in await self.store.list_apps()}
        return self._render(request, signed, "live.html", title="Live",
                            numbers=await self._live_numbers(), apps=apps_by_id)

    async def _live_json(self, request: web.Request, signed: Signed) -> web.StreamResponse:
        return web.json_response(await self._live_numbers())

    async def _audit(self, request: web.Request, signed: Signed) -> web.StreamResponse:
        before = request.query.get("before", "")
        size = self.limits.dashboard_page_size
        entries = await self.store.list_audit(
            size + 1, int(before) if re.fullmatch(r"[0-9]{1,18}", before) else None)
        return self._render(request, signed, "audit.html", title="Audit log",
                            entries=entries[:size],
                            older=entries[size - 1].id if len(entries) > size else None)


def _redirect(location: str) -> web.Response:
    """See Other: after a post, the browser follows with a GET, so a reload repeats nothing."""
    return web.Response(status=303, headers={"Location": location})


def _static_dir() -> str:
    from importlib.resources import files

    return str(files("chatcamp_server.dashboard") / "static")


def _local_next(value: str) -> str:
    """Where to go after signing in: only a page of this dashboard, never another site
    (``//evil.example`` is a path to a browser only in name), and nothing a Location header
    cannot carry."""
    if value.startswith("/dashboard/") and "\\" not in value and \
            all("!" <= c <= "~" for c in value):
        return value
    return ""


def _origins(text: str) -> tuple[str, ...]:
    return apps.allowed_origins([line.strip() for line in text.splitlines() if line.strip()])


def _local_time(value: str, utc_offset: str) -> float:
    """A ``datetime-local`` field's value, in the browser's zone (its offset from UTC in
    minutes, as the page's script reports it), as Unix seconds."""
    try:
        moment = datetime.datetime.fromisoformat(value)
        zone = datetime.timezone(datetime.timedelta(minutes=int(utc_offset or 0)))
    except ValueError:
        raise BadRequest("give the time as the date picker writes it", "INVALID_FIELD") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).timestamp()
