"""Reconnect storm: 5,000 live sessions, the server restarts, and all of them come back.

    .venv/bin/python bench/reconnect_storm.py --sessions 5000

The clients reconnect as the SDK does (``tests/ws_client.py``): first with their session key,
waiting 1, 2, 4 … s between attempts with no jitter, so they all arrive together. Half log in
by user ID, half with a token. The server is stopped (SIGTERM, which closes the sockets
without ending the sessions) and started again on the same port and database. Reported: the
time from the restart command until every client is connected again, and from the moment the
new server listens, with the share back by when, and the CPU the new server spent taking
them back. Each client must be back exactly once, with no refusal. All 5,000 clients live in
this one Python process on one CPU, which makes the dialler, not the server, the slower side
(compare the server's CPU time with the wall time).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import aiohttp
from load import cpu_seconds, create_token_users, percentile, pin, start_serve
from server_process import ServerProcess
from ws_client import ReconnectingClient


async def storm(server: ServerProcess, users: list[tuple[str, str | None]]
                ) -> tuple[float, float]:
    sessions = len(users)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            clients = [ReconnectingClient(http, server, user, token) for user, token in users]
            tasks = [asyncio.create_task(client.run()) for client in clients]
            await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in clients)), 300)
            print(f"  {sessions} sessions connected", flush=True)
            restarted = time.monotonic()
            await asyncio.to_thread(server.stop)
            await asyncio.to_thread(server.start)
            pin([server.proc.pid])  # type: ignore[union-attr]
            listening = time.monotonic()
            cpu_at_start = cpu_seconds(server.proc.pid)  # type: ignore[union-attr]
            arrivals: list[float] = []

            async def arrival(client: ReconnectingClient) -> None:
                await client.connected.wait()
                arrivals.append(time.monotonic() - listening)

            await asyncio.wait_for(asyncio.gather(*(arrival(c) for c in clients)), 600)
            back = time.monotonic()
            busy = cpu_seconds(server.proc.pid) - cpu_at_start  # type: ignore[union-attr]
            print(f"  the server used {busy:.1f} CPU-s to take them all back "
                  f"({busy / sessions * 1000:.2f} ms each)", flush=True)
            print("  back after the new server listened: " + ", ".join(
                f"{share:.0%} by {percentile(arrivals, share):.1f} s"
                for share in (0.1, 0.5, 0.9, 0.99)), flush=True)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    refused = sum(bool(c.refusals) for c in clients)
    twice = sum(c.logins != 2 for c in clients)
    if refused or twice:
        raise SystemExit(f"{refused} clients refused, {twice} not back exactly once")
    return back - restarted, back - listening


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=5000)
    args = parser.parse_args()
    server = start_serve()
    try:
        pin([server.proc.pid])  # type: ignore[union-attr]
        tokens = create_token_users(server, args.sessions // 2, "storm")
        users: list[tuple[str, str | None]] = [*tokens.items()]
        users += [(f"storm-id-{n}", None) for n in range(args.sessions - len(users))]
        total, after_listen = asyncio.run(storm(server, users))
    finally:
        server.stop()
    print(f"{args.sessions} sessions back {total:.1f} s after the restart began, "
          f"{after_listen:.1f} s after the new server was listening")
    sys.exit(0)


if __name__ == "__main__":
    main()
