"""Real browser: the operators' dashboard at ``/dashboard/`` in Debian Chromium against a real
``serve.py``, with the unmodified SDK in other browser contexts for the sessions it ends."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Callable, Iterator

import pytest
from conftest import BrowserGuard, api_caller, install_guard, wait_until
from playwright.sync_api import Browser, BrowserContext, Page, Response, expect
from sdk_page import open_sdk_page
from server_process import ROOT, ServerProcess
from site_server import PageSite

from chatcamp_client import Client

OPERATOR, PASSWORD = "ops-main", "correct horse battery staple"
LOCKED_OPERATOR, LOCKED_PASSWORD = "ops-locked", "another long passphrase"
"""A second operator for the lockout test: the limit counts per (operator, address), and every
test signs in from 127.0.0.1."""
HOSTILE_ID = "<img src=x onerror=window.__pwned=1>"
HOSTILE_NAME = "<script>window.__pwned=1</script>\"'&"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
CLOSED = 3
LIVE_TIMEOUT_MS = 10_000
"""The live view polls every 2 s: a few polls' worth."""


@dataclass
class Dashboard:
    """The module's server, its operators, and a signed-in operator's browser state."""

    server: ServerProcess
    signed_in: Any = None
    """``storage_state`` of a context that signed in as ``OPERATOR``."""

    @property
    def origin(self) -> str:
        return self.server.base_url

    def url(self, path: str) -> str:
        return self.origin + path

    def create_operator(self, name: str, password: str) -> None:
        made = subprocess.run(self.server.command("admin", "create", name), cwd=ROOT,
                              input=password + "\n", capture_output=True, text=True, timeout=60)
        assert made.returncode == 0, made.stderr
        assert json.loads(made.stdout) == {"name": name}

    def create_app(self, name: str) -> tuple[str, str]:
        """An app made with the CLI while the server runs: (APP_ID, API key)."""
        made = self.server.run_cli("apps", "create", name)
        assert made.returncode == 0, made.stderr
        created = json.loads(made.stdout)
        return created["app_id"], created["api_key"]

    def audit(self) -> list[dict[str, Any]]:
        done = self.server.run_cli("admin", "audit", "--json", "--limit", "1000")
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in done.stdout.splitlines()]


def sign_in(page: Page, dash: Dashboard, name: str, password: str) -> Response:
    """Fill in and send the sign-in form; the answer to its post."""
    if not page.url.startswith(dash.url("/dashboard/signin")):
        page.goto(dash.url("/dashboard/signin"))
    page.get_by_label("Operator name").fill(name)
    page.get_by_label("Password").fill(password)
    with page.expect_response(lambda r: r.request.method == "POST"
                              and r.url == dash.url("/dashboard/signin")) as answer:
        page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    return answer.value


@pytest.fixture(scope="module")
def dash(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[Dashboard]:
    """One server for the module, two operators made with the CLI, and a signed-in state that
    the tests' contexts start from."""
    server = ServerProcess(tmp_path_factory.mktemp("dashboard"))
    server.start()
    try:
        dash = Dashboard(server)
        dash.create_operator(OPERATOR, PASSWORD)
        dash.create_operator(LOCKED_OPERATOR, LOCKED_PASSWORD)
        context = browser.new_context()
        answer = sign_in(context.new_page(), dash, OPERATOR, PASSWORD)
        assert answer.status == 303, answer.status
        dash.signed_in = context.storage_state()
        context.close()
        yield dash
    finally:
        server.stop()


class _PageWithoutDialogs:
    """A page as ``install_guard`` sees it, minus its dialog handler (which dismisses)."""

    def __init__(self, page: Page) -> None:
        self._page = page

    def on(self, event: str, handler: Callable[..., Any]) -> None:
        if event != "dialog":
            self._page.on(event, handler)  # type: ignore[call-overload]


class _ContextWithoutDialogs:
    def __init__(self, context: BrowserContext) -> None:
        self._context = context
        self.route = context.route

    @property
    def pages(self) -> list[_PageWithoutDialogs]:
        return [_PageWithoutDialogs(page) for page in self._context.pages]

    def on(self, event: str, handler: Callable[[Any], None]) -> None:
        self._context.on(event, lambda page: handler(_PageWithoutDialogs(page)))  # type: ignore


@dataclass
class Operator:
    """A signed-in operator's page, its offline guard, and the confirm() questions it
    accepted."""

    dash: Dashboard
    page: Page
    guard: BrowserGuard
    confirmed: list[str]

    def open(self, path: str) -> Response:
        answer = self.page.goto(self.dash.url(path))
        assert answer is not None
        return answer

    def check(self, *statuses: int) -> None:
        """The guard's check, where the only console errors are Chromium's own report of each
        page of ``statuses`` that answered with that error status (a refused sign-in, say)."""
        expected = [f"Failed to load resource: the server responded with a status of {status} "
                    f"({HTTPStatus(status).phrase}) [{self.dash.url('/dashboard/')}"
                    for status in statuses]
        assert len(self.guard.errors) == len(expected) and all(
            error.startswith(start) for error, start in zip(self.guard.errors, expected)
        ), self.guard.errors
        self.guard.errors.clear()
        self.guard.check()

    def csrf(self) -> str:
        value = self.page.locator("input[name=csrf]").first.get_attribute("value")
        assert value
        return value


def guarded(context: BrowserContext, origins: set[str]) -> tuple[BrowserGuard, list[str]]:
    """``install_guard`` on ``origins``, but confirm() dialogs are accepted (and their
    questions recorded), as an operator answering yes; any other dialog is an error."""
    guard = install_guard(_ContextWithoutDialogs(context), origins)
    confirmed: list[str] = []

    def on_dialog(dialog: Any) -> None:
        if dialog.type == "confirm":
            confirmed.append(dialog.message)
            dialog.accept()
        else:
            guard.errors.append(f"{dialog.type} dialog: {dialog.message}")
            dialog.dismiss()

    context.on("page", lambda page: page.on("dialog", on_dialog))
    return guard, confirmed


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    """Browser contexts made for one test, closed after it."""
    made: list[BrowserContext] = []

    def make(**options: Any) -> BrowserContext:
        context = browser.new_context(**options)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


@pytest.fixture
def operator_for(dash: Dashboard,
                 new_context: Callable[..., BrowserContext]) -> Callable[..., Operator]:
    """A signed-in operator in a fresh context; requests may go to ``dash`` (and ``extra``
    origins) only."""

    def make(extra: frozenset[str] = frozenset(), signed: bool = True,
             **options: Any) -> Operator:
        context = new_context(storage_state=dash.signed_in if signed else None, **options)
        guard, confirmed = guarded(context, {dash.origin, *extra})
        return Operator(dash, context.new_page(), guard, confirmed)

    return make


@pytest.fixture
def operator(operator_for: Callable[..., Operator]) -> Operator:
    return operator_for()


@dataclass
class SdkSessions:
    """Pages of the real SDK on the test site's origin, each in its own browser context."""

    dash: Dashboard
    site: PageSite
    browser: Browser
    contexts: list[tuple[BrowserContext, BrowserGuard]] = field(default_factory=list)
    users: list[tuple[str, str]] = field(default_factory=list)
    """(API key of the app, user ID) of each session opened."""

    def connect(self, user: str, token: str | None = None,
                app: tuple[str, str] | None = None) -> Page:
        """A page of the SDK connected as ``user`` to ``app`` (APP_ID, API key), by default
        the server's first app."""
        app_id, api_key = app or (self.dash.server.app_id, self.dash.server.api_key)
        context = self.browser.new_context()
        self.contexts.append((context, install_guard(context, {self.dash.origin,
                                                               self.site.origin})))
        page = open_sdk_page(context.new_page(), self.site.origin, self.dash.server.port, app_id)
        result = page.evaluate("([u, t]) => connectAs(u, t)", [user, token])
        assert "user" in result, result
        self.users.append((api_key, user))
        return page

    def close(self) -> None:
        """Close every SDK page, then wait until the server lists none of their sessions."""
        for context, _ in self.contexts:
            context.close()
        for _, guard in self.contexts:
            guard.check()
        call = api_caller(self.dash.server)
        for api_key, user in self.users:
            wait_until(lambda: call("users.sessions.list", {"id": user},
                                    api_key)[1]["sessions"] == [])


def stopped(page: Page, code: str) -> None:
    """The SDK has stopped for good, as it does when the server ends its session: closed, not
    reconnecting, told why by the server's session.ended notice."""
    wait_until(lambda: page.evaluate("state()") == CLOSED)
    assert page.evaluate("cc.isAutoReconnectEnabled()") is False
    assert page.evaluate("notices")[-1]["code"] == code


@pytest.fixture
def sdk(dash: Dashboard, site: PageSite, browser: Browser) -> Iterator[SdkSessions]:
    """SDK sessions for one test, all closed after it and gone from the server, so that the
    next test's live count starts from a settled number."""
    sessions = SdkSessions(dash, site, browser)
    yield sessions
    sessions.close()


@pytest.fixture(scope="module")
def seeded(dash: Dashboard) -> dict[str, str]:
    """An app with a signing key and a user with a display name and a stored token."""
    app_id, api_key = dash.create_app("Seeded shop")
    call = api_caller(dash.server)
    assert call("apps.signing_keys.create", {}, api_key)[0] == 200
    status, body = call("users.create", {"id": "ada", "display_name": "Ada Lovelace"}, api_key)
    assert status == 200, body
    return {"app_id": app_id, "api_key": api_key, "user": "ada", "token": body["access_token"]}


# signing in


def test_a_visit_without_a_session_is_sent_to_sign_in_and_back(
        operator_for: Callable[..., Operator], dash: Dashboard) -> None:
    """/dashboard/apps without a session redirects to the sign-in page, and signing in there
    goes back to the page asked for."""
    visitor = operator_for(signed=False)
    visitor.open("/dashboard/apps")
    assert visitor.page.url == dash.url("/dashboard/signin?next=%2Fdashboard%2Fapps")
    expect(visitor.page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert sign_in(visitor.page, dash, OPERATOR, PASSWORD).status == 303
    assert visitor.page.url == dash.url("/dashboard/apps")
    expect(visitor.page.get_by_role("heading", name="Apps")).to_be_visible()
    visitor.check()


def test_wrong_password_is_refused_and_the_right_one_signs_in(
        operator_for: Callable[..., Operator], dash: Dashboard) -> None:
    """A wrong password shows an error (401) and sets no cookie; the right one then signs in."""
    visitor = operator_for(signed=False)
    answer = sign_in(visitor.page, dash, OPERATOR, "not the password at all")
    assert answer.status == 401
    expect(visitor.page.get_by_role("alert")).to_have_text("Wrong name or password.")
    assert visitor.page.context.cookies() == []
    answer = sign_in(visitor.page, dash, OPERATOR, PASSWORD)
    assert answer.status == 303
    expect(visitor.page.get_by_text(f"Signed in as {OPERATOR}")).to_be_visible()
    assert [cookie["name"] for cookie in visitor.page.context.cookies()] == \
        ["chatcamp_dashboard"]
    visitor.check(401)


def focused(page: Page) -> dict[str, str]:
    """The focused element's name as a user hears it, and the outline that shows it."""
    return page.evaluate("""() => {
        const el = document.activeElement;
        const style = getComputedStyle(el);
        return {text: (el.getAttribute("aria-label") || el.textContent || el.name || "").trim(),
                outline: style.outlineStyle, width: style.outlineWidth};
    }""")


def test_sign_in_and_sections_work_from_the_keyboard(
        operator_for: Callable[..., Operator], dash: Dashboard) -> None:
    """Signing in and moving between sections take the keyboard alone, and every control
    that takes the focus shows a visible outline."""
    visitor = operator_for(signed=False)
    page = visitor.page
    visitor.open("/dashboard/signin")
    expect(page.get_by_label("Operator name")).to_be_focused()
    page.keyboard.type(OPERATOR)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(dash.url("/dashboard/apps"))
    seen = []
    for _ in range(6):
        page.keyboard.press("Tab")
        seen.append(focused(page))
    assert seen[0]["text"] == "Skip to content"
    assert [f["text"] for f in seen[1:4]] == ["Apps", "Live", "Audit log"]
    assert all(f["outline"] != "none" and f["width"] != "0px" for f in seen), seen
    assert seen[4]["text"] == "Sign out"
    for _ in range(3):
        page.keyboard.press("Shift+Tab")
    assert focused(page)["text"] == "Live"
    page.keyboard.press("Enter")
    page.wait_for_url(dash.url("/dashboard/live"))
    expect(page.get_by_role("heading", name="Live", exact=True)).to_be_visible()
    visitor.check()


def test_ten_wrong_passwords_lock_out_even_the_right_one(
        operator_for: Callable[..., Operator], dash: Dashboard) -> None:
    """After 10 wrong passwords for an operator from one address, the right password is refused
    too (429), with when to try again."""
    visitor = operator_for(signed=False)
    for attempt in range(10):
        assert sign_in(visitor.page, dash, LOCKED_OPERATOR, f"wrong password {attempt}").status \
            == 401
    answer = sign_in(visitor.page, dash, LOCKED_OPERATOR, LOCKED_PASSWORD)
    assert answer.status == 429
    assert int(answer.headers["retry-after"]) > 0
    expect(visitor.page.get_by_role("alert")).to_have_text(re.compile(r"try again in \d+ s"))
    assert visitor.page.url == dash.url("/dashboard/signin")
    assert visitor.page.context.cookies() == []
    visitor.check(*[401] * 10, 429)


# apps and API keys


def test_cli_app_id_is_listed_and_copied(operator: Operator, dash: Dashboard) -> None:
    """An app made with the CLI while the server runs is listed with its APP_ID, and its Copy
    button puts the APP_ID on the clipboard."""
    app_id, _ = dash.create_app("Made on the CLI")
    operator.page.context.grant_permissions(["clipboard-read", "clipboard-write"],
                                            origin=dash.origin)
    operator.open("/dashboard/apps")
    expect(operator.page.locator(f"#app-id-{app_id}")).to_have_text(app_id)
    copy = operator.page.get_by_role("button", name="Copy the APP_ID of Made on the CLI",
                                     exact=True)
    copy.click()
    expect(copy).to_have_text("Copied")
    assert operator.page.evaluate("navigator.clipboard.readText()") == app_id
    operator.check()


def test_app_created_in_the_dashboard_shows_its_key_once(operator: Operator,
                                                         dash: Dashboard) -> None:
    """An app made in the dashboard shows its API key once; the key works with the server API
    and appears neither on the app's page nor on the apps list afterwards."""
    page = operator.page
    operator.open("/dashboard/apps")
    page.get_by_label("Name", exact=True).fill("Made in the dashboard")
    page.get_by_label("Allowed origins").fill("https://shop.example")
    page.get_by_role("button", name="Create app").click()
    expect(page.get_by_role("heading", name="App created")).to_be_visible()
    app_id = page.locator("#app-id").inner_text()
    api_key = page.locator("#secret").inner_text()
    with Client(dash.origin, api_key) as chat:
        made = chat.users.create("made-here-user", display_name="Made Here")
    assert made["user"]["id"] == "made-here-user"
    for path in (f"/dashboard/apps/{app_id}", "/dashboard/apps", "/dashboard/audit"):
        operator.open(path)
        expect(page.locator("main")).to_contain_text("Made in the dashboard")
        assert api_key not in page.content(), path
    operator.check()


def test_rotating_the_key_refuses_the_old_one(operator: Operator, dash: Dashboard) -> None:
    """Rotating an app's API key (confirmed in a dialog) shows a new key that the server API
    accepts, and the old key is refused with 401."""
    app_id, old_key = dash.create_app("Rotated")
    call = api_caller(dash.server)
    assert call("users.create", {"id": "before-rotation"}, old_key)[0] == 200
    operator.open(f"/dashboard/apps/{app_id}")
    operator.page.get_by_role("button", name="Rotate the API key").click()
    expect(operator.page.get_by_role("heading", name="New API key")).to_be_visible()
    assert operator.confirmed == ["Replace the API key of Rotated? The current key stops "
                                  "working at once."]
    new_key = operator.page.locator("#secret").inner_text()
    assert new_key != old_key
    status, body = call("users.create", {"id": "after-rotation-old"}, old_key)
    assert status == 401, body
    assert call("users.create", {"id": "after-rotation-new"}, new_key)[0] == 200
    operator.check()


def test_a_cross_site_form_post_is_refused(operator_for: Callable[..., Operator],
                                           dash: Dashboard, site: PageSite) -> None:
    """A page on another origin that auto-submits the rotate-key form, with the operator's real
    CSRF token even, is refused (403) in the signed-in operator's browser: the key is unchanged
    and the audit log has no rotation."""
    app_id, api_key = dash.create_app("Targeted")
    operator = operator_for(extra=frozenset({site.origin}))
    operator.open(f"/dashboard/apps/{app_id}")
    rotate = dash.url(f"/dashboard/apps/{app_id}/api-key")
    site.responses["/prize.html"] = (200, "text/html", f"""<!doctype html>
<html lang="en"><head><title>You won</title></head><body>
<form id="f" method="post" action="{rotate}">
<input type="hidden" name="csrf" value="{operator.csrf()}"></form>
<script>document.getElementById("f").submit();</script></body></html>""")
    # The two origins differ by port only, so they are one site and SameSite lets the cookie
    # go: what refuses the post is the Origin check (its token is the operator's own).
    with operator.page.expect_response(lambda r: r.url == rotate) as answer:
        operator.page.goto(f"{site.origin}/prize.html")
    operator.page.wait_for_load_state()
    assert answer.value.request.method == "POST"
    assert answer.value.status == 403
    expect(operator.page.get_by_role("alert")).to_have_text(
        "this form did not come from this dashboard's own page, so it was not applied")
    assert api_caller(dash.server)("users.create", {"id": "still-mine"}, api_key)[0] == 200
    assert [e for e in dash.audit()
            if e["action"] == "apps.rotate_api_key" and e["target"] == app_id] == []
    operator.check(403)


# users, tokens and sessions


def test_ending_a_live_session_stops_the_sdk(operator: Operator, sdk: SdkSessions,
                                             dash: Dashboard) -> None:
    """End on a user's live session (confirmed) ends the real SDK's session in another
    browser: it closes, told SESSION_ENDED, and does not reconnect."""
    chat = sdk.connect("end-me")
    app_id = dash.server.app_id
    operator.open(f"/dashboard/apps/{app_id}/user?id=end-me")
    expect(operator.page.locator("#sessions tbody tr")).to_have_count(1)
    operator.page.get_by_role("button", name="End session").click()
    expect(operator.page.locator(".done")).to_have_text("The session has ended.")
    assert operator.confirmed == ["End this session? The user's page is signed out."]
    stopped(chat, "SESSION_ENDED")
    expect(operator.page.get_by_text("No live session.")).to_be_visible()
    operator.check()


def test_revoking_all_tokens_ends_the_session_on_one(operator: Operator, sdk: SdkSessions,
                                                     dash: Dashboard) -> None:
    """Revoke all tokens (confirmed) marks the user's token revoked and ends the real SDK's
    live session on it, told TOKEN_REVOKED."""
    status, body = api_caller(dash.server)("users.create", {"id": "revoke-me"})
    assert status == 200, body
    chat = sdk.connect("revoke-me", body["access_token"])
    operator.open(f"/dashboard/apps/{dash.server.app_id}/user?id=revoke-me")
    state = operator.page.locator("#tokens tbody tr td").nth(4)
    expect(state).to_have_text("active")
    operator.page.get_by_role("button", name="Revoke all tokens").click()
    expect(operator.page.locator(".done")).to_have_text(
        "Tokens revoked; their live sessions have ended.")
    assert operator.confirmed == ["Revoke every token of revoke-me? Their live sessions end now."]
    expect(state).to_have_text("revoked")
    stopped(chat, "TOKEN_REVOKED")
    operator.check()


def test_hostile_user_id_and_name_stay_text(operator: Operator, dash: Dashboard) -> None:
    """A user ID and a display name made of markup show as their literal text on the users
    list and the user's page, and none of it runs or makes an element."""
    status, body = api_caller(dash.server)("users.create", {"id": HOSTILE_ID,
                                                            "display_name": HOSTILE_NAME})
    assert status == 200, body
    page = operator.page
    app_id = dash.server.app_id

    def harmless() -> None:
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.locator("img[src=x], main script").count() == 0

    for query in ("?q=%3Cimg&by=id", "?q=%3Cscript&by=name"):
        operator.open(f"/dashboard/apps/{app_id}/users{query}")
        link = page.get_by_role("link", name=HOSTILE_ID, exact=True)
        row = page.locator("tbody tr").filter(has=link)
        assert link.inner_text() == HOSTILE_ID
        assert row.locator("td").nth(1).inner_text() == HOSTILE_NAME
        harmless()
    link.click()
    expect(page.locator("h1 .uid")).to_have_text(HOSTILE_ID)
    assert page.locator("h1 .uid").inner_text() == HOSTILE_ID
    name = page.locator(".facts dt", has_text="Display name").locator(
        "xpath=following-sibling::dd[1]")
    assert name.inner_text() == HOSTILE_NAME
    harmless()
    operator.check()


# the live view


def test_live_view_counts_a_new_session_without_reloading(operator: Operator, sdk: SdkSessions,
                                                          dash: Dashboard) -> None:
    """The live view's "Live sessions" tile shows one more once an SDK session opens in another
    browser, with no reload of the page."""
    page = operator.page
    operator.open("/dashboard/live")
    tile = page.locator("[data-live=live_sessions]")
    before = int(tile.inner_text())
    page.evaluate("window.stillTheSamePage = true")
    sdk.connect("live-watched")
    expect(tile).to_have_text(str(before + 1), timeout=LIVE_TIMEOUT_MS)
    assert page.evaluate("window.stillTheSamePage") is True
    operator.check()


# every page: accessibility, and nothing off the server's origin

PAGES = ["signin", "apps", "app", "users", "user", "live", "audit", "secret"]


def open_page(operator: Operator, which: str, seeded: dict[str, str]) -> None:
    """One of the dashboard's main pages, as an operator reaches it."""
    app = f"/dashboard/apps/{seeded['app_id']}"
    paths = {"signin": "/dashboard/signin", "apps": "/dashboard/apps", "app": app,
             "users": f"{app}/users", "user": f"{app}/user?id={seeded['user']}",
             "live": "/dashboard/live", "audit": "/dashboard/audit"}
    if which == "secret":
        operator.open(paths["user"])
        operator.page.get_by_role("button", name="Issue a token").click()
        expect(operator.page.get_by_role("heading", name="New access token")).to_be_visible()
        return
    answer = operator.open(paths[which])
    assert answer.status == 200, (which, answer.status)


@pytest.mark.parametrize("which", PAGES)
def test_axe_finds_no_serious_violation(operator_for: Callable[..., Operator], sdk: SdkSessions,
                                        seeded: dict[str, str], which: str) -> None:
    """axe-core (WCAG 2 A and AA, best practices) finds no serious or critical violation on
    this page of the dashboard."""
    if which == "user":  # with a live session, so that the sessions table is there too
        sdk.connect(seeded["user"], seeded["token"], (seeded["app_id"], seeded["api_key"]))
    operator = operator_for(signed=which != "signin", bypass_csp=True)
    open_page(operator, which, seeded)
    if which == "user":
        expect(operator.page.locator("#sessions tbody tr")).to_have_count(1)
    operator.page.add_script_tag(path=str(AXE))
    results = operator.page.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', "
        "'best-practice']}})")
    serious = [v for v in results["violations"] if v["impact"] in ("serious", "critical")]
    report = json.dumps([{"id": v["id"], "impact": v["impact"], "help": v["help"],
                          "nodes": [n["html"] for n in v["nodes"]][:5]}
                         for v in results["violations"]], indent=1)
    assert serious == [], f"axe violations on {which}:\n{report}"
    operator.check()


def test_every_page_stays_on_the_server_origin(operator: Operator,
                                               seeded: dict[str, str]) -> None:
    """Every main page of the dashboard (and the live view's refresh) requests nothing off the
    server's origin and logs no console error."""
    requested: list[str] = []
    operator.page.on("request", lambda r: requested.append(r.url))
    for which in PAGES:
        open_page(operator, which, seeded)
        if which == "live":
            with operator.page.expect_response(
                    lambda r: r.url.endswith("/dashboard/live.json") and r.status == 200,
                    timeout=LIVE_TIMEOUT_MS):
                pass
    assert any(url.endswith("/dashboard/static/dashboard.js") for url in requested)
    assert all(url.startswith(operator.dash.origin + "/") for url in requested), requested
    operator.check()
