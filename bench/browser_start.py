"""Browser start: navigation → connected, each page against its baseline, in one run.

Two groups, each measured on its own:

* ``micropython``: the MicroPython widget (the README's snippet on a host page of another
  origin) against a plain-JS page doing the same connect with the SDK. Goal: at most 4×. A
  third page, PyScript's MicroPython running one line, shows the floor the widget stands on.
* ``pyodide``: the session page (``index.html`` on Pyodide; the benchmark fills in a user ID
  and presses Connect as soon as the button is enabled) against a bare Pyodide hello-world
  page through PyScript. Goal: at most 1.15×.

Every page loads everything from a fresh ``serve.py``, and all but the session page live on a
host origin of their own. Each round opens every page of the group, in rotating order, in a
fresh browser context (cold: empty HTTP and code caches), then reloads it (warm). One
unrecorded round first lets the server fill its compression cache, so "cold" means a cold
browser, not a server's first request. The time is the page's own ``performance.now()`` at
the moment the session is connected (for the hello pages: when Python ran), i.e.
milliseconds since navigation start. Ratios are medians of the per-round ratios.

    .venv/bin/python bench/browser_start.py --group micropython --runs 9
    .venv/bin/python bench/browser_start.py --group pyodide --runs 5

Prints medians with min–max, the ratios and bytes transferred, and exits non-zero when a
goal is missed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from server_process import CHROMIUM, ServerProcess  # noqa: E402
from site_server import PageSite  # noqa: E402

GROUPS = {
    "micropython": {"pages": ["plain", "widget", "mpy-hello"],
                    "goals": {"widget": ("plain", 4.0)}, "reference": {"mpy-hello": "plain"}},
    "pyodide": {"pages": ["pyodide-hello", "session-page"],
                "goals": {"session-page": ("pyodide-hello", 1.15)}, "reference": {}},
}
"""group → its pages, goals (page → (baseline, highest acceptable ratio)) and ratios shown for
reference only."""
MAX_WIDGET_BYTES = 1_200_000

HEAD = '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">'


def plain_page(server: ServerProcess, user: str) -> str:
    """The same connect, written directly against the SDK."""
    return f"""{HEAD}<title>plain</title></head><body><p id="state">connecting</p>
<script src="{server.base_url}/vendor/chatcamp/ChatCamp.min.js"></script>
<script>
new ChatCamp({{appId: "{server.app_id}"}}).connect("{user}", "127.0.0.1", "{server.port}",
  (error) => {{ window.connectedAt = error ? -1 : performance.now();
               document.getElementById("state").textContent = error ? "failed" : "connected"; }});
</script></body></html>"""


def widget_page(server: ServerProcess, user: str) -> str:
    """The one-line snippet, plus a watcher that notes when the widget says connected."""
    return f"""{HEAD}<title>widget</title>
<script>
new MutationObserver((changes, observer) => {{
  const widget = document.querySelector("chatcamp-widget");
  if (!widget || !widget.shadowRoot) return;
  observer.disconnect();
  new MutationObserver(() => {{
    const state = widget.shadowRoot.querySelector(".status").dataset.state;
    if (state === "connected" && !window.connectedAt) window.connectedAt = performance.now();
    if (state === "failed") window.connectedAt = -1;
  }}).observe(widget.shadowRoot, {{subtree: true, attributes: true}});
}}).observe(document, {{childList: true, subtree: true}});
</script></head><body><h1>An existing site</h1>
<script src="{server.base_url}/static/widget.js" data-app-id="{server.app_id}"
        data-user-id="{user}" async></script>
</body></html>"""


def micropython_hello_page(server: ServerProcess, user: str) -> str:
    """PyScript's MicroPython doing nothing but note the time: the floor under the widget."""
    config = f'{{"interpreter": "{server.base_url}/vendor/micropython/micropython.mjs"}}'
    return f"""{HEAD}<title>hello</title>
<script type="mpy" config='{config}'>
import js
js.window.connectedAt = js.performance.now()
</script>
<script type="module" src="{server.base_url}/vendor/pyscript/core.js"></script>
</head><body></body></html>"""


def pyodide_hello_page(server: ServerProcess, user: str) -> str:
    """PyScript's Pyodide doing nothing but note the time: the floor under the session page."""
    config = f'{{"interpreter": "{server.base_url}/vendor/pyodide/pyodide.mjs"}}'
    return f"""{HEAD}<title>hello</title>
<script type="module" src="{server.base_url}/vendor/pyscript/core.js"></script>
</head><body><script type="py" config='{config}'>
import js
js.window.connectedAt = js.performance.now()
</script></body></html>"""


SESSION_PAGE_DRIVER = """
addEventListener("DOMContentLoaded", () => {
  const button = document.getElementById("connect");
  const state = document.getElementById("state");
  new MutationObserver(() => {
    if (button.disabled || window.pressed) return;
    window.pressed = true;
    document.getElementById("user-id").value = USER;
    button.click();
  }).observe(button, {attributes: true});
  new MutationObserver(() => {
    if (state.textContent === "connected" && !window.connectedAt)
      window.connectedAt = performance.now();
    if (state.textContent === "failed") window.connectedAt = -1;
  }).observe(state, {childList: true, characterData: true, subtree: true});
});
"""
"""Presses Connect on the session page the moment Python enables it, and notes when the
page says connected."""

PAGES: dict[str, Callable[[ServerProcess, str], str]] = {
    "plain": plain_page, "widget": widget_page, "mpy-hello": micropython_hello_page,
    "pyodide-hello": pyodide_hello_page}
"""Pages served from the host origin; "session-page" is the server's own index.html."""


def measure(page: Any, url: str, origins: set[str], reload: bool = False) -> tuple[float, int]:
    """(ms from navigation start to connected, bytes transferred) for one load."""
    sizes: list[int] = []
    off_origin: list[str] = []

    def on_finished(request: Any) -> None:
        parts = urlsplit(request.url)
        in_memory = parts.scheme in ("data", "blob")  # never the network
        if f"{parts.scheme}://{parts.netloc}" not in origins and not in_memory:
            off_origin.append(request.url)
        measured = request.sizes()
        sizes.append(measured["responseBodySize"] + measured["responseHeadersSize"])

    page.on("requestfinished", on_finished)
    if reload:
        page.reload()
    else:
        page.goto(url)
    page.wait_for_function("window.connectedAt", timeout=120_000, polling=50)
    elapsed = page.evaluate("window.connectedAt")
    page.remove_listener("requestfinished", on_finished)
    if elapsed < 0:
        raise SystemExit(f"{url}: the session failed")
    if off_origin:
        raise SystemExit(f"{url}: requests left the two origins: {off_origin}")
    return elapsed, sum(sizes)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):8.0f} ({min(values):.0f}–{max(values):.0f})"


def open_page(browser: Any, name: str, server: ServerProcess, site: PageSite,
              user: str) -> tuple[Any, Any, str]:
    """A fresh context and page for ``name``, and the URL to load."""
    context = browser.new_context()
    page = context.new_page()
    if name == "session-page":
        page.add_init_script(SESSION_PAGE_DRIVER.replace("USER", json.dumps(user)))
        return context, page, server.base_url + "/"
    site.responses[f"/{name}.html"] = (200, "text/html", PAGES[name](server, user))
    return context, page, f"{site.origin}/{name}.html"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--group", choices=sorted(GROUPS), default="micropython")
    parser.add_argument("--runs", type=int, default=9, help="rounds (default 9, at least 5)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    group = GROUPS[args.group]
    names: list[str] = group["pages"]  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as workdir:
        # the session page runs on the demo backend, which is off unless asked for
        server = ServerProcess(Path(workdir), options=("--demo",))
        server.start()
        site = PageSite()
        origins = {server.base_url, site.origin}
        times: dict[tuple[str, str], list[float]] = {}
        transferred: dict[str, list[int]] = {}
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                                     args=["--no-sandbox", "--disable-gpu"])
                for round_ in range(-1, args.runs):  # round -1 warms the server, not recorded
                    shift = round_ % len(names)
                    for name in names[shift:] + names[:shift]:
                        user = f"bench-{name}-{round_}"
                        context, page, url = open_page(browser, name, server, site, user)
                        cold, size = measure(page, url, origins)
                        warm, _ = measure(page, "", origins, reload=True)
                        context.close()
                        if round_ < 0:
                            continue
                        times.setdefault((name, "cold"), []).append(cold)
                        times.setdefault((name, "warm"), []).append(warm)
                        transferred.setdefault(name, []).append(size)
                browser.close()
        finally:
            site.close()
            server.stop()

    print(f"{args.runs} rounds; ms from navigation start to connected: median (min–max)")
    print(f"{'page':14} {'cold ms':>20} {'warm ms':>20} {'transferred':>12}")
    for name in names:
        print(f"{name:14} {spread(times[name, 'cold']):>20} {spread(times[name, 'warm']):>20} "
              f"{statistics.median(transferred[name]) / 1e6:>9.2f} MB")
    for name, baseline in group["reference"].items():  # type: ignore[attr-defined]
        ratios = [a / b for a, b in zip(times[name, "cold"], times[baseline, "cold"])]
        print(f"ratio {name}/{baseline} cold: median {statistics.median(ratios):.2f}× "
              f"(min {min(ratios):.2f}×, max {max(ratios):.2f}×), for reference")
    failed = []
    for name, (baseline, goal) in group["goals"].items():  # type: ignore[attr-defined]
        for kind in ("cold", "warm"):
            ratios = [a / b for a, b in zip(times[name, kind], times[baseline, kind])]
            verdict = "ok" if statistics.median(ratios) <= goal else "MISSED"
            print(f"ratio {name}/{baseline} {kind}: median {statistics.median(ratios):.2f}× "
                  f"(min {min(ratios):.2f}×, max {max(ratios):.2f}×), goal ≤ {goal}×: {verdict}")
            if verdict != "ok":
                failed.append(f"{name} {kind}")
    if "widget" in names:
        widget_bytes = statistics.median(transferred["widget"])
        verdict = "ok" if widget_bytes <= MAX_WIDGET_BYTES else "MISSED"
        print(f"widget transferred: {widget_bytes / 1e6:.2f} MB, goal ≤ "
              f"{MAX_WIDGET_BYTES / 1e6:.1f} MB: {verdict}")
        if verdict != "ok":
            failed.append("widget bytes")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
