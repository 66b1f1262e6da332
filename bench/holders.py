"""Idle sessions held by worker processes, for the cluster benchmarks.

One process may open at most 20,000 files here, and one Python process on one CPU is slow to
read thousands of closes at once, so a benchmark spreads its sessions over several
``Holders``: each is this file run as a subprocess, connecting from its own 127.0.0.0/8
address, keeping its sessions idle the way the SDK does (a ``ping`` every 60 s) and noting
when the server ends one (a failure ``users.auth.ack``, then the close). Commands and answers
are one JSON line each on its stdin and stdout; times are ``time.monotonic()``, one clock for
every process of the machine.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time
from typing import Any

import aiohttp

CHECK_RID = 1


class Holders:
    """One worker process holding the sessions of ``urls`` from ``address``."""

    def __init__(self, urls: list[str], address: str, origin: str | None = None) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        self.send({"urls": urls, "address": address, "origin": origin})

    def send(self, command: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")

    def answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"a holder process exited with {self.proc.wait()}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def ask(self, command: str) -> dict[str, Any]:
        self.send({"do": command})
        return self.answer()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.send({"do": "quit"})
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()


async def _open(http: aiohttp.ClientSession, url: str, origin: str | None,
                gate: asyncio.Semaphore) -> aiohttp.ClientWebSocketResponse | None:
    async with gate:
        try:
            ws = await http.ws_connect(url, autoping=True, heartbeat=None, origin=origin)
            ack = json.loads((await ws.receive(timeout=60)).data)
            if ack.get("t") == "session.ended":  # a refusal's notice, before its ack
                ack = json.loads((await ws.receive(timeout=60)).data)
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError, TypeError, ValueError):
            return None
        return ws if ack["d"]["ok"] else None


class Session:
    """One held session: its pings, the answer to a check, and when the server ended it."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, n: int) -> None:
        self.ws = ws
        self.n = n
        self.ended_at: float | None = None
        self.answered = asyncio.Event()

    async def read(self) -> None:
        async for message in self.ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            frame = json.loads(message.data)
            if frame.get("t") == "users.auth.ack" and not frame["d"]["ok"]:
                self.ended_at = time.monotonic()
            elif frame.get("to") == CHECK_RID:
                self.answered.set()
        if self.ended_at is None:
            self.ended_at = time.monotonic()

    async def ping(self) -> None:
        await asyncio.sleep(random.uniform(0, 60))
        while not self.ws.closed:
            await self.ws.send_str(json.dumps({"t": "ping", "r": self.n + 2}))
            await asyncio.sleep(60)

    async def check(self) -> bool:
        """Whether the session still answers a request, within 60 s."""
        if self.ws.closed:
            return False
        self.answered.clear()
        try:
            await self.ws.send_str(json.dumps({"t": "users.update", "d": {}, "r": CHECK_RID}))
            await asyncio.wait_for(self.answered.wait(), 60)
        except (asyncio.TimeoutError, ConnectionError, aiohttp.ClientError):
            return False
        return True


async def _work() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**26)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def say(reply: dict[str, Any]) -> None:
        print(json.dumps(reply), flush=True)

    spec = json.loads(await reader.readline())
    connector = aiohttp.TCPConnector(limit=0, local_addr=(spec["address"], 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        gate = asyncio.Semaphore(100)
        opened = await asyncio.gather(*(_open(http, url, spec["origin"], gate)
                                        for url in spec["urls"]))
        sessions = [Session(ws, n) for n, ws in enumerate(opened) if ws is not None]
        tasks = [asyncio.create_task(job) for s in sessions for job in (s.read(), s.ping())]
        say({"opened": len(sessions), "refused": len(opened) - len(sessions)})
        while line := await reader.readline():
            command = json.loads(line)["do"]
            if command == "check":
                say({"alive": sum(await asyncio.gather(*(s.check() for s in sessions)))})
            elif command == "ends":
                say({"ends": [s.ended_at for s in sessions if s.ended_at is not None]})
            elif command == "quit":
                break
        for task in tasks:
            task.cancel()
        await asyncio.gather(*(s.ws.close() for s in sessions), return_exceptions=True)


if __name__ == "__main__":
    asyncio.run(_work())
