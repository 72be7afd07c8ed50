"""Schemathesis against the OpenAPI description the served API publishes: for a user of
each role, every operation with generated requests never answers a server error, and every
answer conforms to the description (status, content type, headers, body schema)."""

from __future__ import annotations

import logging
import threading
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.serving import make_server

from partnerflow.web import create_app
from tests.conftest import make_user
from tests.web.support import BY_ROLE, build_world
from tests.web.test_api import token_for

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
# examples per operation and role: the whole run stays under a minute on this machine
EXAMPLES = 2
# what would change the world under the other roles' feet is generated, not sent twice
SLOW = {"POST /api/deployments"}


@pytest.fixture
def served(fixture_pf):
    world = build_world(fixture_pf)
    make_user(fixture_pf, "robot", "worker")
    app = create_app(partnerflow=fixture_pf)
    # a log line per request, captured by pytest, costs more than the request itself
    requests_log = logging.getLogger("werkzeug")
    level = requests_log.level
    requests_log.setLevel(logging.WARNING)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield world, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    requests_log.setLevel(level)


def _run_operation(operation, headers: dict, examples: int = EXAMPLES) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def check(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    check()


@pytest.mark.slow
def test_every_operation_conforms_and_never_fails_for_a_user_of_each_role(served):
    world, url = served
    schema = schemathesis.openapi.from_url(f"{url}/api/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    began = time.monotonic()
    users = [*BY_ROLE.values(), "robot"]
    for username in users:
        headers = {"Authorization": f"Bearer {token_for(world.pf, username)}"}
        for operation in operations:
            if operation.label in SLOW and username != "denis":
                continue
            _run_operation(operation, headers)
    # and with no token at all: 401 problems, conforming too
    for operation in operations:
        _run_operation(operation, {}, examples=1)
    assert time.monotonic() - began < 90
