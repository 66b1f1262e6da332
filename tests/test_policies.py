"""Real server: app policies, revocation, token expiry and failed-login limits."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from typing import Any, Iterator
from urllib.parse import quote

import aiohttp
import pytest
from conftest import api_caller, wait_until
from server_process import ServerProcess
from ws_client import assert_healthy, id_query, login, receive_frame, refusal


@pytest.fixture
def shop(server: ServerProcess) -> tuple[str, Any]:
    """A second app on the module's server, made with the CLI beside the running server."""
    result = server.run_cli("apps", "create", "shop")
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    call = api_caller(server)

    def shop_api(method: str, body: Any) -> tuple[int, Any]:
        return call(method, body, api_key=created["api_key"])

    return created["app_id"], shop_api


def query(app_id: str, user_id: str, token: str | None = None) -> str:
    return f"app_id={app_id}&user_id={quote(user_id)}" + (
        f"&access_token={quote(token)}" if token else "")


async def expect_closed_with(ws: aiohttp.ClientWebSocketResponse, message: str,
                             within: float) -> None:
    """The server pushes a stopping failure ack with ``message`` and closes, in time."""
    ack = await receive_frame(ws, within)
    assert ack["t"] == "users.auth.ack" and ack["d"]["error"] == {
        "code": "NOT_AUTHORIZED", "message": message}
    assert (await ws.receive(timeout=2)).type in (aiohttp.WSMsgType.CLOSE,
                                                  aiohttp.WSMsgType.CLOSED)


# app policies through the server API


def test_apps_get_and_update_policies(shop: tuple[str, Any]) -> None:
    """apps.get shows the policies (never a key); apps.update changes them and echoes the app."""
    app_id, shop_api = shop
    status, body = shop_api("apps.get", {})
    assert status == 200 and body["app"] == {
        "app_id": app_id, "name": "shop", "allowed_origins": [], "require_access_token": False,
        "created_at": body["app"]["created_at"]}
    status, body = shop_api("apps.update", {"require_access_token": True,
                                            "allowed_origins": ["https://shop.example"]})
    assert status == 200
    assert body["app"]["require_access_token"] is True
    assert body["app"]["allowed_origins"] == ["https://shop.example"]
    assert "api_key" not in json.dumps(body)


@pytest.mark.parametrize("body,code", [
    ({}, "NOTHING_TO_UPDATE"),
    ({"require_access_token": "yes"}, "INVALID_FIELD"),
    ({"allowed_origins": "https://a.example"}, "INVALID_FIELD"),
    ({"allowed_origins": ["https://a.example/path"]}, "INVALID_ORIGIN"),
    ({"allowed_origins": ["ftp://a.example"]}, "INVALID_ORIGIN"),
    ({"allowed_origins": [7]}, "INVALID_FIELD"),
    ({"allowed_origins": ["https://a.example"] * 101}, "INVALID_FIELD"),
])
def test_apps_update_rejects_bad_policies(shop: tuple[str, Any], body: Any, code: str) -> None:
    """Malformed policies get a 400 with a stable code, and change nothing."""
    _, shop_api = shop
    status, reply = shop_api("apps.update", body)
    assert status == 400 and reply["error"]["code"] == code
    assert shop_api("apps.get", {})[1]["app"]["allowed_origins"] == []


async def test_require_access_token_refuses_id_login_and_creates_nobody(
        http: Any, server: ServerProcess, shop: tuple[str, Any]) -> None:
    """With require_access_token, ID login is refused (and stops the SDK) and makes no user;
    token login still works."""
    app_id, shop_api = shop
    shop_api("apps.update", {"require_access_token": True})
    error = await refusal(http, server, query(app_id, "pol-walk-in"))
    assert error == {"code": "NOT_AUTHORIZED", "message": "This app requires an access token"}
    assert shop_api("users.get", {"id": "pol-walk-in"})[0] == 404
    created = shop_api("users.create", {"id": "pol-member"})[1]
    ack, ws = await login(http, server, query(app_id, "pol-member", created["access_token"]))
    assert ack["d"]["ok"] is True
    await ws.close()


async def test_policy_turned_on_refuses_resuming_an_id_session(
        http: Any, server: ServerProcess, shop: tuple[str, Any]) -> None:
    """A session key from an ID login stops working once the app requires tokens."""
    app_id, shop_api = shop
    ack, ws = await login(http, server, query(app_id, "pol-early"))
    key = ack["d"]["session_key"]
    await ws.close(code=1001)
    shop_api("apps.update", {"require_access_token": True})
    error = await refusal(http, server, f"session_key={quote(key)}")
    assert error["message"] == "This app requires an access token"


async def test_cli_policy_change_reaches_the_running_server(
        http: Any, server: ServerProcess, shop: tuple[str, Any]) -> None:
    """serve.py apps update in another process applies to the running server within seconds."""
    app_id, _ = shop
    result = server.run_cli("apps", "update", app_id, "--require-access-token")
    assert result.returncode == 0 and json.loads(result.stdout)["require_access_token"] is True
    deadline = time.monotonic() + 10
    while True:
        ack, ws = await login(http, server, query(app_id, "pol-cli"))
        await ws.close()
        if ack["d"]["ok"] is False or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert ack["d"]["error"]["message"] == "This app requires an access token"


async def test_allowed_origins_gate_the_websocket(http: Any, server: ServerProcess,
                                                  shop: tuple[str, Any]) -> None:
    """Listed origins, the server's own and origin-less clients connect; others are refused."""
    app_id, shop_api = shop
    shop_api("apps.update", {"allowed_origins": ["https://shop.example"]})
    url = f"{server.ws_url}?{query(app_id, 'pol-origin')}"
    for origin, ok in (("https://shop.example", True), (server.base_url, True), (None, True),
                       ("https://evil.example", False), ("null", False)):
        headers = {"Origin": origin} if origin else {}
        async with http.ws_connect(url, headers=headers) as ws:
            ack = await receive_frame(ws)
        assert ack["d"]["ok"] is ok, (origin, ack)
        if not ok:
            assert ack["d"]["error"] == {"code": "NOT_AUTHORIZED", "message":
                                         f"Origin {origin} is not allowed for this app"}


def test_cors_follows_the_allowed_origins(server: ServerProcess, shop: tuple[str, Any]) -> None:
    """The server API answers CORS for a listed origin only."""
    _, shop_api = shop
    shop_api("apps.update", {"allowed_origins": ["https://shop.example"]})
    for origin, allowed in (("https://shop.example", True), ("https://evil.example", False)):
        request = urllib.request.Request(f"{server.base_url}/api/2.0/users.create",
                                         method="OPTIONS", headers={"Origin": origin,
                                                  "Access-Control-Request-Method": "POST"})
        try:
            with urllib.request.urlopen(request, timeout=5) as reply:
                status, headers = reply.status, reply.headers
        except urllib.error.HTTPError as err:
            status, headers = err.code, err.headers
        assert (status == 204 and headers["Access-Control-Allow-Origin"] == origin) is allowed


# revocation and expiry


async def test_revoke_tokens_issued_before_a_time(http: Any, server: ServerProcess,
                                                  api: Any) -> None:
    """issued_before revokes the older tokens only; their live sessions end within 1 s with
    a stopping refusal, sessions on newer tokens stay."""
    api("users.create", {"id": "pol-rot"})
    old = api("users.tokens.issue", {"id": "pol-rot"})[1]
    await asyncio.sleep(0.05)
    cutoff = time.time()
    await asyncio.sleep(0.05)
    new = api("users.tokens.issue", {"id": "pol-rot"})[1]
    _, old_ws = await login(http, server, id_query(server, "pol-rot")
                            + f"&access_token={old['access_token']}")
    _, new_ws = await login(http, server, id_query(server, "pol-rot")
                            + f"&access_token={new['access_token']}")
    status, body = api("users.tokens.revoke", {"id": "pol-rot", "issued_before": cutoff})
    assert status == 200 and old["token"]["id"] in body["revoked"]
    assert new["token"]["id"] not in body["revoked"] and body["sessions_closed"] == 1
    await expect_closed_with(old_ws, "Access token revoked", within=1.0)
    await assert_healthy(new_ws)
    await new_ws.close()
    error = await refusal(http, server, id_query(server, "pol-rot")
                          + f"&access_token={old['access_token']}")
    assert error["message"] == "Access token revoked"


@pytest.mark.parametrize("body,code", [
    ({"id": "pol-rot2", "issued_before": "yesterday"}, "INVALID_FIELD"),
    ({"id": "pol-rot2", "issued_before": -1}, "INVALID_FIELD"),
    ({"id": "pol-rot2", "issued_before": True}, "INVALID_FIELD"),
    ({"id": "pol-rot2", "issued_before": 1, "token_id": "x"}, "INVALID_FIELD"),
])
def test_revoke_rejects_bad_cutoffs(api: Any, body: Any, code: str) -> None:
    """A malformed issued_before is a clear 400, and revokes nothing."""
    api("users.create", {"id": "pol-rot2"})
    status, reply = api("users.tokens.revoke", body)
    assert status == 400 and reply["error"]["code"] == code
    tokens = api("users.tokens.list", {"id": "pol-rot2"})[1]["tokens"]
    assert all(t["revoked_at"] is None for t in tokens)


async def test_session_on_an_expiring_token_ends_when_it_expires(
        http: Any, server: ServerProcess, api: Any) -> None:
    """A token with expires_in logs in until then; its session is ended at expiry with a
    distinct message, and the token is refused afterwards with the same message."""
    api("users.create", {"id": "pol-brief"})
    issued = api("users.tokens.issue", {"id": "pol-brief", "expires_in": 1.5})[1]
    ack, ws = await login(http, server, id_query(server, "pol-brief")
                          + f"&access_token={issued['access_token']}")
    assert ack["d"]["ok"] is True
    await expect_closed_with(ws, "Access token expired", within=3.0)
    error = await refusal(http, server, id_query(server, "pol-brief")
                          + f"&access_token={issued['access_token']}")
    assert error == {"code": "NOT_AUTHORIZED", "message": "Access token expired"}


async def test_ending_one_session_leaves_the_others(http: Any, server: ServerProcess,
                                                    api: Any) -> None:
    """users.sessions.end closes that session with a stopping refusal; the user's other
    session goes on, and the inventory says who, from where, with which token."""
    _, first = await login(http, server, id_query(server, "pol-two"))
    _, second = await login(http, server, id_query(server, "pol-two"))
    sessions = api("users.sessions.list", {"id": "pol-two"})[1]["sessions"]
    assert len(sessions) == 2
    assert {"session_id", "started_at", "remote_address", "user_agent", "token_id"} \
        <= set(sessions[0])
    assert sessions[0]["remote_address"] == "127.0.0.1" and sessions[0]["token_id"] is None
    status, body = api("users.sessions.end", {"id": "pol-two",
                                              "session_id": sessions[0]["session_id"]})
    assert status == 200 and body == {"ok": True, "sessions_closed": 1}
    await expect_closed_with(first, "Session ended by the server", within=1.0)
    await assert_healthy(second)
    await second.close()


# failed-login limits


async def test_brute_force_on_one_user_is_bounded_and_spares_others(
        http: Any, server: ServerProcess, api: Any) -> None:
    """After 10 wrong tokens for one user, even the right one waits (RATE_LIMITED, which the
    SDK retries later); another user from the same address still logs in."""
    right = api("users.create", {"id": "pol-target"})[1]["access_token"]
    for attempt in range(10):
        error = await refusal(http, server, id_query(server, "pol-target")
                              + f"&access_token=cct_guess-number-{attempt:04d}")
        assert error["message"] == "Invalid access token"
    error = await refusal(http, server, id_query(server, "pol-target")
                          + f"&access_token={right}")
    assert error["code"] == "RATE_LIMITED"
    assert error["message"].startswith(
        "Too many failed logins for this user from this address; try again in ")
    other = api("users.create", {"id": "pol-bystander"})[1]["access_token"]
    ack, ws = await login(http, server, id_query(server, "pol-bystander")
                          + f"&access_token={other}")
    assert ack["d"]["ok"] is True
    await ws.close()


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that allows 3 failed logins per address."""
    proc = ServerProcess(tmp_path_factory.mktemp("strict"),
                         options=("--failed-logins-per-address", "3"))
    proc.start()
    yield proc
    proc.stop()


async def test_failures_from_one_address_are_bounded(http: Any,
                                                     strict_server: ServerProcess) -> None:
    """Failures spread over many user IDs and wrong API keys add up per address: after the
    limit, logins and server-API calls from it wait, with a clear error and Retry-After."""
    server = strict_server
    call = api_caller(server)
    assert call("users.get", {"id": "x"}, api_key="cck_wrong-key-000000000000")[0] == 401
    for name in ("a", "b"):
        token = call("users.create", {"id": f"pol-{name}"})[1]["access_token"]
        error = await refusal(http, server, id_query(server, f"pol-{name}")
                              + f"&access_token={token}x")
        assert error["message"] == "Invalid access token"
    error = await refusal(http, server, id_query(server, "pol-c"))
    assert error["code"] == "RATE_LIMITED"
    assert error["message"].startswith("Too many failed logins from this address")
    request = urllib.request.Request(f"{server.base_url}/api/2.0/users.get", data=b"{}",
                                     method="POST", headers={"x-api-key": server.api_key})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 429 and int(refused.value.headers["Retry-After"]) > 0
    assert json.loads(refused.value.read())["error"]["code"] == "RATE_LIMITED"


async def test_secrets_never_reach_the_log(http: Any, server: ServerProcess, api: Any) -> None:
    """Tokens, session keys and API keys used in queries, headers and bodies are not in the
    server's log, whatever the request looked like."""
    token = api("users.create", {"id": "pol-log"})[1]["access_token"]
    issued = api("users.tokens.issue", {"id": "pol-log"})[1]["access_token"]
    ack, ws = await login(http, server, id_query(server, "pol-log") + f"&access_token={token}")
    await ws.close(code=1001)
    session_key = ack["d"]["session_key"]
    _, ws = await login(http, server, f"session_key={quote(session_key)}")
    await ws.close()
    for url in (f"{server.ws_url}?ACCESS_TOKEN={issued}&Session_Key={session_key}",
                f"{server.base_url}/chat/2.0?access_token={issued}&x={token}"):
        async with http.get(url) as reply:
            await reply.read()
    for key in (server.api_key, "cck_not-a-real-key-but-secret-000"):
        request = urllib.request.Request(f"{server.base_url}/api/2.0/users.get?api_key={key}",
                                         data=json.dumps({"id": "pol-log"}).encode(),
                                         method="POST", headers={"x-api-key": key})
        try:
            urllib.request.urlopen(request, timeout=5).read()
        except urllib.error.HTTPError:
            pass
    wait_until(lambda: "users.get" in server.log())
    log = server.log()
    for secret in (token, issued, session_key, server.api_key,
                   "cck_not-a-real-key-but-secret-000"):
        assert secret not in log
        assert quote(secret, safe="") not in log
