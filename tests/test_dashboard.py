"""In-process: the dashboard's sign-in, sessions, CSRF defences, changes and audit log, over
real HTTP to the aiohttp application (the browser tests drive the same pages in Chromium)."""

from __future__ import annotations

import asyncio
import re
import secrets
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from server_process import free_port

from chatcamp_server.app import Server, open_server
from chatcamp_server.dashboard.cookies import COOKIE
from chatcamp_server.dashboard.operators import MAX_PASSWORD_CHARS, Operators
from chatcamp_server.deployment import Deployment
from chatcamp_server.policies import PublicOrigins

PASSWORD = "a long enough passphrase"
HOSTILE = "<img src=x onerror=alert(1)>\"'&"


class Console:
    """One operator's browser, as far as HTTP goes: its cookie jar and the page last seen."""

    def __init__(self, server: Server, site: TestServer, http: aiohttp.ClientSession) -> None:
        self.server, self.site, self.http = server, site, http
        self.origin = f"http://127.0.0.1:{site.port}"
        self.last = ""

    def url(self, path: str) -> str:
        return self.origin + path

    async def get(self, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        response = await self.http.get(self.url(path), allow_redirects=False, **kwargs)
        self.last = await response.text()
        return response

    async def post(self, path: str, data: dict[str, str], origin: str | None = None,
                   csrf: bool = True) -> aiohttp.ClientResponse:
        form = {"csrf": self.csrf(), **data} if csrf else data
        response = await self.http.post(self.url(path), data=form, allow_redirects=False,
                                        headers={"Origin": origin or self.origin})
        self.last = await response.text()
        return response

    def csrf(self) -> str:
        found = re.search(r'name="csrf" value="([^"]*)"', self.last)
        return found.group(1) if found else ""

    async def sign_in(self, name: str = "ops", password: str = PASSWORD) -> aiohttp.ClientResponse:
        return await self.post("/dashboard/signin", {"name": name, "password": password},
                               csrf=False)

    def alert(self) -> str:
        found = re.search(r'role="alert"[^>]*>([^<]*)<', self.last)
        return found.group(1) if found else ""


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    port = free_port()
    deployment = Deployment(str(tmp_path / "chat.sqlite3"), secrets.token_bytes(32))
    server, _ = await open_server(deployment, PublicOrigins.default("127.0.0.1", port))
    await Operators(server.store).create("ops", PASSWORD, "test")
    site = TestServer(server.web_app, host="127.0.0.1", port=port)
    await site.start_server()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield Console(server, site, http)
    await site.close()
    await server.close()


async def signed_in(console: Console) -> Console:
    response = await console.sign_in()
    assert response.status == 303, console.last
    await console.get("/dashboard/apps")
    return console


async def signed_in_elsewhere(console: Console) -> None:
    """Signed in as a second operator, since the first is locked out from this address."""
    await Operators(console.server.store).create("second", PASSWORD, "test")
    assert (await console.sign_in(name="second")).status == 303


async def first_app_id(console: Console) -> str:
    return (await console.server.store.list_apps())[0].id


async def test_pages_redirect_to_sign_in_without_a_session(console: Console) -> None:
    """Every page but the sign-in form sends a visitor without a session to sign in first."""
    response = await console.get("/dashboard/apps")
    assert response.status == 303
    assert response.headers["Location"] == "/dashboard/signin?next=%2Fdashboard%2Fapps"
    response = await console.get("/dashboard/live.json")
    assert response.status == 303


async def test_sign_in_sets_a_strict_http_only_cookie(console: Console) -> None:
    """A right password gives a HttpOnly, SameSite=Strict cookie scoped to /dashboard/."""
    response = await console.sign_in()
    assert response.status == 303 and response.headers["Location"] == "/dashboard/apps"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(COOKIE + "=")
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/dashboard/"):
        assert attribute in cookie
    assert "Secure" not in cookie
    assert PASSWORD not in cookie


async def test_wrong_password_and_unknown_name_read_the_same(console: Console) -> None:
    """A wrong password and an unknown operator get the same 401 and the same words."""
    wrong = await console.sign_in(password="not the passphrase")
    wrong_text = console.alert()
    unknown = await console.sign_in(name="nobody")
    assert wrong.status == unknown.status == 401
    assert wrong_text == console.alert() == "Wrong name or password."
    assert COOKIE not in wrong.headers.get("Set-Cookie", "")


async def test_sign_in_attempts_are_limited(console: Console) -> None:
    """After the limit of wrong passwords, even the right one waits, with a Retry-After."""
    limit = console.server.limits.failed_logins_per_user_address
    for _ in range(limit):
        assert (await console.sign_in(password="not the passphrase")).status == 401
    refused = await console.sign_in()
    assert refused.status == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "try again in" in console.alert()


async def test_over_long_password_is_refused_without_hashing(console: Console) -> None:
    """A password longer than any that can be set is a plain wrong password, not an error."""
    response = await console.sign_in(password="x" * (MAX_PASSWORD_CHARS + 1))
    assert response.status == 401


async def test_sign_in_never_redirects_off_the_dashboard(console: Console) -> None:
    """The next page after signing in is a dashboard page, never another site."""
    for target in ("//evil.example/dashboard/", "https://evil.example/", "/dashboard/\\evil"):
        response = await console.post("/dashboard/signin", {
            "name": "ops", "password": PASSWORD, "next": target}, csrf=False)
        assert response.headers["Location"] == "/dashboard/apps"
    response = await console.post("/dashboard/signin", {
        "name": "ops", "password": PASSWORD, "next": "/dashboard/live"}, csrf=False)
    assert response.headers["Location"] == "/dashboard/live"


async def test_failed_sign_in_keeps_the_page_asked_for(console: Console) -> None:
    """After a wrong password, the right one still leads to the page first asked for."""
    await console.post("/dashboard/signin", {"name": "ops", "password": "not the passphrase",
                                             "next": "/dashboard/audit"}, csrf=False)
    kept = re.search(r'name="next" value="([^"]*)"', console.last)
    assert kept is not None and kept.group(1) == "/dashboard/audit"
    response = await console.post("/dashboard/signin", {
        "name": "ops", "password": PASSWORD, "next": kept.group(1)}, csrf=False)
    assert response.headers["Location"] == "/dashboard/audit"


async def test_sign_in_from_another_origin_is_refused(console: Console) -> None:
    """A sign-in form posted from another site's page is refused (no login CSRF)."""
    response = await console.post("/dashboard/signin", {"name": "ops", "password": PASSWORD},
                                  origin="http://evil.example", csrf=False)
    assert response.status == 403
    assert COOKIE not in response.headers.get("Set-Cookie", "")


async def test_pages_carry_a_strict_content_security_policy(console: Console) -> None:
    """Every page forbids inline script, framing and caching."""
    await signed_in(console)
    response = await console.get("/dashboard/apps")
    policy = response.headers["Content-Security-Policy"]
    assert f"script-src {console.origin}/dashboard/static/;" in policy
    assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
    missing = await console.get("/dashboard/no-such-page")
    assert missing.status == 404
    assert "frame-ancestors 'none'" in missing.headers["Content-Security-Policy"]


FORGED = {
    "no token": ({}, None),
    "a wrong token": ({"csrf": "forged"}, None),
    "another origin": (None, {"Origin": "http://evil.example"}),
    "an opaque origin": (None, {"Origin": "null"}),
    "a cross-site fetch without Origin": (None, {"Sec-Fetch-Site": "cross-site"}),
}
"""How a forged post differs from the page's own: its form's token, or its headers."""


@pytest.mark.parametrize("forgery", list(FORGED))
async def test_forged_change_is_refused(console: Console, forgery: str) -> None:
    """A post without the page's CSRF token, or sent from another site, changes nothing."""
    form, headers = FORGED[forgery]
    await signed_in(console)
    app_id = await first_app_id(console)
    body = {"require_access_token": "on",
            **(form if form is not None else {"csrf": console.csrf()})}
    response = await console.http.post(
        console.url(f"/dashboard/apps/{app_id}/policies"), data=body, allow_redirects=False,
        headers=headers if headers is not None else {"Origin": console.origin})
    assert response.status == 403
    app = await console.server.store.get_app(app_id)
    assert app is not None and not app.require_access_token


async def test_policies_change_and_are_audited(console: Console) -> None:
    """Saving policies applies them and records who changed what."""
    await signed_in(console)
    app_id = await first_app_id(console)
    response = await console.post(f"/dashboard/apps/{app_id}/policies", {
        "allowed_origins": "https://shop.example\n\nhttps://www.shop.example",
        "require_access_token": "on"})
    assert response.status == 303
    assert response.headers["Location"] == f"/dashboard/apps/{app_id}?done=policies"
    app = await console.server.store.get_app(app_id)
    assert app is not None and app.require_access_token
    assert app.allowed_origins == ("https://shop.example", "https://www.shop.example")
    latest = (await console.server.store.list_audit(1))[0]
    assert (latest.actor, latest.action, latest.target) == ("ops", "apps.update", app_id)
    assert latest.detail["require_access_token"] is True


async def test_invalid_policy_is_a_clear_error(console: Console) -> None:
    """An origin that is not one is named in a 400 page, and nothing changes."""
    await signed_in(console)
    app_id = await first_app_id(console)
    response = await console.post(f"/dashboard/apps/{app_id}/policies",
                                  {"allowed_origins": "shop.example"})
    assert response.status == 400
    assert "is not an origin" in console.alert()
    app = await console.server.store.get_app(app_id)
    assert app is not None and app.allowed_origins == ()


async def test_new_app_key_is_shown_once_and_works(console: Console) -> None:
    """Creating an app shows its API key once; the key works; no later page shows it."""
    await signed_in(console)
    response = await console.post("/dashboard/apps", {"name": HOSTILE})
    assert response.status == 200
    key = re.search(r'id="secret" class="secret">([^<]+)<', console.last)
    assert key is not None
    app = next(a for a in await console.server.store.list_apps() if a.name == HOSTILE)
    assert await console.server.auth.app_for_api_key(key.group(1)) == app
    for path in ("/dashboard/apps", f"/dashboard/apps/{app.id}", "/dashboard/audit"):
        await console.get(path)
        assert key.group(1) not in console.last
    assert HOSTILE not in console.last
    entries = await console.server.store.list_audit(10)
    assert all(key.group(1) not in repr(entry) for entry in entries)


async def test_rotated_key_replaces_the_old_one_at_once(console: Console) -> None:
    """After a rotation the old API key is refused and the new one shown is accepted."""
    await signed_in(console)
    await console.post("/dashboard/apps", {"name": "rotating"})
    old = re.search(r'id="secret" class="secret">([^<]+)<', console.last)
    app_id = re.search(r'id="app-id">(\d+)<', console.last)
    assert old is not None and app_id is not None
    await console.get(f"/dashboard/apps/{app_id.group(1)}")
    await console.post(f"/dashboard/apps/{app_id.group(1)}/api-key", {})
    new = re.search(r'id="secret" class="secret">([^<]+)<', console.last)
    assert new is not None and new.group(1) != old.group(1)
    assert await console.server.auth.app_for_api_key(old.group(1)) is None
    found = await console.server.auth.app_for_api_key(new.group(1))
    assert found is not None and found.id == app_id.group(1)


async def test_hostile_user_strings_are_rendered_as_text(console: Console) -> None:
    """A user ID and display name full of markup come back escaped on every page."""
    await signed_in(console)
    app = (await console.server.store.list_apps())[0]
    await console.server.users.create(app, {"id": HOSTILE, "display_name": HOSTILE})
    for path in (f"/dashboard/apps/{app.id}/users",
                 f"/dashboard/apps/{app.id}/users?by=name&q=%3Cimg",
                 f"/dashboard/apps/{app.id}/user?id={aiohttp.helpers.quote(HOSTILE, safe='')}"):
        response = await console.get(path)
        assert response.status == 200
        assert "<img src=x" not in console.last
        assert "&lt;img src=x onerror=alert(1)&gt;" in console.last


async def test_user_search_pages_through_every_match(console: Console) -> None:
    """Search by ID prefix walks every matching user once, page by page."""
    await signed_in(console)
    app = (await console.server.store.list_apps())[0]
    size = console.server.limits.dashboard_page_size
    wanted = {f"member-{n:03d}" for n in range(size + 7)}
    for user_id in wanted:
        await console.server.store.get_or_create_user(app.id, user_id, 0.0)
    await console.server.store.get_or_create_user(app.id, "other", 0.0)
    seen: list[str] = []
    path = f"/dashboard/apps/{app.id}/users?q=member-&by=id"
    while path:
        await console.get(path)
        seen += re.findall(r'user\?id=([^"]+)">', console.last)
        following = re.search(r'<a href="(\?[^"]+)" rel="next">', console.last)
        path = (f"/dashboard/apps/{app.id}/users" + following.group(1).replace("&amp;", "&")
                if following else "")
    assert sorted(seen) == sorted(wanted) and len(seen) == len(wanted)


async def test_issue_and_revoke_tokens(console: Console) -> None:
    """A token issued from the dashboard is shown once and logs in; revoking all refuses it."""
    await signed_in(console)
    app = (await console.server.store.list_apps())[0]
    await console.server.users.create(app, {"id": "holder"})
    await console.get(f"/dashboard/apps/{app.id}/user?id=holder")
    await console.post(f"/dashboard/apps/{app.id}/user/tokens",
                       {"id": "holder", "expires_in": "3600"})
    token = re.search(r'id="secret" class="secret">([^<]+)<', console.last)
    assert token is not None and token.group(1).startswith("cct_")
    listed = await console.server.store.list_tokens(app.id, "holder")
    assert any(t.expires_at is not None and t.usable(t.created_at) for t in listed)
    response = await console.post(f"/dashboard/apps/{app.id}/user/revoke", {"id": "holder"})
    assert response.status == 303 and "done=revoked" in response.headers["Location"]
    assert all(t.revoked_at is not None
               for t in await console.server.store.list_tokens(app.id, "holder"))
    actions = [e.action for e in await console.server.store.list_audit(5)]
    assert actions[:2] == ["users.tokens.revoke", "users.tokens.issue"]


async def test_unknown_lifetime_and_user_are_clear_errors(console: Console) -> None:
    """A lifetime the form does not offer, or a user that does not exist, is named, not a 500."""
    await signed_in(console)
    app_id = await first_app_id(console)
    response = await console.post(f"/dashboard/apps/{app_id}/user/tokens",
                                  {"id": "nobody", "expires_in": "12"})
    assert response.status == 400
    response = await console.post(f"/dashboard/apps/{app_id}/user/tokens",
                                  {"id": "nobody", "expires_in": "3600"})
    assert response.status == 404 and "does not exist" in console.alert()
    response = await console.get("/dashboard/apps/404/users")
    assert response.status == 404


async def test_idle_session_ends(console: Console) -> None:
    """A session unused for the idle timeout is over; polling the live view does not renew it."""
    await signed_in(console)
    dashboard = console.server.dashboard
    start = dashboard.clock()
    idle = console.server.limits.dashboard_idle_timeout
    dashboard.clock = lambda: start + idle * 0.6
    assert (await console.get("/dashboard/live.json")).status == 200
    dashboard.clock = lambda: start + idle * 1.1
    response = await console.get("/dashboard/apps")
    assert response.status == 303 and "expired=1" in response.headers["Location"]


async def test_activity_slides_the_idle_timeout(console: Console) -> None:
    """Opening a page renews the session: active use never times out before the lifetime."""
    await signed_in(console)
    dashboard = console.server.dashboard
    start = dashboard.clock()
    idle = console.server.limits.dashboard_idle_timeout
    for step in range(1, 4):
        dashboard.clock = lambda step=step: start + idle * 0.8 * step  # type: ignore[misc]
        assert (await console.get("/dashboard/apps")).status == 200


async def test_sign_out_ends_the_cookie_for_good(console: Console) -> None:
    """After signing out, a copy of the old cookie no longer opens any page."""
    await signed_in(console)
    cookie = next(c.value for c in console.http.cookie_jar if c.key == COOKIE)
    assert (await console.post("/dashboard/signout", {})).status == 303
    async with aiohttp.ClientSession() as stranger:
        response = await stranger.get(console.url("/dashboard/apps"), allow_redirects=False,
                                      headers={"Cookie": f"{COOKIE}={cookie}"})
        assert response.status == 303


async def test_password_change_and_deletion_end_sessions(console: Console) -> None:
    """A new password, or the operator's deletion, ends the sessions they had open."""
    await signed_in(console)
    operators = Operators(console.server.store)
    await operators.set_password("ops", "another long passphrase", "test")
    assert (await console.get("/dashboard/apps")).status == 303
    assert (await console.sign_in(password="another long passphrase")).status == 303
    assert (await console.get("/dashboard/apps")).status == 200
    await operators.delete("ops", "test")
    assert (await console.get("/dashboard/apps")).status == 303


async def test_tampered_cookie_is_refused(console: Console) -> None:
    """A cookie changed by one character is no session."""
    await signed_in(console)
    cookie = next(c.value for c in console.http.cookie_jar if c.key == COOKIE)
    forged = cookie[:-2] + ("A" if cookie[-2] != "A" else "B") + cookie[-1]
    async with aiohttp.ClientSession() as stranger:
        response = await stranger.get(console.url("/dashboard/apps"), allow_redirects=False,
                                      headers={"Cookie": f"{COOKIE}={forged}"})
        assert response.status == 303
        response = await stranger.get(console.url("/dashboard/apps"), allow_redirects=False,
                                      headers={"Cookie": f"{COOKIE}={cookie}"})
        assert response.status == 200


async def test_live_numbers_count_logins(console: Console) -> None:
    """The live view's numbers count this minute's logins and failed logins."""
    await signed_in(console)
    console.server.metrics.login(resumed=False)
    console.server.metrics.refused("INVALID_ACCESS_TOKEN")
    response = await console.get("/dashboard/live.json")
    numbers = await response.json()
    assert numbers["nodes"] == 1
    assert numbers["live_sessions"] == 0
    assert numbers["minutes"][-1]["logins"] == 1 and numbers["minutes"][-1]["failed"] == 1
    assert len(numbers["minutes"]) == 60
    assert set(numbers["lockouts"]) == {"address", "user_address", "user", "new_users"}
    assert numbers["lockouts_started"] == 0


async def test_live_numbers_count_lockouts(console: Console) -> None:
    """A sign-in limit filled shows as a current lockout and as one started since the start."""
    limit = console.server.limits.failed_logins_per_user_address
    for _ in range(limit):
        await console.sign_in(password="not the passphrase")
    await signed_in_elsewhere(console)
    numbers = await (await console.get("/dashboard/live.json")).json()
    assert numbers["lockouts"]["user_address"] == 1
    assert numbers["lockouts_started"] == 1


async def test_multipart_form_is_a_clear_error(console: Console) -> None:
    """A multipart form (which no page of the dashboard sends) is a 415, never a server
    error."""
    await signed_in(console)
    app_id = await first_app_id(console)
    form = aiohttp.FormData()
    form.add_field("csrf", console.csrf())
    form.add_field("allowed_origins", b"https://a.example", filename="origins.txt")
    response = await console.http.post(console.url(f"/dashboard/apps/{app_id}/policies"),
                                       data=form, allow_redirects=False,
                                       headers={"Origin": console.origin})
    assert response.status == 415


MALFORMED = {
    "a byte that is not UTF-8": ("application/x-www-form-urlencoded", b"name=\xff"),
    "an unknown charset": ("application/x-www-form-urlencoded; charset=bogus", b"name=ops"),
    "multipart without a boundary": ("multipart/form-data", b"garbage"),
    "JSON": ("application/json", b'{"name": "ops"}'),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_sign_in_bodies_are_clear_errors(console: Console, case: str) -> None:
    """A sign-in body that is no urlencoded form gets a 4xx page, never a server error."""
    content_type, body = MALFORMED[case]
    response = await console.http.post(console.url("/dashboard/signin"), data=body,
                                       headers={"Origin": console.origin,
                                                "Content-Type": content_type})
    assert response.status in (400, 415), await response.text()
    assert COOKIE not in response.headers.get("Set-Cookie", "")


async def test_concurrent_wrong_passwords_stay_within_the_limit(console: Console) -> None:
    """Wrong passwords sent side by side are checked one at a time per operator and
    address, so a burst gets no more guesses than the limit allows."""
    limit = console.server.limits.failed_logins_per_user_address
    statuses: list[int] = []
    for _ in range(limit + 3):
        burst = await asyncio.gather(*(console.sign_in(password="not the passphrase")
                                       for _ in range(7)))
        statuses += [response.status for response in burst]
    assert statuses.count(401) <= limit
    assert set(statuses) == {401, 429}
    assert (await console.sign_in()).status == 429


async def test_failed_sign_in_is_audited_without_blaming_the_operator(console: Console) -> None:
    """A wrong password for a real operator is recorded against them, not as done by them."""
    await console.sign_in(password="not the passphrase")
    entry = (await console.server.store.list_audit(1))[0]
    assert (entry.actor, entry.action, entry.target) == ("(unknown)", "signin.failed", "ops")
    await console.sign_in(name="nobody")
    assert (await console.server.store.list_audit(1))[0].id == entry.id


ODD_QUERIES = ["/dashboard/audit?before=%C2%B2", "/dashboard/audit?before=99999999999999999999",
               "/dashboard/apps/{app}/users?q=%00", "/dashboard/apps/{app}/users?after=%00",
               "/dashboard/apps/{app}/users?by=name&q=%00", "/dashboard/apps/%00",
               "/dashboard/apps/{app}/user?id=%00"]


@pytest.mark.parametrize("path", ODD_QUERIES)
async def test_odd_query_values_are_clear_answers(console: Console, path: str) -> None:
    """Odd numbers and control characters in a page's address get a page, never a 500."""
    await signed_in(console)
    response = await console.get(path.format(app=await first_app_id(console)))
    assert response.status in (200, 400), console.last


async def test_odd_time_zone_is_a_clear_error(console: Console) -> None:
    """A time zone offset no browser reports is a 400 page, and nothing is revoked."""
    await signed_in(console)
    app = (await console.server.store.list_apps())[0]
    await console.server.users.create(app, {"id": "zoned"})
    response = await console.post(f"/dashboard/apps/{app.id}/user/revoke", {
        "id": "zoned", "issued_before": "2026-01-01T00:00:00", "utc_offset": "2000"})
    assert response.status == 400
    assert all(t.revoked_at is None for t in await console.server.store.list_tokens(app.id,
                                                                                  "zoned"))


async def test_next_with_control_characters_is_dropped(console: Console) -> None:
    """A next page holding a line break leads to the apps page, with the cookie set."""
    response = await console.post("/dashboard/signin", {
        "name": "ops", "password": PASSWORD, "next": "/dashboard/apps\r\nSet-Cookie: x=1"},
        csrf=False)
    assert response.status == 303 and response.headers["Location"] == "/dashboard/apps"
    assert COOKIE in response.headers["Set-Cookie"]
