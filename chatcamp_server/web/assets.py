"""Where the pages and the browser assets are, in a checkout and in an installed package.

Three kinds of file are served, each from one of two places:

- the pages (``index.html``, ``pyscript.toml``, ``static/``, with the npm and pip requirement
  files the assets come from): a checkout's root, or, installed, ``chatcamp_server/web/shipped/``,
  where the build copies them (``setup.py``), so that git keeps them once;
- ``chatcamp_web``: the package, wherever the import system finds it;
- the browser assets (``node_modules/``, ``build/wheels/``): a checkout's own, which ``make
  setup`` fills, or the data directory, which ``chatcamp-server assets install`` fills the
  same way.

The data directory is ``$CHATCAMP_ASSETS_DIR`` when set (in a checkout too), else
``$XDG_DATA_HOME/chatcamp-web``, by default ``~/.local/share/chatcamp-web``.  It is laid out as
a checkout is (``node_modules/``, ``build/wheels/``, the lockfile beside them), so one set of
folder names serves both.  npm and the registries are needed once, at install time, never by
the running server.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from chatcamp_server.errors import ServerError

ENV_ASSETS_DIR = "CHATCAMP_ASSETS_DIR"
DATA_DIR_NAME = "chatcamp-web"
CHECKOUT = Path(__file__).resolve().parents[2]
SHIPPED = Path(__file__).resolve().parent / "shipped"
"""Present only in an installed package: the build copies the checkout's pages here."""
NPM_FILES = ("package.json", "package-lock.json")
WHEELS = "build/wheels"
INSTALL_COMMAND = "chatcamp-server assets install"
CHECKOUT_COMMAND = "make setup"

NPM_CI = ("ci", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error")
UNREACHABLE = re.compile(r"\b(ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|"
                         r"ENETUNREACH|EHOSTUNREACH|ERR_SOCKET_TIMEOUT|network)\b")
"""npm's error codes (and its "network" error class) for a registry it cannot talk to."""


@dataclass(frozen=True)
class Layout:
    """The three places files are served from, and whether they are a checkout's own."""

    pages: Path
    package: Path
    assets: Path
    checkout: bool
    """Running from a checkout with its own ``node_modules/``: ``make setup`` fills them."""

    @classmethod
    def of_checkout(cls, root: Path) -> Layout:
        return cls(root, root / "chatcamp_web", root, True)

    def path(self, folder: str) -> Path:
        """A folder of :data:`static_files.FOLDERS`, named as in a checkout, where it is."""
        if folder == "chatcamp_web":
            return self.package
        if folder.startswith(("node_modules/", "build/")):
            return self.assets / folder
        return self.pages / folder

    @property
    def setup_command(self) -> str:
        return CHECKOUT_COMMAND if self.checkout else INSTALL_COMMAND


def data_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The per-user data directory of the XDG base-directory convention."""
    base = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / DATA_DIR_NAME


def default_database() -> Path:
    """The SQLite file used when none is named: in a checkout, its ``data/`` folder; installed,
    the data directory (never the package's own folder, which may not be writable)."""
    folder = CHECKOUT / "data" if not SHIPPED.is_dir() else data_dir()
    return folder / "chatcamp.sqlite3"


def _package_dir() -> Path:
    """``chatcamp_web`` is found without importing it: it is browser code."""
    spec = importlib.util.find_spec("chatcamp_web")
    if spec is None or spec.origin is None:
        raise ServerError("the chatcamp_web package is not installed beside chatcamp_server: "
                          "reinstall chatcamp-web", "NO_CHATCAMP_WEB")
    return Path(spec.origin).parent


def layout(environ: Mapping[str, str] = os.environ) -> Layout:
    """Where this process serves from: a checkout's files when it runs from one."""
    chosen = environ.get(ENV_ASSETS_DIR)
    if not SHIPPED.is_dir():
        root = Layout.of_checkout(CHECKOUT)
        if not chosen:
            return root
        return Layout(CHECKOUT, root.package, Path(chosen).expanduser().absolute(), False)
    assets = Path(chosen).expanduser().absolute() if chosen else data_dir(environ)
    return Layout(SHIPPED, _package_dir(), assets, False)


def missing_warning(where: Layout, missing: list[str]) -> str | None:
    """One sentence for the log when the assets are absent or from another release's
    lockfile, naming the command that fixes it; None when all is in place."""
    if missing:
        return (f"the browser assets are not installed in {where.assets} ("
                f"{', '.join(missing)} missing): run `{where.setup_command}` so the pages "
                "can load")
    if not where.checkout:
        installed = where.assets / "package-lock.json"
        shipped = where.pages / "package-lock.json"
        if installed.is_file() and installed.read_bytes() != shipped.read_bytes():
            return (f"the browser assets in {where.assets} were installed for another "
                    f"release: run `{where.setup_command}` so the pages load the versions "
                    "this one expects")
    return None


def _failure(output: str) -> str:
    """The line of a tool's output that says why it failed, without npm's decoration."""
    lines = [re.sub(r"^npm (ERR!|error)\s*", "", line).strip()
             for line in output.splitlines()]
    lines = [line for line in lines if line and not line.startswith(("A complete log",
                                                                     "code ", "errno "))]
    return lines[0] if lines else "no reason given"


def _npm_ci(npm: str, target: Path) -> None:
    try:
        done = subprocess.run([npm, *NPM_CI], cwd=target, capture_output=True, text=True)
    except OSError as exc:
        raise ServerError(f"cannot run npm ({exc.strerror}): check that {npm} is "
                          "executable", "NPM_FAILED") from None
    if done.returncode == 0:
        return
    output = done.stderr + done.stdout
    if UNREACHABLE.search(output):
        raise ServerError("cannot reach the npm registry to download the browser assets: "
                          "check the network (or npm's registry setting) and run "
                          f"`{INSTALL_COMMAND}` again", "NPM_UNREACHABLE")
    raise ServerError(f"npm ci failed in {target}: {_failure(output)}", "NPM_FAILED")


def _download_wheels(requirements: Path, target: Path) -> None:
    """The browser's pure-Python wheels, by the pip of this interpreter, into a fresh folder
    that replaces the old one only once the download has succeeded."""
    wheels = target / WHEELS
    wheels.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix=".wheels-", dir=wheels.parent))
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
             "--no-deps", "--only-binary=:all:", "--dest", str(fresh), "-r",
             str(requirements)], capture_output=True, text=True)
        if done.returncode != 0:
            raise ServerError("pip could not download the browser's Python wheels: "
                              f"{_failure(done.stderr + done.stdout)}", "PIP_FAILED")
        if wheels.is_symlink() or wheels.is_file():
            wheels.unlink()
        elif wheels.is_dir():
            shutil.rmtree(wheels)
        fresh.rename(wheels)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)


def install(where: Layout, environ: Mapping[str, str] = os.environ) -> Path:
    """Fill the assets directory as ``make setup`` fills a checkout: ``npm ci`` on the shipped
    lockfile, then the wheels of ``requirements-browser.txt``; return the directory."""
    npm = shutil.which("npm", path=environ.get("PATH", os.defpath))
    if npm is None:
        raise ServerError("npm is not installed (it comes with Node.js): install it, then run "
                          f"`{INSTALL_COMMAND}` again", "NPM_MISSING")
    target = where.assets
    try:
        target.mkdir(parents=True, exist_ok=True)
        if target.resolve() != where.pages.resolve():
            for name in NPM_FILES:
                shutil.copyfile(where.pages / name, target / name)
    except OSError as exc:
        raise ServerError(f"cannot write the browser assets to {target} ({exc.strerror}): "
                          f"set {ENV_ASSETS_DIR} to a directory of yours", "ASSETS_DIR") from None
    _npm_ci(npm, target)
    _download_wheels(where.pages / "requirements-browser.txt", target)
    return target
