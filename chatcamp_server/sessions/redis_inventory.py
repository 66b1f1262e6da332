"""The session inventory of a cluster: each node lists its live sessions in Redis, under a
heartbeat that lapses when the node dies.

Keys, under a prefix (``chatcamp:`` unless told)::

    user:["APP","USER"]   hash  session ID → "NODE\\n" + the session's record as JSON
    node:NODE             string, expiring: the node's heartbeat (its incarnation, random)
    node:NODE:report      string, expiring with the heartbeat: the node's ``report`` as JSON,
                          for the dashboard's live view on any node
    node:NODE:sessions    hash  session ID → its user key: what to remove when NODE goes
    nodes                 set   the nodes that may have entries, for the others to reap

A node that is killed leaves its entries behind, but its heartbeat lapses within
``HEARTBEAT_TTL``: readers skip (and delete) the entries of a node without one, and each
node's heartbeat reaps the whole of a lapsed node's entries, so nothing stays for good.
A node whose own heartbeat was gone when it beat (Redis restarted empty, or the node was
stalled past the TTL and reaped) lists all its sessions again, as it does after any failed
write: what it queued meanwhile was dropped, and the whole list replaces the guesswork.

The scripts touch keys they are not handed (the user keys an index names): fine on one Redis,
not on Redis Cluster, which this does not support.

Logins must not wait for Redis: ``added`` and ``removed`` only queue the change, and a
flusher writes the queue in one pipeline ``FLUSH_DELAY`` later.  A node's own sessions are
always answered from its registry, the others' from Redis; with Redis down, from the
registry alone.  The same goes for ``reports``: this node's report is made when asked, the
others' are those their last heartbeats wrote.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from typing import Any, Collection, cast

from redis.asyncio.client import Pipeline

from chatcamp_server.sessions.inventory import SessionInventory, record
from chatcamp_server.sessions.live import LiveSession, LiveSessions, Target
from chatcamp_server.sessions.redis_support import (
    COMMAND_TIMEOUT,
    RECONNECT_INTERVAL,
    UNAVAILABLE,
    Outage,
    connect,
    log,
)

HEARTBEAT_INTERVAL = 5.0
"""Seconds between a node's heartbeats, as Socket.IO's adapters beat: also how soon a node
notices that Redis restarted empty and lists its sessions again."""
HEARTBEAT_TTL = 15.0
"""Seconds a heartbeat lasts: three beats, so that one slow beat does not make a live node
look dead, while a dead node's sessions leave every listing within 15 s."""
FLUSH_DELAY = 0.02
"""Seconds a queued change waits for others to share its pipeline: a burst of logins costs a
few round trips, and another node sees a new session a few tens of milliseconds late."""

_FORGET = """
local function forget(user_key, session_id, node)
  local entry = redis.call('HGET', user_key, session_id)
  if entry and string.sub(entry, 1, #node + 1) == node .. '\\n' then
    redis.call('HDEL', user_key, session_id)
  end
end
local function forget_node(prefix, node)
  local index = prefix .. 'node:' .. node .. ':sessions'
  local entries = redis.call('HGETALL', index)
  for i = 1, #entries, 2 do forget(entries[i + 1], entries[i], node) end
  redis.call('DEL', index)
end
"""
"""An entry is removed only if its node is the one going: a session that resumed on another
node keeps its ID, and the new node's entry must stay."""

_FORGET_SESSIONS = _FORGET + """
for i = 2, #ARGV, 2 do
  forget(ARGV[i], ARGV[i + 1], ARGV[1])
  redis.call('HDEL', KEYS[1], ARGV[i + 1])
end
"""
"""KEYS: the node's index; ARGV: the node, then pairs of user key and session ID."""

_FORGET_NODE = _FORGET + """
forget_node(ARGV[1], ARGV[2])
redis.call('SREM', KEYS[1], ARGV[2])
redis.call('DEL', ARGV[1] .. 'node:' .. ARGV[2], ARGV[1] .. 'node:' .. ARGV[2] .. ':report')
"""
"""KEYS: the set of nodes; ARGV: the prefix and the node."""

_REAP = _FORGET + """
for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. 'node:' .. node) == 0 then
    forget_node(ARGV[1], node)
    redis.call('SREM', KEYS[1], node)
  end
end
"""
"""KEYS: the set of nodes; ARGV: the prefix."""

_OTHERS_ENTRIES = """
local entries = redis.call('HGETALL', KEYS[1])
local alive, found = {}, {}
for i = 1, #entries, 2 do
  local entry = entries[i + 1]
  local cut = string.find(entry, '\\n', 1, true)
  local node = cut and string.sub(entry, 1, cut - 1) or ''
  if alive[node] == nil then
    alive[node] = redis.call('EXISTS', ARGV[1] .. 'node:' .. node) == 1
  end
  if not alive[node] then
    redis.call('HDEL', KEYS[1], entries[i])
  elseif node ~= ARGV[2] then
    table.insert(found, entry)
  end
end
return found
"""
"""KEYS: a user key; ARGV: the prefix and this node.  The entries of the other live nodes;
a lapsed node's are deleted on the way."""


class RedisInventory(SessionInventory):
    """``node_id`` must be unique among the running nodes: it keys the heartbeat.  The
    heartbeat's interval and TTL are arguments so that tests need not wait 15 s."""

    def __init__(self, live: LiveSessions, redis_url: str, node_id: str, *,
                 prefix: str = "chatcamp:", heartbeat_interval: float = HEARTBEAT_INTERVAL,
                 heartbeat_ttl: float = HEARTBEAT_TTL) -> None:
        self.live = live
        self.node_id = node_id
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_ttl = heartbeat_ttl
        self._prefix = prefix
        self._nodes = f"{prefix}nodes"
        self._alive = f"{prefix}node:{node_id}"
        self._index = f"{prefix}node:{node_id}:sessions"
        self._own_report = self._report_key(node_id)
        self._incarnation = secrets.token_hex(8)
        self._redis = connect(redis_url)
        self._forget_sessions = self._redis.register_script(_FORGET_SESSIONS)
        self._forget_node = self._redis.register_script(_FORGET_NODE)
        self._reap = self._redis.register_script(_REAP)
        self._others_entries = self._redis.register_script(_OTHERS_ENTRIES)
        self.outage = Outage("inventory", f"session inventory of node {node_id}",
                              "listing this node's sessions only")
        self._pending: dict[str, tuple[str, str | None]] = {}
        """Session ID → (its user key, its entry, or None to remove it), latest change only."""
        self._wake = asyncio.Event()
        self._writing = asyncio.Lock()
        """Held by every write, so that a list taken earlier never lands after a later one."""
        self._synced = False
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def healthy(self) -> bool:
        """Whether Redis holds this node's sessions and answers for the other nodes'."""
        return self._synced

    # Watcher: no await, see live.Watcher.

    def added(self, session: LiveSession) -> None:
        entry = f"{self.node_id}\n{json.dumps(record(session), separators=(',', ':'))}"
        self._pending[session.session_id] = (self._user_key(session.app_id, session.user_id),
                                             entry)
        self._wake.set()

    def removed(self, session: LiveSession) -> None:
        self._pending[session.session_id] = (self._user_key(session.app_id, session.user_id),
                                             None)
        self._wake.set()

    # lifecycle

    async def start(self) -> None:
        """List this node's sessions (if Redis is up: a node starts either way), then keep
        the heartbeat and the flusher going."""
        self.live.watchers.append(self)
        await self._beat()
        self._tasks = [asyncio.create_task(self._beat_forever(), name="inventory heartbeat"),
                       asyncio.create_task(self._flush_forever(), name="inventory flusher")]

    async def stop(self) -> None:
        if self in self.live.watchers:
            self.live.watchers.remove(self)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        async with self._writing:
            try:
                async with asyncio.timeout(COMMAND_TIMEOUT):
                    await self._forget_node(keys=[self._nodes],
                                            args=[self._prefix, self.node_id])
            except UNAVAILABLE as error:
                log.warning("session inventory of node %s: could not remove its sessions "
                            "(%s); they lapse with its heartbeat", self.node_id,
                            type(error).__name__)
        self._synced = False
        await self._redis.aclose()

    # SessionInventory

    async def for_user(self, app_id: str, user_id: str) -> list[dict[str, Any]]:
        found = [record(s) for s in self.live.for_user(app_id, user_id)]
        found += await self._others(app_id, user_id)
        return sorted(found, key=lambda r: float(r["started_at"]))

    async def is_online(self, app_id: str, user_id: str) -> bool:
        return self.live.is_online(app_id, user_id) or bool(await self._others(app_id, user_id))

    async def online_among(self, app_id: str, user_ids: Collection[str]) -> set[str]:
        """This node's own first; the rest in one pipeline, one round trip however many."""
        online = {u for u in user_ids if self.live.is_online(app_id, u)}
        rest = [u for u in dict.fromkeys(user_ids) if u not in online]
        if not rest or not self._synced:
            return online
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for user_id in rest:
                    await self._others_entries(keys=[self._user_key(app_id, user_id)],
                                               args=[self._prefix, self.node_id], client=pipe)
                found = await pipe.execute()
        except UNAVAILABLE as error:
            self._lost(error)
            return online
        return online | {u for u, entries in zip(rest, found) if entries}

    async def elsewhere(self, target: Target) -> int:
        """How many of the sessions ``target`` names the other nodes hold, as far as Redis
        tells; 0 for a target that names no user, which would take a scan of every user."""
        if target.user_id is None:
            return 0
        return sum(1 for found in await self._others(target.app_id, target.user_id)
                   if target.rests_on(found["token_id"], found.get("token_issued_at"))
                   and (target.session_id is None or found["session_id"] == target.session_id))

    async def reports(self) -> list[dict[str, Any]]:
        """This node's report first, as it is now; then the other live nodes', as of their
        last heartbeat (a lapsed node's report lapsed with it)."""
        own = self.report()
        if not self._synced:
            return [own]
        try:
            # the client decodes replies: str, never bytes
            members = cast("set[str]", await self._redis.smembers(self._nodes))
            keys = [self._report_key(node) for node in sorted(members) if node != self.node_id]
            written = cast("list[str | None]", await self._redis.mget(keys)) if keys else []
        except UNAVAILABLE as error:
            self._lost(error)
            return [own]
        return [own, *_parsed(written)]

    # Redis

    def _report_key(self, node: str) -> str:
        return f"{self._prefix}node:{node}:report"

    def _user_key(self, app_id: str, user_id: str) -> str:
        return f"{self._prefix}user:{json.dumps([app_id, user_id], separators=(',', ':'))}"

    async def _others(self, app_id: str, user_id: str) -> list[dict[str, Any]]:
        if not self._synced:
            return []
        try:
            entries = await self._others_entries(keys=[self._user_key(app_id, user_id)],
                                                 args=[self._prefix, self.node_id])
        except UNAVAILABLE as error:
            self._lost(error)
            return []
        return [json.loads(entry.partition("\n")[2]) for entry in entries]

    def _lost(self, error: BaseException) -> None:
        self._synced = False
        self.outage.failed(error)

    async def _beat_forever(self) -> None:
        """Beats on after any failure: a node whose heartbeat stopped would vanish from the
        cluster's listings while its sessions live on."""
        while True:
            await asyncio.sleep(self.heartbeat_interval if self._synced else RECONNECT_INTERVAL)
            try:
                await self._beat()
            except Exception:
                self._synced = False
                log.exception("session inventory of node %s: a heartbeat failed", self.node_id)

    async def _beat(self) -> None:
        try:
            async with self._writing:
                if self._synced and await self._heartbeat() == self._incarnation:
                    return
                await self._list_all()
                self._synced = True
        except UNAVAILABLE as error:
            self._lost(error)
            return
        self.outage.recovered()

    async def _heartbeat(self) -> str | None:
        """Beats and reaps the lapsed nodes; returns the heartbeat it replaced."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(self._alive, self._incarnation, px=self._ttl_ms(), get=True)
            pipe.set(self._own_report, self._report_json(), px=self._ttl_ms())
            pipe.sadd(self._nodes, self.node_id)
            await self._reap(keys=[self._nodes], args=[self._prefix], client=pipe)
            previous, *_ = await pipe.execute()
        return previous  # type: ignore[no-any-return]

    async def _list_all(self) -> None:
        """Replaces whatever Redis holds for this node with its registry, in one transaction
        so that no reader sees the node without its sessions."""
        sessions = self.live.all()
        self._pending.clear()
        for session in sessions:
            self.added(session)
        async with self._redis.pipeline(transaction=True) as pipe:
            await self._forget_node(keys=[self._nodes], args=[self._prefix, self.node_id],
                                    client=pipe)
            self._queue_into(pipe)
            pipe.set(self._alive, self._incarnation, px=self._ttl_ms())
            pipe.set(self._own_report, self._report_json(), px=self._ttl_ms())
            pipe.sadd(self._nodes, self.node_id)
            await pipe.execute()

    def _report_json(self) -> str:
        """Made at each beat, so the others show numbers one interval old at most.  A report
        that fails must not stop the beat: the heartbeat keeps this node's sessions listed,
        which matters more than its numbers."""
        try:
            return json.dumps(self.report(), separators=(",", ":"))
        except Exception:
            log.exception("session inventory of node %s: its report failed", self.node_id)
            return "{}"

    def _ttl_ms(self) -> int:
        return int(self.heartbeat_ttl * 1000)

    async def _flush_forever(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(FLUSH_DELAY)
            try:
                await self._flush()
            except Exception:
                self._synced = False
                log.exception("session inventory of node %s: a flush failed", self.node_id)

    async def _flush(self) -> None:
        async with self._writing:
            if not self._synced:
                self._pending.clear()
                self._wake.clear()
                return
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    gone = self._queue_into(pipe)
                    if gone:
                        await self._forget_sessions(keys=[self._index],
                                                    args=[self.node_id, *gone], client=pipe)
                    await pipe.execute()
            except UNAVAILABLE as error:
                self._lost(error)

    def _queue_into(self, pipe: Pipeline) -> list[str]:
        """Moves the queued additions into ``pipe``; returns the removals, as pairs of user
        key and session ID for ``_FORGET_SESSIONS``."""
        batch, self._pending = self._pending, {}
        self._wake.clear()
        gone: list[str] = []
        for session_id, (user_key, entry) in batch.items():
            if entry is None:
                gone += [user_key, session_id]
            else:
                pipe.hset(user_key, session_id, entry)
                pipe.hset(self._index, session_id, user_key)
        return gone


def _parsed(written: list[str | None]) -> list[dict[str, Any]]:
    """The reports that parse as JSON objects: a report another version of the server wrote,
    or a damaged one, must not break the live view of every node."""
    reports = []
    for text in written:
        if text is None:
            continue
        try:
            report = json.loads(text)
        except ValueError:
            continue
        if isinstance(report, dict):
            reports.append(report)
    return reports
