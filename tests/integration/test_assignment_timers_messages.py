"""Assignment conventions, timers on the engine's clock, and messages between instances."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from partnerflow.engine.config import as_utc
from partnerflow.engine.errors import FormValidationError
from partnerflow.engine.runtime import services
from partnerflow.engine.store.models import HumanTask, ProcessInstance
from tests.conftest import FIXTURES, deploy, make_user


def _open(pf, **where):
    with pf.read() as session:
        query = select(HumanTask).where(HumanTask.state == "open")
        for key, value in where.items():
            query = query.where(getattr(HumanTask, key) == value)
        return session.scalars(query.order_by(HumanTask.id)).all()


def _complete(pf, task_id, actor, data):
    with pf.uow() as uow:
        return services.complete_task(uow, task_id=task_id, actor=actor, data=data)


@pytest.fixture
def people(fixture_pf):
    for name, role in [("claire", "direction"), ("karim", "professional"), ("anne", "board"),
                       ("lucas", "steering"), ("ines", "admin")]:
        make_user(fixture_pf, name, role)
    with fixture_pf.uow() as uow:
        pid = services.create_partnership(uow, title="Hôpital et EHPAD", actor="claire")
    return fixture_pf, pid


def test_delegate_lane_variable_assignee_inline_form_and_due_dates(people, clock):
    pf, pid = people
    deploy(pf, [FIXTURES / "assignment_timers.bpmn"])
    with pf.uow() as uow:
        services.start_instance(uow, partnership_id=pid, process_key="assignment_timers",
                                actor="claire", data={"delegate": "karim", "reviewer": "claire",
                                                      "review_deadline": "2026-03-20"})
    [task] = _open(pf)
    assert (task.role, task.assignee) == ("delegate", "karim")
    _complete(pf, task.id, "karim", {"decision": "done"})
    [task] = _open(pf)
    assert task.assignee == "claire" and task.form_key is None
    assert as_utc(task.due_at).date().isoformat() == "2026-03-20"
    with pytest.raises(FormValidationError) as error:
        _complete(pf, task.id, "claire", {"approved": "on"})
    assert "reason" in error.value.errors
    _complete(pf, task.id, "claire", {"approved": "on", "reason": "conforme"})
    [task] = _open(pf)
    # candidate groups say who is offered the task; its lane still names the role shown
    assert (task.candidate_groups, task.role, task.assignee) == ("board", "direction", None)
    assert (as_utc(task.due_at) - clock.now).days == 5


def test_boundary_timers_fire_on_the_engine_clock_reminder_then_escalation(people, clock):
    pf, pid = people
    deploy(pf, [FIXTURES / "assignment_timers.bpmn"])
    with pf.uow() as uow:
        iid = services.start_instance(uow, partnership_id=pid, process_key="assignment_timers",
                                      actor="claire", data={"delegate": "karim", "reviewer": "claire",
                                                            "review_deadline": "2026-03-20"})
    _complete(pf, _open(pf)[0].id, "karim", {"decision": "done"})
    _complete(pf, _open(pf)[0].id, "claire", {"reason": "ok"})
    [deliberate] = _open(pf)
    with pf.uow() as uow:
        assert services.fire_due_timers(uow) == 0
    with pf.read() as session:
        due = as_utc(session.get(ProcessInstance, iid).next_timer_at)
    assert (due - clock.now).days == 3
    clock.advance(days=3, minutes=1)
    with pf.uow() as uow:
        assert services.fire_due_timers(uow) == 1
    assert [t.element_id for t in _open(pf)] == ["deliberate"]  # non-interrupting reminder
    with pf.read() as session:  # the next timer is the escalation's, not the one that fired
        due = as_utc(session.get(ProcessInstance, iid).next_timer_at)
    assert clock.now < due <= clock.now + timedelta(days=4)
    clock.advance(days=4)
    with pf.uow() as uow:
        assert services.fire_due_timers(uow) == 1
    open_tasks = _open(pf)
    assert [t.element_id for t in open_tasks] == ["escalate"]
    with pf.read() as session:
        assert session.get(HumanTask, deliberate.id).state == "cancelled"
    _complete(pf, open_tasks[0].id, "claire", {"decision": "done"})
    with pf.read() as session:
        instance = session.get(ProcessInstance, iid)
        assert (instance.status, instance.next_timer_at) == ("completed", None)


def test_a_thrown_message_starts_a_new_instance_per_period_and_wakes_the_main_one(people):
    pf, pid = people
    deploy(pf, [FIXTURES / "messages.bpmn"])
    with pf.uow() as uow:
        main_id = services.start_instance(uow, partnership_id=pid, process_key="rolling_main",
                                          actor="claire", data={"period_number": 1})
    for expected_period in (1, 2, 3):
        [task] = _open(pf)
        assert task.element_id == "review_period"
        assert task.context["period_number"] == expected_period
        _complete(pf, task.id, "lucas", {"decision": "again" if expected_period < 3 else "done"})
    [conclude] = _open(pf)
    assert conclude.element_id == "conclude" and conclude.instance_id == main_id
    with pf.read() as session:
        periods = session.scalars(select(ProcessInstance).where(
            ProcessInstance.process_key == "rolling_period").order_by(ProcessInstance.id)).all()
    assert [p.status for p in periods] == ["completed"] * 3
    assert periods[1].parent_instance_id == periods[0].id
    _complete(pf, conclude.id, "lucas", {"decision": "done"})
    with pf.read() as session:
        assert session.get(ProcessInstance, main_id).status == "completed"
