"""Tokens an integrator's backend signs itself, with a signing key from
``client.apps.signing_keys.create()``: no call to the chat server per login."""

from __future__ import annotations

import time
from typing import Any

import jwt


def sign_token(key_id: str, secret: str, user_id: str, *, expires_in: float | None = 3600,
               now: float | None = None, **claims: Any) -> str:
    """An HS256 JWT for ``user_id`` as the server accepts it: header ``kid``, claims ``sub``,
    ``iat`` and (unless ``expires_in`` is None) ``exp``. The server allows 30 s of clock skew
    for ``iat`` and ``nbf``, none for ``exp``."""
    issued = int(time.time() if now is None else now)
    payload: dict[str, Any] = {"sub": user_id, "iat": issued, **claims}
    if expires_in is not None:
        payload["exp"] = issued + int(expires_in)
    return jwt.encode(payload, secret, algorithm="HS256", headers={"kid": key_id})
