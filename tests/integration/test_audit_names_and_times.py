"""What the audit module reads for people besides the export: the timeline's names per
language for the events of elements that have no task (a gateway, the process itself), the
step times of a version with their heat levels and names, the order in which a process calls
others, and the digest of the data a task started from."""

from __future__ import annotations

import hashlib
import json

import pytest
from sqlalchemy import select

from partnerflow.engine.runtime import auditlog, services
from partnerflow.engine.store.models import HumanTask, ProcessVersion
from tests.conftest import FIXTURES, deploy, make_user
from tests.web.support import complete, new_partnership, start

STEPS = ("welcome", "instruct", "sign")


@pytest.fixture
def steps(fixture_pf):
    pf = fixture_pf
    deploy(pf, [FIXTURES / "timed_steps.bpmn"])
    make_user(pf, "claire", "direction")
    return pf, new_partnership(pf, "Maison de santé de Bondy")


def _walk(pf, partnership_id: int, hours: dict[str, float]) -> int:
    """Run one instance through its three tasks, each taking so many hours; its id."""
    [task_id] = start(pf, partnership_id, "timed_steps")
    with pf.read() as db:
        instance_id = db.get(HumanTask, task_id).instance_id
    for element in STEPS:
        with pf.read() as db:
            task = db.scalar(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                     HumanTask.state == "open"))
            assert task.element_id == element
        pf.clock.advance(hours=hours[element])
        complete(pf, task.id, "claire", {"decision": "done"})
    return instance_id


def _version_id(pf) -> int:
    with pf.read() as db:
        return db.scalar(select(ProcessVersion.id).where(ProcessVersion.process_key == "timed_steps"))


def test_the_timeline_names_a_gateway_and_the_process_from_the_instances_catalogue(steps):
    pf, partnership_id = steps
    _walk(pf, partnership_id, dict.fromkeys(STEPS, 1))
    with pf.read() as db:
        events = auditlog.timeline(db, partnership_id)
    [gateway] = [e for e in events if e.type == "gateway_taken" and e.element_id == "route"]
    assert gateway.task_uuid is None
    assert gateway.names == {"fr": "Dossier complet ?", "en": "File complete?"}
    assert gateway.path and all(set(step) == {"fr", "en"} for step in gateway.path)
    assert "Yes" in gateway.path[0]["en"] and "Oui" in gateway.path[0]["fr"]
    [started] = [e for e in events if e.type == "instance_started"]
    assert started.names == {"fr": "Dossier en trois étapes", "en": "A file in three steps"}
    # a task's events are named by the task's own titles
    created = [e for e in events if e.type == "task_created" and e.element_id == "welcome"]
    assert created and created[0].names == {"fr": "Accueillir", "en": "Welcome"}


def test_each_steps_time_has_its_heat_level_from_one_to_five_and_its_names(steps):
    pf, partnership_id = steps
    _walk(pf, partnership_id, {"welcome": 1, "instruct": 3, "sign": 5})
    _walk(pf, partnership_id, {"welcome": 1, "instruct": 3, "sign": 5})
    with pf.read() as db:
        found = {e.element_id: e for e in auditlog.version_heatmap(db, _version_id(pf))}
    assert [e.element_id for e in sorted(found.values(), key=lambda e: -e.median_hours)] == \
        ["sign", "instruct", "welcome"]
    # the slowest step is 5, the others by their share of it: 1 + 4 x median / slowest
    assert {k: e.heat for k, e in found.items()} == {"sign": 5, "instruct": 3, "welcome": 1}
    assert {k: (e.count, e.median_hours) for k, e in found.items()} == \
        {"sign": (2, 5.0), "instruct": (2, 3.0), "welcome": (2, 1.0)}
    assert found["welcome"].names == {"fr": "Accueillir", "en": "Welcome"}
    assert found["instruct"].names == {"fr": "Instruire le dossier"}
    # a task the catalogue does not name: its title
    assert found["sign"].names == {"fr": "Signer"} and found["sign"].title == "Signer"


def test_steps_done_at_once_are_all_of_the_first_heat_level(steps):
    pf, partnership_id = steps
    _walk(pf, partnership_id, dict.fromkeys(STEPS, 0))
    with pf.read() as db:
        found = auditlog.version_heatmap(db, _version_id(pf))
    assert sorted((e.element_id, e.heat, e.median_hours) for e in found) == \
        [("instruct", 1, 0.0), ("sign", 1, 0.0), ("welcome", 1, 0.0)]


CALLS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="other">
    <bpmn:startEvent id="o_start" />
    <bpmn:callActivity id="o_call" calledElement="not_this_one" />
    <bpmn:sequenceFlow id="o1" sourceRef="o_start" targetRef="o_call" />
  </bpmn:process>
  <bpmn:process id="main">
    <bpmn:startEvent id="start" />
    <bpmn:userTask id="prepare" />
    <bpmn:boundaryEvent id="late" attachedToRef="prepare" />
    <bpmn:callActivity id="escalate" calledElement="escalation" />
    <bpmn:callActivity id="first" calledElement="stage_one" />
    <bpmn:subProcess id="inner">
      <bpmn:startEvent id="inner_start" />
      <bpmn:callActivity id="inner_call" calledElement="stage_two" />
      <bpmn:sequenceFlow id="i1" sourceRef="inner_start" targetRef="inner_call" />
    </bpmn:subProcess>
    <bpmn:callActivity id="again" calledElement="stage_one" />
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="m1" sourceRef="start" targetRef="prepare" />
    <bpmn:sequenceFlow id="m2" sourceRef="prepare" targetRef="first" />
    <bpmn:sequenceFlow id="m3" sourceRef="late" targetRef="escalate" />
    <bpmn:sequenceFlow id="m4" sourceRef="first" targetRef="inner" />
    <bpmn:sequenceFlow id="m5" sourceRef="inner" targetRef="again" />
    <bpmn:sequenceFlow id="m6" sourceRef="again" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>"""


def test_the_calls_of_a_process_come_in_the_order_its_flow_reaches_them():
    # breadth first: the task's next element, then its boundary event's; a subprocess's
    # start events before what follows it; each called process once
    assert auditlog.calls_in_flow_order(CALLS, "main") == ["stage_one", "escalation", "stage_two"]
    assert auditlog.calls_in_flow_order(CALLS, "other") == ["not_this_one"]
    assert auditlog.calls_in_flow_order(CALLS, "missing") == []
    assert auditlog.calls_in_flow_order("<not xml", "main") == []


def test_the_data_a_task_started_from_is_referenced_by_the_sha256_of_its_canonical_json(steps):
    pf, partnership_id = steps
    [task_id] = start(pf, partnership_id, "timed_steps")
    with pf.uow() as uow:
        task = uow.session.get(HumanTask, task_id)
        task.context = {"responsable": "Hélène Müller", "montant": 1200}
        uow.commit()
    with pf.read() as db:
        reference = auditlog.context_reference(db.get(HumanTask, task_id))
    # the events' canonical form (docs/audit.md): sorted keys, no spaces, UTF-8 unescaped
    canonical = '{"montant":1200,"responsable":"Hélène Müller"}'
    assert reference == {"task_id": task_id,
                         "sha256": hashlib.sha256(canonical.encode("utf-8")).hexdigest()}
    complete(pf, task_id, "claire", {"decision": "done"})
    with pf.read() as db:
        before = auditlog.data_before(db, db.get(HumanTask, task_id))
    assert before.verified is True and before.data["responsable"] == "Hélène Müller"
    assert json.dumps(before.data, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False) == canonical


def test_an_instances_diagrams_come_in_the_order_its_flow_reaches_the_called_stages(fixture_pf):
    pf = fixture_pf
    deploy(pf, [FIXTURES / "stages" / f for f in
                ("zeta_stage.bpmn", "alpha_stage.bpmn", "two_stages.bpmn")])
    make_user(pf, "claire", "direction")
    partnership_id = new_partnership(pf, "Centre social de Pantin")
    [zeta] = start(pf, partnership_id, "two_stages")
    complete(pf, zeta, "claire", {"decision": "done"})
    with pf.uow() as uow:
        instance_id = uow.session.get(HumanTask, zeta).instance_id
        states = services.instance_element_states(uow, instance_id=instance_id)
        diagrams = auditlog.instance_diagrams(uow.session, uow.catalog, instance_id, states)
    # zeta first, as the flow reaches it, though alpha sorts before it by name
    assert [d["process_key"] for d in diagrams] == ["two_stages", "zeta_stage", "alpha_stage"]
    assert "zeta_task" in diagrams[1]["completed"] and "alpha_task" in diagrams[2]["active"]
