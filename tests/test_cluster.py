"""A two-node cluster on a private PostgreSQL and Redis behind a private HAProxy: sessions,
revocations, session keys and failed logins are the cluster's, not a node's; a node killed or
drained, Redis or PostgreSQL stopped, and a SQLite database moved up, each as a client sees it."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import aiohttp
import pytest
from cluster_harness import (
    LOAD_OPTIONS, Cluster, Crowd, SdkClient, api, call, client_session, connect, ended,
    logged_in, new_cluster, refused, still_open, token_query)
from postgres_service import PostgresServer
from redis_service import RedisServer, eventually

REDIS_DB = 3
REVOKED_WITHIN = 1.0
"""Seconds from the API's answer to the close of a session on the other node (Redis up)."""
RECONCILED_WITHIN = 10.0
"""The same with Redis down: the store and each node's reconcile timer (every 3 s)."""


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
                      user_id: str) -> list[dict[str, Any]]:
    listed = await api(http, where, cluster.api_key, "users.sessions.list", {"id": user_id})
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
    await api(http, cluster.b, cluster.api_key, "users.tokens.revoke", {"id": user_id})
    answered = time.monotonic()
    error = await ended(ws, REVOKED_WITHIN)
    assert time.monotonic() - answered <= REVOKED_WITHIN
    assert error["code"] == "NOT_AUTHORIZED", error


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
    assert done.pop().result()["code"] == "NOT_AUTHORIZED"
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
