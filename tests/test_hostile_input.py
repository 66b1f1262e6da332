"""Real server: hundreds of hostile frames, connect queries, server-API bodies and headers.

Every case must get a clear, structured refusal (an error ack, a failure ack, or a JSON error
with a stable code), or, for a frame without a request ID, no reply at all; never a stack
trace, and the server keeps serving. The log is checked for unhandled errors at the end.
"""

from __future__ import annotations

import json
import re
import socket
from typing import Any, Iterator

import pytest
from server_process import ServerProcess
from ws_client import id_query, login, refusal, request


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """This module's own server, with the per-address login limit off: the cases here test
    the parsers, and hundreds of refusals from one address would otherwise lock it out."""
    proc = ServerProcess(tmp_path_factory.mktemp("hostile"),
                         options=("--failed-logins-per-address", "0"))
    proc.start()
    yield proc
    log = proc.log()
    assert "Traceback" not in log, log[-3000:]
    assert "t" * 100 not in log, "a token from an over-long URL reached the log"
    proc.stop()


# frames: (frame, expected error code, or None when no reply is due)

NO_REPLY = None
FRAMES: list[tuple[str, str | None]] = [
    ("", NO_REPLY), (" ", NO_REPLY), ("null", NO_REPLY), ("true", NO_REPLY), ("0", NO_REPLY),
    ("[]", NO_REPLY), ('"t"', NO_REPLY), ("{", NO_REPLY), ("}", NO_REPLY), ("{]", NO_REPLY),
    ('{"t": "users.update"', NO_REPLY), ("\x00", NO_REPLY), ("\ufeff{}", NO_REPLY),
    ("NaN", NO_REPLY), ("[" * 5000 + "]" * 5000, NO_REPLY), ('{"a":' * 3000 + "1" + "}" * 3000,
                                                             NO_REPLY),
    ("{}", NO_REPLY), ('{"r": 1}', "INVALID_FRAME"), ('{"t": null, "r": 2}', "INVALID_FRAME"),
    ('{"t": 5, "r": 3}', "INVALID_FRAME"), ('{"t": "", "r": 4}', "INVALID_FRAME"),
    ('{"t": ["users.update"], "r": 5}', "INVALID_FRAME"),
    (json.dumps({"t": "x" * 129, "r": 6}), "INVALID_FRAME"),
    ('{"t": "users.update", "d": [], "r": 7}', "INVALID_FRAME"),
    ('{"t": "users.update", "d": "x", "r": 8}', "INVALID_FRAME"),
    ('{"t": "users.update", "d": 1, "r": 9}', "INVALID_FRAME"),
    ('{"t": "users.update", "d": null, "r": 10}', "INVALID_FRAME"),
    ('{"t": "users.update", "d": {}, "r": -1}', NO_REPLY),
    ('{"t": "users.update", "d": {}, "r": 0}', NO_REPLY),
    ('{"t": "users.update", "d": {}, "r": 1.5}', NO_REPLY),
    ('{"t": "users.update", "d": {}, "r": "11"}', NO_REPLY),
    ('{"t": "users.update", "d": {}, "r": true}', NO_REPLY),
    ('{"t": "users.update", "d": {}, "r": 9007199254740992}', NO_REPLY),
    ('{"t": "users.update", "d": {}, "r": 1e400}', NO_REPLY),
    ('{"t": "ping", "r": 12}', NO_REPLY), ('{"t": "ping"}', NO_REPLY),
    ('{"t": "group_channels.list", "r": 13}', "NOT_IMPLEMENTED"),
    ('{"t": "open_channels.get", "d": {"id": "x"}, "r": 14}', "NOT_FOUND"),
    ('{"t": "open_channels.get", "d": {"id": ["x"]}, "r": 14}', "INVALID_CHANNEL_ID"),
    ('{"t": "open_channels.message", "d": {"id": "x", "text": "hi"}, "r": 14}', "NOT_FOUND"),
    ('{"t": "open_channels.history", "d": {"id": "x", "limit": 10000}, "r": 14}',
     "INVALID_LIMIT"),
    ('{"t": "group_channels.ban", "d": {"id": "x"}, "r": 14}', "NOT_IMPLEMENTED"),
    ('{"t": "messages.create", "r": 15}', "NOT_IMPLEMENTED"),
    ('{"t": "users.auth", "r": 16}', "NOT_IMPLEMENTED"),
    ('{"t": "users.update.ack", "r": 17}', "NOT_IMPLEMENTED"),
    ('{"t": "__proto__", "r": 18}', "NOT_IMPLEMENTED"),
    ('{"t": "constructor", "r": 19}', "NOT_IMPLEMENTED"),
    ('{"t": "users.update\\u0000", "r": 20}', "NOT_IMPLEMENTED"),
    ('{"t": "\\ud800", "r": 21}', "INVALID_FRAME"),
    ('{"t": "users.update", "d": {"id": "someone-else"}, "r": 22}', "NOT_AUTHORIZED"),
    ('{"t": "users.update", "d": {"id": 5}, "r": 23}', "NOT_AUTHORIZED"),
    ('{"t": "users.update", "d": {"id": null}, "r": 24}', "NOT_AUTHORIZED"),
    (json.dumps({"t": "users.update", "d": {"x": "y" * 70_000}, "r": 25}), "PAYLOAD_TOO_LARGE"),
    (json.dumps({"t": "users.update", "d": {}, "pad": "é" * 40_000, "r": 26},
                ensure_ascii=False), "PAYLOAD_TOO_LARGE"),
    (json.dumps({"d": {}, "pad": "x" * 70_000, "r": 27}), "PAYLOAD_TOO_LARGE"),
    (json.dumps({"t": "users.update", "r": 28, "pad": "x" * 70_000}), NO_REPLY),
    ('{"t": "users.update", "t": "ping", "r": 28}', NO_REPLY),
    ('{"t": "users.update", "r": 29, "r": 30}', "OK"),
]
for index, field in enumerate(("display_name", "avatar_url", "profile_url", "data")):
    base = 100 + 10 * index
    FRAMES += [
        (json.dumps({"t": "users.update", "d": {field: 5}, "r": base}), "INVALID_FIELD"),
        (json.dumps({"t": "users.update", "d": {field: []}, "r": base + 1}), "INVALID_FIELD"),
        (json.dumps({"t": "users.update", "d": {field: {}}, "r": base + 2}), "INVALID_FIELD"),
        (json.dumps({"t": "users.update", "d": {field: True}, "r": base + 3}), "INVALID_FIELD"),
        (json.dumps({"t": "users.update", "d": {field: "a\u0000b"}, "r": base + 4}),
         "INVALID_FIELD"),
        ('{"t": "users.update", "d": {"%s": "\\udc00"}, "r": %d}' % (field, base + 5),
         "INVALID_FIELD"),
        (json.dumps({"t": "users.update", "d": {field: "x" * 20_000}, "r": base + 6}),
         "PAYLOAD_TOO_LARGE"),
        (json.dumps({"t": "users.update", "d": {field: 1.5}, "r": base + 7}), "INVALID_FIELD"),
    ]
FRAMES += [
    (json.dumps({"t": "users.update", "d": {"metadata": value}, "r": 200 + n}), code)
    for n, (value, code) in enumerate([
        (5, "INVALID_FIELD"), ([], "INVALID_FIELD"), ("not json", "INVALID_FIELD"),
        ("[1]", "INVALID_FIELD"), (True, "INVALID_FIELD"), ({"k": "x" * 17_000},
                                                           "PAYLOAD_TOO_LARGE"),
        ({"k": "a\u0000"}, "INVALID_FIELD"), ("5", "INVALID_FIELD")])
]
FRAMES += [(f, NO_REPLY) for f in (
    '{"t": "users.update", "d": {"display_name": 5}}',
    '{"t": "users.update", "d": {"display_name": "\\u0000"}}',
    '{"t": "nope"}', '{"t": "users.update", "d": []}', '{"d": {}}',
    '{"t": "users.update", "r": null}', '\t\n', "\u2028", "😀", "'single'",
    '{"t": "users.update", "d": {}, "r": "1"}', '{"t": "x", "r": []}', '{"t": "x", "r": {}}',
    "[" * 100_000, '{"t": "users.update", "d": {"metadata": "{"}}',
)]
FRAMES += [
    (json.dumps({"t": f"users.update.{n}", "r": 300 + n}), "NOT_IMPLEMENTED") for n in range(10)
]
FRAMES += [
    (json.dumps({"t": "users.update", "d": {"display_name": text}, "r": 400 + n}), "OK")
    for n, text in enumerate(["<script>alert(1)</script>", "'; DROP TABLE users; --",
                              "\u202eevil", "😀" * 100, "\r\n", "null", "", " " * 10,
                              "%00", "\\x00"])
]


@pytest.mark.parametrize("frame,code", FRAMES,
                         ids=[f"frame{n}" for n in range(len(FRAMES))])
async def test_hostile_frame(http: Any, server: ServerProcess, frame: str,
                             code: str | None) -> None:
    """The frame gets its error ack (or nothing), and the session then still answers."""
    ack, ws = await login(http, server, id_query(server, "hostile-frames"))
    assert ack["d"]["ok"] is True
    await ws.send_str(frame)
    health = {"t": "users.update", "d": {"display_name": "ok"}, "r": 999_999}
    await ws.send_str(json.dumps(health))
    first = json.loads((await ws.receive(timeout=5)).data)
    if code is not None:
        if code == "OK":
            assert first["d"]["ok"] is True
        else:
            assert first["d"]["ok"] is False and first["d"]["error"]["code"] == code, first
            assert first["d"]["error"]["message"]
        first = json.loads((await ws.receive(timeout=5)).data)
    assert first["to"] == 999_999 and first["d"]["ok"] is True, first
    await ws.close()


# connect queries: each gets a failure ack with a stopping code and a message, then a close

QUERIES: list[str] = [
    "", "&", "&&&", "=", "==", "app_id", "app_id=", "user_id=u", "app_id=&user_id=u",
    "app_id=%&user_id=u", "app_id=%ZZ&user_id=u", "app_id=%C3%28&user_id=u",
    "app_id=1%00&user_id=u", "app_id=a-b&user_id=u", "app_id=a%20b&user_id=u",
    "app_id=" + "9" * 65 + "&user_id=u", "app_id=" + "9" * 5000 + "&user_id=u",
    "app_id=1234567890123456789&user_id=u", "app_id=0000000000000000000&user_id=u",
    "app_id=%E2%80%AE123&user_id=u", "app_id=__proto__&user_id=u",
    "app_id={app}", "app_id={app}&user_id=", "app_id={app}&user_id=%20u",
    "app_id={app}&user_id=u%20", "app_id={app}&user_id=%00", "app_id={app}&user_id=a%0Ab",
    "app_id={app}&user_id=" + "u" * 129, "app_id={app}&user_id=" + "u" * 5_000,
    "app_id={app}&user_id=%C3%28", "app_id={app}&user_id=%ED%A0%80",
    "app_id={app}&user_id=%E2%80%8B", "app_id={app}&user_id=%7F",
    "app_id={app}&user_id=a&user_id=b", "app_id={app}&app_id={app}&user_id=a",
    "app_id={app}&user_id=a&access_token=x&access_token=y",
    "app_id={app}&user_id=hq-token&access_token=" + "t" * 513,
    "app_id={app}&user_id=hq-token&access_token=short",
    "app_id={app}&user_id=hq-token&access_token=%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00%00",
    "app_id={app}&user_id=hq-token&access_token=cct_" + "A" * 43,
    "app_id={app}&user_id=hq-token&access_token=%ZZ",
    "session_key=", "session_key=x", "session_key=ccs_", "session_key=ccs_AAAA",
    "session_key=ccs_" + "A" * 200, "session_key=" + "A" * 3000, "session_key=%ZZ",
    "session_key=ccs_%00", "session_key=a&session_key=b", "session_key=ccs_!!!!",
    "session_key=ccs_" + "_" * 100, "session_key=cct_abc", "session_key=null",
    "session_key=undefined", "session_key=%7B%7D",
    "&".join(f"p{n}=v" for n in range(40)) + "&app_id={app}&user_id=u",
    "&".join("x=" for _ in range(33)), "app_id={app}&user_id=u&" + "&".join(
        "app_id2=x" for _ in range(40)),
    "app_id={app}%26user_id%3Dv", "app_id[]={app}&user_id=u", "APP_ID={app}&USER_ID=u",
    "app_id=%7Bapp%7D&user_id=u", "app_id=+&user_id=u", "app_id=1+2&user_id=u",
    "app_id=%20{app}&user_id=u",
    "app_id={app}%20&user_id=u", "app_id={app}%0A&user_id=u", "app_id=%F0%9F%98%80&user_id=u",
    "app_id=1e18&user_id=u", "app_id=-1&user_id=u", "app_id=0x1&user_id=u",
    "app_id=NaN&user_id=u", "app_id=true&user_id=u", "app_id=%25&user_id=u",
    "user_id=u&access_token=cct_x", "access_token=cct_" + "B" * 43,
    "app_id={app}&user_id=%22%3E%3Cscript%3E&access_token=cct_" + "C" * 43,
    "app_id={app}&user_id='%20OR%201=1--&access_token=cct_" + "D" * 43,
]


def _expand(query: str, server: ServerProcess) -> str:
    return query.replace("{app}", server.app_id)


@pytest.mark.parametrize("query", QUERIES, ids=[f"query{n}" for n in range(len(QUERIES))])
async def test_hostile_connect_query(http: Any, server: ServerProcess, query: str) -> None:
    """A failure ack with NOT_AUTHORIZED or NOT_FOUND (both stop the SDK) and a message."""
    error = await refusal(http, server, _expand(query, server))
    assert error["code"] in ("NOT_AUTHORIZED", "NOT_FOUND"), error
    assert error["message"] and "Traceback" not in error["message"]


# server-API bodies: (method, body, expected status, expected code)

BODY = bytes
API_CASES: list[tuple[str, BODY, int, str]] = [
    ("users.get", b"", 400, "INVALID_USER_ID"), ("users.get", b"{", 400, "INVALID_JSON"),
    ("users.get", b"[]", 400, "INVALID_JSON"), ("users.get", b"null", 400, "INVALID_JSON"),
    ("users.get", b'"x"', 400, "INVALID_JSON"), ("users.get", b"1", 400, "INVALID_JSON"),
    ("users.get", b"\xff\xfe", 400, "INVALID_JSON"), ("users.get", b"{}" * 2, 400,
                                                      "INVALID_JSON"),
    ("users.get", b"[" * 100_00 + b"]" * 100_00, 400, "INVALID_JSON"),
    ("users.get", b'{"a":' * 5000 + b"1" + b"}" * 5000, 400, "INVALID_JSON"),
    ("users.get", b"x" * 70_000, 413, "PAYLOAD_TOO_LARGE"),
    ("users.get", b"\x00", 400, "INVALID_JSON"), ("users.get", b"NaN", 400, "INVALID_JSON"),
    ("users.get", b'{"id": "\\ud800"}', 400, "INVALID_USER_ID"),
    ("users.tokens.issue", b'{"id": "hq-api", "expires_in": 1e400}', 400, "INVALID_FIELD"),
    ("users.tokens.issue", b'{"id": "hq-api", "expires_in": NaN}', 400, "INVALID_FIELD"),
    ("users.tokens.issue", b'{"id": "hq-api", "expires_in": -Infinity}', 400, "INVALID_FIELD"),
]
for method in ("users.get", "users.update", "users.tokens.issue", "users.tokens.list",
               "users.tokens.revoke", "users.sessions.list", "users.sessions.end",
               "users.create"):
    for value in (None, 5, True, [], {}, "", " x", "x ", "a\u0000b", "a\nb", "u" * 129,
                  "\u202e"):
        expected = 400
        API_CASES.append((method, json.dumps({"id": value}).encode(), expected,
                          "INVALID_USER_ID"))
for field, bad in (("display_name", 5), ("avatar_url", []), ("profile_url", {}),
                   ("data", True), ("metadata", 5), ("metadata", "[1]"),
                   ("check_access_token", "maybe"), ("check_access_token", 2),
                   ("check_access_token", None), ("access_token", "short"),
                   ("access_token", "has spaces in it ok"), ("access_token", 12345678901234567),
                   ("access_token", "x" * 513), ("access_token", "é" * 20),
                   ("display_name", "a\u0000")):
    API_CASES.append(("users.create", json.dumps({"id": "hq-new", field: bad}).encode(), 400,
                      "INVALID_FIELD" if field not in ("access_token",) else
                      "INVALID_ACCESS_TOKEN"))
for body, code in ((b'{"id": "hq-api", "token_id": 5}', "INVALID_FIELD"),
                   (b'{"id": "hq-api", "issued_before": "now"}', "INVALID_FIELD"),
                   (b'{"id": "hq-api", "token_id": "nope"}', "TOKEN_NOT_FOUND")):
    API_CASES.append(("users.tokens.revoke", body, 404 if code == "TOKEN_NOT_FOUND" else 400,
                      code))
for body, code in ((b'{"id": "hq-api", "session_id": 5}', "INVALID_FIELD"),
                   (b'{"id": "hq-api"}', "INVALID_FIELD"),
                   (b'{"id": "hq-api", "session_id": "nope"}', "SESSION_NOT_FOUND")):
    API_CASES.append(("users.sessions.end", body, 404 if code == "SESSION_NOT_FOUND" else 400,
                      code))
for value in (0, -5, "1", True, 1e12, None):
    if value is not None:
        API_CASES.append(("users.tokens.issue", json.dumps(
            {"id": "hq-api", "expires_in": value}).encode(), 400, "INVALID_FIELD"))
for body in (b'{"allowed_origins": "x"}', b'{"allowed_origins": [1]}',
             b'{"allowed_origins": ["javascript:alert(1)"]}',
             b'{"allowed_origins": ["https://a.example/"]}',
             b'{"allowed_origins": [" https://a.example"]}',
             b'{"require_access_token": "perhaps"}', b'{"require_access_token": null}'):
    API_CASES.append(("apps.update", body, 400, "INVALID_ORIGIN" if b"://" in body or
                      b"javascript" in body else "INVALID_FIELD"))
API_CASES += [
    ("apps.update", b"{}", 400, "NOTHING_TO_UPDATE"),
    ("users.nope", b"{}", 404, "UNKNOWN_METHOD"), ("..%2f..%2fetc", b"{}", 404, "UNKNOWN_METHOD"),
    ("users.get.", b"{}", 404, "UNKNOWN_METHOD"), ("USERS.GET", b"{}", 404, "UNKNOWN_METHOD"),
    ("__init__", b"{}", 404, "UNKNOWN_METHOD"), ("methods", b"{}", 404, "UNKNOWN_METHOD"),
]


@pytest.fixture(scope="module")
def api_user(server: ServerProcess) -> None:
    """The user that the token and session cases refer to."""
    import urllib.request

    request = urllib.request.Request(
        f"{server.base_url}/api/2.0/users.create", data=b'{"id": "hq-api"}', method="POST",
        headers={"x-api-key": server.api_key, "Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5).read()


@pytest.mark.parametrize("method,body,status,code", API_CASES,
                         ids=[f"api{n}" for n in range(len(API_CASES))])
async def test_hostile_api_body(http: Any, server: ServerProcess, api_user: None, method: str,
                                body: bytes, status: int, code: str) -> None:
    """The expected status with a JSON error body naming a stable code."""
    async with http.post(f"{server.base_url}/api/2.0/{method}", data=body,
                         headers={"x-api-key": server.api_key,
                                  "Content-Type": "application/json"}) as reply:
        payload = await reply.json(content_type=None)
        assert (reply.status, payload["error"]["code"]) == (status, code), payload
        assert payload["ok"] is False and payload["error"]["message"]


# headers and raw requests

HEADER_CASES: list[tuple[dict[str, str], int, str]] = [
    ({}, 401, "INVALID_API_KEY"), ({"x-api-key": ""}, 401, "INVALID_API_KEY"),
    ({"x-api-key": " "}, 401, "INVALID_API_KEY"), ({"x-api-key": "x" * 8000}, 401,
                                                    "INVALID_API_KEY"),
    ({"x-api-key": "cck_"}, 401, "INVALID_API_KEY"),
    ({"x-api-key": "' OR '1'='1"}, 401, "INVALID_API_KEY"),
    ({"x-api-key": "%00"}, 401, "INVALID_API_KEY"),
    ({"X-API-KEY": "{key}", "Content-Type": "text/plain"}, 400, "INVALID_USER_ID"),
    ({"x-api-key": "{key}", "Content-Type": "image/png"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
    ({"x-api-key": "{key}", "Content-Type": "multipart/form-data; boundary=x"}, 415,
     "UNSUPPORTED_MEDIA_TYPE"),
    ({"x-api-key": "{key}", "Content-Type": "application/xml"}, 415, "UNSUPPORTED_MEDIA_TYPE"),
    ({"x-api-key": "{key}", "Content-Type": "application/x-www-form-urlencoded"}, 400,
     "INVALID_USER_ID"),
    ({"x-api-key": "{key}", "Content-Type": "application/json; charset=latin-1"}, 400,
     "INVALID_USER_ID"),
    ({"x-api-key": "{key}", "Content-Type": ";;;"}, 400, "INVALID_USER_ID"),
    ({"x-api-key": "{key}", "Origin": "null"}, 400, "INVALID_USER_ID"),
    ({"x-api-key": "{key}", "Origin": "https://evil.example"}, 400, "INVALID_USER_ID"),
    ({"x-api-key": "{key}", "Origin": "x" * 4000}, 400, "INVALID_USER_ID"),
    ({"x-api-key": "{key}", "Accept": "text/html"}, 400, "INVALID_USER_ID"),
    ({"x-api-key": "{key}", "Accept-Encoding": "gzip, br, zstd"}, 400, "INVALID_USER_ID"),
    ({"x-api-key": "{key}", "X-Forwarded-For": "1.2.3.4"}, 400, "INVALID_USER_ID"),
    ({"x-api-key": "{key}", "Cookie": "session=" + "x" * 4000}, 400, "INVALID_USER_ID"),
]


@pytest.mark.parametrize("headers,status,code", HEADER_CASES,
                         ids=[f"header{n}" for n in range(len(HEADER_CASES))])
async def test_hostile_headers(http: Any, server: ServerProcess, headers: dict[str, str],
                               status: int, code: str) -> None:
    """Odd or hostile headers on a server-API call get the expected JSON refusal."""
    sent = {name: value.replace("{key}", server.api_key) for name, value in headers.items()}
    async with http.post(f"{server.base_url}/api/2.0/users.get", data=b"",
                         headers=sent) as reply:
        payload = await reply.json(content_type=None)
    assert (reply.status, payload["error"]["code"]) == (status, code), payload


RAW_REQUESTS: list[tuple[bytes, int]] = [
    (b"GET /chat/2.0 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     b"Sec-WebSocket-Version: 13\r\n\r\n", 400),
    (b"GET /chat/2.0 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
     b"Sec-WebSocket-Key: x\r\nSec-WebSocket-Version: 99\r\n\r\n", 400),
    (b"GET /chat/2.0?app_id=1 HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"POST /api/2.0/users.get HTTP/1.1\r\nHost: x\r\nx-api-key: {key}\r\n"
     b"Content-Length: 99999999\r\n\r\n{}", 413),
    (b"POST /api/2.0/users.get HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n{}", 401),
    (b"GET /chat/2.0?app_id=1&user_id=u&access_token=" + b"t" * 9000 + b" HTTP/1.1\r\n"
     b"Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
     b"dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", 400),
    (b"POST /api/2.0/users.get HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
    (b"POST /api/2.0/users.get HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n"
     b"\r\n", 400),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 400),
    (b"BREW /api/2.0/users.get HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    (b"PUT /api/2.0/users.get HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405),
    (b"GET /api/2.0/users.get HTTP/1.1\r\nHost: x\r\n\r\n", 405),
    (b"GET /static/../../serve.py HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    (b"GET /vendor/chatcamp/%2e%2e/%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    (b"GET /chat/2.0 HTTP/1.0\r\n\r\n", 421),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40, 400),
    (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400),
]


RAW_REQUESTS = [(raw.replace(b"Host: x\r\n", b"Host: {host}\r\n"), status)
                for raw, status in RAW_REQUESTS] + [
    (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 421),
    (b"GET / HTTP/1.1\r\nHost: evil.example:80\r\n\r\n", 421),
    (b"POST /api/2.0/users.get HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: {key}\r\n"
     b"Content-Length: 2\r\n\r\n{}", 421),
    (b"GET /static/.hidden HTTP/1.1\r\nHost: {host}\r\n\r\n", 404),
    (b"GET /static/a%00b HTTP/1.1\r\nHost: {host}\r\n\r\n", 404),
    (b"GET /static/" + b"a" * 300 + b".js HTTP/1.1\r\nHost: {host}\r\n\r\n", 404),
]
"""Every request names this server's Host; the last cases name another, or ask for names no
served file can have."""


@pytest.mark.parametrize("raw,status", RAW_REQUESTS,
                         ids=[f"raw{n}" for n in range(len(RAW_REQUESTS))])
def test_hostile_raw_request(server: ServerProcess, raw: bytes, status: int) -> None:
    """Malformed HTTP gets a 4xx/5xx status line without a trace; the server lives on."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(raw.replace(b"{key}", server.api_key.encode())
                     .replace(b"{host}", f"127.0.0.1:{server.port}".encode()))
        reply = b""
        while not reply.endswith(b"\r\n\r\n") and b"\r\n\r\n" not in reply:
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk
        head, _, body = reply.partition(b"\r\n\r\n")
        length = re.search(rb"(?im)^content-length: *(\d+)\r?$", head)
        try:
            # The body ends at its Content-Length on a connection kept alive; without one,
            # at the server's close.
            while len(reply) < 200_000 and (length is None or len(body) < int(length[1])):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                reply += chunk
                body += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    assert reply.split(b" ", 2)[1] == str(status).encode(), reply[:300]
    assert b"Traceback" not in reply and b'File "' not in reply


def test_case_count_meets_the_bar() -> None:
    """At least 300 hostile cases across frames, queries, bodies and headers."""
    total = len(FRAMES) + len(QUERIES) + len(API_CASES) + len(HEADER_CASES) + len(RAW_REQUESTS)
    assert total >= 300, total


async def test_server_still_serves_after_all(http: Any, server: ServerProcess) -> None:
    """After everything above, a normal login and request still work."""
    ack, ws = await login(http, server, id_query(server, "hostile-after"))
    assert ack["d"]["ok"] is True
    reply = await request(ws, {"t": "users.update", "d": {"display_name": "fine"}, "r": 1})
    assert reply["d"]["ok"] is True
    await ws.close()
