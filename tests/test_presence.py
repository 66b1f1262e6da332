"""Real server: presence (is_online, last_seen) and users.list's is_online_filter."""

from __future__ import annotations

import json
import time
from typing import Any

from server_process import ServerProcess
from ws_client import id_query, login


async def users_list(ws: Any, rid: int, **data: Any) -> list[dict[str, Any]]:
    await ws.send_str(json.dumps({"t": "users.list", "d": {
        "limit": 20, "order": "ALPHABETICAL", "is_active_filter": "ACTIVE",
        "is_check_access_token_filter": "ALL", **data}, "r": rid}))
    while True:
        frame = json.loads((await ws.receive(timeout=5)).data)
        if frame.get("to") == rid:
            assert frame["d"]["ok"] is True, frame
            return list(frame["d"]["users"])


async def test_online_while_any_session_lives_and_last_seen_when_the_last_ends(
        http: Any, server: ServerProcess) -> None:
    """A user with two sessions stays online when one ends; when the last ends, users.list
    shows them offline with last_seen set, as the SDK's is_online_filter asks."""
    _, watcher = await login(http, server, id_query(server, "pr-watcher"))
    _, first = await login(http, server, id_query(server, "pr-zoe"))
    _, second = await login(http, server, id_query(server, "pr-zoe"))
    started = time.time()
    online = await users_list(watcher, 1, is_online_filter="ONLINE")
    assert {"pr-watcher", "pr-zoe"} <= {u["id"] for u in online}
    await first.close()
    assert "pr-zoe" in {u["id"] for u in await users_list(watcher, 2, is_online_filter="ONLINE")}
    await second.close()
    rids = iter(range(3, 1000))

    async def offline() -> list[dict[str, Any]]:
        return [u for u in await users_list(watcher, next(rids), is_online_filter="OFFLINE")
                if u["id"] == "pr-zoe"]

    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + 2
    while not found and time.monotonic() < deadline:
        found = await offline()
    assert found, "still online 2 s after the last session ended"
    assert found[0]["is_online"] is False and found[0]["last_seen"] >= int(started)
    await watcher.close()


async def test_users_list_pages_by_reference_and_refuses_a_bad_filter(
        http: Any, server: ServerProcess) -> None:
    """users.list pages with reference (the last ID of the previous page) and answers an
    unknown is_online_filter with INVALID_FIELD."""
    _, ws = await login(http, server, id_query(server, "pr-pager"))
    sockets = [(await login(http, server, id_query(server, f"pr-page-{n}")))[1] for n in range(3)]
    first = await users_list(ws, 1, limit=2, display_name_search="")
    rest = await users_list(ws, 2, limit=100, reference=first[-1]["id"])
    ids = [u["id"] for u in first + rest]
    assert ids == sorted(ids) and len(ids) == len(set(ids))
    assert {"pr-page-0", "pr-page-1", "pr-page-2"} <= set(ids)
    await ws.send_str(json.dumps({"t": "users.list", "d": {"is_online_filter": "MAYBE"},
                                  "r": 3}))
    reply = json.loads((await ws.receive(timeout=5)).data)
    assert reply["d"]["error"]["code"] == "INVALID_FIELD"
    for socket in (ws, *sockets):
        await socket.close()

