"""An instance in error is an incident that the direction, the designers and the
administrators see and act on: retry after a fix, resume from an earlier task, cancel; each
audited, and nobody else may."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from partnerflow.engine.errors import Forbidden, StepFailed
from partnerflow.engine.runtime import services
from partnerflow.engine.store.models import AuditEvent, HumanTask, Incident, ProcessInstance
from partnerflow.web import create_app
from tests.conftest import deploy, make_user
from tests.integration.test_hostile_diagrams import REVIEW_NAME, SCRIPT, review
from tests.web.support import PASSWORD, login, post, text_of

# the first round passes; the second fails inside the engine steps (a name nobody defined)
FLAKY = "rounds = rounds + 1\nif rounds >= 2:\n    y = undefined_name"


@pytest.fixture
def stopped(fixture_pf):
    """review_loop whose script fails at round 2: an instance in error after two reviews."""
    pf = fixture_pf
    for name, role in (("dir", "direction"), ("root", "admin"), ("des", "designer"),
                       ("pro", "professional"), ("aud", "auditor")):
        make_user(pf, name, role, password=PASSWORD)
    deploy(pf, [(REVIEW_NAME, review((SCRIPT, FLAKY)))])
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title="Réseau santé", actor="dir")
    with pf.uow() as uow:
        iid = services.start_instance(uow, partnership_id=pid, process_key="review_loop",
                                      actor="dir", data={"rounds": 0})
    with pf.read() as session:
        task_id = session.scalar(select(HumanTask.id).where(HumanTask.instance_id == iid))
    with pf.uow() as uow:
        services.complete_task(uow, task_id=task_id, actor="dir", data={"decision": "again"})
    with pf.read() as session:
        second = session.scalar(select(HumanTask.id).where(HumanTask.instance_id == iid,
                                                           HumanTask.state == "open"))
    with pf.uow() as uow:
        failed = services.complete_task(uow, task_id=second, actor="dir", data={"decision": "again"})
    assert failed.instance_status == "error"
    return pf, iid, task_id


def test_an_incident_records_element_message_time_and_data(stopped):
    pf, iid, _ = stopped
    with pf.read() as session:
        incident = session.scalars(select(Incident).where(Incident.instance_id == iid)).one()
        assert incident.resolved_at is None
        assert incident.element_id == "count_round"
        assert incident.during == "engine_steps"
        assert incident.data["decision"] == "again" and incident.data["rounds"] == 1
        assert incident.created_at is not None
        assert services.count_open(session) == 1


@pytest.mark.parametrize("who", ["dir", "root", "des"])
def test_the_incidents_page_lists_it_for_those_who_can_fix_it(stopped, who):
    pf, _, _ = stopped
    client = create_app(partnerflow=pf, TESTING=True).test_client()
    login(client, who)
    page = text_of(client.get("/incidents/"))
    assert "Réseau santé" in page and "count_round" in page
    assert "undefined_name" in page


@pytest.mark.parametrize("who", ["pro", "aud"])
def test_the_incidents_page_is_refused_to_others(stopped, who):
    pf, iid, _ = stopped
    client = create_app(partnerflow=pf, TESTING=True).test_client()
    login(client, who)
    assert client.get("/incidents/").status_code == 403
    response = post(client, f"/incidents/{iid}/relancer", token_from="/")
    assert response.status_code == 403


def test_resume_from_the_completed_review_runs_it_again_and_is_audited(stopped):
    pf, iid, task_id = stopped
    with pf.read() as session:
        points = services.resume_points(session, instance_id=iid)
    assert [name for _, name in points] == ["Relire le document", "Relire le document"]
    with pytest.raises(Forbidden), pf.uow() as uow:
        services.resume_from_task(uow, instance_id=iid, task_uuid=points[0][0], actor="dir")
    # the first round's review: what followed it is undone
    client = create_app(partnerflow=pf, TESTING=True).test_client()
    login(client, "des")
    response = post(client, f"/incidents/{iid}/reprendre", {"task_uuid": points[0][0]},
                    token_from="/incidents/")
    assert response.status_code == 302
    with pf.read() as session:
        assert session.get(ProcessInstance, iid).status == "running"
        reopened = session.scalars(select(HumanTask).where(HumanTask.instance_id == iid,
                                                           HumanTask.state == "open")).one()
        assert reopened.element_id == "review"
        assert session.scalar(select(Incident.resolution).where(Incident.instance_id == iid)) == "resumed"
        assert session.scalar(select(AuditEvent.actor).where(
            AuditEvent.instance_id == iid, AuditEvent.type == "instance_resumed")) == "des"
    with pf.uow() as uow:  # this time the reviewer is done: the instance completes
        done = services.complete_task(uow, task_id=reopened.id, actor="dir", data={"decision": "done"})
    assert done.instance_status == "completed"


def test_cancel_from_the_page_needs_a_reason_and_resolves_the_incident(stopped):
    pf, iid, _ = stopped
    client = create_app(partnerflow=pf, TESTING=True).test_client()
    login(client, "dir")
    post(client, f"/incidents/{iid}/annuler", {"reason": ""}, token_from="/incidents/")
    with pf.read() as session:
        assert session.get(ProcessInstance, iid).status == "error"
    post(client, f"/incidents/{iid}/annuler", {"reason": "doublon"}, token_from="/incidents/")
    with pf.read() as session:
        assert session.get(ProcessInstance, iid).status == "cancelled"
        assert session.scalar(select(Incident.resolution).where(Incident.instance_id == iid)) == "cancelled"


def test_a_retry_that_fails_again_leaves_one_open_incident(stopped):
    pf, iid, _ = stopped
    with pf.uow() as uow:
        assert services.retry_instance(uow, instance_id=iid, actor="root") == "error"
    with pf.read() as session:
        rows = session.scalars(select(Incident).where(Incident.instance_id == iid)
                               .order_by(Incident.id)).all()
        assert [(r.resolution, r.during) for r in rows] == [("retried", "engine_steps"),
                                                           (None, "engine_steps")]


def test_a_failure_that_was_rolled_back_is_an_incident_too(fixture_pf):
    pf = fixture_pf
    make_user(pf, "dir", "direction")
    deploy(pf, [(REVIEW_NAME, review((SCRIPT, "x = 10**5000")))])
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title="R", actor="dir")
    with pf.uow() as uow:
        iid = services.start_instance(uow, partnership_id=pid, process_key="review_loop",
                                      actor="dir", data={"rounds": 0})
    with pf.read() as session:
        task_id = session.scalar(select(HumanTask.id).where(HumanTask.instance_id == iid))
    with pytest.raises(StepFailed), pf.uow() as uow:
        services.complete_task(uow, task_id=task_id, actor="dir", data={"decision": "done"})
    with pf.read() as session:
        incident = session.scalars(select(Incident).where(Incident.instance_id == iid)).one()
        assert (incident.during, incident.data) == ("task_completion", {"decision": "done"})
