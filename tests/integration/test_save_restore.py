"""Save/restore round-trips in the middle of a process lose nothing."""

from __future__ import annotations

from sqlalchemy import select

from partnerflow.engine.runtime import queries, services
from partnerflow.engine.spiff import WorkflowRun
from partnerflow.engine.store.models import ProcessInstance, WorkflowTask
from tests.conftest import FIXTURES, deploy, make_user


def _restore(pf, iid):
    with pf.read() as session:
        instance = session.get(ProcessInstance, iid)
        rows = session.execute(select(WorkflowTask.task_uuid, WorkflowTask.subprocess_uuid,
                                      WorkflowTask.body).where(WorkflowTask.instance_id == iid)).all()
        compiled = pf.catalog.compiled(session, instance.version_id)
        return WorkflowRun.restore(compiled, instance.workflow_state, [tuple(r) for r in rows],
                                   clock=pf.clock, time_limit_s=2, max_depth=800)


def test_a_restored_instance_serialises_exactly_as_it_was_stored(fixture_pf):
    pf = fixture_pf
    deploy(pf, [FIXTURES / "messages.bpmn", FIXTURES / "review_loop.bpmn"])
    make_user(pf, "claire", "direction")
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title="Round-trip", actor="claire")
    with pf.uow() as uow:
        iid = services.start_instance(uow, partnership_id=pid, process_key="review_loop",
                                      actor="claire", data={"rounds": 0, "note": "é€"})
    for round_number in range(5):
        run = _restore(pf, iid)
        # nothing differs between the rows and a full re-serialisation of what they restored to
        assert run.changes(full=True).upserts == []
        assert run.ready_user_tasks()[0].data["note"] == "é€"
        with pf.read() as session:
            [row] = queries.inbox(session, "claire", pf.clock())
        with pf.uow() as uow:
            services.complete_task(uow, task_id=row.id, actor="claire",
                                   data={"decision": "again", "comment": f"tour {round_number}"})
    run = _restore(pf, iid)
    assert run.ready_user_tasks()[0].data["rounds"] == 5
    assert run.ready_user_tasks()[0].data["comment"] == "tour 4"


def test_a_user_task_that_already_ran_is_not_run_again(fixture_pf):
    # a second completion (a request sent twice, a stale page) stops at the adapter too
    import pytest

    from partnerflow.engine.errors import InstanceError
    from partnerflow.engine.store.models import HumanTask

    pf = fixture_pf
    deploy(pf, [FIXTURES / "review_loop.bpmn"])
    make_user(pf, "claire", "direction")
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title="Deux fois", actor="claire")
    with pf.uow() as uow:
        iid = services.start_instance(uow, partnership_id=pid, process_key="review_loop",
                                      actor="claire", data={"rounds": 0})
    with pf.read() as session:
        [row] = queries.inbox(session, "claire", pf.clock())
    with pf.uow() as uow:
        services.complete_task(uow, task_id=row.id, actor="claire",
                               data={"decision": "again", "comment": "relu"})
    with pf.read() as session:
        done = session.get(HumanTask, row.id).task_uuid
    run = _restore(pf, iid)
    with pytest.raises(InstanceError, match="not ready"):
        run.complete_user_task(done, {"decision": "done"})
    [ready] = run.ready_user_tasks()
    with pytest.raises(InstanceError, match="has not run"):  # nor resumed from before it ran
        run.reset_to(ready.uuid)
    assert run.changes().upserts == []  # nothing ran
    # what the instance's diagram marks: the review done once, and open again
    states = run.element_states()["review_loop"]
    assert ready.element_id in states["completed"] and ready.element_id in states["active"]
