"""What a step writes besides the task rows: messages relayed from instance to instance up
to the hop limit and no further, the draft kept only on a task still open, the tasks offered
to workers under their name, the candidate users, the inbox order of tasks with and without
a due date, the partnership's stage moved by a new task only while the partnership is
active."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from partnerflow.engine.config import as_utc
from partnerflow.engine.errors import StepFailed
from partnerflow.engine.runtime import queries, services, stepping
from partnerflow.engine.runtime.stepping import MAX_MESSAGE_HOPS
from partnerflow.engine.store.models import (
    NO_DUE_DATE,
    ExternalTask,
    HumanTask,
    Partnership,
    ProcessInstance,
)
from tests.conftest import FIXTURES, deploy, make_user
from tests.integration.test_connectors import HEAD
from tests.integration.test_external_tasks import TOPIC, with_boundary

# relay_launch throws `relay` once; each relay_step it starts counts one hop and throws
# `relay` again until `hop` reaches `last`: a chain of `last` messages, each one hop further
RELAY = (HEAD + '''
  <bpmn:message id="Message_relay" name="relay" />
  <bpmn:process id="relay_launch" name="Lancer le relais" isExecutable="true">
    <bpmn:startEvent id="launch_start" />
    <bpmn:intermediateThrowEvent id="launch" name="Premier relais">
      <bpmn:messageEventDefinition id="MED_launch" messageRef="Message_relay" />
    </bpmn:intermediateThrowEvent>
    <bpmn:endEvent id="launch_end" />
    <bpmn:sequenceFlow id="l1" sourceRef="launch_start" targetRef="launch" />
    <bpmn:sequenceFlow id="l2" sourceRef="launch" targetRef="launch_end" />
  </bpmn:process>
  <bpmn:process id="relay_step" name="Relais" isExecutable="true">
    <bpmn:startEvent id="step_start" name="Relais reçu">
      <bpmn:messageEventDefinition id="MED_start" messageRef="Message_relay" />
    </bpmn:startEvent>
    <bpmn:scriptTask id="count_hop" name="Compter le relais" scriptFormat="python">
      <bpmn:script>hop = hop + 1</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:exclusiveGateway id="further" name="Plus loin ?" default="to_stop" />
    <bpmn:endEvent id="pass_on" name="Relayer">
      <bpmn:messageEventDefinition id="MED_pass" messageRef="Message_relay" />
    </bpmn:endEvent>
    <bpmn:endEvent id="stop" name="Arrêt" />
    <bpmn:sequenceFlow id="s1" sourceRef="step_start" targetRef="count_hop" />
    <bpmn:sequenceFlow id="s2" sourceRef="count_hop" targetRef="further" />
    <bpmn:sequenceFlow id="to_pass" sourceRef="further" targetRef="pass_on">
      <bpmn:conditionExpression xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
        xsi:type="bpmn:tFormalExpression">hop &lt; last</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="to_stop" sourceRef="further" targetRef="stop" />
  </bpmn:process>
</bpmn:definitions>''').encode()


# the same relay launched by completing a task: its engine steps count hops from zero too
RELAY_AFTER_TASK = RELAY.replace(
    b'<bpmn:sequenceFlow id="l1" sourceRef="launch_start" targetRef="launch" />',
    b'<bpmn:userTask id="go" name="Lancer" />'
    b'<bpmn:sequenceFlow id="l0" sourceRef="launch_start" targetRef="go" />'
    b'<bpmn:sequenceFlow id="l1" sourceRef="go" targetRef="launch" />').replace(
    b'<bpmn:startEvent id="launch_start" />',
    b'<bpmn:laneSet><bpmn:lane id="lane" name="Direction"><bpmn:flowNodeRef>go</bpmn:flowNodeRef>'
    b'</bpmn:lane></bpmn:laneSet><bpmn:startEvent id="launch_start" />')


@pytest.fixture
def office(fixture_pf):
    make_user(fixture_pf, "claire", "direction")
    with fixture_pf.uow() as uow:
        pid = services.create_partnership(uow, title="Relais", actor="claire")
    return fixture_pf, pid


def _relay(pf, pid, last: int) -> int:
    deploy(pf, [("relay.bpmn", RELAY)])
    with pf.uow() as uow:
        return services.start_instance(uow, partnership_id=pid, process_key="relay_launch",
                                       actor="claire", data={"hop": 0, "last": last})


def _instances(pf) -> list[ProcessInstance]:
    with pf.read() as session:
        return session.scalars(select(ProcessInstance).order_by(ProcessInstance.id)).all()


def test_a_message_relayed_up_to_the_hop_limit_reaches_every_instance(office):
    pf, pid = office
    launch = _relay(pf, pid, last=MAX_MESSAGE_HOPS)
    instances = _instances(pf)
    # the launcher, then one instance per hop, each started by the one before
    assert [i.process_key for i in instances] == ["relay_launch"] + ["relay_step"] * MAX_MESSAGE_HOPS
    assert [i.status for i in instances] == ["completed"] * (MAX_MESSAGE_HOPS + 1)
    assert [i.parent_instance_id for i in instances] == [None, launch] + [i.id for i in instances[1:-1]]


def test_one_hop_more_than_the_limit_stops_the_start_and_keeps_nothing(office):
    pf, pid = office
    with pytest.raises(StepFailed) as caught:
        _relay(pf, pid, last=MAX_MESSAGE_HOPS + 1)
    assert caught.value.message == f"message 'relay' bounced more than {MAX_MESSAGE_HOPS} times"
    assert _instances(pf) == []


def test_a_relay_launched_by_a_completed_task_stops_one_hop_past_the_limit_too(office):
    pf, pid = office
    deploy(pf, [("relay.bpmn", RELAY_AFTER_TASK)])
    with pf.uow() as uow:
        iid = services.start_instance(uow, partnership_id=pid, process_key="relay_launch",
                                      actor="claire", data={"hop": 0, "last": MAX_MESSAGE_HOPS + 1})
    with pf.read() as session:
        go = session.scalars(select(HumanTask).where(HumanTask.element_id == "go")).one()
    with pytest.raises(StepFailed) as caught, pf.uow() as uow:
        services.complete_task(uow, task_id=go.id, actor="claire", data={})
    assert caught.value.message == f"message 'relay' bounced more than {MAX_MESSAGE_HOPS} times"
    assert [(i.id, i.status) for i in _instances(pf)] == [(iid, "error")]


def test_a_failure_after_the_task_was_completed_elsewhere_keeps_no_draft(office):
    # the step failed and was rolled back, but the task is no longer open (completed by
    # someone else meanwhile): the answers are not laid over it as a draft
    pf, pid = office
    deploy(pf, [FIXTURES / "rows_demo.bpmn"])
    make_user(pf, "karim", "professional")
    with pf.uow() as uow:
        iid = services.start_instance(uow, partnership_id=pid, process_key="rows_demo", actor="claire")
    with pf.read() as session:
        task_id = session.scalars(select(HumanTask.id)).one()
    with pf.uow() as uow:
        task = uow.session.get(HumanTask, task_id)
        task.state, task.completed_by = "completed", "karim"
        uow.commit()
    with pf.uow() as uow:
        stepping.record_incident(uow, iid, RuntimeError("la connexion a été perdue"), "claire",
                                 during="task_completion", task_id=task_id, draft={"rows": []})
    with pf.read() as session:
        assert session.get(HumanTask, task_id).draft is None
        instance = session.get(ProcessInstance, iid)
        assert (instance.status, instance.error_message) == ("error", "la connexion a été perdue")


CANDIDATES = (HEAD + '''
  <bpmn:process id="offered" name="Proposée" isExecutable="true">
    <bpmn:laneSet><bpmn:lane id="lane" name="Direction">
      <bpmn:flowNodeRef>named</bpmn:flowNodeRef><bpmn:flowNodeRef>open</bpmn:flowNodeRef>
    </bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start" />
    <bpmn:parallelGateway id="split" />
    <bpmn:userTask id="named" name="Relire" camunda:candidateUsers="claire, karim" />
    <bpmn:userTask id="open" name="Signer" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="split" />
    <bpmn:sequenceFlow id="f2" sourceRef="split" targetRef="named" />
    <bpmn:sequenceFlow id="f3" sourceRef="split" targetRef="open" />
  </bpmn:process>
</bpmn:definitions>''').encode()


def test_the_candidate_users_a_task_names_are_recorded_and_none_when_it_names_none(office):
    pf, pid = office
    make_user(pf, "karim", "professional")
    deploy(pf, [("offered.bpmn", CANDIDATES)])
    with pf.uow() as uow:
        services.start_instance(uow, partnership_id=pid, process_key="offered", actor="claire")
    with pf.read() as session:
        rows = {t.element_id: t.candidate_users for t in session.scalars(select(HumanTask))}
    assert rows == {"named": "claire,karim", "open": None}


def test_a_task_left_to_workers_is_offered_under_its_name(office):
    pf, pid = office
    deploy(pf, [("with_boundary.bpmn", with_boundary())])
    with pf.uow() as uow:
        iid = services.start_instance(uow, partnership_id=pid, process_key="with_boundary",
                                      actor="claire")
    with pf.read() as session:
        [offered] = session.scalars(select(ExternalTask)).all()
    assert (offered.instance_id, offered.element_id, offered.element_name, offered.topic,
            offered.state) == (iid, "act", "Facturer", TOPIC, "open")


def test_in_the_inbox_a_task_with_a_due_date_comes_before_an_older_one_without(office):
    pf, pid = office
    make_user(pf, "karim", "professional")
    deploy(pf, [FIXTURES / "assignment_timers.bpmn"])
    for delegate in ("claire", "karim"):  # claire's task first: no due date
        with pf.uow() as uow:
            services.start_instance(uow, partnership_id=pid, process_key="assignment_timers",
                                    actor="claire", data={"delegate": delegate, "reviewer": "claire",
                                                          "review_deadline": "2026-03-20"})
    with pf.read() as session:
        karims = session.scalars(select(HumanTask).where(HumanTask.assignee == "karim")).one()
    with pf.uow() as uow:  # then the review assigned to claire, due on 20 March
        services.complete_task(uow, task_id=karims.id, actor="karim", data={"decision": "done"})
    with pf.read() as session:
        inbox = queries.inbox(session, "claire", pf.clock())
        rows = {t.element_id: t for t in session.scalars(select(HumanTask).where(
            HumanTask.assignee == "claire", HumanTask.state == "open"))}
    assert [t.element_id for t in inbox] == ["review_inline", "elaborate"]
    due, undated = rows["review_inline"], rows["elaborate"]
    assert as_utc(due.sort_due) == as_utc(due.due_at)
    assert (undated.due_at, as_utc(undated.sort_due)) == (None, NO_DUE_DATE)


@pytest.mark.parametrize(("status", "stage"), [("active", "action_sheets"), ("archived", "idea")])
def test_a_new_task_moves_the_partnership_to_its_stage_only_while_it_is_active(
        office, status, stage):
    pf, pid = office
    deploy(pf, [FIXTURES / "rows_demo.bpmn"])
    with pf.uow() as uow:
        uow.session.get(Partnership, pid).status = status
        uow.commit()
    with pf.uow() as uow:
        services.start_instance(uow, partnership_id=pid, process_key="rows_demo", actor="claire")
    with pf.read() as session:
        [task] = session.scalars(select(HumanTask)).all()
        partnership = session.get(Partnership, pid)
        assert (task.stage, partnership.stage) == ("action_sheets", stage)
