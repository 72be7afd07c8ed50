"""Scenario fixtures: the shipped method deployed as `make run` does, the demo's people,
and every audit chain verified when each scenario ends."""

from __future__ import annotations

import pytest

from partnerflow.engine import audit
from tests.conftest import deploy
from tests.scenarios.method import add_people, ensure_our_organisation


@pytest.fixture
def method(pf):
    """The engine with the shipped method (bpmn/ + forms/) deployed, the people created and
    our organisation on the map."""
    deploy(pf, pf.method_files())
    add_people(pf)
    ensure_our_organisation(pf)
    return pf


@pytest.fixture(autouse=True)
def every_audit_chain_verifies(pf):
    yield
    with pf.read() as session:
        breaks = audit.verify(session)
    assert breaks == [], [str(b) for b in breaks]
