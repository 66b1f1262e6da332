"""The server's code type-checks under mypy --strict, so its type hints stay true."""

from __future__ import annotations

import subprocess
import sys

from server_process import ROOT


def test_server_code_is_mypy_strict_clean() -> None:
    """mypy --strict finds no error in chatcamp_server."""
    result = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-error-summary",
                             "chatcamp_server"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
