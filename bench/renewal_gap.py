"""Token renewal: how long a session is away while its expired token is renewed, in one run.

Pages of ``tests/pages/renewal.py`` hold a session each on tokens that live ``--ttl`` seconds
(issued through the server API by the test site's token endpoint), in Chromium, on Pyodide
and on MicroPython, with chatcamp_web's quick release of the SDK's closed socket and without
it (the SDK's own 1 s reconnect timer), all four at once against one ``serve.py``.

The gap of one renewal runs from the server's ``session.ended`` notice (sent just before it
closes the socket) to the page's ``connected``: the SDK's noticing the close, the provider's
round trip and the new login.  The share is the time connected since the first connect.

Beside them, one page per interpreter measures the alternative, renewing ahead of expiry:
with the new token already in hand, ``disconnect()`` then ``connect()`` with it, timed from
the one's start to the other's end (the least such a renewal could be away).

    .venv/bin/python bench/renewal_gap.py --ttl 3 --renewals 10

Prints each page's gaps (median, p90, max) and connected share, and the ratio of the median
gaps without and with the quick release; exits non-zero if a page ever fails.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from conftest import api_caller  # noqa: E402
from server_process import CHROMIUM, ServerProcess  # noqa: E402
from site_server import PageSite, Response  # noqa: E402

VARIANTS = [(interpreter, quick) for interpreter in ("pyodide", "micropython")
            for quick in ("1", "0")]


def token_endpoint(server: ServerProcess, user: str, ttl: float) -> Any:
    call = api_caller(server)
    assert call("users.create", {"id": user})[0] == 200

    def answer(query: str) -> Response:
        status, body = call("users.tokens.issue", {"id": user, "expires_in": ttl})
        assert status == 200, body
        return 200, "application/json", json.dumps({"access_token": body["access_token"]})

    return answer


def gaps_of(progress: dict[str, Any]) -> tuple[list[float], float]:
    timeline, notices = progress["timeline"], progress["notices"]
    connected = [at for at, _, current, _, _ in timeline if current == "connected"]
    gaps = []
    for notice in notices:
        later = [at for at in connected if at > notice]
        if later:
            gaps.append(later[0] - notice)
    start, end = connected[0], timeline[-1][0]
    away = sum(gaps)
    return gaps, 1 - away / max(end - start, 1e-9)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ttl", type=float, default=3.0)
    parser.add_argument("--renewals", type=int, default=10)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as workdir, sync_playwright() as playwright:
        server = ServerProcess(Path(workdir))
        server.start()
        site = PageSite()
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox", "--disable-gpu"])
        pages = {}
        try:
            for interpreter, quick in VARIANTS:
                user = f"gap-{interpreter}-{quick}"
                path = f"/token/{user}"
                site.responses[path] = token_endpoint(server, user, args.ttl)
                page = browser.new_context().new_page()
                query = urlencode({"server": server.base_url, "app": server.app_id,
                                   "site": site.origin, "interpreter": interpreter,
                                   "script": "renewal.py", "user": user, "token_path": path,
                                   "measure": "1", "quick": quick})
                page.goto(f"{site.origin}/api_suite.html?{query}")
                pages[(interpreter, quick)] = page
            swappers = {}
            for interpreter in ("pyodide", "micropython"):
                user = f"swap-{interpreter}"
                path = f"/token/{user}"
                site.responses[path] = token_endpoint(server, user, 600)
                page = browser.new_context().new_page()
                query = urlencode({"server": server.base_url, "app": server.app_id,
                                   "site": site.origin, "interpreter": interpreter,
                                   "script": "renewal.py", "user": user, "token_path": path,
                                   "swap": str(args.renewals)})
                page.goto(f"{site.origin}/api_suite.html?{query}")
                swappers[interpreter] = page
            deadline = time.monotonic() + 120 + args.ttl * (args.renewals + 2) * 2
            results: dict[tuple[str, str], dict[str, Any]] = {}
            while len(results) < len(pages):
                assert time.monotonic() < deadline, "the pages did not renew in time"
                for key, page in pages.items():
                    progress = json.loads(page.evaluate("window.renewal || 'null'") or "null")
                    if progress and progress["state"] == "failed":
                        print(f"{key}: failed: {progress['timeline'][-1]}")
                        return 1
                    if progress and len(progress["notices"]) > args.renewals:
                        results[key] = progress
                next(iter(pages.values())).wait_for_timeout(200)
            swaps = {}
            for interpreter, page in swappers.items():
                page.wait_for_function("window.swaps !== undefined", timeout=120_000)
                swaps[interpreter] = json.loads(page.evaluate("window.swaps"))
        finally:
            browser.close()
            site.close()
            server.stop()
    medians = {}
    for (interpreter, quick), progress in sorted(results.items()):
        gaps, share = gaps_of(progress)
        gaps = gaps[:args.renewals]
        medians[(interpreter, quick)] = statistics.median(gaps)
        p90 = sorted(gaps)[int(0.9 * (len(gaps) - 1))]
        label = "quick release" if quick == "1" else "SDK's 1 s timer"
        print(f"{interpreter:11} {label:15}: {len(gaps)} renewals, gap median "
              f"{statistics.median(gaps) * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms, max "
              f"{max(gaps) * 1000:.0f} ms; connected {share:.1%} on {args.ttl:g} s tokens")
    for interpreter, gaps in sorted(swaps.items()):
        print(f"{interpreter:11} ahead of expiry: disconnect() + connect() with the new token "
              f"median {statistics.median(gaps) * 1000:.0f} ms, max {max(gaps) * 1000:.0f} ms")
    for interpreter in ("pyodide", "micropython"):
        print(f"{interpreter}: median gap without / with the quick release: "
              f"{medians[(interpreter, '0')] / medians[(interpreter, '1')]:.1f}×; on expiry / "
              f"ahead of it: {medians[(interpreter, '1')] / statistics.median(swaps[interpreter]):.1f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
