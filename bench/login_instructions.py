"""Instructions per login, counted by callgrind: this checkout against an earlier one.

    git worktree add /tmp/base <commit>
    .venv/bin/python bench/login_instructions.py --baseline /tmp/base --logins 400

On a shared, virtualised machine, CPU time per login wanders by ±20% from one measurement to
the next, far more than a change to the login path moves it. Callgrind counts the
instructions the server executes instead, which repeat to within a fraction of a percent for
the same code and inputs. Each server runs under ``valgrind --tool=callgrind`` with counting
off; after a warm-up (the users exist, the code paths have run), counting is switched on for
``--logins`` ID logins (or token logins) from 5 dialers, then off. The figure is instructions
executed per login, start-up and shutdown excluded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

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


def instructions_per_login(checkout: Path, mode: str, logins: int) -> float:
    workdir = Path(tempfile.mkdtemp())
    port = free_port()
    proc, app_id, api_key = start(checkout, workdir, port)
    users = [f"u{n}" for n in range(50)]
    query = {user: f"app_id={app_id}&user_id={user}" for user in users}
    if mode == "token":
        for user in users:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/2.0/users.create", method="POST",
                data=json.dumps({"id": user}).encode(),
                headers={"x-api-key": api_key, "Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=120) as reply:
                query[user] += "&access_token=" + json.loads(reply.read())["access_token"]
    urls = [f"ws://127.0.0.1:{port}/chat/2.0?{query[user]}" for user in users]
    try:
        asyncio.run(dial_many(urls * 2, 5))
        subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], capture_output=True,
                       check=True)
        asyncio.run(dial_many((urls * (logins // len(urls) + 1))[:logins], 5))
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
    args = parser.parse_args()
    for mode in ("id", "token"):
        before = instructions_per_login(args.baseline, mode, args.logins)
        after = instructions_per_login(BENCH.parent, mode, args.logins)
        print(f"{mode} login: baseline {before:,.0f} instructions, this checkout "
              f"{after:,.0f}: {after / before:.3f}×", flush=True)


if __name__ == "__main__":
    main()
