"""Screenshots of the operators' dashboard for the README, written to docs/screenshots/.

    .venv/bin/python docs/screenshots.py

It starts ``serve.py`` in a temporary directory (its own SQLite database, on a free port),
seeds it as a small deployment would look (two apps, users with display names, tokens, a few
live sessions of the real SDK, some failed logins, the audit entries an operator's changes
leave), signs in as an operator in Debian's Chromium and saves each main page at 1280×800:
``signin``, ``apps``, ``app``, ``users``, ``user``, ``live`` and ``audit`` (``.png``).
Nothing is fetched from anywhere but the local server and the local page of the SDK.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402
from sdk_page import open_sdk_page  # noqa: E402
from server_process import CHROMIUM, ServerProcess  # noqa: E402
from site_server import PageSite  # noqa: E402

from chatcamp_client import Client  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}
OPERATOR, PASSWORD = "maria", "a long passphrase for the screenshots"
SUPPORT_ORIGIN = "https://support.acme.example"
PLAYERS = [("nova-17", "Nova Reyes"), ("kai.tanaka", "Kai Tanaka"), ("lena_b", "Lena Brandt"),
           ("omar-h", "Omar Haddad"), ("priya", "Priya Nair"), ("sam.okafor", "Sam Okafor"),
           ("yuki", "Yuki Mori"), ("zoe-w", "Zoë Weber")]
AGENTS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36",
          "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36"]
"""What the live sessions' browsers call themselves (headless Chromium would say so)."""
LAUNCH_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
               "--disable-background-networking", "--disable-component-update",
               "--no-first-run", "--disable-sync"]


def cli(server: ServerProcess, *args: str, stdin: str = "") -> Any:
    done = subprocess.run(server.command(*args), cwd=ROOT, input=stdin, capture_output=True,
                          text=True, timeout=60)
    if done.returncode != 0:
        raise SystemExit(f"serve.py {' '.join(args)} failed: {done.stderr}")
    return json.loads(done.stdout)


def seed_before_start(server: ServerProcess) -> dict[str, tuple[str, str]]:
    """Two apps and an operator, made with the CLI as an operator would before a first start
    (so the server makes no "first app" of its own)."""
    apps = {}
    made = cli(server, "apps", "create", "Acme Support", "--allowed-origin", SUPPORT_ORIGIN,
               "--require-access-token")
    apps["support"] = (made["app_id"], made["api_key"])
    made = cli(server, "apps", "create", "Orbit Games")
    apps["games"] = (made["app_id"], made["api_key"])
    cli(server, "admin", "create", OPERATOR, stdin=PASSWORD + "\n")
    return apps


def seed_users(server: ServerProcess, apps: dict[str, tuple[str, str]]) -> dict[str, str]:
    """Users of both apps through the server API; the players' tokens, by user ID."""
    with Client(server.base_url, apps["support"][1]) as support:
        for user, name in [("agent-ines", "Inès Duval"), ("agent-tom", "Tom Becker"),
                           ("customer-4821", "Rita Gomez"), ("customer-4822", "Jon Park")]:
            support.users.create(user, display_name=name, check_access_token=True)
        support.users.tokens.issue("agent-ines", expires_in=86400)
    tokens = {}
    with Client(server.base_url, apps["games"][1]) as games:
        for user, name in PLAYERS:
            made = games.users.create(user, display_name=name,
                                      metadata={"level": len(name) * 3, "region": "eu"})
            tokens[user] = made["access_token"]
        games.users.tokens.issue("nova-17", expires_in=3600)
        games.users.tokens.revoke("omar-h")
    return tokens


def open_live_sessions(browser: Browser, server: ServerProcess, site: PageSite, app_id: str,
                       tokens: dict[str, str]) -> list[Any]:
    """The real SDK, connected as three players in browsers of their own, and two logins with
    a wrong token, for the live view's numbers."""
    contexts = []
    for n, user in enumerate(["nova-17", "kai.tanaka", "priya"]):
        context = browser.new_context(user_agent=AGENTS[n % len(AGENTS)])
        page = open_sdk_page(context.new_page(), site.origin, server.port, app_id)
        result = page.evaluate("([u, t]) => connectAs(u, t)", [user, tokens[user]])
        if "user" not in result:
            raise SystemExit(f"the SDK could not connect as {user}: {result}")
        contexts.append(context)
    for user in ["omar-h", "yuki"]:
        context = browser.new_context()
        page = open_sdk_page(context.new_page(), site.origin, server.port, app_id)
        page.evaluate("([u, t]) => connectAs(u, t)", [user, "not-the-right-token-0000"])
        context.close()
    return contexts


def sign_in(page: Page, server: ServerProcess) -> None:
    page.goto(f"{server.base_url}/dashboard/signin")
    page.get_by_label("Operator name").fill(OPERATOR)
    page.get_by_label("Password").fill("a wrong passphrase, once")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(f"Signed in as {OPERATOR}")).to_be_visible()


def operator_changes(page: Page, server: ServerProcess, apps: dict[str, tuple[str, str]]) -> None:
    """A few changes made in the dashboard, each of which leaves an audit entry."""
    page.on("dialog", lambda dialog: dialog.accept())
    support = f"{server.base_url}/dashboard/apps/{apps['support'][0]}"
    page.goto(support)
    page.get_by_role("button", name="Create a signing key").click()
    expect(page.get_by_role("heading", name="New signing key")).to_be_visible()
    page.goto(support)
    page.get_by_label("Allowed origins").fill(f"{SUPPORT_ORIGIN}\nhttps://help.acme.example")
    page.get_by_role("button", name="Save policies").click()
    expect(page.locator(".done")).to_be_visible()
    page.goto(f"{server.base_url}/dashboard/apps/{apps['games'][0]}/user?id=zoe-w")
    page.get_by_role("button", name="Issue a token").click()
    expect(page.get_by_role("heading", name="New access token")).to_be_visible()
    page.goto(f"{server.base_url}/dashboard/apps/{apps['games'][0]}/user?id=lena_b")
    page.get_by_role("button", name="Revoke all tokens").click()
    expect(page.locator(".done")).to_be_visible()


def shoot(page: Page, url: str, name: str, full_page: bool = True) -> Path:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    path = OUT / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as workdir:
        server = ServerProcess(Path(workdir))
        apps = seed_before_start(server)
        server.start()
        site = PageSite()
        try:
            tokens = seed_users(server, apps)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
                players = open_live_sessions(browser, server, site, apps["games"][0], tokens)
                context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
                page = context.new_page()
                base = f"{server.base_url}/dashboard"
                written = [shoot(page, f"{base}/signin", "signin", full_page=False)]
                sign_in(page, server)
                operator_changes(page, server, apps)
                games = f"{base}/apps/{apps['games'][0]}"
                written += [
                    shoot(page, f"{base}/apps", "apps"),
                    shoot(page, f"{base}/apps/{apps['support'][0]}", "app"),
                    shoot(page, f"{games}/users?q=&by=id", "users"),
                    shoot(page, f"{games}/user?id=nova-17", "user"),
                ]
                page.goto(f"{base}/live")
                with page.expect_response(lambda r: r.url.endswith("/dashboard/live.json")):
                    pass  # one refresh of the tiles and the chart
                page.screenshot(path=str(OUT / "live.png"), full_page=True,
                                animations="disabled")
                written.append(OUT / "live.png")
                written.append(shoot(page, f"{base}/audit", "audit"))
                for player in players:
                    player.close()
                browser.close()
        finally:
            site.close()
            server.stop()
    for path in written:
        print(f"{path.relative_to(ROOT)}  {path.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
