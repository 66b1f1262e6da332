"""In-process and real server: chatcamp_web reaches pages as one archive, and the widget as
the list of its modules, both made by the server from the sources, so no file lists them."""

from __future__ import annotations

import io
import json
import re
import tomllib
import urllib.error
import urllib.request
import zipfile

import pytest
from server_process import ROOT, ServerProcess


def package_sources() -> dict[str, bytes]:
    return {f"chatcamp_web/{path.name}": path.read_bytes()
            for path in (ROOT / "chatcamp_web").glob("*.py")}


def test_no_page_config_or_loader_lists_the_modules() -> None:
    """The session page's config and the in-browser suite's page load the archive, and
    neither they nor the widget's loader names a module of chatcamp_web."""
    files = tomllib.loads((ROOT / "pyscript.toml").read_text())["files"]
    assert files["/chatcamp_web.zip"] == "./*"
    for path in ("static/widget.js", "pyscript.toml", "tests/pages/api_suite.html"):
        text = (ROOT / path).read_text()
        assert path.endswith("widget.js") or "chatcamp_web.zip" in text, path
        assert not re.search(r"chatcamp_web/\w+\.py|\"client\"|\"renewal\"", text), path


def test_the_served_widget_loader_lists_every_module(server: ServerProcess) -> None:
    """/static/widget.js as served names exactly the modules of chatcamp_web."""
    with urllib.request.urlopen(server.base_url + "/static/widget.js", timeout=10) as reply:
        source = reply.read().decode()
    listed = re.search(r"const MODULES = (\[[^\]]*\]);", source)
    assert listed is not None
    assert sorted(json.loads(listed.group(1))) == sorted(
        name.split("/")[1][:-3] for name in package_sources())


def test_the_archive_is_the_sources_and_any_origin_may_load_it(server: ServerProcess) -> None:
    """/chatcamp_web.zip holds exactly chatcamp_web/*.py, byte for byte; any origin may fetch
    it (CORS), and a reload with its ETag is a 304."""
    request = urllib.request.Request(server.base_url + "/chatcamp_web.zip",
                                     headers={"Origin": "http://other.example"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        body, headers = reply.read(), reply.headers
    assert headers["Content-Type"] == "application/zip"
    assert headers["Access-Control-Allow-Origin"] == "*"
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert {name: archive.read(name) for name in archive.namelist()} == package_sources()
    again = urllib.request.Request(server.base_url + "/chatcamp_web.zip",
                                   headers={"If-None-Match": headers["ETag"]})
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(again, timeout=10)
    assert answer.value.code == 304
