"""In-process: the widget loader and the page's config ship exactly the chatcamp_web modules."""

from __future__ import annotations

import re
import tomllib

from server_process import ROOT


def package_modules() -> set[str]:
    return {path.stem for path in (ROOT / "chatcamp_web").glob("*.py")}


def test_widget_loader_lists_every_chatcamp_web_module() -> None:
    """widget.js copies every module of chatcamp_web into the interpreter, and nothing else."""
    source = (ROOT / "static/widget.js").read_text()
    listed = re.search(r"const MODULES = \[([^\]]*)\]", source)
    assert listed is not None
    assert set(re.findall(r'"([^"]+)"', listed.group(1))) == package_modules()


def test_page_config_lists_every_chatcamp_web_module() -> None:
    """pyscript.toml copies every module of chatcamp_web into the session page's Python."""
    files = tomllib.loads((ROOT / "pyscript.toml").read_text())["files"]
    copied = {target.rsplit("/", 1)[1][:-3] for target in files.values()
              if target.startswith("./chatcamp_web/")}
    assert copied == package_modules()
