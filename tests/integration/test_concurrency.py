"""Several users complete the same task at the same moment: exactly one wins, the others
get a Conflict (PostgreSQL with OS processes; SQLite with threads)."""

from __future__ import annotations

import multiprocessing
import queue as queue_module
import threading

import pytest
from sqlalchemy import func, select

from partnerflow.engine.config import Settings
from partnerflow.engine.errors import Conflict
from partnerflow.engine.runtime import services
from partnerflow.engine.runtime.host import Partnerflow
from partnerflow.engine.store.models import AuditEvent, HumanTask
from tests.conftest import FIXTURES, deploy, make_user

WORKERS = 4


@pytest.fixture
def open_task(fixture_pf):
    pf = fixture_pf
    deploy(pf, [FIXTURES / "review_loop.bpmn"])
    for n in range(WORKERS):
        make_user(pf, f"dir{n}", "direction")
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title="Réseau santé", actor="dir0")
    with pf.uow() as uow:
        iid = services.start_instance(uow, partnership_id=pid, process_key="review_loop",
                                      actor="dir0", data={"rounds": 0})
    with pf.read() as session:
        task_id = session.scalars(select(HumanTask.id).where(HumanTask.instance_id == iid)).one()
    return pf, task_id, iid


def _attempt(pf: Partnerflow, task_id: int, username: str) -> tuple[str, str, str]:
    try:
        with pf.uow() as uow:
            result = services.complete_task(uow, task_id=task_id, actor=username,
                                            data={"decision": "done"})
        return ("ok", username, result.instance_status)
    except Conflict as exc:
        return ("conflict", username, str(exc))
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which fails the test
        return ("other", username, f"{type(exc).__module__}.{type(exc).__name__}: {exc}")


def _process_worker(database_url: str, task_id: int, username: str, barrier, results) -> None:
    """Runs in a spawned OS process: its own engine, its own connections."""
    settings = Settings(database_url=database_url, forms_dir=FIXTURES / "forms",
                        bpmn_dir=FIXTURES, step_time_limit_s=5.0)
    pf = Partnerflow(settings)
    try:
        with pf.read() as session:  # connect before the race starts
            session.get(HumanTask, task_id)
        barrier.wait(timeout=60)
        results.put(_attempt(pf, task_id, username))
    except Exception as exc:  # noqa: BLE001
        results.put(("other", username, repr(exc)))
    finally:
        pf.dispose()


def _check(pf: Partnerflow, task_id: int, instance_id: int, outcomes: list) -> None:
    kinds = sorted(o[0] for o in outcomes)
    assert kinds == ["conflict"] * (WORKERS - 1) + ["ok"], outcomes
    winner = next(o for o in outcomes if o[0] == "ok")
    assert winner[2] == "completed"
    with pf.read() as session:
        task = session.get(HumanTask, task_id)
        assert (task.state, task.completed_by) == ("completed", winner[1])
        completed_events = session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.type == "task_completed", AuditEvent.instance_id == instance_id))
        assert completed_events == 1
        finished = session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.type == "instance_completed", AuditEvent.instance_id == instance_id))
        assert finished == 1
        from partnerflow.engine import audit

        assert audit.verify(session) == []


@pytest.mark.postgres
def test_concurrent_processes_completing_one_task_give_one_winner_and_conflicts(open_task,
                                                                                 db_kind):
    if db_kind != "postgresql":
        pytest.skip("OS-process concurrency is checked on PostgreSQL (--db=postgresql)")
    pf, task_id, instance_id = open_task
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    results = ctx.Queue()
    workers = [ctx.Process(target=_process_worker,
                           args=(pf.settings.database_url, task_id, f"dir{n}", barrier, results))
               for n in range(WORKERS)]
    for worker in workers:
        worker.start()
    outcomes = []
    try:
        for _ in workers:
            outcomes.append(results.get(timeout=120))
    except queue_module.Empty:
        pytest.fail(f"a worker did not report; got {outcomes}")
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.terminate()
    assert all(worker.exitcode == 0 for worker in workers)
    _check(pf, task_id, instance_id, outcomes)


def test_concurrent_threads_completing_one_task_give_one_winner_and_conflicts(open_task):
    pf, task_id, instance_id = open_task
    barrier = threading.Barrier(WORKERS)
    outcomes: list = []
    lock = threading.Lock()

    def run(username: str) -> None:
        barrier.wait(timeout=30)
        outcome = _attempt(pf, task_id, username)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(f"dir{n}",)) for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(outcomes) == WORKERS, outcomes
    _check(pf, task_id, instance_id, outcomes)
