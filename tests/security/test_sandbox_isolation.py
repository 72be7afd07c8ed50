"""No script, condition, timer expression or decision cell can freeze or exhaust the server:
they run in sandbox processes that are killed at the deadline or when they need too much
memory, and the step ends with an instance error naming the element and the reason."""

from __future__ import annotations

import threading
import time
import urllib.request

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from partnerflow.engine.errors import DeploymentRejected
from partnerflow.engine.runtime import services
from partnerflow.engine.runtime.host import Partnerflow
from partnerflow.engine.store.models import HumanTask, ProcessInstance
from partnerflow.web import create_app
from tests.conftest import deploy, make_user
from tests.integration.test_hostile_diagrams import (
    CONDITION,
    REVIEW_NAME,
    SCRIPT,
    review,
    xml_text,
)

LIMIT = 1.0
# Unbounded, these bombs hold a process from 20 s (the factorial) to hours; stopped, the step
# costs the limit plus loading, recording the error and committing, which a loaded two-core
# machine has been seen to stretch past a second. The margin keeps the test about the kill,
# not about the machine's load.
STOPPED_WITHIN = LIMIT + 4.0


@pytest.fixture
def sandboxed(fixture_pf):
    pf = Partnerflow(fixture_pf.settings.with_(step_time_limit_s=LIMIT), clock=fixture_pf.clock)
    make_user(pf, "dir", "direction")
    make_user(pf, "root", "admin")
    yield pf
    pf.dispose()


def _run_review_with_script(pf, script: str):
    deploy(pf, [(REVIEW_NAME, review((SCRIPT, xml_text(script))))])
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title="Réseau santé", actor="dir")
    with pf.uow() as uow:
        iid = services.start_instance(uow, partnership_id=pid, process_key="review_loop",
                                      actor="dir", data={"rounds": 0})
    with pf.read() as session:
        task_id = session.scalar(select(HumanTask.id).where(HumanTask.instance_id == iid,
                                                            HumanTask.state == "open"))
    return iid, task_id


def _complete(pf, task_id):
    with pf.uow() as uow:
        return services.complete_task(uow, task_id=task_id, actor="dir", data={"decision": "done"})


BOMBS = [
    pytest.param("y = 10**10**7", "trop long", id="power-10-10-7"),
    pytest.param("y = 10**10**8", "trop long", id="power-10-10-8"),
    pytest.param("n = len('x'.ljust(10**9))", "trop de mémoire", id="ljust-1GB"),
    # some 20 s of CPU: factorial(400000) takes about 1.1 s, too close to the limit, and its
    # decimal string is refused at once (4 300 digits) when it finishes first
    pytest.param("n = math.factorial(2000000).bit_length()", "trop long", id="factorial"),
    pytest.param("def f(k):\n    return f(k + 1)\nf(0)", "trop de récursion", id="deep-recursion"),
    pytest.param("while True:\n    pass", "trop long", id="while-true"),
]


@pytest.mark.parametrize(("script", "reason"), BOMBS)
def test_a_runaway_script_ends_the_step_within_the_limit_with_a_named_reason(sandboxed, script,
                                                                            reason):
    iid, task_id = _run_review_with_script(sandboxed, script)
    started = time.monotonic()
    completion = _complete(sandboxed, task_id)
    elapsed = time.monotonic() - started
    assert elapsed < STOPPED_WITHIN, f"the step ran {elapsed:.2f} s"
    assert completion.instance_status == "error"
    with sandboxed.read() as session:
        instance = session.get(ProcessInstance, iid)
        assert instance.status == "error"
        assert instance.error_element == "count_round"
        assert reason in instance.error_message
        assert "Compter le tour" in instance.error_message


def test_a_runaway_condition_is_stopped_too(sandboxed):
    deploy(sandboxed, [(REVIEW_NAME, review((CONDITION, xml_text("len(str(10**10**7)) > 3"))))])
    with sandboxed.uow() as uow:
        pid = services.create_partnership(uow, title="Réseau", actor="dir")
    with sandboxed.uow() as uow:
        iid = services.start_instance(uow, partnership_id=pid, process_key="review_loop",
                                      actor="dir", data={"rounds": 0})
    with sandboxed.read() as session:
        task_id = session.scalar(select(HumanTask.id).where(HumanTask.instance_id == iid))
    started = time.monotonic()
    _complete(sandboxed, task_id)
    assert time.monotonic() - started < STOPPED_WITHIN
    with sandboxed.read() as session:
        instance = session.get(ProcessInstance, iid)
        assert instance.status == "error" and "trop long" in instance.error_message


def test_the_server_keeps_answering_while_a_bad_script_runs(sandboxed):
    """/health is served by another thread of the same process while a step computes
    10**10**7 (which held the interpreter for 19 s when it ran in-process)."""
    slow = Partnerflow(sandboxed.settings.with_(step_time_limit_s=4.0), clock=sandboxed.clock)
    _, task_id = _run_review_with_script(slow, "y = 10**10**7")
    server = make_server("127.0.0.1", 0, create_app(partnerflow=slow, TESTING=True), threaded=True)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    worker = threading.Thread(target=_complete, args=(slow, task_id), daemon=True)
    try:
        worker.start()
        time.sleep(0.3)  # the bad script is now running
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/health",
                                    timeout=3) as response:
            assert response.status == 200
        assert worker.is_alive(), "the step was expected to be still running"
    finally:
        worker.join(10)
        server.shutdown()
        slow.dispose()


@pytest.mark.parametrize("name", ["getattr", "open", "eval", "exec", "compile", "globals", "vars",
                                  "type", "setattr"])
def test_deploy_refuses_names_the_sandbox_never_provides(fixture_pf, name):
    script = f"x = {name}(rounds)"
    with pytest.raises(DeploymentRejected) as caught:
        deploy(fixture_pf, [(REVIEW_NAME, review((SCRIPT, script)))])
    problems = caught.value.problems
    assert any(p.element_id == "count_round" and f"'{name}'" in p.message for p in problems), problems


def test_deploy_refuses_an_unavailable_name_in_a_condition(fixture_pf):
    with pytest.raises(DeploymentRejected) as caught:
        deploy(fixture_pf, [(REVIEW_NAME, review((CONDITION, "vars() is not None")))])
    assert any(p.element_id == "flow_again" and "'vars'" in p.message for p in caught.value.problems)


def test_dates_a_designer_expects_work_in_a_script(sandboxed):
    script = ("today = date.today().isoformat()\n"
              "parsed = datetime.strptime('2027-03-31', '%Y-%m-%d').date().isoformat()\n"
              "rounds = rounds + 1")
    iid, task_id = _run_review_with_script(sandboxed, script)
    completion = _complete(sandboxed, task_id)
    assert completion.instance_status == "completed", completion.error
    with sandboxed.uow() as uow:
        from partnerflow.engine.runtime import stepping

        instance = uow.session.get(ProcessInstance, iid)
        data = dict(stepping.restore(uow, instance).workflow.last_task.data)
    assert data["parsed"] == "2027-03-31"
    assert len(data["today"]) == 10


@pytest.mark.skipif(__import__("os").geteuid() != 0, reason="privileges are dropped only from root")
def test_a_sandbox_process_started_by_root_runs_as_nobody():
    import pickle

    from partnerflow.engine.spiff import sandbox

    worker = sandbox._Worker(64 * 1024 * 1024)
    try:
        reply = worker.ask(("eval", "sorted([2, 1])", {}, {}, 5.0), 5.0)
        assert pickle.loads(reply) == ("ok", [1, 2])  # the process is serving
        with open(f"/proc/{worker.proc.pid}/status") as status:
            uid_line = next(line for line in status if line.startswith("Uid:"))
        assert uid_line.split()[1:] == ["65534"] * 4
    finally:
        worker.kill()


def test_a_sandbox_process_inherits_no_secret_from_the_server(monkeypatch):
    from partnerflow.engine.spiff import sandbox

    monkeypatch.setenv("PARTNERFLOW_SECRET_KEY", "s3cret-not-for-diagrams")
    worker = sandbox._Worker(64 * 1024 * 1024)
    try:
        with open(f"/proc/{worker.proc.pid}/environ", "rb") as environ:
            assert b"s3cret" not in environ.read()
    finally:
        worker.kill()
