"""Node loss: the sessions of a killed, drained or stopped node come back on the survivor.

    .venv/bin/python bench/node_loss.py --sessions 5000 --rounds 2

Two ``serve.py`` nodes on a private PostgreSQL and Redis behind a private HAProxy
(``tests/cluster_harness.py``), all started by this script and stopped after. ``--sessions``
clients (half by token, half by ID) connect through HAProxy while it sends everything to
node A, and reconnect as the SDK does (``SdkClient``: the session key first, then 1, 2, 4 … s
with no jitter). Then node A goes, three ways:

- ``kill -9``: the time until every client is back on B; goal within 15 s;
- ``drained``: SIGTERM with ``--drain-seconds 10``: A closes its sessions spread over 10 s;
- ``undrained``: SIGINT: A closes them all at once.

Drained and undrained alternate for ``--rounds`` rounds. For each, node B's CPU is sampled
every 100 ms in a thread and its peak (share of one core) reported, with the time until all
are back. Every client must be back exactly once, by its session key, and none refused.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from cluster_harness import Cluster, Crowd, SdkClient, api, client_session
from load import UNLIMITED, CpuPeak, percentile, private_services

GOAL_KILLED_S = 15.0
DRAIN_SECONDS = 10.0
HOW = {"kill -9": signal.SIGKILL, "drained": signal.SIGTERM, "undrained": signal.SIGINT}


async def make_users(cluster: Cluster, count: int) -> dict[str, str | None]:
    """Half token users (made through the API), half ID logins."""
    users: dict[str, str | None] = {}
    gate = asyncio.Semaphore(40)
    async with aiohttp.ClientSession() as http:
        async def one(n: int) -> None:
            async with gate:
                made = await api(http, cluster.b, cluster.api_key, "users.create",
                                 {"id": f"lost-token-{n}"})
                users[made["user"]["id"]] = made["access_token"]
        await asyncio.gather(*(one(n) for n in range(count // 2)))
    users.update((f"lost-id-{n}", None) for n in range(count - len(users)))
    return users


async def lose_a(cluster: Cluster, users: dict[str, str | None], how: str
                 ) -> dict[str, Any]:
    """Node A, holding every session, goes ``how``; when they are all back on B, and B's
    peak CPU meanwhile."""
    cluster.pin(cluster.a)
    async with client_session() as http:
        clients = [SdkClient(http, cluster.endpoint(), user, token, max_delay=120)
                   for user, token in users.items()]
        async with Crowd(clients) as crowd:
            await crowd.all_connected(300)
            cluster.unpin()
            held = cluster.current_sessions()
            assert held[cluster.name(cluster.a)] == len(clients), held
            assert cluster.a.proc is not None and cluster.b.proc is not None
            with CpuPeak(cluster.b.proc.pid) as cpu:
                gone = time.monotonic()
                cluster.a.proc.send_signal(HOW[how])
                deadline = gone + 120
                while not all(c.logins == 2 and c.connected.is_set() for c in clients):
                    if time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.05)
                back = time.monotonic() - gone
            cluster.a.proc.wait(timeout=30)
            cluster.a.proc = None
            arrivals = [c.drops[0] - gone for c in clients if c.drops]
            result = {
                "back": back, "peak": cpu.peak, "busy": cpu.share_above(0.8),
                "top": sorted(((share, at - gone) for at, share in cpu.samples),
                              reverse=True)[:5],
                "refused": len(crowd.refusals()),
                "not once": sum(c.logins != 2 or c.resumes != 1 for c in clients),
                "drops spread": percentile(arrivals, 0.99) - percentile(arrivals, 0.01),
            }
    cluster.restore()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="1,000 sessions, one round")
    args = parser.parse_args()
    if args.quick:
        args.sessions, args.rounds = 1000, 1
    ok = True
    peaks: dict[str, list[float]] = {"drained": [], "undrained": []}
    with private_services() as (postgres, redis):
        assert redis is not None
        workdir = Path(tempfile.mkdtemp())
        cluster = Cluster(workdir, postgres.url(postgres.create_database()), redis.url(0),
                          workdir / "secret", UNLIMITED, DRAIN_SECONDS)
        try:
            cluster.start()
            users = asyncio.run(make_users(cluster, args.sessions))
            plan = ["kill -9"] + ["drained", "undrained"] * args.rounds
            for how in plan:
                result = asyncio.run(lose_a(cluster, users, how))
                clean = result["refused"] == 0 and result["not once"] == 0
                verdict = ""
                if how == "kill -9":
                    met = clean and result["back"] <= GOAL_KILLED_S
                    verdict = f"; goal ≤ {GOAL_KILLED_S:.0f} s: {'ok' if met else 'MISSED'}"
                    ok &= met
                else:
                    peaks[how].append(result["peak"])
                    ok &= clean
                top = ", ".join(f"{share:.0%} at {at:+.1f} s" for share, at in result["top"])
                print(f"  {how:9}: {args.sessions} all back on B {result['back']:.1f} s after "
                      f"the signal; B's peak CPU {result['peak']:.0%} of a core (over 80% in "
                      f"{result['busy']:.0%} of the samples; top: {top}); A's closes "
                      f"spread over {result['drops spread']:.1f} s; {result['refused']} "
                      f"refused, {result['not once']} not back exactly once by their key"
                      f"{verdict}", flush=True)
        finally:
            cluster.stop()
    ratios = [d / u for d, u in zip(peaks["drained"], peaks["undrained"])]
    print(f"B's peak CPU, drained / undrained: median {statistics.median(ratios):.2f} "
          f"(per round: {', '.join(f'{r:.2f}' for r in ratios)})")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
