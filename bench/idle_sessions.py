"""Idle sessions: 10,000 authenticated sessions held by one server process for 5 minutes.

    .venv/bin/python bench/idle_sessions.py --sessions 10000 --minutes 5

Opens the sessions (ID login, one user each), measures the server's RSS before and after,
then keeps them idle the way the SDK does, a ``ping`` every 60 s and nothing else, for the
given minutes (the server's idle timeout is 5 minutes, so the pings are what keep them). At
the end every session must still answer a request. Goal: at most 20 KiB of RSS per session.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time

import aiohttp
from load import id_query, pin, rss_bytes, start_serve

GOAL_KIB = 20.0


async def hold(url_of: list[str], minutes: float, pid: int) -> tuple[int, int, int]:
    """(RSS after opening, sessions alive at the end, RSS at the end)."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        sockets: list[aiohttp.ClientWebSocketResponse] = []
        gate = asyncio.Semaphore(200)

        async def open_one(url: str) -> None:
            async with gate:
                ws = await http.ws_connect(url, autoping=True, heartbeat=None)
                ack = json.loads((await ws.receive(timeout=30)).data)
                assert ack["d"]["ok"], ack
                sockets.append(ws)

        await asyncio.gather(*(open_one(url) for url in url_of))
        await asyncio.sleep(2)
        opened_rss = rss_bytes(pid)
        print(f"  {len(sockets)} sessions open; RSS {opened_rss / 2**20:.1f} MiB", flush=True)

        async def idle(ws: aiohttp.ClientWebSocketResponse, n: int) -> bool:
            deadline = time.monotonic() + minutes * 60
            await asyncio.sleep(random.uniform(0, 60))
            while time.monotonic() < deadline:
                await ws.send_str(json.dumps({"t": "ping", "r": n}))
                await asyncio.sleep(min(60, max(0.0, deadline - time.monotonic())))
            await ws.send_str(json.dumps({"t": "users.update", "d": {}, "r": 1}))
            try:
                reply = await ws.receive(timeout=60)
            except asyncio.TimeoutError:
                return False
            return reply.type == aiohttp.WSMsgType.TEXT and json.loads(reply.data)["to"] == 1

        alive = sum(await asyncio.gather(*(idle(ws, n) for n, ws in enumerate(sockets))))
        end_rss = rss_bytes(pid)
        for ws in sockets:
            await ws.close()
        return opened_rss, alive, end_rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--minutes", type=float, default=5.0)
    args = parser.parse_args()
    server = start_serve()
    pid = server.proc.pid  # type: ignore[union-attr]
    try:
        print(pin([pid]))
        warm = [f"{server.ws_url}?{id_query(server, f'warm-{n}')}" for n in range(200)]
        asyncio.run(hold(warm, 0, pid))  # imports, caches and pools settle
        time.sleep(2)
        base = rss_bytes(pid)
        print(f"  baseline RSS {base / 2**20:.1f} MiB", flush=True)
        urls = [f"{server.ws_url}?{id_query(server, f'idle-{n}')}"
                for n in range(args.sessions)]
        opened, alive, end = asyncio.run(hold(urls, args.minutes, pid))
    finally:
        server.stop()
    per_session = (opened - base) / args.sessions / 1024
    print(f"{args.sessions} sessions: {per_session:.1f} KiB RSS each after opening "
          f"({(end - base) / args.sessions / 1024:.1f} KiB at the end); "
          f"{alive} still answering after {args.minutes:g} min")
    ok = per_session <= GOAL_KIB and alive == args.sessions
    print(f"goal ≤ {GOAL_KIB:.0f} KiB per session and all alive: {'ok' if ok else 'MISSED'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
