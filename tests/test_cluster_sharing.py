"""In-process, on a private Redis: what a cluster node shares is scoped to its Redis database,
channels included, so two clusters on one Redis never reach each other's sessions."""

from __future__ import annotations

from pathlib import Path

from redis_service import RedisServer, eventually
from test_bus import Socket

from chatcamp_server.cluster import Sharing, sharing_for
from chatcamp_server.sessions.live import LiveSession, LiveSessions, Target
from chatcamp_server.settings import DEFAULT_LIMITS
from chatcamp_server.storage.sqlite import SQLiteStore
from chatcamp_server.storage.store import App, SigningKey


async def test_two_clusters_on_one_redis_do_not_hear_each_other(
        redis_server: RedisServer, tmp_path: Path) -> None:
    """A revocation in the cluster on Redis database 11 reaches that cluster's other node and
    never the same user's session in the cluster on database 12."""
    store = SQLiteStore(tmp_path / "sharing.sqlite3")
    await store.open()
    nodes: list[tuple[Sharing, LiveSessions]] = []
    for database in (11, 11, 12, 12):
        live = LiveSessions()
        nodes.append((sharing_for(redis_server.url(database), live, DEFAULT_LIMITS, store),
                      live))
    try:
        for sharing, _ in nodes:
            await sharing.start()
        sockets = []
        for _, live in nodes[1:3]:
            sockets.append(Socket())
            live.add(LiveSession(f"s{len(sockets)}", "a1", "ann", "t1", 0.0, "", "",
                                 sockets[-1]))
        same, other = sockets
        await eventually(lambda: all(s.bus.healthy for s, _ in nodes))
        await nodes[0][0].bus.end(Target("a1", "ann"), "Access token revoked")
        await eventually(lambda: same.got)
        # Redis runs one command at a time: had the end reached the other cluster's channel,
        # it would stand before this marker in that subscriber's queue.
        await nodes[3][0].bus.send(Target("a1", "ann"), {"t": "marker"})
        await eventually(lambda: other.got)
        assert other.got == [({"t": "marker"}, "send")]
        assert same.got[0][1] == "end"
    finally:
        for sharing, _ in nodes:
            await sharing.stop()
        await store.close()


async def test_a_key_revocation_and_a_revocation_by_time_reach_another_nodes_sessions(
        redis_server: RedisServer, tmp_path: Path) -> None:
    """Ending the sessions on a signing key, and those on tokens issued before a time, on one
    node ends the matching sessions held by the other, and only those."""
    store = SQLiteStore(tmp_path / "sharing.sqlite3")
    await store.open()
    await store.create_app(App("a1", "sharing", (), 0.0), b"k" * 32)
    for key_id in ("k1", "k2"):  # the keys exist, so the nodes' reconcile ends nothing
        await store.add_signing_key(SigningKey(key_id, "a1", b"sealed", 0.0), 5)
    nodes = [(sharing_for(redis_server.url(13), live, DEFAULT_LIMITS, store), live)
             for live in (LiveSessions(), LiveSessions())]
    try:
        for sharing, _ in nodes:
            await sharing.start()
        sockets = {name: Socket() for name in ("on-k1", "on-k2", "early", "late")}
        far = nodes[1][1]
        for name, token_id, issued_at in (("on-k1", "jwt:k1", 100.0), ("on-k2", "jwt:k2", 100.0),
                                          ("early", "jwt:k2", 50.0), ("late", "jwt:k2", 150.0)):
            far.add(LiveSession(name, "a1", "ann" if name.startswith("on") else "bob",
                                token_id, 0.0, "", "", sockets[name],
                                token_issued_at=issued_at))
        await eventually(lambda: all(s.bus.healthy for s, _ in nodes))
        bus = nodes[0][0].bus
        await bus.end(Target("a1", tokens=frozenset({"jwt:k1"})),
                      "Access token is signed with a revoked key")
        await eventually(lambda: sockets["on-k1"].got)
        await bus.end(Target("a1", "bob", issued_before=100.0), "Access token revoked")
        await eventually(lambda: sockets["early"].got)
        await bus.send(Target("a1"), {"t": "marker"})  # after both ends, in Redis's order
        await eventually(lambda: sockets["late"].got and sockets["on-k2"].got)
        assert sockets["on-k1"].got[0][0]["d"]["error"]["message"] == (  # type: ignore[index]
            "Access token is signed with a revoked key")
        assert sockets["early"].got[0][1] == "end"
        assert sockets["late"].got == [({"t": "marker"}, "send")]
        assert sockets["on-k2"].got == [({"t": "marker"}, "send")]
    finally:
        for sharing, _ in nodes:
            await sharing.stop()
        await store.close()
