"""One authenticated socket's protocol state, without I/O.

The adapter hands ``receive`` each text frame with the time; what comes back is the request
to serve, or nothing, and every reply the session decides on its own (an error ack for a
frame it cannot serve) is already in its ``outbox``.  Handlers get the session as their
caller: who is asking, and the budgets that bound what they may ask for.
"""

from __future__ import annotations

from chatcamp_server import protocol
from chatcamp_server.chat.outbox import Outbox
from chatcamp_server.settings import Limits


class ChatSession:
    __slots__ = ("app_id", "user_id", "session_id", "limits", "budget", "messages", "typing",
                 "outbox")

    def __init__(self, app_id: str, user_id: str, session_id: str, limits: Limits,
                 now: float) -> None:
        self.app_id = app_id
        self.user_id = user_id
        self.session_id = session_id
        self.limits = limits
        self.budget = protocol.FrameBudget(limits.frames_per_second, limits.frame_burst, now)
        self.messages = protocol.FrameBudget(limits.messages_per_second, limits.message_burst,
                                             now)
        """Messages sent (posted, edited or deleted): a tighter budget than requests, since
        each one is stored and pushed to every participant."""
        self.typing = protocol.FrameBudget(limits.typing_per_second, limits.typing_burst, now)
        """Typing events: the SDK sends at most one of each a channel per 10 s, and each is
        pushed to every member."""
        self.outbox = Outbox(limits.outbox_max_bytes)

    def receive(self, text: str, now: float) -> protocol.Request | None:
        """The request in ``text`` to serve, or None: a ``ping``, or a frame refused here
        (too fast, too large, malformed), whose error ack, when it has an ``r`` to go to,
        is queued."""
        try:
            if not self.budget.take(now):
                raise protocol.over_budget(text, self.limits)
            request = protocol.parse_frame(text, self.limits)
        except protocol.FrameError as exc:
            self.reply(protocol.frame_error(exc))
            return None
        return None if request.type == "ping" else request

    def reply(self, frame: dict[str, object] | None) -> None:
        """Queue an answer to this session's own request.  Answers are bounded like pushes:
        a client that sends requests and never reads their answers overflows too."""
        if frame is not None:
            self.outbox.put(protocol.encode(frame))
