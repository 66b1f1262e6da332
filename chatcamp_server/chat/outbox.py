"""The frames waiting for one session's socket, bounded in bytes.

A client that reads slowly (a phone in a tunnel, or one that never reads at all) must not
make the server hold every message of a busy channel for it: past ``max_bytes`` the queue
refuses, and the adapter closes the socket.  The session is not ended, so the SDK resumes
with its key and reads history again, as Centrifugo's and Phoenix's slow clients do.
Pure bookkeeping; the adapter's writer drains it.
"""

from __future__ import annotations

from collections import deque


class Outbox:
    __slots__ = ("max_bytes", "size", "frames", "overflowed")

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.frames: deque[bytes] = deque()
        self.overflowed = False

    def put(self, data: bytes, *, bounded: bool = True) -> bool:
        """Queue an encoded frame; False (and ``overflowed`` for good) when it would pass
        ``max_bytes``.  ``bounded=False`` is for the few frames that end a session, which
        must not be lost to the bound they are ending it for."""
        if self.overflowed and bounded:
            return False
        if bounded and self.size + len(data) > self.max_bytes:
            self.overflowed = True
            return False
        self.frames.append(data)
        self.size += len(data)
        return True

    def take(self) -> bytes | None:
        if not self.frames:
            return None
        data = self.frames.popleft()
        self.size -= len(data)
        return data

    def __len__(self) -> int:
        return len(self.frames)
