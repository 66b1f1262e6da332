"""In-process: the API reference builds from the docstrings, as `make docs` builds it, and
documents the names integrators call."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from server_process import ROOT


def test_the_api_reference_builds(tmp_path: Path) -> None:
    """docs/build.py writes a page per package that names connect, disconnect and the
    token provider (chatcamp_web) and Client, AsyncClient and sign_token (chatcamp_client)."""
    built = subprocess.run([sys.executable, str(ROOT / "docs/build.py"), str(tmp_path)],
                           capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    web = (tmp_path / "chatcamp_web.html").read_text()
    client = (tmp_path / "chatcamp_client.html").read_text()
    for name in ("connect", "disconnect", "token_provider", "fetch_access_token"):
        assert f'id="ChatCamp.{name}"' in web or f'id="{name}"' in web, name
    for name in ("Client", "AsyncClient", "sign_token", "ChatCampApiError"):
        assert f'id="{name}"' in client, name
    assert (tmp_path / "index.html").is_file()
