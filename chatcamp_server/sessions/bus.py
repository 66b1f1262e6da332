"""The session bus: "end these sessions" and "send this frame to these sessions".

Everything that acts on live sessions from outside their socket goes through it: token
revocation and rotation, ``users.sessions.end`` and expiry.  A message is addressed by a
``live.Target`` (an app, a user, tokens, or one session), never to a socket, so the same call
reaches the sessions wherever they are held: ``LocalBus`` delivers to this process's
registry; a cluster's bus publishes to every node, each of which delivers to its own.
"""

from __future__ import annotations

import abc
import asyncio
from typing import Any

from chatcamp_server import protocol
from chatcamp_server.sessions.live import LiveSessions, Target, send_all


class SessionBus(abc.ABC):
    async def start(self) -> None:
        """Begin hearing the other nodes (a cluster's bus: subscribe)."""

    async def stop(self) -> None:
        """Stop, letting deliveries under way finish."""

    @abc.abstractmethod
    async def end(self, target: Target, reason: str) -> int:
        """End the sessions ``target`` names: each gets a ``NOT_AUTHORIZED`` failure ack with
        ``reason`` (a code that stops the SDK's reconnect loop) and is closed.  Call it after
        the store's write that makes their credential unusable, with no await between; it
        returns how many sessions it ended, as far as this node knows (a cluster's bus adds
        the other nodes' that its inventory lists)."""

    @abc.abstractmethod
    async def send(self, target: Target, frame: dict[str, Any]) -> int:
        """Push ``frame`` to the sessions ``target`` names; how many it reached here."""

    @abc.abstractmethod
    async def publish(self, target: Target, frame: dict[str, Any]) -> None:
        """Push ``frame`` to the sessions ``target`` names, in order: frames published one
        after another (a channel's messages, each published while the store holds the
        channel's order) reach every session, on every node, in that order."""


class LocalBus(SessionBus):
    """The bus of a single process: its own live sessions are all there are."""

    def __init__(self, live: LiveSessions) -> None:
        self.live = live

    async def end(self, target: Target, reason: str) -> int:
        sessions = self.live.revoked(target)
        frame = protocol.auth_failure("NOT_AUTHORIZED", reason)
        await asyncio.gather(*(session.socket.close(frame, "end") for session in sessions))
        return len(sessions)

    async def send(self, target: Target, frame: dict[str, Any]) -> int:
        sessions = self.live.matching(target)
        send_all(sessions, protocol.encode(frame))
        return len(sessions)

    async def publish(self, target: Target, frame: dict[str, Any]) -> None:
        await self.send(target, frame)
