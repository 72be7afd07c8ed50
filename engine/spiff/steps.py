"""What an engine step did, in the audit log's terms: gateways taken and why, decisions with
their inputs and the rules that fired, timers fired, scripts and connectors run."""

from __future__ import annotations

from dataclasses import dataclass

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.util.task import TaskState


@dataclass
class StepEvent:
    """Something an engine step did that belongs in the audit log."""

    type: str
    element_id: str
    spec_name: str
    title: str | None
    details: dict


def step_event(task) -> StepEvent | None:
    """The audit event for an engine step (gateway, decision, timer, script), if any."""
    spec = task.task_spec
    bpmn_id = getattr(spec, "bpmn_id", None)
    if bpmn_id is None:
        return None
    kind = type(spec).__name__
    where = (bpmn_id, task.workflow.spec.name, spec.bpmn_name)
    if "Gateway" in kind:
        taken = [c.task_spec.bpmn_id or c.task_spec.name for c in task.children
                 if c.state & (TaskState.READY | TaskState.FUTURE | TaskState.COMPLETED
                               | TaskState.WAITING | TaskState.LIKELY)]
        return StepEvent("gateway_taken", *where, {"outgoing": _flows_taken(task), "next": taken})
    if "BusinessRule" in kind:
        return StepEvent("decision_evaluated", *where, _decision_details(task))
    if isinstance(getattr(spec, "event_definition", None), TimerEventDefinition):
        return StepEvent("timer_fired", *where, {"due": task._get_internal_data("event_value")})
    if kind == "ScriptTask":
        return StepEvent("script_ran", *where, {})
    if kind == "ConnectorTask":
        return StepEvent("connector_ran", *where, {
            "topic": spec.topic, "wrote": list(task._get_internal_data("connector_wrote") or [])})
    return None


def _decision_details(task) -> dict:
    """What the decision table read, what it answered, and which rules fired."""
    table = task.task_spec.dmnEngine.decision_table
    inputs = {}
    for entry in table.inputs:
        try:
            inputs[entry.expression] = task.workflow.script_engine.evaluate(task, entry.expression)
        except Exception:  # noqa: BLE001 - the audit shows what it can
            inputs[entry.expression] = None
    return {"decision": table.name or table.id, "inputs": inputs,
            "outputs": {o.name: task.data.get(o.name) for o in table.outputs},
            "matched_rules": task.internal_data.get("dmn_matched", [])}


def _flows_taken(task) -> list[str]:
    spec = task.task_spec
    names = []
    outputs = {c.task_spec.name for c in task.children if c.state & (
        TaskState.READY | TaskState.FUTURE | TaskState.COMPLETED | TaskState.WAITING)}
    for condition in getattr(spec, "cond_task_specs", []) or []:
        target = condition.get("task_spec") if isinstance(condition, dict) else None
        if target in outputs:
            names.append(f"{condition.get('condition')} -> {target}")
    return names or sorted(outputs)
