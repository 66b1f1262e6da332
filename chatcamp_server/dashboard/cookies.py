"""An operator's dashboard session, carried in a sealed cookie.

The cookie is the whole session: who signed in, when, when they were last active, and a
random session ID, sealed with AES-GCM under a key derived from the server secret.  Any node
of a cluster can open it with no session table to share, and it survives a restart.  What a
stateless cookie cannot do alone is end early, so three checks against the store do that:

* signing out marks the session ID used, in the table of used session keys that every node
  already consults;
* changing an operator's password ends every session begun before the change
  (``Operator.password_changed_at``);
* deleting an operator ends theirs, since each request looks the operator up.

The cookie is ``HttpOnly`` (no script reads it), ``SameSite=Strict`` (no other site's page
makes the browser send it), scoped to ``/dashboard/``, and ``Secure`` whenever the dashboard
is reached over https.  It is reissued with each page an operator opens, sliding the idle
timeout; the live view's polling reads it without reissuing it, so a dashboard left open on
the live view still times out.

Every form carries a CSRF token, a keyed hash of the session ID: SameSite is the first
defence, the token the second (an older browser, a sibling subdomain), and the Origin check
in ``pages.py`` a third.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass

from chatcamp_server.keys import ServerKeys, b64url, random_id, unb64url
from chatcamp_server.settings import Limits
from chatcamp_server.storage.store import Operator, Store

COOKIE = "chatcamp_dashboard"
PATH = "/dashboard/"
_SEAL_CONTEXT = "dashboard-session"
_CSRF_KIND = "dashboard-csrf"


@dataclass(frozen=True)
class Signed:
    """A session that passed every check, with the operator it belongs to."""

    operator: Operator
    session_id: str
    signed_in_at: float


class OperatorSessions:
    def __init__(self, keys: ServerKeys, store: Store, limits: Limits) -> None:
        self.keys = keys
        self.store = store
        self.idle_timeout = limits.dashboard_idle_timeout
        self.lifetime = limits.dashboard_session_lifetime

    def seal(self, name: str, session_id: str, signed_in_at: float, active_at: float) -> str:
        payload = json.dumps([name, session_id, signed_in_at, active_at])
        return b64url(self.keys.seal(payload, _SEAL_CONTEXT))

    def new(self, name: str, now: float) -> str:
        return self.seal(name, random_id(), now, now)

    def renewed(self, signed: Signed, now: float) -> str:
        return self.seal(signed.operator.name, signed.session_id, signed.signed_in_at, now)

    async def open(self, cookie: str | None, now: float) -> Signed | None:
        """The session the cookie carries if it is authentic and still valid, else None."""
        if not cookie or len(cookie) > 1024:
            return None
        try:
            plaintext = self.keys.unseal(unb64url(cookie), _SEAL_CONTEXT)
            name, session_id, signed_in_at, active_at = json.loads(plaintext or "null")
            signed_in_at, active_at = float(signed_in_at), float(active_at)
        except (ValueError, TypeError):
            return None
        if not isinstance(name, str) or not isinstance(session_id, str) or \
                now - active_at > self.idle_timeout or now - signed_in_at > self.lifetime:
            return None
        operator = await self.store.get_operator(name)
        if operator is None or operator.password_changed_at > signed_in_at or \
                await self.store.is_session_consumed(session_id):
            return None
        return Signed(operator, session_id, signed_in_at)

    async def end(self, signed: Signed, now: float) -> None:
        """Refuse this session's cookie from now on, for as long as it could have lasted."""
        await self.store.consume_session(signed.session_id, signed.signed_in_at + self.lifetime,
                                         now)

    def csrf_token(self, signed: Signed) -> str:
        return b64url(self.keys.mac(_CSRF_KIND, signed.session_id))

    def csrf_ok(self, signed: Signed, token: str) -> bool:
        return hmac.compare_digest(self.csrf_token(signed).encode(), token.encode())
