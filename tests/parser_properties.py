"""What every input to the parsers must satisfy; run briefly by the test suite and at length by
``bench/fuzz_parsers.py``.

Each property takes one generated input. The parsers may refuse it, but only through the
server's own exception tree (so the adapters turn it into a clear error); anything else is a
crash. Whatever comes out must be something the SDK can read.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Callable

from hypothesis import strategies as st

from chatcamp_server import protocol, validation
from chatcamp_server.chat.router import Router
from chatcamp_server.chat.session import ChatSession
from chatcamp_server.errors import ServerError
from chatcamp_server.settings import Limits

LIMITS = Limits(max_frame_bytes=4096)
"""A small frame limit, so generated frames also cross it."""
NOTHING_ROUTED = Router({})
"""Every parsed request then meets the router's refusal, which must be readable too."""

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)
envelopes = st.fixed_dictionaries({}, optional={
    "t": st.sampled_from(["users.update", "ping", "users.get", ""]) | st.text(max_size=200)
    | json_values,
    "d": st.dictionaries(st.sampled_from(["id", "display_name", "avatar_url", "profile_url",
                                          "data", "metadata", "x"]), json_values, max_size=6)
    | json_values,
    "r": st.integers() | st.floats() | st.text(max_size=5) | st.none() | st.booleans(),
})
frames = (envelopes.map(json.dumps) | st.text(max_size=300)
          | st.binary(max_size=200).map(lambda b: b.decode("utf-8", "replace"))
          | st.integers(1, 6000).map(lambda n: '{"t":"x","r":1,"d":{"a":"' + "x" * n + '"}}')
          | st.integers(1, 3000).map(lambda n: "[" * n + "]" * n))
query_parts = st.sampled_from(["app_id", "user_id", "access_token", "session_key", "x", "",
                               "APP_ID", "user_id%00", "%", "%zz"])
query_values = st.text(max_size=40) | st.sampled_from(
    ["", "%", "%ZZ", "%C3%28", "%00", "%F0%9F%98%80", "1234567890123456789", "a&b", "ccs_x"])
queries = (st.lists(st.tuples(query_parts, query_values).map(lambda kv: f"{kv[0]}={kv[1]}")
                    | query_parts, max_size=40).map("&".join)
           | st.text(max_size=300))


def frame_property(text: str) -> None:
    """A frame becomes a request or a FrameError; every decision is one the SDK can read."""
    session = ChatSession("fuzz-app", "fuzz-user", "fuzz-session", LIMITS, 0.0)
    request = session.receive(text, 0.0)
    if request is not None:
        session.reply(asyncio.run(NOTHING_ROUTED.serve(session, request)))
    while (data := session.outbox.take()) is not None:
        frame = json.loads(data)
        json.loads(protocol.encode(frame))
        # a frame whose type could not be read is answered as "error", still to its request
        assert frame["t"] == "error" or frame["t"].endswith(".ack")
        assert isinstance(frame["to"], int) and frame["to"] > 0
        assert frame["d"]["ok"] is False and frame["d"]["error"]["message"]


def query_property(query: str) -> None:
    """A connect query gives credentials or a refusal with a code that stops the SDK."""
    try:
        creds = protocol.parse_connect_query(query, LIMITS)
    except protocol.ConnectRefused as exc:
        assert exc.code in ("NOT_AUTHORIZED", "NOT_FOUND") and exc.message
        return
    assert creds.session_key is not None or (creds.app_id and creds.user_id)


def body_property(raw: bytes) -> None:
    """A server-API body is a dict or a BadRequest."""
    try:
        body = validation.json_object(raw)
    except ServerError as exc:
        assert exc.http_status == 400 and exc.message
        return
    assert isinstance(body, dict)


PROPERTIES: dict[str, tuple[Callable[[Any], None], Any]] = {
    "frames": (frame_property, frames),
    "queries": (query_property, queries),
    "bodies": (body_property, st.binary(max_size=300) | envelopes.map(
        lambda e: json.dumps(e).encode()) | st.integers(1, 3000).map(
        lambda n: b"[" * n + b"]" * n)),
}
