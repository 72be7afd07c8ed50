"""A failure inside a step never leaves a task stuck open behind a 500: running the task,
advancing, routing a message, firing a timer or writing the state, any exception puts the
instance in error with the element and a readable message, keeps the submitted answers as
the task's draft, and tells the direction, the designers and the administrators."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from partnerflow.engine.errors import StepFailed
from partnerflow.engine.runtime import services
from partnerflow.engine.store.models import AuditEvent, HumanTask, Notification, ProcessInstance
from partnerflow.web import create_app
from tests.conftest import FIXTURES, deploy, make_user
from tests.integration.test_hostile_diagrams import REVIEW_NAME, SCRIPT, TIMER, review
from tests.web.support import PASSWORD, login, post, text_of

HUGE = "x = 10**5000"  # computed in a moment, but no JSON column can hold its 5001 digits


@pytest.fixture
def people(fixture_pf):
    for name, role in (("dir", "direction"), ("root", "admin"), ("des", "designer"),
                       ("pro", "professional")):
        make_user(fixture_pf, name, role, password=PASSWORD)
    return fixture_pf


def _partnership(pf) -> int:
    with pf.uow() as uow:
        return services.create_partnership(uow, title="Réseau santé", actor="dir")


def _start_review(pf, script: str) -> tuple[int, int]:
    deploy(pf, [(REVIEW_NAME, review((SCRIPT, script)))])
    pid = _partnership(pf)
    with pf.uow() as uow:
        iid = services.start_instance(uow, partnership_id=pid, process_key="review_loop",
                                      actor="dir", data={"rounds": 0})
    with pf.read() as session:
        task_id = session.scalar(select(HumanTask.id).where(HumanTask.instance_id == iid))
    return iid, task_id


def test_data_that_cannot_be_stored_is_an_incident_and_the_answers_a_draft(people):
    pf = people
    iid, task_id = _start_review(pf, HUGE)
    with pytest.raises(StepFailed) as caught, pf.uow() as uow:
        services.complete_task(uow, task_id=task_id, actor="dir", data={"decision": "done"})
    assert caught.value.element == "count_round"
    assert "ne peuvent pas être enregistrées" in caught.value.message
    assert set(caught.value.told) == {"Dir", "Root", "Des"}
    with pf.read() as session:
        instance = session.get(ProcessInstance, iid)
        task = session.get(HumanTask, task_id)
        assert instance.status == "error"
        assert instance.error_element == "count_round"
        assert task.state == "open"
        assert task.draft == {"decision": "done"}
        failed = session.scalars(select(AuditEvent).where(
            AuditEvent.instance_id == iid, AuditEvent.type == "instance_failed")).one()
        assert failed.element_id == "count_round"
        told = set(session.scalars(select(Notification.username).where(
            Notification.kind == "instance_failed")))
        assert told == {"dir", "root", "des"}


def test_the_task_page_says_what_happened_and_who_was_told_never_a_500(people):
    pf = people
    _, task_id = _start_review(pf, HUGE)
    client = create_app(partnerflow=pf, TESTING=True).test_client()
    assert login(client, "dir").status_code == 302
    response = post(client, f"/taches/{task_id}", {"decision": "done"},
                    token_from=f"/taches/{task_id}")
    assert response.status_code == 200
    page = text_of(response)
    assert "Le processus est arrêté sur un incident" in page
    assert "count_round" in page
    assert "Prévenus" in page and "Root" in page
    assert "brouillon" in page
    # the page opened later still says so, with the answers kept
    again = text_of(client.get(f"/taches/{task_id}"))
    assert "Le processus est arrêté sur un incident" in again


def test_after_a_retry_the_task_can_be_completed_with_its_draft(people):
    pf = people
    iid, task_id = _start_review(pf, HUGE)
    with pytest.raises(StepFailed), pf.uow() as uow:
        services.complete_task(uow, task_id=task_id, actor="dir", data={"decision": "done"})
    deploy(pf, [(REVIEW_NAME, review((SCRIPT, "rounds = rounds + 1")))])
    with pf.uow() as uow:
        assert services.retry_instance(uow, instance_id=iid, actor="root") == "running"
    # the instance keeps its version (x = 10**5000 again): a new incident, the draft still kept
    with pytest.raises(StepFailed), pf.uow() as uow:
        services.complete_task(uow, task_id=task_id, actor="dir", data={"decision": "again"})
    with pf.read() as session:
        assert session.get(HumanTask, task_id).draft == {"decision": "again"}
        assert session.get(ProcessInstance, iid).status == "error"


def test_a_timer_expression_that_is_not_a_text_stops_the_instance_at_the_timer(people):
    pf = people
    deploy(pf, [("timer_wait.bpmn", TIMER.replace('"P14D"', "timedelta(days=3)").encode())])
    pid = _partnership(pf)
    with pf.uow() as uow:
        iid = services.start_instance(uow, partnership_id=pid, process_key="timer_process",
                                      actor="dir", data={})
    with pf.read() as session:
        instance = session.get(ProcessInstance, iid)
        assert instance.status == "error"
        assert instance.error_element == "wait_two_weeks"
        assert "Deux semaines" in instance.error_message
        assert '"P14D"' in instance.error_message


def test_a_timer_that_fires_into_a_failing_write_is_an_incident_not_an_exception(people, clock):
    pf = people
    timed = TIMER.replace('<bpmn:endEvent id="timer_end">', (
        '<bpmn:scriptTask id="grow" name="Grossir"><bpmn:incoming>timer_flow_2</bpmn:incoming>'
        '<bpmn:outgoing>timer_flow_3</bpmn:outgoing><bpmn:script>x = 10**5000</bpmn:script>'
        '</bpmn:scriptTask><bpmn:sequenceFlow id="timer_flow_3" sourceRef="grow" '
        'targetRef="timer_end" /><bpmn:endEvent id="timer_end">'))
    timed = timed.replace('targetRef="timer_end" />\n  </bpmn:process>',
                          'targetRef="grow" />\n  </bpmn:process>')
    timed = timed.replace('<bpmn:incoming>timer_flow_2</bpmn:incoming>\n    </bpmn:endEvent>',
                          '<bpmn:incoming>timer_flow_3</bpmn:incoming>\n    </bpmn:endEvent>')
    deploy(pf, [("timer_wait.bpmn", timed.encode())])
    pid = _partnership(pf)
    with pf.uow() as uow:
        iid = services.start_instance(uow, partnership_id=pid, process_key="timer_process",
                                      actor="dir", data={})
    clock.advance(days=15)
    with pf.uow() as uow:
        assert services.fire_due_timers(uow) == 1
    with pf.read() as session:
        instance = session.get(ProcessInstance, iid)
        assert instance.status == "error"
        assert instance.error_element == "grow"
    with pf.uow() as uow:  # an instance in error is no longer picked up
        assert services.fire_due_timers(uow) == 0


def test_a_message_payload_that_names_nothing_stops_the_sender_readably(people):
    pf = people
    text = (FIXTURES / "messages.bpmn").read_text(encoding="utf-8").replace(
        '<bpmn:messageEventDefinition id="MED_done" messageRef="Message_done" />',
        '<bpmn:messageEventDefinition id="MED_done" messageRef="Message_done" '
        'camunda:expression="undefined_summary" />')
    deploy(pf, [("messages.bpmn", text.encode())])
    pid = _partnership(pf)
    make_user(pf, "copil", "steering")
    with pf.uow() as uow:
        services.start_instance(uow, partnership_id=pid, process_key="rolling_main", actor="dir",
                                data={})
    with pf.read() as session:
        task = session.scalars(select(HumanTask).where(HumanTask.element_id == "review_period")).one()
    with pf.uow() as uow:
        completion = services.complete_task(uow, task_id=task.id, actor="copil",
                                            data={"decision": "done"})
    assert completion.instance_status == "error"
    assert completion.error_element == "done_end"
    assert "undefined_summary" in completion.error
