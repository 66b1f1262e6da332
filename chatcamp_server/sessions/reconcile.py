"""The cluster's second path to a revoked session: this node's live sessions, checked against
the store on a timer.

Revocations travel to other nodes over the bus, and a broker is at-most-once: a message
published while Redis is down, or while this node's subscription is reconnecting, is lost.
The revocation itself is in the store before the bus hears of it, so a node that asks the
store every ``RECONCILE_SECONDS`` about all its sessions at once (a few queries, however
many sessions) ends every revoked one within that time, whatever happened to the message.
A session on a signed token (``jwt:KEY_ID``) has no row of its own: it ends when its key is
revoked or gone, or when its ``iat`` precedes its user's or app's revocation watermark.
A single process needs none of this: its bus cannot lose a message.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Callable

from chatcamp_server import policies
from chatcamp_server.errors import (
    JWT_ISSUED_BEFORE_REVOCATION,
    JWT_KEY_REVOKED,
    NO_TOKEN_FOR_APP,
    NO_TOKEN_FOR_USER,
    SESSION_ENDED,
    TOKEN_REVOKED,
)
from chatcamp_server.sessions import jwt_tokens
from chatcamp_server.sessions.bus import LocalBus
from chatcamp_server.sessions.live import LiveSession, LiveSessions, Target
from chatcamp_server.storage.store import Store

BATCH = 2000
"""Sessions asked about per round of queries: a node holding 15,000 stalls its logins for
one batch's work at a time, not for all of it."""
RECONCILE_SECONDS = 3.0
"""A revoked session whose bus message was lost ends within this (plus one round's queries):
well inside the 10 s promised for a broker outage, and three cheap queries per round."""
ENDED = SESSION_ENDED


class Reconciler:
    def __init__(self, store: Store, live: LiveSessions,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.live = live
        self.local = LocalBus(live)
        """Each node reconciles its own sessions, so the ending never leaves this process."""
        self.clock = clock

    async def run_once(self) -> int:
        """End this node's sessions that the store no longer allows; how many ended."""
        sessions = self.live.all()
        ended = 0
        for start in range(0, len(sessions), BATCH):
            ended += await self._check(sessions[start:start + BATCH])
        return ended

    async def _check(self, sessions: list[LiveSession]) -> int:
        signed = [s for s in sessions if jwt_tokens.key_id_of(s.token_id) is not None]
        bad_tokens = await self.store.unusable_tokens(
            {s.token_id for s in sessions if s.token_id is not None
             and jwt_tokens.key_id_of(s.token_id) is None}, self.clock())
        bad_keys = await self.store.unusable_signing_keys(
            {jwt_tokens.key_id_of(s.token_id) or "" for s in signed})
        ended = await self.store.consumed_sessions({s.session_id for s in sessions})
        verdicts: dict[str, str] = {}
        for session in sessions:
            if session.session_id in ended:
                verdicts[session.session_id] = ENDED
            elif session.token_id in bad_tokens:
                verdicts[session.session_id] = TOKEN_REVOKED
            elif jwt_tokens.key_id_of(session.token_id) in bad_keys:
                verdicts[session.session_id] = JWT_KEY_REVOKED
        signed_by_app: defaultdict[str, list[LiveSession]] = defaultdict(list)
        for session in signed:
            if session.session_id not in verdicts:
                signed_by_app[session.app_id].append(session)
        for app_id, held in signed_by_app.items():
            marks = await self.store.token_watermarks(app_id, {s.user_id for s in held})
            verdicts.update(
                (s.session_id, JWT_ISSUED_BEFORE_REVOCATION) for s in held
                if s.user_id in marks and s.token_issued_at is not None
                and s.token_issued_at < marks[s.user_id])
        tokenless: defaultdict[str, list[LiveSession]] = defaultdict(list)
        for session in sessions:
            if session.token_id is None and session.session_id not in verdicts:
                tokenless[session.app_id].append(session)
        for app_id, held in tokenless.items():
            app = await self.store.get_app(app_id)
            if app is None or not policies.allows_id_login(app):
                verdicts.update((s.session_id, NO_TOKEN_FOR_APP) for s in held)
                continue
            checked = await self.store.users_requiring_token(app_id, {s.user_id for s in held})
            verdicts.update((s.session_id, NO_TOKEN_FOR_USER) for s in held
                            if s.user_id in checked)
        by_id = {s.session_id: s for s in sessions}
        counts = await asyncio.gather(*(
            self.local.end(Target(by_id[i].app_id, by_id[i].user_id, session_id=i), reason)
            for i, reason in verdicts.items()))
        return sum(counts)
