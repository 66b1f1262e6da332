"""Fuzz the frame, connect-query and body parsers with hypothesis, at length.

    .venv/bin/python bench/fuzz_parsers.py --examples 100000

Runs each property of ``tests/parser_properties.py`` with the given number of generated
inputs (default 100,000 each) and stops at the first input that breaks one, printing it.
The test suite runs the same properties with 1,000 inputs each.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from parser_properties import PROPERTIES  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=100_000,
                        help="generated inputs per parser (default 100000)")
    parser.add_argument("--only", choices=sorted(PROPERTIES), help="fuzz one parser")
    args = parser.parse_args()
    for name in [args.only] if args.only else sorted(PROPERTIES):
        check, strategy = PROPERTIES[name]
        seen = 0

        @settings(max_examples=args.examples, deadline=None, database=None,
                  phases=[Phase.generate, Phase.shrink],
                  suppress_health_check=list(HealthCheck))
        @given(strategy)
        def run(value: Any) -> None:
            nonlocal seen
            seen += 1
            check(value)

        started = time.perf_counter()
        run()
        print(f"{name:8} {seen:>8} inputs, no failure, {time.perf_counter() - started:.0f} s",
              flush=True)


if __name__ == "__main__":
    main()
