"""Cluster size: two nodes hold 30,000 idle SDK-like sessions for 5 minutes.

    .venv/bin/python bench/cluster_idle.py --sessions 30000 --minutes 5

Two ``serve.py`` nodes on a private PostgreSQL and Redis (``tests/cluster_harness.py``),
started by this script and stopped after. The sessions (ID logins, one user each) are split
evenly over the nodes and held by worker processes (``bench/holders.py``) of at most
``--per-process`` sessions each, every one connecting from its own 127.0.0.0/8 address: a
process here may open at most 20,000 files. They stay idle as the SDK keeps them, a ``ping``
every 60 s; at the end every one must answer a request. RSS per session is the sum over the
nodes of (RSS with the sessions − RSS after a warm-up of 200 sessions), divided by the
sessions. Meanwhile this process makes a trickle of fresh logins (``--trickle`` a second, a
new user each, alternately on each node) and times open → ``users.auth.ack``.

Goals: at most 16 KiB of RSS per session, all alive at the end, trickle p99 at most 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from cluster_harness import Cluster, client_session, new_cluster, token_query
from holders import Holders
from load import UNLIMITED, dial, percentile, private_services, rss_bytes

GOAL_KIB = 16.0
GOAL_P99_MS = 50.0


def open_sessions(cluster: Cluster, prefix: str, count: int, per_process: int
                  ) -> list[Holders]:
    holders = []
    address = 2
    for n, node in enumerate(cluster.nodes):
        share = count // 2 + (count % 2 if n == 0 else 0)
        for start in range(0, share, per_process):
            urls = [f"{node.ws_url}?{token_query(cluster.app_id, f'{prefix}-{n}-{k}')}"
                    for k in range(start, min(share, start + per_process))]
            holders.append(Holders(urls, f"127.0.0.{address}", node.base_url))
            address += 1
    opened = [holder.answer() for holder in holders]
    print(f"  opened {sum(o['opened'] for o in opened)} of {count} over {len(holders)} "
          f"processes ({sum(o['refused'] for o in opened)} failed)", flush=True)
    return holders


async def trickle(cluster: Cluster, per_second: float, seconds: float) -> list[float]:
    """Open → ack times of fresh logins, one every 1 / ``per_second`` s, nodes alternating."""
    times: list[float] = []
    deadline = time.monotonic() + seconds
    async with client_session("127.0.0.200") as http:
        n = 0
        while time.monotonic() < deadline:
            node = cluster.nodes[n % 2]
            query = token_query(cluster.app_id, f"fresh-{time.monotonic_ns()}")
            times.append(await dial(http, f"{node.ws_url}?{query}", origin=node.base_url))
            n += 1
            await asyncio.sleep(1 / per_second)
    return times


def report(sessions: int, minutes: float, base: list[int], opened: list[int],
           end: list[int], alive: int, times: list[float]) -> bool:
    per_session = (sum(opened) - sum(base)) / sessions / 1024
    at_end = (sum(end) - sum(base)) / sessions / 1024
    p50, p99 = percentile(times, 0.5) * 1000, percentile(times, 0.99) * 1000
    print(f"{sessions} sessions on two nodes: {per_session:.1f} KiB RSS each after "
          f"opening ({at_end:.1f} KiB at the end); {alive} still answering after "
          f"{minutes:g} min")
    print(f"{len(times)} fresh logins meanwhile: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max "
          f"{max(times) * 1000:.1f} ms")
    ok = per_session <= GOAL_KIB and alive == sessions and p99 <= GOAL_P99_MS
    print(f"goals ≤ {GOAL_KIB:.0f} KiB per session, all alive, p99 ≤ {GOAL_P99_MS:.0f} ms: "
          f"{'ok' if ok else 'MISSED'}", flush=True)
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=30_000)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--per-process", type=int, default=5000)
    parser.add_argument("--trickle", type=float, default=5.0, help="fresh logins per second")
    parser.add_argument("--quick", action="store_true", help="4,000 sessions for 1 minute")
    args = parser.parse_args()
    if args.quick:
        args.sessions, args.minutes = 4000, 1.0
    with private_services() as (postgres, redis):
        assert redis is not None
        cluster = new_cluster(Path(tempfile.mkdtemp()), postgres, redis, 0, UNLIMITED)
        holders: list[Holders] = []
        try:
            cluster.start()
            pids = [node.proc.pid for node in cluster.nodes]  # type: ignore[union-attr]
            warm = open_sessions(cluster, "warm", 400, args.per_process)
            for holder in warm:
                holder.stop()
            time.sleep(2)
            base = [rss_bytes(pid) for pid in pids]
            holders = open_sessions(cluster, "idle", args.sessions, args.per_process)
            time.sleep(2)
            opened = [rss_bytes(pid) for pid in pids]
            for n, pid in enumerate(pids):
                print(f"  node {'AB'[n]}: RSS {base[n] / 2**20:.1f} MiB → "
                      f"{opened[n] / 2**20:.1f} MiB", flush=True)
            times = asyncio.run(trickle(cluster, args.trickle, args.minutes * 60))
            alive = sum(holder.ask("check")["alive"] for holder in holders)
            end = [rss_bytes(pid) for pid in pids]
            ok = report(args.sessions, args.minutes, base, opened, end, alive, times)
        finally:
            for holder in holders:
                holder.stop()
            for node in cluster.nodes:  # 15,000 closes take a node longer than stop() waits
                if node.proc is not None:
                    node.proc.kill()
            cluster.stop()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
