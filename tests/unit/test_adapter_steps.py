"""What the adapter bounds within one engine step: the time limit the step's scripts share,
which the time a connector spends does not use up but does not lift either; and data that
cannot be stored, named by the step that holds it."""

from __future__ import annotations

import time

import pytest

from partnerflow.engine import spiff
from partnerflow.engine.errors import InstanceError, ScriptError
from tests.integration.test_connectors import HEAD, diagram, service_task

# start -> a service task (its connector is the step's runner) -> `spin` waits `pause`
# seconds, `rounds` times over -> end
SPIN = ("until = datetime.now() + timedelta(seconds=pause)\n"
        "while datetime.now() &lt; until:\n    pass\nspins = spins + 1")
BUDGET = (HEAD + f'''
  <bpmn:process id="budget" name="Budget" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:serviceTask id="act" name="Agir" camunda:type="external" camunda:topic="test.slow" />
    <bpmn:scriptTask id="spin" name="Attendre" scriptFormat="python">
      <bpmn:script>{SPIN}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:exclusiveGateway id="again" name="Encore ?" default="to_end" />
    <bpmn:endEvent id="end" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="act" />
    <bpmn:sequenceFlow id="f2" sourceRef="act" targetRef="spin" />
    <bpmn:sequenceFlow id="f3" sourceRef="spin" targetRef="again" />
    <bpmn:sequenceFlow id="to_spin" sourceRef="again" targetRef="spin">
      <bpmn:conditionExpression xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
        xsi:type="bpmn:tFormalExpression">spins &lt; rounds</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="to_end" sourceRef="again" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>''').encode()


def _run(data: dict, limit_s: float, connector_s: float = 0.0, script: str | None = None,
         max_depth: int = 800):
    text = BUDGET if script is None else BUDGET.replace(SPIN.encode(), script.encode())
    root = spiff.model.etree.fromstring(text)
    compiled = spiff.compile_process("budget", [("budget.bpmn", root)])
    run = spiff.WorkflowRun.start(compiled, {"spins": 0, **data}, clock=lambda: None,
                                  time_limit_s=limit_s, max_depth=max_depth)

    def slow_connector(call):  # the engine's own work (a PDF rendered, rows written)
        time.sleep(connector_s)
        return {"acted": True}

    run.connector_runner = slow_connector
    return run


def _chain(exc: BaseException | None) -> list[BaseException]:
    """The error raised and those behind it (SpiffWorkflow wraps the sandbox's)."""
    seen = []
    while exc is not None:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def test_after_a_connector_the_scripts_of_the_step_still_share_its_time_limit():
    # each wait stays well under the limit, ten of them do not: the step stops on time
    run = _run({"pause": 0.4, "rounds": 10}, limit_s=1.5)
    began = time.monotonic()
    with pytest.raises(Exception) as caught:  # noqa: PT011 - SpiffWorkflow's wrapper or ours
        run.run_engine_steps()
    assert time.monotonic() - began < 3.5
    [timeout] = [e for e in _chain(caught.value) if isinstance(e, ScriptError)]
    assert "trop long" in str(timeout)
    assert 1 <= run.failed_task_data()["spins"] < 10


def test_the_time_a_connector_spends_is_given_back_to_the_step():
    run = _run({"pause": 0.1, "rounds": 1}, limit_s=1.0, connector_s=1.5)
    run.run_engine_steps()
    assert run.is_completed()
    assert (run.data["acted"], run.data["spins"]) == (True, 1)


def test_data_that_cannot_be_stored_names_the_step_that_holds_it():
    run = _run({"pause": 0, "rounds": 1}, limit_s=5.0, script="huge = 10**5000\nspins = 1")
    run.run_engine_steps()
    with pytest.raises(InstanceError) as caught:
        run.changes()
    assert caught.value.element_id == "spin"
    assert str(caught.value) == ("Attendre (spin) : les données de cette étape ne peuvent pas "
                                 "être enregistrées (un nombre entier y a plus de 4 300 chiffres)")


def test_a_step_with_no_time_left_stops_before_its_first_task_and_names_it():
    # SpiffWorkflow's own first task has no BPMN id: it is named by its spec
    run = _run({"pause": 0, "rounds": 1}, limit_s=0.0)
    with pytest.raises(ScriptError) as caught:
        run.run_engine_steps()
    assert str(caught.value) == "engine steps ran longer than 0 s; stopped before 'Start'"


def test_a_loop_may_reach_the_depth_limit_but_not_pass_it():
    reached = _run({"pause": 0, "rounds": 3}, limit_s=5.0)
    reached.run_engine_steps()
    deepest = reached.max_depth()
    at_limit = _run({"pause": 0, "rounds": 3}, limit_s=5.0, max_depth=deepest)
    at_limit.run_engine_steps()
    assert at_limit.is_completed()
    beyond = _run({"pause": 0, "rounds": 3}, limit_s=5.0, max_depth=deepest - 1)
    with pytest.raises(Exception) as caught:  # noqa: PT011 - SpiffWorkflow's wrapper or ours
        beyond.run_engine_steps()
    [looped] = [e for e in _chain(caught.value) if isinstance(e, InstanceError)]
    assert f"looped {deepest} levels deep" in str(looped)


def _asked(runner):
    """start -> `ask` (a user task) -> `act` (a service task run by `runner`) -> end."""
    root = spiff.model.etree.fromstring(diagram(service_task("test.worker")))
    compiled = spiff.compile_process("with_service", [("with_service.bpmn", root)])
    run = spiff.WorkflowRun.start(compiled, {}, clock=lambda: None, time_limit_s=5, max_depth=800)
    run.connector_runner = runner
    run.run_engine_steps()
    return run


def test_the_points_to_resume_from_are_the_user_tasks_that_ran_and_only_those():
    run = _asked(lambda call: {})
    [ask] = run.ready_user_tasks()
    assert run.completed_user_tasks() == []  # ready, not run yet; the start event ran
    run.complete_user_task(ask.uuid, {"note": "x"})
    run.run_engine_steps()
    assert [v.element_id for v in run.completed_user_tasks()] == ["ask"]


def test_a_task_left_to_a_worker_is_completed_by_it_once():
    calls = []
    run = _asked(lambda call: calls.append(call))  # None: left to an external worker
    [ask] = run.ready_user_tasks()
    run.complete_user_task(ask.uuid, {"note": "x"})
    run.run_engine_steps()
    [call] = calls
    run.complete_external_task(call.task_uuid, {"paid": True})
    run.run_engine_steps()
    assert run.is_completed() and run.data["paid"] is True
    with pytest.raises(InstanceError) as caught:
        run.complete_external_task(call.task_uuid, {"paid": False})
    assert str(caught.value) == "task 'act' is COMPLETED, not waiting for a worker"
