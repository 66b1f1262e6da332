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
from collections import OrderedDict
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


def may_be_signed(token: str) -> bool:
    """Cheap first look: only a string of three dot-separated parts can be a JWT (PyJWT then
    judges it); any other goes straight to the stored tokens."""
    return token.count(".") == 2


def header(token: str) -> dict[str, Any] | None:
    """The JOSE header of a JWT-shaped token, unverified; None for any other string."""
    if not may_be_signed(token):
        return None
    try:
        return jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        return None


class NotSigned(Exception):
    """The string is not a JWT at all: it can only be a stored token."""


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


@dataclass(frozen=True, slots=True)
class _Verified:
    key_id: str
    claims: dict[str, Any]


class VerifiedTokens:
    """Tokens whose signature held, by the token string, least recently used forgotten first.

    The signature is the one costly step of a check (PyJWT's decode is most of a signed
    login's CPU), and the same string under the same key always verifies the same way: key
    IDs are never reused and a key's secret never changes.  So a token met again skips only
    that step; the key must still be active and every claim is checked again, against the
    clock and the watermarks of the moment.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[str, _Verified] = OrderedDict()

    def get(self, token: str) -> _Verified | None:
        hit = self._entries.get(token)
        if hit is not None:
            self._entries.move_to_end(token)
        return hit

    def add(self, token: str, key_id: str, claims: dict[str, Any]) -> None:
        if self.size <= 0:
            return
        self._entries[token] = _Verified(key_id, {name: claims.get(name)
                                                  for name in ("sub", "iat", "nbf", "exp")})
        self._entries.move_to_end(token)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


def verify(token: str, user_id: str, keys: Mapping[str, str | None], now: float,
           leeway: float, issued_not_before: float | None,
           verified: VerifiedTokens | None = None) -> SignedToken:
    """Verify ``token`` as ``user_id``'s, under ``keys`` (key ID → secret, None for a revoked
    key); raise ``Refused`` with the reason, or ``NotSigned`` for a string that is no JWT.

    A token in ``verified`` under a key still active skips the signature.  Otherwise an app
    with one active key, the usual case, costs one PyJWT decode: the header read first, to
    pick the key, would parse the token twice (``bench/jwt_verify.py``).  With more keys, or
    when that decode fails, the header picks the key and names the reason.
    """
    hit = verified.get(token) if verified is not None else None
    if hit is not None and keys.get(hit.key_id) is not None:
        return _checked(hit.claims, hit.key_id, user_id, now, leeway, issued_not_before)
    active = [(kid, known) for kid, known in keys.items() if known is not None]
    if len(active) == 1 and may_be_signed(token):
        only_id, only_secret = active[0]
        try:
            decoded = _DECODER.decode_complete(token, only_secret, algorithms=[ALGORITHM])
        except jwt.PyJWTError:
            pass  # the reason is for the path below to find
        else:
            if decoded["header"].get("kid") == only_id:
                if verified is not None:
                    verified.add(token, only_id, decoded["payload"])
                return _checked(decoded["payload"], only_id, user_id, now, leeway,
                                issued_not_before)
    jose = header(token)
    if jose is None:
        raise NotSigned()
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
    if verified is not None:
        verified.add(token, key_id, claims)
    return _checked(claims, key_id, user_id, now, leeway, issued_not_before)


def _checked(claims: dict[str, Any], key_id: str, user_id: str, now: float, leeway: float,
             issued_not_before: float | None) -> SignedToken:
    """The claims of a token whose signature holds, checked against the login and the
    caller's clock."""
    if claims["sub"] != user_id:
        raise Refused(JWT_WRONG_USER)
    issued_at = _time(claims, "iat")
    not_before = _time(claims, "nbf")
    expires_at = _time(claims, "exp")
    assert issued_at is not None  # required by the decoder
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
