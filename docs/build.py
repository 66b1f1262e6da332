"""Build the Python API reference (HTML, pdoc) of the packages integrators call:
``chatcamp_web`` (in the browser) and ``chatcamp_client`` (in their backend).

    .venv/bin/python docs/build.py build/docs        # what `make docs` runs

``chatcamp_web`` runs only in PyScript: its one FFI module imports ``js`` and
``pyscript.ffi`` and builds a JavaScript helper at import. pdoc reads documentation by
importing, so those two modules are stand-ins here that accept anything; nothing of
``chatcamp_web`` runs, and the stand-ins exist only in this process.
"""

from __future__ import annotations

import sys
from pathlib import Path
from unittest.mock import MagicMock

import pdoc

MODULES = ("chatcamp_web", "chatcamp_client")
BROWSER_ONLY = ("js", "pyscript", "pyscript.ffi")


def build(out: Path) -> None:
    for name in BROWSER_ONLY:
        sys.modules.setdefault(name, MagicMock(name=name))
    pdoc.render.configure(docformat="restructuredtext", show_source=False)
    pdoc.pdoc(*MODULES, output_directory=out)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: docs/build.py OUTPUT_DIRECTORY")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    build(Path(sys.argv[1]))
    print(f"API reference written to {sys.argv[1]}/index.html")
