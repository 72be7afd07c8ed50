"""The soak suite (`make soak`, PostgreSQL): 32 concurrent completions, two worker processes
on 1 000 due timers, the web server killed with SIGKILL during 200 completions, and the
form fuzzer with many examples per form."""

from __future__ import annotations

import http.client
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from partnerflow.engine.store.models import AuditEvent, HumanTask, ProcessInstance
from tests.integration.test_concurrency import _process_worker
from tests.reliability import harness
from tests.reliability.test_fast import fuzz

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(1800)]


def test_32_processes_complete_one_task_exactly_one_wins(fixture_pf, database_url):
    pf = fixture_pf
    harness.deploy_fixtures(pf)
    names = harness.users(pf, 32)
    [task_id] = harness.review_tasks(pf, 1)
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(32), ctx.Queue()
    processes = [ctx.Process(target=_process_worker, args=(database_url, task_id, name, barrier, results))
                 for name in names]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=300) for _ in processes]
    for process in processes:
        process.join(60)
    kinds = sorted(o[0] for o in outcomes)
    assert kinds == ["conflict"] * 31 + ["ok"], outcomes
    with pf.read() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.type == "task_completed")) == 1
    harness.check_consistency(pf)


def test_two_worker_processes_fire_1000_due_timers_exactly_once(fixture_pf, database_url, tmp_path):
    pf = fixture_pf
    harness.deploy_fixtures(pf)
    harness.users(pf, 1)
    ids = harness.due_timers(pf, 1000)
    env = harness.server_env(database_url)
    partnerflow = Path(sys.executable).parent / "partnerflow"
    logs = [tmp_path / f"worker{n}.log" for n in range(2)]
    workers = [subprocess.Popen([str(partnerflow), "worker", "--interval", "0.2", "--batch", "50"],
                                env=env, stdout=subprocess.DEVNULL, stderr=open(log, "w"))  # noqa: SIM115
               for log in logs]
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            with pf.read() as session:
                left = session.scalar(select(func.count()).select_from(ProcessInstance).where(
                    ProcessInstance.status == "running", ProcessInstance.next_timer_at.is_not(None)))
            if left == 0:
                break
            time.sleep(0.5)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        codes = [worker.wait(60) for worker in workers]
    assert codes == [0, 0]
    with pf.read() as session:
        fired = dict(session.execute(select(AuditEvent.instance_id, func.count()).where(
            AuditEvent.type == "timer_fired").group_by(AuditEvent.instance_id)).all())
        tasks = dict(session.execute(select(HumanTask.instance_id, func.count()).where(
            HumanTask.element_id == "after_timer").group_by(HumanTask.instance_id)).all())
    assert fired == {i: 1 for i in ids}
    assert tasks == {i: 1 for i in ids}
    per_worker = [log.read_text().count('"timer fired') for log in logs]
    assert sum(per_worker) == 1000 and min(per_worker) > 0, per_worker
    print(f"timers fired per worker: {per_worker}")


def test_the_web_server_killed_at_random_during_200_completions_loses_nothing(fixture_pf, database_url,
                                                                             tmp_path):
    pf = fixture_pf
    harness.deploy_fixtures(pf)
    harness.users(pf, 1, password=harness.PASSWORD)
    first_round = harness.review_tasks(pf, 100)
    server = harness.Gunicorn(harness.server_env(database_url), workers=2, log=tmp_path / "gunicorn.log")
    server.start()
    browser = harness.Browser(server.url)
    browser.login("dir0")
    rng = random.Random(20260302)
    kills, completions = 0, 0
    queue = [(task_id, "again") for task_id in first_round]
    try:
        while queue:
            task_id, decision = queue.pop(0)
            killer = None
            if rng.random() < 0.12:
                killer = threading.Timer(rng.uniform(0.0, 0.08), server.kill)
                killer.start()
            try:
                token = browser.token(f"/taches/{task_id}")
                status = browser.post(f"/taches/{task_id}", {"csrf_token": token, "action": "complete",
                                                             "decision": decision})
            except (OSError, http.client.HTTPException):  # the kill landed during the request
                status = None
            if killer is not None:
                killer.join()
                if server.process.poll() is not None:
                    kills += 1
                    server.start()
            with pf.read() as session:
                task = session.get(HumanTask, task_id)
                state, instance_id = task.state, task.instance_id
            if state == "open":  # rolled back by the kill: do it again
                queue.insert(0, (task_id, decision))
                continue
            assert status in (302, None), status
            completions += 1
            if decision == "again":
                with pf.read() as session:
                    [next_task] = session.scalars(select(HumanTask.id).where(
                        HumanTask.instance_id == instance_id, HumanTask.state == "open"))
                queue.append((next_task, "done"))
    finally:
        server.stop()
    assert completions == 200 and kills >= 5, (completions, kills)
    counts = harness.check_consistency(pf)
    with pf.read() as session:
        per_task = session.execute(select(AuditEvent.task_uuid, func.count()).where(
            AuditEvent.type == "task_completed").group_by(AuditEvent.task_uuid)).all()
        statuses = set(session.scalars(select(ProcessInstance.status)))
    assert len(per_task) == 200 and {n for _uuid, n in per_task} == {1}
    assert statuses == {"completed"} and counts["open_tasks"] == 0
    print(f"server killed {kills} times during 200 completions")


def test_the_form_fuzzer_with_many_examples(pf, clock, monkeypatch):
    from partnerflow.engine.access import accounts

    monkeypatch.setattr(accounts, "_N", 2**4)
    seen, fuzzed = fuzz(pf, clock, examples=int(os.environ.get("PARTNERFLOW_FUZZ_EXAMPLES", "60")))
    assert "500" not in seen
    print(f"fuzzer statuses: {seen}; forms: {sorted(fuzzed)}")
