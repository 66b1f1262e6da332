# A page holding one session with a token provider, for tests/test_token_renewal_browser.py:
# every state change and every call of the provider goes to window.renewal as JSON.
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
                                    "calls": calls[0], "state": cc.state})


async def provider(user_id):
    calls[0] += 1
    publish()
    return await fetch_access_token(CONFIG["site"] + CONFIG["token_path"])


def record(change):
    reason = change.reason
    timeline.append([change.at, change.previous, change.current,
                     reason.code if reason else None, reason.message if reason else None])
    publish()


cc = ChatCamp(CONFIG["app"], host=HOST, port=PORT, token_provider=provider)
cc.add_listener(record)


async def main():
    try:
        await cc.connect(CONFIG["user"])
    except Exception as error:
        timeline.append([_ffi.now(), "connect()", "raised", getattr(error, "code", None),
                         str(error)])
    publish()


asyncio.create_task(main())
