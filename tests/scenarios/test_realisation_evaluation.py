"""La réalisation and l'évaluation: one plan, rolling programmes of new instances, the
evaluation timers on the engine's clock, and every final decision."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from partnerflow.engine.config import as_utc
from tests.scenarios.method import DELEGATE, DIRECTION, PARTNER, STEERING, Walk


def test_one_plan_is_recorded_evaluated_sheet_by_sheet_and_ended(method, clock):
    walk = Walk.propose(method, clock)
    walk.to_negotiation()
    walk.negotiate("L2")
    sheets = [walk.samples.action_sheet(1, -30, -10), walk.samples.action_sheet(2, -20, -5)]
    walk.write_sheets("single_plan", sheets, send_back=1)
    assert [t.result["action_sheets_decision"] for t in walk.tasks("validate_action_sheets")] == [
        "send_back",
        "validate",
    ]
    [record] = walk.inbox(STEERING)
    assert record.element_id == "record_realisation" and record.context["realisation_mode"] == "single_plan"
    walk.complete(STEERING, "record_realisation")
    # both dates are past: their timers fire as soon as the engine reaches them
    evaluations = walk.inbox(STEERING)
    assert sorted(t.context["evaluated_sheet_number"] for t in evaluations) == [1, 2]
    for task in evaluations:
        assert [r["target"] for r in task.context["indicator_values"]] == ["8 par séance", "6 par an"]
        walk.complete(STEERING, "evaluate_intermediate", task_id=task.id)
    assert walk.fire_timers() == 0
    # the partner gives its own evaluation first; the committee concludes seeing it
    assert walk.inbox_elements(STEERING) == [] and walk.inbox_elements(PARTNER) == [
        "partner_final_evaluation"]
    walk.complete(PARTNER, "partner_final_evaluation")
    [final] = walk.inbox(STEERING)
    assert final.element_id == "evaluate_final"
    assert final.context["partner_wish"] == "continue"
    assert [len(s["intermediate_evaluations"]) for s in final.context["action_sheets"]] == [1, 1]
    assert len(final.context["indicator_values"]) == 4  # two indicators per sheet
    walk.complete(STEERING, "evaluate_final", "end")
    assert walk.partnership().status == "ended"
    assert walk.main_instance().status == "completed"
    assert walk.open_elements() == []
    walk.verify_audit()


@pytest.mark.slow
def test_five_rolling_periods_are_five_new_small_instances_chained_to_each_other(method, clock):
    walk = Walk.propose(method, clock, title="Ateliers mémoire avec la mairie de Bagnolet")
    walk.to_negotiation()
    walk.negotiate("L2")
    walk.write_sheets("rolling", [walk.samples.action_sheet(1, 60, 450)])
    main = walk.main_instance()
    assert main.waiting_messages == ["rolling_programme_finished"]
    main_rows = []
    start = clock().date()
    for n in range(1, 6):
        main_rows.append(walk.workflow_task_rows(main.id))
        [plan] = walk.inbox(DELEGATE)
        assert plan.element_id == "plan_period" and plan.context["period_number"] == n
        period_start = start + timedelta(days=90 * (n - 1))
        period_end = period_start + timedelta(days=89)
        walk.complete(
            DELEGATE,
            "plan_period",
            period_start_date=period_start.isoformat(),
            period_end_date=period_end.isoformat(),
        )
        walk.complete(STEERING, "record_period_realisation")
        [review] = walk.inbox(STEERING)
        assert as_utc(review.due_at).date() == period_end  # camunda:dueDate="${period_end_date}"
        clock.set(datetime.combine(period_end, time(9)))
        walk.complete(STEERING, "review_period", "yes" if n < 5 else "no")
    instances = walk.instances()
    periods = [i for i in instances if i.process_key == "programme_period"]
    assert [i.status for i in periods] == ["completed"] * 5
    assert [i.label.rsplit(" ", 1)[-1] for i in periods] == ["1", "2", "3", "4", "5"]
    assert periods[0].parent_instance_id == main.id
    assert [p.parent_instance_id for p in periods[1:]] == [p.id for p in periods[:-1]]
    sizes = [walk.workflow_task_rows(p.id) for p in periods]
    assert sizes[4] == sizes[0], sizes  # a period's instance does not grow with the programme
    walk.complete(PARTNER, "partner_final_evaluation")
    [final] = walk.inbox(STEERING)
    assert final.element_id == "evaluate_final" and final.instance_id == main.id
    assert final.context["rolling_programme_result"]["periods_completed"] == 5
    assert len(set(main_rows)) == 1, main_rows  # the main instance just waited meanwhile
    walk.complete(STEERING, "evaluate_final", "end")
    assert walk.partnership().status == "ended"
    walk.verify_audit()


def test_intermediate_evaluations_open_on_their_dates_on_the_engine_clock_and_not_before(method, clock):
    walk = Walk.propose(method, clock)
    walk.to_negotiation()
    walk.negotiate("L2")
    walk.write_sheets(
        "single_plan", [walk.samples.action_sheet(1, 30, 90), walk.samples.action_sheet(2, 45, 120)]
    )
    walk.complete(STEERING, "record_realisation")
    today = clock().date()
    first, second = today + timedelta(days=30), today + timedelta(days=45)
    assert walk.fire_timers() == 0 and walk.open_elements() == []
    assert as_utc(walk.main_instance().next_timer_at).date() == first

    clock.set(datetime.combine(first - timedelta(days=1), time(9)))
    walk.fire_timers()
    assert walk.open_elements() == []
    clock.set(datetime.combine(first, time(9)))
    assert walk.fire_timers() == 1
    [task] = walk.inbox(STEERING)
    assert task.context["evaluated_sheet_number"] == 1
    assert task.context["evaluated_sheet_title"] == "Consultation gériatrique avancée n° 1"
    walk.complete(STEERING, "evaluate_intermediate")
    assert walk.open_elements() == []

    clock.set(datetime.combine(second - timedelta(days=1), time(9)))
    walk.fire_timers()
    assert walk.open_elements() == []
    clock.set(datetime.combine(second, time(9)))
    assert walk.fire_timers() == 1
    [task] = walk.inbox(STEERING)
    assert task.context["evaluated_sheet_number"] == 2
    walk.complete(STEERING, "evaluate_intermediate")

    last_final = today + timedelta(days=120)  # the final evaluation waits for the latest date
    assert as_utc(walk.main_instance().next_timer_at).date() == last_final
    clock.set(datetime.combine(today + timedelta(days=100), time(9)))
    walk.fire_timers()
    assert walk.open_elements() == []
    clock.set(datetime.combine(last_final, time(9)))
    assert walk.fire_timers() == 1
    assert walk.inbox_elements(PARTNER) == ["partner_final_evaluation"]
    walk.complete(PARTNER, "partner_final_evaluation")
    assert walk.inbox_elements(STEERING) == ["evaluate_final"]
    assert [e.element_id for e in walk.events("timer_fired")].count("wait_intermediate_evaluation_date") == 2
    walk.verify_audit()


@pytest.mark.slow
@pytest.mark.parametrize("decision", ["continue", "adjust"])
def test_continue_and_adjust_go_back_to_the_action_sheets_with_their_history(method, clock, decision):
    walk = Walk.propose(method, clock)
    walk.to_final_evaluation()
    walk.complete(STEERING, "evaluate_final", decision)
    [sheets] = walk.inbox(DELEGATE)
    assert sheets.element_id == "write_action_sheets"
    assert sheets.context["final_decision"] == decision
    [previous] = sheets.context["action_sheets"]
    assert len(previous["intermediate_evaluations"]) == 1
    if decision == "continue":  # the same sheet with new dates
        again = dict(
            previous,
            intermediate_evaluation_date=walk.samples.day(-3),
            final_evaluation_date=walk.samples.day(-1),
        )
    else:  # changed sheets
        again = dict(walk.samples.action_sheet(1, -3, -1), title="Consultations et téléexpertise")
    walk.write_sheets("single_plan", [again])
    walk.complete(STEERING, "record_realisation")
    walk.complete(STEERING, "evaluate_intermediate")
    walk.complete(PARTNER, "partner_final_evaluation")
    [final] = walk.inbox(STEERING)
    history = final.context["action_sheets"][0]["intermediate_evaluations"]
    assert len(history) == (2 if decision == "continue" else 1)
    walk.complete(STEERING, "evaluate_final", "end")
    assert walk.partnership().status == "ended"
    walk.verify_audit()


@pytest.mark.slow
def test_reformalise_goes_back_to_the_negotiation_with_the_next_draft_version(method, clock):
    walk = Walk.propose(method, clock)
    walk.to_final_evaluation(level="L2")
    assert walk.partnership().formalisation_level == "L2"
    walk.complete(STEERING, "evaluate_final", "reformalise")
    # the negotiation opens again with its criteria, then the next draft version
    assert walk.open_elements() == ["fill_formalisation_inputs"]
    assert walk.tasks("write_mission_letter", state=None)[0].state == "completed"
    walk.criteria("L3")
    [draft] = walk.inbox(DELEGATE)
    assert draft.element_id == "write_draft" and draft.context["draft_version"] == 2
    walk.renegotiate("L3")
    assert walk.partnership().formalisation_level == "L3"
    assert walk.inbox_elements(DELEGATE) == ["write_action_sheets"]
    walk.verify_audit()


@pytest.mark.slow
def test_renew_opens_a_new_cycle_at_the_elaboration_with_a_new_mission_letter(method, clock):
    walk = Walk.propose(method, clock)
    walk.to_final_evaluation()
    walk.complete(STEERING, "evaluate_final", "renew")
    [letter] = walk.inbox(DIRECTION)
    assert letter.element_id == "write_mission_letter" and letter.context["cycle_number"] == 2
    assert walk.tasks("validate_idea", state=None)[0].state == "completed"  # not validated again
    walk.complete(DIRECTION, "write_mission_letter", delegate="sophie.durand")
    walk.complete(PARTNER, "partner_states_interests")  # each new cycle hears the partner again
    walk.complete("sophie.durand", "elaborate_partnership")  # the new cycle's delegate
    walk.complete(DIRECTION, "validate_elaboration", "validate")
    walk.criteria("L2")
    assert walk.inbox_elements("sophie.durand") == ["write_draft"]
    assert walk.inbox(DELEGATE) == []
    assert walk.main_instance().status == "running"
    walk.verify_audit()


def test_end_closes_the_partnership_and_leaves_nothing_open(method, clock):
    walk = Walk.propose(method, clock)
    walk.to_final_evaluation()
    walk.complete(STEERING, "evaluate_final", "end")
    partnership = walk.partnership()
    assert partnership.status == "ended" and partnership.formalisation_level == "L2"
    assert walk.main_instance().status == "completed"
    assert walk.open_elements() == []
    for user in (DIRECTION, DELEGATE, STEERING, PARTNER):
        assert walk.inbox(user) == []
    [final] = walk.tasks("evaluate_final")
    assert final.result["final_decision"] == "end"
    assert [e.type for e in walk.events("instance_completed")] == ["instance_completed"]
    walk.verify_audit()
