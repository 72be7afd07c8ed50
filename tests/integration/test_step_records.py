"""What a step writes besides the task rows: messages relayed from instance to instance up
to the hop limit and no further, the inbox order of tasks with and without a due date, the
partnership's stage moved by a new task only while the partnership is active."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from partnerflow.engine.config import as_utc
from partnerflow.engine.errors import StepFailed
from partnerflow.engine.runtime import queries, services
from partnerflow.engine.runtime.stepping import MAX_MESSAGE_HOPS
from partnerflow.engine.store.models import NO_DUE_DATE, HumanTask, Partnership, ProcessInstance
from tests.conftest import FIXTURES, deploy, make_user
from tests.integration.test_connectors import HEAD

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
