"""Connect throughput: authenticated connects per server CPU-second, against a bare accept.

    .venv/bin/python bench/connect_throughput.py --rounds 5 --connects 2000

A connect is open → ``users.auth.ack`` → close, dialled ``--concurrency`` at a time from this
process to 127.0.0.1. Three servers run side by side: ``serve.py`` (for ID login and for token
login, each to its own fresh server, so one login's state cannot help the other) and a bare
aiohttp WebSocket server on the same stack that only accepts and sends one frame
(``bench/bare_ws_server.py``). Each round measures all three in rotating order; a server's rate
is connects divided by the CPU seconds its process used meanwhile, so the dialler's own CPU
does not count. The ratio is the median of the per-round ratios to the bare server's rate.
Goal: at least 0.8 for each login.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys

from load import (
    BareServer,
    cpu_seconds,
    create_token_users,
    dial_many,
    id_query,
    pin,
    start_serve,
)

GOAL = 0.8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connects", type=int, default=2000, help="connects per measurement")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--users", type=int, default=500,
                        help="distinct users the connects cycle through")
    args = parser.parse_args()

    bare = BareServer()
    bare.start()
    id_server = start_serve()
    token_server = start_serve()
    try:
        tokens = create_token_users(token_server, args.users, "tp")
        urls = {
            "bare": [bare.ws_url] * args.connects,
            "id": [f"{id_server.ws_url}?{id_query(id_server, f'ip-{n % args.users}')}"
                   for n in range(args.connects)],
            "token": [f"{token_server.ws_url}?{id_query(token_server, user)}&access_token="
                      f"{tokens[user]}" for user in
                      (f"tp-{n % args.users}" for n in range(args.connects))],
        }
        pids = {"bare": bare.proc.pid, "id": id_server.proc.pid,  # type: ignore[union-attr]
                "token": token_server.proc.pid}  # type: ignore[union-attr]
        print(pin(list(pids.values())))
        asyncio.run(dial_many(urls["id"][:args.users], args.concurrency))  # create the ID users
        rates: dict[str, list[float]] = {name: [] for name in urls}
        names = list(urls)
        for round_ in range(args.rounds):
            for name in names[round_ % 3:] + names[:round_ % 3]:
                before = cpu_seconds(pids[name])
                asyncio.run(dial_many(urls[name], args.concurrency))
                rates[name].append(args.connects / (cpu_seconds(pids[name]) - before))
    finally:
        bare.stop()
        id_server.stop()
        token_server.stop()

    print(f"{args.rounds} rounds of {args.connects} connects, {args.concurrency} at a time; "
          "connects per server CPU-second, median (min–max)")
    for name, values in rates.items():
        print(f"  {name:6} {statistics.median(values):8.0f} "
              f"({min(values):.0f}–{max(values):.0f})")
    failed = False
    for name in ("id", "token"):
        ratios = [a / b for a, b in zip(rates[name], rates["bare"])]
        ratio = statistics.median(ratios)
        verdict = "ok" if ratio >= GOAL else "MISSED"
        failed |= ratio < GOAL
        print(f"ratio {name}/bare: median {ratio:.2f} (min {min(ratios):.2f}, max "
              f"{max(ratios):.2f}), goal ≥ {GOAL}: {verdict}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
