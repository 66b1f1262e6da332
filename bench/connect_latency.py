"""Connect latency: open → ``users.auth.ack`` with 200 concurrent dialers.

    .venv/bin/python bench/connect_latency.py --dialers 200 --seconds 20

Each dialer loops: connect (ID login as its own user, or token login), wait for the ack,
close, think for a random 0.5-1.5 s, again, until the time is up; 200 dialers so make about
200 connects a second. A second figure, the burst, has all dialers connect at the same
instant once, the worst case of a reconnect storm in miniature. Server pinned to one CPU, the
dialers to the other. Goal: p99 of the steady load at most 50 ms for each login.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time

import aiohttp
from load import create_token_users, dial, id_query, percentile, pin, start_serve

GOAL_P99_MS = 50.0


async def steady(urls: list[str], seconds: float) -> list[float]:
    deadline = time.monotonic() + seconds
    times: list[float] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        async def dialer(url: str) -> None:
            await asyncio.sleep(random.uniform(0, 1))
            while time.monotonic() < deadline:
                times.append(await dial(http, url))
                await asyncio.sleep(random.uniform(0.5, 1.5))
        await asyncio.gather(*(dialer(url) for url in urls))
    return times


async def burst(urls: list[str]) -> list[float]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        return list(await asyncio.gather(*(dial(http, url) for url in urls)))


def report(label: str, times: list[float], seconds: float | None = None) -> float:
    p50, p99 = percentile(times, 0.5) * 1000, percentile(times, 0.99) * 1000
    rate = f", {len(times) / seconds:.0f} connects/s" if seconds else ""
    print(f"  {label:14} n={len(times):6}  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  "
          f"max {max(times) * 1000:6.1f} ms{rate}")
    return p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dialers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    server = start_serve()
    try:
        print(pin([server.proc.pid]))  # type: ignore[union-attr]
        tokens = create_token_users(server, args.dialers, "lat")
        urls = {
            "id": [f"{server.ws_url}?{id_query(server, f'lid-{n}')}"
                   for n in range(args.dialers)],
            "token": [f"{server.ws_url}?{id_query(server, user)}&access_token={token}"
                      for user, token in tokens.items()],
        }
        asyncio.run(burst(urls["id"]))  # creates the ID users; not measured
        print(f"{args.dialers} dialers; open → users.auth.ack")
        failed = False
        for name, batch in urls.items():
            p99 = report(f"{name} steady", asyncio.run(steady(batch, args.seconds)), args.seconds)
            verdict = "ok" if p99 <= GOAL_P99_MS else "MISSED"
            failed |= p99 > GOAL_P99_MS
            print(f"  {name} steady p99 goal ≤ {GOAL_P99_MS:.0f} ms: {verdict}")
            report(f"{name} burst", asyncio.run(burst(batch)))
    finally:
        server.stop()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
