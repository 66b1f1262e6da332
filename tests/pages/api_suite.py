# The chatcamp_web API's own tests, run inside the browser on Pyodide and on MicroPython.
# Results go to window.suiteResults as JSON; tests/test_chatcamp_web_browser.py asserts them.
import asyncio
import json

import js

from chatcamp_web import (ChatCamp, ChatCampError, ConnectionState, InvalidArgumentError,
                          InvalidStateError, NetworkError, NotAuthorizedError, TokenFetchError,
                          fetch_access_token)
from chatcamp_web import _ffi

CONFIG = json.loads(js.window.SUITE_CONFIG)
HOST, PORT = CONFIG["server"].split("//")[1].split(":")
results = []
changes = []
async_changes = []


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


async def expect_raises(cls, code, coroutine):
    try:
        await coroutine
    except cls as error:
        expect(error.code == code, "code %r, expected %r" % (error.code, code))
        return error
    raise AssertionError("%s was not raised" % cls.__name__)


def record(change):
    changes.append((change.previous, change.current,
                    change.reason.code if change.reason else None))


async def record_async(change):
    await asyncio.sleep(0)
    async_changes.append(change.current)


def broken_listener(change):
    raise RuntimeError("a listener bug")


cc = ChatCamp(CONFIG["app"], host=HOST, port=PORT)
cc.add_listener(record)
cc.add_listener(record_async)


async def test_disconnect_before_connect_is_harmless():
    await cc.disconnect()
    await cc.disconnect()
    expect(cc.state == ConnectionState.INITIALIZED, cc.state)


async def test_same_app_returns_same_client_other_app_raises():
    expect(ChatCamp(CONFIG["app"]) is cc, "a second ChatCamp for the same app is the same object")
    await expect_raises(InvalidStateError, "APP_MISMATCH", _call(ChatCamp, "1234567890123456789"))


async def _call(fn, *args):
    return fn(*args)


async def test_connect_by_id():
    user = await cc.connect("web-alice")
    expect(user.id == "web-alice" and cc.user.id == "web-alice", repr(user))
    expect(cc.state == ConnectionState.CONNECTED, cc.state)
    expect(changes[-2:] == [("initialized", "connecting", None), ("connecting", "connected", None)],
           repr(changes))


async def test_async_listeners_get_changes_too():
    for _ in range(20):
        if async_changes[-2:] == ["connecting", "connected"]:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(repr(async_changes))


async def test_a_raising_listener_does_not_break_the_session():
    cc.add_listener(broken_listener)
    try:
        await cc.disconnect()
        user = await cc.connect("web-alice")
    finally:
        cc.remove_listener(broken_listener)
    expect(user.id == "web-alice" and cc.state == ConnectionState.CONNECTED, cc.state)


async def test_connect_again_as_same_user_returns_it():
    user = await cc.connect("web-alice")
    expect(user.id == "web-alice", repr(user))


async def test_connect_as_other_user_while_connected_raises():
    await expect_raises(InvalidStateError, "ALREADY_CONNECTED", cc.connect("web-bob"))
    expect(cc.state == ConnectionState.CONNECTED and cc.user.id == "web-alice", cc.state)


async def test_disconnect_closes_and_twice_is_harmless():
    await cc.disconnect()
    expect(cc.state == ConnectionState.CLOSED and cc.user is None, cc.state)
    await cc.disconnect()
    expect(cc.state == ConnectionState.CLOSED, cc.state)


async def test_connect_as_b_right_after_disconnect_as_a():
    await cc.connect("web-a")
    await cc.disconnect()
    user = await cc.connect("web-b")
    expect(user.id == "web-b", repr(user))
    await _ffi.sleep(1.5)  # the SDK's reconnect timer fires 1 s after a close: it must not switch back
    expect(cc.state == ConnectionState.CONNECTED and cc.user.id == "web-b", repr(cc.user))
    expect(str(_ffi.current_user(cc._client).id) == "web-b", "SDK user")
    await cc.disconnect()


async def test_wrong_token_fails_with_reason():
    error = await expect_raises(NotAuthorizedError, "NOT_AUTHORIZED",
                                cc.connect(CONFIG["token_user"], access_token="wrong-token-0123456"))
    expect(error.message == "Invalid access token", error.message)
    expect(cc.state == ConnectionState.FAILED and cc.reason.code == "NOT_AUTHORIZED", cc.state)


async def test_token_login_after_failure():
    token = await fetch_access_token(CONFIG["site"] + "/token-ok")
    user = await cc.connect(CONFIG["token_user"], access_token=token)
    expect(user.id == CONFIG["token_user"] and user.access_token == token, repr(user))
    await cc.disconnect()


async def test_token_provider_hook():
    async def provider(user_id):
        return await fetch_access_token(CONFIG["site"] + "/token-ok")
    cc.token_provider = provider
    try:
        user = await cc.connect(CONFIG["token_user"])
    finally:
        cc.token_provider = None
    expect(user.access_token is not None, repr(user))
    await cc.disconnect()


async def test_fetch_access_token_errors_are_clear():
    await expect_raises(NotAuthorizedError, "HTTP_401", fetch_access_token(CONFIG["site"] + "/token-401"))
    await expect_raises(NetworkError, "HTTP_5XX", fetch_access_token(CONFIG["site"] + "/token-500"))
    await expect_raises(TokenFetchError, "BAD_TOKEN_RESPONSE",
                        fetch_access_token(CONFIG["site"] + "/token-html"))


async def test_connect_timeout():
    await expect_raises(ChatCampError, "TIMEOUT", cc.connect("web-slow", timeout=0.001))
    expect(cc.state == ConnectionState.FAILED and cc.reason.code == "TIMEOUT", cc.state)
    user = await cc.connect("web-slow")
    expect(user.id == "web-slow", repr(user))
    await cc.disconnect()


async def test_overlapping_calls_complete_in_call_order():
    order = []

    async def run(label, coroutine):
        await coroutine
        order.append(label)

    await asyncio.gather(run(1, cc.connect("web-p")), run(2, cc.disconnect()),
                         run(3, cc.connect("web-q")))
    expect(order == [1, 2, 3], repr(order))
    expect(cc.state == ConnectionState.CONNECTED and cc.user.id == "web-q", repr(cc.user))
    await cc.disconnect()


async def test_bad_arguments_raise_before_touching_the_sdk():
    for call, code in ((cc.connect(""), "INVALID_USER_ID"), (cc.connect("x" * 129), "INVALID_USER_ID"),
                       (cc.connect("u", access_token=""), "INVALID_TOKEN"),
                       (cc.connect("u", timeout=0), "INVALID_TIMEOUT")):
        error = await expect_raises(InvalidArgumentError, code, call)
        expect(isinstance(error, ChatCampError), "a ChatCampError")
        # MicroPython cannot give a class two native exception bases: there it is not a ValueError
        expect(isinstance(error, ValueError) == (_ffi.RUNTIME == "pyodide"), "ValueError")
    expect(cc.state == ConnectionState.INITIALIZED, cc.state)


async def test_fetch_access_token_does_not_block_the_page():
    ticks = []
    running = [True]

    async def tick():
        while running[0]:
            ticks.append(_ffi.now())
            await asyncio.sleep(0.05)

    ticker = asyncio.create_task(tick())
    token = await fetch_access_token(CONFIG["site"] + "/token-slow")
    running[0] = False
    await ticker
    expect(token and len(ticks) >= 5, "only %d ticks while the token endpoint took 0.6 s"
           % len(ticks))


async def test_fetch_access_token_times_out():
    started = _ffi.now()
    await expect_raises(NetworkError, "TIMEOUT",
                        fetch_access_token(CONFIG["site"] + "/token-slow", timeout=0.2))
    expect(_ffi.now() - started < 0.5, "took %.2f s" % (_ffi.now() - started))


async def test_urllib_still_works_where_there_is_one():
    if _ffi.RUNTIME != "pyodide":
        try:
            import urllib.request  # noqa: F401
        except ImportError:
            return
        raise AssertionError("MicroPython grew a urllib.request: test it here")
    import urllib.request

    import pyodide_http
    pyodide_http.patch_all()
    with urllib.request.urlopen(CONFIG["site"] + "/token-ok") as reply:
        expect(json.loads(reply.read())["access_token"], "urllib answered")


async def test_hundred_cycles_leak_nothing():
    proxies, listeners = _ffi.live_proxies(), _ffi.sdk_listener_count(cc._client)
    for _ in range(100):
        await cc.connect("web-cycle")
        await cc.disconnect()
    expect(_ffi.live_proxies() == proxies, "proxies %d -> %d" % (proxies, _ffi.live_proxies()))
    expect(_ffi.sdk_listener_count(cc._client) == listeners, "SDK listeners grew")


async def test_close_releases_the_listener_proxy():
    global cc
    await cc.connect("web-closing")
    await cc.close()
    expect(cc.state == ConnectionState.CLOSED, cc.state)
    expect(_ffi.live_proxies() == 0, "proxies left: %d" % _ffi.live_proxies())
    fresh = ChatCamp(CONFIG["app"], host=HOST, port=PORT)
    expect(fresh is not cc and fresh.state == ConnectionState.INITIALIZED, fresh.state)
    expect((await fresh.connect("web-reopened")).id == "web-reopened", "reconnect after close")
    await fresh.close()
    cc = fresh


TESTS = [
    test_disconnect_before_connect_is_harmless,
    test_same_app_returns_same_client_other_app_raises,
    test_bad_arguments_raise_before_touching_the_sdk,
    test_connect_by_id,
    test_async_listeners_get_changes_too,
    test_a_raising_listener_does_not_break_the_session,
    test_connect_again_as_same_user_returns_it,
    test_connect_as_other_user_while_connected_raises,
    test_disconnect_closes_and_twice_is_harmless,
    test_connect_as_b_right_after_disconnect_as_a,
    test_wrong_token_fails_with_reason,
    test_token_login_after_failure,
    test_token_provider_hook,
    test_fetch_access_token_errors_are_clear,
    test_fetch_access_token_does_not_block_the_page,
    test_fetch_access_token_times_out,
    test_urllib_still_works_where_there_is_one,
    test_connect_timeout,
    test_overlapping_calls_complete_in_call_order,
    test_hundred_cycles_leak_nothing,
    test_close_releases_the_listener_proxy,
]


async def main():
    for fn in TESTS:
        name = fn.__name__
        try:
            await fn()
            results.append({"name": name, "ok": True})
        except Exception as error:
            results.append({"name": name, "ok": False, "error": repr(error)})
        js.window.suiteProgress = json.dumps(results)
    js.window.suiteResults = json.dumps({"runtime": _ffi.RUNTIME, "results": results})


asyncio.create_task(main())
