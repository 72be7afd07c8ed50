"""Connectors: what a service task does, by its topic.

Every side effect of the method is a BPMN service task (or send task) with
`camunda:type="external"` and a `camunda:topic`. The topic names a connector here: a Python
function with declared inputs (name, type, required) and outputs. Inputs come from the task's
`camunda:inputOutput` (`camunda:inputParameter`: a literal, or `${variable}`); outputs reach
the process data under their own names, or as the task's `camunda:outputParameter` maps them
(`<camunda:outputParameter name="director_signature">${signature}</camunda:outputParameter>`).

A connector runs inside the engine step, in the step's transaction (a savepoint: a failing
connector leaves nothing of its own behind), with a `ConnectorContext` giving it the unit of
work, the partnership, the instance and the actor. A failure is an incident like any other
step failure. A topic no connector here serves is left to external workers (Camunda 7's
external tasks, `engine.runtime.external`). Deploy refuses a missing required input (see `check`); the
element templates the modellers offer are generated from the same declarations
(`element_templates`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from partnerflow.engine.errors import N_, InstanceError, Problem
from partnerflow.engine.runtime import notifications
from partnerflow.engine.store.models import Partnership, ProcessInstance

TYPES = ("string", "text", "integer", "boolean", "date", "sha256", "choice", "any")
_VARIABLE = re.compile(r"\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")
_ONLY_VARIABLE = re.compile(r"^\s*\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\s*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
TEMPLATE_SCHEMA = "https://unpkg.com/@camunda/element-templates-json-schema/resources/schema.json"
TEMPLATE_PREFIX = "partnerflow."
# 2: each template offers the task's English name (the camunda:property name_en)
TEMPLATE_VERSION = 2


class ConnectorError(InstanceError):
    """A connector could not do its work; the step stops with an incident naming the task."""


@dataclass(frozen=True)
class Input:
    name: str
    label: str  # French, shown in the modeller's properties panel
    type: str = "string"
    required: bool = False
    choices: tuple[tuple[str, str], ...] = ()  # (value, French label)
    default: str | None = None  # what the element template fills in
    help: str = ""
    # the default is also what the connector reads when the service task does not declare
    # the input at all (diagrams drawn before the input existed); declared empty, it is empty
    implicit: bool = False


@dataclass(frozen=True)
class Output:
    name: str
    label: str
    default: str | None = None  # the process variable the element template maps it to


@dataclass(frozen=True)
class Identity:
    """The user who typed their password again when completing a task of this instance,
    in this transaction (a signature's proof of identity)."""

    username: str
    instance_id: int
    task_id: int
    element_id: str


@dataclass
class ConnectorContext:
    """What a connector works with: one unit of work, one instance of one partnership."""

    uow: Any
    instance: ProcessInstance
    partnership: Partnership
    actor: str | None
    element_id: str
    element_name: str
    data: dict
    identity: Identity | None = None

    @property
    def session(self):
        return self.uow.session

    @property
    def settings(self):
        return self.uow.settings

    def now(self):
        return self.uow.clock()

    def fail(self, message: str) -> ConnectorError:
        return ConnectorError(f"{self.element_name} ({self.element_id}) : {message}")


@dataclass(frozen=True)
class Connector:
    topic: str
    label: str
    description: str
    function: Callable[[ConnectorContext, dict], dict | None]
    inputs: tuple[Input, ...] = ()
    outputs: tuple[Output, ...] = ()
    applies_to: tuple[str, ...] = ("bpmn:ServiceTask",)
    # runs only right after a user task that asked for the password again (Identity)
    needs_identity: bool = False

    def input(self, name: str) -> Input | None:
        return next((i for i in self.inputs if i.name == name), None)


REGISTRY: dict[str, Connector] = {}


def connector(topic: str, label: str, description: str, *, inputs: tuple[Input, ...] = (),
              outputs: tuple[Output, ...] = (), applies_to=("bpmn:ServiceTask",),
              needs_identity: bool = False):
    """Register a function as the connector of `topic`."""

    def register(function):
        REGISTRY[topic] = Connector(topic, label, description, function, inputs, outputs,
                                    tuple(applies_to), needs_identity)
        return function

    return register


# ---------------------------------------------------------------- running one service task


@dataclass
class Runner:
    """Runs the service tasks of one instance's engine steps (handed to the adapter)."""

    uow: Any
    instance: ProcessInstance
    actor: str | None
    identity: Identity | None = None
    ran: list[str] = field(default_factory=list)
    # the service tasks left to external workers in this step (the adapter's ServiceCalls)
    external: list = field(default_factory=list)

    def __call__(self, call) -> dict:
        """`call` is the adapter's ServiceCall: topic, element, raw inputs and outputs, data."""
        found = REGISTRY.get(call.topic or "")
        name = call.element_name or call.element_id
        if found is None and call.topic:
            # no bundled connector: the task waits for an external worker (engine.runtime.external)
            self.external.append(call)
            return None
        if found is None:
            raise ConnectorError(
                f"{name} ({call.element_id}) : cette tâche de service n'a pas de sujet ; "
                f"choisissez un modèle Partnerflow dans le modeleur ({', '.join(sorted(REGISTRY))}) "
                "ou donnez un sujet que des travailleurs externes traitent")
        session = self.uow.session
        context = ConnectorContext(self.uow, self.instance,
                                   session.get(Partnership, self.instance.partnership_id),
                                   self.actor, call.element_id, name, call.data, self.identity)
        values = resolve_inputs(found, dict(call.inputs), call.data, context)
        with session.begin_nested():  # a failing connector leaves nothing of its own behind
            result = found.function(context, values) or {}
        self.ran.append(call.element_id)
        return map_outputs(found, result, tuple(call.outputs), call.data)


def _resolve(raw: str | None, data: dict):
    if raw is None:
        return None
    only = _ONLY_VARIABLE.match(raw)
    if only:
        return data.get(only.group(1))
    if _VARIABLE.search(raw):
        return _VARIABLE.sub(lambda m: "" if data.get(m.group(1)) is None else str(data[m.group(1)]), raw)
    return raw


def _as_integer(value) -> int:
    if isinstance(value, bool):
        raise ValueError
    return int(value)


def _as_boolean(value) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ("true", "false"):
        raise ValueError
    return text == "true"


def _as_sha256(value) -> str:
    if not _SHA256.match(str(value)):
        raise ValueError
    return str(value)


_CONVERT = {"string": str, "text": str, "integer": _as_integer, "boolean": _as_boolean,
            "date": lambda v: date.fromisoformat(str(v)[:10]).isoformat(), "sha256": _as_sha256,
            "choice": str, "any": lambda v: v}


def _coerce(spec: Input, value, context: ConnectorContext):
    if value in (None, ""):
        return None
    try:
        converted = _CONVERT[spec.type](value)
    except (TypeError, ValueError):
        raise context.fail(f"l'entrée « {spec.name} » vaut « {value} », ce qui n'est pas "
                           f"{_TYPE_WORDS[spec.type]}") from None
    allowed = [c for c, _label in spec.choices if c]
    if spec.type == "choice" and converted not in allowed:
        raise context.fail(f"l'entrée « {spec.name} » vaut « {value} », attendu : " + ", ".join(allowed))
    return converted


_TYPE_WORDS = {"string": "un texte", "text": "un texte", "integer": "un nombre entier",
               "boolean": "true ou false", "date": "une date ISO (2026-12-31)",
               "sha256": "une empreinte SHA-256 (64 caractères hexadécimaux)",
               "choice": "une valeur permise", "any": "une valeur"}


def resolve_inputs(found: Connector, raw: dict[str, str | None], data: dict,
                   context: ConnectorContext) -> dict:
    """The connector's input values, from the task's input parameters and its data (an
    `implicit` input the task does not declare reads its default)."""
    values = {}
    for spec in found.inputs:
        source = raw.get(spec.name) if spec.name in raw or not spec.implicit else spec.default
        value = _coerce(spec, _resolve(source, data), context)
        if value is None and spec.required:
            given = raw.get(spec.name)
            where = f" (« {given} » est vide)" if given else ""
            raise context.fail(f"l'entrée obligatoire « {spec.name} » manque{where}")
        values[spec.name] = value
    return values


def map_outputs(found: Connector, result: dict, outputs: tuple[tuple[str, str | None], ...],
                data: dict) -> dict:
    """What the process data receives: the declared outputs under their names, or as the
    task's output parameters map them (`${output}` or a literal)."""
    declared = {o.name: result.get(o.name) for o in found.outputs}
    if not outputs:
        return declared
    scope = {**data, **declared}
    return {name: _resolve(raw, scope) for name, raw in outputs}


# ---------------------------------------------------------------- deploy checks


def check(service, filename: str, follows_confirmation: bool = True) -> list[Problem]:
    """What deploy refuses on a service or send task (the adapter's ServiceTaskMeta);
    `follows_confirmation`: every flow into it comes from a user task that asks for the
    password again."""
    problems: list[Problem] = []

    def refuse(message: str, hint: str, **params) -> None:
        problems.append(Problem.of(filename, message, element_id=service.element_id, hint=hint,
                                   **params))

    topics = ", ".join(sorted(REGISTRY))
    use_external = N_("choisissez l’implémentation « Externe » avec l’un des sujets de Partnerflow "
                      "(%(topics)s), ou choisissez un modèle Partnerflow dans le modeleur")
    for attribute, value in service.java.items():
        if value:
            refuse(N_("camunda:%(attribute)s est une implémentation Java, que Partnerflow ne peut "
                      "pas exécuter"), use_external, attribute=attribute, topics=topics)
    if any(service.java.values()):
        return problems
    found = REGISTRY.get(service.topic or "")
    if service.implementation_type != "external" or not service.topic:
        refuse(N_("cette tâche d’envoi (sendTask) n’a pas de connecteur : elle ne se terminerait "
                  "jamais") if service.tag == "sendTask"
               else N_("cette tâche de service (serviceTask) n’a pas de connecteur : elle ne se "
                       "terminerait jamais"), use_external, topics=topics)
    elif found is None:
        # a topic no bundled connector serves is offered to external workers (fetch-and-lock)
        for name in service.unsupported:
            refuse(N_("l’entrée ou la sortie « %(name)s » est une liste, une table ou un script, ce "
                      "qui n’est pas pris en charge"), N_("écrivez une valeur littérale ou ${variable}"),
                   name=name)
    else:
        for name in service.unsupported:
            refuse(N_("l’entrée ou la sortie « %(name)s » est une liste, une table ou un script, ce "
                      "qui n’est pas pris en charge"), N_("écrivez une valeur littérale ou ${variable}"),
                   name=name)
        _check_inputs(found, dict(service.inputs), refuse)
        if found.needs_identity and not follows_confirmation:
            refuse(N_("le connecteur « %(topic)s » doit suivre directement une tâche utilisateur qui "
                      "redemande le mot de passe"),
                   N_("ajoutez la propriété d’extension confirm_password = true à la tâche "
                      "utilisateur qui le précède, et reliez cette tâche directement à celle-ci"),
                   topic=found.topic)
    return problems


def _check_inputs(found: Connector, given: dict[str, str | None], refuse) -> None:
    for spec in found.inputs:
        value = (given.get(spec.name) or "").strip()
        if spec.required and not value:
            refuse(N_("le connecteur « %(topic)s » a besoin de l’entrée « %(name)s » (%(label)s)"),
                   N_("ajoutez le paramètre d’entrée « %(name)s » (une valeur ou ${variable})"),
                   topic=found.topic, name=spec.name, label=spec.label)
        allowed = [c for c, _ in spec.choices if c]
        if spec.type == "choice" and value and not _VARIABLE.search(value) and value not in allowed:
            refuse(N_("l’entrée « %(name)s » vaut « %(value)s »"), N_("utilisez l’un de : %(choices)s"),
                   name=spec.name, value=value, choices=", ".join(allowed))
    for name in given:
        if found.input(name) is None:
            inputs = ", ".join(i.name for i in found.inputs)
            refuse(N_("le connecteur « %(topic)s » n’a pas d’entrée « %(name)s »"),
                   N_("ses entrées sont : %(inputs)s") if inputs else N_("il n’a aucune entrée"),
                   topic=found.topic, name=name, inputs=inputs)


# ---------------------------------------------------------------- element templates


def element_templates() -> list[dict]:
    """The Camunda 7 element templates of every connector, for the web modeller and the
    desktop Camunda Modeler (bpmn/templates/partnerflow.json is this, written out)."""
    templates = []
    for topic in sorted(REGISTRY):
        found = REGISTRY[topic]
        properties: list[dict] = [
            {"type": "Hidden", "value": "external",
             "binding": {"type": "property", "name": "camunda:type"}},
            {"type": "Hidden", "value": topic,
             "binding": {"type": "property", "name": "camunda:topic"}},
        ]
        for spec in found.inputs:
            prop: dict = {"label": spec.label, "binding": {"type": "camunda:inputParameter",
                                                            "name": spec.name}}
            if spec.type == "choice":
                prop["type"] = "Dropdown"
                prop["choices"] = [{"name": label, "value": value} for value, label in spec.choices]
            else:
                prop["type"] = "Text" if spec.type == "text" else "String"
            if spec.default is not None:
                prop["value"] = spec.default
            elif spec.type == "choice" and spec.choices:
                prop["value"] = spec.choices[0][0]
            if spec.help:
                prop["description"] = spec.help
            if spec.required:
                prop["constraints"] = {"notEmpty": True}
            properties.append(prop)
        for out in found.outputs:
            prop = {"label": out.label, "type": "String",
                    "binding": {"type": "camunda:outputParameter", "source": f"${{{out.name}}}"},
                    "description": f"La variable du processus qui reçoit « {out.name} »."}
            if out.default is not None:
                prop["value"] = out.default
            properties.append(prop)
        # the task's English name (names.py): a templated task shows only its template's
        # fields in the desktop Camunda Modeler, so the template offers it
        properties.append({"label": "Nom en anglais", "type": "String",
                           "binding": {"type": "camunda:property", "name": "name_en"},
                           "description": "Le nom de la tâche pour qui lit Partnerflow en anglais ; "
                                          "vide : le nom français."})
        templates.append({
            "$schema": TEMPLATE_SCHEMA,
            "name": found.label,
            "id": TEMPLATE_PREFIX + topic,
            "version": TEMPLATE_VERSION,
            "description": found.description,
            "appliesTo": list(found.applies_to),
            "properties": properties,
        })
    return templates


def shipped_templates() -> list[dict]:
    """The element template files shipped in the package (bpmn/templates/*.json), as one
    list: what the web modeller loads and the desktop Camunda Modeler reads from its
    resources/element-templates folder."""
    import json

    from partnerflow.engine.config import _default_bpmn_dir

    templates: list[dict] = []
    for path in sorted((_default_bpmn_dir() / "templates").glob("*.json")):
        loaded = json.loads(path.read_text(encoding="utf-8"))
        templates.extend(loaded if isinstance(loaded, list) else [loaded])
    return templates


@connector("notify", "Notifier",
           "Écrit une notification (dans l'application, et par courriel si configuré) : une "
           "relance à qui peut traiter la tâche ouverte, ou une escalade à la direction.",
           inputs=(Input("kind", "Type de notification", "choice", True,
                         choices=(("reminder", "Relance"), ("escalation", "Escalade"))),
                   Input("audience", "Destinataires", "choice", True,
                         choices=(("task", "Qui peut traiter la tâche ouverte (sinon la direction)"),
                                  ("direction", "Toute la direction")))),
           applies_to=("bpmn:ServiceTask", "bpmn:SendTask"))
def _notify(context: ConnectorContext, values: dict) -> None:
    notifications.notify_instance(context.uow, context.instance, kind=values["kind"],
                                  audience=values["audience"])
