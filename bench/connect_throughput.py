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

With ``--baseline DIR`` (a checkout of an earlier commit, from ``git worktree add``), that
checkout's ``serve.py`` runs beside them for ID and token login too, so before and after are
measured in the same rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile

from pathlib import Path

from load import (
    BareServer,
    CheckoutServer,
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
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="also measure the serve.py of this checkout (an earlier commit)")
    args = parser.parse_args()

    bare = BareServer()
    bare.start()
    servers = {"id": start_serve(), "token": start_serve()}
    if args.baseline:
        for name in ("id", "token"):
            servers[f"{name}-baseline"] = CheckoutServer(Path(tempfile.mkdtemp()),
                                                         checkout=args.baseline)
            servers[f"{name}-baseline"].start()
    try:
        urls = {"bare": [bare.ws_url] * args.connects}
        for name, server in servers.items():
            if name.startswith("id"):
                urls[name] = [f"{server.ws_url}?{id_query(server, f'ip-{n % args.users}')}"
                              for n in range(args.connects)]
            else:
                tokens = create_token_users(server, args.users, "tp")
                urls[name] = [f"{server.ws_url}?{id_query(server, user)}&access_token="
                              f"{tokens[user]}" for user in
                              (f"tp-{n % args.users}" for n in range(args.connects))]
        pids = {"bare": bare.proc.pid,  # type: ignore[union-attr]
                **{name: server.proc.pid for name, server in servers.items()}}  # type: ignore[union-attr]
        print(pin(list(pids.values())))
        for name in servers:
            if name.startswith("id"):  # create the ID users
                asyncio.run(dial_many(urls[name][:args.users], args.concurrency))
        rates: dict[str, list[float]] = {name: [] for name in urls}
        names = list(urls)
        for round_ in range(args.rounds):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                before = cpu_seconds(pids[name])
                asyncio.run(dial_many(urls[name], args.concurrency))
                rates[name].append(args.connects / (cpu_seconds(pids[name]) - before))
    finally:
        bare.stop()
        for server in servers.values():
            server.stop()

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
        if f"{name}-baseline" in rates:
            ratios = [a / b for a, b in zip(rates[name], rates[f"{name}-baseline"])]
            print(f"ratio {name}/{name}-baseline: median {statistics.median(ratios):.2f} "
                  f"(min {min(ratios):.2f}, max {max(ratios):.2f})")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
