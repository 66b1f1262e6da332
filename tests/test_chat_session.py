"""In-process: a session's protocol state, its outbox and the request router, with no socket."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from chatcamp_server.chat.account import Account
from chatcamp_server.chat.group_channels import GroupChannels
from chatcamp_server.chat.open_channels import OpenChannels
from chatcamp_server.chat.outbox import Outbox
from chatcamp_server.chat.router import Route, Router
from chatcamp_server.chat.session import ChatSession
from chatcamp_server.errors import BadRequest
from chatcamp_server.protocol import Request
from chatcamp_server.settings import Limits

LIMITS = Limits(frames_per_second=2, frame_burst=3)


def session(limits: Limits = LIMITS) -> ChatSession:
    return ChatSession("app", "u", "s", limits, now=100.0)


def queued(chat: ChatSession) -> list[dict[str, Any]]:
    frames = []
    while (data := chat.outbox.take()) is not None:
        frames.append(json.loads(data))
    return frames


def test_ping_is_served_by_nobody_and_answered_by_nothing() -> None:
    """ping gets no reply (the SDK expects none) and reaches no handler."""
    chat = session()
    assert chat.receive('{"t":"ping","r":6}', 100.0) is None
    assert queued(chat) == []


def test_a_request_comes_out_to_be_served() -> None:
    """A well-formed frame comes out as the request, with its type, data and r."""
    chat = session()
    assert chat.receive('{"t":"open_channels.get","d":{"id":"c"},"r":7}', 100.0) == Request(
        "open_channels.get", {"id": "c"}, 7)


def test_a_malformed_frame_is_answered_from_the_session_itself() -> None:
    """A frame with r but a bad d gets its error ack queued, and nothing to serve."""
    chat = session()
    assert chat.receive('{"t":"users.update","d":[],"r":3}', 100.0) is None
    assert queued(chat) == [{"t": "users.update.ack", "to": 3, "d": {
        "ok": False, "error": {"code": "INVALID_FRAME", "message": "d must be a JSON object"}}}]


def test_a_flood_is_refused_before_parsing() -> None:
    """Past the burst, requests get RATE_LIMITED acks until the budget refills."""
    chat = session()
    texts = [json.dumps({"t": "x", "d": {}, "r": n}) for n in range(1, 6)]
    served = [chat.receive(text, 100.0) for text in texts]
    assert [r is not None for r in served] == [True, True, True, False, False]
    assert [f["d"]["error"]["code"] for f in queued(chat)] == ["RATE_LIMITED"] * 2
    assert chat.receive(texts[0], 100.5) is not None


async def test_the_router_answers_every_request_with_an_r() -> None:
    """A handler's payload is acked; its ServerError is an error ack with its code; an
    unknown type is NOT_IMPLEMENTED; without r nothing is sent either way."""
    async def echo(chat: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        if "bad" in data:
            raise BadRequest("bad field", "INVALID_FIELD")
        return {"user": chat.user_id, "got": data}

    router = Router({"echo": Route(echo, "echoes")})
    chat = session()
    assert await router.serve(chat, Request("echo", {"a": 1}, 4)) == {
        "t": "echo.ack", "to": 4, "d": {"ok": True, "user": "u", "got": {"a": 1}}}
    assert await router.serve(chat, Request("echo", {"bad": 1}, 5)) == {
        "t": "echo.ack", "to": 5, "d": {"ok": False, "error": {
            "code": "INVALID_FIELD", "message": "bad field"}}}
    assert await router.serve(chat, Request("open_channels.x", {}, 6)) == {
        "t": "open_channels.x.ack", "to": 6, "d": {"ok": False, "error": {
            "code": "NOT_IMPLEMENTED",
            "message": "open_channels.x is not supported by this server"}}}
    assert await router.serve(chat, Request("echo", {}, None)) is None
    assert await router.serve(chat, Request("nope", {}, None)) is None
    assert router.described() == {"echo": "echoes"}


async def test_a_handlers_bug_is_an_internal_ack_and_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    """A handler that crashes costs its request an INTERNAL ack, never the session."""
    async def broken(chat: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("oops")

    with caplog.at_level(logging.ERROR, "chatcamp_server.chat"):
        ack = await Router({"b": Route(broken, "")}).serve(session(), Request("b", {}, 1))
    assert ack is not None and ack["d"]["error"]["code"] == "INTERNAL"
    assert "b failed" in caplog.text


def test_the_outbox_refuses_past_its_bound_and_stays_refusing() -> None:
    """Past max_bytes the outbox refuses and is marked overflowed for good; the frames that
    end a session still go in."""
    box = Outbox(10)
    assert box.put(b"12345") and box.put(b"12345")
    assert not box.put(b"1") and box.overflowed
    assert box.take() == b"12345" and not box.put(b"1")
    assert box.put(b"end", bounded=False) and len(box) == 2 and box.size == 8


def test_answers_count_against_the_outbox_too() -> None:
    """A client that sends requests and never reads their answers overflows as well."""
    chat = session(Limits(outbox_max_bytes=200))
    for rid in range(1, 10):
        chat.reply({"t": "x.ack", "to": rid, "d": {"ok": True, "pad": "x" * 40}})
    assert chat.outbox.overflowed and chat.outbox.size <= 200


def test_the_sessions_message_budget_is_its_own() -> None:
    """Messages have a budget apart from requests: a session may read at the request rate
    but post only at the message rate."""
    chat = session(Limits(messages_per_second=1, message_burst=2))
    assert [chat.messages.take(100.0) for _ in range(3)] == [True, True, False]
    assert chat.budget.take(100.0)


def test_routes_run_concurrently_for_different_sessions() -> None:
    """The router holds no per-session state: two sessions' requests interleave freely."""
    started: list[str] = []
    gate = asyncio.Event()

    async def wait(chat: ChatSession, data: dict[str, Any]) -> dict[str, Any]:
        started.append(chat.user_id)
        await gate.wait()
        return {}

    async def both() -> list[Any]:
        router = Router({"w": Route(wait, "")})
        a = ChatSession("app", "a", "1", LIMITS, 0.0)
        b = ChatSession("app", "b", "2", LIMITS, 0.0)
        tasks = [asyncio.create_task(router.serve(s, Request("w", {}, 1))) for s in (a, b)]
        while len(started) < 2:
            await asyncio.sleep(0)
        gate.set()
        return await asyncio.gather(*tasks)

    assert [ack["d"]["ok"] for ack in asyncio.run(both())] == [True, True]


def test_the_readme_names_every_request_the_router_serves() -> None:
    """The README's table of chat requests lists every type the router dispatches, from the
    same table that dispatches them."""
    router = Router({**Account(None).routes(),  # type: ignore[arg-type]
                     **OpenChannels(None, None, None, None).routes(),  # type: ignore[arg-type]
                     **GroupChannels(None, None, None, None).routes()})  # type: ignore[arg-type]
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme[readme.index("### Chat in open channels"):readme.index("### Server API")]
    missing = [t for t in router.described()
               if f"`{t.rsplit('.', 1)[1]}`" not in section and f"`{t}`" not in readme]
    assert missing == []
