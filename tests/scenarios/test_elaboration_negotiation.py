"""L'élaboration and la négociation: send-backs, draft rounds, the board's and the
authority's refusals, and partner users who only see their own partnership. Each level's
path is walked in test_negotiation_paths.py."""

from __future__ import annotations

import pytest

from partnerflow.engine.errors import Forbidden
from partnerflow.engine.runtime import services
from tests.scenarios.method import DELEGATE, DIRECTION, PARTNER, STEERING, Walk


def test_an_elaboration_sent_back_returns_to_the_delegate_named_in_the_mission_letter(method, clock):
    walk = Walk.propose(method, clock)
    walk.accept_idea()
    walk.complete(DIRECTION, "write_mission_letter")
    [elaboration] = walk.inbox(DELEGATE)
    assert (elaboration.element_id, elaboration.assignee) == ("elaborate_partnership", DELEGATE)
    # the partner states its own interests in parallel; the direction waits for both
    assert walk.inbox_elements(PARTNER) == ["partner_states_interests"]
    walk.complete(DELEGATE, "elaborate_partnership", proposed_orientation="Une consultation par trimestre.")
    assert walk.inbox_elements(DIRECTION) == []
    walk.complete(PARTNER, "partner_states_interests")
    walk.complete(DIRECTION, "validate_elaboration", "send_back")
    [again] = walk.inbox(DELEGATE)
    assert again.element_id == "rework_elaboration" and again.id != elaboration.id
    assert again.context["elaboration_validation_comment"].startswith("Préciser")
    assert again.context["proposed_orientation"] == "Une consultation par trimestre."
    assert again.context["partner_decision_process"].startswith("Le directoire")
    assert walk.inbox_elements(PARTNER) == []  # the partner is not asked again
    walk.complete(DELEGATE, "rework_elaboration")
    walk.complete(DIRECTION, "validate_elaboration", "validate")
    # the negotiation opens with the formalisation criteria: they shape what is drafted
    assert walk.open_elements() == ["fill_formalisation_inputs"]
    assert walk.partnership().stage == "negotiation"
    walk.criteria("L2")
    assert walk.inbox_elements(DELEGATE) == ["write_draft"]
    walk.verify_audit()


def test_three_draft_rounds_number_every_version_and_keep_each_one(method, clock):
    walk = Walk.propose(method, clock)
    walk.to_negotiation()
    walk.criteria("L2")
    walk.draft_rounds(3)
    drafts = walk.tasks("write_draft")
    assert [t.context["draft_version"] for t in drafts] == [1, 2, 3]
    assert [t.result["draft_modalities"].split(" :")[0] for t in drafts] == [
        "Version 1",
        "Version 2",
        "Version 3",
    ]
    assert [t.context["draft_version"] for t in walk.tasks("comment_draft")] == [1, 2, 3]
    # the inbox names the version being worked on
    assert [t.title for t in walk.tasks("comment_draft")] == [
        "Commenter la version 1", "Commenter la version 2", "Commenter la version 3"]
    decisions = [t.result["draft_decision"] for t in walk.tasks("validate_draft")]
    assert decisions == ["new_version", "new_version", "validate"]
    [final] = walk.inbox(DIRECTION)
    assert final.element_id == "hold_final_negotiation" and final.context["draft_version"] == 3
    assert final.context["formalisation_level"] == "L2"  # decided before the drafts
    completed = [
        e.payload["data"]["draft_modalities"]
        for e in walk.events("task_completed")
        if e.element_id == "write_draft"
    ]
    assert len(completed) == 3 and len(set(completed)) == 3  # the audit trail keeps every version
    walk.verify_audit()


def test_a_board_refusal_sends_the_convention_back_to_a_new_draft_version(method, clock):
    walk = Walk.propose(method, clock)
    walk.to_negotiation()
    walk.negotiate("L3", board="refuse")
    [draft] = walk.inbox(DELEGATE)
    assert draft.element_id == "write_draft" and draft.context["draft_version"] == 2
    assert draft.context["board_refusal_reasons"].startswith("Engagement financier")
    assert walk.tasks("sign_convention_legal_representative") == []
    assert walk.tasks("sign_convention_partner", state=None) == []
    walk.renegotiate("L3", board="approve")  # the criteria are not asked again
    assert len(walk.tasks("fill_formalisation_inputs")) == 1
    assert [t.result["board_decision"] for t in walk.tasks("deliberate_board")] == ["refuse", "approve"]
    assert [t.context["draft_version"] for t in walk.tasks("write_draft")] == [1, 2]
    assert walk.inbox_elements(DELEGATE) == ["write_action_sheets"]
    walk.verify_audit()


def test_an_authority_refusal_also_sends_the_convention_back_to_a_new_draft_version(method, clock):
    walk = Walk.propose(method, clock)
    walk.to_negotiation()
    walk.negotiate("L4", authority="refused")
    [draft] = walk.inbox(DELEGATE)
    assert draft.element_id == "write_draft" and draft.context["draft_version"] == 2
    walk.renegotiate("L4", authority="approved")
    assert walk.inbox_elements(DELEGATE) == ["write_action_sheets"]
    assert walk.partnership().formalisation_level == "L4"
    walk.verify_audit()


def test_a_partner_user_only_ever_gets_the_tasks_of_their_own_partnership(method, clock):
    hospital = Walk.propose(
        method, clock, title="Consultations avancées du centre hospitalier à l'EHPAD", partner=PARTNER
    )
    town = Walk.propose(
        method, clock, title="Ateliers mémoire avec la mairie de Bagnolet", partner="marie.lambert"
    )
    for walk in (hospital, town):
        walk.to_negotiation()
        walk.criteria("L2")
        walk.complete(DELEGATE, "write_draft")
    assert hospital.inbox_elements(PARTNER) == ["comment_draft"]
    assert town.inbox_elements(PARTNER) == []
    assert town.inbox_elements("marie.lambert") == ["comment_draft"]
    assert hospital.inbox_elements("marie.lambert") == []
    with method.read() as session:
        from partnerflow.engine.runtime import queries

        everything = queries.inbox(session, PARTNER, clock())
        assert {row.partnership_id for row in everything} == {hospital.pid}
        assert queries.inbox_count(session, PARTNER) == 1
        assert queries.inbox_count(session, "marie.lambert") == 1
    foreign = town.task("marie.lambert", "comment_draft")
    for action in (services.claim_task,):
        with pytest.raises(Forbidden), method.uow() as uow:
            action(uow, task_id=foreign.id, actor=PARTNER)
    with pytest.raises(Forbidden), method.uow() as uow:
        services.complete_task(uow, task_id=foreign.id, actor=PARTNER, data=town.samples.comment_draft())
    hospital.complete(PARTNER, "comment_draft")
    town.complete("marie.lambert", "comment_draft")
    # staff see both partnerships' work; a partner never sees the steering's or the board's
    assert hospital.inbox_elements(DIRECTION) == ["validate_draft"]
    assert town.inbox_elements(DIRECTION) == ["validate_draft"]
    assert hospital.inbox_elements(STEERING) == [] and hospital.inbox_elements(PARTNER) == []
    hospital.verify_audit()
