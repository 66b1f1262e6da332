"""In-process: a short hypothesis run of the parser properties (the long one is in bench/)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from parser_properties import PROPERTIES

CI_EXAMPLES = 1000


@pytest.mark.parametrize("name", sorted(PROPERTIES))
def test_parsers_survive_generated_input(name: str) -> None:
    """Generated frames, queries and bodies are parsed or refused through ServerError only."""
    check, strategy = PROPERTIES[name]

    @settings(max_examples=CI_EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(value: Any) -> None:
        check(value)

    run()
