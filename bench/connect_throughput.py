"""Connect throughput: authenticated connects per server CPU-second, against a bare accept.

    .venv/bin/python bench/connect_throughput.py --rounds 5 --connects 2000

A connect is open → ``users.auth.ack`` → close, dialled ``--concurrency`` at a time from this
process to 127.0.0.1. Five servers run side by side: ``serve.py`` for ID login, for token
login (a stored token, looked up by its keyed hash), for signed-token login (``jwt``: a JWT
the benchmark signs with PyJWT under a signing key of the app, one per user, used again on
each of the user's connects as a token login uses its token, its users already known) and
for signed-token login with a new token on every connect (``jwt-fresh``: none met before,
so every one is verified in full), each to its own fresh server, so one login's state cannot
help another, and a bare aiohttp WebSocket server on the same stack that only accepts and
sends one frame (``bench/bare_ws_server.py``). Each round measures them all in rotating
order; a server's rate is connects divided by the CPU seconds its process used meanwhile, so
the dialler's own CPU does not count. The ratio is the median of the per-round ratios to the
bare server's rate. Goal: at least 0.8 for ID and token login, and signed-token logins at
least as many as token logins (``jwt``/``token`` ≥ 1.0; ``jwt-fresh``/``token`` shown beside).

With ``--baseline DIR`` (a checkout of an earlier commit, from ``git worktree add``), that
checkout's ``serve.py`` runs beside them for ID and token login too, so before and after are
measured in the same rounds.

With ``--postgres``, four more nodes join the rounds, each on its own database of a private
PostgreSQL this script starts (and stops): ``pg`` (the PostgreSQL store alone) and ``cluster``
(the store and a private Redis, as a cluster node runs), each for ID and token login. Their
rate against the SQLite node's for the same login is the ratio, goal at least 0.7. The CPU of
PostgreSQL's processes (and of Redis) over the same measurement is reported beside it: the
work a login moves out of the node.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from load import (
    UNLIMITED,
    BareServer,
    CheckoutServer,
    cpu_seconds,
    create_token_users,
    dial_many,
    id_query,
    pin,
    postmaster_pid,
    private_services,
    signed_tokens,
    start_node,
    start_serve,
    tree_cpu_seconds,
)

GOAL = 0.8
POSTGRES_GOAL = 0.7
JWT_GOAL = 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connects", type=int, default=2000, help="connects per measurement")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--users", type=int, default=500,
                        help="distinct users the connects cycle through")
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="also measure the serve.py of this checkout (an earlier commit)")
    parser.add_argument("--postgres", action="store_true",
                        help="also measure nodes on PostgreSQL, and on PostgreSQL and Redis")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 500 connects")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.connects = 2, 500

    with ExitStack() as services:
        measure(args, services)


def measure(args: argparse.Namespace, services: ExitStack) -> None:
    bare = BareServer()
    bare.start()
    servers = {"id": start_serve(), "token": start_serve(), "jwt": start_serve(),
               "jwt-fresh": start_serve()}
    backing: dict[str, list[int]] = {}
    """Per server: the processes (PostgreSQL's postmaster, Redis) whose CPU is its too."""
    if args.postgres:
        postgres, redis = services.enter_context(private_services())
        assert redis is not None
        for name in ("id", "token"):
            servers[f"{name}-pg"] = start_node(postgres)
            servers[f"{name}-cluster"] = start_node(postgres, redis)
            backing[f"{name}-pg"] = [postmaster_pid(postgres)]
            backing[f"{name}-cluster"] = [postmaster_pid(postgres),
                                          redis._process.pid]  # type: ignore[union-attr]
    if args.baseline:
        for name in ("id", "token"):
            servers[f"{name}-baseline"] = CheckoutServer(Path(tempfile.mkdtemp()),
                                                         checkout=args.baseline,
                                                         options=UNLIMITED)
            servers[f"{name}-baseline"].start()
    try:
        urls = {"bare": [bare.ws_url] * args.connects}
        fresh: dict[str, list[str]] = {}
        """Per server: URLs no connect has used yet, taken a measurement's worth at a time."""
        for name, server in servers.items():
            if name.startswith("id"):
                urls[name] = [f"{server.ws_url}?{id_query(server, f'ip-{n % args.users}')}"
                              for n in range(args.connects)]
            elif name == "jwt":
                signed = signed_tokens(server, args.users, "jp")
                urls[name] = [f"{server.ws_url}?{id_query(server, user)}&access_token="
                              f"{signed[user][0]}" for user in
                              (f"jp-{n % args.users}" for n in range(args.connects))]
            elif name == "jwt-fresh":
                per_user = -(-args.connects * (args.rounds + 1) // args.users)
                signed = signed_tokens(server, args.users, "jf", per_user)
                fresh[name] = [f"{server.ws_url}?{id_query(server, f'jf-{n % args.users}')}"
                               f"&access_token={signed[f'jf-{n % args.users}'][n // args.users]}"
                               for n in range(args.connects * (args.rounds + 1))]
                urls[name] = fresh[name][:args.connects]
            else:
                tokens = create_token_users(server, args.users, "tp")
                urls[name] = [f"{server.ws_url}?{id_query(server, user)}&access_token="
                              f"{tokens[user]}" for user in
                              (f"tp-{n % args.users}" for n in range(args.connects))]
        pids = {"bare": bare.proc.pid,  # type: ignore[union-attr]
                **{name: server.proc.pid for name, server in servers.items()}}  # type: ignore[union-attr]
        print(pin(list(pids.values())))
        for name in servers:
            if name.startswith(("id", "jwt")):  # the users exist before measuring
                asyncio.run(dial_many(urls[name][:args.users], args.concurrency))
        for name, unused in fresh.items():
            del unused[:args.connects]
        rates: dict[str, list[float]] = {name: [] for name in urls}
        backing_ms: dict[str, list[float]] = {name: [] for name in backing}
        names = list(urls)
        for round_ in range(args.rounds):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                before = cpu_seconds(pids[name])
                behind = sum(tree_cpu_seconds(pid) for pid in backing.get(name, ()))
                if name in fresh:
                    urls[name], fresh[name] = (fresh[name][:args.connects],
                                               fresh[name][args.connects:])
                asyncio.run(dial_many(urls[name], args.concurrency))
                rates[name].append(args.connects / (cpu_seconds(pids[name]) - before))
                if name in backing:
                    behind = sum(tree_cpu_seconds(pid) for pid in backing[name]) - behind
                    backing_ms[name].append(behind / args.connects * 1000)
    finally:
        bare.stop()
        for server in servers.values():
            server.stop()

    print(f"{args.rounds} rounds of {args.connects} connects, {args.concurrency} at a time; "
          "connects per server CPU-second, median (min–max)")
    for name, values in rates.items():
        print(f"  {name:13} {statistics.median(values):8.0f} "
              f"({min(values):.0f}–{max(values):.0f})")
    for name, values in backing_ms.items():
        print(f"  {name}: PostgreSQL{' and Redis' if 'cluster' in name else ''} used "
              f"{statistics.median(values):.2f} ms of CPU per connect besides the node")
    failed = False
    for name in (name for name in rates if name.endswith(("-pg", "-cluster"))):
        login = name.split("-")[0]
        ratios = [a / b for a, b in zip(rates[name], rates[login])]
        ratio = statistics.median(ratios)
        failed |= ratio < POSTGRES_GOAL
        print(f"ratio {name}/{login}: median {ratio:.2f} (min {min(ratios):.2f}, max "
              f"{max(ratios):.2f}), goal ≥ {POSTGRES_GOAL}: "
              f"{'ok' if ratio >= POSTGRES_GOAL else 'MISSED'}")
    for name in ("jwt", "jwt-fresh"):
        ratios = [a / b for a, b in zip(rates[name], rates["token"])]
        ratio = statistics.median(ratios)
        goal = name == "jwt"
        failed |= goal and ratio < JWT_GOAL
        print(f"ratio {name}/token: median {ratio:.2f} (min {min(ratios):.2f}, max "
              f"{max(ratios):.2f})" + (f", goal ≥ {JWT_GOAL}: "
                                       f"{'ok' if ratio >= JWT_GOAL else 'MISSED'}"
                                       if goal else " (reported)"))
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
