"""Real server: chatcamp_client's typed methods round-trip, its errors carry the server's code,
and its table of methods cannot drift from the served OpenAPI document."""

from __future__ import annotations

import json
import secrets
import urllib.request
from typing import Any, Iterator

import jwt
import pytest
from server_process import ServerProcess, free_port

from chatcamp_client import (AsyncClient, AuthenticationError, ChatCampApiError, Client,
                             ConflictError, InvalidRequestError, NotFoundError, TransportError,
                             sign_token)
from chatcamp_client.methods import METHODS, PROFILE


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
