"""In-process: the protocol core turns queries and frames into decisions without any I/O."""

from __future__ import annotations

import json

import pytest

from chatcamp_server import protocol
from chatcamp_server.errors import SESSION_KEY_INVALID
from chatcamp_server.protocol import ConnectRefused, Credentials, FrameError
from chatcamp_server.settings import Limits
from chatcamp_server.storage.store import User

LIMITS = Limits()


def parse(query: str) -> Credentials:
    return protocol.parse_connect_query(query, LIMITS)


def refused(query: str) -> ConnectRefused:
    with pytest.raises(ConnectRefused) as info:
        parse(query)
    return info.value


def test_id_login_query() -> None:
    """app_id + user_id, percent-decoded as encodeURIComponent wrote them."""
    assert parse("app_id=1234&user_id=al%C3%AFce%20b") == Credentials("1234", "alïce b")


def test_token_login_query() -> None:
    """access_token travels beside app_id and user_id."""
    assert parse("app_id=1&user_id=u&access_token=t%2Bk") == Credentials("1", "u", "t+k")


def test_session_key_alone_is_a_complete_credential() -> None:
    """The SDK resumes with ?session_key=… and nothing else."""
    assert parse("session_key=ccs_abc") == Credentials(session_key="ccs_abc")


def test_unknown_parameters_are_ignored() -> None:
    """Cache busters and other parameters do not matter."""
    assert parse("v=2&app_id=1&user_id=u&_=123") == Credentials("1", "u")


@pytest.mark.parametrize("query", ["app_id=1&user_id=a&user_id=b", "app_id=1&app_id=1&user_id=a",
                                   "session_key=a&session_key=b",
                                   "app_id=1&user_id=a&access_token=x&access_token=y"])
def test_duplicated_credentials_are_refused(query: str) -> None:
    """A credential given twice is refused with a reason, never guessed at."""
    error = refused(query)
    assert error.code == "NOT_AUTHORIZED" and "more than once" in error.message


def test_missing_app_id_is_not_found() -> None:
    """Without an app there is nothing to log in to."""
    assert refused("user_id=u").code == "NOT_FOUND"


def test_app_id_split_by_unencoded_ampersand_is_not_found() -> None:
    """The SDK does not encode app_id: 'app 1&x' arrives split and matches no app."""
    error = refused("app_id=app%201&x&user_id=u")
    assert (error.code, error.message) == ("NOT_FOUND", "App not found")


@pytest.mark.parametrize("user_id,reason", [
    ("", "required"), ("x" * 129, "longer than 128"), ("a%00b", "control"),
    ("a%0Ab", "control"), ("%E2%80%AEevil", "control"), ("%20padded", "white space"),
])
def test_bad_user_ids_are_refused_with_reason(user_id: str, reason: str) -> None:
    """Missing, empty, over-long or control-character IDs get NOT_AUTHORIZED and why."""
    error = refused(f"app_id=1&user_id={user_id}")
    assert error.code == "NOT_AUTHORIZED" and reason in error.message


def test_user_id_of_128_characters_is_accepted() -> None:
    """The documented maximum itself is fine."""
    assert parse("app_id=1&user_id=" + "x" * 128).user_id == "x" * 128


def test_invalid_utf8_in_query_is_refused() -> None:
    """Percent-escapes that are not UTF-8 are a clear refusal, not a crash."""
    assert "UTF-8" in refused("app_id=1&user_id=%FF%FE").message


def test_too_many_parameters_are_refused() -> None:
    """A query with hundreds of parameters is refused before any work is done on it."""
    assert refused("&".join(f"p{i}=1" for i in range(40)) + "&app_id=1&user_id=u").code == \
        "NOT_AUTHORIZED"


# frames


def test_parse_request_envelope() -> None:
    """{t, d, r} becomes a Request."""
    frame = protocol.parse_frame('{"t":"users.update","d":{"display_name":"A"},"r":3}', LIMITS)
    assert frame == protocol.Request("users.update", {"display_name": "A"}, 3)


@pytest.mark.parametrize("text,code,rid", [
    ("not json", "INVALID_JSON", None),
    ("[1,2]", "INVALID_FRAME", None),
    ('"just a string"', "INVALID_FRAME", None),
    ('{"d":{},"r":4}', "INVALID_FRAME", 4),
    ('{"t":5,"r":4}', "INVALID_FRAME", 4),
    ('{"t":"users.update","d":[],"r":4}', "INVALID_FRAME", 4),
    ('{"t":"x","r":true}', None, None),
    pytest.param("[" * 50000, "INVALID_JSON", None, id="deeply-nested"),
])
def test_malformed_frames(text: str, code: str | None, rid: int | None) -> None:
    """Malformed frames raise FrameError carrying r when the frame had a usable one."""
    if code is None:
        assert protocol.parse_frame(text, LIMITS).rid is None
        return
    with pytest.raises(FrameError) as info:
        protocol.parse_frame(text, LIMITS)
    assert (info.value.code, info.value.rid) == (code, rid)


def test_oversized_frame_is_refused_with_its_request_id() -> None:
    """A frame over the 64 KiB cap gets PAYLOAD_TOO_LARGE addressed to its r."""
    text = json.dumps({"t": "users.update", "d": {"data": "x" * 70000}, "r": 9})
    with pytest.raises(FrameError) as info:
        protocol.parse_frame(text, LIMITS)
    assert (info.value.code, info.value.rid, info.value.type) == ("PAYLOAD_TOO_LARGE", 9,
                                                                   "users.update")


def test_multibyte_frame_over_cap_in_bytes_is_refused() -> None:
    """The cap counts bytes: 30k three-byte characters exceed 64 KiB."""
    text = json.dumps({"t": "x", "d": {"v": "€" * 30000}, "r": 1}, ensure_ascii=False)
    with pytest.raises(FrameError):
        protocol.parse_frame(text, LIMITS)


# frames out


def test_auth_ack_shapes() -> None:
    """users.auth.ack ok carries the user and session key; failure carries code and message."""
    user = protocol.wire_user(User("a", "u", display_name="U"), True, "tok")
    assert protocol.auth_ok(user, "ccs_k") == {"t": "users.auth.ack", "d": {
        "ok": True, "user": user, "session_key": "ccs_k"}}
    assert user["access_token"] == "tok" and user["display_name"] == "U"
    assert protocol.session_key_invalid()["d"]["error"] == {"code": "NOT_AUTHORIZED",
                                                            "message": SESSION_KEY_INVALID}


def test_oversized_frame_is_refused_without_being_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Over the cap, the frame's JSON is never parsed (a deep or huge frame costs nothing but
    its bytes); its type and r are read off its edges, as the SDK lays them out."""
    def no_parsing(*_: object) -> None:
        raise AssertionError("an oversize frame was parsed")

    monkeypatch.setattr(protocol.json, "loads", no_parsing)
    nested = '{"t": "users.update", "d": ' + "[" * 40_000 + "]" * 40_000 + ', "r": 77}'
    with pytest.raises(FrameError) as info:
        protocol.parse_frame(nested, LIMITS)
    assert (info.value.code, info.value.rid, info.value.type) == ("PAYLOAD_TOO_LARGE", 77,
                                                                   "users.update")
    unlabelled = "x" * 70_000
    with pytest.raises(FrameError) as info:
        protocol.parse_frame(unlabelled, LIMITS)
    assert (info.value.code, info.value.rid) == ("PAYLOAD_TOO_LARGE", None)
    assert protocol.frame_error(info.value) is None


def test_a_nested_r_is_never_taken_for_the_envelopes() -> None:
    """Only the r that closes the frame, and only a t that opens it, address the error ack:
    a request ID inside d would send the ack to another pending request."""
    pad = "x" * 70_000
    framed = json.dumps({"t": "users.update", "d": {"metadata": {"r": 5}, "pad": pad}, "r": 7})
    with pytest.raises(FrameError) as info:
        protocol.parse_frame(framed, LIMITS)
    assert (info.value.rid, info.value.type) == (7, "users.update")
    inner_only = json.dumps({"d": {"t": "users.update", "pad": pad, "x": {"r": 5}}})
    with pytest.raises(FrameError) as info:
        protocol.parse_frame(inner_only, LIMITS)
    assert (info.value.rid, info.value.type) == (None, None)


def test_frame_budget_allows_a_burst_then_the_rate() -> None:
    """A session may send frame_burst requests at once, then frames_per_second."""
    budget = protocol.FrameBudget(8, 5, now=100.0)
    assert [budget.take(100.0) for _ in range(6)] == [True] * 5 + [False]
    assert budget.take(100.0625) is False
    assert budget.take(100.125) is True and budget.take(100.125) is False
    assert sum(budget.take(200.0) for _ in range(10)) == 5


def test_over_budget_is_a_rate_limited_ack_to_the_request() -> None:
    """A request past the budget gets RATE_LIMITED addressed to its type and r."""
    error = protocol.over_budget('{"t":"users.update","d":{},"r":12}', LIMITS)
    assert protocol.frame_error(error) == protocol.error_ack(
        "users.update", 12, "RATE_LIMITED", "Too many requests: at most 20 per second")


# the session.ended notice


@pytest.mark.parametrize("code,message,notice_code", [
    ("NOT_AUTHORIZED", "Access token expired", "TOKEN_EXPIRED"),
    ("NOT_AUTHORIZED", "Access token revoked", "TOKEN_REVOKED"),
    ("NOT_AUTHORIZED", "Access token is signed with a revoked key", "TOKEN_REVOKED"),
    ("NOT_AUTHORIZED", "Access token was issued before a revocation", "TOKEN_REVOKED"),
    ("NOT_AUTHORIZED", "Session ended by the server", "SESSION_ENDED"),
    ("NOT_AUTHORIZED", "This app requires an access token", "POLICY"),
    ("NOT_AUTHORIZED", "An access token is required for this user", "POLICY"),
    ("NOT_AUTHORIZED", "Origin https://evil.example is not allowed for this app", "POLICY"),
    ("NOT_AUTHORIZED", "Invalid access token", "NOT_AUTHORIZED"),
    ("NOT_AUTHORIZED", "Access token signature is invalid", "NOT_AUTHORIZED"),
    ("NOT_FOUND", "App not found", "NOT_FOUND"),
    ("RATE_LIMITED", "Too many failed logins", "RATE_LIMITED"),
    ("STORAGE_UNAVAILABLE", "The chat server cannot reach its database; try again shortly",
     "STORAGE_UNAVAILABLE"),
])
def test_session_ended_notice_carries_the_acks_message_and_a_stable_code(
        code: str, message: str, notice_code: str) -> None:
    """The notice before a failure ack repeats its message exactly, with the specific code."""
    notice = protocol.session_ended(protocol.auth_failure(code, message))
    assert notice == {"t": "session.ended",
                      "d": {"ok": True, "code": notice_code, "message": message}}


def test_no_notice_for_session_key_invalid_or_other_frames() -> None:
    """A Session Key Invalid refusal, a successful ack and other frames get no notice."""
    assert protocol.session_ended(protocol.session_key_invalid()) is None
    assert protocol.session_ended(protocol.auth_ok({"id": "u"}, "ccs_x")) is None
    assert protocol.session_ended(protocol.error_ack("users.update", 1, "X", "y")) is None


def test_jwt_shaped_tokens_may_be_longer_than_opaque_ones() -> None:
    """A JWT-shaped token passes URL parsing up to 4,096 characters; an opaque one stops at
    512, and anything over 4,096 is refused with its own reason."""
    import jwt

    limits = Limits()
    long_jwt = jwt.encode({"sub": "u", "iat": 1, "pad": "x" * 2000}, "k" * 32, "HS256")
    assert 512 < len(long_jwt) <= 4096
    query = "app_id=A1&user_id=u&access_token="
    assert protocol.parse_connect_query(query + long_jwt, limits).access_token == long_jwt
    with pytest.raises(ConnectRefused) as opaque:
        protocol.parse_connect_query(query + "x" * 513, limits)
    assert opaque.value.message == "access_token is too long"
    huge = jwt.encode({"sub": "u", "iat": 1, "pad": "x" * 4000}, "k" * 32, "HS256")
    with pytest.raises(ConnectRefused) as too_long:
        protocol.parse_connect_query(query + huge, limits)
    assert (too_long.value.code, too_long.value.message) == (
        "NOT_AUTHORIZED", "Access token is longer than 4096 characters")
