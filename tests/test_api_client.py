"""Real server: chatcamp_client's typed methods round-trip, its errors carry the server's code,
and its table of methods cannot drift from the served OpenAPI document."""

from __future__ import annotations

import inspect
import json
import secrets
import socket
import urllib.request
from pathlib import Path
from typing import Any, AsyncIterator, Iterator
from urllib.parse import quote, urlsplit

import aiohttp
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis_service import eventually
from server_process import ServerProcess, free_port
from ws_client import ended_by_server, login

from chatcamp_client import (AsyncClient, AuthenticationError, ChatCampApiError, Client,
                             ConflictError, InvalidRequestError, NotFoundError, TransportError,
                             sign_token)
from chatcamp_client.methods import METHODS, PROFILE
from chatcamp_server.keys import ServerKeys
from chatcamp_server.settings import DEFAULT_LIMITS
from chatcamp_server.storage.backends import demo_table_for
from chatcamp_server.storage.sqlite import SQLiteStore
from chatcamp_server.web.demo import DemoBackend


@pytest.fixture
def chat(server: ServerProcess) -> Iterator[Client]:
    with Client(server.base_url, server.api_key) as client:
        yield client


def fresh(prefix: str = "cl") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def test_users_and_tokens_round_trip(chat: Client) -> None:
    """users.create/get/update and users.tokens.issue/list/revoke return what the server
    keeps, typed as the schema names it."""
    uid = fresh()
    made = chat.users.create(uid, display_name="Ann", check_access_token=True)
    assert made["user"]["id"] == uid and made["user"]["display_name"] == "Ann"
    assert made["user"]["check_access_token"] is True and made["access_token"]
    assert chat.users.get(uid)["access_token"] == made["access_token"]
    assert chat.users.update(uid, display_name="Anna")["user"]["display_name"] == "Anna"
    issued = chat.users.tokens.issue(uid, expires_in=60)
    assert issued["token"]["kind"] == "issued" and issued["token"]["expires_at"] is not None
    ids = {token["id"] for token in chat.users.tokens.list(uid)}
    assert issued["token"]["id"] in ids
    revoked = chat.users.tokens.revoke(uid, token_id=issued["token"]["id"])
    assert revoked["revoked"] == [issued["token"]["id"]] and revoked["sessions_closed"] == 0
    assert chat.users.sessions.list(uid) == []


def test_apps_and_signing_keys_round_trip(chat: Client, server: ServerProcess) -> None:
    """apps.get/update and apps.signing_keys.create/list/revoke, and apps.tokens.revoke."""
    app = chat.apps.get()
    assert app["app_id"] == server.app_id
    assert chat.apps.update(allowed_origins=app["allowed_origins"])["app_id"] == server.app_id
    key = chat.apps.signing_keys.create()
    assert key["secret"] and key["key_id"] in {k["key_id"] for k in chat.apps.signing_keys.list()}
    gone = chat.apps.signing_keys.revoke(key["key_id"])
    assert gone["key"]["revoked_at"] is not None
    assert chat.apps.tokens.revoke(issued_before=0)["revoked"] == 0


def test_errors_carry_the_servers_code_and_message(chat: Client, server: ServerProcess) -> None:
    """Each refusal is its class of ChatCampApiError, with the server's status, code and
    message; a wrong API key is an AuthenticationError."""
    with pytest.raises(NotFoundError) as missing:
        chat.users.get(fresh("nobody"))
    assert missing.value.status == 404 and missing.value.code and missing.value.message
    uid = fresh()
    chat.users.create(uid)
    with pytest.raises(ConflictError) as twice:
        chat.users.create(uid)
    assert twice.value.status == 409
    with pytest.raises(InvalidRequestError):
        chat.users.tokens.issue(uid, expires_in=-1)
    with Client(server.base_url, "wrong-key") as stranger:
        with pytest.raises(AuthenticationError) as refused:
            stranger.apps.get()
    assert refused.value.code == "INVALID_API_KEY"
    with pytest.raises(TypeError):
        chat.users.create(uid, nickname="x")


def test_an_unreachable_server_is_a_transport_error() -> None:
    """No server on the port: a TransportError with status 0, never an httpx exception."""
    with Client(f"http://127.0.0.1:{free_port()}", "key", timeout=2) as chat:
        with pytest.raises(TransportError) as failed:
            chat.apps.get()
    assert failed.value.status == 0 and failed.value.code == "UNREACHABLE"
    assert isinstance(failed.value, ChatCampApiError)


def test_a_server_that_never_answers_is_a_timeout() -> None:
    """A listener that accepts but never replies: a TransportError TIMEOUT after ``timeout``."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with Client(url, "key", timeout=0.3) as chat:
            with pytest.raises(TransportError) as failed:
                chat.users.get("alice")
    assert failed.value.status == 0 and failed.value.code == "TIMEOUT"
    assert str(failed.value) == "users.get timed out (TIMEOUT)"


async def test_the_async_client_does_the_same(server: ServerProcess) -> None:
    """AsyncClient's methods answer as Client's do, errors included."""
    uid = fresh()
    async with AsyncClient(server.base_url, server.api_key) as chat:
        made = await chat.users.create(uid, display_name="Bo")
        assert (await chat.users.get(uid))["user"]["display_name"] == "Bo"
        assert made["access_token"]
        assert (await chat.apps.get())["app_id"] == server.app_id
        with pytest.raises(NotFoundError):
            await chat.users.sessions.end(uid, "no-such-session")


def methods_of(namespace: object, prefix: str = "") -> dict[str, inspect.Signature]:
    """Every method of a client's namespace and those under it (``tokens.issue`` …)."""
    found: dict[str, inspect.Signature] = {}
    for name, value in vars(namespace).items():
        if type(value).__module__ == "chatcamp_client.client" and not name.startswith("_"):
            found |= methods_of(value, f"{prefix}{name}.")
    for name, value in inspect.getmembers(type(namespace), inspect.isfunction):
        if not name.startswith("_"):
            found[prefix + name] = inspect.signature(value)
    return found


def test_open_channels_round_trip(chat: Client) -> None:
    """create with a chosen ID (a second time: ConflictError), get, update, list paged by
    reference, announce, delete (then get: NotFoundError)."""
    made = chat.open_channels.create("api-room-1", name="Room")
    assert made["id"] == "api-room-1" and made["participants_count"] == 0
    with pytest.raises(ConflictError) as conflict:
        chat.open_channels.create("api-room-1")
    assert conflict.value.code == "CHANNEL_EXISTS"
    chat.open_channels.create("api-room-2")
    assert chat.open_channels.update("api-room-1", name="Renamed")["name"] == "Renamed"
    assert chat.open_channels.get("api-room-1")["name"] == "Renamed"
    page = chat.open_channels.list(limit=1, reference="api-room-1")
    assert [c["id"] for c in page] == ["api-room-2"]
    told = chat.open_channels.announce("api-room-1", "hello, room")
    assert told["type"] == "announcement" and "user" not in told
    assert chat.open_channels.delete("api-room-1") == "api-room-1"
    with pytest.raises(NotFoundError):
        chat.open_channels.get("api-room-1")


def test_group_channels_round_trip(chat: Client) -> None:
    """A distinct channel is made once, staffed, listed for its user, announced to and
    deleted through the client."""
    for user in ("api-gc-ann", "api-gc-bob", "api-gc-cy"):
        chat.users.create(user)
    made = chat.group_channels.create(["api-gc-ann", "api-gc-bob"], id="api-gc-1",
                                      is_distinct=True, name="Support")
    assert made["created"] is True and made["group_channel"]["name"] == "Support"
    again = chat.group_channels.create(["api-gc-bob", "api-gc-ann"], is_distinct=True)
    assert again["created"] is False and again["group_channel"]["id"] == "api-gc-1"
    assert chat.group_channels.add_participants("api-gc-1", ["api-gc-cy"]) == ["api-gc-cy"]
    told = chat.group_channels.announce("api-gc-1", "hello, all")
    assert told["type"] == "announcement"
    [listed] = chat.group_channels.list_for_user("api-gc-cy")
    assert listed["id"] == "api-gc-1" and listed["unread_message_count"] == 1
    assert listed["my_status"] == "ACCEPTED"
    assert chat.group_channels.remove_participants("api-gc-1", ["api-gc-cy"]) == ["api-gc-cy"]
    assert chat.group_channels.list_for_user("api-gc-cy") == []
    assert chat.group_channels.update("api-gc-1", name="Help")["name"] == "Help"
    assert chat.group_channels.delete("api-gc-1") == "api-gc-1"
    with pytest.raises(NotFoundError):
        chat.group_channels.get("api-gc-1")


async def test_the_async_client_has_the_sync_clients_methods(chat: Client,
                                                             server: ServerProcess) -> None:
    """Client wraps each method of the table once, and AsyncClient has the same methods with
    the same parameters."""
    wrapped: set[str] = set()
    async with AsyncClient(server.base_url, server.api_key) as async_chat:
        for namespace in ("users", "apps", "open_channels", "group_channels"):
            sync = methods_of(getattr(chat, namespace), f"{namespace}.")
            assert sync == methods_of(getattr(async_chat, namespace), f"{namespace}."), namespace
            wrapped |= set(sync)
    assert wrapped == {method.name for method in METHODS}


def test_signed_tokens_are_the_servers_kind(chat: Client) -> None:
    """sign_token makes an HS256 JWT with kid, sub, iat and exp under the key's secret."""
    key = chat.apps.signing_keys.create()
    try:
        token = sign_token(key["key_id"], key["secret"], "alice", expires_in=60, now=1000)
        assert jwt.get_unverified_header(token) == {"alg": "HS256", "kid": key["key_id"],
                                                    "typ": "JWT"}
        claims = jwt.decode(token, key["secret"], algorithms=["HS256"],
                            options={"verify_exp": False})
        assert claims == {"sub": "alice", "iat": 1000, "exp": 1060}
    finally:
        chat.apps.signing_keys.revoke(key["key_id"])


async def _none_listed(chat: AsyncClient, uid: str) -> bool:
    return await chat.users.sessions.list(uid) == []


async def test_a_signed_token_logs_in_and_its_session_is_ended(
        server: ServerProcess, http: aiohttp.ClientSession) -> None:
    """The server accepts sign_token's token; the session shows in users.sessions.list and
    users.sessions.end ends it (the socket gets the stopping refusal)."""
    uid = fresh("signed")
    async with AsyncClient(server.base_url, server.api_key) as chat:
        key = await chat.apps.signing_keys.create()
        try:
            token = sign_token(key["key_id"], key["secret"], uid, expires_in=60)
            ack, ws = await login(http, server, f"app_id={server.app_id}&user_id={uid}"
                                                f"&access_token={quote(token)}")
            assert ack["d"]["ok"] is True, ack
            sessions = await chat.users.sessions.list(uid)
            assert len(sessions) == 1 and sessions[0]["session_id"]
            assert await chat.users.sessions.end(uid, sessions[0]["session_id"]) == 1
            await ended_by_server(ws)
            # The socket closes first; the session leaves the listing once the server has
            # recorded when its user was last seen.
            await eventually(lambda: _none_listed(chat, uid))
        finally:
            await chat.apps.signing_keys.revoke(key["key_id"])


@pytest.fixture
async def demo_site(tmp_path: Path) -> AsyncIterator[tuple[DemoBackend, TestClient[Any, Any]]]:
    """A demo backend with a database of its own (so its API key is no app's on the module
    server), and a browser signed in to it as demo-erin."""
    store = SQLiteStore(tmp_path / "demo.sqlite3")
    await store.open()
    backend = DemoBackend(store, demo_table_for(store), ServerKeys(secrets.token_bytes(32)),
                          DEFAULT_LIMITS)
    await backend.open()
    site = web.Application()
    backend.add_routes(site)
    try:
        async with TestClient(TestServer(site)) as browser:
            signed_in = await browser.post("/demo/signin", json={"username": "demo-erin"})
            assert signed_in.status == 200
            yield backend, browser
    finally:
        await backend.stop()
        await store.close()


async def test_the_demo_says_which_way_the_chat_server_failed(
        demo_site: tuple[DemoBackend, TestClient[Any, Any]], server: ServerProcess) -> None:
    """Through AsyncClient, the demo answers 502 with the server's code and message when the
    chat server refuses it, and a plain sentence when it cannot be reached."""
    backend, browser = demo_site
    await backend.start(server.base_url, urlsplit(server.base_url).netloc)
    refused = await browser.get("/demo/token")
    assert refused.status == 502 and (await refused.json())["error"] == {
        "code": "UPSTREAM_ERROR", "message": "the chat server refused users.create: "
        "INVALID_API_KEY: a valid x-api-key header is required"}
    await backend.stop()
    await backend.start(f"http://127.0.0.1:{free_port()}", "chat.example")
    unreachable = await browser.get("/demo/token")
    assert unreachable.status == 502 and (await unreachable.json())["error"] == {
        "code": "UPSTREAM_ERROR", "message": "the chat server could not be reached"}


def served_document(server: ServerProcess) -> Any:
    with urllib.request.urlopen(server.base_url + "/api/2.0/openapi.json", timeout=10) as reply:
        return json.loads(reply.read())


def request_fields(document: Any, schema: Any) -> set[str]:
    """Every property a request body schema declares, through $ref and allOf."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return request_fields(document, document["components"]["schemas"][name])
    fields = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        fields |= request_fields(document, part)
    return fields


def test_the_client_covers_the_served_openapi_document(server: ServerProcess) -> None:
    """Every method the server documents has a client method, every field the client may send
    is one the method's request schema declares, and the profile fields are all of them."""
    document = served_document(server)
    documented = {path.removeprefix("/api/2.0/"): spec["post"]
                  for path, spec in document["paths"].items() if "post" in spec}
    assert {method.name for method in METHODS} == set(documented)
    for method in METHODS:
        schema = documented[method.name]["requestBody"]["content"]["application/json"]["schema"]
        declared = request_fields(document, schema)
        assert set(method.fields) <= declared, method.name
        if method.name in ("users.create", "users.update"):
            assert declared == {"id", *PROFILE}
