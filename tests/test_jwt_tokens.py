"""In-process: tokens an integrator's backend signs (JWTs under an app's signing keys), from
the verifier's every refusal to logins, resumes, revocations and the reconcile, with an
injected clock and a real SQLite file, no sockets."""

from __future__ import annotations

import asyncio
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from test_auth import World, world  # noqa: F401
from test_bus import Socket

from chatcamp_server import errors
from chatcamp_server.errors import SESSION_KEY_INVALID, Conflict, RateLimited
from chatcamp_server.protocol import ConnectRefused
from chatcamp_server.sessions import jwt_tokens
from chatcamp_server.sessions.live import LiveSession, Target
from chatcamp_server.sessions.reconcile import Reconciler
from chatcamp_server.signing_keys import SignedTokens

NOW = 1_800_000_000.0
LEEWAY = 30.0
SECRET = "ccsk_" + "s" * 43
KEYS: dict[str, str | None] = {"k1": SECRET, "k-old": None}
ROTATING: dict[str, str | None] = {"k0": "ccsk_" + "r" * 43, "k1": SECRET, "k-old": None}
"""Two active keys: the verifier reads the header first to pick one, where with one key it
decodes at once."""


def make(claims: dict[str, Any] | None = None, key: str = SECRET, kid: str | None = "k1",
         algorithm: str = "HS256", **changes: Any) -> str:
    """A token for user "ann" issued now, with ``changes`` to its claims (None drops one)."""
    payload = {"sub": "ann", "iat": int(NOW), **(claims or {}), **changes}
    payload = {k: v for k, v in payload.items() if v is not None}
    headers = {"kid": kid} if kid is not None else {}
    return jwt.encode(payload, key, algorithm, headers=headers)


def verify(token: str, now: float = NOW, user_id: str = "ann",
           issued_not_before: float | None = None,
           keys: dict[str, str | None] = KEYS) -> jwt_tokens.SignedToken:
    return jwt_tokens.verify(token, user_id, keys, now, LEEWAY, issued_not_before)


@pytest.fixture(params=[KEYS, ROTATING], ids=["one active key", "two active keys"])
def keys(request: Any) -> dict[str, str | None]:
    return request.param  # type: ignore[no-any-return]


def refusal(token: str, **kwargs: Any) -> jwt_tokens.Refused:
    with pytest.raises(jwt_tokens.Refused) as info:
        verify(token, **kwargs)
    return info.value


def rs256_token() -> str:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode({"sub": "ann", "iat": int(NOW)}, private, "RS256", headers={"kid": "k1"})


# the verifier


def test_a_good_token_verifies_with_its_key_times() -> None:
    """A token signed HS256 with an active key, for its user, gives its key, iat and exp,
    whether the app holds one active key or two."""
    for keys in (KEYS, ROTATING):
        assert verify(make(exp=NOW + 60), keys=keys) == jwt_tokens.SignedToken("k1", NOW,
                                                                               NOW + 60)
        assert verify(make(), keys=keys).expires_at is None
    assert verify(make(key=str(ROTATING["k0"]), kid="k0"), keys=ROTATING).key_id == "k0"


def test_a_string_that_is_no_jwt_is_not_signed() -> None:
    """Strings that are not JWTs at all (a profile token may be anything) are told apart
    from refused JWTs, so that they can be looked up as stored tokens."""
    for text in ("cct_plain", "a.b.c", "..", "x.y", ""):
        with pytest.raises(jwt_tokens.NotSigned):
            verify(text)


@pytest.mark.parametrize("token,kwargs,message,stored_may_match", [
    (lambda: make(key="ccsk_" + "x" * 43), {}, errors.JWT_BAD_SIGNATURE, False),
    (lambda: make(kid="k-nobody"), {}, errors.JWT_UNKNOWN_KEY, True),
    (lambda: make(kid=None), {}, errors.JWT_UNKNOWN_KEY, True),
    (lambda: make(kid="k-old"), {}, errors.JWT_KEY_REVOKED, False),
    (lambda: make(key=SECRET + "-longer-for-hs512" * 3, algorithm="HS512"), {},
     errors.JWT_BAD_ALGORITHM, False),
    (lambda: jwt.encode({"sub": "ann", "iat": int(NOW)}, None, "none",
                        headers={"kid": "k1"}), {}, errors.JWT_BAD_ALGORITHM, False),
    (rs256_token, {}, errors.JWT_BAD_ALGORITHM, False),
    (lambda: make(sub="bob"), {}, errors.JWT_WRONG_USER, False),
    (lambda: make(exp=NOW - 1), {}, errors.TOKEN_EXPIRED, False),
    (lambda: make(nbf=NOW + 31), {}, errors.JWT_NOT_YET_VALID, False),
    (lambda: make(iat=int(NOW) + 31), {}, errors.JWT_ISSUED_IN_FUTURE, False),
    (lambda: make(iat=None), {}, errors.JWT_MALFORMED, True),
    (lambda: make(iat="yesterday"), {}, errors.JWT_MALFORMED, True),
    (lambda: make(iat=True), {}, errors.JWT_MALFORMED, True),
    (lambda: make(exp="soon"), {}, errors.JWT_MALFORMED, True),
    (lambda: make(sub=None), {}, errors.JWT_MALFORMED, True),
    (lambda: make(sub=7), {}, errors.JWT_MALFORMED, True),
    (lambda: make() + "x", {}, errors.JWT_BAD_SIGNATURE, False),
    (lambda: make(), {"issued_not_before": NOW + 0.5}, errors.JWT_ISSUED_BEFORE_REVOCATION,
     False),
])
def test_each_refusal_has_its_own_reason(token: Any, kwargs: dict[str, Any], message: str,
                                         stored_may_match: bool,
                                         keys: dict[str, str | None]) -> None:
    """Bad signature, unknown or revoked key, alg other than HS256 (none, HS512, RS256),
    another user's sub, expired, not yet valid, iat in the future, malformed claims and an
    iat before a revocation are each refused with their own message, by either path of the
    verifier; only an unknown key or a malformed token may still be a stored token."""
    refused = refusal(token(), keys=keys, **kwargs)
    assert (refused.message, refused.stored_may_match) == (message, stored_may_match)


def test_the_reasons_are_distinct_constants() -> None:
    """Every signed-token refusal message differs from the others and from the stored ones."""
    reasons = [errors.JWT_BAD_SIGNATURE, errors.JWT_UNKNOWN_KEY, errors.JWT_KEY_REVOKED,
               errors.JWT_BAD_ALGORITHM, errors.JWT_WRONG_USER, errors.TOKEN_EXPIRED,
               errors.JWT_NOT_YET_VALID, errors.JWT_ISSUED_IN_FUTURE, errors.JWT_MALFORMED,
               errors.JWT_TOO_LONG, errors.JWT_ISSUED_BEFORE_REVOCATION]
    assert len(set(reasons)) == len(reasons)
    assert errors.INVALID_TOKEN not in reasons and errors.TOKEN_REVOKED not in reasons


def test_nbf_and_iat_get_30_seconds_of_leeway_and_exp_none() -> None:
    """nbf and iat up to 30 s ahead of the clock pass, 31 s do not; exp ends at exp sharp."""
    assert verify(make(nbf=NOW + 30))
    assert verify(make(iat=int(NOW) + 30))
    assert refusal(make(nbf=NOW + 30.5)).message == errors.JWT_NOT_YET_VALID
    assert refusal(make(iat=int(NOW) + 31)).message == errors.JWT_ISSUED_IN_FUTURE
    assert verify(make(exp=NOW + 1), now=NOW + 0.999)
    assert refusal(make(exp=NOW + 1), now=NOW + 1).message == errors.TOKEN_EXPIRED


def test_iat_is_compared_with_a_watermark_in_whole_seconds() -> None:
    """A revocation at 1000.5 refuses iat=1000 and lets iat=1001 through."""
    assert refusal(make(iat=1000), now=1001.0,
                   issued_not_before=1000.5).message == errors.JWT_ISSUED_BEFORE_REVOCATION
    assert verify(make(iat=1001), now=1001.0, issued_not_before=1000.5).issued_at == 1001


def test_only_jwt_shaped_strings_have_a_header() -> None:
    """Opaque tokens, three-part strings that do not decode and empty strings have none."""
    assert jwt_tokens.header(make()) == {"alg": "HS256", "kid": "k1", "typ": "JWT"}
    for text in ("cct_abcdef0123456789", "a.b.c", "", "...", "x" * 40):
        assert jwt_tokens.header(text) is None


# logins through the authenticator


async def new_key(w: World) -> tuple[str, str]:
    made = await SignedTokens(w.auth, w.users.bus, w.limits).create_key(w.app, {})
    return made["key_id"], made["secret"]


def signed(key: tuple[str, str], user_id: str, now: float, **claims: Any) -> str:
    return jwt.encode({"sub": user_id, "iat": int(now), **claims}, key[1], "HS256",
                      headers={"kid": key[0]})


class CountingWrites:
    """Counts every write transaction of a SQLite store (they all pass through ``_write``)."""

    def __init__(self, w: World) -> None:
        self.count = 0
        original = w.store._write

        def counted(fn: Any) -> Any:
            self.count += 1
            return original(fn)

        w.store._write = counted  # type: ignore[method-assign]


async def test_signed_token_creates_an_unknown_user_even_where_tokens_are_required(
        world: World) -> None:
    """An unknown user with a valid signed token is created with check_access_token, in an
    app that requires tokens; the session rests on jwt:KEY with the token's iat and exp."""
    await world.store.update_app(world.app.id, require_access_token=True)
    world.auth.forget_app(world.app.id)
    key = await new_key(world)
    token = signed(key, "newcomer", world.clock.now, exp=world.clock.now + 600)
    login = await world.login(app_id=world.app.id, user_id="newcomer", access_token=token)
    assert login.user.id == "newcomer" and login.user.check_access_token is True
    assert (login.token_id, login.access_token) == (f"jwt:{key[0]}", token)
    assert login.token_issued_at == int(world.clock.now)
    assert login.token_expires_at == world.clock.now + 600
    stored = await world.store.get_user(world.app.id, "newcomer")
    assert stored is not None and stored.check_access_token is True


async def test_a_signed_login_of_a_known_user_writes_nothing(world: World) -> None:
    """Once the user exists, logging in with a signed token only reads the store."""
    key = await new_key(world)
    await world.login(app_id=world.app.id, user_id="ann",
                      access_token=signed(key, "ann", world.clock.now))
    writes = CountingWrites(world)
    for _ in range(3):
        login = await world.login(app_id=world.app.id, user_id="ann",
                                  access_token=signed(key, "ann", world.clock.now))
        assert login.user.id == "ann"
    assert writes.count == 0
    await world.login(app_id=world.app.id, user_id="walk-in")  # the counter counts writes
    assert writes.count == 1


async def test_concurrent_first_signed_logins_make_one_user(world: World) -> None:
    """Twenty simultaneous first logins with signed tokens end as one user."""
    key = await new_key(world)
    logins = await asyncio.gather(*(world.login(
        app_id=world.app.id, user_id="crowd", access_token=signed(key, "crowd", world.clock.now))
        for _ in range(20)))
    assert {login.user.id for login in logins} == {"crowd"}


async def test_two_active_keys_both_log_in_and_the_cap_holds(world: World) -> None:
    """During a rotation both keys work; past the cap a new key is refused with a Conflict."""
    old, new = await new_key(world), await new_key(world)
    for key in (old, new):
        await world.login(app_id=world.app.id, user_id="ann",
                          access_token=signed(key, "ann", world.clock.now))
    for _ in range(world.limits.signing_keys_per_app - 2):
        await new_key(world)
    with pytest.raises(Conflict) as capped:
        await new_key(world)
    assert capped.value.code == "TOO_MANY_SIGNING_KEYS"


async def test_a_revoked_key_refuses_its_tokens_at_once_on_this_node(world: World) -> None:
    """Revoking a key refuses its tokens at the next login (the node's key cache is dropped)
    while the other key's still log in."""
    old, new = await new_key(world), await new_key(world)
    await world.login(app_id=world.app.id, user_id="ann",
                      access_token=signed(old, "ann", world.clock.now))
    await SignedTokens(world.auth, world.users.bus, world.limits).revoke_key(
        world.app, {"key_id": old[0]})
    refused = await world.refused(app_id=world.app.id, user_id="ann",
                                  access_token=signed(old, "ann", world.clock.now))
    assert (refused.code, refused.message) == ("NOT_AUTHORIZED", errors.JWT_KEY_REVOKED)
    await world.login(app_id=world.app.id, user_id="ann",
                      access_token=signed(new, "ann", world.clock.now))


async def test_a_jwt_shaped_profile_token_still_logs_in(world: World) -> None:
    """A foreign JWT stored as a profile token (unknown kid, or none) logs in as a stored
    token; a JWT-shaped token that is neither refuses with the signed reason."""
    foreign = jwt.encode({"sub": "elsewhere", "iat": 1}, "another-issuers-secret-0123456789",
                         "HS256", headers={"kid": "their-key"})
    await world.users.create(world.app, {"id": "bob", "access_token": foreign})
    login = await world.login(app_id=world.app.id, user_id="bob", access_token=foreign)
    assert login.token_id is not None and not login.token_id.startswith("jwt:")
    no_kid = jwt.encode({"x": 1}, "another-issuers-secret-0123456789", "HS256")
    await world.users.update(world.app, {"id": "bob", "access_token": no_kid})
    assert (await world.login(app_id=world.app.id, user_id="bob", access_token=no_kid)).user.id
    refused = await world.refused(app_id=world.app.id, user_id="bob", access_token=foreign)
    assert refused.message == errors.TOKEN_REVOKED  # found, but replaced
    stranger = jwt.encode({"sub": "bob", "iat": 1}, "a-third-secret-0123456789abcdefgh",
                          "HS256", headers={"kid": "nobody"})
    refused = await world.refused(app_id=world.app.id, user_id="bob", access_token=stranger)
    assert refused.message == errors.JWT_UNKNOWN_KEY


async def test_signed_refusals_count_as_failed_logins(world: World) -> None:
    """Wrong signed tokens count towards the per user and address limit like wrong tokens."""
    key = await new_key(world)
    bad = jwt.encode({"sub": "ann", "iat": int(world.clock.now)}, "ccsk_" + "w" * 43, "HS256",
                     headers={"kid": key[0]})
    for _ in range(world.limits.failed_logins_per_user_address):
        assert (await world.refused(app_id=world.app.id, user_id="ann",
                                    access_token=bad)).message == errors.JWT_BAD_SIGNATURE
    with pytest.raises(RateLimited):
        await world.login(app_id=world.app.id, user_id="ann",
                          access_token=signed(key, "ann", world.clock.now))


# resumes, revocations by time and the race check


async def test_a_resume_verifies_the_signed_token_again(world: World) -> None:
    """Resuming a signed session checks its token anew: past exp it is refused as expired
    (not Session Key Invalid); after its key's revocation as revoked."""
    key = await new_key(world)
    first = await world.login(app_id=world.app.id, user_id="ann",
                              access_token=signed(key, "ann", world.clock.now,
                                                  exp=world.clock.now + 60))
    resumed = await world.login(session_key=first.session_key)
    assert (resumed.token_id, resumed.token_expires_at) == (first.token_id,
                                                            first.token_expires_at)
    world.clock.now += 61
    expired = await world.refused(session_key=resumed.session_key)
    assert (expired.code, expired.message) == ("NOT_AUTHORIZED", errors.TOKEN_EXPIRED)
    world.clock.now -= 61
    again = await world.login(app_id=world.app.id, user_id="ann",
                              access_token=signed(key, "ann", world.clock.now))
    await SignedTokens(world.auth, world.users.bus, world.limits).revoke_key(
        world.app, {"key_id": key[0]})
    revoked = await world.refused(session_key=again.session_key)
    assert revoked.message == errors.JWT_KEY_REVOKED


async def test_revoking_a_users_tokens_refuses_their_earlier_signed_tokens(
        world: World) -> None:
    """users.tokens.revoke with issued_before refuses signed tokens issued earlier; without
    it, every signed token issued before now; later ones log in."""
    key = await new_key(world)
    await world.users.create(world.app, {"id": "ann"})
    early = signed(key, "ann", world.clock.now - 100)
    await world.users.revoke_tokens(world.app, {"id": "ann", "issued_before": world.clock.now - 50})
    refused = await world.refused(app_id=world.app.id, user_id="ann", access_token=early)
    assert refused.message == errors.JWT_ISSUED_BEFORE_REVOCATION
    current = signed(key, "ann", world.clock.now)
    login = await world.login(app_id=world.app.id, user_id="ann", access_token=current)
    world.clock.now += 0.5
    await world.users.revoke_tokens(world.app, {"id": "ann"})
    refused = await world.refused(app_id=world.app.id, user_id="ann", access_token=current)
    assert refused.message == errors.JWT_ISSUED_BEFORE_REVOCATION
    assert (await world.refused(session_key=login.session_key)).message in (
        errors.JWT_ISSUED_BEFORE_REVOCATION, SESSION_KEY_INVALID)
    world.clock.now += 1
    await world.login(app_id=world.app.id, user_id="ann",
                      access_token=signed(key, "ann", world.clock.now))


async def test_revoking_an_apps_tokens_refuses_every_users_earlier_tokens(
        world: World) -> None:
    """apps.tokens.revoke refuses all users' signed tokens issued before, and revokes the
    stored tokens created before; later tokens log in."""
    key = await new_key(world)
    stored = (await world.users.create(world.app, {"id": "bob"}))["access_token"]
    ann_early = signed(key, "ann", world.clock.now - 10)
    world.clock.now += 5
    answer = await SignedTokens(world.auth, world.users.bus, world.limits).revoke_app_tokens(
        world.app, {})
    assert answer["issued_before"] == world.clock.now and answer["revoked"] == 1
    assert (await world.refused(app_id=world.app.id, user_id="ann", access_token=ann_early)
            ).message == errors.JWT_ISSUED_BEFORE_REVOCATION
    assert (await world.refused(app_id=world.app.id, user_id="bob", access_token=stored)
            ).message == errors.TOKEN_REVOKED
    world.clock.now += 1
    await world.login(app_id=world.app.id, user_id="bob",
                      access_token=signed(key, "bob", world.clock.now))


async def test_recheck_refuses_a_signed_session_revoked_meanwhile(world: World) -> None:
    """The race check after registering refuses a signed session whose key was revoked, or
    whose iat precedes a watermark, since its login; a sound one passes."""
    key = await new_key(world)
    login = await world.login(app_id=world.app.id, user_id="ann",
                              access_token=signed(key, "ann", world.clock.now))
    await world.auth.recheck(login)
    world.clock.now += 1
    await world.store.revoke_tokens(world.app.id, "ann", world.clock.now)
    with pytest.raises(ConnectRefused) as marked:
        await world.auth.recheck(login)
    assert marked.value.message == errors.JWT_ISSUED_BEFORE_REVOCATION
    world.clock.now += 1
    later = await world.login(app_id=world.app.id, user_id="ann",
                              access_token=signed(key, "ann", world.clock.now))
    await world.store.revoke_signing_key(world.app.id, key[0], world.clock.now)
    with pytest.raises(ConnectRefused) as revoked:
        await world.auth.recheck(later)
    assert revoked.value.message == errors.JWT_KEY_REVOKED


def live_session(login: Any, socket: Socket) -> LiveSession:
    return LiveSession(login.session_id, login.app.id, login.user.id, login.token_id, NOW, "",
                       "", socket, key_expires_at=login.expires_at,
                       token_expires_at=login.token_expires_at,
                       token_issued_at=login.token_issued_at)


async def test_reconcile_ends_signed_sessions_only_when_their_key_or_a_watermark_says(
        world: World) -> None:
    """The reconcile leaves sessions on signed tokens alone (no token row is no revocation),
    ends those on a revoked key, and those issued before a watermark."""
    first, second = await new_key(world), await new_key(world)
    sockets = {name: Socket() for name in ("ann", "bob", "cat")}
    for name, key in (("ann", first), ("bob", second), ("cat", second)):
        login = await world.login(app_id=world.app.id, user_id=name,
                                  access_token=signed(key, name, world.clock.now))
        world.live.add(live_session(login, sockets[name]))
    reconciler = Reconciler(world.store, world.live, world.clock)
    assert await reconciler.run_once() == 0
    await world.store.revoke_signing_key(world.app.id, first[0], world.clock.now)
    await world.store.revoke_tokens(world.app.id, "bob", world.clock.now + 1)
    assert await reconciler.run_once() == 2
    ended = {name: s.got[0][0]["d"]["error"]["message"]  # type: ignore[index]
             for name, s in sockets.items() if s.got}
    assert ended == {"ann": errors.JWT_KEY_REVOKED, "bob": errors.JWT_ISSUED_BEFORE_REVOCATION}


async def test_targets_by_time_reach_sessions_on_tokens_issued_earlier(world: World) -> None:
    """A target with issued_before matches sessions whose token was issued earlier, stored
    or signed, and not ID-only sessions or later tokens."""
    target = Target(world.app.id, issued_before=NOW)
    assert target.rests_on("jwt:k", NOW - 1) and target.rests_on("t-1", NOW - 0.5)
    assert not target.rests_on("jwt:k", NOW) and not target.rests_on(None, None)
    both = Target(world.app.id, tokens=frozenset({"t-9"}), issued_before=NOW)
    assert both.rests_on("t-9", NOW + 5) and both.rests_on("jwt:k", NOW - 5)
    assert not both.rests_on("t-8", NOW + 5)
    assert Target(world.app.id).rests_on(None, None)


async def test_a_key_read_racing_a_revocation_is_not_cached(world: World) -> None:
    """A cache fill whose store read began before the keys changed is used once and not
    kept, so the next login reads the revocation."""
    key = await new_key(world)
    reading, release = asyncio.Event(), asyncio.Event()
    original = world.store.list_signing_keys

    async def slow(app_id: str) -> Any:
        found = await original(app_id)
        reading.set()
        await release.wait()
        return found

    world.store.list_signing_keys = slow  # type: ignore[method-assign]
    world.auth.forget_signing_keys(world.app.id)
    fill = asyncio.create_task(world.auth.signing_keys(world.app.id))
    await reading.wait()
    await world.store.revoke_signing_key(world.app.id, key[0], world.clock.now)
    world.auth.forget_signing_keys(world.app.id)
    release.set()
    assert (await fill)[key[0]] is not None  # read before the revocation
    world.store.list_signing_keys = original  # type: ignore[method-assign]
    assert (await world.auth.signing_keys(world.app.id))[key[0]] is None


def test_a_token_met_again_skips_only_its_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    """A token already verified is not decoded again, but its key must still be active and
    its claims still hold at the moment: a revoked key, the clock past exp, a watermark or
    another user refuse it as before."""
    verified = jwt_tokens.VerifiedTokens(100)
    token = make(exp=NOW + 60)

    def check(**changes: Any) -> jwt_tokens.SignedToken:
        options: dict[str, Any] = {"user_id": "ann", "keys": KEYS, "now": NOW,
                                   "issued_not_before": None, **changes}
        return jwt_tokens.verify(token, options["user_id"], options["keys"], options["now"],
                                 LEEWAY, options["issued_not_before"], verified)

    assert check().key_id == "k1"

    def no_decoding(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("decoded again")

    monkeypatch.setattr(jwt_tokens._DECODER, "decode_complete", no_decoding)
    monkeypatch.setattr(jwt_tokens._DECODER, "decode", no_decoding)
    assert check() == jwt_tokens.SignedToken("k1", NOW, NOW + 60)
    for changes, message in (({"now": NOW + 60}, errors.TOKEN_EXPIRED),
                             ({"user_id": "bob"}, errors.JWT_WRONG_USER),
                             ({"issued_not_before": NOW + 1},
                              errors.JWT_ISSUED_BEFORE_REVOCATION),
                             ({"keys": {"k1": None}}, errors.JWT_KEY_REVOKED),
                             ({"keys": {}}, errors.JWT_UNKNOWN_KEY)):
        with pytest.raises(jwt_tokens.Refused) as refused:
            check(**changes)
        assert refused.value.message == message, changes


def test_verified_tokens_forget_the_least_recently_used() -> None:
    """The memory of verified tokens is bounded; the least recently met goes first."""
    verified = jwt_tokens.VerifiedTokens(2)
    tokens = [make(jti=str(n)) for n in range(3)]
    for token in tokens[:2]:
        jwt_tokens.verify(token, "ann", KEYS, NOW, LEEWAY, None, verified)
    assert verified.get(tokens[0]) is not None  # now the most recent
    jwt_tokens.verify(tokens[2], "ann", KEYS, NOW, LEEWAY, None, verified)
    assert verified.get(tokens[1]) is None
    assert verified.get(tokens[0]) is not None and verified.get(tokens[2]) is not None
    assert jwt_tokens.VerifiedTokens(0).get(tokens[0]) is None
