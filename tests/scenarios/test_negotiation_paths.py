"""La négociation, level by level: the criteria at the start, the path each level takes, what
reaches the map (kind, level, dates, document), who signs for each party (in parallel), the
criteria asked again when the final negotiation changed the commitments, the direction's
presence or its recorded absence, and the map kept when a partnership ends or a renewal is
decided."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from partnerflow.engine import access
from partnerflow.engine.errors import FormValidationError
from partnerflow.engine.method import registry, reminders
from partnerflow.engine.runtime import queries, services, views
from partnerflow.engine.store.models import AuditEvent, Organisation, Relationship, Signature, User
from tests.conftest import make_user
from tests.scenarios.method import (
    BOARD,
    DELEGATE,
    DIRECTION,
    HOSPITAL,
    LES_TILLEULS,
    LEVEL_CASES,
    PARTNER,
    STEERING,
    Walk,
)
from tests.scenarios.samples import BOARD_CHAIR

TOWN_PARTNER = "marie.lambert"
TOWN = {
    "legal_name": "Mairie de Bagnolet",
    "siret": "21930006000017",
    "legal_representative": "Marie Lambert",
    "representative_quality": "Adjointe au maire chargée des seniors",
    "mandate": "Arrêté de délégation du maire (CGCT L2122-18).",
}


@pytest.fixture
def orgs(method):
    """The map's organisations: ours (with the director's délégation, see add_people), the
    hospital and the town hall; the partner users belong to the hospital and to the town hall."""
    with method.read() as session:
        own = registry.delegation_of(session).id
    with method.uow() as uow:
        hospital = registry.create_organisation(uow, actor=DIRECTION, data={
            "name": HOSPITAL["legal_name"], "kind": "hospital"})
    with method.uow() as uow:
        town = registry.create_organisation(uow, actor=DIRECTION, data={
            "name": TOWN["legal_name"], "kind": "town_hall"})
    with method.uow() as uow:
        for username, org in ((PARTNER, hospital), (TOWN_PARTNER, town)):
            uow.session.scalar(select(User).where(User.username == username)).organisation_id = org
        uow.commit()
    return {"own": own, "hospital": hospital, "town": town}


def relationships(walk: Walk) -> list[Relationship]:
    with walk.pf.read() as session:
        return session.scalars(select(Relationship).where(Relationship.partnership_id == walk.pid)
                               .order_by(Relationship.partner_id)).all()


def signatures(walk: Walk) -> list[tuple[str, str, str]]:
    with walk.pf.read() as session:
        return [(s.username, s.full_name, s.document_sha256) for s in session.scalars(
            select(Signature).where(Signature.partnership_id == walk.pid).order_by(Signature.id))]


def day(moment) -> str | None:
    return registry.as_day(moment).isoformat() if moment else None


def completed_path(walk: Walk) -> list[str]:
    """The human tasks of the negotiation, in the order they were completed."""
    done = [e.element_id for e in walk.events("task_completed")]
    return done[done.index("fill_formalisation_inputs"):]


DRAFTS = ["write_draft", "comment_draft", "validate_draft"]
PATHS = {
    "L0": ["fill_formalisation_inputs", "record_network"],
    "L1": ["fill_formalisation_inputs", *DRAFTS, "hold_final_negotiation", "upload_letter_of_intent",
           "sign_letter_of_intent"],
    "L2": ["fill_formalisation_inputs", *DRAFTS, "hold_final_negotiation", "write_convention",
           "sign_convention_director", "sign_convention_partner"],
    "L3": ["fill_formalisation_inputs", *DRAFTS, "hold_final_negotiation", "write_convention",
           "deliberate_board", "sign_convention_legal_representative", "sign_convention_partner"],
    "L4": ["fill_formalisation_inputs", *DRAFTS, "hold_final_negotiation", "write_convention",
           "deliberate_board", "sign_convention_legal_representative", "sign_convention_partner",
           "record_authority_approval"],
}
# who signs for our organisation, and the variable the diagram keeps the signature in
OUR_SIGNATORY = {"L1": ("claire.martin", "director_signature"),
                 "L2": ("claire.martin", "director_signature"),
                 "L3": ("anne.roux", "legal_representative_signature"),
                 "L4": ("anne.roux", "legal_representative_signature")}


@pytest.mark.parametrize("level", ["L0", "L1", "L2", "L3", "L4"])
def test_each_level_takes_its_path_and_puts_on_the_map_what_it_concluded(method, clock, orgs, level):
    # an L0 network has no partner representative: its organisation is recorded on the
    # partnership; from L1 the partner's organisation is that of its attached representative
    if level == "L0":
        walk = Walk.propose(method, clock, partner=None, partner_organisations=(orgs["hospital"],))
    else:
        walk = Walk.propose(method, clock)
    walk.to_negotiation()
    walk.negotiate(level)
    assert completed_path(walk) == PATHS[level]
    assert walk.partnership().formalisation_level == level
    [decision] = walk.events("decision_evaluated")
    assert decision.payload["outputs"]["formalisation_level"] == level

    [rel] = relationships(walk)
    assert (rel.organisation_id, rel.partner_id, rel.formalisation_level, rel.archived) == (
        orgs["own"], orgs["hospital"], level, False)
    # the map changes once, in the step of the path's last task (the last signature; at L4
    # the authority's approval), whose completion the audit trail records after its effects
    order = [e.element_id if e.type == "task_completed" else "map"
             for e in walk.events("task_completed", "relationship_created")]
    assert order.count("map") == 1 and order[-2:] == ["map", PATHS[level][-1]]

    if level == "L0":
        assert (rel.kind, rel.agreement, rel.convention_start, rel.convention_document) == (
            "network", "oral", None, None)
        assert signatures(walk) == []
        # no draft, no action sheets, no steering group: the project ends, the network stays
        assert walk.tasks("write_draft", state=None) == []
        assert walk.open_elements() == [] and walk.main_instance().status == "completed"
        assert walk.partnership().status == "ended"
        assert not relationships(walk)[0].archived
        return

    if level == "L1":
        letter = walk.tasks("upload_letter_of_intent")[0].result
        assert (rel.kind, rel.agreement, day(rel.convention_start), rel.convention_end,
                rel.convention_document) == ("partnership", "written", letter["letter_date"], None,
                                             letter["letter_of_intent_document"])
        assert signatures(walk) == [("claire.martin", "Claire Martin", letter["letter_of_intent_document"])]
        # a light follow-up by the direction, no action sheets; closing it ends the partnership
        # and takes the relationship off the current map
        [follow_up] = walk.inbox(DIRECTION)
        assert follow_up.element_id == "follow_up_letter_of_intent"
        assert walk.inbox(DELEGATE) == [] and walk.inbox(STEERING) == []
        walk.follow_up("end")
        assert walk.tasks("write_action_sheets", state=None) == []
        assert walk.partnership().status == "ended" and walk.main_instance().status == "completed"
        assert [r.archived for r in relationships(walk)] == [True]
        return

    convention = walk.tasks("write_convention")[0].result
    [sheets] = walk.inbox(DELEGATE)
    assert sheets.element_id == "write_action_sheets" and sheets.context["formalisation_level"] == level
    signed = sheets.context["document_sha256"]
    assert (rel.kind, rel.agreement, day(rel.convention_start), day(rel.convention_end),
            rel.convention_document) == ("partnership", "written", convention["start_date"],
                                          convention["end_date"], signed)
    # the renewal is decided before the end, by the notice the convention gives (3 months)
    end = date.fromisoformat(convention["end_date"])
    assert convention["termination_notice_months"] == 3
    assert day(rel.renewal_date) == date(end.year - (end.month <= 3), (end.month - 4) % 12 + 1,
                                         end.day).isoformat()
    ours, variable = OUR_SIGNATORY[level]
    assert {s[0] for s in signatures(walk)} == {ours, PARTNER}
    assert {s[2] for s in signatures(walk)} == {signed}
    assert sheets.context[variable]["username"] == ours
    [hospital] = sheets.context["partner_parties"]
    assert (hospital["legal_name"], hospital["signature"]["full_name"]) == (
        HOSPITAL["legal_name"], "Paul Lefèvre")
    assert walk.partnership().stage == "action_sheets"
    walk.verify_audit()


def test_every_partner_party_signs_in_parallel_with_our_legal_representative(method, clock, orgs):
    walk = Walk.propose(method, clock, title="Parcours seniors du territoire")
    with method.uow() as uow:
        services.attach_member(uow, partnership_id=walk.pid, username=TOWN_PARTNER, actor=DIRECTION)
    walk.to_negotiation()
    walk.criteria("L3")
    walk.draft_rounds(1)
    walk.complete(DIRECTION, "hold_final_negotiation")
    parties = [dict(LES_TILLEULS, **BOARD_CHAIR), dict(HOSPITAL), dict(TOWN)]
    walk.complete(DELEGATE, "write_convention", parties=parties)
    walk.complete(BOARD, "deliberate_board", "approve")

    # one signature task per party, all open at once: ours and one per partner organisation
    assert walk.open_elements() == ["sign_convention_legal_representative", "sign_convention_partner",
                                    "sign_convention_partner"]
    partner_tasks = {t.context["signing_party_name"]: t for t in walk.inbox(PARTNER)}
    assert {t.title for t in partner_tasks.values()} == {
        "Signer la convention pour Centre hospitalier de Montreuil",
        "Signer la convention pour Mairie de Bagnolet"}
    assert sorted(t.id for t in walk.inbox(TOWN_PARTNER)) == sorted(t.id for t in partner_tasks.values())
    [ours] = walk.inbox(BOARD)
    assert ours.context["signing_party_name"] == LES_TILLEULS["legal_name"]
    assert walk.inbox(DIRECTION) == []  # from L3 the legal representative signs, not the direction

    # the partners sign first; ours is still open, nothing reached the map yet
    walk.complete(PARTNER, "sign_convention_partner", task_id=partner_tasks[HOSPITAL["legal_name"]].id)
    walk.complete(TOWN_PARTNER, "sign_convention_partner", task_id=partner_tasks[TOWN["legal_name"]].id,
                  signatory_full_name="Marie Lambert", signatory_quality="Adjointe au maire")
    assert walk.open_elements() == ["sign_convention_legal_representative"]
    assert relationships(walk) == []
    walk.complete(BOARD, "sign_convention_legal_representative")

    [sheets] = walk.inbox(DELEGATE)
    signed = sheets.context["document_sha256"]
    assert [(p["legal_name"], p["signature"]["username"], p["signature"]["document_sha256"])
            for p in sheets.context["partner_parties"]] == [
        (HOSPITAL["legal_name"], PARTNER, signed), (TOWN["legal_name"], TOWN_PARTNER, signed)]
    assert sheets.context["legal_representative_signature"]["full_name"] == "Anne Roux"
    assert [(s[0], s[1]) for s in signatures(walk)] == [
        (PARTNER, "Paul Lefèvre"), (TOWN_PARTNER, "Marie Lambert"), (BOARD, "Anne Roux")]
    # each partner organisation is on the map, at L3
    assert [(r.partner_id, r.kind, r.formalisation_level) for r in relationships(walk)] == [
        (orgs["hospital"], "partnership", "L3"), (orgs["town"], "partnership", "L3")]
    walk.verify_audit()


def test_the_criteria_are_asked_again_when_the_final_negotiation_changed_the_commitments(
        method, clock, orgs):
    walk = Walk.propose(method, clock)
    walk.to_negotiation()
    walk.criteria("L2")
    walk.draft_rounds(1)
    walk.complete(DIRECTION, "hold_final_negotiation", commitments_changed=True)
    again = walk.task(DIRECTION, "reassess_formalisation_inputs")
    assert again.form_key == "formalisation_inputs"
    # the earlier answers are shown above the same form
    with method.read() as session:
        who = access.actor(session, DIRECTION)
        shown = views.task_sections(session, method.forms, again, who, views.shows_of(method.forms, again))
    [earlier] = [s for s in shown if s.element_id == "fill_formalisation_inputs"]
    assert earlier.latest
    # the final version adds a night nurse shared over three years: L3 now
    walk.criteria(element_id="reassess_formalisation_inputs", **LEVEL_CASES["L3"])
    assert [e.payload["outputs"]["formalisation_level"] for e in walk.events("decision_evaluated")] == [
        "L2", "L3"]
    assert [e.payload["changes"]["formalisation_level"] for e in walk.events("partnership_updated")] == [
        [None, "L2"], ["L2", "L3"]]
    assert walk.partnership().formalisation_level == "L3"
    walk.complete(DELEGATE, "write_convention")
    assert walk.open_elements() == ["deliberate_board"]  # the new level's path


def test_unchanged_commitments_keep_the_level_decided_at_the_start(method, clock):
    walk = Walk.propose(method, clock)
    walk.to_negotiation()
    walk.criteria("L3")
    walk.draft_rounds(1)
    walk.complete(DIRECTION, "hold_final_negotiation")  # commitments_changed: no
    assert walk.open_elements() == ["write_convention"]
    assert len(walk.events("decision_evaluated")) == 1
    assert walk.tasks("reassess_formalisation_inputs", state=None) == []


def test_an_absent_direction_is_recorded_with_its_reason_and_its_representative(method, clock):
    walk = Walk.propose(method, clock)
    walk.to_negotiation()
    walk.criteria("L2")
    walk.draft_rounds(1)
    task = walk.task(DIRECTION, "hold_final_negotiation")
    assert task.context["formalisation_level"] == "L2"  # shown as prepared, decided earlier
    data = dict(walk.samples.hold_final_negotiation(), direction_present=False)
    with pytest.raises(FormValidationError) as refused, method.uow() as uow:
        services.complete_task(uow, task_id=task.id, actor=DIRECTION, data=data)
    assert {"direction_absence_reason", "direction_representative_name",
            "direction_representative_quality"} <= set(refused.value.errors)
    walk.complete(DIRECTION, "hold_final_negotiation", "absent")
    [held] = walk.tasks("hold_final_negotiation")
    assert (held.result["direction_present"], held.result["direction_representative_name"],
            held.result["direction_representative_quality"]) == (
        False, "Julie Garnier", "Directrice adjointe, par délégation du 2 janvier 2026")
    assert held.result["direction_absence_reason"].startswith("Conseil de la vie sociale")
    assert walk.open_elements() == ["write_convention"]


def test_the_end_of_a_partnership_takes_its_relationships_off_the_current_map(method, clock, orgs):
    walk = Walk.propose(method, clock)
    walk.to_final_evaluation("L2")
    [rel] = relationships(walk)
    assert not rel.archived
    walk.complete(STEERING, "evaluate_final", "end")
    [rel] = relationships(walk)
    assert rel.archived and rel.formalisation_level == "L2"  # kept, archived, never deleted
    [event] = [e for e in walk.events("relationship_updated")
               if e.payload.get("from_task") == "remove_from_map"]
    assert event.payload["decision"] == "end"
    assert walk.partnership().status == "ended"
    walk.verify_audit()


def test_a_convention_signed_with_a_partner_not_on_the_map_draws_it_from_its_parties(method, clock):
    # no partner organisation on the map, none recorded, the partner's user has none
    walk = Walk.propose(method, clock)
    walk.to_final_evaluation("L2")
    [rel] = relationships(walk)
    with method.read() as session:
        hospital = session.get(Organisation, rel.partner_id)
        own = session.scalar(select(Organisation).where(Organisation.is_own.is_(True)))
        linked = queries.partnership_organisations(session, walk.pid)
    # the convention's partner party, with its identifiers; our own party is not a partner
    assert (hospital.name, hospital.siret, hospital.finess, hospital.is_own) == (
        HOSPITAL["legal_name"], HOSPITAL["siret"], HOSPITAL["finess"], False)
    assert "Paul Lefèvre" in hospital.contacts
    assert (rel.organisation_id, rel.kind, rel.formalisation_level, rel.agreement) == (
        own.id, "partnership", "L2", "written")
    assert [o.id for o in linked] == [hospital.id]
    [added] = walk.events("partnership_organisation_added")
    assert (added.element_id, added.payload["matched_by"], added.payload["from_task"]) == (
        None, "created", "update_map")
    with method.read() as session:  # added in the map's own chain, linked in the partnership's
        [created] = session.scalars(select(AuditEvent).where(
            AuditEvent.type == "organisation_created", AuditEvent.partnership_id.is_(None),
            AuditEvent.payload["source"].as_string() == "process")).all()
    assert created.payload["partnership_id"] == walk.pid
    assert created.payload["organisation_id"] == hospital.id
    walk.complete(STEERING, "evaluate_final", "end")
    assert walk.partnership().status == "ended" and walk.main_instance().status == "completed"
    assert [r.archived for r in relationships(walk)] == [True]
    walk.verify_audit()


def test_a_party_already_on_the_map_is_found_by_its_siret_whatever_its_name(method, clock):
    with method.uow() as uow:
        known = registry.create_organisation(uow, actor=DIRECTION, data={
            "name": "CH Montreuil", "kind": "hospital", "siret": HOSPITAL["siret"]})
    walk = Walk.propose(method, clock)
    walk.to_negotiation()
    walk.negotiate("L2")
    [rel] = relationships(walk)
    assert rel.partner_id == known
    [added] = walk.events("partnership_organisation_added")
    assert added.payload["matched_by"] == "siret"
    with method.read() as session:  # nothing added to the map
        assert session.scalars(select(Organisation.name).where(
            Organisation.is_own.is_(False))).all() == ["CH Montreuil"]


def test_a_network_recorded_at_l0_draws_its_members_when_the_partnership_names_no_partner(
        method, clock):
    walk = Walk.propose(method, clock, partner=None)
    walk.to_negotiation()
    walk.negotiate("L0")
    [rel] = relationships(walk)
    with method.read() as session:
        member = session.get(Organisation, rel.partner_id)
    assert member.name == "CLIC de Montreuil" and "Mme Leroy" in member.contacts
    assert (rel.kind, rel.formalisation_level, rel.agreement) == ("network", "L0", "oral")
    assert walk.main_instance().status == "completed"


def test_a_letter_of_intent_with_no_partner_known_stops_on_an_incident_until_one_is_named(
        method, clock):
    walk = Walk.propose(method, clock)  # the partner's user has no organisation
    walk.to_negotiation()
    walk.criteria("L1")
    walk.draft_rounds(1)
    walk.complete(DIRECTION, "hold_final_negotiation")
    walk.complete(DELEGATE, "upload_letter_of_intent")
    task = walk.task(DIRECTION, "sign_letter_of_intent")
    with method.uow() as uow:
        done = services.complete_task(uow, task_id=task.id, actor=DIRECTION, password="demo",
                                      data=walk.samples.data("sign_letter_of_intent", None, task.context))
    assert done.instance_status == "error" and done.error_element == "update_map_letter"
    assert "aucune organisation partenaire n'est connue pour ce partenariat" in done.error
    assert "rattachez l'organisation partenaire au partenariat" in done.error
    assert relationships(walk) == []

    with method.uow() as uow:
        hospital = registry.create_organisation(uow, actor=DIRECTION, data={
            "name": HOSPITAL["legal_name"], "kind": "hospital"})
    with method.uow() as uow:
        registry.link_partner_organisation(uow, partnership_id=walk.pid, organisation_id=hospital,
                                           actor=DIRECTION)
    admin = make_user(method, "ines.garcia", "admin")
    with method.uow() as uow:  # the administrator retries, from the incidents
        services.retry_instance(uow, instance_id=walk.main_instance_id, actor=admin)
    [rel] = relationships(walk)
    assert (rel.partner_id, rel.formalisation_level) == (hospital, "L1")
    assert walk.task(DIRECTION, "follow_up_letter_of_intent")
    walk.verify_audit()


@pytest.mark.parametrize("decision", ["renew", "end"])
def test_a_renewal_decision_reaches_the_relationship_the_signed_convention_drew(
        method, clock, orgs, decision):
    walk = Walk.propose(method, clock)
    walk.to_negotiation()
    walk.negotiate("L2")
    [rel] = relationships(walk)
    renewal = registry.as_day(rel.renewal_date)
    with method.uow() as uow:
        assert reminders.start_due_reminders(uow) == []  # not due yet
    clock.advance(days=(renewal - clock().date()).days - 60)
    with method.uow() as uow:
        [reminder] = reminders.start_due_reminders(uow)
    assert (reminder.relationship_id, reminder.partnership_id, reminder.due) == (rel.id, walk.pid, renewal)
    [task] = [t for t in walk.inbox(DIRECTION) if t.element_id == "prepare_convention_renewal"]
    assert task.context["relationship_id"] == rel.id
    new_end = date(renewal.year + 2, renewal.month, 1).isoformat()
    walk.complete(DIRECTION, "prepare_convention_renewal", task_id=task.id,
                  data={"renewal_decision": decision, "new_convention_end": new_end})
    [rel] = relationships(walk)
    if decision == "renew":
        assert (day(rel.convention_end), rel.renewal_date, rel.archived) == (new_end, None, False)
    else:
        assert rel.archived
    walk.verify_audit()
