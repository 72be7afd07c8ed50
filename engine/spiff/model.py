"""Reading deployed BPMN/DMN into SpiffWorkflow specs, plus what SpiffWorkflow ignores.

SpiffWorkflow's CamundaParser reads form keys and decision refs but not
`camunda:assignee`, `camunda:candidateGroups` or `camunda:dueDate`; those, the lanes
and the French names are read here from the same hardened lxml tree into plain
`UserTaskMeta` records that the rest of the engine uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator, full_tag
from SpiffWorkflow.bpmn.parser.task_parsers import GatewayParser
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.defaults import ParallelGateway, ServiceTask
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import EventBasedGateway
from SpiffWorkflow.bpmn.util import BpmnEvent
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.camunda.parser.task_spec import CamundaTaskParser
from SpiffWorkflow.camunda.specs.event_definitions import (
    MessageEventDefinition as CamundaMessageEventDefinition,
)
from SpiffWorkflow.dmn.engine.DMNEngine import DMNEngine
from SpiffWorkflow.exceptions import SpiffWorkflowException

from partnerflow.engine.access.groups import stage_for_process
from partnerflow.engine.errors import N_, Problem

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "camunda": "http://camunda.org/schema/1.0/bpmn",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
}
CAMUNDA = f"{{{NS['camunda']}}}"
SPIFF_DIR = Path(__import__("SpiffWorkflow").__file__).resolve().parent
BPMN_XSD = SPIFF_DIR / "bpmn" / "parser" / "schema" / "BPMN20.xsd"
DMN_XSD = {
    "https://www.omg.org/spec/DMN/20191111/MODEL/": SPIFF_DIR / "dmn/parser/schema/DMN13.xsd",
    "http://www.omg.org/spec/DMN/20180521/MODEL/": SPIFF_DIR / "dmn/parser/schema/DMN12.xsd",
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd": SPIFF_DIR / "dmn/parser/schema/DMN.xsd",
}


def is_camunda_form_key(key: str | None) -> bool:
    """A form key written for Camunda's own task list (`embedded:app:forms/x.html`,
    `camunda-forms:app:x.form`, `app:...`, a URL or an expression), which names no form here.
    A plain key (`idea`) is the method's own: it must name forms/<key>.json."""
    return bool(key) and any(mark in key for mark in (":", "/", "${", "#{"))


@dataclass(frozen=True)
class UserTaskMeta:
    """What the inbox needs to know about a user task, read from the diagram."""

    element_id: str
    process_key: str
    title: str
    lane: str | None
    form_key: str | None
    has_form_fields: bool
    candidate_groups: tuple[str, ...]
    assignee: str | None
    due_date: str | None
    stage: str | None
    form_fields: tuple = ()
    # the inbox title, may name variables: "Rédiger la version ${draft_version} du projet"
    title_template: str | None = None
    # camunda:property shows: the earlier steps the task shows (engine/views.py), for a
    # diagram without a form file
    shows: str | None = None
    # camunda:property confirm_password = true: completing it asks for the password again
    confirm_password: bool = False
    # a Camunda Forms reference (camunda:formRef), which Partnerflow cannot show
    form_ref: str | None = None
    # camunda:candidateUsers, as written (user names or ${variable})
    candidate_users: tuple[str, ...] = ()
    # userTask | manualTask
    kind: str = "userTask"
    # the group keys the task is offered to, resolved when the version is loaded (its
    # lane through the version's lane mapping, else its candidate groups and candidate users)
    groups: tuple[str, ...] = ()
    # the group its lane stands for, the role the inbox names (the committee's lane, even
    # when candidate groups and users say who may act)
    lane_group: str | None = None
    # the English name (camunda:property name_en) and title template (title_en)
    title_en: str | None = None
    title_template_en: str | None = None


@dataclass
class ModelInfo:
    """A process's structure as read from its file: user tasks, calls, start form."""

    process_key: str
    name: str | None
    filename: str
    calls: set[str] = field(default_factory=set)
    decisions: set[str] = field(default_factory=set)
    start_form_key: str | None = None
    start_message: str | None = None
    stage: str | None = None
    user_tasks: dict[str, UserTaskMeta] = field(default_factory=dict)
    executable: bool = True
    name_en: str | None = None


# ---------------------------------------------------------------- XSD validation

_validators: dict[str, BpmnValidator] = {}


def _validator(xsd: Path) -> BpmnValidator:
    key = str(xsd)
    if key not in _validators:
        _validators[key] = BpmnValidator(xsd_path=key)
    return _validators[key]


def xsd_problems(root: etree._Element, kind: str, filename: str) -> list[Problem]:
    """Validate against the BPMN 2.0 or DMN schema; every problem located by line."""
    xsd = BPMN_XSD if kind == "bpmn" else DMN_XSD[etree.QName(root).namespace]
    validator = _validator(xsd).validator
    # BpmnValidator.preprocess rewrites a bpmn.io quirk in place; work on a copy.
    doc = etree.fromstring(etree.tostring(root))
    _validator(xsd).preprocess(doc)
    if validator.validate(doc):
        return []
    problems = []
    for err in list(validator.error_log)[:20]:
        message = re.sub(r"\{[^}]+\}", "", err.message)
        problems.append(Problem.of(filename, N_("le fichier ne suit pas le schéma %(kind)s : "
                                                "%(detail)s"), line=err.line,
                                   hint=N_("enregistrez de nouveau le fichier depuis un modeleur "
                                           "BPMN ou DMN"), kind=kind.upper(), detail=message))
    return problems


# ---------------------------------------------------------------- structure


def _process_property(process: etree._Element, name: str) -> str | None:
    for prop in process.iterfind("bpmn:extensionElements/camunda:properties/camunda:property", NS):
        if prop.get("name") == name:
            return prop.get("value")
    return None


def _lanes(process: etree._Element) -> dict[str, str]:
    """Element id -> lane name, for lanes at any nesting depth."""
    lanes: dict[str, str] = {}
    for lane in process.iterfind(".//bpmn:lane", NS):
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            if ref.text:
                lanes[ref.text.strip()] = lane.get("name") or lane.get("id")
    return lanes


def _enclosing_lane(element: etree._Element, lanes: dict[str, str]) -> str | None:
    node = element
    while node is not None:
        if node.get("id") in lanes:
            return lanes[node.get("id")]
        node = node.getparent()
    return None


def _spec_name_of(element: etree._Element) -> str:
    """The SpiffWorkflow spec an element lives in: its process or embedded subprocess."""
    node = element.getparent()
    while node is not None:
        tag = etree.QName(node).localname
        if tag in ("process", "subProcess", "transaction", "adHocSubProcess"):
            return node.get("id")
        node = node.getparent()
    return ""


def read_processes(root: etree._Element, filename: str) -> dict[str, ModelInfo]:
    """Every process of a BPMN document with its calls, decisions and user tasks."""
    infos: dict[str, ModelInfo] = {}
    messages = {m.get("id"): m.get("name") for m in root.iterfind(".//bpmn:message", NS)}
    for process in root.iterfind("bpmn:process", NS):
        key = process.get("id")
        info = ModelInfo(key, process.get("name"), filename,
                         executable=process.get("isExecutable", "true") == "true",
                         name_en=_task_property(process, NAME_PROPERTY["en"]))
        info.stage = stage_for_process(key, _process_property(process, "stage"))
        lanes = _lanes(process)
        for call in process.iterfind(".//bpmn:callActivity", NS):
            if call.get("calledElement"):
                info.calls.add(call.get("calledElement"))
        for rule in process.iterfind(".//bpmn:businessRuleTask", NS):
            if rule.get(f"{CAMUNDA}decisionRef"):
                info.decisions.add(rule.get(f"{CAMUNDA}decisionRef"))
        for start in process.iterfind("bpmn:startEvent", NS):
            if start.get(f"{CAMUNDA}formKey") and not is_camunda_form_key(start.get(f"{CAMUNDA}formKey")):
                info.start_form_key = start.get(f"{CAMUNDA}formKey")
            msg = start.find("bpmn:messageEventDefinition", NS)
            if msg is not None:
                info.start_message = messages.get(msg.get("messageRef")) or start.get("name")
        for task in [*process.iterfind(".//bpmn:userTask", NS),
                     *process.iterfind(".//bpmn:manualTask", NS)]:
            groups = task.get(f"{CAMUNDA}candidateGroups") or ""
            users = task.get(f"{CAMUNDA}candidateUsers") or ""
            element_id = task.get("id")
            info.user_tasks[element_id] = UserTaskMeta(
                element_id=element_id,
                process_key=_spec_name_of(task) or key,
                title=(task.get("name") or element_id).strip(),
                lane=_enclosing_lane(task, lanes),
                form_key=task.get(f"{CAMUNDA}formKey"),
                has_form_fields=task.find(".//camunda:formData/camunda:formField", NS) is not None,
                candidate_groups=tuple(g.strip() for g in groups.split(",") if g.strip()),
                candidate_users=tuple(u.strip() for u in users.split(",") if u.strip()),
                kind=etree.QName(task).localname,
                assignee=task.get(f"{CAMUNDA}assignee"),
                due_date=task.get(f"{CAMUNDA}dueDate"),
                stage=info.stage,
                form_fields=_form_fields(task),
                title_template=_task_property(task, "title"),
                shows=_task_property(task, "shows"),
                confirm_password=(_task_property(task, "confirm_password") or "").strip().lower() == "true",
                form_ref=task.get(f"{CAMUNDA}formRef"),
                title_en=_task_property(task, NAME_PROPERTY["en"]),
                title_template_en=_task_property(task, TITLE_PROPERTY["en"]),
            )
        infos[key] = info
    return infos


# An element's name in another language than French (its `name`): an extension property
# (camunda:properties, the properties panel's "Extension properties"), which the web
# modeller and the desktop Camunda Modeler both edit and the deployed file carries.
NAME_PROPERTY = {"en": "name_en"}
# the inbox title template in another language, beside the `title` property
TITLE_PROPERTY = {"en": "title_en"}


def read_names(root: etree._Element) -> dict[str, dict[str, str]]:
    """The names of a BPMN document's elements per language: element id -> {"fr": its name,
    "en": its name_en property}, for every element that has one (processes, participants,
    lanes, tasks, events, gateways, flows); a sequence flow also gives its "source" and
    "target", so that a gateway's path can be told by its flows' names."""
    names: dict[str, dict[str, str]] = {}
    for element in root.iter():
        if not isinstance(element.tag, str) or etree.QName(element).namespace != NS["bpmn"]:
            continue
        element_id = element.get("id")
        if not element_id or etree.QName(element).localname == "message":
            continue  # a message's name is what routes it, not a name people read
        entry = {}
        if (element.get("name") or "").strip():
            entry["fr"] = " ".join(element.get("name").split())
        for lang, prop in NAME_PROPERTY.items():
            value = _task_property(element, prop)
            if value and value.strip():
                entry[lang] = " ".join(value.split())
        if not entry:
            continue
        if etree.QName(element).localname == "sequenceFlow":
            entry.update(source=element.get("sourceRef") or "", target=element.get("targetRef") or "")
        names[element_id] = entry
    return names


def _task_property(task: etree._Element, name: str) -> str | None:
    for prop in task.iterfind("bpmn:extensionElements/camunda:properties/camunda:property", NS):
        if prop.get("name") == name:
            return prop.get("value")
    return None


def _form_fields(task: etree._Element) -> tuple:
    fields = []
    for field_el in task.iterfind(".//camunda:formData/camunda:formField", NS):
        required = any(c.get("name") == "required"
                       for c in field_el.iterfind("camunda:validation/camunda:constraint", NS))
        options = [{"id": v.get("id"), "name": v.get("name") or v.get("id")}
                   for v in field_el.iterfind("camunda:value", NS)]
        fields.append({"id": field_el.get("id"), "type": field_el.get("type") or "string",
                       "label": field_el.get("label"), "required": required,
                       "options": options})
    return tuple(fields)


def read_decisions(root: etree._Element) -> dict[str, str | None]:
    """Decision id -> name, for a DMN document."""
    ns = etree.QName(root).namespace
    return {d.get("id"): d.get("name") for d in root.iterfind(f"{{{ns}}}decision")}


# ---------------------------------------------------------------- DMN hit policies


class PartnerflowDMNEngine(DMNEngine):
    """Adds the FIRST, PRIORITY and COLLECT-with-aggregation hit policies.

    SpiffWorkflow 3.2 knows UNIQUE and COLLECT only. PRIORITY follows the DMN standard:
    among matching rules, the output listed first in the output's `outputValues` wins,
    which is exactly "the highest formalisation level triggered".
    """

    def __init__(self, decision_table, priorities: dict[str, list[str]], aggregation: str | None):
        super().__init__(decision_table)
        self.priorities = priorities
        self.aggregation = aggregation

    def decide(self, task):
        if self.decision_table.hit_policy == "FIRST":
            matched = next(([rule] for rule in self.decision_table.rules
                            if self._DMNEngine__check_rule(rule, task)), [])
        else:
            matched = super().decide(task)
        # kept on the task so the audit log can say which rules fired, and why
        task.internal_data["dmn_matched"] = [
            {"row": rule.row_number, "description": getattr(rule, "description", None)}
            for rule in matched]
        return matched

    def result(self, task):
        policy = self.decision_table.hit_policy
        if policy == "PRIORITY":
            return self._priority_result(task)
        result = super().result(task)
        if policy == "COLLECT" and self.aggregation:
            return {key: _aggregate(self.aggregation, values) for key, values in result.items()}
        return result

    def _priority_result(self, task):
        outputs = [rule.output_as_dict(task) for rule in self.decide(task)]
        if not outputs:
            return {}

        def rank(output: dict) -> tuple:
            ranks = []
            for name, order in self.priorities.items():
                value = output.get(name)
                ranks.append(order.index(value) if value in order else len(order))
            return tuple(ranks)

        return min(outputs, key=rank)


def _aggregate(aggregation: str, values: list):
    numbers = [v for v in values if v is not None]
    if aggregation == "COUNT":
        return len(numbers)
    if not numbers:
        return None
    return {"MAX": max, "MIN": min, "SUM": sum}[aggregation](numbers)


def _output_priorities(decision_el: etree._Element) -> dict[str, list[str]]:
    ns = etree.QName(decision_el).namespace
    priorities = {}
    for output in decision_el.iterfind(f".//{{{ns}}}output"):
        text = output.find(f"{{{ns}}}outputValues/{{{ns}}}text")
        if text is not None and text.text:
            values = [v.strip().strip('"').strip("'") for v in text.text.split(",")]
            priorities[output.get("name")] = [v for v in values if v]
    return priorities


# ---------------------------------------------------------------- service tasks (connectors)

SERVICE_TAGS = ("serviceTask", "sendTask")


@dataclass(frozen=True)
class ServiceTaskMeta:
    """A service or send task as the diagram declares it: its connector topic and the
    input and output parameters of its `camunda:inputOutput`."""

    element_id: str
    name: str
    tag: str
    implementation_type: str | None  # camunda:type ("external" for a connector)
    topic: str | None
    inputs: tuple[tuple[str, str | None], ...]
    outputs: tuple[tuple[str, str | None], ...]
    java: dict  # camunda:class / delegateExpression / expression, when written
    unsupported: tuple[str, ...] = ()  # parameters written as a list, a map or a script


def _parameters(node: etree._Element, kind: str) -> tuple[tuple[tuple[str, str | None], ...], list[str]]:
    found, unsupported = [], []
    for param in node.iterfind(f"bpmn:extensionElements/camunda:inputOutput/camunda:{kind}", NS):
        name = param.get("name") or ""
        if len(param):  # camunda:list, camunda:map or camunda:script
            unsupported.append(name)
            continue
        found.append((name, param.text.strip() if param.text and param.text.strip() else None))
    return tuple(found), unsupported


def service_task_meta(node: etree._Element) -> ServiceTaskMeta:
    inputs, bad_in = _parameters(node, "inputParameter")
    outputs, bad_out = _parameters(node, "outputParameter")
    java = {a: node.get(f"{CAMUNDA}{a}") for a in ("class", "delegateExpression", "expression")
            if node.get(f"{CAMUNDA}{a}")}
    element_id = node.get("id")
    return ServiceTaskMeta(element_id, (node.get("name") or element_id).strip(),
                           etree.QName(node).localname, node.get(f"{CAMUNDA}type"),
                           (node.get(f"{CAMUNDA}topic") or "").strip() or None, inputs, outputs,
                           java, tuple(bad_in + bad_out))


def read_service_tasks(process: etree._Element) -> list[ServiceTaskMeta]:
    """Every service and send task of a process, its subprocesses included."""
    return [service_task_meta(node) for tag in SERVICE_TAGS
            for node in process.iterfind(f".//bpmn:{tag}", NS)]


@dataclass(frozen=True)
class ServiceCall:
    """What the engine's connector runner receives for one service task."""

    topic: str | None
    element_id: str
    element_name: str
    process_key: str
    inputs: tuple[tuple[str, str | None], ...]
    outputs: tuple[tuple[str, str | None], ...]
    data: dict
    task_uuid: str = ""


class ConnectorTask(ServiceTask):
    """A service or send task run by the connector runner the engine hands the workflow's
    script engine (`connector_runner`); it completes in the same engine step, or fails. A
    runner that answers None leaves it to an external worker: the task stays STARTED (a wait
    the engine records as an external task) until `WorkflowRun.complete_external_task`.
    Bare SpiffWorkflow would leave every service task STARTED forever, silently."""

    def __init__(self, wf_spec, bpmn_id, topic=None, connector_inputs=(), connector_outputs=(),
                 **kwargs):
        # not `inputs`/`outputs`: a task spec's own attributes, its incoming and outgoing specs
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.topic = topic
        self.connector_inputs = tuple(tuple(i) for i in connector_inputs)
        self.connector_outputs = tuple(tuple(o) for o in connector_outputs)

    def _run_hook(self, my_task):
        from copy import deepcopy

        from partnerflow.engine.errors import InstanceError

        runner = getattr(my_task.workflow.script_engine, "connector_runner", None)
        if runner is None:
            raise InstanceError(f"{self.bpmn_name or self.bpmn_id} ({self.bpmn_id}) : aucun "
                                "exécuteur de connecteurs n'est branché sur ce pas du moteur")
        call = ServiceCall(self.topic, self.bpmn_id, self.bpmn_name or self.bpmn_id,
                           my_task.workflow.spec.name, self.connector_inputs, self.connector_outputs,
                           deepcopy(my_task.data), str(my_task.id))
        result = runner(call)
        if result is None:
            return None  # an external worker will complete it
        written = deepcopy(result)
        my_task.data.update(written)
        # the variables this task prepared (the audit event says so: views.prepared_data)
        my_task._set_internal_data(connector_wrote=sorted(written))
        return True


class SharedScopeParallelGateway(ParallelGateway):
    """A parallel join that merges what each branch changed, as Camunda's single variable
    scope would. SpiffWorkflow copies the data into each branch at the split and, at the
    join, lays the branches' whole copies over each other, the last branch to arrive
    winning: a branch that never touched a variable brings back the value it had at the
    split (in a loop, the previous round's decision) over the one the other branch just
    gave. Here each branch contributes only the variables it changed since the split, in
    the order the branches arrived."""

    def _run_hook(self, my_task):
        from copy import deepcopy

        from SpiffWorkflow.util.task import TaskState

        finished = [t for t in my_task.workflow.tasks.values()
                    if t.task_spec == self and t.has_state(TaskState.FINISHED_MASK)
                    and not my_task.is_descendant_of(t)]
        # the branches of this round: those that split where my own branch split (in a loop,
        # the earlier rounds' branches split further up)
        split, others = _this_round(my_task.parent, finished)
        others.sort(key=lambda t: t.last_state_change)
        base = split.data if split is not None else {}
        merged = deepcopy(base)
        for branch in [t.parent for t in others] + [my_task.parent]:
            for key, value in branch.data.items():
                if key not in base or base[key] != value:
                    merged[key] = deepcopy(value)
        for task in others:
            if task.has_state(TaskState.COMPLETED):
                task._drop_children(force=True)
        my_task.data = merged
        return True


def _this_round(mine, candidates):
    """The split my branch (ending at `mine`) came from, and the `candidates` (the join's
    other instances) whose branches came from the same split: the nearest ancestor of
    `mine` that some candidate also descends from."""
    ancestors = []
    task = mine
    while task is not None:
        ancestors.append(task)
        task = task.parent
    rank = {id(t): i for i, t in enumerate(ancestors)}

    def nearest(candidate):
        task = candidate.parent
        while task is not None and id(task) not in rank:
            task = task.parent
        return rank[id(task)] if task is not None else len(ancestors)

    if not candidates:
        return None, []
    ranks = [(nearest(c), c) for c in candidates]
    best = min(r for r, _ in ranks)
    split = ancestors[best] if best < len(ancestors) else None
    return split, [c for r, c in ranks if r == best]


class ConnectorTaskParser(CamundaTaskParser):
    def create_task(self):
        meta = service_task_meta(self.node)
        return self.spec_class(self.spec, self.bpmn_id, topic=meta.topic,
                               connector_inputs=meta.inputs, connector_outputs=meta.outputs,
                               **self.bpmn_attributes)


class PartnerflowParser(CamundaParser):
    """CamundaParser with the richer DMN hit policies and message payload defaults."""

    OVERRIDE_PARSER_CLASSES = {
        **CamundaParser.OVERRIDE_PARSER_CLASSES,
        **{full_tag(tag): (ConnectorTaskParser, ConnectorTask) for tag in SERVICE_TAGS},
        full_tag("parallelGateway"): (GatewayParser, SharedScopeParallelGateway),
    }

    def get_engine(self, decision_ref, node):
        engine = super().get_engine(decision_ref, node)
        decision_el = self._decision_elements.get(decision_ref)
        table_el = None
        if decision_el is not None:
            ns = etree.QName(decision_el).namespace
            table_el = decision_el.find(f"{{{ns}}}decisionTable")
        aggregation = table_el.get("aggregation") if table_el is not None else None
        priorities = _output_priorities(decision_el) if decision_el is not None else {}
        for column in engine.decision_table.inputs:
            # an input with no expression reads the variable its label names, as SpiffWorkflow
            # does; as an expression, a missing variable is named when the rule runs
            if not (column.expression or "").strip() and (column.label or "").isidentifier():
                column.expression = column.label
        return PartnerflowDMNEngine(engine.decision_table, priorities, aggregation)

    def add_dmn_xml(self, node, filename=None):
        if not hasattr(self, "_decision_elements"):
            self._decision_elements = {}
        ns = etree.QName(node).namespace
        for decision in node.iterfind(f"{{{ns}}}decision"):
            self._decision_elements[decision.get("id")] = decision
        super().add_dmn_xml(node, filename)


class DataMessageEventDefinition(CamundaMessageEventDefinition):
    """A message whose payload is the thrower's task data unless an expression says else."""

    def throw(self, my_task):
        from copy import deepcopy

        from SpiffWorkflow.bpmn import BpmnEvent

        if self.expression:
            result = my_task.workflow.script_engine.evaluate(my_task, self.expression)
        else:
            result = deepcopy(my_task.data)
        event = BpmnEvent(self, payload={"payload": result, "result_var": self.result_var})
        my_task.workflow.top_workflow.catch(event)

    def update_internal_data(self, my_task, event):
        # Camunda's version invents a `<task>_Response` variable when no result variable is
        # set; keep the payload as sent so its keys become the receiver's variables.
        my_task.internal_data[self.name] = event.payload

    def update_task_data(self, my_task):
        event_data = my_task.internal_data.get(self.name) or {}
        payload, result_var = event_data.get("payload"), event_data.get("result_var")
        if result_var:
            my_task.data[result_var] = payload
        elif isinstance(payload, dict):
            my_task.data.update(payload)


class GatewayEventDefinition(MultipleEventDefinition):
    """The events an event-based gateway waits for: the first one to happen wins.

    SpiffWorkflow's version asks each timer whether it fired through a flag the gateway's
    task shares with the caught message, so a message made its timer branch run too. Here a
    timer counts only while nothing else was caught, and only the first event is kept.
    """

    def has_fired(self, my_task):
        seen = list(my_task.internal_data.get("seen_events", []))[:1]
        if not seen:
            for definition in self.event_definitions:
                if isinstance(definition, TimerEventDefinition) and definition.has_fired(my_task):
                    seen.append(BpmnEvent(definition))
                    break
        my_task.internal_data["seen_events"] = seen
        return bool(seen)


def _upgrade_message_definitions(specs) -> None:
    for spec in specs:
        for task_spec in spec.task_specs.values():
            definition = getattr(task_spec, "event_definition", None)
            if isinstance(task_spec, EventBasedGateway) and type(definition) is MultipleEventDefinition:
                definition.__class__ = GatewayEventDefinition
            if type(definition) is CamundaMessageEventDefinition:
                definition.__class__ = DataMessageEventDefinition
            for inner in getattr(definition, "event_definitions", []) or []:
                if type(inner) is CamundaMessageEventDefinition:
                    inner.__class__ = DataMessageEventDefinition


# ---------------------------------------------------------------- compiled models


@dataclass
class CompiledProcess:
    """A process version ready to run: its specs and the metadata of its user tasks."""

    process_key: str
    spec: object
    subprocess_specs: dict
    user_tasks: dict[tuple[str, str], UserTaskMeta]
    start_form_key: str | None
    stage: str | None

    def user_task_meta(self, spec_name: str, element_id: str) -> UserTaskMeta | None:
        meta = self.user_tasks.get((spec_name, element_id))
        if meta is None:
            for (_spec, elem), candidate in self.user_tasks.items():
                if elem == element_id:
                    return candidate
        return meta


def compile_process(process_key: str, documents: list[tuple[str, etree._Element]]) -> CompiledProcess:
    """Parse the given documents and build the runnable spec of one process."""
    parser = PartnerflowParser()
    user_tasks: dict[tuple[str, str], UserTaskMeta] = {}
    start_form_key = None
    stage = None
    for filename, root in documents:
        if etree.QName(root).localname == "definitions" and etree.QName(root).namespace == NS["bpmn"]:
            parser.add_bpmn_xml(root, filename=filename)
            for key, info in read_processes(root, filename).items():
                for meta in info.user_tasks.values():
                    user_tasks[(meta.process_key, meta.element_id)] = meta
                if key == process_key:
                    start_form_key = info.start_form_key
                    stage = info.stage
        else:
            parser.add_dmn_xml(root, filename=filename)
    spec = parser.get_spec(process_key)
    subprocess_specs = parser.get_subprocess_specs(process_key)
    _upgrade_message_definitions([spec, *subprocess_specs.values()])
    return CompiledProcess(process_key, spec, subprocess_specs, user_tasks, start_form_key, stage)


_TARGET_REF = re.compile(r"perhaps a form has the same ID\? \((?P<ref>[^)]*)\)")


def translate_parser_error(exc: Exception, default_file: str) -> Problem:
    """Turn SpiffWorkflow's parser messages into ones that say what to fix."""
    message = str(exc).split("\n")[0]
    element_id = getattr(exc, "id", None) or None
    file = getattr(exc, "file_name", None) or default_file
    line = getattr(exc, "line_number", None) or None
    match = _TARGET_REF.search(message)
    if match:
        return Problem.of(file, N_("un flux de séquence pointe vers « %(ref)s », qui n’existe pas "
                                   "dans ce processus"), element_id=element_id, line=line,
                          hint=N_("reliez l’extrémité du flux à un élément du même processus"),
                          ref=match["ref"])
    if "No decision found for id" in message or "Unable to locate" in message:
        hint = N_("déployez dans le même envoi le fichier DMN ou BPMN qui le définit")
        return Problem(file, message, element_id=element_id, line=line, hint=hint, hint_msgid=hint)
    return Problem(file, message, element_id=element_id, line=line)


ParserErrors = (ValidationException, SpiffWorkflowException, KeyError, AttributeError, ValueError)
