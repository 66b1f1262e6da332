"""Instructions per login, counted by callgrind: this checkout against an earlier one.

    git worktree add /tmp/base <commit>
    .venv/bin/python bench/login_instructions.py --baseline /tmp/base --logins 400

On a shared, virtualised machine, CPU time per login wanders by ±20% from one measurement to
the next, far more than a change to the login path moves it. Callgrind counts the
instructions the server executes instead, which repeat to within a fraction of a percent for
the same code and inputs. Each server runs under ``valgrind --tool=callgrind`` with counting
off; after a warm-up (the users exist, the code paths have run), counting is switched on for
``--logins`` ID logins (or token logins) from 5 dialers, then off. The figure is instructions
executed per login, start-up and shutdown excluded. ``--signed`` adds this checkout's logins
with tokens the benchmark signs (``jwt``: one per user, used again as a token login uses its
token; ``jwt-fresh``: a new one every login), against its token login.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import jwt
from load import BENCH, dial_many, free_port


def start(checkout: Path, workdir: Path, port: int) -> tuple[subprocess.Popen[str], str, str]:
    """``serve.py`` of ``checkout`` under callgrind; its process, first app ID and API key."""
    db = workdir / "chat.sqlite3"
    help_text = subprocess.run([sys.executable, str(checkout / "serve.py"), "--help"],
                               capture_output=True, text=True).stdout
    unlimited = [option for option in ("--connections-per-address", "--new-users-per-address")
                 if option in help_text]
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no",
         f"--callgrind-out-file={workdir / 'callgrind.out'}", sys.executable,
         str(checkout / "serve.py"), "--db", str(db), "--port", str(port),
         *(arg for option in unlimited for arg in (option, "0"))],
        stdout=subprocess.PIPE, stderr=open(workdir / "server.log", "w"), text=True)
    assert proc.stdout is not None
    app_id = api_key = ""
    for line in proc.stdout:
        if match := re.search(r"APP_ID\s+(\d+)", line):
            app_id = match.group(1)
        if match := re.match(r"\s+API_KEY\s+(\S+)", line):  # versions before the first-app file
            api_key = match.group(1)
        if line.startswith("Serving on"):
            break
    else:
        raise RuntimeError((workdir / "server.log").read_text()[-2000:])
    first_app = Path(f"{db}.first-app.json")
    if first_app.exists():
        api_key = json.loads(first_app.read_text())["api_key"]
    return proc, app_id, api_key


def _api(port: int, api_key: str, method: str, body: dict[str, str]) -> dict[str, str]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/2.0/{method}", method="POST",
        data=json.dumps(body).encode(),
        headers={"x-api-key": api_key, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as reply:
        answer: dict[str, str] = json.loads(reply.read())
        return answer


def instructions_per_login(checkout: Path, mode: str, logins: int) -> float:
    workdir = Path(tempfile.mkdtemp())
    port = free_port()
    proc, app_id, api_key = start(checkout, workdir, port)
    users = [f"u{n}" for n in range(50)]
    query = {user: f"app_id={app_id}&user_id={user}" for user in users}
    if mode == "token":
        for user in users:
            query[user] += "&access_token=" + _api(port, api_key, "users.create",
                                                   {"id": user})["access_token"]
    urls = [f"ws://127.0.0.1:{port}/chat/2.0?{query[user]}" for user in users]
    warm_up, measured = urls * 2, (urls * (logins // len(urls) + 1))[:logins]
    if mode.startswith("jwt"):
        key = _api(port, api_key, "apps.signing_keys.create", {})
        now = int(time.time())
        count = 2 * len(users) + logins if mode == "jwt-fresh" else len(users)
        signed = [f"ws://127.0.0.1:{port}/chat/2.0?{query[users[n % len(users)]]}"
                  "&access_token=" + jwt.encode(
                      {"sub": users[n % len(users)], "iat": now, "exp": now + 3600,
                       "jti": str(n)}, key["secret"], "HS256", headers={"kid": key["key_id"]})
                  for n in range(count)]
        if mode == "jwt-fresh":  # no token met twice: each is verified in full
            warm_up, measured = signed[:2 * len(users)], signed[2 * len(users):]
        else:
            warm_up, measured = signed * 2, (signed * (logins // len(users) + 1))[:logins]
    try:
        asyncio.run(dial_many(warm_up, 5))
        subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], capture_output=True,
                       check=True)
        asyncio.run(dial_many(measured, 5))
        subprocess.run(["callgrind_control", "-i", "off", str(proc.pid)], capture_output=True,
                       check=True)
    finally:
        proc.terminate()
        proc.wait(timeout=300)
    total = 0
    for dump in workdir.glob("callgrind.out*"):
        for line in dump.read_text().splitlines():
            if line.startswith(("totals:", "summary:")):
                total = max(total, int(line.split()[1]))
    return total / logins


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", type=Path, required=True, metavar="DIR",
                        help="a checkout of the commit to compare with")
    parser.add_argument("--logins", type=int, default=400)
    parser.add_argument("--signed", action="store_true",
                        help="also count this checkout's logins with signed tokens (JWTs): "
                             "each used again as a token login's is (jwt), or new each time "
                             "(jwt-fresh)")
    args = parser.parse_args()
    counted = {}
    for mode in ("id", "token"):
        before = instructions_per_login(args.baseline, mode, args.logins)
        after = counted[mode] = instructions_per_login(BENCH.parent, mode, args.logins)
        print(f"{mode} login: baseline {before:,.0f} instructions, this checkout "
              f"{after:,.0f}: {after / before:.3f}×", flush=True)
    if args.signed:
        for mode in ("jwt", "jwt-fresh"):
            count = instructions_per_login(BENCH.parent, mode, args.logins)
            print(f"{mode} login: this checkout {count:,.0f} instructions: "
                  f"{count / counted['token']:.3f}× a token login", flush=True)


if __name__ == "__main__":
    main()
