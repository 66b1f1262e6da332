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

from chatcamp_server.settings import Limits


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


def test_the_limits_the_browser_checks_are_the_servers(server: ServerProcess) -> None:
    """The served widget loader holds chatcamp_web/limits.py's limits, and they are the
    server's own defaults: the page refuses with the number the server would."""
    with urllib.request.urlopen(server.base_url + "/static/widget.js", timeout=10) as reply:
        source = reply.read().decode()
    filled = re.search(r"const LIMITS = (\{[^}]*\});", source)
    assert filled is not None and "/*" not in filled.group(1)
    limits = json.loads(filled.group(1))
    defaults = Limits()
    assert limits == {"MAX_APP_ID_CHARS": defaults.max_app_id_chars,
                      "MAX_USER_ID_CHARS": defaults.max_user_id_chars,
                      "MAX_MESSAGE_CHARS": defaults.max_message_chars,
                      "MAX_GROUP_CHANNEL_PARTICIPANTS": defaults.group_channel_max_participants}
    assert limits["MAX_MESSAGE_CHARS"] == 4000 and limits["MAX_USER_ID_CHARS"] == 128


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
