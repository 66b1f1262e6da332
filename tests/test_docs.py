"""In-process: the API reference builds from the docstrings, as `make docs` builds it, and
documents the names integrators call."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from server_process import ROOT


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference as docs/build.py (the script `make docs` runs) writes it."""
    out = tmp_path_factory.mktemp("docs")
    built = subprocess.run([sys.executable, str(ROOT / "docs/build.py"), str(out)],
                           capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    return out


def test_the_api_reference_builds(reference: Path) -> None:
    """docs/build.py writes a page per package that names connect, disconnect and the
    token provider (chatcamp_web) and Client, AsyncClient and sign_token (chatcamp_client)."""
    web = (reference / "chatcamp_web.html").read_text()
    client = (reference / "chatcamp_client.html").read_text()
    for name in ("connect", "disconnect", "token_provider", "fetch_access_token"):
        assert f'id="ChatCamp.{name}"' in web or f'id="{name}"' in web, name
    for name in ("Client", "AsyncClient", "sign_token", "ChatCampApiError"):
        assert f'id="{name}"' in client, name
    assert (reference / "index.html").is_file()


def test_the_browser_stand_ins_leave_no_trace(reference: Path) -> None:
    """The stand-ins for js and pyscript, which let chatcamp_web import outside a browser,
    appear on no page: the reference shows chatcamp_web's own names only."""
    pages = sorted(reference.rglob("*.html"))
    assert reference / "chatcamp_web/state.html" in pages
    assert not [page.name for page in pages if "MagicMock" in page.read_text()]
