"""Real server: kill -9 under 1,000 live sessions, restart, and nothing is lost; bad files at
start-up are clear errors."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
from conftest import api_caller
from server_process import ROOT, ServerProcess
from ws_client import ReconnectingClient

SESSIONS = 1000
TOKEN_USERS = SESSIONS // 2


async def test_kill_9_with_1000_live_sessions_loses_nothing(tmp_path: Path) -> None:
    """kill -9 with 1,000 live sessions, restart on the same port: every app, user and token
    is still there, and every client is back by itself (resuming with its session key)."""
    # 1,000 sessions (500 new users by ID login) from 127.0.0.1: far over the default caps
    # per address.
    server = ServerProcess(tmp_path, options=("--connections-per-address", "0",
                                              "--new-users-per-address", "0"))
    server.start()
    api = api_caller(server)
    tokens: dict[str, str] = {}
    for n in range(TOKEN_USERS):
        status, body = api("users.create", {"id": f"dur-token-{n}"})
        assert status == 200
        tokens[f"dur-token-{n}"] = body["access_token"]
    issued = api("users.tokens.issue", {"id": "dur-token-0", "expires_in": 86400})[1]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        clients = [ReconnectingClient(http, server, user, token, max_delay=4.0)
                   for user, token in tokens.items()]
        clients += [ReconnectingClient(http, server, f"dur-id-{n}", None, max_delay=4.0)
                    for n in range(SESSIONS - TOKEN_USERS)]
        tasks = [asyncio.create_task(client.run()) for client in clients]
        try:
            await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in clients)), 120)
            assert all(c.logins == 1 for c in clients)
            assert server.proc is not None
            server.proc.send_signal(signal.SIGKILL)
            server.proc.wait(timeout=10)
            server.proc = None
            await asyncio.sleep(0.5)
            assert sum(c.connected.is_set() for c in clients) < SESSIONS
            started = time.monotonic()
            server.start()
            await asyncio.wait_for(asyncio.gather(*(c.connected.wait() for c in clients)), 120)
            back_after = time.monotonic() - started
            assert all(c.logins == 2 for c in clients), [c.logins for c in clients][:20]
            assert not any(c.refusals for c in clients)
            assert back_after < 60
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    try:
        listed = [json.loads(line) for line in server.run_cli("apps", "list").stdout.splitlines()]
        assert [app["app_id"] for app in listed] == [server.app_id]
        for user_id, token in tokens.items():
            status, body = api("users.get", {"id": user_id})
            assert status == 200 and body["access_token"] == token
        for n in range(SESSIONS - TOKEN_USERS):
            assert api("users.get", {"id": f"dur-id-{n}"})[0] == 200
        listed_tokens = api("users.tokens.list", {"id": "dur-token-0"})[1]["tokens"]
        assert issued["token"]["id"] in {t["id"] for t in listed_tokens}
    finally:
        server.stop()


def test_locked_database_is_a_clear_error(tmp_path: Path) -> None:
    """A database another program holds locked stops start-up with a sentence, no traceback."""
    db = tmp_path / "locked.sqlite3"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = subprocess.run([sys.executable, str(ROOT / "serve.py"), "--db", str(db),
                                 "--port", "0"], cwd=ROOT, capture_output=True, text=True,
                                timeout=60)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert result.returncode == 1
    assert "database is locked" in result.stderr and "Traceback" not in result.stderr
