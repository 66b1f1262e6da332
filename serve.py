#!/usr/bin/env python3
"""Serve chatcamp-web: the ChatCamp-compatible server, the pages, and the demo backend.

Run ``python serve.py --help`` for every option; ``make run`` installs everything first.
"""

import sys

from chatcamp_server.cli import main

if __name__ == "__main__":
    sys.exit(main())
