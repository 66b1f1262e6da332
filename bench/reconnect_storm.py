"""Reconnect storm: 5,000 live sessions, the server restarts, and all of them come back.

    .venv/bin/python bench/reconnect_storm.py --sessions 5000

The clients reconnect as the SDK does (``tests/ws_client.py``): first with their session key,
waiting 1, 2, 4 … s between attempts with no jitter, so they all arrive together. Half log in
by user ID, half with a token. The server is stopped (SIGTERM, which closes the sockets
without ending the sessions) and started again on the same port and database. Reported: the
time from the restart command until every client is connected again, and from the moment the
new server listens. Each client must be back exactly once, with no refusal.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import aiohttp
from load import create_token_users, pin, start_serve
from ws_client import ReconnectingClient


async def storm(sessions: int) -> tuple[float, float]:
    server = start_serve()
    pin([server.proc.pid])  # type: ignore[union-attr]
    tokens = create_token_users(server, sessions // 2, "storm")
    users: list[tuple[str, str | None]] = [*tokens.items()]
    users += [(f"storm-id-{n}", None) for n in range(sessions - len(users))]
    try:
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
            await asyncio.sleep(0.2)
            await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in clients)), 600)
            back = time.monotonic()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        refused = sum(bool(c.refusals) for c in clients)
        twice = sum(c.logins != 2 for c in clients)
        if refused or twice:
            raise SystemExit(f"{refused} clients refused, {twice} not back exactly once")
        return back - restarted, back - listening
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=5000)
    args = parser.parse_args()
    total, after_listen = asyncio.run(storm(args.sessions))
    print(f"{args.sessions} sessions back {total:.1f} s after the restart began, "
          f"{after_listen:.1f} s after the new server was listening")
    sys.exit(0)


if __name__ == "__main__":
    main()
