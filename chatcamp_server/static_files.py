"""The pages and browser assets: our own files from the checkout, third-party ones from npm.

Only named folders are exposed: the page, its config, the ``chatcamp_web`` package, our
``static/`` folder and each npm package's distributable folder under ``/vendor/<name>/``.
Set-up (``make setup``) fills ``node_modules/`` and ``build/wheels/``; nothing vendored is
committed.  Content types are set here rather than guessed from the machine's MIME table,
because Pyodide hangs silently on a ``.wasm`` not served as ``application/wasm``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Awaitable, Callable

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent

FOLDERS = {
    "/chatcamp_web": "chatcamp_web",
    "/static": "static",
    "/vendor/chatcamp": "node_modules/chatcamp",
    "/vendor/pyscript": "node_modules/@pyscript/core/dist",
    "/vendor/pyodide": "node_modules/pyodide",
    "/vendor/micropython": "node_modules/@micropython/micropython-webassembly-pyscript",
    "/vendor/wheels": "build/wheels",
}
"""URL prefix → folder in the checkout."""

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".wasm": "application/wasm",
    ".py": "text/x-python; charset=utf-8",
    ".toml": "application/toml; charset=utf-8",
    ".whl": "application/zip",
    ".zip": "application/zip",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


def _send(path: Path) -> web.FileResponse:
    content_type = CONTENT_TYPES.get(path.suffix, "application/octet-stream")
    return web.FileResponse(path, headers={"Content-Type": content_type})


def _file(path: Path) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        if not path.is_file():
            raise web.HTTPNotFound(text="not found\n")
        return _send(path)
    return handler


def _folder(base: Path) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    base = base.resolve()

    async def handler(request: web.Request) -> web.StreamResponse:
        target = (base / request.match_info["path"]).resolve()
        if not target.is_relative_to(base) or not target.is_file():
            raise web.HTTPNotFound(text="not found\n")
        return _send(target)
    return handler


def add_routes(app: web.Application, root: Path = ROOT) -> list[str]:
    """Register the static routes; return the folders set-up should have filled but has not."""
    for url in ("/", "/index.html"):
        app.router.add_get(url, _file(root / "index.html"))
    app.router.add_get("/pyscript.toml", _file(root / "pyscript.toml"))
    missing = []
    for url, folder in FOLDERS.items():
        app.router.add_get(url + "/{path:.+}", _folder(root / folder))
        if folder.startswith(("node_modules/", "build/")) and not (root / folder).is_dir():
            missing.append(folder)
    return missing
