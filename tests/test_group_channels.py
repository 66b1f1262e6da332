"""Real server: group channels over real sockets and the server API, as the SDK speaks them."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import aiohttp
import pytest
from server_process import ServerProcess
from ws_client import call, id_query, login, push

NAMES = itertools.count(1)
HOSTILE = ["<img src=x onerror=alert(1)>", "\u202eevil\u202c", "😀 line\nnext\r\n",
           "  spaced  ", "'; DROP TABLE messages; --"]
Socket = aiohttp.ClientWebSocketResponse


@pytest.fixture
async def people(http: Any, server: ServerProcess) -> Any:
    """``await people(n)``: n fresh users, each with a logged-in socket."""
    opened: list[Socket] = []

    async def make(n: int) -> list[tuple[str, Socket]]:
        made = []
        for _ in range(n):
            user = f"gc-{next(NAMES)}"
            ack, ws = await login(http, server, id_query(server, user))
            assert ack["d"]["ok"] is True
            opened.append(ws)
            made.append((user, ws))
        return made

    yield make
    await asyncio.gather(*(ws.close() for ws in opened))


async def create(ws: Socket, others: list[str], distinct: bool = False,
                 name: str = "room") -> dict[str, Any]:
    reply = await call(ws, "group_channels.create",
                       {"name": name, "participant_ids": others, "is_distinct": distinct})
    assert reply["ok"] is True, reply
    return reply["group_channel"]


async def send(ws: Socket, channel: str, text: str) -> dict[str, Any]:
    reply = await call(ws, "group_channels.message", {"id": channel, "type": "text",
                                                      "text": text})
    assert reply["ok"] is True, reply
    return reply["message"]


async def my_list(ws: Socket, **filters: Any) -> list[dict[str, Any]]:
    reply = await call(ws, "group_channels.my_list", {
        "participant_state_filter": "ALL", "limit": 20, "order": "RECENT_CHAT",
        "include_empty": True, "get_participants": True, "get_read_receipt": True, **filters})
    assert reply["ok"] is True, reply
    return reply["group_channels"]


async def nothing_came(ws: Socket) -> None:
    """No push is waiting for ``ws``: the answer to a request sent now is the first frame it
    gets (a push delivered before the request was served would come first)."""
    await ws.send_str(json.dumps({"t": "users.get_total_unread_message_count", "d": {},
                                  "r": 999_999}))
    frame = json.loads((await ws.receive(timeout=5)).data)
    assert frame.get("to") == 999_999, frame


async def test_racing_distinct_creates_make_one_channel_and_others_make_new_ones(
        people: Any) -> None:
    """Two sessions creating a distinct channel of the same pair at once get one channel, the
    other member is told once; a non-distinct create of that pair makes another."""
    (u1, ws1), (u1b, ws1b), (u2, ws2) = await people(3)
    first, second = await asyncio.gather(create(ws1, [u2, u1b], distinct=True),
                                         create(ws1b, [u1, u2], distinct=True))
    assert first["id"] == second["id"]
    assert first["is_distinct"] is True and first["participants_count"] == 3
    assert {p["id"]: p["status"] for p in first["participants"]} == {
        u1: "ACCEPTED", u1b: "ACCEPTED", u2: "ACCEPTED"}
    told = await push(ws2, "group_channels.update.pub")
    assert told["group_channel"]["id"] == first["id"]
    assert told["group_channel"]["my_status"] == "ACCEPTED"
    other = await create(ws1, [u2, u1b])
    assert other["id"] != first["id"] and other["is_distinct"] is False
    again = await create(ws1, [u2, u1b], distinct=True)
    assert again["id"] == first["id"]


async def test_a_message_is_live_unread_then_read_with_a_receipt(people: Any) -> None:
    """The member gets the message live and counts it unread (the sender does not); reading
    clears the count and the sender gets a read receipt at or after the message; reading
    again with nothing new tells nobody."""
    (u1, ws1), (u2, ws2) = await people(2)
    channel = (await create(ws1, [u2], distinct=True))["id"]
    await push(ws2, "group_channels.update.pub")
    sent = await send(ws1, channel, "hello")
    got = (await push(ws2, "group_channels.message.pub"))["message"]
    assert got == sent and got["channel_type"] == "group_channel" and got["user"]["id"] == u1
    [listed] = await my_list(ws2)
    assert listed["id"] == channel and listed["unread_message_count"] == 1
    assert listed["last_message"]["id"] == sent["id"]
    assert listed["read_receipt"][u2] < sent["inserted_at"]
    assert (await my_list(ws1))[0]["unread_message_count"] == 0
    total = await call(ws2, "users.get_total_unread_message_count",
                       {"custom_filter_query_type": "OR"})
    assert total["user"]["unread_message_count"] == 1
    read = await call(ws2, "group_channels.read", {"id": channel})
    assert read["group_channel"]["unread_message_count"] == 0
    receipt = (await push(ws1, "group_channels.read.pub"))["group_channel"]["read_receipt"]
    assert receipt[u2] >= sent["inserted_at"]
    again = await call(ws2, "group_channels.read", {"id": channel})
    assert again["group_channel"]["read_receipt"][u2] == receipt[u2]
    await nothing_came(ws1)
    total = await call(ws2, "users.get_total_unread_message_count", {})
    assert total["user"]["unread_message_count"] == 0


async def test_outsiders_and_invitees_read_nothing_until_they_accept(people: Any) -> None:
    """A user not in the channel can neither see nor read it; an invitee sees it in my_list
    as INVITED with no messages, reads it once accepted, and the members are told."""
    (u1, ws1), (u2, ws2), (u3, ws3) = await people(3)
    channel = (await create(ws1, [u2]))["id"]
    await send(ws1, channel, "secret")
    for type_ in ("group_channels.get", "group_channels.history", "group_channels.message",
                  "group_channels.participants_list", "group_channels.read"):
        refused = await call(ws3, type_, {"id": channel, "text": "x"})
        assert refused["error"]["code"] == "NOT_A_PARTICIPANT", (type_, refused)
    assert await my_list(ws3) == []
    invited = await call(ws1, "group_channels.invite", {"id": channel, "participant_ids": [u3]})
    assert {p["id"]: p["status"] for p in invited["group_channel"]["participants"]}[u3] \
        == "INVITED"
    for ws in (ws2, ws3):
        told = await push(ws, "group_channels.invite.pub")
        assert [u["id"] for u in told["users"]] == [u3]
    [seen] = await my_list(ws3)
    assert seen["my_status"] == "INVITED" and seen["unread_message_count"] == 0
    assert seen["last_message"] == {}
    assert [c["id"] for c in await my_list(ws3, participant_state_filter="ACCEPTED")] == []
    refused = await call(ws3, "group_channels.history", {"id": channel})
    assert refused["error"]["code"] == "NOT_A_PARTICIPANT"
    accepted = await call(ws3, "group_channels.accept", {"id": channel})
    assert accepted["group_channel"]["my_status"] == "ACCEPTED"
    told = await push(ws1, "group_channels.accept.pub")
    assert [u["id"] for u in told["users"]] == [u3]
    assert told["group_channel"]["my_status"] == "ACCEPTED"
    history = await call(ws3, "group_channels.history", {"id": channel})
    assert [m["text"] for m in history["messages"]] == ["secret"]
    assert (await my_list(ws3))[0]["unread_message_count"] == 0


async def test_decline_and_leave_as_the_sdk_reports_them(people: Any) -> None:
    """Declining removes the invitation and tells the members; a member who leaves is told
    with the rest and gets nothing more; the channel goes with its last participants, two
    leaving at once both answered."""
    (u1, ws1), (u2, ws2), (u3, ws3) = await people(3)
    channel = (await create(ws1, [u2]))["id"]
    await call(ws1, "group_channels.invite", {"id": channel, "participant_ids": [u3]})
    await push(ws3, "group_channels.invite.pub")
    declined = await call(ws3, "group_channels.decline", {"id": channel})
    assert declined["ok"] is True
    told = await push(ws1, "group_channels.decline.pub")
    assert [u["id"] for u in told["users"]] == [u3]
    assert told["group_channel"]["participants_count"] == 2
    assert await my_list(ws3) == []
    assert (await call(ws3, "group_channels.accept", {"id": channel}))["error"]["code"] \
        == "NOT_A_PARTICIPANT"
    left = await call(ws2, "group_channels.leave", {"id": channel})
    assert left["ok"] is True
    told = await push(ws1, "group_channels.leave.pub")
    assert [u["id"] for u in told["users"]] == [u2]
    assert told["group_channel"]["participants_count"] == 1
    await send(ws1, channel, "anyone?")
    await call(ws1, "group_channels.start_typing", {"id": channel})
    await nothing_came(ws2)
    assert await my_list(ws2) == []
    (u4, ws4), = await people(1)
    await call(ws1, "group_channels.invite", {"id": channel, "participant_ids": [u4]})
    await call(ws4, "group_channels.accept", {"id": channel})
    last = await asyncio.gather(call(ws1, "group_channels.leave", {"id": channel}),
                                call(ws4, "group_channels.leave", {"id": channel}))
    assert [reply["ok"] for reply in last] == [True, True]
    assert (await call(ws4, "group_channels.get", {"id": channel}))["error"]["code"] \
        == "NOT_FOUND"


async def test_typing_reaches_the_other_members_only_and_is_bounded(people: Any) -> None:
    """start_typing and stop_typing reach the other members, not the typist; a flood past
    the budget is refused RATE_LIMITED and not pushed."""
    (u1, ws1), (u2, ws2) = await people(2)
    channel = (await create(ws1, [u2]))["id"]
    await push(ws2, "group_channels.update.pub")
    assert (await call(ws1, "group_channels.start_typing", {"id": channel}))["ok"] is True
    started = await push(ws2, "group_channels.start_typing.pub")
    assert started["group_channel"] == {"id": channel, "typing_participant_id": u1}
    await call(ws1, "group_channels.stop_typing", {"id": channel})
    stopped = await push(ws2, "group_channels.stop_typing.pub")
    assert stopped["group_channel"]["typing_participant_id"] == u1
    await nothing_came(ws1)
    codes = [(await call(ws1, "group_channels.start_typing", {"id": channel})).get("error")
             for _ in range(8)]
    refused = [c for c in codes if c is not None]
    assert refused and all(c["code"] == "RATE_LIMITED" for c in refused)
    pushed = 8 - len(refused)
    for _ in range(pushed):
        await push(ws2, "group_channels.start_typing.pub")
    await nothing_came(ws2)


async def test_my_list_is_most_recent_chat_first_and_pages_without_repeats(
        people: Any) -> None:
    """A new message moves its channel to the front; pages by reference cover every channel
    once; the state filter keeps invitations apart; another user's channel is no
    reference."""
    (u1, ws1), (u2, ws2) = await people(2)
    made = [(await create(ws1, [u2], name=f"c{n}"))["id"] for n in range(5)]
    await send(ws1, made[0], "bump")
    first = await my_list(ws1, limit=2)
    assert first[0]["id"] == made[0]
    seen = [c["id"] for c in first]
    while True:
        page = await my_list(ws1, limit=2, reference=seen[-1])
        if not page:
            break
        seen += [c["id"] for c in page]
    assert sorted(seen) == sorted(made) and len(seen) == 5
    assert seen == [made[0], *reversed(made[1:])]
    assert len(await my_list(ws1, participant_state_filter="INVITED")) == 0
    (u3, ws3), = await people(1)
    refused = await call(ws3, "group_channels.my_list", {"reference": made[0]})
    assert refused["error"]["code"] == "NOT_FOUND"


async def test_mark_as_read_all_clears_every_unread_count(people: Any) -> None:
    """users.mark_as_read_all reads every channel; the totals agree with my_list."""
    (u1, ws1), (u2, ws2) = await people(2)
    for n in range(3):
        channel = (await create(ws1, [u2], name=f"r{n}"))["id"]
        for _ in range(n + 1):
            await send(ws1, channel, "x")
    total = await call(ws2, "users.get_total_unread_message_count", {})
    assert total["user"]["unread_message_count"] == 6
    channels = await call(ws2, "users.get_total_unread_group_channel_count", {})
    assert channels["user"]["unread_group_channel_count"] == 3
    assert sum(c["unread_message_count"] for c in await my_list(ws2)) == 6
    assert (await call(ws2, "users.mark_as_read_all", {}))["ok"] is True
    assert all(c["unread_message_count"] == 0 for c in await my_list(ws2))
    total = await call(ws2, "users.get_total_unread_message_count", {})
    assert total["user"]["unread_message_count"] == 0


async def test_limits_and_bad_requests_get_clear_error_acks(people: Any,
                                                          server: ServerProcess) -> None:
    """Over-long text, too many or unknown participants, floods, filters this server does
    not apply, joining a private channel and public channels each get their own code."""
    (u1, ws1), (u2, ws2) = await people(2)
    channel = (await create(ws1, [u2]))["id"]

    async def code(type_: str, data: dict[str, Any]) -> str:
        return str((await call(ws1, type_, data))["error"]["code"])

    assert await code("group_channels.message", {"id": channel, "text": "x" * 4001}) \
        == "MESSAGE_TOO_LONG"
    assert await code("group_channels.create", {"participant_ids": [
        f"u{n}" for n in range(101)]}) == "TOO_MANY_PARTICIPANTS"
    assert await code("group_channels.create", {"participant_ids": ["nobody-here"]}) \
        == "USER_NOT_FOUND"
    assert await code("group_channels.create", {"participant_ids": "u2"}) == "INVALID_FIELD"
    assert await code("group_channels.create", {"participant_ids": [u2], "is_public": True}) \
        == "UNSUPPORTED"
    assert await code("group_channels.join", {"id": channel}) == "FORBIDDEN"
    assert await code("group_channels.my_list", {"channel_name_search": "x"}) \
        == "UNSUPPORTED_FILTER"
    assert await code("group_channels.my_list", {"order": "ALPHABETICAL"}) \
        == "UNSUPPORTED_ORDER"
    assert await code("group_channels.my_list", {"include_empty": False}) \
        == "UNSUPPORTED_FILTER"
    assert await code("group_channels.my_list", {"channel_ids_filter": ["x"] * 101}) \
        == "INVALID_FIELD"
    assert await code("group_channels.history", {"id": channel, "limit": 101}) \
        == "INVALID_LIMIT"
    assert await code("group_channels.get", {"id": "no-such-channel"}) == "NOT_FOUND"
    codes = [(await call(ws1, "group_channels.message", {"id": channel, "text": "flood"}))
             .get("error", {}).get("code") for _ in range(15)]
    assert "RATE_LIMITED" in codes


async def test_hostile_names_and_text_are_kept_exactly(people: Any, api: Any) -> None:
    """Names and texts that look like markup, controls or SQL come back exactly as sent."""
    (u1, ws1), (u2, ws2) = await people(2)
    for text in HOSTILE:
        made = await create(ws1, [u2], name=text)
        assert made["name"] == text
        sent = await send(ws1, made["id"], text)
        assert sent["text"] == text
        got = await call(ws2, "group_channels.history", {"id": made["id"]})
        assert got["messages"][0]["text"] == text


async def test_the_server_api_manages_group_channels(people: Any, api: Any) -> None:
    """The integrator's backend creates a channel with its own ID, adds and removes members
    (who are told), lists a user's channels, announces and deletes."""
    (u1, ws1), (u2, ws2), (u3, ws3) = await people(3)
    status, body = api("group_channels.create", {"id": "gc-api-1", "name": "Support",
                                                 "participant_ids": [u1, u2],
                                                 "is_distinct": True})
    assert status == 200 and body["created"] is True, body
    assert body["group_channel"]["id"] == "gc-api-1"
    assert (await push(ws1, "group_channels.update.pub"))["group_channel"]["id"] == "gc-api-1"
    status, again = api("group_channels.create", {"participant_ids": [u2, u1],
                                                  "is_distinct": True})
    assert again["created"] is False and again["group_channel"]["id"] == "gc-api-1"
    status, added = api("group_channels.add_participants", {"id": "gc-api-1",
                                                            "participant_ids": [u3]})
    assert status == 200 and added["added"] == [u3]
    joined = await push(ws1, "group_channels.join.pub")
    assert joined["users"][0]["id"] == u3
    assert (await call(ws3, "group_channels.history", {"id": "gc-api-1"}))["ok"] is True
    status, said = api("group_channels.announce", {"id": "gc-api-1", "text": "welcome"})
    assert status == 200 and said["message"]["type"] == "announcement"
    assert (await push(ws2, "group_channels.message.pub"))["message"]["text"] == "welcome"
    status, listed = api("group_channels.list_for_user", {"user_id": u3})
    assert status == 200 and [c["id"] for c in listed["group_channels"]] == ["gc-api-1"]
    assert listed["group_channels"][0]["unread_message_count"] == 1
    status, removed = api("group_channels.remove_participants", {"id": "gc-api-1",
                                                                 "participant_ids": [u3]})
    assert status == 200 and removed["removed"] == [u3]
    assert (await push(ws1, "group_channels.leave.pub"))["users"][0]["id"] == u3
    status, gone = api("group_channels.create", {"participant_ids": [u1, u2, "nobody"]})
    assert status == 404 and gone["error"]["code"] == "USER_NOT_FOUND"
    status, deleted = api("group_channels.delete", {"id": "gc-api-1"})
    assert status == 200
    assert (await push(ws2, "group_channels.delete.pub"))["group_channel"]["id"] == "gc-api-1"


async def test_an_invite_that_overfills_the_channel_adds_and_tells_of_those_that_fit(
        people: Any, api: Any) -> None:
    """Inviting three into a channel with room for one adds the first, tells the members of
    it, and answers CHANNEL_FULL for the rest."""
    (u1, ws1), = await people(1)
    fillers = [f"gc-fill-{next(NAMES)}" for _ in range(98)]
    guests = [f"gc-guest-{next(NAMES)}" for _ in range(3)]
    for user in fillers + guests:
        assert api("users.create", {"id": user})[0] == 200
    status, made = api("group_channels.create", {"participant_ids": [u1, *fillers]})
    assert status == 200 and made["group_channel"]["participants_count"] == 99
    channel = made["group_channel"]["id"]
    await ws1.send_str(json.dumps({"t": "group_channels.invite", "r": 77, "d": {
        "id": channel, "participant_ids": guests}}))
    frames = []
    while not frames or frames[-1].get("to") != 77:
        frames.append(json.loads((await ws1.receive(timeout=5)).data))
    *pushed, refused = frames
    assert refused["d"]["error"]["code"] == "CHANNEL_FULL"
    [told] = [f["d"] for f in pushed if f["t"] == "group_channels.invite.pub"]
    assert [u["id"] for u in told["users"]] == guests[:1]
    assert told["group_channel"]["participants_count"] == 100
