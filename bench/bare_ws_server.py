"""The baseline for connect throughput: aiohttp accepting a WebSocket on /chat/2.0 and sending
one fixed frame, with the same access log as serve.py, and nothing else.

    python bench/bare_ws_server.py PORT
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatcamp_server.web.http_support import RedactingAccessLogger  # noqa: E402

FRAME = '{"t":"users.auth.ack","d":{"ok":true,"user":{"id":"bare"},"session_key":"x"}}'


async def handle(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=None, autoping=True)
    await ws.prepare(request)
    await ws.send_str(FRAME)
    async for _ in ws:
        pass
    return ws


async def main(port: int) -> None:
    app = web.Application()
    app.router.add_get("/chat/2.0", handle)
    runner = web.AppRunner(app, access_log_class=RedactingAccessLogger, handle_signals=True)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(main(int(sys.argv[1])))
