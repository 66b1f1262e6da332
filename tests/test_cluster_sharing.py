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
                                 sockets[-1].deliver))
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
