"""L'idée première: declined, sent back, and the validation's reminder and escalation timers."""

from __future__ import annotations

from partnerflow.engine.config import as_utc
from tests.scenarios.method import DIRECTION, PROPOSER, Walk


def test_a_declined_idea_ends_the_cycle_and_archives_the_partnership_without_deleting_it(method, clock):
    walk = Walk.propose(method, clock, title="Atelier cuisine avec la Mairie de Bagnolet")
    [validation] = walk.inbox(DIRECTION)
    assert validation.element_id == "validate_idea"
    assert (as_utc(validation.due_at) - clock.now).days == 5
    walk.complete(DIRECTION, "validate_idea", "decline")
    partnership = walk.partnership()
    assert partnership is not None and partnership.status == "archived"
    assert walk.main_instance().status == "completed"
    assert walk.open_elements() == []
    ran = {e.element_id for e in walk.events("script_ran")}
    assert {"archive_idea"} <= ran and "record_idea_acceptance" not in ran
    [decided] = walk.tasks("validate_idea")
    assert decided.result["idea_decision"] == "decline" and decided.completed_by == DIRECTION
    walk.verify_audit()


def test_an_idea_sent_back_twice_goes_to_its_author_each_time_then_is_accepted(method, clock):
    walk = Walk.propose(method, clock)
    for round_ in (1, 2):
        walk.complete(DIRECTION, "validate_idea", "more_info")
        assert walk.inbox(DIRECTION) == []
        [completion] = walk.inbox(PROPOSER)
        assert (completion.element_id, completion.assignee) == ("complete_idea", PROPOSER)
        assert completion.context["idea_validation_comment"].startswith("Qui prescrit")
        walk.complete(
            PROPOSER, "complete_idea", idea_completion_note=f"Réponse n° {round_} : sans coût pour l'EHPAD."
        )
    walk.accept_idea()
    assert walk.inbox_elements(DIRECTION) == ["write_mission_letter"]
    assert len(walk.tasks("validate_idea")) == 3
    notes = [t.result["idea_completion_note"] for t in walk.tasks("complete_idea")]
    assert notes == ["Réponse n° 1 : sans coût pour l'EHPAD.", "Réponse n° 2 : sans coût pour l'EHPAD."]
    assert walk.partnership().stage == "elaboration"
    walk.verify_audit()


def test_an_idea_left_undecided_is_reminded_after_three_days_then_escalated_after_seven(method, clock):
    walk = Walk.propose(method, clock)
    assert walk.fire_timers() == 0
    clock.advance(days=2, hours=23)
    assert walk.fire_timers() == 0
    assert walk.events("timer_fired") == []
    clock.advance(hours=1, minutes=1)
    assert walk.fire_timers() == 1
    fired = [e.element_id for e in walk.events("timer_fired")]
    assert fired == ["remind_idea_validation"]
    assert "send_validation_reminder" in {e.element_id for e in walk.events("connector_ran")}
    assert walk.inbox_elements(DIRECTION) == ["validate_idea"]  # non-interrupting
    clock.advance(days=3, hours=23)
    assert walk.fire_timers() == 0
    clock.advance(hours=1)
    assert walk.fire_timers() == 1
    fired = [e.element_id for e in walk.events("timer_fired")]
    assert fired == ["remind_idea_validation", "escalate_idea_validation"]
    assert "record_validation_escalation" in {e.element_id for e in walk.events("connector_ran")}
    [validation] = walk.inbox(DIRECTION)
    assert validation.element_id == "validate_idea" and as_utc(validation.due_at) < clock.now
    walk.accept_idea()
    assert walk.inbox_elements(DIRECTION) == ["write_mission_letter"]
    clock.advance(days=30)
    assert walk.fire_timers() == 0  # the decided validation's timers are gone
    walk.verify_audit()
