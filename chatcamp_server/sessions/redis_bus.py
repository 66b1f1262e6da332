"""The session bus of a cluster: every node's live sessions, reached over Redis pub/sub.

A call delivers to this node's sessions first, exactly as ``LocalBus`` does (the revocation
counter is bumped before any await; see ``live``), then publishes the message on one channel
that every node listens to; each other node delivers it to its own sessions the same way.
Delivery is at most once, as in Centrifugo, Socket.IO and Phoenix: Redis keeps nothing for a
node that is not listening.  That is enough because the revocation is in the store before
the call: a session that a lost message missed is ended by its node's reconcile pass, which
runs on a timer and as soon as this bus is subscribed again (``on_subscribed``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from typing import Any, Callable

from redis.asyncio.client import PubSub

from chatcamp_server import protocol
from chatcamp_server.sessions.bus import SessionBus
from chatcamp_server.sessions.live import LiveSession, LiveSessions, Target, send_all
from chatcamp_server.sessions.redis_inventory import RedisInventory
from chatcamp_server.sessions.redis_support import (
    COMMAND_TIMEOUT,
    RECONNECT_INTERVAL,
    UNAVAILABLE,
    Outage,
    connect,
    log,
)

LINK_CHECK_INTERVAL = 3.0
"""Seconds of silence on the subscription before it is pinged: a Redis host that vanished
without closing the connection is noticed within two of these, not at TCP keepalive's hours."""


def encode_target(target: Target) -> list[Any]:
    """A target as a JSON array, positional to keep every message small; the fields added
    since the first release are left out when unset, so that a node of the previous release
    still reads what it can act on."""
    tokens = None if target.tokens is None else list(target.tokens)
    user_ids = None if target.user_ids is None else sorted(target.user_ids)
    encoded: list[Any] = [target.app_id, target.user_id, tokens, target.session_id,
                          target.issued_before, user_ids, target.except_session]
    while len(encoded) > 4 and encoded[-1] is None:
        encoded.pop()
    return encoded


def decode_target(data: Any) -> Target:
    """The inverse of ``encode_target``; raises ``ValueError`` on anything else."""
    if not isinstance(data, list) or not 4 <= len(data) <= 7:
        raise ValueError("a target is a list of four to seven")
    app_id, user_id, tokens, session_id, issued_before, user_ids, except_session = (
        data + [None] * (7 - len(data)))
    if not (isinstance(app_id, str) and _optional_str(user_id) and _optional_str(session_id)
            and _optional_str(except_session)
            and (tokens is None or (isinstance(tokens, list)
                                    and all(_optional_str(t) for t in tokens)))
            and (user_ids is None or (isinstance(user_ids, list)
                                      and all(isinstance(u, str) for u in user_ids)))):
        raise ValueError("a target holds strings")
    if issued_before is not None and (isinstance(issued_before, bool)
                                      or not isinstance(issued_before, (int, float))):
        raise ValueError("a target's issued_before is a number")
    return Target(app_id, user_id, None if tokens is None else frozenset(tokens), session_id,
                  None if issued_before is None else float(issued_before),
                  None if user_ids is None else frozenset(user_ids), except_session)


def _optional_str(value: Any) -> bool:
    return value is None or isinstance(value, str)


class RedisBus(SessionBus):
    """``node_id`` names this node in logs; messages carry it with a random suffix, so that a
    node restarted under the same ID, or a second one by mistake, still hears the other.

    ``end`` returns the sessions ended here plus, when an ``inventory`` is given and the
    message was published, the other nodes' sessions that the inventory lists for the
    target (a target naming a user; an app-wide one counts this node's only): the sessions
    the other nodes are ending now, as far as the cluster knows.  When the publish fails it
    counts this node's sessions only: the others end at their node's reconcile, not now.

    ``on_subscribed`` is called (without an await) each time the subscription is
    established, the first time included: what the other nodes published while this one
    was not listening is lost, so the node then reconciles its sessions with the store.
    """

    def __init__(self, live: LiveSessions, redis_url: str, node_id: str, *,
                 prefix: str = "chatcamp:", inventory: RedisInventory | None = None,
                 on_subscribed: Callable[[], None] | None = None) -> None:
        self.live = live
        self.node_id = node_id
        self.inventory = inventory
        self.on_subscribed = on_subscribed
        self.subscribed = asyncio.Event()
        """Set while the subscription is up; awaitable, for whoever must know it is."""
        self._sender = f"{node_id}/{secrets.token_hex(6)}"
        self._channel = f"{prefix}bus"
        self._redis = connect(redis_url)
        self.outage = Outage("bus", f"session bus of node {node_id}",
                              "other nodes' sessions end at their reconcile")
        self._listener: asyncio.Task[None] | None = None
        self._first_attempt = asyncio.Event()
        self._deliveries: set[asyncio.Task[None]] = set()

    @property
    def healthy(self) -> bool:
        """Whether this node hears the other nodes now."""
        return self.subscribed.is_set()

    async def start(self) -> None:
        """Subscribe, returning once the first attempt succeeded or failed: a node starts
        whether Redis is up or not, and keeps trying in the background."""
        self._listener = asyncio.create_task(self._listen(), name=f"bus {self.node_id}")
        await self._first_attempt.wait()

    async def stop(self) -> None:
        """Stop listening, let deliveries under way finish, and close the connections."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        await asyncio.gather(*self._deliveries)
        await self._redis.aclose()

    async def end(self, target: Target, reason: str) -> int:
        sessions = self.live.revoked(target)
        message = {"from": self._sender, "do": "end", "to": encode_target(target),
                   "reason": reason}
        frame = protocol.auth_failure("NOT_AUTHORIZED", reason)
        (published, elsewhere), _ = await asyncio.gather(
            asyncio.gather(self._publish(message), self._elsewhere(target)),
            _end(sessions, frame))
        return len(sessions) + (elsewhere if published else 0)

    async def send(self, target: Target, frame: dict[str, Any]) -> int:
        sessions = self.live.matching(target)
        message = {"from": self._sender, "do": "send", "to": encode_target(target),
                   "frame": frame}
        send_all(sessions, protocol.encode(frame))
        await self._publish(message)
        return len(sessions)

    async def publish(self, target: Target, frame: dict[str, Any]) -> None:
        """Through Redis to every node, this one included, so that every node delivers in
        the one order Redis received them: delivered here at once instead, a message from
        this node could overtake one from another that the store ordered before it.  With
        Redis away, this node's sessions still get it at once."""
        message = {"from": self._sender, "do": "send", "to": encode_target(target),
                   "frame": frame, "echo": True}
        if self.subscribed.is_set() and await self._publish(message):
            return
        send_all(self.live.matching(target), protocol.encode(frame))

    async def _publish(self, message: dict[str, Any]) -> bool:
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT):
                await self._redis.publish(self._channel, json.dumps(message,
                                                                    separators=(",", ":")))
        except UNAVAILABLE as error:
            self.outage.failed(error)
            return False
        self.outage.recovered()
        return True

    async def _elsewhere(self, target: Target) -> int:
        return 0 if self.inventory is None else await self.inventory.elsewhere(target)

    async def _listen(self) -> None:
        """Subscribes again after whatever ends a subscription: a node that stopped
        listening would keep running with its sessions out of the cluster's reach."""
        while True:
            pubsub = self._redis.pubsub()
            try:
                await self._subscribe_and_read(pubsub)
            except UNAVAILABLE as error:
                self.outage.failed(error)
            except Exception:
                log.exception("session bus of node %s: the subscription failed", self.node_id)
            finally:
                self.subscribed.clear()
                self._first_attempt.set()
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(RECONNECT_INTERVAL)

    async def _subscribe_and_read(self, pubsub: PubSub) -> None:
        await pubsub.subscribe(self._channel)
        pinged = False
        while True:
            message = await pubsub.get_message(timeout=LINK_CHECK_INTERVAL)
            if message is None:
                if pinged:
                    raise TimeoutError("no reply to a ping on the subscription")
                await pubsub.ping()
                pinged = True
                continue
            pinged = False
            if message["type"] == "subscribe":
                self._established()
            elif message["type"] == "message":
                self._received(message["data"])

    def _established(self) -> None:
        self.subscribed.set()
        self._first_attempt.set()
        self.outage.recovered()
        if self.on_subscribed is not None:
            self.on_subscribed()

    def _received(self, data: str) -> None:
        """Acts at the moment of receipt, as ``end`` does at the moment of calling: the
        revocation counter is bumped here, not in a task that runs later."""
        try:
            message = json.loads(data)
            target = decode_target(message["to"])
            sender, action = message["from"], message["do"]
            if action == "end":
                frame = protocol.auth_failure("NOT_AUTHORIZED", str(message["reason"]))
            elif action == "send" and isinstance(message["frame"], dict):
                frame = message["frame"]
            else:
                raise ValueError("an unknown action")
        except (ValueError, KeyError, TypeError):
            log.warning("session bus of node %s: ignored a malformed message", self.node_id)
            return
        if sender == self._sender and message.get("echo") is not True:
            return
        if action == "send":
            send_all(self.live.matching(target), protocol.encode(frame))
        elif sessions := self.live.revoked(target):
            task = asyncio.create_task(_end(sessions, frame))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)


async def _end(sessions: list[LiveSession], failure: dict[str, Any]) -> None:
    """Ended apart from the listener, so that closing many sockets does not hold up the
    next message (a send is queued in the listener's pass, in the order Redis gave)."""
    await asyncio.gather(*(session.socket.close(failure, "end") for session in sessions))
