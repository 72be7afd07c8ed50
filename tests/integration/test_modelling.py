"""Designers' operations: dependents re-versioned, drafts, forms saved, safe migrations."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from partnerflow.engine.errors import Conflict, Forbidden, FormValidationError, InvalidInput
from partnerflow.engine.runtime import modelling, queries, services
from partnerflow.engine.store.models import HumanTask, ProcessDraft, ProcessInstance, ProcessVersion
from tests.conftest import FIXTURES, deploy, make_user

LOOP = (FIXTURES / "review_loop.bpmn").read_bytes()
PARENT = (FIXTURES / "hostile" / "call_parent.bpmn").read_bytes()


@pytest.fixture
def designer(fixture_pf):
    make_user(fixture_pf, "ines", "designer")
    make_user(fixture_pf, "claire", "direction")
    return fixture_pf


def _versions(pf, key):
    with pf.read() as session:
        return [(v.version, dict(v.dependencies)) for v in session.scalars(
            select(ProcessVersion).where(ProcessVersion.process_key == key)
            .order_by(ProcessVersion.version))]


def test_redeploying_a_called_process_gives_its_callers_a_new_version(designer):
    pf = designer
    deploy(pf, [("review_loop.bpmn", LOOP), ("call_parent.bpmn", PARENT)])
    parent_v1 = _versions(pf, "call_parent")
    renamed = LOOP.replace(b'name="Relire le document"', b'name="Relire la convention"')
    with pf.uow() as uow:
        result = modelling.deploy_files(uow, files=[("review_loop.bpmn", renamed)], actor="ines")
    assert {(i.process_key, i.version, i.created) for i in result.items} == {
        ("review_loop", 2, True), ("call_parent", 2, True)}
    parent = _versions(pf, "call_parent")
    assert len(parent) == 2 and parent[1][1]["review_loop"] != parent_v1[0][1]["review_loop"]


def test_only_designers_deploy_and_a_draft_is_dropped_once_deployed(designer):
    pf = designer
    with pytest.raises(Forbidden), pf.uow() as uow:
        modelling.deploy_files(uow, files=[("review_loop.bpmn", LOOP)], actor="claire")
    with pf.uow() as uow:
        modelling.save_draft(uow, process_key="review_loop", filename="review_loop.bpmn",
                             xml=LOOP, actor="ines")
    with pf.read() as session:
        assert session.get(ProcessDraft, "review_loop") is not None
    with pf.uow() as uow:
        modelling.deploy_files(uow, files=[("review_loop.bpmn", LOOP)], actor="ines")
    with pf.read() as session:
        assert session.get(ProcessDraft, "review_loop") is None


def test_a_form_saved_in_the_browser_overrides_the_file_and_is_validated(designer):
    pf = designer
    schema = {"type": "object", "required": ["decision", "why"],
              "properties": {"decision": {"type": "string"}, "why": {"type": "string", "minLength": 3}}}
    with pf.uow() as uow:
        assert modelling.save_form(uow, form_key="review", schema=schema, actor="ines") == 1
    with pf.uow() as uow:
        assert modelling.save_form(uow, form_key="review", schema=schema, actor="ines") == 1
    pf.forget_saved_forms()
    with pytest.raises(FormValidationError) as error:
        pf.forms.validate("review", {"decision": "done"})
    assert "why" in error.value.errors
    with pytest.raises(InvalidInput), pf.uow() as uow:
        modelling.save_form(uow, form_key="review", schema={"type": "array"}, actor="ines")


def _start(pf):
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title="Migration", actor="claire")
    with pf.uow() as uow:
        return services.start_instance(uow, partnership_id=pid, process_key="review_loop",
                                       actor="claire", data={"rounds": 0})


def test_a_running_instance_migrates_to_a_renamed_task_and_keeps_its_data(designer):
    pf = designer
    deploy(pf, [("review_loop.bpmn", LOOP)])
    iid = _start(pf)
    deploy(pf, [("review_loop.bpmn", LOOP.replace(b'name="Relire le document"',
                                                  b'name="Relire la convention"'))])
    with pf.uow() as uow:
        assert modelling.migrate_instance(uow, instance_id=iid, actor="ines") == 2
    with pf.read() as session:
        [task] = queries.tasks_of_partnership(session, session.get(ProcessInstance, iid).partnership_id)
        assert task.title == "Relire la convention"
        assert task.context["rounds"] == 0
    with pf.uow() as uow:
        result = services.complete_task(uow, task_id=task.id, actor="claire", data={"decision": "done"})
    assert result.instance_status == "completed"


def test_a_migration_that_would_lose_the_current_task_is_refused_with_the_reason(designer):
    pf = designer
    deploy(pf, [("review_loop.bpmn", LOOP)])
    iid = _start(pf)
    without_review = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">
  <bpmn:process id="review_loop" name="Revue sans relecture" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:endEvent id="done" />
    <bpmn:sequenceFlow id="flow_start" sourceRef="start" targetRef="done" />
  </bpmn:process>
</bpmn:definitions>"""
    deploy(pf, [("review_loop.bpmn", without_review)])
    with pytest.raises(Conflict, match="'review' no longer exists"), pf.uow() as uow:
        modelling.migrate_instance(uow, instance_id=iid, actor="ines")
    with pf.read() as session:
        instance = session.get(ProcessInstance, iid)
        assert session.get(ProcessVersion, instance.version_id).version == 1
        assert session.scalar(select(HumanTask.state).where(HumanTask.instance_id == iid)) == "open"
