"""The engine's use cases on a real database (SQLite by default, PostgreSQL with --db)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from partnerflow.engine import audit
from partnerflow.engine.errors import Conflict, Forbidden, FormValidationError
from partnerflow.engine.runtime import queries, services
from partnerflow.engine.store.models import AuditEvent, HumanTask, ProcessInstance, WorkflowTask
from tests.conftest import FIXTURES, deploy, make_user


@pytest.fixture
def loop(fixture_pf):
    deploy(fixture_pf, [FIXTURES / "review_loop.bpmn"])
    make_user(fixture_pf, "claire", "direction")
    make_user(fixture_pf, "sophie", "professional")
    with fixture_pf.uow() as uow:
        pid = services.create_partnership(uow, title="EHPAD et lycée agricole", actor="claire")
    with fixture_pf.uow() as uow:
        iid = services.start_instance(uow, partnership_id=pid, process_key="review_loop",
                                      actor="claire", data={"rounds": 0})
    return fixture_pf, pid, iid


def _open_task(pf, username):
    with pf.read() as session:
        rows = queries.inbox(session, username, pf.clock())
    assert len(rows) == 1, rows
    return rows[0]


def _complete(pf, task_id, actor, data):
    with pf.uow() as uow:
        return services.complete_task(uow, task_id=task_id, actor=actor, data=data)


def test_a_started_instance_offers_its_first_task_to_the_lane_role(loop):
    pf, pid, _ = loop
    row = _open_task(pf, "claire")
    assert row.title == "Relire le document"
    assert row.role == "direction"
    assert row.partnership_title == "EHPAD et lycée agricole"
    assert row.due_at is not None  # camunda:dueDate="P2D"
    with pf.read() as session:
        assert queries.inbox(session, "sophie", pf.clock()) == []


def test_completing_a_task_runs_the_loop_and_keeps_the_data(loop):
    pf, _, iid = loop
    for _ in range(3):
        result = _complete(pf, _open_task(pf, "claire").id, "claire", {"decision": "again"})
        assert result.instance_status == "running"
    result = _complete(pf, _open_task(pf, "claire").id, "claire", {"decision": "done"})
    assert result.instance_status == "completed"
    with pf.read() as session:
        instance = session.get(ProcessInstance, iid)
        assert instance.status == "completed"
        completed = session.scalars(select(HumanTask).where(HumanTask.state == "completed")).all()
        assert len(completed) == 4
        assert all(t.completed_by == "claire" for t in completed)
        # the script task counted four rounds: the data survived three restores
        assert completed[-1].context["rounds"] == 3


def test_a_second_completion_of_the_same_task_is_a_conflict_naming_who_did_it(loop):
    pf, _, _ = loop
    task = _open_task(pf, "claire")
    _complete(pf, task.id, "claire", {"decision": "again"})
    with pytest.raises(Conflict, match="already completed by claire"):
        _complete(pf, task.id, "claire", {"decision": "done"})


def test_a_rejected_submission_saves_nothing_and_names_every_field(loop):
    pf, _, iid = loop
    task = _open_task(pf, "claire")
    with pf.read() as session:
        before = session.scalar(select(func.count()).select_from(WorkflowTask))
    with pytest.raises(FormValidationError) as error:
        _complete(pf, task.id, "claire", {"decision": "peut-être", "comment": "x" * 3000})
    assert set(error.value.errors) == {"decision", "comment"}
    assert "Choisissez" in error.value.errors["decision"][0]
    with pf.read() as session:
        assert session.scalar(select(func.count()).select_from(WorkflowTask)) == before
        assert session.get(HumanTask, task.id).state == "open"


def test_a_user_without_the_role_cannot_complete_the_task(loop):
    pf, _, _ = loop
    task = _open_task(pf, "claire")
    with pytest.raises(Forbidden):
        _complete(pf, task.id, "sophie", {"decision": "done"})


def test_claim_unclaim_and_reassign_change_who_sees_the_task(loop):
    pf, _, _ = loop
    make_user(pf, "hugo", "direction")
    task = _open_task(pf, "claire")
    with pf.uow() as uow:
        services.claim_task(uow, task_id=task.id, actor="claire")
    with pf.read() as session:
        assert queries.inbox(session, "hugo", pf.clock()) == []
    with pytest.raises(Conflict, match="claimed by claire"), pf.uow() as uow:
        services.claim_task(uow, task_id=task.id, actor="hugo")
    with pf.uow() as uow:
        services.unclaim_task(uow, task_id=task.id, actor="claire")
    # a direction task goes only to someone it is offered to: not to a professional
    with pytest.raises(Forbidden, match="sophie cannot receive"), pf.uow() as uow:
        services.reassign_task(uow, task_id=task.id, actor="claire", to_user="sophie")
    with pf.uow() as uow:
        services.reassign_task(uow, task_id=task.id, actor="claire", to_user="hugo")
    assert _open_task(pf, "hugo").id == task.id
    with pf.read() as session:
        assert queries.inbox(session, "claire", pf.clock()) == []
    with pytest.raises(Forbidden), pf.uow() as uow:
        services.reassign_task(uow, task_id=task.id, actor="sophie", to_user="claire")


def test_each_step_writes_only_the_task_rows_that_changed(loop):
    pf, _, iid = loop
    counts = []
    for _ in range(6):
        with pf.read() as session:
            before = {r.task_uuid: r.body for r in session.scalars(
                select(WorkflowTask).where(WorkflowTask.instance_id == iid))}
        _complete(pf, _open_task(pf, "claire").id, "claire", {"decision": "again"})
        with pf.read() as session:
            after = {r.task_uuid: r.body for r in session.scalars(
                select(WorkflowTask).where(WorkflowTask.instance_id == iid))}
        counts.append(sum(1 for k, v in after.items() if before.get(k) != v))
    assert max(counts) <= 12, counts
    assert counts[-1] == counts[1]  # constant per round, not growing with history


def test_the_instance_does_not_embed_the_spec(loop):
    pf, _, iid = loop
    with pf.read() as session:
        instance = session.get(ProcessInstance, iid)
        assert "spec" not in instance.workflow_state
        bodies = session.scalars(select(WorkflowTask.body).where(WorkflowTask.instance_id == iid))
        assert all('"task_specs"' not in body for body in bodies)


def test_every_step_lands_in_an_intact_audit_chain(loop):
    pf, pid, _ = loop
    _complete(pf, _open_task(pf, "claire").id, "claire", {"decision": "done"})
    with pf.read() as session:
        assert audit.verify(session) == []
        types = [e.type for e in session.scalars(
            select(AuditEvent).where(AuditEvent.partnership_id == pid)
            .order_by(AuditEvent.seq))]
    assert types[:3] == ["partnership_created", "instance_started", "task_created"]
    assert {"task_completed", "script_ran", "gateway_taken", "instance_completed"} <= set(types)


def test_a_loop_that_grows_too_deep_stops_with_an_explicit_error(fixture_pf, clock):
    pf = fixture_pf
    pf.settings = pf.settings.with_(max_task_depth=40)
    deploy(pf, [FIXTURES / "review_loop.bpmn"])
    make_user(pf, "claire", "direction")
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title="Boucle", actor="claire")
    with pf.uow() as uow:
        iid = services.start_instance(uow, partnership_id=pid, process_key="review_loop",
                                      actor="claire", data={"rounds": 0})
    status = "running"
    for _ in range(30):
        result = _complete(pf, _open_task(pf, "claire").id, "claire", {"decision": "again"})
        status = result.instance_status
        if status != "running":
            break
    assert status == "error"
    with pf.read() as session:
        instance = session.get(ProcessInstance, iid)
        assert "looped" in instance.error_message
        assert instance.error_element is not None
