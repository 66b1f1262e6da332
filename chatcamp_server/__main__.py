"""``python -m chatcamp_server``: the same command line as ``serve.py``."""

import sys

from chatcamp_server.cli import main

sys.exit(main(prog="python -m chatcamp_server"))
