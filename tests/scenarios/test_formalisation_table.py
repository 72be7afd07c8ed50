"""The formalisation_level decision table, row by row and at its thresholds, run by the
engine: a one-step fixture process (tests/fixtures/formalisation_decision.bpmn) starts
with the `formalisation_inputs` form and runs the business rule task
camunda:decisionRef="formalisation_level" of the shipped bpmn/formalisation_level.dmn."""

from __future__ import annotations

import pytest

from partnerflow.engine.runtime import services
from tests.conftest import FIXTURES, ROOT, deploy, make_user
from tests.scenarios.method import DELEGATED_CEILING_EUR
from tests.scenarios.method import formalisation_inputs as inputs

ROWS = [
    # (situation, changes to "nothing triggers anything", expected level)
    # one per rule of the table, in its order
    ("GCSMS: joint hiring of a coordinator", dict(joint_hiring_or_assets=True), "L4"),
    ("the partnership touches the CPOM", dict(affects_cpom_or_authorisation=True), "L3"),
    ("money above the director's ceiling", dict(money_flows=True, money_flow_amount_eur=42000), "L3"),
    ("three years", dict(duration_months=36), "L3"),
    ("tacit renewal", dict(tacit_renewal=True), "L3"),
    (
        "convention required by the CSP",
        dict(convention_required_by_text=True, required_by_text_reference="CSP L5126-10"),
        "L2",
    ),
    ("public subsidy of 40 000 €", dict(annual_public_subsidy_eur=40000), "L2"),
    ("money below the director's ceiling", dict(money_flows=True, money_flow_amount_eur=5000), "L2"),
    ("a nurse made available", dict(staff_made_available=True), "L2"),
    ("the care room lent", dict(premises_or_equipment_lent=True), "L2"),
    ("care records shared", dict(personal_data_shared=True), "L2"),
    ("a one-off exchange", dict(), "L1"),
    ("the local gerontology network", dict(informal_network_only=True), "L0"),
    # thresholds
    ("subsidy of exactly 23 000 € (loi 2000-321: not above)", dict(annual_public_subsidy_eur=23000), "L1"),
    ("subsidy of 23 000,01 €", dict(annual_public_subsidy_eur=23000.01), "L2"),
    ("money exactly at the ceiling", dict(money_flows=True, money_flow_amount_eur=15000), "L2"),
    ("money at the ceiling + 1 €", dict(money_flows=True, money_flow_amount_eur=15001), "L3"),
    (
        "a higher ceiling in the delegation",
        dict(money_flows=True, money_flow_amount_eur=42000, director_delegated_ceiling_eur=50000),
        "L2",
    ),
    ("12 months", dict(duration_months=12), "L1"),
    ("13 months", dict(duration_months=13), "L3"),
    # combinations: the highest level any input triggers wins (PRIORITY)
    ("an amount typed but no money flows", dict(money_flows=False, money_flow_amount_eur=99999), "L1"),
    ("an informal network where money flows", dict(informal_network_only=True, money_flows=True), "L2"),
    ("an informal network over three years", dict(informal_network_only=True, duration_months=36), "L3"),
    (
        "GCSMS over five years with money above the ceiling",
        dict(joint_hiring_or_assets=True, duration_months=60, money_flows=True, money_flow_amount_eur=80000),
        "L4",
    ),
]


@pytest.fixture
def decide(pf):
    deploy(pf, [FIXTURES / "formalisation_decision.bpmn", ROOT / "bpmn" / "formalisation_level.dmn"])
    make_user(pf, "claire.martin", "direction")
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title="Table de formalisation", actor="claire.martin")

    def run(data: dict) -> tuple[str | None, dict]:
        with pf.uow() as uow:
            iid = services.start_instance(
                uow,
                partnership_id=pid,
                process_key="formalisation_decision",
                actor="claire.martin",
                data=data,
            )
        with pf.read() as session:
            from partnerflow.engine.store.models import AuditEvent, Partnership, ProcessInstance

            assert session.get(ProcessInstance, iid).status == "completed"
            event = session.query(AuditEvent).filter_by(instance_id=iid, type="decision_evaluated").one()
            assert event.element_id == "decide_formalisation_level"
            level = event.payload["outputs"].get("formalisation_level")
            assert session.get(Partnership, pid).formalisation_level == level
            # the rules that fired are named; the winning level is among their outputs
            assert event.payload["matched_rules"], "no matched rule recorded"
            assert all(rule["description"] for rule in event.payload["matched_rules"])
            return level, event.payload["inputs"]

    return run


@pytest.mark.parametrize(("situation", "changes", "expected"), ROWS, ids=[r[0] for r in ROWS])
def test_the_decision_table_gives_the_highest_level_any_input_triggers(decide, situation, changes, expected):
    # the criteria form's answers, and the ceiling the negotiation reads from our organisation
    data = {"director_delegated_ceiling_eur": DELEGATED_CEILING_EUR, **inputs(**changes)}
    level, seen = decide(data)
    assert level == expected, situation
    # the audit trail shows what the table read: every input column, as submitted
    assert seen == {k: v for k, v in data.items() if k in seen} and len(seen) == 12
