"""Real server: the holes an outside attacker found in a default install stay closed.

One test (or more) per finding of the attack on a fresh ``serve.py``: the demo backend, the
Host header, failed-login and new-user limits, frame sizes and rates, durable session ends,
tracebacks on request, file modes.  Connections that never finish are in
``test_connection_limits.py``; the revocation races are in ``test_revocation_races.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import stat
import struct
from pathlib import Path
from typing import Any, AsyncIterator, Iterator
from urllib.parse import quote

import aiohttp
import pytest
from conftest import api_caller
from server_process import ServerProcess
from ws_client import id_query, login, receive_frame, refusal, request


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server exactly as ``serve.py`` starts with no options."""
    proc = ServerProcess(tmp_path_factory.mktemp("plain"))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
async def elsewhere() -> AsyncIterator[aiohttp.ClientSession]:
    """A client whose connections come from 127.0.0.2: another address than the tests'."""
    async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))) as session:
        yield session


class Browser:
    """A cookie-keeping client of the demo backend."""

    def __init__(self, http: aiohttp.ClientSession, server: ServerProcess) -> None:
        self.http = http
        self.base = server.base_url

    async def post(self, path: str, body: Any) -> tuple[int, Any]:
        async with self.http.post(self.base + path, json=body) as reply:
            return reply.status, await reply.json()

    async def get(self, path: str) -> tuple[int, Any]:
        async with self.http.get(self.base + path) as reply:
            return reply.status, await reply.json()


@pytest.fixture
async def browsers(server: ServerProcess) -> AsyncIterator[list[Browser]]:
    """Two browsers with cookie jars of their own."""
    sessions = [aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
                for _ in range(2)]
    yield [Browser(s, server) for s in sessions]
    for s in sessions:
        await s.close()


# 1. the demo backend


async def test_demo_is_off_unless_asked_for(http: Any, plain: ServerProcess) -> None:
    """Without --demo there is no /demo: signing in or fetching a token is a 404."""
    for method, path in (("POST", "/demo/signin"), ("GET", "/demo/token"),
                         ("GET", "/demo/config")):
        async with http.request(method, plain.base_url + path, json={"username": "x"}) as reply:
            assert reply.status == 404, path
    assert len(plain.run_cli("apps", "list").stdout.splitlines()) == 1


async def test_demo_never_hands_out_a_token_of_a_user_it_did_not_create(
        server: ServerProcess, api: Any, demo_api: Any, browsers: list[Browser],
        http: Any) -> None:
    """The demo's app is its own; a name that exists there without the demo having made it is
    refused, and the integrator's user of that name keeps its token."""
    demo_app_id = server.demo_app()[0]
    assert demo_app_id != server.app_id
    victim_token = api("users.create", {"id": "demo-victim"})[1]["access_token"]
    browser = browsers[0]
    assert (await browser.post("/demo/signin", {"username": "demo-victim"}))[0] == 200
    status, body = await browser.get("/demo/token")
    assert status == 200 and body["app_id"] == demo_app_id
    assert body["access_token"] != victim_token
    ack, ws = await login(http, server, id_query(server, "demo-victim")
                          + f"&access_token={quote(victim_token)}")
    assert ack["d"]["ok"] is True
    await ws.close()
    ack, ws = await login(http, server, f"app_id={demo_app_id}&user_id=demo-walk-in")
    assert ack["d"]["ok"] is True
    await ws.close()
    assert (await browser.post("/demo/signin", {"username": "demo-walk-in"}))[0] == 200
    status, body = await browser.get("/demo/token")
    assert status == 409 and body["error"]["code"] == "USERNAME_TAKEN"
    assert demo_api("users.get", {"id": "demo-walk-in"})[1]["user"]["check_access_token"] is False


async def test_a_demo_name_belongs_to_the_browser_that_first_used_it(
        browsers: list[Browser]) -> None:
    """A second browser cannot sign in under a name the first one holds, so it never gets
    that user's token; the first browser can sign out and back in."""
    first, second = browsers
    assert (await first.post("/demo/signin", {"username": "demo-dana"}))[0] == 200
    token = (await first.get("/demo/token"))[1]["access_token"]
    status, body = await second.post("/demo/signin", {"username": "demo-dana"})
    assert status == 409 and body["error"]["code"] == "USERNAME_TAKEN"
    assert (await second.get("/demo/token"))[0] == 401
    assert (await first.post("/demo/signout", {}))[0] == 200
    assert (await first.get("/demo/token"))[0] == 401
    assert (await first.post("/demo/signin", {"username": "demo-dana"}))[0] == 200
    assert (await first.get("/demo/token"))[1]["access_token"] == token


async def test_demo_short_lived_tokens_expire_and_are_new_each_time(
        server: ServerProcess, demo_api: Any, browsers: list[Browser]) -> None:
    """``/demo/token?ttl=N`` hands the signed-in user a new token each time, issued to
    expire in N seconds; a ttl that is not 1 to 86400 whole seconds is refused."""
    browser = browsers[0]
    assert (await browser.post("/demo/signin", {"username": "demo-brief"}))[0] == 200
    status, first = await browser.get("/demo/token?ttl=60")
    assert status == 200 and first["expires_in"] == 60
    second = (await browser.get("/demo/token?ttl=60"))[1]
    assert second["access_token"] != first["access_token"]
    issued = [t for t in demo_api("users.tokens.list", {"id": "demo-brief"})[1]["tokens"]
              if t["kind"] == "issued"]
    assert len(issued) == 2 and all(59 <= t["expires_at"] - t["created_at"] <= 60
                                    for t in issued)
    for ttl in ("0", "-5", "1.5", "86401", "abc"):
        status, body = await browser.get(f"/demo/token?ttl={ttl}")
        assert status == 400 and body["error"]["code"] == "INVALID_TTL", ttl


def test_apps_made_before_the_first_start_mean_no_extra_app(tmp_path: Path) -> None:
    """After ``apps create``, the first start (demo on) makes only the demo's own app, and
    prints no first app; without the demo it makes none at all."""
    proc = ServerProcess(tmp_path, options=("--demo",))
    made = json.loads(proc.run_cli("apps", "create", "mine", "--require-access-token").stdout)
    proc.start()
    proc.stop()
    apps = [json.loads(line) for line in proc.run_cli("apps", "list").stdout.splitlines()]
    assert [a["name"] for a in apps] == ["mine", "demo (serve.py --demo)"]
    assert apps[0]["app_id"] == made["app_id"] and apps[0]["require_access_token"] is True
    assert not any("first app" in line for line in proc.output)
    assert not Path(str(proc.db) + ".first-app.json").exists()


def test_first_start_keeps_the_api_key_off_standard_output(tmp_path: Path) -> None:
    """The first app's API key goes to a 0600 file beside the database, never to the output
    a service manager logs; the output names the app and the file."""
    proc = ServerProcess(tmp_path)
    proc.start()
    proc.stop()
    credentials = Path(str(proc.db) + ".first-app.json")
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    printed = "".join(proc.output) + proc.log()
    assert proc.api_key and proc.api_key not in printed
    assert proc.app_id in printed and str(credentials) in printed
    proc.start()
    try:
        status, body = api_caller(proc)("apps.get", {})
        assert status == 200 and body["app"]["app_id"] == proc.app_id
    finally:
        proc.stop()


# 2 and 6: ending sessions


async def test_new_profile_token_and_check_access_token_end_live_sessions(
        http: Any, server: ServerProcess, api: Any) -> None:
    """users.update with a new access_token ends the sessions on the old one; switching
    check_access_token on ends the user's ID-only sessions."""
    old = api("users.create", {"id": "safe-rotated"})[1]["access_token"]
    _, on_token = await login(http, server, id_query(server, "safe-rotated")
                              + f"&access_token={quote(old)}")
    assert api("users.update", {"id": "safe-rotated", "access_token": "n" * 20})[0] == 200
    pushed = await receive_frame(on_token)
    assert pushed["d"]["error"] == {"code": "NOT_AUTHORIZED", "message": "Access token revoked"}
    ack, id_only = await login(http, server, id_query(server, "safe-switched"))
    assert ack["d"]["ok"] is True
    assert api("users.update", {"id": "safe-switched", "check_access_token": True})[0] == 200
    pushed = await receive_frame(id_only)
    assert pushed["d"]["error"]["message"] == "An access token is required for this user"
    error = await refusal(http, server, "session_key=" + quote(ack["d"]["session_key"]))
    assert error["message"] == "Session Key Invalid"


async def test_requiring_tokens_ends_an_apps_id_only_sessions(http: Any,
                                                               plain: ServerProcess) -> None:
    """apps.update turning require_access_token on ends the app's live sessions that have no
    token at once, and leaves those on a token."""
    made = json.loads(plain.run_cli("apps", "create", "switching").stdout)
    api = api_caller(plain)
    token = api("users.create", {"id": "safe-holder"}, made["api_key"])[1]["access_token"]
    query = f"app_id={made['app_id']}&user_id="
    _, id_only = await login(http, plain, query + "safe-walk-in")
    _, on_token = await login(http, plain, query + f"safe-holder&access_token={quote(token)}")
    status, _ = api("apps.update", {"require_access_token": True}, made["api_key"])
    assert status == 200
    pushed = await receive_frame(id_only)
    assert pushed["d"]["error"] == {"code": "NOT_AUTHORIZED",
                                    "message": "This app requires an access token"}
    assert (await request(on_token, {"t": "users.update", "d": {"data": "x"}, "r": 1})
            )["d"]["ok"] is True
    await on_token.close()


async def test_an_ended_session_stays_ended_after_kill_9(http: Any, tmp_path: Path) -> None:
    """users.sessions.end answers only once the end is durable: killed right after, the
    restarted server refuses every ended session's key."""
    proc = ServerProcess(tmp_path)
    proc.start()
    try:
        api = api_caller(proc)
        keys = []
        for n in range(5):
            ack, ws = await login(http, proc, id_query(proc, f"safe-ended-{n}"))
            keys.append(ack["d"]["session_key"])
            session = api("users.sessions.list", {"id": f"safe-ended-{n}"})[1]["sessions"][0]
            status, _ = api("users.sessions.end", {"id": f"safe-ended-{n}",
                                                   "session_id": session["session_id"]})
            assert status == 200
        proc.stop(signal.SIGKILL)
        proc.start()
        for key in keys:
            error = await refusal(http, proc, "session_key=" + quote(key))
            assert error["message"] == "Session Key Invalid"
    finally:
        proc.stop()


# 3. frames: size before parsing, no compression, a rate per session


async def test_compression_is_declined(http: Any, server: ServerProcess) -> None:
    """A client offering permessage-deflate gets an uncompressed socket, so no small frame can
    inflate to the transport limit."""
    ws = await http.ws_connect(f"{server.ws_url}?{id_query(server, 'safe-deflate')}",
                               compress=15)
    assert ws.compress == 0
    await ws.close()


async def test_a_flood_of_requests_gets_rate_limited_acks(http: Any,
                                                          server: ServerProcess) -> None:
    """Past its burst a session's requests get RATE_LIMITED error acks addressed to them, and
    are not served; the session is served again once its budget refills."""
    _, ws = await login(http, server, id_query(server, "safe-flood"))
    for rid in range(1, 101):
        await ws.send_str(json.dumps({"t": "users.update", "d": {"data": str(rid)}, "r": rid}))
    replies = [json.loads((await ws.receive(timeout=5)).data) for _ in range(100)]
    assert [r["to"] for r in replies] == list(range(1, 101))
    limited = [r for r in replies if not r["d"]["ok"]]
    assert 40 <= 100 - len(limited) < 60
    assert {r["d"]["error"]["code"] for r in limited} == {"RATE_LIMITED"}
    served = max(r["to"] for r in replies if r["d"]["ok"])
    await asyncio.sleep(0.5)  # the budget refills with time itself: 10 requests' worth
    reply = await request(ws, {"t": "users.update", "d": {"data": "later"}, "r": 500})
    assert reply["d"]["ok"] is True and reply["d"]["user"]["data"] == "later"
    assert served > 1
    await ws.close()


# 5. the server's own origin comes from configuration, not from the Host header


async def test_a_foreign_host_is_refused_everywhere(http: Any, server: ServerProcess,
                                                    api: Any) -> None:
    """With allowed origins set, a request naming Host evil.example and Origin of the same
    host gets neither a session nor credentialed CORS: 421 for every path."""
    assert api("apps.update", {"allowed_origins": ["https://shop.example"]})[0] == 200
    try:
        evil = f"evil.example:{server.port}"
        headers = {"Host": evil, "Origin": f"http://{evil}"}
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{server.ws_url}?{id_query(server, 'safe-rebound')}",
                                  headers=headers)
        assert refused.value.status == 421
        async with http.post(f"{server.base_url}/api/2.0/apps.get", json={},
                             headers={**headers, "x-api-key": server.api_key}) as reply:
            assert reply.status == 421
            assert "Access-Control-Allow-Origin" not in reply.headers
            assert (await reply.json())["error"]["code"] == "UNKNOWN_HOST"
        async with http.get(f"{server.base_url}/", headers=headers) as reply:
            assert reply.status == 421
        own = f"http://127.0.0.1:{server.port}"
        ack, ws = await login(http, server, id_query(server, "safe-own-page"))
        await ws.close()
        ws = await http.ws_connect(f"{server.ws_url}?{id_query(server, 'safe-own-page')}",
                                   headers={"Origin": own})
        assert (await receive_frame(ws))["d"]["ok"] is True
        await ws.close()
    finally:
        api("apps.update", {"allowed_origins": []})


async def test_public_origin_names_the_host_browsers_use(http: Any, tmp_path: Path) -> None:
    """With --public-origin, that origin's Host is served and its pages may connect under an
    allowlist; the listening address's own name is then refused."""
    proc = ServerProcess(tmp_path, options=("--public-origin", "https://chat.example"))
    proc.start()
    try:
        api = api_caller(proc)
        async with http.get(f"{proc.base_url}/api/2.0/openapi.json") as reply:
            assert reply.status == 421
        host = {"Host": "chat.example"}
        async with http.post(f"{proc.base_url}/api/2.0/apps.update",
                             json={"allowed_origins": ["https://shop.example"]},
                             headers={**host, "x-api-key": proc.api_key}) as reply:
            assert reply.status == 200
        for origin, ok in (("https://chat.example", True), ("https://shop.example", True),
                           ("https://evil.example", False)):
            ws = await http.ws_connect(f"{proc.ws_url}?{id_query(proc, 'safe-public')}",
                                       headers={**host, "Origin": origin})
            assert (await receive_frame(ws))["d"]["ok"] is ok, origin
            await ws.close()
        assert api("apps.get", {})[0] == 421
    finally:
        proc.stop()


# 7. no tracebacks on request


def test_hanging_up_during_the_upgrade_logs_no_traceback(server: ServerProcess) -> None:
    """Clients that reset the connection right after sending an upgrade leave no ERROR and no
    traceback in the log, and the server keeps serving."""
    upgrade = (f"GET /chat/2.0?{id_query(server, 'safe-hangup')} HTTP/1.1\r\n"
               f"Host: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
               "\r\n").encode()
    for _ in range(30):
        conn = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.sendall(upgrade)
        conn.close()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(f"GET /api/2.0/openapi.json HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                     "Connection: close\r\n\r\n".encode())
        assert conn.recv(12) == b"HTTP/1.1 200"
    log = server.log()
    assert "Traceback" not in log and " ERROR " not in log, log[-2000:]


async def test_hidden_and_impossible_file_names_are_404(http: Any, server: ServerProcess) -> None:
    """Dotfiles in served folders are not served; names with NUL or over-long parts are a
    plain 404, with nothing in the log."""
    for path in ("/vendor/wheels/.installed", "/static/%00x.js", "/static/" + "a" * 300):
        async with http.get(server.base_url + path) as reply:
            assert reply.status == 404, path
    log = server.log()
    assert "Traceback" not in log and " ERROR " not in log


# 8. files only this user can read


def test_database_and_secret_files_are_private(tmp_path: Path) -> None:
    """The database, its WAL and SHM, and the secret are created 0600; a database an older
    version left 0644 is tightened at start."""
    older, fresh = tmp_path / "older", tmp_path / "fresh"
    older.mkdir()
    fresh.mkdir()
    old_db = older / "chat.sqlite3"
    old_db.touch(mode=0o644)
    os.chmod(old_db, 0o644)
    for workdir in (fresh, older):
        proc = ServerProcess(workdir)
        proc.start()
        try:
            files = [proc.db, Path(f"{proc.db}-wal"), Path(f"{proc.db}-shm"),
                     Path(f"{proc.db}.secret")]
            for file in files:
                assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
        finally:
            proc.stop()


# 9. lockouts, new users


async def test_wrong_tokens_from_one_address_do_not_lock_the_user_out_elsewhere(
        http: Any, elsewhere: Any, plain: ServerProcess) -> None:
    """Ten wrong tokens from 127.0.0.2 make that address wait for that user; the user still
    logs in from 127.0.0.1 with the right token."""
    api = api_caller(plain)
    right = api("users.create", {"id": "safe-locked"})[1]["access_token"]
    for attempt in range(10):
        error = await refusal(elsewhere, plain, id_query(plain, "safe-locked")
                              + f"&access_token=cct_guess-{attempt:04d}-xxxxxxxx")
        assert error["message"] == "Invalid access token"
    error = await refusal(elsewhere, plain, id_query(plain, "safe-locked")
                          + f"&access_token={right}")
    assert error["code"] == "RATE_LIMITED"
    ack, ws = await login(http, plain, id_query(plain, "safe-locked") + f"&access_token={right}")
    assert ack["d"]["ok"] is True
    await ws.close()


async def test_new_users_per_address_are_bounded(http: Any, elsewhere: Any,
                                                 tmp_path: Path) -> None:
    """Past --new-users-per-address, ID logins that would create a user are refused with
    RATE_LIMITED and create nobody; existing users and other addresses are untouched."""
    proc = ServerProcess(tmp_path, options=("--new-users-per-address", "3"))
    proc.start()
    try:
        for n in range(3):
            ack, ws = await login(http, proc, id_query(proc, f"safe-new-{n}"))
            assert ack["d"]["ok"] is True
            await ws.close()
        error = await refusal(http, proc, id_query(proc, "safe-new-3"))
        assert error["code"] == "RATE_LIMITED" and "new users" in error["message"]
        assert api_caller(proc)("users.get", {"id": "safe-new-3"})[0] == 404
        ack, ws = await login(http, proc, id_query(proc, "safe-new-0"))
        assert ack["d"]["ok"] is True
        await ws.close()
        ack, ws = await login(elsewhere, proc, id_query(proc, "safe-new-3"))
        assert ack["d"]["ok"] is True
        await ws.close()
    finally:
        proc.stop()
