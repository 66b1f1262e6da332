"""Opening ``tests/pages/sdk.html``, the plain SDK test page, against a given chat server."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode


def open_sdk_page(page: Any, site_origin: str, server_port: int, app_id: str) -> Any:
    query = urlencode({"app": app_id, "host": "127.0.0.1", "port": str(server_port)})
    page.goto(f"{site_origin}/sdk.html?{query}")
    page.wait_for_function("window.ready === true")
    return page
