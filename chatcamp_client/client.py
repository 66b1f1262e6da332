"""``Client`` and ``AsyncClient``: the server API for an integrator's backend, over httpx.

What a call sends and how an answer becomes a result or an exception is written once, in
``_request`` and ``_answer``; the two clients differ only in how they wait for the network.
The typed methods are one line each, reading the table in ``methods.py``.
"""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any, Mapping, Sequence, TypeVar

import httpx

from chatcamp_client import methods as m
from chatcamp_client import types
from chatcamp_client.errors import ChatCampApiError, TransportError, for_status

T = TypeVar("T")
API_PATH = "/api/2.0/"


def _request(name: str, params: dict[str, Any]) -> tuple[str, bytes]:
    return API_PATH + name, json.dumps(params).encode()


def _failed(exc: httpx.HTTPError, name: str) -> TransportError:
    if isinstance(exc, httpx.TimeoutException):
        return TransportError(f"{name} timed out", "TIMEOUT", 0)
    return TransportError(f"the chat server could not be reached for {name} "
                          f"({type(exc).__name__})", "UNREACHABLE", 0)


def _answer(name: str, reply: httpx.Response) -> dict[str, Any]:
    """The answer's body on success; otherwise the exception its status and error name."""
    try:
        body = reply.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise TransportError(f"{name} got an answer that is not the server API's JSON "
                             f"(HTTP {reply.status_code})", "BAD_ANSWER", reply.status_code)
    if reply.is_success and body.get("ok") is True:
        return body
    found = body.get("error")
    error: dict[str, Any] = found if isinstance(found, dict) else {}
    retry = reply.headers.get("Retry-After")
    raise for_status(reply.status_code)(
        str(error.get("message", f"HTTP {reply.status_code}")),
        str(error.get("code", "HTTP_ERROR")), reply.status_code,
        float(retry) if retry and retry.isdigit() else None)


def _headers(api_key: str, extra: Mapping[str, str] | None) -> dict[str, str]:
    return {**(extra or {}), "x-api-key": api_key, "Content-Type": "application/json"}


class Client:
    """The server API of the app ``api_key`` belongs to, for synchronous code.

    ``http`` is the underlying ``httpx.Client`` (base URL and key set), for anything the
    methods do not cover; ``transport`` is handed to it (httpx's, for example a mock in a
    unit test of your own code); ``headers`` go with every call (a ``Host`` when the server is
    reached past the name it answers to).
    """

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 10.0,
                 headers: Mapping[str, str] | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.http = httpx.Client(base_url=base_url, headers=_headers(api_key, headers),
                                 timeout=timeout, transport=transport)
        self.users = Users(self)
        self.apps = Apps(self)
        self.open_channels = OpenChannels(self)
        self.group_channels = GroupChannels(self)

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Any server-API method by name; the answer's JSON body, or a ``ChatCampApiError``."""
        path, body = _request(method, params or {})
        try:
            reply = self.http.post(path, content=body)
        except httpx.HTTPError as exc:
            raise _failed(exc, method) from None
        return _answer(method, reply)

    def run(self, method: m.Method[T], **params: Any) -> T:
        return method.result(self.call(method.name, method.params(params)))

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class AsyncClient:
    """:class:`Client` for asyncio code: the same methods, awaited."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 10.0,
                 headers: Mapping[str, str] | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, headers=_headers(api_key, headers),
                                      timeout=timeout, transport=transport)
        self.users = AsyncUsers(self)
        self.open_channels = AsyncOpenChannels(self)
        self.group_channels = AsyncGroupChannels(self)
        self.apps = AsyncApps(self)

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        path, body = _request(method, params or {})
        try:
            reply = await self.http.post(path, content=body)
        except httpx.HTTPError as exc:
            raise _failed(exc, method) from None
        return _answer(method, reply)

    async def run(self, method: m.Method[T], **params: Any) -> T:
        return method.result(await self.call(method.name, method.params(params)))

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()


class Tokens:
    def __init__(self, client: Client) -> None:
        self._c = client

    def issue(self, id: str, *, expires_in: float | None = None) -> types.IssuedToken:
        """An extra token for the user; ``access_token`` is shown only in this answer."""
        return self._c.run(m.TOKENS_ISSUE, id=id, expires_in=expires_in)

    def list(self, id: str) -> list[types.Token]:
        return self._c.run(m.TOKENS_LIST, id=id)

    def revoke(self, id: str, *, token_id: str | None = None,
               issued_before: float | None = None) -> types.Revocation:
        """One token, those issued before a time, or (neither given) all; their sessions end."""
        return self._c.run(m.TOKENS_REVOKE, id=id, token_id=token_id,
                           issued_before=issued_before)


class Sessions:
    def __init__(self, client: Client) -> None:
        self._c = client

    def list(self, id: str) -> list[types.Session]:
        return self._c.run(m.SESSIONS_LIST, id=id)

    def end(self, id: str, session_id: str) -> int:
        """End one live session; the number closed (0 or 1)."""
        return self._c.run(m.SESSIONS_END, id=id, session_id=session_id)


class Users:
    def __init__(self, client: Client) -> None:
        self._c = client
        self.tokens = Tokens(client)
        self.sessions = Sessions(client)

    def create(self, id: str, **profile: Any) -> types.UserView:
        """``profile``: display_name, avatar_url, profile_url, data, metadata,
        check_access_token, access_token (a generated one is returned when not given)."""
        return self._c.run(m.USERS_CREATE, id=id, **profile)

    def get(self, id: str) -> types.UserView:
        return self._c.run(m.USERS_GET, id=id)

    def update(self, id: str, **profile: Any) -> types.UserView:
        return self._c.run(m.USERS_UPDATE, id=id, **profile)


class SigningKeys:
    def __init__(self, client: Client) -> None:
        self._c = client

    def create(self) -> types.NewSigningKey:
        """A new key; its ``secret`` is shown only in this answer."""
        return self._c.run(m.KEYS_CREATE)

    def list(self) -> list[types.SigningKey]:
        return self._c.run(m.KEYS_LIST)

    def revoke(self, key_id: str) -> types.KeyRevocation:
        return self._c.run(m.KEYS_REVOKE, key_id=key_id)


class AppTokens:
    def __init__(self, client: Client) -> None:
        self._c = client

    def revoke(self, *, issued_before: float | None = None) -> types.AppRevocation:
        """Refuse every token of the app issued before ``issued_before`` (default: now)."""
        return self._c.run(m.APP_TOKENS_REVOKE, issued_before=issued_before)


class Apps:
    def __init__(self, client: Client) -> None:
        self._c = client
        self.signing_keys = SigningKeys(client)
        self.tokens = AppTokens(client)

    def get(self) -> types.App:
        return self._c.run(m.APPS_GET)

    def update(self, *, allowed_origins: Sequence[str] | None = None,
               require_access_token: bool | None = None) -> types.App:
        return self._c.run(m.APPS_UPDATE, require_access_token=require_access_token,
                           allowed_origins=None if allowed_origins is None
                           else list(allowed_origins))


class AsyncTokens:
    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    async def issue(self, id: str, *, expires_in: float | None = None) -> types.IssuedToken:
        return await self._c.run(m.TOKENS_ISSUE, id=id, expires_in=expires_in)

    async def list(self, id: str) -> list[types.Token]:
        return await self._c.run(m.TOKENS_LIST, id=id)

    async def revoke(self, id: str, *, token_id: str | None = None,
                     issued_before: float | None = None) -> types.Revocation:
        return await self._c.run(m.TOKENS_REVOKE, id=id, token_id=token_id,
                                 issued_before=issued_before)


class AsyncSessions:
    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    async def list(self, id: str) -> list[types.Session]:
        return await self._c.run(m.SESSIONS_LIST, id=id)

    async def end(self, id: str, session_id: str) -> int:
        return await self._c.run(m.SESSIONS_END, id=id, session_id=session_id)


class AsyncUsers:
    def __init__(self, client: AsyncClient) -> None:
        self._c = client
        self.tokens = AsyncTokens(client)
        self.sessions = AsyncSessions(client)

    async def create(self, id: str, **profile: Any) -> types.UserView:
        return await self._c.run(m.USERS_CREATE, id=id, **profile)

    async def get(self, id: str) -> types.UserView:
        return await self._c.run(m.USERS_GET, id=id)

    async def update(self, id: str, **profile: Any) -> types.UserView:
        return await self._c.run(m.USERS_UPDATE, id=id, **profile)


class AsyncSigningKeys:
    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    async def create(self) -> types.NewSigningKey:
        return await self._c.run(m.KEYS_CREATE)

    async def list(self) -> list[types.SigningKey]:
        return await self._c.run(m.KEYS_LIST)

    async def revoke(self, key_id: str) -> types.KeyRevocation:
        return await self._c.run(m.KEYS_REVOKE, key_id=key_id)


class AsyncAppTokens:
    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    async def revoke(self, *, issued_before: float | None = None) -> types.AppRevocation:
        return await self._c.run(m.APP_TOKENS_REVOKE, issued_before=issued_before)


class AsyncApps:
    def __init__(self, client: AsyncClient) -> None:
        self._c = client
        self.signing_keys = AsyncSigningKeys(client)
        self.tokens = AsyncAppTokens(client)

    async def get(self) -> types.App:
        return await self._c.run(m.APPS_GET)

    async def update(self, *, allowed_origins: Sequence[str] | None = None,
                     require_access_token: bool | None = None) -> types.App:
        return await self._c.run(m.APPS_UPDATE, require_access_token=require_access_token,
                                 allowed_origins=None if allowed_origins is None
                                 else list(allowed_origins))


class OpenChannels:
    """Open channels: made here, by your backend, never from a browser."""

    def __init__(self, client: Client) -> None:
        self._c = client

    def create(self, id: str | None = None, **profile: Any) -> types.OpenChannel:
        """``id`` as chosen (a generated one when None); ``profile``: name, avatar_url, data,
        metadata, custom_filter."""
        return self._c.run(m.CHANNELS_CREATE, id=id, **profile)

    def get(self, id: str) -> types.OpenChannel:
        return self._c.run(m.CHANNELS_GET, id=id)

    def update(self, id: str, **profile: Any) -> types.OpenChannel:
        return self._c.run(m.CHANNELS_UPDATE, id=id, **profile)

    def list(self, *, limit: int | None = None,
             reference: str | None = None) -> list[types.OpenChannel]:
        """One page by ID; ``reference`` is the last ID of the previous page."""
        return self._c.run(m.CHANNELS_LIST, limit=limit, reference=reference)

    def delete(self, id: str) -> str:
        return self._c.run(m.CHANNELS_DELETE, id=id)

    def announce(self, id: str, text: str) -> types.ChannelMessage:
        """A message from no user, pushed to every participant."""
        return self._c.run(m.CHANNELS_ANNOUNCE, id=id, text=text)


class AsyncOpenChannels:
    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    async def create(self, id: str | None = None, **profile: Any) -> types.OpenChannel:
        return await self._c.run(m.CHANNELS_CREATE, id=id, **profile)

    async def get(self, id: str) -> types.OpenChannel:
        return await self._c.run(m.CHANNELS_GET, id=id)

    async def update(self, id: str, **profile: Any) -> types.OpenChannel:
        return await self._c.run(m.CHANNELS_UPDATE, id=id, **profile)

    async def list(self, *, limit: int | None = None,
                   reference: str | None = None) -> list[types.OpenChannel]:
        return await self._c.run(m.CHANNELS_LIST, limit=limit, reference=reference)

    async def delete(self, id: str) -> str:
        return await self._c.run(m.CHANNELS_DELETE, id=id)

    async def announce(self, id: str, text: str) -> types.ChannelMessage:
        return await self._c.run(m.CHANNELS_ANNOUNCE, id=id, text=text)


class GroupChannels:
    """Group channels: private conversations your backend can set up, staff and list."""

    def __init__(self, client: Client) -> None:
        self._c = client

    def create(self, participant_ids: Sequence[str], *, id: str | None = None,
               is_distinct: bool | None = None, **profile: Any) -> types.GroupChannelMade:
        """Members at once; with ``is_distinct``, the existing channel of exactly these
        members when there is one (``created`` False)."""
        return self._c.run(m.GROUPS_CREATE, participant_ids=list(participant_ids), id=id,
                           is_distinct=is_distinct, **profile)

    def get(self, id: str) -> types.GroupChannel:
        return self._c.run(m.GROUPS_GET, id=id)

    def update(self, id: str, **profile: Any) -> types.GroupChannel:
        return self._c.run(m.GROUPS_UPDATE, id=id, **profile)

    def delete(self, id: str) -> str:
        return self._c.run(m.GROUPS_DELETE, id=id)

    def add_participants(self, id: str, participant_ids: Sequence[str]) -> list[str]:
        """Members at once, no invitation; the IDs that were not in the channel before."""
        return self._c.run(m.GROUPS_ADD, id=id, participant_ids=list(participant_ids))

    def remove_participants(self, id: str, participant_ids: Sequence[str]) -> list[str]:
        return self._c.run(m.GROUPS_REMOVE, id=id, participant_ids=list(participant_ids))

    def list_for_user(self, user_id: str, *, participant_state_filter: str | None = None,
                      limit: int | None = None,
                      reference: str | None = None) -> list[types.GroupChannel]:
        """The user's channels, most recent chat first; ``reference`` is the last ID of the
        previous page."""
        return self._c.run(m.GROUPS_FOR_USER, user_id=user_id,
                           participant_state_filter=participant_state_filter, limit=limit,
                           reference=reference)

    def announce(self, id: str, text: str) -> types.ChannelMessage:
        """A message from no user, pushed to every member."""
        return self._c.run(m.GROUPS_ANNOUNCE, id=id, text=text)


class AsyncGroupChannels:
    def __init__(self, client: AsyncClient) -> None:
        self._c = client

    async def create(self, participant_ids: Sequence[str], *, id: str | None = None,
                     is_distinct: bool | None = None,
                     **profile: Any) -> types.GroupChannelMade:
        return await self._c.run(m.GROUPS_CREATE, participant_ids=list(participant_ids),
                                 id=id, is_distinct=is_distinct, **profile)

    async def get(self, id: str) -> types.GroupChannel:
        return await self._c.run(m.GROUPS_GET, id=id)

    async def update(self, id: str, **profile: Any) -> types.GroupChannel:
        return await self._c.run(m.GROUPS_UPDATE, id=id, **profile)

    async def delete(self, id: str) -> str:
        return await self._c.run(m.GROUPS_DELETE, id=id)

    async def add_participants(self, id: str, participant_ids: Sequence[str]) -> list[str]:
        return await self._c.run(m.GROUPS_ADD, id=id, participant_ids=list(participant_ids))

    async def remove_participants(self, id: str, participant_ids: Sequence[str]) -> list[str]:
        return await self._c.run(m.GROUPS_REMOVE, id=id,
                                 participant_ids=list(participant_ids))

    async def list_for_user(self, user_id: str, *, participant_state_filter: str | None = None,
                            limit: int | None = None,
                            reference: str | None = None) -> list[types.GroupChannel]:
        return await self._c.run(m.GROUPS_FOR_USER, user_id=user_id,
                                 participant_state_filter=participant_state_filter,
                                 limit=limit, reference=reference)

    async def announce(self, id: str, text: str) -> types.ChannelMessage:
        return await self._c.run(m.GROUPS_ANNOUNCE, id=id, text=text)
