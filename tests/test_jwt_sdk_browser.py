"""Real browser: the unmodified SDK logs in with tokens the integrator's backend signs with
PyJWT, and is refused, revoked and ended at ``exp`` with the server's reason."""

from __future__ import annotations

import json
import time
from typing import Any, Callable

import jwt
import pytest
from conftest import api_caller, wait_until
from sdk_page import open_sdk_page
from server_process import ServerProcess

OPEN, CLOSED = 0, 3


@pytest.fixture(scope="module")
def signing_key(server: ServerProcess) -> dict[str, str]:
    """A signing key of the test app, as ``apps.signing_keys.create`` hands it out."""
    status, body = api_caller(server)("apps.signing_keys.create", {})
    assert status == 200, body
    return {"key_id": body["key_id"], "secret": body["secret"]}


def sign(key: dict[str, str], claims: dict[str, Any], **options: Any) -> str:
    """A token exactly as the README's backend snippet makes one."""
    return jwt.encode(claims, options.pop("secret", key["secret"]),
                      options.pop("algorithm", "HS256"),
                      headers={"kid": options.pop("kid", key["key_id"])})


def claims(user: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": user, "iat": now, "exp": now + 600, **extra}


def connect(page: Any, server: ServerProcess, site: Any, user: str, token: str) -> Any:
    open_sdk_page(page, site.origin, server.port, server.app_id)
    return page.evaluate("([u, t]) => connectAs(u, t)", [user, token])


def ended(page: Any) -> None:
    """The SDK has stopped for good: closed, not reconnecting."""
    wait_until(lambda: page.evaluate("state()") == CLOSED)
    assert page.evaluate("cc.isAutoReconnectEnabled()") is False


def test_sdk_logs_in_with_a_token_signed_with_pyjwt(page: Any, guard: Any, server: ServerProcess,
                                                    site: Any, api: Any,
                                                    signing_key: dict[str, str]) -> None:
    """A PyJWT token for an unknown user logs in through the unmodified SDK and creates the
    user, token-checked; the session rests on the key."""
    token = sign(signing_key, claims("jwt-amy"))
    result = connect(page, server, site, "jwt-amy", token)
    assert result == {"user": {"id": "jwt-amy", "displayName": "", "accessToken": token}}
    assert page.evaluate("state()") == OPEN
    sessions = api("users.sessions.list", {"id": "jwt-amy"})[1]["sessions"]
    assert [s["token_id"] for s in sessions] == ["jwt:" + signing_key["key_id"]]
    assert api("users.get", {"id": "jwt-amy"})[1]["user"]["check_access_token"] is True
    guard.check()


def _revoked_key_token(api: Any, user: str) -> str:
    made = api("apps.signing_keys.create", {})[1]
    assert api("apps.signing_keys.revoke", {"key_id": made["key_id"]})[0] == 200
    return sign({"key_id": made["key_id"], "secret": made["secret"]}, claims(user))


REFUSALS: list[tuple[str, Callable[[dict[str, str], Any, str], str], str, str]] = [
    ("bad signature", lambda k, api, u: sign(k, claims(u), secret="ccsk_" + "x" * 43),
     "Access token signature is invalid", "NOT_AUTHORIZED"),
    ("unknown key", lambda k, api, u: sign(k, claims(u), kid="no-such-key"),
     "Access token is signed with an unknown key", "NOT_AUTHORIZED"),
    ("revoked key", lambda k, api, u: _revoked_key_token(api, u),
     "Access token is signed with a revoked key", "TOKEN_REVOKED"),
    ("alg none", lambda k, api, u: sign(k, claims(u), algorithm="none", secret=None),
     "Access token must be signed with HS256", "NOT_AUTHORIZED"),
    ("alg HS512", lambda k, api, u: sign(k, claims(u), algorithm="HS512", secret="s" * 64),
     "Access token must be signed with HS256", "NOT_AUTHORIZED"),
    ("another user", lambda k, api, u: sign(k, claims("somebody-else")),
     "Access token is for another user", "NOT_AUTHORIZED"),
    ("expired", lambda k, api, u: sign(k, claims(u, exp=int(time.time()) - 5)),
     "Access token expired", "TOKEN_EXPIRED"),
    ("not yet valid", lambda k, api, u: sign(k, claims(u, nbf=int(time.time()) + 120)),
     "Access token is not valid yet", "NOT_AUTHORIZED"),
    ("issued in the future", lambda k, api, u: sign(k, claims(u, iat=int(time.time()) + 120)),
     "Access token is issued in the future", "NOT_AUTHORIZED"),
    ("malformed: no iat", lambda k, api, u: sign(k, {"sub": u}),
     "Access token is malformed", "NOT_AUTHORIZED"),
    ("over 4,096 characters", lambda k, api, u: sign(k, claims(u, pad="p" * 4000)),
     "Access token is longer than 4096 characters", "NOT_AUTHORIZED"),
]


@pytest.mark.parametrize("case, make, message, notice", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_each_refusal_reaches_the_sdk_with_its_reason(
        page: Any, guard: Any, server: ServerProcess, site: Any, api: Any,
        signing_key: dict[str, str], case: str, make: Any, message: str, notice: str) -> None:
    """Each bad signed token is refused with its own message (code NOT_AUTHORIZED, so the SDK
    stops), after a session.ended notice with the specific code."""
    user = "jwt-refused-" + case.split(":")[0].replace(" ", "-").replace(",", "")
    result = connect(page, server, site, user, make(signing_key, api, user))
    assert result == {"error": {"code": "NOT_AUTHORIZED", "message": message}}
    assert page.evaluate("notices") == [{"code": notice, "message": message}]
    ended(page)
    guard.check()


REVOCATIONS: list[tuple[str, str, Callable[[str, str], dict[str, Any]]]] = [
    ("key revoked", "apps.signing_keys.revoke", lambda key_id, user: {"key_id": key_id}),
    ("user's tokens revoked by time", "users.tokens.revoke",
     lambda key_id, user: {"id": user, "issued_before": time.time() + 1}),
    ("app's tokens revoked", "apps.tokens.revoke", lambda key_id, user: {}),
]


@pytest.mark.parametrize("case, method, request_for", REVOCATIONS,
                         ids=[r[0] for r in REVOCATIONS])
def test_revocations_end_live_signed_sessions_at_once(
        page: Any, guard: Any, server: ServerProcess, site: Any, case: str, method: str,
        request_for: Callable[[str, str], dict[str, Any]]) -> None:
    """Revoking the key, the user's tokens issued before a time, or the app's tokens ends a
    live session on a signed token at once, and the SDK stops, told TOKEN_REVOKED."""
    app = json.loads(server.run_cli("apps", "create", "jwt " + case).stdout)
    call = api_caller(server)
    made = call("apps.signing_keys.create", {}, app["api_key"])[1]
    key = {"key_id": made["key_id"], "secret": made["secret"]}
    user = "jwt-live"
    open_sdk_page(page, site.origin, server.port, app["app_id"])
    token = sign(key, claims(user))
    assert "user" in page.evaluate("([u, t]) => connectAs(u, t)", [user, token])
    assert call(method, request_for(key["key_id"], user), app["api_key"])[0] == 200
    ended(page)
    assert page.evaluate("notices")[-1]["code"] == "TOKEN_REVOKED"
    guard.check()


def test_a_session_on_a_signed_token_ends_at_exp(page: Any, guard: Any, server: ServerProcess,
                                                 site: Any, signing_key: dict[str, str]) -> None:
    """A session on a token with ``exp`` 2 s ahead ends then, told TOKEN_EXPIRED."""
    expires = int(time.time()) + 2
    user = "jwt-brief"
    assert "user" in connect(page, server, site, user,
                             sign(signing_key, claims(user, exp=expires)))
    wait_until(lambda: page.evaluate("state()") == CLOSED, timeout=10)
    assert time.time() >= expires
    assert page.evaluate("notices") == [{"code": "TOKEN_EXPIRED",
                                         "message": "Access token expired"}]
    ended(page)
    guard.check()
