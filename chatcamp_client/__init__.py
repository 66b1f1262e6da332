"""The chat server's API for an integrator's backend: typed, sync (:class:`Client`) and async
(:class:`AsyncClient`), one exception tree (:class:`ChatCampApiError`), and
:func:`sign_token` for tokens the backend signs itself.

    from chatcamp_client import Client

    with Client("https://chat.example", api_key) as chat:
        made = chat.users.create("alice", display_name="Alice", check_access_token=True)
        token = made["access_token"]        # hand it to the page: connect("alice", token)
"""

from chatcamp_client.client import AsyncClient, Client
from chatcamp_client.errors import (AuthenticationError, ChatCampApiError, ConflictError,
                                    InvalidRequestError, NotFoundError, RateLimitedError,
                                    TransportError, UnavailableError)
from chatcamp_client.signing import sign_token
from chatcamp_client.types import (App, AppRevocation, IssuedToken, KeyRevocation,
                                   NewSigningKey, Revocation, Session, SigningKey, Token, User,
                                   UserView)

__all__ = [
    "App", "AppRevocation", "AsyncClient", "AuthenticationError", "ChatCampApiError", "Client",
    "ConflictError", "InvalidRequestError", "IssuedToken", "KeyRevocation", "NewSigningKey",
    "NotFoundError", "RateLimitedError", "Revocation", "Session", "SigningKey", "Token",
    "TransportError", "UnavailableError", "User", "UserView", "sign_token",
]
