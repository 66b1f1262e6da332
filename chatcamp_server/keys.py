"""The server secret and everything derived from it: keyed hashes, sealed tokens, session keys.

The secret lives in a file of its own, never in the database, so a stolen database file (or
its WAL, or a backup of it) reveals no token and no API key:

* API keys, access tokens and session IDs are stored only as HMAC-SHA256 under a key
  derived from the secret.  Looking one up is an indexed equality on that MAC, and the final
  comparison is ``hmac.compare_digest``.
* A token ChatCamp compatibility requires to be readable back (the one set through
  ``users.create``/``users.update``) is additionally sealed with AES-256-GCM, bound to its
  app and user, so a sealed blob copied to another row does not decrypt.
* Session keys are self-contained and MAC-signed, so verifying one needs no database read
  and they survive a restart; a small revocation list handles the ones ended early.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chatcamp_server.errors import StorageUnavailable

SECRET_BYTES = 32
API_KEY_PREFIX = "cck_"
TOKEN_PREFIX = "cct_"
SESSION_KEY_PREFIX = "ccs_"
SIGNING_KEY_PREFIX = "ccsk_"
"""An app's signing key secret: the HMAC key its backend signs tokens (JWTs) with."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def random_secret(prefix: str) -> str:
    """256 random bits behind a prefix that tells a leaked string's kind at a glance."""
    return prefix + b64url(secrets.token_bytes(32))


def random_id(nbytes: int = 12) -> str:
    return b64url(secrets.token_bytes(nbytes))


def load_or_create_secret(path: Path) -> bytes:
    """Read the server secret, creating it (mode 0600) on first start."""
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(SECRET_BYTES) + "\n")
        raw = path.read_text().strip()
        secret = bytes.fromhex(raw)
    except FileExistsError:
        return load_or_create_secret(path)
    except (OSError, ValueError) as exc:
        raise StorageUnavailable(f"cannot read the server secret file {path}: {exc}") from None
    if len(secret) != SECRET_BYTES:
        raise StorageUnavailable(f"the server secret file {path} does not hold a 32-byte key")
    return secret


@dataclass(frozen=True)
class SessionClaims:
    """What a session key asserts: who, in which app, resting on which token, until when.

    The token itself rides along (encrypted) so that a resumed session can echo it in its
    ``users.auth.ack``: the SDK forgets a token the ack does not carry, and would then fall
    back to a token-less login if the session key is ever refused.
    """

    app_id: str
    user_id: str
    session_id: str
    token_id: str | None
    access_token: str | None
    issued_at: int
    expires_at: int


class ServerKeys:
    """Sub-keys derived once from the server secret, one per purpose."""

    def __init__(self, secret: bytes) -> None:
        def derive(label: bytes) -> bytes:
            return hmac.new(secret, b"chatcamp-web/" + label, hashlib.sha256).digest()

        self._mac_key = derive(b"mac")
        self._seal = AESGCM(derive(b"seal"))
        self._session = AESGCM(derive(b"session"))

    def mac(self, kind: str, value: str) -> bytes:
        """Keyed hash of a secret; ``kind`` keeps an API key from matching a token's hash."""
        return hmac.new(self._mac_key, kind.encode() + b"\0" + value.encode(),
                        hashlib.sha256).digest()

    def seal(self, plaintext: str, context: str) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + self._seal.encrypt(nonce, plaintext.encode(), context.encode())

    def unseal(self, sealed: bytes, context: str) -> str | None:
        """The plaintext, or None when the blob was tampered with or sealed under another key."""
        try:
            return self._seal.decrypt(sealed[:12], sealed[12:], context.encode()).decode()
        except (InvalidTag, ValueError):
            return None

    def seal_session(self, claims: SessionClaims) -> str:
        payload = json.dumps(
            [claims.app_id, claims.user_id, claims.session_id, claims.token_id,
             claims.access_token, claims.issued_at, claims.expires_at],
            separators=(",", ":"),
        ).encode()
        nonce = secrets.token_bytes(12)
        return SESSION_KEY_PREFIX + b64url(nonce + self._session.encrypt(nonce, payload, None))

    def open_session(self, key: str) -> SessionClaims | None:
        """The claims of an authentic session key (expiry is the caller's check), else None."""
        if not key.startswith(SESSION_KEY_PREFIX):
            return None
        try:
            blob = unb64url(key[len(SESSION_KEY_PREFIX):])
            payload = self._session.decrypt(blob[:12], blob[12:], None)
            app, user, session, token_id, token, issued, expires = json.loads(payload)
            return SessionClaims(app, user, session, token_id, token, int(issued), int(expires))
        except (InvalidTag, ValueError, TypeError):
            return None
