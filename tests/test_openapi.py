"""Real server: the OpenAPI document it serves, checked against the server by schemathesis."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from server_process import ServerProcess

from chatcamp_server.chat.group_channels import GroupChannels
from chatcamp_server.chat.open_channels import OpenChannels
from chatcamp_server.users import Users
from chatcamp_server.web.server_api import ServerApi

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, negative_data_rejection]
EXAMPLES = 30
"""Generated calls per method in CI; bench/fuzz_parsers.py is where the long runs live."""


@pytest.fixture(scope="module")
def document(server: ServerProcess) -> dict[str, Any]:
    with urllib.request.urlopen(f"{server.base_url}/api/2.0/openapi.json", timeout=10) as reply:
        assert reply.headers["Content-Type"].startswith("application/json")
        return json.loads(reply.read())


@pytest.fixture(scope="module")
def api_schema(server: ServerProcess, document: dict[str, Any]) -> Any:
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=server.base_url, headers={"x-api-key": server.api_key})
    # A body over a size limit is refused with 413, which schemathesis does not count as a
    # refusal by default.
    schema.config.checks.negative_data_rejection.expected_statuses.append("413")
    return schema


def test_document_describes_every_method(document: dict[str, Any]) -> None:
    """Every server-API method, and nothing else, is in the served document."""
    documented = {path.rsplit("/", 1)[1] for path in document["paths"]}
    # Only the method table is read, so the parts a call would need are left out.
    served = set(ServerApi(None, Users(None, None, None, None), None,  # type: ignore[arg-type]
                           None, None, OpenChannels(None, None, None, None),
                           GroupChannels(None, None, None, None)).methods)
    assert documented == served
    assert document["components"]["securitySchemes"]["apiKey"]["name"] == "x-api-key"


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_server_keeps_to_its_document(case: Any) -> None:
    """Generated calls, valid and invalid: no 5xx, only documented statuses and types, bodies
    that match their schemas, and whatever the schema forbids refused with a 4xx."""
    case.call_and_validate(checks=CHECKS)
