"""The README's "Testing your site" example, run as an integrator runs it: copied out of the
checkout and run by pytest there, against the installed package and its plugin."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from server_process import CHROMIUM, ROOT

SECTION = "## Testing your site"
RUN_TIMEOUT = 300


def example_files() -> dict[str, str]:
    """Each ```python block of the section, named by its first line (``# test_chat.py``)."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index(SECTION + "\n")
    end = readme.find("\n## ", start + len(SECTION))
    section = readme[start:end if end != -1 else len(readme)]
    files = {}
    for block in re.findall(r"^```python\n(.*?)^```$", section, re.DOTALL | re.MULTILINE):
        name = re.fullmatch(r"# (\w+\.py)", block.splitlines()[0])
        assert name, f"a README example block does not start with '# FILE.py': {block[:60]!r}"
        files[name.group(1)] = block
    return files


def test_readme_example_has_a_test_and_a_conftest() -> None:
    """The section shows an integrator's test file and the conftest that picks the Chromium."""
    assert set(example_files()) == {"test_chat.py", "conftest.py"}


def test_readme_example_passes_outside_the_checkout(tmp_path: Path) -> None:
    """Copied to a directory outside the checkout, the example's tests pass with Debian's
    Chromium given through CHROMIUM, as the README says."""
    assert not tmp_path.is_relative_to(ROOT)
    for name, text in example_files().items():
        (tmp_path / name).write_text(text)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=tmp_path,
        env={**os.environ, "CHROMIUM": CHROMIUM}, capture_output=True, text=True,
        timeout=RUN_TIMEOUT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert re.search(r"\b2 passed\b", run.stdout), run.stdout
