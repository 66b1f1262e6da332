"""The pages and browser assets: our own files from the checkout, third-party ones from npm.

Only named folders are exposed: the page, its config, the ``chatcamp_web`` package, our
``static/`` folder and each npm package's distributable folder under ``/vendor/<name>/``.
Set-up (``make setup``, or ``chatcamp-server assets install`` for an installed package) fills
``node_modules/`` and ``build/wheels/``; nothing vendored is committed; where each folder is, in
a checkout or installed, is :mod:`chatcamp_server.web.assets`'s business.  Content types are set
here rather than guessed from the machine's MIME table, because Pyodide hangs silently on a
``.wasm`` not served as ``application/wasm``.

Text and WebAssembly are sent gzip-compressed (the MicroPython widget's whole download shrinks
to about a third), from a small in-memory cache, with an ETag so a reload costs a 304.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Awaitable, Callable

from aiohttp import web

from chatcamp_server import settings
from chatcamp_server.web import assets

FOLDERS = {
    "/chatcamp_web": "chatcamp_web",
    "/static": "static",
    "/vendor/chatcamp": "node_modules/chatcamp",
    "/vendor/pyscript": "node_modules/@pyscript/core/dist",
    "/vendor/pyodide": "node_modules/pyodide",
    "/vendor/micropython": "node_modules/@micropython/micropython-webassembly-pyscript",
    "/vendor/wheels": "build/wheels",
}
"""URL prefix → folder, named as in a checkout (:meth:`assets.Layout.path`)."""

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


COMPRESSIBLE = frozenset({".html", ".js", ".mjs", ".css", ".json", ".map", ".wasm", ".py",
                          ".toml", ".svg"})
CACHE_BYTES = 64 * 1024 * 1024
"""Upper bound on the compressed copies kept in memory (all assets together need ~10 MiB)."""

SCOPED_SDK_URL = "/vendor/chatcamp/ChatCamp.scoped.js"
SCOPED_SDK_WRAPPER = ("/* chatcamp@2.4.6 unmodified, run where no AMD define or CommonJS module "
                      "is visible, so it sets window.ChatCamp even on a page with an AMD "
                      "loader. */\n(function (define, module, exports) {\n", "\n})();\n")
"""The SDK's UMD wrapper hands itself to ``define`` when the page has an AMD loader (spec §8),
and ``window.ChatCamp`` then never appears; the widget loads it through this wrapper."""


ARCHIVE_URL = "/chatcamp_web.zip"
"""``chatcamp_web`` as one archive for PyScript's ``[files]`` (``"…/chatcamp_web.zip" =
"./*"`` unpacks it on both interpreters): a page needs no list of its modules."""


MODULES_MARK = b"[/* chatcamp_web */]"
"""Where ``static/widget.js`` wants the list of ``chatcamp_web``'s modules."""
LIMITS_MARK = b"{/* chatcamp_web.limits */}"
"""Where it wants ``chatcamp_web/limits.py``'s constants."""


def _modules(package: Path) -> list[Path]:
    """``chatcamp_web``'s modules, in order: what the archive holds and the widget lists."""
    return sorted(package.glob("*.py"))


class _Archive:
    """The zip of ``chatcamp_web/*.py``, made again when a source changes; its bytes depend
    on the sources alone (fixed timestamps, sorted names), so its ETag does too."""

    def __init__(self) -> None:
        self._stamp: tuple[tuple[str, int, int], ...] = ()
        self._body = b""
        self.etag = ""

    def get(self, package: Path) -> bytes:
        sources = _modules(package)
        stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sources)
        if stamp != self._stamp:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for source in sources:
                    entry = zipfile.ZipInfo(f"{package.name}/{source.name}", (1980, 1, 1, 0, 0, 0))
                    archive.writestr(entry, source.read_bytes())
            self._stamp, self._body = stamp, buffer.getvalue()
            self.etag = '"%s"' % hashlib.sha256(self._body).hexdigest()[:32]
        return self._body


def _archive(package: Path) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    made = _Archive()

    async def handler(request: web.Request) -> web.StreamResponse:
        body = await asyncio.get_running_loop().run_in_executor(None, made.get, package)
        headers = {"Content-Type": CONTENT_TYPES[".zip"], "ETag": made.etag,
                   "Cache-Control": "no-cache"}
        if request.headers.get("If-None-Match") == made.etag:
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, headers=headers)
    return handler


class _Compressed:
    """gzip copies of served files, keyed by path and invalidated by mtime and size."""

    def __init__(self) -> None:
        self._entries: dict[tuple[Path, bool], tuple[tuple[int, ...], bytes]] = {}
        self._size = 0

    async def get(self, key: tuple[Path, bool], stamp: tuple[int, ...],
                  make: Callable[[], bytes]) -> bytes:
        """``key`` is the file and whether it is served transformed."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] == stamp:
            return entry[1]
        body = await asyncio.get_running_loop().run_in_executor(
            None, lambda: gzip.compress(make(), compresslevel=6, mtime=0))
        if self._size + len(body) > CACHE_BYTES:
            self._entries.clear()
            self._size = 0
        old = self._entries.pop(key, None)
        self._size += len(body) - (len(old[1]) if old else 0)
        self._entries[key] = (stamp, body)
        return body


_compressed = _Compressed()


async def _send(request: web.Request, path: Path,
                transform: Callable[[bytes], bytes] | None = None,
                depends: Path | None = None) -> web.StreamResponse:
    """The file, compressed when the client accepts gzip, revalidated by ETag; ``depends`` is
    a folder the transform reads, whose changes must change the ETag too."""
    content_type = CONTENT_TYPES.get(path.suffix, "application/octet-stream")
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size) + ((depends.stat().st_mtime_ns,) if depends else ())
    compress = path.suffix in COMPRESSIBLE and "gzip" in request.headers.get("Accept-Encoding", "")
    variant = ("-s" if transform else "") + ("-gz" if compress else "")
    etag = '"%s%s"' % ("-".join("%x" % part for part in stamp), variant)
    headers = {"Content-Type": content_type, "ETag": etag, "Cache-Control": "no-cache",
               "Vary": "Accept-Encoding"}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers={k: headers[k] for k in ("ETag", "Cache-Control")})
    if not compress and transform is None:
        return web.FileResponse(path, headers=headers)

    def read() -> bytes:
        data = path.read_bytes()
        return transform(data) if transform else data

    if compress:
        body = await _compressed.get((path, transform is not None), stamp, read)
        headers["Content-Encoding"] = "gzip"
    else:
        body = await asyncio.get_running_loop().run_in_executor(None, read)
    return web.Response(body=body, headers=headers)


def _scoped(sdk: bytes) -> bytes:
    head, tail = SCOPED_SDK_WRAPPER
    return head.encode() + sdk + tail.encode()


def _with_modules(package: Path) -> Callable[[bytes], bytes]:
    """The widget loader with :data:`MODULES_MARK` replaced by the package's module names,
    and :data:`LIMITS_MARK` by its limits."""
    def fill(loader: bytes) -> bytes:
        names = [source.stem for source in _modules(package)]
        limits = json.dumps(settings.browser_limits(package)).encode()
        return (loader.replace(MODULES_MARK, json.dumps(names).encode())
                .replace(LIMITS_MARK, limits))
    return fill


def _file(path: Path, transform: Callable[[bytes], bytes] | None = None,
          depends: Path | None = None
          ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        if not path.is_file():
            raise web.HTTPNotFound(text="not found\n")
        return await _send(request, path, transform, depends)
    return handler


MAX_NAME_CHARS = 255
"""Longer path components cannot name a file on Linux; stat would fail with ENAMETOOLONG."""


def _servable(name: str) -> bool:
    """Only plain names: no dotfile or dot-folder (``.env``, ``.git``, and ``..`` with them),
    no control character (NUL would make ``Path`` raise), no over-long component."""
    return all(part and not part.startswith(".") and len(part) <= MAX_NAME_CHARS
               and part.isprintable() for part in name.split("/"))


def _folder(base: Path) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    base = base.resolve()

    async def handler(request: web.Request) -> web.StreamResponse:
        name = request.match_info["path"]
        if not _servable(name):
            raise web.HTTPNotFound(text="not found\n")
        try:
            target = (base / name).resolve()
            found = target.is_relative_to(base) and target.is_file()
        except (OSError, ValueError):
            found = False
        if not found:
            raise web.HTTPNotFound(text="not found\n")
        return await _send(request, target)
    return handler


def add_routes(app: web.Application, where: assets.Layout | None = None) -> list[str]:
    """Register the static routes; return the folders set-up should have filled but has not."""
    where = where or assets.layout()
    for url in ("/", "/index.html"):
        app.router.add_get(url, _file(where.path("index.html")))
    app.router.add_get("/pyscript.toml", _file(where.path("pyscript.toml")))
    package = where.path(FOLDERS["/chatcamp_web"])
    app.router.add_get(ARCHIVE_URL, _archive(package))
    app.router.add_get("/static/widget.js", _file(
        where.path(FOLDERS["/static"]) / "widget.js", _with_modules(package), package))
    app.router.add_get(SCOPED_SDK_URL, _file(
        where.path(FOLDERS["/vendor/chatcamp"]) / "ChatCamp.min.js", _scoped))
    missing = []
    for url, folder in FOLDERS.items():
        app.router.add_get(url + "/{path:.+}", _folder(where.path(folder)))
        if folder.startswith(("node_modules/", "build/")) and not where.path(folder).is_dir():
            missing.append(folder)
    return missing
