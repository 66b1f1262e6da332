"""Real server: the server API, CORS, the demo integrator backend, assets and the access log."""

from __future__ import annotations

import gzip
import http.cookiejar
import json
import re
import urllib.error
import urllib.request
from typing import Any

import pytest
from server_process import ROOT, ServerProcess

from chatcamp_server.web.static_files import SCOPED_SDK_URL, SCOPED_SDK_WRAPPER


def http_call(url: str, method: str = "GET", body: bytes | None = None,
              headers: dict[str, str] | None = None,
              opener: urllib.request.OpenerDirector | None = None) -> tuple[int, Any, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with (opener or urllib.request.build_opener()).open(req, timeout=10) as reply:
            return reply.status, reply.headers, reply.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def test_create_get_update_like_the_iflychat_plugin(api: Any) -> None:
    """The plugin's sequence: get → 404, create with its own token and extra keys, get, update."""
    status, body = api("users.get", {"id": "plugin-user"})
    assert status == 404 and body["error"]["code"] == "USER_NOT_FOUND"
    token = "Q2hhdENhbXAtdG9rZW4tZnJvbS10aGUtcGx1Z2luLTQzYw"
    payload = {"id": "plugin-user", "display_name": "Plug", "avatar_url": "//cdn/x.png",
               "profile_url": "javascript:void(0)", "check_access_token": True,
               "access_token": token, "metadata": {"cc_user_roles": "{\"1\":\"admin\"}"},
               "api_key": "ignored", "app_id": "ignored", "version": "WP-4.7.1",
               "user_id": "ignored", "user_name": "ignored"}
    status, body = api("users.create", payload)
    assert status == 200 and body["access_token"] == token
    assert body["user"]["access_token"] == token and body["user"]["avatar_url"] == "//cdn/x.png"
    status, body = api("users.get", {"id": "plugin-user"})
    assert status == 200 and body["access_token"] == token
    assert body["user"]["metadata"] == {"cc_user_roles": "{\"1\":\"admin\"}"}
    assert body["user"]["profile_url"] == "javascript:void(0)"
    new = "another-token-from-the-plugin-0123456789abc"
    status, body = api("users.update", {**payload, "display_name": "Plug 2", "access_token": new})
    assert status == 200 and body["access_token"] == new and body["user"]["display_name"] == "Plug 2"
    assert api("users.get", {"id": "plugin-user"})[1]["access_token"] == new


def test_create_without_token_generates_one(api: Any) -> None:
    """users.create without access_token returns a generated, prefixed 256-bit token."""
    status, body = api("users.create", {"id": "gen-user"})
    assert status == 200 and re.fullmatch(r"cct_[A-Za-z0-9_-]{43}", body["access_token"])
    assert body["user"]["check_access_token"] is True


def test_token_api_issue_list_revoke(api: Any) -> None:
    """Issued tokens are shown once, listed without secrets, and revocable one by one."""
    api("users.create", {"id": "tok-user"})
    status, issued = api("users.tokens.issue", {"id": "tok-user", "expires_in": 3600})
    assert status == 200 and issued["access_token"].startswith("cct_")
    assert issued["token"]["expires_at"] is not None
    status, listed = api("users.tokens.list", {"id": "tok-user"})
    assert status == 200 and len(listed["tokens"]) == 2
    assert issued["access_token"] not in json.dumps(listed)
    status, revoked = api("users.tokens.revoke", {"id": "tok-user",
                                                  "token_id": issued["token"]["id"]})
    assert status == 200 and revoked["revoked"] == [issued["token"]["id"]]
    status, again = api("users.tokens.revoke", {"id": "tok-user",
                                                "token_id": issued["token"]["id"]})
    assert status == 404 and again["error"]["code"] == "TOKEN_NOT_FOUND"


@pytest.mark.parametrize("method,field", [("users.tokens.revoke", "token_id"),
                                          ("users.sessions.end", "session_id"),
                                          ("apps.signing_keys.revoke", "key_id")])
@pytest.mark.parametrize("value", ["tok\x00en", "\x1b[31m", "k" * 101])
def test_ids_the_server_never_makes_are_refused(api: Any, method: str, field: str,
                                                 value: str) -> None:
    """A token, session or key ID with a control character or of no length the server
    makes is a 400 before any lookup (PostgreSQL cannot even compare a NUL)."""
    api("users.create", {"id": "id-checks"})
    status, body = api(method, {"id": "id-checks", field: value})
    assert status == 400 and body["error"]["code"] == "INVALID_FIELD", body


@pytest.mark.parametrize("api_key", ["", "wrong-key", "cck_" + "A" * 43])
def test_wrong_or_missing_api_key_is_401(api: Any, api_key: str) -> None:
    """No key or a wrong key → 401 INVALID_API_KEY, whatever the method."""
    status, body = api("users.get", {"id": "x"}, api_key=api_key)
    assert status == 401 and body == {"ok": False, "error": {
        "code": "INVALID_API_KEY", "message": "a valid x-api-key header is required"}}


@pytest.mark.parametrize("body,status,code", [
    (b"{not json", 400, "INVALID_JSON"),
    (b"[1,2]", 400, "INVALID_JSON"),
    (b"\xff\xfe", 400, "INVALID_JSON"),
    (b"[" * 40000, 400, "INVALID_JSON"),
    (b'{"id": "' + b"x" * 70000 + b'"}', 413, "PAYLOAD_TOO_LARGE"),
    (b'{"id": 5}', 400, "INVALID_USER_ID"),
    (b'{"id": "ok", "display_name": 3}', 400, "INVALID_FIELD"),
    (b'{"id": "ok", "metadata": [1]}', 400, "INVALID_FIELD"),
    (b'{"id": "ok", "access_token": "short"}', 400, "INVALID_ACCESS_TOKEN"),
    (b'{"id": "ok", "check_access_token": "maybe"}', 400, "INVALID_FIELD"),
])
def test_bad_bodies_get_clear_json_errors(api: Any, body: bytes, status: int, code: str) -> None:
    """Malformed or invalid bodies get JSON errors with stable codes and the right status."""
    got_status, got = api("users.create", body)
    assert (got_status, got["error"]["code"]) == (status, code)
    assert got["ok"] is False and got["error"]["message"]


def test_form_encoded_body_of_the_old_api(api: Any, server: ServerProcess) -> None:
    """A 1.0-style form body (check_access_token=false as text) is understood."""
    status, _, raw = http_call(
        f"{server.base_url}/api/2.0/users.create", "POST",
        b"id=form-user&display_name=Form&check_access_token=false",
        {"x-api-key": server.api_key, "Content-Type": "application/x-www-form-urlencoded"})
    body = json.loads(raw)
    assert status == 200 and body["user"]["check_access_token"] is False


def test_unknown_method_and_wrong_verb(server: ServerProcess, api: Any) -> None:
    """Unknown methods are 404 UNKNOWN_METHOD; GET on the API is 405, both in JSON."""
    status, body = api("users.explode", {})
    assert status == 404 and body["error"]["code"] == "UNKNOWN_METHOD"
    status, _, raw = http_call(f"{server.base_url}/api/2.0/users.get")
    assert status == 405 and json.loads(raw)["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_cors_echoes_only_allowed_origins(server: ServerProcess) -> None:
    """The server's own origin is echoed with credentials; a foreign origin gets no CORS."""
    for origin, allowed in ((server.base_url, True), ("http://evil.example", False)):
        status, headers, _ = http_call(
            f"{server.base_url}/api/2.0/users.get", "OPTIONS",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "x-api-key, content-type"})
        assert (status == 204) is allowed
        assert (headers.get("Access-Control-Allow-Origin") == origin) is allowed
        if allowed:
            assert headers["Access-Control-Allow-Credentials"] == "true"
            assert "x-api-key" in headers["Access-Control-Allow-Headers"]
        status, headers, _ = http_call(f"{server.base_url}/api/2.0/users.get", "POST", b"{}",
                                       {"Origin": origin, "x-api-key": server.api_key})
        assert (headers.get("Access-Control-Allow-Origin") == origin) is allowed


def test_cors_for_an_origin_the_app_allows(server: ServerProcess) -> None:
    """An app created with --allowed-origin gets CORS for that origin on its own requests."""
    created = json.loads(server.run_cli("apps", "create", "cors-app", "--allowed-origin",
                                        "https://shop.example").stdout)
    status, headers, _ = http_call(f"{server.base_url}/api/2.0/users.get", "POST",
                                   b'{"id": "nobody"}', {"Origin": "https://shop.example", "Content-Type": "application/json",
                                                        "x-api-key": created["api_key"]})
    assert status == 404 and headers["Access-Control-Allow-Origin"] == "https://shop.example"
    status, headers, _ = http_call(f"{server.base_url}/api/2.0/users.get", "POST",
                                   b'{"id": "nobody"}', {"Origin": "https://shop.example", "Content-Type": "application/json",
                                                        "x-api-key": server.api_key})
    assert "Access-Control-Allow-Origin" not in headers


def test_client_api_uploads_answer_not_implemented(server: ServerProcess) -> None:
    """The SDK's upload paths get a JSON NOT_IMPLEMENTED, and their preflight succeeds."""
    status, headers, _ = http_call(
        f"{server.base_url}/client-api/2.0/files.upload", "OPTIONS",
        headers={"Origin": server.base_url, "Access-Control-Request-Method": "POST"})
    assert status == 204 and "x-session-key" in headers["Access-Control-Allow-Headers"]
    status, _, raw = http_call(f"{server.base_url}/client-api/2.0/files.upload", "POST", b"x")
    assert status == 501 and json.loads(raw)["error"]["code"] == "NOT_IMPLEMENTED"


@pytest.mark.parametrize("path,mime", [
    ("/vendor/pyodide/pyodide.asm.wasm", "application/wasm"),
    ("/vendor/pyodide/pyodide.mjs", "text/javascript"),
    ("/vendor/chatcamp/ChatCamp.min.js", "text/javascript"),
    ("/vendor/micropython/micropython.wasm", "application/wasm"),
    ("/vendor/pyscript/core.js", "text/javascript"),
    ("/", "text/html"),
])
def test_assets_are_served_with_their_mime_types(server: ServerProcess, path: str,
                                                 mime: str) -> None:
    """Browser assets from set-up are served with the types browsers and Pyodide insist on."""
    status, headers, _ = http_call(server.base_url + path, "HEAD")
    assert status == 200 and headers["Content-Type"].split(";")[0] == mime


def test_pyodide_http_wheel_is_served(server: ServerProcess) -> None:
    """Set-up fetched the pyodide-http wheel, and the server serves it."""
    status, _, _ = http_call(server.base_url + "/vendor/wheels/pyodide_http-0.2.2-py3-none-any.whl",
                             "HEAD")
    assert status == 200


def test_assets_are_gzipped_and_revalidated_by_etag(server: ServerProcess) -> None:
    """WebAssembly goes out gzip-compressed with an ETag; the same ETag back gets a 304."""
    url = server.base_url + "/vendor/micropython/micropython.wasm"
    original = (ROOT / "node_modules/@micropython/micropython-webassembly-pyscript"
                "/micropython.wasm").read_bytes()
    status, headers, raw = http_call(url, headers={"Accept-Encoding": "gzip, br"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(raw) == original and len(raw) < len(original) // 2
    assert headers["Vary"] == "Accept-Encoding" and headers["Cache-Control"] == "no-cache"
    status, _, raw = http_call(url, headers={"Accept-Encoding": "gzip",
                                             "If-None-Match": headers["ETag"]})
    assert status == 304 and raw == b""
    status, plain_headers, raw = http_call(url)
    assert status == 200 and raw == original and "Content-Encoding" not in plain_headers


def test_widget_sdk_is_the_unmodified_sdk_in_a_scope(server: ServerProcess) -> None:
    """The widget's SDK URL serves ChatCamp.min.js byte for byte inside a function that hides
    AMD and CommonJS names, to any origin."""
    status, headers, raw = http_call(server.base_url + SCOPED_SDK_URL,
                                     headers={"Origin": "https://shop.example"})
    original = (ROOT / "node_modules/chatcamp/ChatCamp.min.js").read_bytes()
    head, tail = SCOPED_SDK_WRAPPER
    assert status == 200 and raw == head.encode() + original + tail.encode()
    assert head.rstrip().endswith("(function (define, module, exports) {")
    assert headers["Content-Type"].startswith("text/javascript")
    assert headers["Access-Control-Allow-Origin"] == "*"


def test_widget_loader_is_served_to_any_origin(server: ServerProcess) -> None:
    """widget.js and the widget's Python are fetchable cross-origin, with script types."""
    for path, mime in (("/static/widget.js", "text/javascript"),
                       ("/static/chatcamp_widget.py", "text/x-python"),
                       ("/chatcamp_web/client.py", "text/x-python")):
        status, headers, _ = http_call(server.base_url + path,
                                       headers={"Origin": "https://shop.example"})
        assert status == 200 and headers["Content-Type"].split(";")[0] == mime
        assert headers["Access-Control-Allow-Origin"] == "*"


def test_no_path_escapes_the_served_folders(server: ServerProcess) -> None:
    """Traversal attempts never reach files outside the served folders."""
    for path in ("/vendor/chatcamp/../../serve.py", "/static/..%2f..%2fserve.py",
                 "/vendor/wheels/%2e%2e/%2e%2e/data/x", "/chatcamp_web/../README.md"):
        status, _, raw = http_call(server.base_url + path)
        assert status in (403, 404) and b"import" not in raw


# the demo integrator backend


def _browser() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(
        http.cookiejar.CookieJar()))


def test_demo_backend_hands_each_user_only_their_token(server: ServerProcess,
                                                       demo_api: Any) -> None:
    """Sign in → the backend provisions a token over the server API → only that user gets it."""
    status, _, raw = http_call(f"{server.base_url}/demo/token", opener=_browser())
    assert status == 401 and json.loads(raw)["error"]["code"] == "NOT_SIGNED_IN"
    tokens = {}
    for name in ("demo-ann", "demo-ben"):
        browser = _browser()
        status, headers, _ = http_call(f"{server.base_url}/demo/signin", "POST",
                                       json.dumps({"username": name}).encode(),
                                       {"Content-Type": "application/json"}, browser)
        assert status == 200 and "HttpOnly" in headers["Set-Cookie"]
        status, _, raw = http_call(f"{server.base_url}/demo/token", opener=browser)
        body = json.loads(raw)
        assert status == 200 and body["user_id"] == name
        assert body["app_id"] == server.demo_app()[0] != server.app_id
        again = json.loads(http_call(f"{server.base_url}/demo/token", opener=browser)[2])
        assert again["access_token"] == body["access_token"]
        tokens[name] = body["access_token"]
        assert demo_api("users.get", {"id": name})[1]["access_token"] == body["access_token"]
    assert tokens["demo-ann"] != tokens["demo-ben"]
    assert re.search(r'POST /api/2\.0/users\.create', server.log())


def test_demo_signin_rejects_bad_input(server: ServerProcess) -> None:
    """Bad sign-in bodies are clear JSON errors."""
    for body, ctype in ((b"{}", "application/json"), (b"[", "application/json"),
                        (b"username=x", "application/x-www-form-urlencoded"),
                        (json.dumps({"username": "x" * 200}).encode(), "application/json")):
        status, _, raw = http_call(f"{server.base_url}/demo/signin", "POST", body,
                                   {"Content-Type": ctype})
        assert status == 400 and json.loads(raw)["error"]["message"]
