"""asyncpg against psycopg 3 on the PostgreSQL store's two login queries, side by side.

    .venv/bin/python bench/store_drivers.py --ops 5000

A private PostgreSQL (tests/postgres_service.py) gets the store's schema and 100,000 tokens
of 10,000 users.  The two queries are the token-login lookup (``find_token``, a join of a
token and its user by a 32-byte keyed hash) and ``consume_session`` (a new session key each
time, so each is a write that wins).  asyncpg runs them through ``PostgresStore`` itself;
psycopg runs the same SQL through an ``AsyncConnectionPool`` and builds the same objects, so
the difference is the driver.  One client, sequential, on loopback.  After a warm-up, the
drivers alternate in rounds of ``--ops / --rounds`` operations, so the machine's drift hits
both alike.  Reported: wall-clock latency per operation (p50, p99) and CPU time of this
process per operation (``time.process_time``), the part that competes with the server's
other work on its core.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from typing import Any, Awaitable, Callable

from load import percentile  # first: it puts tests/ and the checkout on sys.path
from postgres_service import PostgresServer
from psycopg_pool import AsyncConnectionPool

from chatcamp_server.storage import postgres
from chatcamp_server.storage.postgres import PostgresStore

APP_ID = "1000000000000000001"
USERS = 10_000
TOKENS_PER_USER = 10
Op = Callable[[int], Awaitable[Any]]


def named(sql: str) -> str:
    """asyncpg's ``$1`` placeholders as psycopg's ``%(p1)s``, which may repeat like them."""
    return re.sub(r"\$(\d+)", r"%(p\1)s", sql)


def mac(n: int) -> bytes:
    return n.to_bytes(32, "big")


async def seed(store: PostgresStore) -> None:
    async with store._connection() as con:
        await con.execute("INSERT INTO apps VALUES ($1, 'bench', $2, '{}', 0, false)", APP_ID,
                          b"k" * 32)
        await con.execute(
            "INSERT INTO users (app_id, id, created_at, updated_at)"
            " SELECT $1, 'u' || n, 0, 0 FROM generate_series(0, $2::int - 1) n", APP_ID, USERS)
        await con.execute(
            "INSERT INTO tokens (id, app_id, user_id, kind, mac, created_at)"
            " SELECT 't' || n, $1, 'u' || (n % $2::int), 'issued',"
            " decode(lpad(to_hex(n), 64, '0'), 'hex'), 0"
            " FROM generate_series(0, $2::int * $3::int - 1) n", APP_ID, USERS, TOKENS_PER_USER)
        await con.execute("ANALYZE")


def asyncpg_ops(store: PostgresStore) -> dict[str, Op]:
    async def find(n: int) -> Any:
        token = n * 7919 % (USERS * TOKENS_PER_USER)
        return await store.find_token(APP_ID, f"u{token % USERS}", mac(token))

    async def consume(n: int) -> Any:
        return await store.consume_session(f"a{n}", 2e9, 1e9)

    return {"find_token": find, "consume_session": consume}


def psycopg_ops(pool: AsyncConnectionPool) -> dict[str, Op]:
    login = named(postgres.TOKEN_LOGIN_QUERY)
    consume_sql = named(postgres.CONSUME_SESSION)
    width = postgres._USER_WIDTH

    async def find(n: int) -> Any:
        token = n * 7919 % (USERS * TOKENS_PER_USER)
        async with pool.connection() as con:
            cursor = await con.execute(login, {"p1": APP_ID, "p2": f"u{token % USERS}",
                                               "p3": mac(token)})
            row = await cursor.fetchone()
        return None if row is None else (postgres._user(row[:width]),
                                         postgres._token(row[width:]))

    async def consume(n: int) -> Any:
        async with pool.connection() as con:
            cursor = await con.execute(consume_sql, {"p1": f"p{n}", "p2": 2e9, "p3": 1e9})
            return await cursor.fetchone() is not None

    return {"find_token": find, "consume_session": consume}


async def timed(op: Op, start: int, count: int) -> tuple[list[float], float]:
    latencies = []
    cpu = time.process_time()
    for n in range(start, start + count):
        began = time.perf_counter()
        assert await op(n)
        latencies.append(time.perf_counter() - began)
    return latencies, time.process_time() - cpu


async def main(ops: int, rounds: int, warmup: int) -> None:
    server = PostgresServer()
    server.init()
    server.start()
    try:
        url = server.url(server.create_database())
        store = PostgresStore(url)
        await store.open()
        await seed(store)
        pool = AsyncConnectionPool(url, min_size=1, max_size=10, open=False,
                                   kwargs={"autocommit": True})
        await pool.open()
        drivers = {"asyncpg": asyncpg_ops(store), "psycopg": psycopg_ops(pool)}
        results: dict[tuple[str, str], tuple[list[float], float]] = {}
        per_round = ops // rounds
        for name in ("find_token", "consume_session"):
            for driver, table in drivers.items():
                await timed(table[name], 10_000_000, warmup)
            for round_ in range(rounds):
                order = list(drivers) if round_ % 2 == 0 else list(reversed(drivers))
                for driver in order:
                    latencies, cpu = await timed(drivers[driver][name], round_ * per_round,
                                                 per_round)
                    done = results.setdefault((driver, name), ([], 0.0))
                    results[driver, name] = (done[0] + latencies, done[1] + cpu)
        await pool.close()
        await store.close()
    finally:
        server.stop()
        server.remove()
    print(f"{ops} ops per driver and query, {rounds} rounds")
    print("| query | driver | p50 | p99 | CPU per op |")
    print("|---|---|---|---|---|")
    for (driver, name), (latencies, cpu) in sorted(results.items(), key=lambda r: r[0][::-1]):
        print(f"| {name} | {driver} | {percentile(latencies, 0.5) * 1e6:.0f} µs"
              f" | {percentile(latencies, 0.99) * 1e6:.0f} µs"
              f" | {cpu / len(latencies) * 1e6:.0f} µs |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=5000, help="operations per driver and query")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(main(args.ops, args.rounds, args.warmup))
