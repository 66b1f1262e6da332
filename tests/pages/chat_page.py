# One chat user's page for tests/test_chat_browser.py and tests/test_group_chat_browser.py, on
# Pyodide or MicroPython: the test calls window.chatCall(op, args), which runs one
# chatcamp_web call here and resolves to its outcome as JSON ({"value": ...} or {"error":
# {type, code, message, retryable}}); what the channel listeners hear goes to
# window.chatEvents as JSON. Ops on group channels start with "g_".
import asyncio
import json

import js
from pyscript.ffi import create_proxy

from chatcamp_web import ChatCamp, ChatCampError, _ffi
from chatcamp_web.group_channels import GroupChannel, GroupChannelListener

CONFIG = json.loads(js.window.SUITE_CONFIG)
HOST, PORT = CONFIG["server"].split("//")[1].split(":")
cc = ChatCamp(CONFIG["app"], host=HOST, port=PORT, timeout=10)
channels = {}
groups = {}
events = []


def message(m):
    return {"id": m.id, "text": m.text, "user_id": m.user_id, "display_name": m.display_name,
            "inserted_at": m.inserted_at, "updated_at": m.updated_at, "edited": m.edited,
            "type": m.type, "channel_id": m.channel_id}


def group(c):
    return {"id": c.id, "name": c.name, "title": c.title(),
            "members": [[u.id, u.status] for u in c.members],
            "participants_count": c.participants_count, "unread_count": c.unread_count,
            "last_message": c.last_message.text if c.last_message else None,
            "my_status": c.my_status, "is_distinct": c.is_distinct,
            "read_receipt": c.read_receipt}


class Recorder(GroupChannelListener):
    def note(self, kind, channel_id, item):
        if hasattr(item, "text"):
            item = message(item)
        elif hasattr(item, "status"):
            item = item.id
        events.append({"kind": kind, "channel_id": channel_id, "item": item})
        js.window.chatEvents = json.dumps(events)

    def on_message_received(self, channel_id, m):
        self.note("received", channel_id, m)

    def on_message_updated(self, channel_id, m):
        self.note("updated", channel_id, m)

    def on_message_deleted(self, channel_id, m):
        self.note("deleted", channel_id, m)

    def on_participant_joined(self, channel_id, user):
        self.note("joined", channel_id, user)

    def on_participant_left(self, channel_id, user):
        self.note("left", channel_id, user)

    def on_participant_invited(self, channel_id, user):
        self.note("invited", channel_id, user)

    def on_participant_declined(self, channel_id, user):
        self.note("declined", channel_id, user)

    def on_read_receipt(self, channel_id, read_receipt):
        self.note("read", channel_id, read_receipt)

    def on_typing(self, channel_id, user_ids):
        self.note("typing", channel_id, user_ids)

    def on_channel_updated(self, channel_id, channel):
        self.note("updated", channel_id, {"unread_count": channel.unread_count,
                                          "last_message": group(channel)["last_message"]})


recorder = Recorder()


async def flood(channel, count, text):
    """``count`` sends at once; the codes of their outcomes, "ok" for a sent one."""
    async def one(n):
        try:
            await channel.send("%s %d" % (text, n))
            return "ok"
        except ChatCampError as error:
            return "%s:%s:%s" % (type(error).__name__, error.code, error.retryable)
    return await asyncio.gather(*[one(n) for n in range(count)])


async def pages(channel, limit):
    query = channel.previous_messages(limit)
    found = []
    while query.has_more:
        found.append([message(m) for m in await query.load()])
    return found


async def reset(user):
    """A fresh start for the next test: no listener, no events, connected as ``user`` (a new
    session, so a new message budget)."""
    for channel in list(channels.values()) + list(groups.values()):
        channel.remove_listener(recorder)
    cc.remove_group_channel_listener(recorder)
    channels.clear()
    groups.clear()
    events.clear()
    js.window.chatEvents = "[]"
    await cc.disconnect()
    return (await cc.connect(user)).id


async def perform(op, a):
    if op == "connect":
        return (await cc.connect(a["user"])).id
    if op == "reset":
        return await reset(a["user"])
    if op == "disconnect":
        await cc.disconnect()
        return cc.state
    if op == "proxies":
        return _ffi.live_proxies()
    if op == "listeners":
        return _ffi.sdk_channel_listener_count(cc._client)
    if op == "list":
        return [c.id for c in await cc.open_channels(a.get("limit", 20), a.get("after"))]
    if op.startswith("g_"):
        return await perform_group(op, a)
    if op == "open":
        channel = await cc.open_channel(a["id"])
        channels[a["id"]] = channel
        return {"id": channel.id, "name": channel.name,
                "participants_count": channel.participants_count}
    channel = channels[a["id"]]
    if op == "join":
        return await channel.join()
    if op == "leave":
        return await channel.leave()
    if op == "listen":
        return channel.add_listener(recorder)
    if op == "unlisten":
        return channel.remove_listener(recorder)
    if op == "send":
        return message(await channel.send(a["text"]))
    if op == "history":
        found = await channel.history(a.get("limit", 20), a.get("before"))
        return [message(m) for m in found]
    if op == "pages":
        return await pages(channel, a["limit"])
    if op == "update":
        return message(await channel.update(a["message_id"], a["text"]))
    if op == "delete":
        return await channel.delete(a["message_id"])
    if op == "get":
        return message(await channel.get_message(a["message_id"]))
    if op == "participants":
        return [u.id for u in await channel.participants(a.get("limit", 20), a.get("after"))]
    if op == "presence":
        return {u.id: [u.is_online, u.last_seen] for u in await channel.participants(100)}
    if op == "flood":
        return await flood(channel, a["count"], a["text"])
    raise ValueError("unknown op %r" % op)


async def perform_group(op, a):
    if op == "g_create":
        channel = await cc.create_group_channel(a.get("name", ""), a["ids"],
                                                a.get("distinct", False))
        groups[channel.id] = channel
        return group(channel)
    if op == "g_create_twice":
        made = await asyncio.gather(*[cc.create_group_channel("", a["ids"], True)
                                      for _ in range(2)])
        return [c.id for c in made]
    if op == "g_mine":
        return [group(c) for c in await cc.my_group_channels(
            a.get("limit", 20), a.get("after"), a.get("status", "ALL"))]
    if op == "g_unread":
        return await cc.total_unread_count()
    if op == "g_readall":
        return await cc.mark_all_read()
    if op == "g_listen_all":
        return cc.add_group_channel_listener(recorder)
    if op == "g_unlisten_all":
        return cc.remove_group_channel_listener(recorder)
    if op == "g_get":
        groups[a["id"]] = await cc.group_channel(a["id"])
        return group(groups[a["id"]])
    # a channel not fetched here yet is asked for by its ID alone, as an outsider would
    channel = groups.get(a["id"]) or GroupChannel(cc, {"id": a["id"]})
    if op == "g_listen":
        groups[channel.id] = channel
        return channel.add_listener(recorder)
    if op == "g_unlisten":
        return channel.remove_listener(recorder)
    if op == "g_invite":
        return await channel.invite(a["user_ids"])
    if op == "g_accept":
        return await channel.accept()
    if op == "g_decline":
        return await channel.decline()
    if op == "g_leave":
        return await channel.leave()
    if op == "g_read":
        await channel.mark_read()
        return channel.read_receipt
    if op == "g_send":
        return message(await channel.send(a["text"]))
    if op == "g_history":
        return [message(m) for m in await channel.history(a.get("limit", 20))]
    if op == "g_typing":
        return await (channel.start_typing() if a["on"] else channel.stop_typing())
    if op == "g_participants":
        return [[u.id, u.status] for u in await channel.participants(100)]
    if op == "g_flood":
        return await flood(channel, a["count"], a["text"])
    raise ValueError("unknown op %r" % op)


async def run(call_id, text):
    request = json.loads(text)
    try:
        outcome = {"value": await perform(request["op"], request["args"])}
    except ChatCampError as error:
        outcome = {"error": {"type": type(error).__name__, "code": error.code,
                             "message": error.message, "retryable": error.retryable}}
    except Exception as error:
        outcome = {"error": {"type": type(error).__name__, "code": "", "message": str(error),
                             "retryable": False}}
    js.window.chatDone(call_id, json.dumps(outcome))


def start(call_id, text):
    asyncio.create_task(run(call_id, text))


js.Function.new("""
  let next = 0;
  const waiting = new Map();
  window.chatCall = (op, args) => new Promise((resolve) => {
    const id = ++next;
    waiting.set(id, resolve);
    window.chatRun(id, JSON.stringify({op, args: args || {}}));
  });
  window.chatDone = (id, text) => { const resolve = waiting.get(id); waiting.delete(id);
                                    resolve(JSON.parse(text)); };
""")()
js.window.chatRun = create_proxy(start)
js.window.chatEvents = "[]"
js.window.chatRuntime = _ffi.RUNTIME
