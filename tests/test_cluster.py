"""A two-node cluster on a private PostgreSQL and Redis behind a private HAProxy: sessions,
revocations, session keys, failed logins and the dashboard's live view are the cluster's, not a
node's; a node killed or drained, Redis or PostgreSQL stopped, and a SQLite database moved up,
each as a client sees it."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import aiohttp
import httpx
import pytest
from cluster_harness import (
    CLIENT_ADDRESS,
    LOAD_OPTIONS,
    Cluster,
    Crowd,
    Endpoint,
    SdkClient,
    api,
    call,
    client_session,
    connect,
    ended,
    logged_in,
    new_cluster,
    refused,
    still_open,
    token_query,
)
from conftest import api_caller, install_guard, wait_until
from postgres_service import PostgresServer
from redis_service import RedisServer, eventually
from sdk_page import open_sdk_page
from server_process import ROOT, ServerProcess
from site_server import PageSite

REDIS_DB = 3
REVOKED_WITHIN = 1.0
"""Seconds from the API's answer to the close of a session on the other node (Redis up)."""
RECONCILED_WITHIN = 10.0
"""The same with Redis down: the store and each node's reconcile timer (every 3 s)."""
DRAINED = 40
OPEN = 0
"""The SDK's connection state once logged in."""
KILLED = 1000


async def readiness(http: aiohttp.ClientSession, node: ServerProcess, status: int) -> bool:
    """Whether the node's /readyz answers ``status`` now (it reports its last store check,
    made every second)."""
    async with http.get(f"{node.base_url}/readyz") as reply:
        return reply.status == status


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer,
            redis_server: RedisServer) -> Iterator[Cluster]:
    """One cluster for the module; each test gets it with both nodes up (see ``healthy``)."""
    made = new_cluster(tmp_path_factory.mktemp("cluster"), postgres_server, redis_server,
                       REDIS_DB, LOAD_OPTIONS)
    try:
        made.start()
        yield made
    finally:
        made.stop()


@pytest.fixture
def healthy(cluster: Cluster, postgres_server: PostgresServer,
            redis_server: RedisServer) -> Cluster:
    """The cluster with PostgreSQL and Redis running and both nodes UP behind HAProxy, however
    the test before left it."""
    if not postgres_server.running:
        postgres_server.start()
    if not redis_server.running:
        redis_server.start()
    cluster.restore()
    return cluster


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with client_session() as session:
        yield session


def stops_the_sdk(error: dict[str, Any]) -> bool:
    """Whether the SDK gives up on this failure ack (spec §2.3) rather than reconnecting."""
    return error["code"] in ("NOT_AUTHORIZED", "NOT_FOUND") and (
        error["message"] != "Session Key Invalid")


def new_user() -> str:
    return f"cl-{uuid.uuid4().hex[:12]}"


async def token_user(http: aiohttp.ClientSession, cluster: Cluster,
                     where: Any = None) -> tuple[str, str]:
    """A new user made through ``where`` (HAProxy by default); its ID and profile token."""
    user_id = new_user()
    made = await api(http, where or cluster.endpoint(), cluster.api_key, "users.create",
                     {"id": user_id})
    return user_id, made["access_token"]


async def sessions_of(http: aiohttp.ClientSession, cluster: Cluster, where: Any,
                      user_id: str, api_key: str | None = None) -> list[dict[str, Any]]:
    listed = await api(http, where, api_key or cluster.api_key, "users.sessions.list",
                       {"id": user_id})
    sessions: list[dict[str, Any]] = listed["sessions"]
    return sessions


async def test_a_revocation_through_b_ends_the_session_on_a_within_a_second(
        healthy: Cluster, http: aiohttp.ClientSession) -> None:
    """A token revoked through node B ends its session on node A with the failure ack that
    stops the SDK, within 1 s of B's answer."""
    cluster = healthy
    user_id, token = await token_user(http, cluster)
    _, ws = await logged_in(http, cluster.endpoint(cluster.a), token_query(
        cluster.app_id, user_id, token))
    await eventually(lambda: _listed(http, cluster, user_id, 1), timeout=5)
    answer = await api(http, cluster.b, cluster.api_key, "users.tokens.revoke",
                       {"id": user_id})
    answered = time.monotonic()
    error = await ended(ws, REVOKED_WITHIN)
    assert time.monotonic() - answered <= REVOKED_WITHIN
    assert stops_the_sdk(error), error
    assert answer["sessions_closed"] == 1, answer


async def test_a_token_rotated_through_b_ends_the_session_on_a_within_a_second(
        healthy: Cluster, http: aiohttp.ClientSession) -> None:
    """users.update with a new access_token through node B ends the session on node A that
    rests on the old one within 1 s, and the new token logs in on A."""
    cluster = healthy
    user_id, token = await token_user(http, cluster)
    _, ws = await logged_in(http, cluster.endpoint(cluster.a), token_query(
        cluster.app_id, user_id, token))
    rotated = "rotated-token-" + uuid.uuid4().hex
    await api(http, cluster.b, cluster.api_key, "users.update",
              {"id": user_id, "access_token": rotated})
    answered = time.monotonic()
    assert stops_the_sdk(await ended(ws, REVOKED_WITHIN))
    assert time.monotonic() - answered <= REVOKED_WITHIN
    _, ws = await logged_in(http, cluster.endpoint(cluster.a), token_query(
        cluster.app_id, user_id, rotated))
    await ws.close()


async def test_b_lists_and_ends_the_sessions_on_a(healthy: Cluster,
                                                  http: aiohttp.ClientSession) -> None:
    """users.sessions.list through node B lists the user's sessions on node A, and
    users.sessions.end through B ends one of them on A (the other stays)."""
    cluster = healthy
    user_id, token = await token_user(http, cluster)
    query = token_query(cluster.app_id, user_id, token)
    (_, first), (_, second) = [await logged_in(http, cluster.endpoint(cluster.a), query)
                               for _ in range(2)]
    listed = await eventually(lambda: _listed(http, cluster, user_id, 2), timeout=5)
    assert {s["remote_address"] for s in listed} == {"127.0.0.2"}
    ends = listed[0]["session_id"]
    answer = await api(http, cluster.b, cluster.api_key, "users.sessions.end",
                       {"id": user_id, "session_id": ends})
    assert answer["sessions_closed"] == 1
    done, pending = await asyncio.wait(
        [asyncio.create_task(ended(ws, REVOKED_WITHIN)) for ws in (first, second)],
        return_when=asyncio.FIRST_COMPLETED, timeout=REVOKED_WITHIN)
    assert len(done) == 1 and len(pending) == 1, (done, pending)
    assert stops_the_sdk(done.pop().result())
    for task in pending:
        task.cancel()
    left = await eventually(lambda: _listed(http, cluster, user_id, 1), timeout=5)
    assert left[0]["session_id"] != ends
    survivor = second if first.closed else first
    await still_open(survivor)
    await survivor.close()


async def _listed(http: aiohttp.ClientSession, cluster: Cluster, user_id: str,
                  count: int) -> list[dict[str, Any]] | None:
    """B's listing of the user's sessions once it holds ``count`` of them."""
    sessions = await sessions_of(http, cluster, cluster.b, user_id)
    return sessions if len(sessions) == count else None


async def test_a_nodes_dashboard_shows_the_other_nodes_sessions(
        healthy: Cluster, http: aiohttp.ClientSession) -> None:
    """An operator signed in to node A's dashboard sees a session on node B: in the live
    view's numbers (from B's heartbeat, within 20 s) and on its user's page."""
    cluster = healthy
    # an app of this test's alone, so that no other test's session counts in its numbers
    made = cluster.a.run_cli("apps", "create", "dashboard app")
    assert made.returncode == 0, made.stderr
    app = json.loads(made.stdout)
    app_id, api_key = app["app_id"], app["api_key"]
    password = "operator-" + uuid.uuid4().hex
    operator = subprocess.run(cluster.a.command("admin", "create", f"ops-{uuid.uuid4().hex[:8]}"),
                              input=f"{password}\n", cwd=ROOT, capture_output=True, text=True,
                              timeout=60)
    assert operator.returncode == 0, operator.stderr
    name = json.loads(operator.stdout)["name"]
    user_id = new_user()
    made_user = await api(http, cluster.b, api_key, "users.create", {"id": user_id})
    transport = httpx.AsyncHTTPTransport(local_address=CLIENT_ADDRESS)
    async with httpx.AsyncClient(base_url=cluster.a.base_url, transport=transport) as on_a:
        signin = await on_a.post("/dashboard/signin", data={"name": name, "password": password},
                                 headers={"Origin": cluster.a.base_url})
        assert signin.status_code == 303 and "set-cookie" in signin.headers, signin.text
        _, ws = await logged_in(http, Endpoint(cluster.b.base_url, app_id, cluster.b.base_url),
                                token_query(app_id, user_id, made_user["access_token"]))
        session_id = (await sessions_of(http, cluster, cluster.b, user_id, api_key))[0][
            "session_id"]

        async def live_numbers() -> dict[str, Any] | None:
            reply = await on_a.get("/dashboard/live.json")
            assert reply.status_code == 200, reply.text
            numbers: dict[str, Any] = reply.json()
            return numbers if (numbers["live_sessions"] >= 1 and numbers["nodes"] == 2
                               and numbers["apps"].get(app_id, 0) >= 1) else None

        async def user_page_lists_it() -> bool:
            reply = await on_a.get(f"/dashboard/apps/{app_id}/user", params={"id": user_id})
            assert reply.status_code == 200, reply.text
            return f"<code>{session_id}</code>" in reply.text

        await eventually(live_numbers, timeout=20)
        await eventually(user_page_lists_it, timeout=5)
        await ws.close()


async def _chat(ws: aiohttp.ClientWebSocketResponse, type_: str, data: dict[str, Any],
                rid: int) -> dict[str, Any]:
    """The ack to one chat request; pushes before it are skipped."""
    await ws.send_str(json.dumps({"t": type_, "d": data, "r": rid}))
    while True:
        frame = json.loads((await ws.receive(timeout=5)).data)
        if frame.get("to") == rid:
            assert frame["d"]["ok"] is True, frame
            return dict(frame["d"])


async def _pushed(ws: aiohttp.ClientWebSocketResponse, type_: str) -> dict[str, Any]:
    while True:
        frame = json.loads((await ws.receive(timeout=5)).data)
        if frame["t"] == type_:
            return dict(frame["d"])


async def test_a_message_sent_on_one_node_reaches_a_participant_on_the_other(
        healthy: Cluster, http: aiohttp.ClientSession) -> None:
    """In an open channel, messages sent on node A reach a participant on node B in the
    store's order, B's reply reaches A, and A sees B's user online."""
    cluster = healthy
    channel = "cl-room-" + uuid.uuid4().hex[:8]
    await api(http, cluster.b, cluster.api_key, "open_channels.create", {"id": channel})
    sockets = []
    for node in (cluster.a, cluster.b):
        user_id, token = await token_user(http, cluster)
        _, ws = await logged_in(http, cluster.endpoint(node),
                                token_query(cluster.app_id, user_id, token))
        await _chat(ws, "open_channels.join", {"id": channel}, 1)
        sockets.append((user_id, ws))
    (a_user, on_a), (b_user, on_b) = sockets
    sent = [(await _chat(on_a, "open_channels.message", {"id": channel, "text": f"a{n}"},
                         10 + n))["message"]["id"] for n in range(3)]
    got = [(await _pushed(on_b, "open_channels.message.pub"))["message"] for _ in range(3)]
    assert [m["id"] for m in got] == sent and got[0]["user"]["id"] == a_user
    await _chat(on_b, "open_channels.message", {"id": channel, "text": "from b"}, 20)
    assert (await _pushed(on_a, "open_channels.message.pub"))["message"]["text"] == "from b"
    users = (await _chat(on_a, "users.list", {"is_online_filter": "ONLINE", "limit": 100,
                                              "display_name_search": ""}, 30))["users"]
    assert b_user in {u["id"] for u in users}
    for _, ws in sockets:
        await ws.close()


async def test_more_messages_at_once_than_pooled_connections_are_all_stored(
        healthy: Cluster, http: aiohttp.ClientSession) -> None:
    """Sixteen members posting at once on one PostgreSQL node (its pool has ten connections)
    all get their acks, and history holds every message once."""
    cluster = healthy
    channel = "cl-burst-" + uuid.uuid4().hex[:8]
    await api(http, cluster.a, cluster.api_key, "open_channels.create", {"id": channel})
    sockets = []
    for _ in range(16):
        user_id, token = await token_user(http, cluster)
        _, ws = await logged_in(http, cluster.endpoint(cluster.a),
                                token_query(cluster.app_id, user_id, token))
        await _chat(ws, "open_channels.join", {"id": channel}, 1)
        sockets.append(ws)
    acks = await asyncio.gather(*(_chat(ws, "open_channels.message",
                                        {"id": channel, "text": f"m{n}"}, 2)
                                  for n, ws in enumerate(sockets)))
    history = await _chat(sockets[0], "open_channels.history", {"id": channel, "limit": 20}, 3)
    assert sorted(m["text"] for m in history["messages"]) == sorted(
        a["message"]["text"] for a in acks)
    assert len(history["messages"]) == 16
    for ws in sockets:
        await ws.close()


async def test_a_group_channel_member_on_the_other_node_gets_every_push(
        healthy: Cluster, http: aiohttp.ClientSession) -> None:
    """A group channel made on node A: its member on node B is told of it, gets the message,
    typing and the invitation's news, and A gets B's read receipt."""
    cluster = healthy
    sockets = []
    for node in (cluster.a, cluster.b, cluster.a):
        user_id, token = await token_user(http, cluster)
        _, ws = await logged_in(http, cluster.endpoint(node),
                                token_query(cluster.app_id, user_id, token))
        sockets.append((user_id, ws))
    (a_user, on_a), (b_user, on_b), (c_user, on_c) = sockets
    made = await _chat(on_a, "group_channels.create",
                       {"participant_ids": [b_user], "is_distinct": True}, 1)
    channel = made["group_channel"]["id"]
    assert (await _pushed(on_b, "group_channels.update.pub"))["group_channel"]["id"] == channel
    sent = await _chat(on_a, "group_channels.message", {"id": channel, "text": "hi b"}, 2)
    got = (await _pushed(on_b, "group_channels.message.pub"))["message"]
    assert got["id"] == sent["message"]["id"]
    await _chat(on_a, "group_channels.start_typing", {"id": channel}, 3)
    typing = await _pushed(on_b, "group_channels.start_typing.pub")
    assert typing["group_channel"]["typing_participant_id"] == a_user
    await _chat(on_a, "group_channels.invite", {"id": channel, "participant_ids": [c_user]}, 4)
    invited = await _pushed(on_b, "group_channels.invite.pub")
    assert [u["id"] for u in invited["users"]] == [c_user]
    await _chat(on_c, "group_channels.accept", {"id": channel}, 5)
    accepted = await _pushed(on_b, "group_channels.accept.pub")
    assert [u["id"] for u in accepted["users"]] == [c_user]
    await _chat(on_b, "group_channels.read", {"id": channel}, 6)
    receipt = (await _pushed(on_a, "group_channels.read.pub"))["group_channel"]["read_receipt"]
    assert receipt[b_user] >= got["inserted_at"]
    for _, ws in sockets:
        await ws.close()


async def test_one_session_key_resumed_on_both_nodes_at_once_resumes_once(
        healthy: Cluster, http: aiohttp.ClientSession) -> None:
    """Two resumes of one session key raced on node A and node B: exactly one wins, the other
    gets "Session Key Invalid" (ten rounds)."""
    cluster = healthy
    for _ in range(10):
        ack, ws = await logged_in(http, cluster.endpoint(cluster.a),
                                  token_query(cluster.app_id, new_user()))
        await ws.close()
        key = f"session_key={ack['session_key']}"
        acks = await asyncio.gather(*(connect(http, cluster.endpoint(node), key)
                                      for node in (cluster.a, cluster.b)))
        for _, socket in acks:
            await socket.close()
        results = sorted((a["ok"], json.dumps(a.get("error"))) for a, _ in acks)
        assert results == [(False, json.dumps({"code": "NOT_AUTHORIZED",
                                               "message": "Session Key Invalid"})),
                           (True, "null")], results


async def test_failed_logins_are_counted_across_nodes(healthy: Cluster) -> None:
    """Ten wrong tokens for one user from one address, five on each node, and the next attempt
    on either node is RATE_LIMITED; the same user from another address is not."""
    cluster = healthy
    async with client_session("127.0.0.3") as attacker, client_session("127.0.0.4") as other:
        user_id, token = await token_user(attacker, cluster)
        wrong = token_query(cluster.app_id, user_id, "wrong-token-0123456789")
        for n in range(10):
            node = (cluster.a, cluster.b)[n % 2]
            error = await refused(attacker, cluster.endpoint(node), wrong)
            assert error["code"] == "NOT_AUTHORIZED", (n, error)
        for node in (cluster.a, cluster.b):
            error = await refused(attacker, cluster.endpoint(node), wrong)
            assert error["code"] == "RATE_LIMITED", error
        error = await refused(attacker, cluster.endpoint(), token_query(
            cluster.app_id, user_id, token))
        assert error["code"] == "RATE_LIMITED", error
        _, ws = await logged_in(other, cluster.endpoint(), token_query(
            cluster.app_id, user_id, token))
        await ws.close()


async def test_with_redis_stopped_revocations_still_end_sessions_and_come_back_fast(
        healthy: Cluster, http: aiohttp.ClientSession, redis_server: RedisServer) -> None:
    """Redis stopped: a revocation through node B still ends the session on node A within
    10 s, new logins work on both nodes and other sessions stay; Redis started again:
    cross-node revocation is back under 1 s and B lists A's sessions again, with no
    restart."""
    cluster = healthy
    user_id, token = await token_user(http, cluster)
    _, ws = await logged_in(http, cluster.endpoint(cluster.a), token_query(
        cluster.app_id, user_id, token))
    kept_id, kept_token = await token_user(http, cluster)
    _, kept = await logged_in(http, cluster.endpoint(cluster.a), token_query(
        cluster.app_id, kept_id, kept_token))
    redis_server.stop()
    await api(http, cluster.b, cluster.api_key, "users.tokens.revoke", {"id": user_id})
    assert stops_the_sdk(await ended(ws, RECONCILED_WITHIN))
    for node in (cluster.a, cluster.b):
        other_id, other_token = await token_user(http, cluster, node)
        _, socket = await logged_in(http, cluster.endpoint(node), token_query(
            cluster.app_id, other_id, other_token))
        await still_open(socket)
        await socket.close()
    redis_server.start()
    await eventually(lambda: _revocations_are_fast(http, cluster), timeout=20)
    # Redis came back empty: node A lists its sessions again at its next heartbeat (5 s)
    await eventually(lambda: _listed(http, cluster, kept_id, 1), timeout=10)
    await still_open(kept)
    await kept.close()
    assert all(node.proc is not None and node.proc.poll() is None for node in cluster.nodes)


async def _revocations_are_fast(http: aiohttp.ClientSession, cluster: Cluster) -> bool:
    """Five sessions on node A revoked through node B 0.4 s apart all end within 1 s: with
    the bus down only the reconcile timer would end them, every 3 s, so at most the ones
    revoked in the second before one of its rounds."""
    users = [await token_user(http, cluster, cluster.b) for _ in range(5)]
    sockets = [(await logged_in(http, cluster.endpoint(cluster.a), token_query(
        cluster.app_id, user_id, token)))[1] for user_id, token in users]
    fast = True
    for (user_id, _), ws in zip(users, sockets):
        await api(http, cluster.b, cluster.api_key, "users.tokens.revoke", {"id": user_id})
        try:
            assert stops_the_sdk(await ended(ws, REVOKED_WITHIN))
        except (asyncio.TimeoutError, AssertionError):
            fast = False
        await ws.close()
        await asyncio.sleep(0.4)  # spacing the revocations, not waiting for a condition
    return fast


async def test_with_postgres_stopped_nodes_fail_closed_and_recover_by_themselves(
        healthy: Cluster, http: aiohttp.ClientSession, postgres_server: PostgresServer) -> None:
    """PostgreSQL stopped: a login gets a failure ack in a code the SDK retries, the server API
    answers 503 with Retry-After, /readyz is 503 and /healthz 200, no node exits and live
    sessions stay; PostgreSQL started: logins and the API work again by themselves and
    HAProxy marks both nodes UP."""
    cluster = healthy
    user_id, token = await token_user(http, cluster)
    query = token_query(cluster.app_id, user_id, token)
    _, kept = await logged_in(http, cluster.endpoint(cluster.a), query)
    postgres_server.stop()
    try:
        for node in cluster.nodes:
            error = await refused(http, cluster.endpoint(node), query)
            # not a code that stops the SDK, and nothing of the deployment in the words
            assert error == {"code": "STORAGE_UNAVAILABLE", "message": "The chat server "
                             "cannot reach its database; try again shortly"}, error
            status, answer, headers = await call(http, node, cluster.api_key, "users.get",
                                                 {"id": user_id})
            assert status == 503 and answer["ok"] is False, (status, answer)
            assert int(headers["Retry-After"]) > 0
            await eventually(lambda node=node: readiness(http, node, 503), timeout=5)
            async with http.get(f"{node.base_url}/healthz") as reply:
                assert reply.status == 200
        for node in cluster.nodes:
            cluster.haproxy.wait_for(cluster.name(node), "DOWN", timeout=10)
        assert all(node.proc is not None and node.proc.poll() is None for node in cluster.nodes)
    finally:
        postgres_server.start()
    for node in cluster.nodes:
        await eventually(lambda: _logs_in(http, cluster.endpoint(node), query), timeout=15)
        assert (await api(http, node, cluster.api_key, "users.get", {"id": user_id}))["user"][
            "id"] == user_id
    cluster.wait_up(timeout=15)
    await eventually(lambda: _logs_in(http, cluster.endpoint(), query), timeout=5)
    await still_open(kept)
    await kept.close()
    assert all(node.proc is not None and node.proc.poll() is None for node in cluster.nodes)


async def _logs_in(http: aiohttp.ClientSession, where: Any, query: str) -> bool:
    try:
        ack, ws = await connect(http, where, query)
    except (aiohttp.ClientError, AssertionError):
        return False
    await ws.close()
    return bool(ack["ok"])


async def test_a_sqlite_database_migrated_up_serves_the_cluster(
        tmp_path: Path, http: aiohttp.ClientSession, postgres_server: PostgresServer,
        redis_server: RedisServer) -> None:
    """serve.py migrate of a single node's SQLite database into PostgreSQL, served by a
    cluster with the SQLite's secret file: every profile and issued token that worked logs in
    through HAProxy, the revoked one and an ended session's key are refused, a live session's
    key resumes, and the old API key works."""
    single = ServerProcess(tmp_path / "single")
    single.workdir.mkdir()
    single.start()
    try:
        tokens: list[tuple[str, str]] = []  # (user, token): each works before the move
        for n in range(3):
            made = await api(http, single, single.api_key, "users.create",
                             {"id": f"moved-{n}", "display_name": f"Moved {n}"})
            tokens.append((f"moved-{n}", made["access_token"]))
        for n in range(3):
            issued = await api(http, single, single.api_key, "users.tokens.issue",
                               {"id": f"moved-{n}", "expires_in": 86400})
            tokens.append((f"moved-{n}", issued["access_token"]))
        revoked_user, revoked_token = tokens.pop()
        answer = await api(http, single, single.api_key, "users.tokens.revoke",
                           {"id": revoked_user, "token_id": issued["token"]["id"]})
        assert answer["revoked"] == [issued["token"]["id"]]
        for user_id, token in tokens:
            await _logs_in_as(http, single, user_id, token)
        id_login = token_query(single.app_id, "moved-by-id")
        ended_ack, ended_ws = await logged_in(http, _endpoint(single), id_login)
        session = (await api(http, single, single.api_key, "users.sessions.list",
                             {"id": "moved-by-id"}))["sessions"][0]
        await api(http, single, single.api_key, "users.sessions.end",
                  {"id": "moved-by-id", "session_id": session["session_id"]})
        await ended(ended_ws, 5)
        live_ack, _ = await logged_in(http, _endpoint(single), id_login)
    finally:
        single.stop()
    target = postgres_server.url(postgres_server.create_database())
    moved = subprocess.run([sys.executable, str(ROOT / "serve.py"), "migrate", "--from",
                            str(single.db), "--to", target], cwd=ROOT, capture_output=True,
                           text=True, timeout=60)
    assert moved.returncode == 0, moved.stderr
    cluster = new_cluster(tmp_path / "cluster", postgres_server, redis_server, REDIS_DB + 1,
                          database=target, secret_file=Path(f"{single.db}.secret"))
    try:
        cluster.start(app=(single.app_id, single.api_key))
        for user_id, token in tokens:
            await _logs_in_as(http, cluster.endpoint(), user_id, token)
        error = await refused(http, cluster.endpoint(), token_query(
            cluster.app_id, revoked_user, revoked_token))
        assert error["code"] == "NOT_AUTHORIZED", error
        got = await api(http, cluster.endpoint(), single.api_key, "users.get", {"id": "moved-1"})
        assert got["user"]["display_name"] == "Moved 1"
        assert got["access_token"] == tokens[1][1]
        error = await refused(http, cluster.endpoint(),
                              f"session_key={ended_ack['session_key']}")
        assert error == {"code": "NOT_AUTHORIZED", "message": "Session Key Invalid"}
        resumed, ws = await logged_in(http, cluster.endpoint(),
                                      f"session_key={live_ack['session_key']}")
        assert resumed["user"]["id"] == "moved-by-id"
        await ws.close()
    finally:
        cluster.stop()


def _endpoint(single: ServerProcess) -> Endpoint:
    return Endpoint(single.base_url, single.app_id, single.base_url)


async def _logs_in_as(http: aiohttp.ClientSession, where: Any, user_id: str,
                      token: str) -> None:
    endpoint = where if isinstance(where, Endpoint) else _endpoint(where)
    ack, ws = await logged_in(http, endpoint, token_query(endpoint.app_id, user_id, token))
    assert ack["user"]["id"] == user_id, ack
    await ws.close()


async def test_a_drained_node_hands_its_sessions_over_spread_out(
        healthy: Cluster, http: aiohttp.ClientSession) -> None:
    """SIGTERM to node A: it stops listening at once, HAProxy marks it DOWN, and its sessions
    come back through HAProxy on node B spread over the drain window, each once, none
    refused."""
    cluster = healthy
    cluster.pin(cluster.a)
    clients = [SdkClient(http, cluster.endpoint(), new_user()) for _ in range(DRAINED)]
    async with Crowd(clients) as crowd:
        await crowd.all_connected(30)
        await asyncio.to_thread(cluster.unpin)
        assert cluster.current_sessions()[cluster.name(cluster.a)] == DRAINED
        assert cluster.a.proc is not None
        signalled = time.monotonic()
        cluster.a.proc.send_signal(signal.SIGTERM)
        await eventually(lambda: not _listening(cluster.a.port), timeout=1)
        # in a thread: the clients' loop must go on timing their drops meanwhile
        await asyncio.to_thread(cluster.haproxy.wait_for, cluster.name(cluster.a), "DOWN", 5)
        await eventually(lambda: all(len(c.drops) == 1 and c.logins == 2 and c.connected.is_set()
                                     for c in clients), timeout=cluster.drain_seconds + 10)
        assert crowd.refusals() == []
        assert all(c.resumes == 1 for c in clients)
        drops = sorted(c.drops[0] - signalled for c in clients)
        assert drops[-1] - drops[0] >= cluster.drain_seconds / 2, drops
        assert drops[-1] <= cluster.drain_seconds + 1, drops
        busiest = max(sum(start <= d < start + 1 for d in drops) for start in drops)
        assert busiest <= DRAINED // 2, " ".join(f"{d:.2f}" for d in drops)
        assert cluster.a.proc.wait(timeout=10) == 0
        assert cluster.current_sessions()[cluster.name(cluster.b)] == DRAINED


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


async def test_a_node_killed_under_1000_sessions_loses_none_of_them(
        healthy: Cluster, http: aiohttp.ClientSession) -> None:
    """kill -9 of node A holding 1,000 live sessions (half by token, half by ID): every
    client, reconnecting as the SDK does, is back through HAProxy on node B within 10 s, each
    exactly once and none refused, and node B then lists one session per user."""
    cluster = healthy
    tokens: dict[str, str | None] = {}
    for start in range(0, KILLED // 2, 50):
        made = await asyncio.gather(*(api(http, cluster.b, cluster.api_key, "users.create",
                                          {"id": f"killed-token-{n}"})
                                      for n in range(start, start + 50)))
        tokens.update((m["user"]["id"], m["access_token"]) for m in made)
    tokens.update((f"killed-id-{n}", None) for n in range(KILLED - len(tokens)))
    cluster.pin(cluster.a)
    async with client_session() as crowd_http:
        clients = [SdkClient(crowd_http, cluster.endpoint(), user_id, token)
                   for user_id, token in tokens.items()]
        async with Crowd(clients) as crowd:
            await crowd.all_connected(120)
            await asyncio.to_thread(cluster.unpin)
            assert cluster.current_sessions() == {"node1": KILLED, "node2": 0}
            cluster.kill(cluster.a)
            killed = time.monotonic()
            await eventually(lambda: all(len(c.drops) == 1 and c.logins == 2
                                         and c.connected.is_set() for c in clients),
                             timeout=10)
            back_after = time.monotonic() - killed
            assert back_after <= 10
            assert crowd.refusals() == []
            assert all(c.resumes == 1 for c in clients)
            assert cluster.current_sessions()["node2"] == KILLED
            await asyncio.to_thread(cluster.restore)
            users = list(tokens)

            async def stale_entries_gone() -> bool:
                return await _session_count(http, cluster, users[0]) == 1

            # node A's entries leave the listing once its heartbeat lapses (15 s)
            await eventually(stale_entries_gone, timeout=30)
            counts: list[int] = []
            for start in range(0, KILLED, 100):
                counts += await asyncio.gather(*(_session_count(http, cluster, user_id)
                                                 for user_id in users[start:start + 100]))
            assert counts == [1] * KILLED, [n for n in counts if n != 1][:10]
            assert all(len(c.drops) == 1 for c in clients)


async def _session_count(http: aiohttp.ClientSession, cluster: Cluster, user_id: str) -> int:
    """How many live sessions node B lists for the user."""
    return len(await sessions_of(http, cluster, cluster.b, user_id))


def test_the_sdk_in_a_browser_comes_back_by_itself_when_its_node_is_killed(
        healthy: Cluster, page: Any, context: Any, site: PageSite) -> None:
    """The real SDK in Chromium, connected through HAProxy to node A: A is killed, and the
    SDK reconnects by itself through HAProxy, to node B, as the same user."""
    cluster = healthy
    guard = install_guard(context, {cluster.haproxy.origin, site.origin})
    on_b = api_caller(cluster.b)
    status, made = on_b("users.create", {"id": "cl-browser", "display_name": "Browser"})
    assert status == 200, made
    cluster.pin(cluster.a)
    open_sdk_page(page, site.origin, cluster.haproxy.port, cluster.app_id)
    result = page.evaluate("([u, t]) => connectAs(u, t)", ["cl-browser", made["access_token"]])
    assert result["user"]["id"] == "cl-browser", result
    cluster.unpin()
    before = on_b("users.sessions.list", {"id": "cl-browser"})[1]["sessions"]
    assert len(before) == 1 and "Chrome" in before[0]["user_agent"], before
    cluster.kill(cluster.a)
    wait_until(lambda: page.evaluate("changes") == [True, False, True], timeout=20)
    assert page.evaluate("state()") == OPEN
    assert "session_key=" in page.evaluate("lastUrl")
    assert page.evaluate("cc.getCurrentUser().id") == "cl-browser"
    assert cluster.current_sessions() == {"node1": 0, "node2": 1}
    # node A's entry leaves the listing once its heartbeat lapses (15 s)
    after = wait_until(lambda: _one_session(on_b), timeout=30)
    assert "Chrome" in after["user_agent"], after
    guard.check()


def _one_session(on_b: Any) -> dict[str, Any] | None:
    status, body = on_b("users.sessions.list", {"id": "cl-browser"})
    assert status == 200, body
    sessions: list[dict[str, Any]] = body["sessions"]
    return sessions[0] if len(sessions) == 1 else None
