"""Scenario fixtures: the shipped method deployed as `make run` does, the demo's people,
every step checked by the persistence oracle (tests/oracle.py) and every audit chain
verified when each scenario ends."""

from __future__ import annotations

import pytest

from partnerflow.engine import audit
from tests.conftest import deploy
from tests.oracle import PersistenceOracle
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


@pytest.fixture(autouse=True)
def persistence_oracle(monkeypatch):
    """After each step, the rows written restore to the run kept in memory (tests/oracle.py)."""
    return PersistenceOracle().install(monkeypatch)
