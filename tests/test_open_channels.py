"""Real server: open channels over real sockets and the server API, as the SDK speaks them."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from server_process import ServerProcess
from ws_client import call, id_query, login, push

HOSTILE = ["<img src=x onerror=alert(1)>", "\u202eevil\u202c", "😀 line\nnext\r\n",
           "  spaced  ", "'; DROP TABLE messages; --", "null"]


async def joined(http: Any, server: ServerProcess, user: str, channel: str
                 ) -> aiohttp.ClientWebSocketResponse:
    ack, ws = await login(http, server, id_query(server, user))
    assert ack["d"]["ok"] is True
    assert (await call(ws, "open_channels.join", {"id": channel}))["ok"] is True
    return ws


def make(api: Any, channel: str, **fields: Any) -> dict[str, Any]:
    status, body = api("open_channels.create", {"id": channel, **fields})
    assert status == 200, body
    return body["open_channel"]


async def test_two_users_chat_live_and_the_sender_is_not_echoed(
        http: Any, server: ServerProcess, api: Any) -> None:
    """A message reaches the other participant's session as message.pub with its sender,
    and not the sending session, which has it in its ack."""
    make(api, "5a5ef06b48bdc63ad6760fe5", name="Lobby")
    ann = await joined(http, server, "oc-ann", "5a5ef06b48bdc63ad6760fe5")
    bob = await joined(http, server, "oc-bob", "5a5ef06b48bdc63ad6760fe5")
    joined_push = await push(ann, "open_channels.join.pub")
    assert joined_push["users"][0]["id"] == "oc-bob"
    assert joined_push["open_channel"]["participants_count"] == 2
    sent = await call(ann, "open_channels.message",
                      {"id": "5a5ef06b48bdc63ad6760fe5", "type": "text", "text": "hello"})
    assert sent["message"]["text"] == "hello" and sent["message"]["user"]["id"] == "oc-ann"
    got = (await push(bob, "open_channels.message.pub"))["message"]
    assert got == sent["message"] and got["channel_type"] == "open_channel"
    assert (await call(ann, "open_channels.get", {"id": "5a5ef06b48bdc63ad6760fe5"}))["ok"]
    await ann.close()
    await bob.close()


async def test_history_is_newest_first_paged_by_reference_and_text_is_kept_exactly(
        http: Any, server: ServerProcess, api: Any) -> None:
    """History comes newest first; reference pages back; hostile and odd text comes back
    exactly as sent."""
    make(api, "oc-history")
    ws = await joined(http, server, "oc-writer", "oc-history")
    texts = [f"m{n}" for n in range(4)] + HOSTILE  # the message burst: 10
    for text in texts:
        assert (await call(ws, "open_channels.message", {"id": "oc-history", "text": text}))["ok"]
    first = (await call(ws, "open_channels.history", {"id": "oc-history", "limit": 4}))["messages"]
    assert [m["text"] for m in first] == texts[::-1][:4]
    rest = (await call(ws, "open_channels.history", {
        "id": "oc-history", "limit": 100, "reference": first[-1]["id"]}))["messages"]
    assert [m["text"] for m in first + rest] == texts[::-1]
    assert all(m["user"]["id"] == "oc-writer" and isinstance(m["inserted_at"], int)
               for m in first + rest)
    await ws.close()


async def test_only_participants_read_and_write_and_only_the_sender_edits(
        http: Any, server: ServerProcess, api: Any) -> None:
    """Before joining, history and message are NOT_A_PARTICIPANT; another's message cannot
    be edited or deleted (FORBIDDEN); one's own edit and delete reach the other side."""
    make(api, "oc-rules")
    ack, outsider = await login(http, server, id_query(server, "oc-outsider"))
    for type_, data in (("open_channels.history", {"id": "oc-rules"}),
                        ("open_channels.message", {"id": "oc-rules", "text": "x"})):
        error = (await call(outsider, type_, data))["error"]
        assert error["code"] == "NOT_A_PARTICIPANT", error
    cy = await joined(http, server, "oc-cy", "oc-rules")
    dee = await joined(http, server, "oc-dee", "oc-rules")
    mine = (await call(cy, "open_channels.message", {"id": "oc-rules", "text": "v1"}))["message"]
    for type_ in ("open_channels.message_update", "open_channels.message_delete"):
        error = (await call(dee, type_, {"id": "oc-rules", "message_id": mine["id"],
                                         "text": "hijack"}))["error"]
        assert error["code"] == "FORBIDDEN"
    edited = await call(cy, "open_channels.message_update",
                        {"id": "oc-rules", "message_id": mine["id"], "text": "v2"})
    assert edited["message"]["text"] == "v2"
    assert (await push(dee, "open_channels.message_update.pub"))["message"]["text"] == "v2"
    assert (await call(cy, "open_channels.message_delete",
                       {"id": "oc-rules", "message_id": mine["id"]}))["ok"] is True
    assert (await push(dee, "open_channels.message_delete.pub"))["message"]["id"] == mine["id"]
    gone = await call(dee, "open_channels.message_get", {"id": "oc-rules",
                                                         "message_id": mine["id"]})
    assert gone["error"]["code"] == "MESSAGE_NOT_FOUND"
    assert (await call(dee, "open_channels.leave", {"id": "oc-rules"}))["ok"] is True
    assert (await push(cy, "open_channels.leave.pub"))["users"][0]["id"] == "oc-dee"
    for ws in (outsider, cy, dee):
        await ws.close()


async def test_limits_get_clear_error_acks(http: Any, server: ServerProcess, api: Any) -> None:
    """An over-long message is MESSAGE_TOO_LONG; a flood is RATE_LIMITED after the burst; an
    over-large history page is INVALID_LIMIT; a browser cannot create open channels."""
    make(api, "oc-limits")
    ws = await joined(http, server, "oc-flooder", "oc-limits")
    long = await call(ws, "open_channels.message", {"id": "oc-limits", "text": "é" * 4001})
    assert long["error"]["code"] == "MESSAGE_TOO_LONG"
    fits = await call(ws, "open_channels.message", {"id": "oc-limits", "text": "😀" * 4000})
    assert fits["ok"] is True and fits["message"]["text"] == "😀" * 4000
    codes = [(await call(ws, "open_channels.message", {"id": "oc-limits", "text": "x"}))
             .get("error", {}).get("code") for _ in range(15)]
    assert "RATE_LIMITED" in codes and codes.count(None) >= 5
    page = await call(ws, "open_channels.history", {"id": "oc-limits", "limit": 101})
    assert page["error"]["code"] == "INVALID_LIMIT"
    made = await call(ws, "open_channels.create", {"name": "mine"})
    assert made["error"]["code"] == "FORBIDDEN"
    await ws.close()


async def test_the_server_api_manages_open_channels(http: Any, server: ServerProcess,
                                                    api: Any) -> None:
    """create (chosen ID; a second time 409 CHANNEL_EXISTS), get, list paged, update (pushed
    as update.pub), announce (a message with no user) and delete (pushed as delete.pub)."""
    make(api, "oc-api-1", name="One")
    status, body = api("open_channels.create", {"id": "oc-api-1"})
    assert status == 409 and body["error"]["code"] == "CHANNEL_EXISTS"
    make(api, "oc-api-2")
    status, body = api("open_channels.list", {"reference": "oc-api-1", "limit": 1})
    assert status == 200 and [c["id"] for c in body["open_channels"]] == ["oc-api-2"]
    ws = await joined(http, server, "oc-api-user", "oc-api-1")
    status, body = api("open_channels.update", {"id": "oc-api-1", "name": "Renamed"})
    assert status == 200 and body["open_channel"]["name"] == "Renamed"
    assert (await push(ws, "open_channels.update.pub"))["open_channel"]["name"] == "Renamed"
    status, body = api("open_channels.announce", {"id": "oc-api-1", "text": "maintenance"})
    assert status == 200 and body["message"]["type"] == "announcement"
    pushed = (await push(ws, "open_channels.message.pub"))["message"]
    assert pushed["text"] == "maintenance" and "user" not in pushed
    status, body = api("open_channels.delete", {"id": "oc-api-1"})
    assert status == 200
    assert (await push(ws, "open_channels.delete.pub"))["open_channel"]["id"] == "oc-api-1"
    status, body = api("open_channels.get", {"id": "oc-api-1"})
    assert status == 404 and body["error"]["code"] == "NOT_FOUND"
    await ws.close()


async def test_messages_sent_at_once_keep_one_order_for_everyone(
        http: Any, server: ServerProcess, api: Any) -> None:
    """Messages from three senders at once reach a reader in the order history keeps."""
    make(api, "oc-order")
    reader = await joined(http, server, "oc-reader", "oc-order")
    senders = [await joined(http, server, f"oc-s{n}", "oc-order") for n in range(3)]

    async def send_three(n: int, ws: aiohttp.ClientWebSocketResponse) -> None:
        for k in range(3):
            await call(ws, "open_channels.message", {"id": "oc-order", "text": f"{n}-{k}"})

    await asyncio.gather(*(send_three(n, ws) for n, ws in enumerate(senders)))
    live = [(await push(reader, "open_channels.message.pub"))["message"]["id"]
            for _ in range(9)]
    history = (await call(reader, "open_channels.history", {"id": "oc-order", "limit": 9}))
    assert live == [m["id"] for m in history["messages"]][::-1]
    for ws in (reader, *senders):
        await ws.close()
