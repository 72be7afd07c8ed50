"""Running one workflow: create, restore from rows, step, and report what changed.

The spec is never serialised with an instance: a version's spec is parsed once and
cached. An instance is stored as its workflow-level state plus one row per task, and
a step writes only the rows whose serialised form changed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.event_definition import MultipleEventDefinitionConverter
from SpiffWorkflow.bpmn.serializer.helpers.spec import TaskSpecConverter
from SpiffWorkflow.bpmn.specs.defaults import ParallelGateway
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.camunda.serializer.event_definition import MessageEventDefinitionConverter
from SpiffWorkflow.util.task import TaskState

from partnerflow.engine.errors import InstanceError, ScriptError
from partnerflow.engine.spiff.clock import using_clock
from partnerflow.engine.spiff.model import (
    CompiledProcess,
    ConnectorTask,
    DataMessageEventDefinition,
    GatewayEventDefinition,
    SharedScopeParallelGateway,
)
from partnerflow.engine.spiff.sandbox import RestrictedScriptEngine
from partnerflow.engine.spiff.steps import StepEvent, step_event

_CONFIG = dict(CAMUNDA_CONFIG)
_CONFIG[DataMessageEventDefinition] = MessageEventDefinitionConverter
_CONFIG[GatewayEventDefinition] = MultipleEventDefinitionConverter


class ConnectorTaskConverter(TaskSpecConverter):
    """A connector task's spec as a dict (compared when instances migrate between versions)."""

    def to_dict(self, spec):
        dct = self.get_default_attributes(spec)
        dct.update(topic=spec.topic, connector_inputs=[list(i) for i in spec.connector_inputs],
                   connector_outputs=[list(o) for o in spec.connector_outputs])
        return dct

    def from_dict(self, dct):
        return self.task_spec_from_dict(dct)


_CONFIG[ConnectorTask] = ConnectorTaskConverter
_CONFIG[SharedScopeParallelGateway] = _CONFIG[ParallelGateway]
SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(_CONFIG))
_REGISTRY = SERIALIZER.registry
_WORKFLOW_CONVERTER = _REGISTRY.convert_from_dict["BpmnWorkflow"].args[0].__self__
_ENCODER = SERIALIZER._encoder_cls

ACTIVE_STATES = TaskState.READY | TaskState.WAITING | TaskState.STARTED
STATE_NAMES = {TaskState.COMPLETED: "completed", TaskState.CANCELLED: "cancelled",
               TaskState.ERROR: "error", TaskState.READY: "ready", TaskState.WAITING: "waiting",
               TaskState.STARTED: "started"}


@dataclass(frozen=True)
class UserTaskView:
    """A ready user task, in the engine's own terms."""

    uuid: str
    element_id: str
    spec_name: str
    state: str
    data: dict
    created_ts: float


@dataclass
class TaskRow:
    uuid: str
    subprocess_uuid: str
    state: int
    body: str
    exists: bool = False  # already stored: an UPDATE rather than an INSERT


@dataclass
class Changes:
    upserts: list[TaskRow] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    workflow_state: dict = field(default_factory=dict)


@dataclass
class ThrownMessage:
    name: str
    payload: object
    # the thrower's camunda:resultVariable: the receiver stores the payload under this name
    result_var: str | None = None


def _timer_definition(task):
    """The timer a task waits for: its own, or one of an event-based gateway's events."""
    definition = getattr(task.task_spec, "event_definition", None)
    if isinstance(definition, TimerEventDefinition):
        return definition
    if isinstance(definition, MultipleEventDefinition):
        return next((d for d in definition.event_definitions
                     if isinstance(d, TimerEventDefinition)), None)
    return None


def _message_definitions(task) -> list:
    """The messages a catching task waits for: its own, or an event-based gateway's."""
    definition = task.task_spec.event_definition
    inner = (definition.event_definitions if isinstance(definition, MultipleEventDefinition)
             else [definition])
    return [d for d in inner if type(d).__name__.endswith("MessageEventDefinition")]


def _dumps(obj) -> str:
    _REGISTRY._encoder_mode = True
    try:
        return json.dumps(_REGISTRY.convert(obj), cls=_ENCODER, separators=(",", ":"),
                          sort_keys=True)
    finally:
        _REGISTRY._encoder_mode = False


def _task_body(task) -> str:
    """A task's JSON; the delta's deletions come from a set, so sort them to keep the
    body stable and avoid rewriting rows whose content did not change."""
    _REGISTRY._encoder_mode = True
    try:
        dct = _REGISTRY.convert(task)
    finally:
        _REGISTRY._encoder_mode = False
    delta = dct.get("delta")
    if delta and delta.get("deletions"):
        delta["deletions"] = sorted(delta["deletions"])
    return json.dumps(dct, cls=_ENCODER, separators=(",", ":"), sort_keys=True)


def _element_of(task) -> tuple[str, str]:
    spec = task.task_spec
    return (getattr(spec, "bpmn_id", None) or spec.name,
            getattr(spec, "bpmn_name", None) or spec.name)


def _locate(exc: Exception, tasks: list, timer: bool = False) -> None:
    """Name the element a failure happened at, when SpiffWorkflow did not say."""
    if getattr(exc, "task", None) is not None or getattr(exc, "element_id", None) or not tasks:
        return
    element, name = _element_of(tasks[0])
    exc.element_id = element
    exc.element_name = name
    if timer and not isinstance(exc, ScriptError):
        exc.add_note("l'expression d'un minuteur doit donner une date ou une durée ISO 8601 sous "
                     "forme de texte, par exemple \"P14D\" (avec les guillemets)")


def _storable_body(task) -> str:
    """The task's JSON; data that cannot be stored names the step that holds it."""
    try:
        return _task_body(task)
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        element, name = _element_of(task)
        reason = ("un nombre entier y a plus de 4 300 chiffres"
                  if "integer string conversion" in str(exc) else str(exc))
        error = InstanceError(f"{name} ({element}) : les données de cette étape ne peuvent pas être "
                              f"enregistrées ({reason})")
        error.element_id = element
        raise error from exc


class WorkflowRun:
    """One workflow in memory, with what is needed to persist only its changes."""

    # The rules that pick the task rows changes() serialises (see its docstring). They are
    # named so that tests/oracle.py can drop each in turn and prove the persistence oracle
    # sees the write it skips; the engine always applies them all.
    ROW_RULES = frozenset({"new", "state_changed", "live", "parent_of_new", "parent_of_removed"})
    row_rules = ROW_RULES

    def __init__(self, compiled: CompiledProcess, workflow: BpmnWorkflow,
                 stored: dict[str, str], clock: Callable[[], datetime],
                 time_limit_s: float, max_depth: int):
        self.compiled = compiled
        self.workflow = workflow
        self._stored = stored  # task uuid -> body as stored
        self._clock = clock
        self._time_limit_s = time_limit_s
        self._max_depth = max_depth
        self.events: list[StepEvent] = []
        self.messages: list[ThrownMessage] = []
        # runs service tasks (engine.connectors.Runner); set by the engine before each step
        self.connector_runner: Callable | None = None
        # Each task's state and moment of its last state change as restored or last written:
        # a task whose pair differs is re-serialised (see changes()). Compared as values, not
        # against the wall clock, which may be set back between a restore and a step.
        self._states = self._state_stamps()

    # ------------------------------------------------------------ creation

    @classmethod
    def start(cls, compiled: CompiledProcess, data: dict, *, clock, time_limit_s: float,
              max_depth: int) -> WorkflowRun:
        workflow = BpmnWorkflow(compiled.spec, compiled.subprocess_specs,
                                script_engine=RestrictedScriptEngine(time_limit_s))
        workflow.data.update(deepcopy(data))
        start = workflow.task_tree
        for task in workflow.get_tasks(state=TaskState.READY):
            task.data.update(deepcopy(data))
        start.data.update(deepcopy(data))
        return cls(compiled, workflow, {}, clock, time_limit_s, max_depth)

    @classmethod
    def restore(cls, compiled: CompiledProcess, state: dict, rows: list[tuple[str, str, str]],
                *, clock, time_limit_s: float, max_depth: int) -> WorkflowRun:
        """Rebuild a workflow from its state and task rows (uuid, subprocess uuid, body)."""
        by_workflow: dict[str, dict] = {}
        stored = {}
        for uuid, sub_uuid, body in rows:
            by_workflow.setdefault(sub_uuid, {})[uuid] = json.loads(body)
            stored[uuid] = body
        dct = deepcopy(state)
        dct["tasks"] = _parents_first(by_workflow.get("", {}), dct["root"])
        for sub_uuid, sub in dct.get("subprocesses", {}).items():
            sub["tasks"] = _parents_first(by_workflow.get(sub_uuid, {}), sub["root"])
        workflow = BpmnWorkflow(compiled.spec, compiled.subprocess_specs, deserializing=True)
        conv = _WORKFLOW_CONVERTER
        workflow.tasks = conv.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        conv.set_default_attributes(workflow, dct)
        conv.subprocesses_from_dict(dct.get("subprocesses", {}), workflow)
        workflow.bpmn_events = _REGISTRY.restore(dct.get("bpmn_events", []))
        # The script engine is not part of the serialisation: re-attach the sandbox.
        workflow.script_engine = RestrictedScriptEngine(time_limit_s)
        return cls(compiled, workflow, stored, clock, time_limit_s, max_depth)

    # ------------------------------------------------------------ running

    def run_engine_steps(self) -> None:
        """Run gateways, scripts, rules and due timers until only waits remain."""
        # the budget bounds what the diagram computes (scripts, loops, gateways); the time a
        # connector spends (the engine's own code: a convention rendered as PDF, database
        # writes) is given back to it
        budget = {"deadline": time.monotonic() + self._time_limit_s}

        current: list = []

        def will_run(task):
            current[:] = [task]
            if time.monotonic() > budget["deadline"]:
                raise ScriptError(
                    f"engine steps ran longer than {self._time_limit_s:g} s; stopped before "
                    f"'{task.task_spec.bpmn_id or task.task_spec.name}'")
            if task.depth > self._max_depth:
                raise InstanceError(
                    f"the instance has looped {task.depth} levels deep at "
                    f"'{task.task_spec.bpmn_id}'; SpiffWorkflow stops silently near 1000. "
                    "Model long repetition as a new instance per round (rolling periods) "
                    "or a multi-instance activity")

        def did_run(task):
            self._record_step(task)

        self._completed = None
        environment = self.workflow.script_engine.environment
        environment.deadline = budget["deadline"]  # every sandboxed evaluation shares it
        runner = self.connector_runner

        def timed_runner(call):
            began = time.monotonic()
            try:
                return runner(call)
            finally:
                budget["deadline"] += time.monotonic() - began
                environment.deadline = budget["deadline"]

        # service tasks reach the engine's connectors through the workflow's script engine
        self.workflow.script_engine.connector_runner = timed_runner if runner is not None else None
        try:
            with using_clock(self._clock):
                self.workflow.refresh_timers()
                self.workflow.do_engine_steps(will_complete_task=will_run, did_complete_task=did_run)
        except Exception as exc:
            # a timer whose expression never gave a due time is the one that failed; else the
            # task that was running
            timers = [t for t in self._waiting_timers() if "event_value" not in t.internal_data]
            _locate(exc, timers or current, timer=bool(timers))
            raise
        finally:
            environment.deadline = None
        self._collect_messages()
        self._check_consistency()

    def _waiting_timers(self) -> list:
        """Timer events that are waiting, or about to (their parent has completed)."""
        reached = TaskState.WAITING | TaskState.READY | TaskState.FUTURE
        return [t for t in self._all_tasks() if t.state & reached
                and (t.parent is None or t.parent.state == TaskState.COMPLETED)
                and _timer_definition(t) is not None]

    def _record_step(self, task) -> None:
        event = step_event(task)
        if event is not None:
            self.events.append(event)

    def _collect_messages(self) -> None:
        for event in self.workflow.get_events():
            definition = event.event_definition
            if type(definition).__name__.endswith("MessageEventDefinition"):
                payload, result_var = event.payload, None
                if isinstance(payload, dict) and "payload" in payload:
                    payload, result_var = payload["payload"], payload.get("result_var")
                self.messages.append(ThrownMessage(definition.name, payload, result_var))

    def _check_consistency(self) -> None:
        """Detect the silent stall: a 'completed' workflow that still has live tasks."""
        self._completed = self.workflow.is_completed()
        if not self._completed:
            return
        live = [t for t in self._all_tasks() if t.state & ACTIVE_STATES]
        if live:
            names = ", ".join(sorted({t.task_spec.bpmn_id or t.task_spec.name for t in live}))
            raise InstanceError(
                f"SpiffWorkflow reports the instance completed while tasks are still active "
                f"({names}); it has probably looped beyond its depth limit")

    def _all_tasks(self):
        yield from self.workflow.tasks.values()
        for sub in self.workflow.subprocesses.values():
            yield from sub.tasks.values()

    def catch_message(self, name: str, payload, result_var: str | None = None) -> bool:
        """Deliver a message to a waiting catch event (or an event-based gateway waiting for
        it); False when nothing waits for it. With the thrower's `result_var` the receiver
        stores the payload under that name, else a payload's keys become its variables."""
        for task in self.waiting_message_tasks():
            for definition in _message_definitions(task):
                if definition.name == name:
                    from SpiffWorkflow.bpmn import BpmnEvent

                    event = BpmnEvent(definition,
                                      payload={"payload": payload, "result_var": result_var})
                    self.workflow.catch(event)
                    return True
        return False

    def waiting_message_tasks(self):
        for task in self._all_tasks():
            if task.state == TaskState.WAITING and isinstance(task.task_spec, CatchingEvent) \
                    and _message_definitions(task):
                yield task

    def waiting_message_names(self) -> list[str]:
        return sorted({d.name for t in self.waiting_message_tasks() for d in _message_definitions(t)})

    def element_states(self) -> dict[str, dict[str, list[str]]]:
        """Per process (spec) name: the BPMN ids completed, active and in error."""
        states: dict[str, dict[str, set[str]]] = {}
        for task in self._all_tasks():
            bpmn_id = getattr(task.task_spec, "bpmn_id", None)
            if not bpmn_id:
                continue
            spec = task.workflow.spec.name
            bucket = states.setdefault(spec, {"completed": set(), "active": set(), "errored": set()})
            if task.state == TaskState.COMPLETED:
                bucket["completed"].add(bpmn_id)
            elif task.state & ACTIVE_STATES:
                bucket["active"].add(bpmn_id)
            elif task.state == TaskState.ERROR:
                bucket["errored"].add(bpmn_id)
        return {spec: {k: sorted(v) for k, v in b.items()} for spec, b in states.items()}

    def failed_task_data(self) -> dict:
        """The data of the task that failed (empty when none is in error)."""
        for task in self._all_tasks():
            if task.state == TaskState.ERROR:
                return deepcopy(task.data)
        return {}

    def reset_errors(self) -> None:
        """Put the tasks that failed back to READY so the next engine steps retry them."""
        for task in self._all_tasks():
            if task.state == TaskState.ERROR:
                task._set_state(TaskState.READY)

    def force_full_write(self) -> None:
        """Serialise every task at the next save (after a migration changed their specs)."""
        self._stored = {uuid: "" for uuid in self._stored}

    def migrate_to(self, compiled: CompiledProcess) -> list[str]:
        """Move this workflow onto another version's spec when it is safe to.

        Returns the reasons it is not safe (nothing is changed then), or [] once migrated.
        Tasks are aligned by BPMN id; a task whose element no longer exists, or a called
        process that is gone, makes the migration unsafe.
        """
        top_diff, sub_diffs = diff_workflow(_REGISTRY, self.workflow, compiled.spec,
                                            compiled.subprocess_specs)
        reasons = [f"'{t.task_spec.bpmn_id or t.task_spec.name}' no longer exists in the new version"
                   for t in top_diff.removed]
        for sub_id, diff in sub_diffs.items():
            sub = self.workflow.subprocesses[sub_id]
            if diff is None:
                reasons.append(f"the called process '{sub.spec.name}' is missing from the new version")
            else:
                reasons.extend(f"'{t.task_spec.bpmn_id or t.task_spec.name}' no longer exists in "
                               f"'{sub.spec.name}'" for t in diff.removed)
        if reasons:
            return sorted(set(reasons))
        migrate_workflow(top_diff, self.workflow, compiled.spec)
        for sub_id, diff in sub_diffs.items():
            sub = self.workflow.subprocesses[sub_id]
            migrate_workflow(diff, sub, compiled.subprocess_specs[sub.spec.name])
        self.workflow.subprocess_specs = compiled.subprocess_specs
        self.compiled = compiled
        return []

    # ------------------------------------------------------------ user tasks

    def ready_user_tasks(self) -> list[UserTaskView]:
        views = []
        for task in self._all_tasks():
            if task.state == TaskState.READY and task.task_spec.manual:
                views.append(self._view(task))
        return views

    def _view(self, task) -> UserTaskView:
        return UserTaskView(
            uuid=str(task.id),
            element_id=task.task_spec.bpmn_id or task.task_spec.name,
            spec_name=task.workflow.spec.name,
            state=STATE_NAMES.get(task.state, TaskState.get_name(task.state).lower()),
            data=task.data,
            created_ts=task.last_state_change,
        )

    def get_task(self, uuid: str):
        task = self.workflow.get_task_from_id(UUID(uuid))
        if task is None:
            raise InstanceError(f"task {uuid} is not part of this instance")
        return task

    def completed_user_tasks(self) -> list[UserTaskView]:
        """User tasks of this instance that ran, in the order they completed: the points it
        can be resumed from."""
        done = [t for t in self._all_tasks()
                if t.state == TaskState.COMPLETED and t.task_spec.manual]
        return [self._view(t) for t in sorted(done, key=lambda t: t.last_state_change)]

    def reset_to(self, uuid: str) -> None:
        """Go back to a completed user task: it is ready again, what followed it is removed."""
        task = self.get_task(uuid)
        if task.state != TaskState.COMPLETED or not task.task_spec.manual:
            raise InstanceError(f"'{task.task_spec.bpmn_id}' has not run; only a completed user "
                                "task can be resumed from")
        self.workflow.reset_from_task_id(task.id)
        self._completed = None

    def complete_user_task(self, uuid: str, data: dict) -> None:
        task = self.get_task(uuid)
        if task.state != TaskState.READY or not task.task_spec.manual:
            raise InstanceError(
                f"task '{task.task_spec.bpmn_id}' is {TaskState.get_name(task.state)}, not ready")
        task.data.update(deepcopy(data))
        self._completed = None
        with using_clock(self._clock):
            task.run()

    def complete_external_task(self, uuid: str, variables: dict) -> None:
        """An external worker finished a service task left to it: its variables reach the
        process data and the task completes (engine steps follow, run by the caller)."""
        task = self._started_service_task(uuid)
        task.data.update(deepcopy(variables))
        task._set_internal_data(connector_wrote=sorted(variables))
        self._completed = None
        with using_clock(self._clock):
            task.complete()

    def throw_bpmn_error(self, uuid: str, code: str, variables: dict) -> bool:
        """A BPMN error from an external worker: the error boundary event on the task that
        catches `code` (or catches every error) takes over and the task is cancelled.
        False when no boundary event catches it (nothing changed)."""
        task = self._started_service_task(uuid)
        for boundary in self._error_boundaries(task):
            definition = boundary.task_spec.event_definition
            if definition.code not in (None, code):
                continue
            event = BpmnEvent(type(definition)(definition.name, code=code), payload=deepcopy(variables),
                              target=boundary.workflow)
            self._completed = None
            with using_clock(self._clock):
                task.data.update(deepcopy(variables))
                boundary.task_spec.catch(boundary, event)
                boundary.task_spec._update(boundary)
            return True
        return False

    def _error_boundaries(self, task) -> list:
        split = task.parent
        if split is None:
            return []
        return [t for t in split.children if t is not task and t.state == TaskState.WAITING
                and type(getattr(t.task_spec, "event_definition", None)).__name__ == "ErrorEventDefinition"]

    def _started_service_task(self, uuid: str):
        task = self.get_task(uuid)
        if task.state != TaskState.STARTED or not isinstance(task.task_spec, ConnectorTask):
            raise InstanceError(f"task '{task.task_spec.bpmn_id}' is "
                                f"{TaskState.get_name(task.state)}, not waiting for a worker")
        return task

    # ------------------------------------------------------------ state

    @property
    def data(self) -> dict:
        return self.workflow.data

    def is_completed(self) -> bool:
        # is_completed() walks the whole tree: reuse the answer of the last engine steps
        if getattr(self, "_completed", None) is None:
            self._completed = self.workflow.is_completed()
        return self._completed

    def next_timer_due(self) -> datetime | None:
        due = []
        for task in self._all_tasks():
            # a timer event, or an event-based gateway that waits for one among its events
            if task.state == TaskState.WAITING and _timer_definition(task) is not None:
                value = task._get_internal_data("event_value")
                if isinstance(value, dict):
                    value = value.get("next")
                if isinstance(value, str):
                    try:
                        due.append(TimerEventDefinition.get_datetime(value))
                    except ValueError:
                        continue
        return min(due) if due else None

    def max_depth(self) -> int:
        return max((t.depth for t in self._all_tasks()), default=0)

    def changes(self, full: bool = False) -> Changes:
        """The task rows to write and delete, and the workflow-level state.

        Only tasks that can have changed are serialised, by five rules (`row_rules`):
        new ones ("new"), those whose state or moment of last state change differs from
        the restore's or the last write's ("state_changed"; compared as values, so that a
        wall clock set back between a restore and a step changes nothing),
        those still live ("live": a waiting timer keeps its due time in internal data, a
        ready task its draft), and the parents of new or removed ones ("parent_of_new",
        "parent_of_removed": their child lists changed). `full=True` serialises
        everything. The persistence oracle (tests/oracle.py) checks after every step of
        every scenario that what was written restores to the run kept in memory.
        """
        changes = Changes()
        rules = self.row_rules
        present: dict[str, tuple[str, object]] = {}
        for sub_uuid, wf in self._workflows():
            for task in wf.tasks.values():
                present[str(task.id)] = (sub_uuid, task)
        removed = [uuid for uuid in self._stored if uuid not in present]
        candidates: dict[str, tuple[str, object]] = {}
        before = self._states
        for uuid, (sub_uuid, task) in present.items():
            new = uuid not in self._stored
            if (full or (new and "new" in rules)
                    or ("state_changed" in rules and uuid in before
                        and before[uuid] != (task.state, task.last_state_change))
                    or ("live" in rules and task.state & ACTIVE_STATES)):
                candidates[uuid] = (sub_uuid, task)
                if new and task.parent is not None and "parent_of_new" in rules:
                    parent_id = str(task.parent.id)
                    candidates[parent_id] = present[parent_id]
        for uuid in removed:
            stored = self._stored[uuid]
            parent_id = json.loads(stored).get("parent") if stored else None
            if parent_id in present and "parent_of_removed" in rules:
                candidates[parent_id] = present[parent_id]
        for uuid, (sub_uuid, task) in candidates.items():
            body = _storable_body(task)
            if self._stored.get(uuid) != body:
                changes.upserts.append(TaskRow(uuid, sub_uuid, task.state, body,
                                               exists=uuid in self._stored))
                self._stored[uuid] = body
        for uuid in removed:
            changes.deletes.append(uuid)
            del self._stored[uuid]
        self._states = {uuid: (task.state, task.last_state_change)
                        for uuid, (_sub, task) in present.items()}
        changes.workflow_state = self.workflow_state()
        return changes

    def _state_stamps(self) -> dict[str, tuple[int, float]]:
        return {str(task.id): (task.state, task.last_state_change) for task in self._all_tasks()}

    def _workflows(self):
        yield "", self.workflow
        for sub_uuid, sub in self.workflow.subprocesses.items():
            yield str(sub_uuid), sub

    def workflow_state(self) -> dict:
        wf = self.workflow
        top = _workflow_level(wf)
        top["bpmn_events"] = json.loads(_dumps(wf.bpmn_events))
        top["subprocesses"] = {}
        for sub_uuid, sub in wf.subprocesses.items():
            level = _workflow_level(sub)
            level["parent_task_id"] = str(sub.parent_task_id)
            level["spec"] = sub.spec.name
            level["typename"] = _REGISTRY.typenames[type(sub)]
            top["subprocesses"][str(sub_uuid)] = level
        return top

    def full_serialization(self) -> str:
        """SpiffWorkflow's own JSON of the whole instance, spec included (for comparison)."""
        return SERIALIZER.serialize_json(self.workflow)


def _parents_first(tasks: dict[str, dict], root: str) -> dict[str, dict]:
    """Order task dicts so a parent comes before its children.

    A task's data is stored as a delta against its parent's, and SpiffWorkflow resolves
    the parent while restoring, so the parent must already be there.
    """
    ordered: dict[str, dict] = {}
    queue = [root]
    while queue:
        uuid = queue.pop()
        body = tasks.get(uuid)
        if body is None or uuid in ordered:
            continue
        ordered[uuid] = body
        queue.extend(reversed(body.get("children", [])))
    for uuid, body in tasks.items():  # unreachable leftovers keep their place at the end
        ordered.setdefault(uuid, body)
    return ordered


def _workflow_level(wf) -> dict:
    return {
        "data": json.loads(_dumps(_REGISTRY.clean(wf.data))),
        "correlations": wf.correlations,
        "last_task": str(wf.last_task.id) if wf.last_task is not None else None,
        "success": wf.success,
        "completed": wf.completed,
        "root": str(wf.task_tree.id),
    }


