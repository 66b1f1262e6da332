# A page holding one session with a token provider, for tests/test_token_renewal_browser.py:
# every state change and every call of the provider goes to window.renewal as JSON.
# bench/renewal_gap.py opens it with ?measure=1 (the times of the server's session.ended
# notices too), ?quick=0 (the SDK's own 1 s release of a closed socket) and ?swap=N (N
# reconnects with a new token made at once, as renewing ahead of expiry would).
import asyncio
import json

import js

from chatcamp_web import ChatCamp, fetch_access_token
from chatcamp_web import _ffi

CONFIG = json.loads(js.window.SUITE_CONFIG)
HOST, PORT = CONFIG["server"].split("//")[1].split(":")
timeline = []
calls = [0]


def publish():
    js.window.renewal = json.dumps({"runtime": _ffi.RUNTIME, "timeline": timeline,
                                    "calls": calls[0], "state": cc.state, "notices": notices})


async def provider(user_id):
    calls[0] += 1
    publish()
    return await fetch_access_token(CONFIG["site"] + CONFIG["token_path"])


def record(change):
    reason = change.reason
    timeline.append([change.at, change.previous, change.current,
                     reason.code if reason else None, reason.message if reason else None])
    publish()


notices = []


def noticed(d):
    notices.append(_ffi.now())


if CONFIG.get("quick") == "0":
    _ffi.QUICK_RELEASE = False
cc = ChatCamp(CONFIG["app"], host=HOST, port=PORT, token_provider=provider)
cc.add_listener(record)
if CONFIG.get("measure"):
    # when the server ended each session: its notice comes just before the close
    from pyscript.ffi import create_proxy
    js.ChatCamp.getInstance().on("session.ended", create_proxy(noticed))


swaps = []


async def swap_tokens(count):
    """What renewing ahead of expiry would cost: a new token in hand, then disconnect() and
    connect() with it; the time from the one to the other's end."""
    for _ in range(count):
        token = await provider(CONFIG["user"])
        started = _ffi.now()
        await cc.disconnect()
        await cc.connect(CONFIG["user"], access_token=token)
        swaps.append(_ffi.now() - started)
    js.window.swaps = json.dumps(swaps)


async def main():
    try:
        await cc.connect(CONFIG["user"])
        if CONFIG.get("swap"):
            await swap_tokens(int(CONFIG["swap"]))
    except Exception as error:
        timeline.append([_ffi.now(), "connect()", "raised", getattr(error, "code", None),
                         str(error)])
    publish()


asyncio.create_task(main())
