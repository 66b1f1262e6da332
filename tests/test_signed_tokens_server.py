"""Real server: tokens an integrator's backend signs (JWTs), through the server API and the
chat socket: signing keys and their rotation, revocation by key and by time, the end of a
session at its token's exp, and the ``session.ended`` notice before each ending."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import quote

import jwt
from conftest import api_caller
from server_process import ServerProcess
from ws_client import assert_healthy, ended_by_server, login, refusal

KEY_REVOKED = "Access token is signed with a revoked key"
BEFORE_REVOCATION = "Access token was issued before a revocation"


def new_app(server: ServerProcess, name: str) -> tuple[str, Any]:
    """An app of the test's own, and a server-API caller keyed for it."""
    made = json.loads(server.run_cli("apps", "create", name).stdout)
    call = api_caller(server)
    return made["app_id"], lambda method, body: call(method, body, made["api_key"])


def sign(key: dict[str, Any], user_id: str, iat: float | None = None, **claims: Any) -> str:
    """What an integrator's backend does: five lines of PyJWT."""
    now = int(time.time()) if iat is None else int(iat)
    return jwt.encode({"sub": user_id, "iat": now, **claims}, key["secret"], "HS256",
                      headers={"kid": key["key_id"]})


def query(app_id: str, user_id: str, token: str) -> str:
    return f"app_id={app_id}&user_id={quote(user_id, safe='')}&access_token={quote(token)}"


def test_signing_keys_are_created_listed_and_revoked(server: ServerProcess) -> None:
    """create shows the secret once; list gives metadata only; revoke marks the key, a second
    revoke or an unknown key is 404, and past five active keys create is 409."""
    _, api = new_app(server, "keys")
    status, made = api("apps.signing_keys.create", {})
    assert status == 200 and made["ok"] is True
    assert made["secret"].startswith("ccsk_") and len(made["secret"]) >= 48
    assert set(made) == {"ok", "key_id", "secret", "created_at"}
    status, listed = api("apps.signing_keys.list", {})
    assert status == 200 and listed["signing_keys"] == [
        {"key_id": made["key_id"], "created_at": made["created_at"], "revoked_at": None}]
    assert made["secret"] not in json.dumps(listed)
    status, revoked = api("apps.signing_keys.revoke", {"key_id": made["key_id"]})
    assert status == 200 and revoked["key"]["revoked_at"] >= made["created_at"]
    assert revoked["sessions_closed"] == 0
    status, again = api("apps.signing_keys.revoke", {"key_id": made["key_id"]})
    assert status == 404 and again["error"]["code"] == "SIGNING_KEY_NOT_FOUND"
    assert api("apps.signing_keys.revoke", {})[0] == 400
    for _ in range(5):
        assert api("apps.signing_keys.create", {})[0] == 200
    status, capped = api("apps.signing_keys.create", {})
    assert status == 409 and capped["error"]["code"] == "TOO_MANY_SIGNING_KEYS"
    assert len(api("apps.signing_keys.list", {})[1]["signing_keys"]) == 6


def test_revocations_by_time_refuse_times_in_the_future(server: ServerProcess) -> None:
    """A revocation by time more than the 30 s leeway ahead would refuse every token signed
    until then: users.tokens.revoke and apps.tokens.revoke answer 400 and change nothing."""
    _, api = new_app(server, "future")
    assert api("users.create", {"id": "fut"})[0] == 200
    later = time.time() + 3600
    for method, body in (("users.tokens.revoke", {"id": "fut", "issued_before": later}),
                         ("apps.tokens.revoke", {"issued_before": later}),
                         ("apps.tokens.revoke", {"issued_before": "soon"})):
        status, answer = api(method, body)
        assert status == 400 and answer["error"]["code"] == "INVALID_FIELD", (method, answer)
    assert api("users.tokens.list", {"id": "fut"})[1]["tokens"][0]["revoked_at"] is None
    status, answer = api("apps.tokens.revoke", {"issued_before": time.time() + 5})
    assert status == 200 and answer["revoked"] == 1


async def test_rotation_two_keys_log_in_and_revoking_one_ends_its_sessions(
        http: Any, server: ServerProcess) -> None:
    """With two active keys both sign logins; revoking the old one ends its live session at
    once (TOKEN_REVOKED notice, then the stopping ack) and refuses its tokens, while the new
    key's session lives on."""
    app_id, api = new_app(server, "rotation")
    old = api("apps.signing_keys.create", {})[1]
    new = api("apps.signing_keys.create", {})[1]
    old_token = sign(old, "rot-ann", exp=time.time() + 600)
    ack, on_old = await login(http, server, query(app_id, "rot-ann", old_token))
    assert ack["d"]["ok"] is True and ack["d"]["user"]["access_token"] == old_token
    assert ack["d"]["user"]["check_access_token"] is True
    ack, on_new = await login(http, server, query(app_id, "rot-bob", sign(new, "rot-bob")))
    assert ack["d"]["ok"] is True
    status, revoked = api("apps.signing_keys.revoke", {"key_id": old["key_id"]})
    assert status == 200 and revoked["sessions_closed"] == 1
    ended = await ended_by_server(on_old)
    assert ended["d"]["error"] == {"code": "NOT_AUTHORIZED", "message": KEY_REVOKED}
    assert ended["notice"] == {"ok": True, "code": "TOKEN_REVOKED", "message": KEY_REVOKED}
    await assert_healthy(on_new)
    assert await refusal(http, server, query(app_id, "rot-ann", sign(old, "rot-ann"))) == {
        "code": "NOT_AUTHORIZED", "message": KEY_REVOKED}
    await on_new.close()


async def test_apps_tokens_revoke_ends_every_earlier_token_session(
        http: Any, server: ServerProcess) -> None:
    """apps.tokens.revoke ends the app's sessions on signed and stored tokens issued before
    it, leaves ID-only sessions, and later tokens log in."""
    app_id, api = new_app(server, "app-revoke")
    key = api("apps.signing_keys.create", {})[1]
    stored = api("users.create", {"id": "ar-stored"})[1]["access_token"]
    _, on_signed = await login(http, server, query(app_id, "ar-signed", sign(key, "ar-signed")))
    _, on_stored = await login(http, server, query(app_id, "ar-stored", stored))
    _, id_only = await login(http, server, f"app_id={app_id}&user_id=ar-walk-in")
    status, answer = api("apps.tokens.revoke", {})
    assert status == 200 and answer["revoked"] == 1 and answer["sessions_closed"] == 2
    for ws in (on_signed, on_stored):
        assert (await ended_by_server(ws))["notice"]["code"] == "TOKEN_REVOKED"
    await assert_healthy(id_only)
    assert (await refusal(http, server, query(app_id, "ar-signed", sign(
        key, "ar-signed", iat=answer["issued_before"] - 1))))["message"] == BEFORE_REVOCATION
    ack, later = await login(http, server, query(app_id, "ar-signed", sign(
        key, "ar-signed", iat=answer["issued_before"] + 1)))
    assert ack["d"]["ok"] is True
    await later.close()
    await id_only.close()


async def test_users_tokens_revoke_issued_before_ends_that_users_earlier_sessions(
        http: Any, server: ServerProcess) -> None:
    """users.tokens.revoke with issued_before ends the user's sessions on signed tokens
    issued earlier, not those issued later nor other users'."""
    app_id, api = new_app(server, "user-revoke")
    key = api("apps.signing_keys.create", {})[1]
    now = time.time()
    _, early = await login(http, server, query(app_id, "ur-ann", sign(key, "ur-ann", now - 100)))
    _, late = await login(http, server, query(app_id, "ur-ann", sign(key, "ur-ann", now)))
    _, other = await login(http, server, query(app_id, "ur-bob", sign(key, "ur-bob", now - 100)))
    status, answer = api("users.tokens.revoke", {"id": "ur-ann", "issued_before": now - 50})
    assert status == 200 and answer == {"ok": True, "revoked": [], "sessions_closed": 1}
    ended = await ended_by_server(early)
    assert ended["notice"] == {"ok": True, "code": "TOKEN_REVOKED",
                               "message": "Access token revoked"}
    await assert_healthy(late)
    await assert_healthy(other)
    refused = await refusal(http, server, query(app_id, "ur-ann", sign(key, "ur-ann", now - 60)))
    assert refused == {"code": "NOT_AUTHORIZED", "message": BEFORE_REVOCATION}
    await late.close()
    await other.close()


async def test_a_signed_session_ends_at_exp_and_its_token_is_then_refused(
        http: Any, server: ServerProcess) -> None:
    """A session on a token with exp ends at exp (TOKEN_EXPIRED notice, then the ack), and
    logging in or resuming with it afterwards is refused as expired."""
    app_id, api = new_app(server, "expiry")
    key = api("apps.signing_keys.create", {})[1]
    token = sign(key, "exp-ann", exp=time.time() + 2)
    ack, ws = await login(http, server, query(app_id, "exp-ann", token))
    assert ack["d"]["ok"] is True
    ended = await ended_by_server(ws, timeout=5)
    assert ended["notice"] == {"ok": True, "code": "TOKEN_EXPIRED",
                               "message": "Access token expired"}
    assert await refusal(http, server, query(app_id, "exp-ann", token)) == {
        "code": "NOT_AUTHORIZED", "message": "Access token expired"}


async def test_a_dropped_signed_session_resumes_and_an_expired_one_does_not(
        http: Any, server: ServerProcess) -> None:
    """The SDK's resume of a signed session verifies its token again: it resumes while the
    token is valid, and after exp it is refused as expired, not as Session Key Invalid."""
    app_id, api = new_app(server, "resume")
    key = api("apps.signing_keys.create", {})[1]
    ack, ws = await login(http, server, query(app_id, "res-ann",
                                              sign(key, "res-ann", exp=time.time() + 600)))
    ws._response.connection.transport.abort()  # a network drop
    resumed, ws2 = await login(http, server,
                               "session_key=" + quote(ack["d"]["session_key"], safe=""))
    assert resumed["d"]["ok"] is True and resumed["d"]["user"]["id"] == "res-ann"
    await ws2.close()
    expires = time.time() + 1.5
    ack, ws = await login(http, server, query(app_id, "res-bob",
                                              sign(key, "res-bob", exp=expires)))
    ws._response.connection.transport.abort()
    await asyncio.sleep(expires - time.time() + 0.1)  # waiting for the clock itself
    answer, ws3 = await login(http, server,
                              "session_key=" + quote(ack["d"]["session_key"], safe=""))
    await ws3.close()
    assert answer["d"]["error"] == {"code": "NOT_AUTHORIZED", "message": "Access token expired"}
    assert answer["notice"]["code"] == "TOKEN_EXPIRED"


async def test_signed_token_refusals_over_the_socket(http: Any, server: ServerProcess) -> None:
    """A token over 4,096 characters, another user's token and a wrong signature are refused
    with their reasons, each after its notice."""
    app_id, api = new_app(server, "refusals")
    key = api("apps.signing_keys.create", {})[1]
    huge = sign(key, "rf-ann", pad="x" * 4100)
    assert await refusal(http, server, query(app_id, "rf-ann", huge)) == {
        "code": "NOT_AUTHORIZED", "message": "Access token is longer than 4096 characters"}
    long_but_fine = sign(key, "rf-ann", pad="x" * 2500)
    assert 512 < len(long_but_fine) <= 4096
    ack, ws = await login(http, server, query(app_id, "rf-ann", long_but_fine))
    assert ack["d"]["ok"] is True
    await ws.close()
    assert (await refusal(http, server, query(app_id, "rf-bob", sign(key, "rf-ann"))))[
        "message"] == "Access token is for another user"
    forged = jwt.encode({"sub": "rf-ann", "iat": int(time.time())}, "ccsk_" + "f" * 43,
                        "HS256", headers={"kid": key["key_id"]})
    assert (await refusal(http, server, query(app_id, "rf-ann", forged)))[
        "message"] == "Access token signature is invalid"
