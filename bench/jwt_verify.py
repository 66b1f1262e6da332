"""Verifying one signed token: the server's whole check, against PyJWT's decode alone.

    .venv/bin/python bench/jwt_verify.py --calls 20000 --repeats 7

The server's check is what a login with a signed token costs before the store is asked:
``jwt_tokens.verify``, PyJWT's HS256 decode with the required claims, then ``sub``, ``iat``,
``nbf``, ``exp`` and the revocation watermark, for an app with one active key; "two keys
active" is the same during a rotation, when the unverified header is read first to pick the
key.  ``jwt.decode`` alone, on the same token, is the floor PyJWT sets.  Each figure is the
median over the repeats of the mean time per call.  Goal: at most 50 µs for the server's
check.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import timeit
from pathlib import Path

import jwt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatcamp_server.keys import SIGNING_KEY_PREFIX, random_secret  # noqa: E402
from chatcamp_server.sessions import jwt_tokens  # noqa: E402
from chatcamp_server.settings import DEFAULT_LIMITS  # noqa: E402

GOAL_US = 50.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    secret = random_secret(SIGNING_KEY_PREFIX)
    now = time.time()
    token = jwt.encode({"sub": "bench-user", "iat": int(now), "exp": int(now) + 600},
                       secret, "HS256", headers={"kid": "k1"})
    keys = {"k1": secret, "old": None}
    leeway = DEFAULT_LIMITS.jwt_leeway

    rotating = {**keys, "k0": random_secret(SIGNING_KEY_PREFIX)}

    def server_check() -> None:
        jwt_tokens.verify(token, "bench-user", keys, now, leeway, now - 3600)

    def rotating_check() -> None:
        jwt_tokens.verify(token, "bench-user", rotating, now, leeway, now - 3600)

    def pyjwt_decode() -> None:
        jwt.decode(token, secret, algorithms=["HS256"])

    server_check()
    rotating_check()
    results = {}
    for name, fn in (("server check", server_check),
                     ("  two keys active", rotating_check),
                     ("jwt.decode alone", pyjwt_decode)):
        runs = timeit.repeat(fn, number=args.calls, repeat=args.repeats)
        results[name] = statistics.median(runs) / args.calls * 1e6
        print(f"{name:17} {results[name]:6.1f} µs per call (median of {args.repeats} × "
              f"{args.calls}; min {min(runs) / args.calls * 1e6:.1f})")
    verdict = results["server check"] <= GOAL_US
    print(f"server check / jwt.decode: {results['server check'] / results['jwt.decode alone']:.2f}×"
          f"; goal ≤ {GOAL_US:.0f} µs: {'ok' if verdict else 'MISSED'}")
    return 0 if verdict else 1


if __name__ == "__main__":
    sys.exit(main())
