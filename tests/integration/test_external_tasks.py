"""External tasks: a service task whose topic no bundled connector serves waits for an
external worker (Camunda 7's contract): fetch-and-lock by topic, complete with variables, a
failure with retries and a delay (an incident once none are left), a longer lock, a BPMN
error caught by the task's error boundary event; two fetchers never get the same task."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from partnerflow.engine.errors import Conflict, Forbidden, InvalidInput
from partnerflow.engine.runtime import external, queries, services
from partnerflow.engine.store.models import ExternalTask, Incident, ProcessInstance
from tests.conftest import make_user
from tests.integration.test_connectors import HEAD, deploy_bytes, diagram, service_task

TOPIC = "finance.invoice"


def with_boundary(key: str = "with_boundary") -> bytes:
    """start -> the external task (an error boundary `REFUSED` -> `refused` user task) -> end."""
    return (HEAD + f'''
  <bpmn:error id="err" name="Refus" errorCode="REFUSED" />
  <bpmn:process id="{key}" name="Avec une erreur" isExecutable="true">
    <bpmn:laneSet><bpmn:lane id="lane" name="Direction">
      <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>act</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>refused</bpmn:flowNodeRef><bpmn:flowNodeRef>done</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>caught</bpmn:flowNodeRef><bpmn:flowNodeRef>end2</bpmn:flowNodeRef>
    </bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start" />
    <bpmn:serviceTask id="act" name="Facturer" camunda:type="external" camunda:topic="{TOPIC}" />
    <bpmn:boundaryEvent id="caught" attachedToRef="act"><bpmn:errorEventDefinition errorRef="err" />
    </bpmn:boundaryEvent>
    <bpmn:userTask id="refused" name="Traiter le refus" />
    <bpmn:endEvent id="done" /><bpmn:endEvent id="end2" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="act" />
    <bpmn:sequenceFlow id="f2" sourceRef="act" targetRef="done" />
    <bpmn:sequenceFlow id="f3" sourceRef="caught" targetRef="refused" />
    <bpmn:sequenceFlow id="f4" sourceRef="refused" targetRef="end2" />
  </bpmn:process>
</bpmn:definitions>''').encode()


@pytest.fixture
def office(pf):
    make_user(pf, "claire", "direction")
    make_user(pf, "ines", "admin", "designer")
    make_user(pf, "robot", "worker")
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title="Facturation", actor="claire")
    return pf, pid


def waiting(pf, pid, content=None, key="with_service") -> int:
    """An instance waiting on its external task (after the user task, for `diagram`)."""
    deploy_bytes(pf, content or diagram(service_task(TOPIC, {"amount": "${note}"})), f"{key}.bpmn")
    with pf.uow() as uow:
        iid = services.start_instance(uow, partnership_id=pid, process_key=key, actor="claire")
    with pf.read() as db:
        tasks = [t for t in queries.tasks_of_partnership(db, pid) if t.state == "open"]
    if tasks and key == "with_service":
        with pf.uow() as uow:
            services.complete_task(uow, task_id=tasks[0].id, actor="claire", data={"note": "120"})
    return iid


def fetch(pf, worker="w1", topic=TOPIC, lock_ms=60_000, actor="robot", max_tasks=10):
    with pf.uow() as uow:
        return external.fetch_and_lock(uow, actor=actor, worker_id=worker, topics=[(topic, lock_ms)],
                                       max_tasks=max_tasks)


def status(pf, iid) -> str:
    with pf.read() as db:
        return db.get(ProcessInstance, iid).status


def test_an_unknown_topic_deploys_and_the_instance_waits_until_a_worker_completes_it(office):
    pf, pid = office
    iid = waiting(pf, pid)
    assert status(pf, iid) == "running"
    [locked] = fetch(pf)
    assert locked.topic == TOPIC and locked.variables["note"] == "120"
    assert fetch(pf, worker="w2") == []  # locked: nobody else gets it
    with pf.uow() as uow, pytest.raises(Conflict):
        external.complete(uow, actor="robot", task_id=locked.id, worker_id="w2", variables={})
    with pf.uow() as uow:
        external.complete(uow, actor="robot", task_id=locked.id, worker_id="w1",
                          variables={"invoice_number": "F-2026-001"})
    assert status(pf, iid) == "completed"
    with pf.read() as db:
        row = db.get(ExternalTask, locked.id)
        instance = db.get(ProcessInstance, iid)
        assert row.state == "completed"
    from partnerflow.engine.runtime import stepping
    with pf.uow() as uow:
        run = stepping.restore(uow, uow.session.get(ProcessInstance, iid))
        assert run.data["invoice_number"] == "F-2026-001"
    assert instance.error_message is None


def test_only_a_worker_or_an_administrator_fetches_and_bad_input_names_its_field(office):
    pf, pid = office
    waiting(pf, pid)
    with pytest.raises(Forbidden):
        fetch(pf, actor="claire")
    with pytest.raises(InvalidInput) as error:
        fetch(pf, lock_ms=0)
    assert "lockDuration" in error.value.errors
    assert len(fetch(pf, actor="ines")) == 1


def test_a_lock_expires_and_can_be_extended(office, clock):
    pf, pid = office
    waiting(pf, pid)
    [locked] = fetch(pf, lock_ms=1000)
    with pf.uow() as uow:
        external.extend_lock(uow, actor="robot", task_id=locked.id, worker_id="w1", new_duration=60_000)
    clock.advance(seconds=30)
    assert fetch(pf, worker="w2") == []
    clock.advance(seconds=31)
    [again] = fetch(pf, worker="w2")
    assert again.id == locked.id
    with pf.uow() as uow, pytest.raises(Conflict):
        external.complete(uow, actor="robot", task_id=locked.id, worker_id="w1")


def test_failures_retry_after_their_delay_and_the_last_one_is_an_incident_that_retry_resolves(office, clock):
    pf, pid = office
    iid = waiting(pf, pid)
    [locked] = fetch(pf)
    with pf.uow() as uow:
        external.handle_failure(uow, actor="robot", task_id=locked.id, worker_id="w1",
                                error_message="serveur de facturation injoignable", retries=1,
                                retry_timeout=5000)
    assert fetch(pf) == []  # the retry delay
    clock.advance(seconds=6)
    [second] = fetch(pf)
    assert second.retries == 1 and second.error_message == "serveur de facturation injoignable"
    with pf.uow() as uow:
        external.handle_failure(uow, actor="robot", task_id=locked.id, worker_id="w1",
                                error_message="toujours injoignable", error_details="trace", retries=0)
    assert status(pf, iid) == "error"
    with pf.read() as db:
        [incident] = db.scalars(select(Incident).where(Incident.instance_id == iid)).all()
        assert incident.element_id == "act" and "toujours injoignable" in incident.message
        assert incident.during == "external_task"
    clock.advance(minutes=1)
    assert fetch(pf) == []
    with pf.uow() as uow:
        assert services.retry_instance(uow, instance_id=iid, actor="ines") == "running"
    [third] = fetch(pf)
    with pf.uow() as uow:
        external.complete(uow, actor="robot", task_id=third.id, worker_id="w1")
    assert status(pf, iid) == "completed"


def test_a_bpmn_error_goes_to_the_error_boundary_event_and_an_uncaught_one_is_an_incident(office):
    pf, pid = office
    iid = waiting(pf, pid, with_boundary(), key="with_boundary")
    [locked] = fetch(pf)
    with pf.uow() as uow:
        external.bpmn_error(uow, actor="robot", task_id=locked.id, worker_id="w1",
                            error_code="REFUSED", variables={"reason": "budget épuisé"})
    assert status(pf, iid) == "running"
    with pf.read() as db:
        [task] = [t for t in queries.tasks_of_partnership(db, pid) if t.state == "open"]
        assert task.element_id == "refused"
        assert db.get(ExternalTask, locked.id).state == "bpmn_error"

    other = waiting(pf, pid, with_boundary(), key="with_boundary")
    [locked] = fetch(pf)
    with pf.uow() as uow:
        external.bpmn_error(uow, actor="robot", task_id=locked.id, worker_id="w1", error_code="OTHER")
    assert status(pf, other) == "error"


def test_cancelling_the_instance_cancels_its_external_task(office):
    pf, pid = office
    iid = waiting(pf, pid)
    with pf.uow() as uow:
        services.cancel_instance(uow, instance_id=iid, actor="claire", reason="abandon")
    assert fetch(pf) == []
    with pf.read() as db:
        assert [t.state for t in external.of_instance(db, iid)] == ["cancelled"]


@pytest.mark.postgres
def test_two_concurrent_fetchers_never_get_the_same_task_on_postgresql(office, db_kind):
    if db_kind != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's")
    pf, pid = office
    for _ in range(6):
        waiting(pf, pid)
    got: dict[str, list[int]] = {}
    barrier = threading.Barrier(2)

    def worker(name: str) -> None:
        barrier.wait()
        ids = []
        for _ in range(6):
            ids += [t.id for t in fetch(pf, worker=name, max_tasks=1)]
        got[name] = ids

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not set(got["a"]) & set(got["b"])
    assert len(got["a"]) + len(got["b"]) == 6
