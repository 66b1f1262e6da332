"""Real server: /chat/2.0 over real sockets, including hostile frames and queries."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from server_process import ServerProcess
from ws_client import assert_healthy, ended_by_server, id_query, login, refusal, request


async def test_id_login_ack_carries_user_and_session_key(http: Any, server: ServerProcess) -> None:
    """users.auth.ack ok: the user in wire form and a session key, pushed unasked."""
    ack, ws = await login(http, server, id_query(server, "sock-alice"))
    assert ack["d"]["ok"] is True and ack["d"]["user"]["id"] == "sock-alice"
    assert ack["d"]["user"]["is_online"] is True and "access_token" not in ack["d"]["user"]
    assert ack["d"]["session_key"].startswith("ccs_")
    await ws.close()


async def test_token_login_echoes_token(http: Any, server: ServerProcess, api: Any) -> None:
    """Token login echoes access_token in the ack's user, as the SDK's reconnect needs."""
    status, body = api("users.create", {"id": "sock-bob"})
    assert status == 200
    ack, ws = await login(http, server, id_query(server, "sock-bob") +
                          f"&access_token={quote(body['access_token'])}")
    assert ack["d"]["user"]["access_token"] == body["access_token"]
    await ws.close()


@pytest.mark.parametrize("query,code,message", [
    ("user_id=u", "NOT_FOUND", "app_id is required"),
    ("app_id=1234567890123456789&user_id=u", "NOT_FOUND", "App not found"),
    ("app_id=app%201&x&user_id=u", "NOT_FOUND", "App not found"),
    ("app_id={app}", "NOT_AUTHORIZED", "user_id is required and must be a non-empty string"),
    ("app_id={app}&user_id=", "NOT_AUTHORIZED", "user_id is required and must be a non-empty string"),
    ("app_id={app}&user_id=" + "x" * 129, "NOT_AUTHORIZED", "user_id is longer than 128 characters"),
    ("app_id={app}&user_id=a%07b", "NOT_AUTHORIZED",
     "user_id contains control characters or surrounding white space"),
    ("app_id={app}&user_id=a&user_id=b", "NOT_AUTHORIZED",
     "Query parameter user_id is given more than once"),
    ("app_id={app}&app_id={app}&user_id=a", "NOT_AUTHORIZED",
     "Query parameter app_id is given more than once"),
    ("session_key=ccs_forged", "NOT_AUTHORIZED", "Session Key Invalid"),
    ("", "NOT_FOUND", "app_id is required"),
])
async def test_bad_queries_get_failure_ack_and_close(http: Any, server: ServerProcess, query: str,
                                                     code: str, message: str) -> None:
    """Every bad query gets a failure ack the SDK understands, then the socket is closed."""
    error = await refusal(http, server, query.replace("{app}", server.app_id))
    assert error == {"code": code, "message": message}


async def test_session_key_from_another_app_is_invalid(http: Any, server: ServerProcess) -> None:
    """A session key presented with another app's ID is Session Key Invalid."""
    created = server.run_cli("apps", "create", "other-app")
    other = json.loads(created.stdout)["app_id"]
    ack, ws = await login(http, server, id_query(server, "sock-keyed"))
    await ws.close()
    key = quote(ack["d"]["session_key"], safe="")
    error = await refusal(http, server, f"app_id={other}&session_key={key}")
    assert error["message"] == "Session Key Invalid"


async def test_session_key_resumes_after_drop_but_not_after_disconnect(
        http: Any, server: ServerProcess) -> None:
    """A dropped socket's key resumes; after the SDK's disconnect (close 1005) it is invalid."""
    ack, ws = await login(http, server, id_query(server, "sock-resume"))
    ws._response.connection.transport.abort()  # a network drop: no close frame at all
    resumed, ws2 = await login(http, server, "session_key=" + quote(ack["d"]["session_key"], safe=""))
    assert resumed["d"]["ok"] is True and resumed["d"]["user"]["id"] == "sock-resume"
    await ws2._writer.send_frame(b"", aiohttp.WSMsgType.CLOSE)  # close frame with no code: 1005
    await ws2.receive(timeout=5)
    error = await refusal(http, server, "session_key=" + quote(resumed["d"]["session_key"], safe=""))
    assert error["message"] == "Session Key Invalid"


async def test_ping_gets_no_reply_and_session_stays(http: Any, server: ServerProcess) -> None:
    """ping is accepted silently: the next reply on the socket answers the next request."""
    _, ws = await login(http, server, id_query(server, "sock-ping"))
    await ws.send_str(json.dumps({"t": "ping", "r": 6}))
    await assert_healthy(ws, rid=7)
    await ws.close()


async def test_users_update_from_the_sdk(http: Any, server: ServerProcess, api: Any) -> None:
    """users.update changes display name, avatar, profile URL, data and metadata."""
    _, ws = await login(http, server, id_query(server, "sock-profile"))
    fields = {"display_name": "Ada", "avatar_url": "img/a.png", "profile_url": "javascript:void(0)",
              "data": "{\"x\":1}", "metadata": {"cc_user_roles": "[\"admin\"]"}}
    for rid, (name, value) in enumerate(fields.items(), start=1):
        reply = await request(ws, {"t": "users.update", "d": {"id": "sock-profile", name: value},
                                   "r": rid})
        assert reply["t"] == "users.update.ack" and reply["to"] == rid
        assert reply["d"]["user"][name] == value
    status, body = api("users.get", {"id": "sock-profile"})
    assert status == 200 and {k: body["user"][k] for k in fields} == fields
    await ws.close()


@pytest.mark.parametrize("frame,expected", [
    ("not json at all", None),
    ("[1, 2, 3]", None),
    ("42", None),
    ('{"t": "users.update", "d": "nope", "r": 11}', ("users.update.ack", 11, "INVALID_FRAME")),
    ('{"t": 7, "r": 12}', ("error", 12, "INVALID_FRAME")),
    ('{"t": "open_channels.get", "d": {"id": "x"}, "r": 13}',
     ("open_channels.get.ack", 13, "NOT_FOUND")),
    ('{"t": "group_channels.ban", "d": {"id": "x"}, "r": 13}',
     ("group_channels.ban.ack", 13, "NOT_IMPLEMENTED")),
    (json.dumps({"t": "users.update", "d": {"data": "x" * 70000}, "r": 14}),
     ("users.update.ack", 14, "PAYLOAD_TOO_LARGE")),
    ('{"t": "users.update", "d": {"display_name": ["x"]}, "r": 15}',
     ("users.update.ack", 15, "INVALID_FIELD")),
    ('{"t": "users.update", "d": {"display_name": "\\ud800"}, "r": 16}',
     ("users.update.ack", 16, "INVALID_FIELD")),
])
async def test_bad_frames_never_close_a_healthy_session(http: Any, server: ServerProcess,
                                                        frame: str, expected: Any) -> None:
    """Malformed frames get an error ack when they carry r, else are dropped; the session lives."""
    _, ws = await login(http, server, id_query(server, "sock-frames"))
    await ws.send_str(frame)
    if expected is not None:
        reply = json.loads((await ws.receive(timeout=5)).data)
        assert (reply["t"], reply["to"], reply["d"]["error"]["code"]) == expected
        assert reply["d"]["ok"] is False and reply["d"]["error"]["message"]
    await assert_healthy(ws)
    await ws.close()


async def test_binary_frames_are_dropped(http: Any, server: ServerProcess) -> None:
    """A binary frame is ignored; the session goes on."""
    _, ws = await login(http, server, id_query(server, "sock-binary"))
    await ws.send_bytes(b"\x00\xff" * 1000)
    await assert_healthy(ws)
    await ws.close()


async def test_frame_over_transport_limit_closes_with_1009(http: Any, server: ServerProcess) -> None:
    """A frame over 128 KiB is not read at all: the socket closes with 1009, the server lives."""
    _, ws = await login(http, server, id_query(server, "sock-huge"))
    await ws.send_str("x" * (128 * 1024 + 10))
    closing = await ws.receive(timeout=5)
    assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 1009
    ack, ws2 = await login(http, server, id_query(server, "sock-huge"))
    assert ack["d"]["ok"] is True
    await ws2.close()


SQL = "'; DROP TABLE users; --\" OR 1=1 /*"


async def test_sql_metacharacters_in_every_field(http: Any, server: ServerProcess,
                                                 api: Any) -> None:
    """SQL metacharacters are stored and returned verbatim, and no table is harmed."""
    ack, ws = await login(http, server, id_query(server, SQL))
    assert ack["d"]["user"]["id"] == SQL
    for rid, name in enumerate(("display_name", "avatar_url", "profile_url", "data"), start=1):
        reply = await request(ws, {"t": "users.update", "d": {name: SQL}, "r": rid})
        assert reply["d"]["user"][name] == SQL
    reply = await request(ws, {"t": "users.update", "d": {"metadata": {SQL: SQL}}, "r": 9})
    assert reply["d"]["user"]["metadata"] == {SQL: SQL}
    await ws.close()
    token = "tok" + SQL.replace(" ", "_")
    status, body = api("users.create", {"id": SQL + "2", "display_name": SQL,
                                        "access_token": token})
    assert status == 200 and body["access_token"] == token
    ack, ws = await login(http, server, id_query(server, SQL + "2") + "&access_token=" +
                          quote(token, safe=""))
    assert ack["d"]["ok"] is True
    await ws.close()
    error = await refusal(http, server, f"app_id={quote(SQL)}&user_id=x")
    assert error["code"] == "NOT_FOUND"
    tables = sqlite3.connect(server.db).execute(
        "SELECT name FROM sqlite_master WHERE type='table'").fetchall()
    assert ("users",) in tables


async def test_fifty_sockets_same_new_user_make_one_user(http: Any, server: ServerProcess) -> None:
    """The same new user ID from 50 sockets at once: all log in, exactly one user results."""
    results = await asyncio.gather(*(login(http, server, id_query(server, "sock-crowd"))
                                     for _ in range(50)))
    assert all(ack["d"]["ok"] and ack["d"]["user"]["id"] == "sock-crowd" for ack, _ in results)
    count = sqlite3.connect(server.db).execute(
        "SELECT count(*) FROM users WHERE id='sock-crowd'").fetchone()
    assert count == (1,)
    await asyncio.gather(*(ws.close() for _, ws in results))


async def test_plain_http_get_on_socket_path_is_a_clear_error(http: Any,
                                                              server: ServerProcess) -> None:
    """A GET without an upgrade gets 400 and a sentence, not a crash."""
    async with http.get(f"{server.base_url}/chat/2.0?app_id=1&user_id=u") as reply:
        assert reply.status == 400
        assert "WebSocket" in await reply.text()


async def test_session_listed_while_live_and_gone_after_close(http: Any, server: ServerProcess,
                                                              api: Any) -> None:
    """users.sessions.list shows the live session with its details; after close it is gone."""
    _, ws = await login(http, server, id_query(server, "sock-listed"))
    status, body = api("users.sessions.list", {"id": "sock-listed"})
    assert status == 200 and len(body["sessions"]) == 1
    assert body["sessions"][0]["remote_address"] == "127.0.0.1"
    await ws.close()
    for _ in range(100):
        if api("users.sessions.list", {"id": "sock-listed"})[1]["sessions"] == []:
            break
        await asyncio.sleep(0.05)
    assert api("users.sessions.list", {"id": "sock-listed"})[1]["sessions"] == []


async def test_revoking_a_token_closes_its_live_session(http: Any, server: ServerProcess,
                                                        api: Any) -> None:
    """Revoking a token pushes a stopping failure ack to the session resting on it and closes."""
    status, body = api("users.create", {"id": "sock-revoked"})
    ack, ws = await login(http, server, id_query(server, "sock-revoked") +
                          f"&access_token={quote(body['access_token'])}")
    status, revoked = api("users.tokens.revoke", {"id": "sock-revoked"})
    assert status == 200 and revoked["sessions_closed"] == 1
    pushed = await ended_by_server(ws)
    assert pushed["d"]["error"] == {"code": "NOT_AUTHORIZED", "message": "Access token revoked"}
    assert pushed["notice"] == {"ok": True, "code": "TOKEN_REVOKED",
                                "message": "Access token revoked"}
    error = await refusal(http, server, "session_key=" + quote(ack["d"]["session_key"], safe=""))
    # The server marks the key used once the socket has closed, so a resume this quick can
    # meet the revoked token before it meets the used key: refused either way.
    assert error["code"] == "NOT_AUTHORIZED"
    assert error["message"] in ("Session Key Invalid", "Access token revoked")
    error = await refusal(http, server, id_query(server, "sock-revoked") +
                          f"&access_token={quote(body['access_token'])}")
    assert error == {"code": "NOT_AUTHORIZED", "message": "Access token revoked"}


async def test_every_refusal_and_end_is_preceded_by_a_session_ended_notice(
        http: Any, server: ServerProcess, api: Any) -> None:
    """Refused connects and server-ended sessions get the session.ended notice with the
    ack's message and a specific code; "Session Key Invalid" gets none."""
    async def refused_notice(query: str) -> dict[str, Any]:
        ack, ws = await login(http, server, query)
        await ws.close()
        assert ack["d"]["ok"] is False and ack["notice"]["message"] == \
            ack["d"]["error"]["message"], ack
        notice: dict[str, Any] = ack["notice"]
        return notice

    made = api("users.create", {"id": "sock-notice"})[1]
    assert (await refused_notice(id_query(server, "sock-notice")))["code"] == "POLICY"
    wrong = await refused_notice(id_query(server, "sock-notice") + "&access_token=" + "w" * 20)
    assert wrong == {"ok": True, "code": "NOT_AUTHORIZED", "message": "Invalid access token"}
    unknown = await refused_notice("app_id=1234567890123456789&user_id=u")
    assert unknown == {"ok": True, "code": "NOT_FOUND", "message": "App not found"}
    ack, _ = await login(http, server, "session_key=ccs_forged")  # no notice: checked inside
    assert ack["d"]["error"]["message"] == "Session Key Invalid" and "notice" not in ack

    ack, ws = await login(http, server, id_query(server, "sock-notice")
                          + f"&access_token={quote(made['access_token'])}")
    session_id = api("users.sessions.list", {"id": "sock-notice"})[1]["sessions"][0]["session_id"]
    assert api("users.sessions.end", {"id": "sock-notice", "session_id": session_id})[0] == 200
    assert (await ended_by_server(ws))["notice"] == {
        "ok": True, "code": "SESSION_ENDED", "message": "Session ended by the server"}

    issued = api("users.tokens.issue", {"id": "sock-notice", "expires_in": 1})[1]
    query = id_query(server, "sock-notice") + f"&access_token={quote(issued['access_token'])}"
    ack, ws = await login(http, server, query)
    assert ack["d"]["ok"] is True
    assert (await ended_by_server(ws, 5))["notice"] == {
        "ok": True, "code": "TOKEN_EXPIRED", "message": "Access token expired"}
    assert (await refused_notice(query))["code"] == "TOKEN_EXPIRED"
