"""The package as an integrator installs it: a wheel built from the sources, installed into a
fresh virtualenv outside the checkout, run from a directory that is not the checkout.

The wheel and the virtualenv are made once for the module (about 20 s with pip's cache); the
dependencies come from the registry, pinned to requirements.txt's versions by a constraints
file so the install is the one the rest of the suite tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from chatcamp_server import __version__
from server_process import ROOT

PACKAGES = ("chatcamp_server", "chatcamp_web", "chatcamp_client", "chatcamp_pytest")
NOT_SHIPPED = shutil.ignore_patterns(".*", "__pycache__", "*.pyc", "*.egg-info", "node_modules",
                                     "build", "dist", "data", "tests", "bench", "deploy",
                                     "test-results")
"""What the build copy leaves out: a build reads nothing of these, and a clean tree shows a
file the package needs but does not declare."""
START_SECONDS = 30.0
POLL_SECONDS = 0.05
"""The ready file has no event to wait on."""
INSTALL_HINT = "run `chatcamp-server assets install`"


@dataclass(frozen=True)
class Installed:
    """The fresh virtualenv, and a working directory outside the checkout to run it from."""

    venv: Path
    workdir: Path

    @property
    def command(self) -> Path:
        return self.venv / "bin" / "chatcamp-server"

    def env(self, **extra: str) -> dict[str, str]:
        """This process's environment without anything that would lead back to the checkout."""
        env = {key: value for key, value in os.environ.items()
               if key not in ("PYTHONPATH", "VIRTUAL_ENV", "CHATCAMP_ASSETS_DIR")}
        return {**env, **extra}

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.command), *args], cwd=self.workdir, env=self.env(**env),
                              capture_output=True, text=True, timeout=120)


def _check(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    base = tmp_path_factory.mktemp("install")
    source, dist, venv, workdir = (base / name for name in ("src", "dist", "venv", "work"))
    shutil.copytree(ROOT, source, ignore=NOT_SHIPPED)
    pip = ("-m", "pip", "--disable-pip-version-check")
    _check(subprocess.run([sys.executable, *pip, "wheel", "--quiet", "--no-deps", "--wheel-dir",
                           str(dist), str(source)], capture_output=True, text=True, timeout=300))
    _check(subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True,
                          text=True, timeout=120))
    wheel, = dist.glob("*.whl")
    _check(subprocess.run([str(venv / "bin" / "python"), *pip, "install", "--quiet",
                           "--constraint", str(ROOT / "requirements.txt"), str(wheel)],
                          capture_output=True, text=True, timeout=300))
    workdir.mkdir()
    return Installed(venv, workdir)


def assets_like_install(folder: Path) -> Path:
    """A directory as ``assets install`` leaves it, its installed parts linked from the
    checkout's own set-up."""
    (folder / "build").mkdir(parents=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(ROOT / name, folder / name)
    (folder / "node_modules").symlink_to(ROOT / "node_modules")
    (folder / "build" / "wheels").symlink_to(ROOT / "build" / "wheels")
    return folder


@contextmanager
def serving(installed: Installed, workdir: Path, assets_dir: Path
            ) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """The installed server on a free port, yielded with its URL once its ready file says
    it serves; stopped with Ctrl-C, after which its output can be read."""
    workdir.mkdir()
    ready = workdir / "ready.json"
    process = subprocess.Popen(
        [str(installed.command), "--db", str(workdir / "chat.sqlite3"), "--port", "0",
         "--ready-file", str(ready)], cwd=workdir, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=installed.env(CHATCAMP_ASSETS_DIR=str(assets_dir)))
    try:
        deadline = time.monotonic() + START_SECONDS
        while not ready.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the installed server did not start in time"
            time.sleep(POLL_SECONDS)
        yield json.loads(ready.read_text())["url"], process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=15)


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as reply:
        assert reply.status == 200
        body: bytes = reply.read()
        return body


def options(help_text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", help_text))


def test_pins_lie_in_the_declared_ranges() -> None:
    """Every pin in requirements.txt is a dependency pyproject.toml declares, inside the
    declared range, so the suite tests a version an installed package may get."""
    declared = {Requirement(text).name.lower(): Requirement(text).specifier for text in
                tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    pinned = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            pinned[requirement.name.lower()] = str(requirement.specifier).removeprefix("==")
    assert set(pinned) <= set(declared)
    for name, version in pinned.items():
        assert declared[name].contains(version), (name, version, str(declared[name]))


def test_the_command_and_the_module_print_the_version(installed: Installed) -> None:
    """``chatcamp-server --version`` and ``python -m chatcamp_server --version`` of the
    installed package print the sources' version."""
    assert installed.run("--version").stdout == f"chatcamp-server {__version__}\n"
    module = subprocess.run([str(installed.venv / "bin" / "python"), "-m", "chatcamp_server",
                             "--version"], cwd=installed.workdir, env=installed.env(),
                            capture_output=True, text=True, timeout=60)
    assert module.stdout.strip().endswith(f" {__version__}"), module


def test_the_wheel_holds_every_package_and_the_plugin(installed: Installed) -> None:
    """Every package of the checkout is importable from the installed venv (and from there,
    not from the checkout), and the pytest11 entry point ``chatcamp`` names the plugin."""
    present = [name for name in PACKAGES if (ROOT / name / "__init__.py").is_file()]
    probe = ("import importlib.util, json, sys\n"
             "from importlib.metadata import entry_points\n"
             "print(json.dumps({'origins': [importlib.util.find_spec(n).origin for n in "
             "sys.argv[1:]], 'plugins': {e.name: e.value for e in "
             "entry_points(group='pytest11')}}))")
    done = subprocess.run([str(installed.venv / "bin" / "python"), "-c", probe, *present],
                          cwd=installed.workdir, env=installed.env(), capture_output=True,
                          text=True, timeout=60)
    _check(done)
    found = json.loads(done.stdout)
    assert all(Path(origin).is_relative_to(installed.venv) for origin in found["origins"])
    assert found["plugins"]["chatcamp"] == "chatcamp_pytest.plugin"


@pytest.mark.parametrize("command", [(), ("apps", "create"), ("apps", "update"),
                                     ("apps", "list"), ("admin", "create"), ("admin", "audit"),
                                     ("migrate",), ("assets", "install"), ("assets", "path")])
def test_the_command_has_serve_pys_options(installed: Installed, command: tuple[str, ...]
                                           ) -> None:
    """``chatcamp-server`` has the same options and subcommands as the checkout's serve.py."""
    mine = installed.run(*command, "--help")
    theirs = subprocess.run([sys.executable, str(ROOT / "serve.py"), *command, "--help"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    _check(mine)
    _check(theirs)
    assert mine.stdout.startswith(f"usage: chatcamp-server {' '.join(command)}".rstrip())
    assert options(mine.stdout) == options(theirs.stdout)
    commands = re.compile(r"\{[a-z,]+\}")
    assert commands.findall(mine.stdout) == commands.findall(theirs.stdout)


def test_assets_path_follows_the_environment(installed: Installed, tmp_path: Path) -> None:
    """``assets path`` names $CHATCAMP_ASSETS_DIR, else $XDG_DATA_HOME/chatcamp-web, else
    ~/.local/share/chatcamp-web; the default database lives in that data directory too."""
    chosen = installed.run("assets", "path", CHATCAMP_ASSETS_DIR=str(tmp_path / "mine"))
    assert chosen.stdout == f"{tmp_path / 'mine'}\n"
    xdg = installed.run("assets", "path", XDG_DATA_HOME=str(tmp_path / "xdg"))
    assert xdg.stdout == f"{tmp_path / 'xdg' / 'chatcamp-web'}\n"
    env = installed.env(HOME=str(tmp_path / "home"))
    env.pop("XDG_DATA_HOME", None)
    home = subprocess.run([str(installed.command), "assets", "path"], cwd=installed.workdir,
                          env=env, capture_output=True, text=True, timeout=60)
    assert home.stdout == f"{tmp_path / 'home' / '.local' / 'share' / 'chatcamp-web'}\n"
    shown = installed.run("--help", XDG_DATA_HOME=str(tmp_path / "xdg"))
    # the help wraps a long path anywhere, even inside it
    unwrapped = "".join(shown.stdout.split())
    assert f"(default:{tmp_path / 'xdg' / 'chatcamp-web' / 'chatcamp.sqlite3'})" in unwrapped


def test_the_installed_server_serves_pages_widget_archive_and_sdk(installed: Installed,
                                                                  tmp_path: Path) -> None:
    """With an assets directory laid out as ``assets install`` makes it, the installed
    server serves the page, the widget, the chatcamp_web archive, the vendored SDK and the
    dashboard (its templates and files are in the wheel), and warns of nothing."""
    assets = assets_like_install(tmp_path / "assets")
    with serving(installed, tmp_path / "run", assets) as (url, process):
        assert b"pyscript.toml" in fetch(f"{url}/")
        assert b"[files]" in fetch(f"{url}/pyscript.toml")
        widget = fetch(f"{url}/static/widget.js")
        assert b'"client"' in widget and b"[/* chatcamp_web */]" not in widget
        archive = zipfile.ZipFile(BytesIO(fetch(f"{url}/chatcamp_web.zip")))
        assert "chatcamp_web/__init__.py" in archive.namelist()
        sdk = fetch(f"{url}/vendor/chatcamp/ChatCamp.min.js")
        assert sdk == (ROOT / "node_modules" / "chatcamp" / "ChatCamp.min.js").read_bytes()
        assert fetch(f"{url}/vendor/wheels/pyodide_http-0.2.2-py3-none-any.whl")
        assert b'name="password"' in fetch(f"{url}/dashboard/signin")
        assert b"copyText" in fetch(f"{url}/dashboard/static/dashboard.js")
    _, errors = process.communicate()
    assert "WARNING" not in errors, errors


def test_without_assets_the_server_names_the_command_in_one_sentence(installed: Installed,
                                                                     tmp_path: Path) -> None:
    """An installed server with no assets installed still starts, and says in one warning
    line which command installs them."""
    empty = tmp_path / "nothing"
    with serving(installed, tmp_path / "run", empty) as (url, process):
        assert b"pyscript.toml" in fetch(f"{url}/")
    _, errors = process.communicate()
    hints = [line for line in errors.splitlines() if INSTALL_HINT in line]
    assert len(hints) == 1 and "WARNING" in hints[0], errors
    assert f"not installed in {empty}" in hints[0] and "Traceback" not in errors


def test_assets_from_another_release_are_named_stale(installed: Installed,
                                                     tmp_path: Path) -> None:
    """An assets directory whose lockfile is not the shipped one (installed for another
    release) makes the server say to run ``assets install`` again."""
    assets = assets_like_install(tmp_path / "assets")
    (assets / "package-lock.json").write_text("{}\n")
    with serving(installed, tmp_path / "run", assets) as (_, process):
        pass
    _, errors = process.communicate()
    assert "installed for another release: " + INSTALL_HINT in errors, errors


def test_assets_install_without_npm_says_so(installed: Installed, tmp_path: Path) -> None:
    """``assets install`` on a PATH without npm fails with one sentence saying so."""
    done = installed.run("assets", "install", PATH=str(installed.venv / "bin"),
                         CHATCAMP_ASSETS_DIR=str(tmp_path / "assets"))
    assert done.returncode == 1
    assert done.stderr == ("chatcamp-server: error: npm is not installed (it comes with "
                           "Node.js): install it, then run `chatcamp-server assets install` "
                           "again\n")


def test_assets_install_without_the_registry_says_so(installed: Installed,
                                                     tmp_path: Path) -> None:
    """``assets install`` that cannot reach the npm registry (a closed port, an empty npm
    cache) fails with one sentence naming the registry, not npm's stack trace."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        registry = f"http://127.0.0.1:{closed.getsockname()[1]}/"
    done = installed.run("assets", "install", CHATCAMP_ASSETS_DIR=str(tmp_path / "assets"),
                         npm_config_registry=registry, npm_config_fetch_retries="0",
                         npm_config_cache=str(tmp_path / "npm-cache"))
    assert done.returncode == 1
    assert done.stderr.startswith("chatcamp-server: error: cannot reach the npm registry")
    assert done.stderr.count("\n") == 1, done.stderr


def test_assets_install_fills_a_directory_the_server_serves_from(installed: Installed,
                                                                 tmp_path: Path) -> None:
    """A real ``assets install`` (npm ci on the shipped lockfile, pip download of the
    browser's wheels) fills the directory with what the checkout's set-up installs, and the
    installed server then serves from it with no warning."""
    assets = tmp_path / "assets"
    done = installed.run("assets", "install", CHATCAMP_ASSETS_DIR=str(assets))
    _check(done)
    assert done.stdout.splitlines()[-1] == f"Installed the browser assets into {assets}"
    assert ((assets / "package-lock.json").read_bytes()
            == (ROOT / "package-lock.json").read_bytes())
    wheels = sorted(path.name for path in (assets / "build" / "wheels").iterdir())
    assert wheels == sorted(path.name for path in (ROOT / "build" / "wheels").glob("*.whl"))
    with serving(installed, tmp_path / "run", assets) as (url, process):
        sdk = fetch(f"{url}/vendor/chatcamp/ChatCamp.min.js")
        assert sdk == (ROOT / "node_modules" / "chatcamp" / "ChatCamp.min.js").read_bytes()
        assert fetch(f"{url}/vendor/pyodide/pyodide.mjs")
    _, errors = process.communicate()
    assert "WARNING" not in errors, errors
