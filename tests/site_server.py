"""A separate web server for test pages: another origin, like an integrator's own site.

Besides the files in ``tests/pages`` it answers any path a test puts in ``responses`` with a
fixed status and JSON or text body (for example a token endpoint of the integrator), or with
what a function returns when the entry is a callable of the query string; ``delays`` makes
a path answer only after that many seconds (a slow backend).
"""

from __future__ import annotations

import functools
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

Response = tuple[int, str, str]
"""Status, content type and body."""

PAGES = Path(__file__).resolve().parent / "pages"


class _Handler(SimpleHTTPRequestHandler):
    site: "PageSite"

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        canned = self.site.responses.get(path)
        if canned is None:
            return super().do_GET()
        if path in self.site.delays:
            time.sleep(self.site.delays[path])
        status, content_type, body = canned(query) if callable(canned) else canned
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class PageSite:
    """Serves ``tests/pages`` (and canned responses) on a free loopback port."""

    def __init__(self, root: Path = PAGES) -> None:
        self.responses: dict[str, Response | Callable[[str], Response]] = {}
        self.delays: dict[str, float] = {}
        handler_class = type("Handler", (_Handler,), {"site": self})
        handler = functools.partial(handler_class, directory=str(root))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
