"""The pages and browser assets: our own files from the checkout, third-party ones from npm.

Only named folders are exposed: the page, its config, the ``chatcamp_web`` package, our
``static/`` folder and each npm package's distributable folder under ``/vendor/<name>/``.
Set-up (``make setup``) fills ``node_modules/`` and ``build/wheels/``; nothing vendored is
committed.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent

VENDOR = {
    "chatcamp": "node_modules/chatcamp",
    "pyscript": "node_modules/@pyscript/core/dist",
    "pyodide": "node_modules/pyodide",
    "micropython": "node_modules/@micropython/micropython-webassembly-pyscript",
    "wheels": "build/wheels",
}
"""URL folder under /vendor/ → folder in the checkout."""

for suffix, mime in ((".wasm", "application/wasm"), (".mjs", "text/javascript"),
                     (".js", "text/javascript"), (".py", "text/x-python"),
                     (".toml", "application/toml"), (".whl", "application/zip")):
    mimetypes.add_type(mime, suffix)


def _file(path: Path) -> web.RequestHandler:  # type: ignore[name-defined]
    async def handler(request: web.Request) -> web.FileResponse:
        return web.FileResponse(path)
    return handler


def add_routes(app: web.Application, root: Path = ROOT) -> list[str]:
    """Register the static routes; return the vendor folders that set-up has not provided."""
    app.router.add_get("/", _file(root / "index.html"))
    app.router.add_get("/index.html", _file(root / "index.html"))
    app.router.add_get("/pyscript.toml", _file(root / "pyscript.toml"))
    missing = []
    for url, folder in (("/chatcamp_web", "chatcamp_web"), ("/static", "static")):
        if (root / folder).is_dir():
            app.router.add_static(url, root / folder)
    for name, folder in VENDOR.items():
        if (root / folder).is_dir():
            app.router.add_static(f"/vendor/{name}", root / folder)
        else:
            missing.append(folder)
    return missing
