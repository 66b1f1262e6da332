"""Tokens an integrator's backend signs itself: JWTs under one of its app's signing keys.

A backend holding a signing key (``apps.signing_keys.create``) makes a user's token with no
call to the chat server::

    jwt.encode({"sub": user_id, "iat": now, "exp": now + 600}, secret, "HS256",
               headers={"kid": key_id})

and the browser logs in with it as with any token.  PyJWT checks the signature and the
claims' shapes; this module decides, with the caller's clock, what the times mean:

* ``sub`` must be the user ID of the login, ``iat`` is required, ``exp`` and ``nbf`` are
  optional; all three are numbers of Unix seconds;
* ``nbf`` and ``iat`` get ``Limits.jwt_leeway`` (30 s) of clock skew, ``exp`` none;
* the key named by the header's ``kid`` must be the app's and unrevoked, ``alg`` exactly
  ``HS256`` (``none``, ``HS512``, ``RS256`` ... are refused);
* a token issued (``iat``) before its user's or its app's revocation watermark
  (``users.tokens.revoke``, ``apps.tokens.revoke``) is refused.

Any string may be a stored (profile) token, a foreign JWT included, so a JWT-shaped token
that fails here only because its key is unknown or it is malformed is still looked up among
the stored tokens (``Refused.stored_may_match``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

import jwt

from chatcamp_server.errors import (
    JWT_BAD_ALGORITHM,
    JWT_BAD_SIGNATURE,
    JWT_ISSUED_BEFORE_REVOCATION,
    JWT_ISSUED_IN_FUTURE,
    JWT_KEY_REVOKED,
    JWT_MALFORMED,
    JWT_NOT_YET_VALID,
    JWT_UNKNOWN_KEY,
    JWT_WRONG_USER,
    TOKEN_EXPIRED,
)

ALGORITHM = "HS256"
SIGNED_TOKEN_PREFIX = "jwt:"
"""A session on a signed token has ``token_id`` = this + the key's ID; stored tokens' IDs
never hold a ``:``."""

_DECODER = jwt.PyJWT(options={
    "verify_exp": False, "verify_nbf": False, "verify_iat": False,  # our clock, below
    "verify_aud": False, "verify_iss": False, "require": ["sub", "iat"],
})


def seal_context(app_id: str, key_id: str) -> str:
    """What a signing key's sealed secret is bound to: it opens for this app and key only."""
    return f"signing-key\0{app_id}\0{key_id}"


def token_id(key_id: str) -> str:
    return SIGNED_TOKEN_PREFIX + key_id


def key_id_of(session_token_id: str | None) -> str | None:
    """The signing key's ID of a session on a signed token, else None."""
    if session_token_id is not None and session_token_id.startswith(SIGNED_TOKEN_PREFIX):
        return session_token_id[len(SIGNED_TOKEN_PREFIX):]
    return None


def header(token: str) -> dict[str, Any] | None:
    """The JOSE header of a JWT-shaped token, unverified; None for any other string."""
    if token.count(".") != 2:
        return None
    try:
        return jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return None


class Refused(Exception):
    """A signed token refused; ``message`` is one of the ``errors.JWT_*`` reasons (or
    ``TOKEN_EXPIRED``)."""

    def __init__(self, message: str, stored_may_match: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.stored_may_match = stored_may_match
        """Refused only for an unknown key or a malformed token: the string may still be a
        stored token (any string may be one)."""


@dataclass(frozen=True, slots=True)
class SignedToken:
    """A verified token: which key signed it, when it was issued and when it expires."""

    key_id: str
    issued_at: float
    expires_at: float | None


def _time(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not math.isfinite(value):
        raise Refused(JWT_MALFORMED, stored_may_match=True)
    return float(value)


def verify(token: str, jose: dict[str, Any], user_id: str, keys: Mapping[str, str | None],
           now: float, leeway: float, issued_not_before: float | None) -> SignedToken:
    """Verify ``token`` (whose header is ``jose``) as ``user_id``'s, under ``keys`` (key ID
    → secret, None for a revoked key); raise ``Refused`` with the reason."""
    key_id = jose.get("kid")
    if not isinstance(key_id, str) or key_id not in keys:
        raise Refused(JWT_UNKNOWN_KEY, stored_may_match=True)
    secret = keys[key_id]
    if secret is None:
        raise Refused(JWT_KEY_REVOKED)
    if jose.get("alg") != ALGORITHM:
        raise Refused(JWT_BAD_ALGORITHM)
    try:
        claims = _DECODER.decode(token, secret, algorithms=[ALGORITHM])
    except jwt.InvalidSignatureError:
        raise Refused(JWT_BAD_SIGNATURE) from None
    except jwt.InvalidAlgorithmError:
        raise Refused(JWT_BAD_ALGORITHM) from None
    except jwt.PyJWTError:
        raise Refused(JWT_MALFORMED, stored_may_match=True) from None
    if claims["sub"] != user_id:
        raise Refused(JWT_WRONG_USER)
    issued_at = _time(claims, "iat")
    not_before = _time(claims, "nbf")
    expires_at = _time(claims, "exp")
    assert issued_at is not None  # required above
    if issued_at > now + leeway:
        raise Refused(JWT_ISSUED_IN_FUTURE)
    if not_before is not None and not_before > now + leeway:
        raise Refused(JWT_NOT_YET_VALID)
    if expires_at is not None and now >= expires_at:
        raise Refused(TOKEN_EXPIRED)
    if issued_not_before is not None and issued_at < issued_not_before:
        raise Refused(JWT_ISSUED_BEFORE_REVOCATION)
    return SignedToken(key_id, issued_at, expires_at)


def watermark(*marks: float | None) -> float | None:
    """The latest of the revocation watermarks that are set (a user's, its app's)."""
    present = [m for m in marks if m is not None]
    return max(present) if present else None
