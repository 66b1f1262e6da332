"""The wheel carries the checkout's pages inside ``chatcamp_server``, where an installed server
finds them (``chatcamp_server/web/assets.py``); git keeps them once, at the checkout's root,
where the checkout serves them from.  Everything else is declared in ``pyproject.toml``."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = Path("chatcamp_server", "web", "shipped")
"""``assets.SHIPPED``, relative to the built tree."""
PAGES = ("index.html", "pyscript.toml", "static", "package.json", "package-lock.json",
         "requirements-browser.txt")
"""The pages, the widget, and what ``chatcamp-server assets install`` installs from."""


class BuildWithPages(build_py):
    """An editable install serves from the checkout itself, so only real builds copy."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / SHIPPED
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for name in PAGES:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, target / name,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(source, target / name)


setup(cmdclass={"build_py": BuildWithPages})
