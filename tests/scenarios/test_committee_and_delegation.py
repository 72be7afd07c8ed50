"""Who acts for whom: the joint steering committee of each partnership (members from each
party, as the convention composes it), the director's délégation read from our organisation
once rather than typed on every partnership, each partner party's signature given to its own
signatory, and an assignee who could not open a task never keeping it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from partnerflow.engine import access
from partnerflow.engine.access import accounts
from partnerflow.engine.method import committee, registry
from partnerflow.engine.runtime import services, views
from partnerflow.engine.store.models import AuditEvent, CommitteeMember, ProcessInstance
from tests.scenarios.method import (
    DELEGATE,
    DELEGATED_CEILING_EUR,
    DIRECTION,
    HOSPITAL,
    LES_TILLEULS,
    PARTNER,
    PASSWORD,
    STEERING,
    Walk,
)
from tests.scenarios.samples import BOARD_CHAIR

OUTSIDER = "marie.lambert"  # a partner user of another partnership
OTHER_STEERING = "yves.costa"  # holds the organisation's steering group, sits on no committee
DESIGNER = "ines.garcia"  # retries what stopped on an incident


@pytest.fixture(autouse=True)
def designer(method):
    with method.uow() as uow:
        accounts.create_user(uow, username=DESIGNER, full_name="Inès Garcia", roles=["designer"],
                             actor=None)


@pytest.fixture
def other_steering(method):
    with method.uow() as uow:
        accounts.create_user(uow, username=OTHER_STEERING, full_name="Yves Costa",
                             roles=["steering"], actor=None)


def _convention_signed(walk: Walk, **convention) -> None:
    walk.to_negotiation()
    walk.criteria("L2")
    walk.draft_rounds(1)
    walk.complete(DIRECTION, "hold_final_negotiation")
    walk.complete(DELEGATE, "write_convention", **convention)
    walk.sign("L2")


def _complete_raw(pf, username: str, task_id: int, data: dict, password: str | None = None):
    with pf.uow() as uow:
        return services.complete_task(uow, task_id=task_id, actor=username, data=data,
                                      password=password)


# ---------------------------------------------------------------- the joint committee


def test_the_committee_of_the_convention_gets_the_steering_tasks_and_no_one_else(
        method, clock, other_steering):
    walk = Walk.propose(method, clock)
    _convention_signed(walk)
    walk.complete(DELEGATE, "write_action_sheets",
                  data=walk.samples.write_action_sheets("single_plan"))

    # the committee is on the partnership, both parties, and its recording is audited
    with method.read() as session:
        members = committee.members_of(session, walk.pid)
    assert [(m.full_name, m.side, m.username) for m in members] == [
        ("Lucas Moreau", "ours", STEERING), ("Paul Lefèvre", "partner", PARTNER)]
    assert members[1].party == HOSPITAL["legal_name"]
    [recorded] = walk.events("committee_recorded")
    assert [m["user"] for m in recorded.payload["members"]] == [STEERING, PARTNER]

    # its members and the direction are offered the validation; the organisation's
    # steering group as such is not
    validation = walk.task(STEERING, "validate_action_sheets")
    assert validation.role == "steering"
    assert "validate_action_sheets" in walk.inbox_elements(PARTNER)
    assert "validate_action_sheets" in walk.inbox_elements(DIRECTION)
    assert walk.inbox_elements(OTHER_STEERING) == []
    with method.read() as session:
        assert not access.may(access.actor(session, OTHER_STEERING), "act", validation)


def test_a_partner_on_the_committee_fills_only_what_is_shared_with_the_partner(method, clock):
    walk = Walk.propose(method, clock)
    _convention_signed(walk)
    walk.complete(DELEGATE, "write_action_sheets",
                  data=walk.samples.write_action_sheets("single_plan"))
    task = walk.task(PARTNER, "validate_action_sheets")
    form = method.forms.get("action_sheets_validation").schema
    internal = sorted(k for k, p in form["properties"].items() if views.audience_of(p) == "internal")
    assert internal  # the three vectors, the direction's own notes
    with method.read() as session:
        partner_form = services.task_form(method.forms, task, access.actor(session, PARTNER))
        staff_form = services.task_form(method.forms, task, access.actor(session, STEERING))
    assert not set(internal) & set(partner_form["properties"])
    assert set(internal) <= set(staff_form["properties"])

    # an internal field sent by the partner is refused by the engine, whatever the caller
    answer = walk.samples.data("validate_action_sheets", "validate", task.context)
    with pytest.raises(Exception) as refused:
        _complete_raw(method, PARTNER, task.id, {**answer, internal[0]: "écrit par le partenaire"})
    assert internal[0] in str(getattr(refused.value, "errors", refused.value))
    # without it, the partner's validation is accepted
    done = _complete_raw(method, PARTNER, task.id, answer)
    assert done.error is None


def test_a_committee_naming_a_partner_account_not_attached_stops_with_an_incident_then_retries(
        method, clock):
    walk = Walk.propose(method, clock)
    rows = [{"full_name": "Lucas Moreau", "side": "ours", "account": STEERING},
            {"full_name": "Marie Lambert", "side": "partner", "account": OUTSIDER}]
    walk.to_negotiation()
    walk.criteria("L2")
    walk.draft_rounds(1)
    walk.complete(DIRECTION, "hold_final_negotiation")
    walk.complete(DELEGATE, "write_convention", steering_committee=rows)
    walk.complete(DIRECTION, "sign_convention_director")
    # the last signature concludes the negotiation; the committee is convened at once
    task = walk.task(PARTNER, "sign_convention_partner")
    done = _complete_raw(method, PARTNER, task.id,
                         walk.samples.data("sign_convention_partner", None, task.context),
                         password=PASSWORD)
    assert done.instance_status == "error"
    assert "Marie Lambert (marie.lambert) n'est pas rattaché(e) au partenariat" in done.error
    with method.read() as session:
        assert session.scalars(select(CommitteeMember).where(
            CommitteeMember.partnership_id == walk.pid)).all() == []

    # the direction attaches her, the incident is retried, and she sits on the committee
    with method.uow() as uow:
        services.attach_member(uow, partnership_id=walk.pid, username=OUTSIDER, actor=DIRECTION)
    with method.read() as session:
        failed = session.scalar(select(ProcessInstance).where(
            ProcessInstance.partnership_id == walk.pid, ProcessInstance.status == "error"))
    with method.uow() as uow:
        services.retry_instance(uow, instance_id=failed.id, actor=DESIGNER)
    walk.complete(DELEGATE, "write_action_sheets", data=walk.samples.write_action_sheets("single_plan"))
    assert "validate_action_sheets" in walk.inbox_elements(OUTSIDER)


@pytest.mark.parametrize(("rows", "message"), [
    ([], "ne compose pas de comité"),
    ([{"full_name": "A", "side": "ours"}, {"full_name": "B", "side": "ours"}], "paritaire"),
    ([{"full_name": "A", "side": "ours"}, {"full_name": "", "side": "partner"}], "n'a pas de nom"),
    ([{"full_name": "A", "side": "ours"}, {"full_name": "B", "side": "elsewhere"}], "d'aucune partie"),
])
def test_a_committee_that_is_not_joint_is_refused_naming_what_is_wrong(rows, message):
    with pytest.raises(committee.CommitteeProblem, match=message):
        committee.parse(rows)


def test_the_convention_form_refuses_a_committee_with_members_of_one_party_only(method):
    with pytest.raises(Exception) as refused:
        method.forms.validate("convention", {"steering_committee": [
            {"full_name": "A", "side": "ours"}, {"full_name": "B", "side": "ours"}]})
    assert "paritaire" in " ".join(refused.value.errors["steering_committee"])


# ---------------------------------------------------------------- the director's délégation


def test_the_ceiling_comes_from_our_organisation_and_a_submission_cannot_change_it(method, clock):
    walk = Walk.propose(method, clock)
    walk.to_negotiation()
    task = walk.task(DIRECTION, "fill_formalisation_inputs")
    assert task.context["director_delegated_ceiling_eur"] == DELEGATED_CEILING_EUR
    # 20 000 € of money flows: above the director's 15 000 €, the board deliberates (L3),
    # even when the submission claims a higher ceiling
    walk.criteria(money_flows=True, money_flow_amount_eur=20000,
                  director_delegated_ceiling_eur=1_000_000)
    assert walk.partnership().formalisation_level == "L3"
    [done] = walk.tasks("fill_formalisation_inputs")
    assert done.result["director_delegated_ceiling_eur"] == DELEGATED_CEILING_EUR


def test_a_higher_delegation_set_once_applies_to_the_next_negotiation(method, clock):
    with method.uow() as uow:
        ours = registry.delegation_of(uow.session)
        registry.update_organisation(uow, organisation_id=ours.id, actor=DIRECTION, data={
            "name": ours.name, "kind": ours.kind, "is_own": "1",
            "delegated_ceiling_eur": "50 000", "delegation_date": "2026-01-15"})
    walk = Walk.propose(method, clock)
    walk.to_negotiation()
    walk.criteria(money_flows=True, money_flow_amount_eur=20000)
    assert walk.partnership().formalisation_level == "L2"
    with method.read() as session:
        [changed] = session.scalars(select(AuditEvent).where(
            AuditEvent.type == "organisation_updated")).all()
    assert changed.payload["changes"]["delegated_ceiling_eur"] == [DELEGATED_CEILING_EUR, 50000]


def test_without_a_ceiling_the_negotiation_stops_with_an_incident_naming_the_organisation(
        method, clock):
    with method.uow() as uow:
        registry.delegation_of(uow.session).delegated_ceiling_eur = None
        uow.commit()
    walk = Walk.propose(method, clock)
    walk.accept_idea()
    walk.complete(DIRECTION, "write_mission_letter")
    walk.complete(PARTNER, "partner_states_interests")
    walk.complete(DELEGATE, "elaborate_partnership")
    task = walk.task(DIRECTION, "validate_elaboration")
    done = _complete_raw(method, DIRECTION, task.id,
                         walk.samples.data("validate_elaboration", "validate", task.context))
    assert done.instance_status == "error"
    name = LES_TILLEULS["legal_name"]
    assert f"le plafond délégué au directeur n'est pas inscrit sur la fiche de « {name} »" in done.error

    with method.uow() as uow:
        registry.delegation_of(uow.session).delegated_ceiling_eur = 15000
        uow.commit()
    with method.read() as session:
        failed = session.scalar(select(ProcessInstance).where(
            ProcessInstance.partnership_id == walk.pid, ProcessInstance.status == "error"))
    with method.uow() as uow:
        services.retry_instance(uow, instance_id=failed.id, actor=DESIGNER)
    assert walk.task(DIRECTION, "fill_formalisation_inputs").context[
        "director_delegated_ceiling_eur"] == 15000


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"delegated_ceiling_eur": "-5"}, "delegated_ceiling_eur", "Plafond invalide"),
    ({"delegated_ceiling_eur": "15 000,50"}, "delegated_ceiling_eur", "euros entiers"),
    ({"delegated_ceiling_eur": "beaucoup"}, "delegated_ceiling_eur", "Plafond invalide"),
    ({"delegation_date": "31/02/2026"}, "delegation_date", "Date invalide"),
])
def test_a_bad_delegation_is_refused_naming_the_field(data, field, message):
    _values, errors = registry.clean_delegation(data, is_own=True)
    assert message in errors[field][0]


def test_only_our_organisation_has_a_delegation():
    values, errors = registry.clean_delegation({"delegated_ceiling_eur": "15000"}, is_own=False)
    assert values == {} and "notre organisation" in errors["delegated_ceiling_eur"][0]
    values, errors = registry.clean_delegation({"delegated_ceiling_eur": "15\u202f000 €"}, is_own=True)
    assert (values["delegated_ceiling_eur"], errors) == (15000, {})


# ---------------------------------------------------------------- each party's signatory


def test_each_partner_party_signature_goes_to_the_signatory_the_convention_names(method, clock):
    walk = Walk.propose(method, clock)
    with method.uow() as uow:
        services.attach_member(uow, partnership_id=walk.pid, username=OUTSIDER, actor=DIRECTION)
    walk.to_negotiation()
    walk.criteria("L2")
    walk.draft_rounds(1)
    walk.complete(DIRECTION, "hold_final_negotiation")
    town = {"legal_name": "Mairie de Bagnolet", "siret": "21930006000017",
            "legal_representative": "Marie Lambert", "representative_quality": "Adjointe au maire",
            "mandate": "Arrêté de délégation (CGCT L2122-18)", "signatory_account": OUTSIDER}
    parties = [dict(LES_TILLEULS, **BOARD_CHAIR), dict(HOSPITAL, signatory_account=PARTNER), town]
    walk.complete(DELEGATE, "write_convention", parties=parties)
    mine = {t.context["signing_party_name"] for t in walk.inbox(PARTNER)
            if t.element_id == "sign_convention_partner"}
    hers = {t.context["signing_party_name"] for t in walk.inbox(OUTSIDER)
            if t.element_id == "sign_convention_partner"}
    assert (mine, hers) == ({HOSPITAL["legal_name"]}, {"Mairie de Bagnolet"})


def test_a_signatory_who_could_not_open_the_task_is_not_kept_and_the_refusal_is_recorded(
        method, clock):
    walk = Walk.propose(method, clock)
    walk.to_negotiation()
    walk.criteria("L2")
    walk.draft_rounds(1)
    walk.complete(DIRECTION, "hold_final_negotiation")
    parties = [dict(LES_TILLEULS, **BOARD_CHAIR), dict(HOSPITAL, signatory_account=OUTSIDER)]
    walk.complete(DELEGATE, "write_convention", parties=parties)
    # Marie Lambert is a partner of another partnership: the task is the partner contacts'
    [task] = [t for t in walk.inbox(PARTNER) if t.element_id == "sign_convention_partner"]
    assert task.assignee is None
    assert walk.inbox_elements(OUTSIDER) == []
    [created] = [e for e in walk.events("task_created") if e.element_id == "sign_convention_partner"]
    assert created.payload["assignee_refused"] == {
        "user": OUTSIDER, "reason": "compte partenaire non rattaché au partenariat"}
