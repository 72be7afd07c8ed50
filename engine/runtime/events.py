"""What happened in a step, as facts, and who listens to it.

Stepping and the use cases record events on the unit of work (`uow.publish`); when the unit
of work commits, it hands each event, in order, to the handlers registered for its type
(`HANDLERS`: the audit log, the search index, the notifications of incidents, the
incident register), in the same
transaction, before the commit. A handler may publish further  Nothing that records
an event knows who listens to it: stepping never calls the audit log or the notifications
itself (cosmicpython's message bus, inside one transaction)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from partnerflow.engine import audit
from partnerflow.engine.audit import personal
from partnerflow.engine.runtime import notifications, search
from partnerflow.engine.store.models import Incident

# --- What happened in a step, as facts.

@dataclass
class Event:
    """Base of every event; `at` is the engine's clock when it happened."""


@dataclass
class InstanceStarted(Event):
    instance: object  # models.ProcessInstance
    version: object  # models.ProcessVersion
    data: dict
    actor: str | None
    at: datetime
    parent_instance_id: int | None = None


@dataclass
class StepTaken(Event):
    """An engine step worth recording: a gateway taken, a decision evaluated (with its
    inputs and the rules that fired), a timer fired, a script or a connector run."""

    instance: object
    step: object  # spiff.StepEvent
    actor: str | None
    at: datetime


@dataclass
class TaskOpened(Event):
    task: object  # models.HumanTask, added to the session
    instance: object
    at: datetime
    # the assignee the diagram named but who could not act on it: (user name, why)
    refused_assignee: tuple[str, str] | None = None
    partnership: object | None = None  # models.Partnership, when the step has it loaded


@dataclass
class TaskCancelled(Event):
    task: object
    instance: object
    at: datetime


@dataclass
class TaskCompleted(Event):
    task: object
    data: dict
    actor: str
    at: datetime
    before: dict | None = None
    # the absent colleague the actor completed it for, as their deputy
    on_behalf_of: str | None = None


@dataclass
class InstanceCompleted(Event):
    instance: object
    actor: str | None
    at: datetime


@dataclass
class MessageRouted(Event):
    """A thrown message was delivered to a waiting instance, started a process, or found
    nobody (`outcome`: message_delivered | message_unhandled)."""

    outcome: str
    partnership_id: int
    instance_id: int
    payload: dict
    actor: str | None
    at: datetime


@dataclass
class IncidentRaised(Event):
    """An instance stopped on an error. `told` is filled by the notification handler: the
    people who were told, by name."""

    instance: object
    element: str | None
    message: str
    during: str
    data: dict
    actor: str | None
    at: datetime
    told: list[str] = field(default_factory=list)


@dataclass
class IncidentResolved(Event):
    """The instance's open incident is over: retried, resumed, cancelled."""

    instance_id: int
    resolution: str
    actor: str | None
    at: datetime


# --- Who listens to what happened: the audit log, the notifications, the incident register.

log = logging.getLogger(__name__)

MAX_INCIDENT_DATA = 20_000


# ---------------------------------------------------------------- the audit log


def _audit_started(uow, e: InstanceStarted) -> None:
    audit.append(uow.session, type="instance_started", actor=e.actor, at=e.at,
                 partnership_id=e.instance.partnership_id, instance_id=e.instance.id,
                 payload={"process_key": e.version.process_key, "version": e.version.version,
                          "data": e.data, "parent_instance_id": e.parent_instance_id})


def _audit_step(uow, e: StepTaken) -> None:
    step = e.step
    audit.append(uow.session, type=step.type, actor=e.actor, at=e.at,
                 partnership_id=e.instance.partnership_id, instance_id=e.instance.id,
                 element_id=step.element_id,
                 payload={"title": step.title, "process": step.spec_name, **step.details})


def _audit_opened(uow, e: TaskOpened) -> None:
    task = e.task
    audit.append(uow.session, type="task_created", actor=None, at=e.at,
                 partnership_id=task.partnership_id, instance_id=task.instance_id,
                 task_uuid=task.task_uuid, element_id=task.element_id,
                 payload={"title": task.title, "role": task.role, "assignee": task.assignee,
                          "due_at": task.due_at.isoformat() if task.due_at else None,
                          **({"assignee_refused": {"user": e.refused_assignee[0],
                                                   "reason": e.refused_assignee[1]}}
                             if e.refused_assignee else {})})


def _index_opened(uow, e: TaskOpened) -> None:
    """The inbox search's words of the new task, written with its projection row."""
    known = {"partnership_title": e.partnership.title} if e.partnership is not None else {}
    search.index_task(uow.session, uow.forms, e.task, fresh=True, **known)


def _audit_cancelled(uow, e: TaskCancelled) -> None:
    task = e.task
    audit.append(uow.session, type="task_cancelled", actor=None, at=e.at,
                 partnership_id=task.partnership_id, instance_id=task.instance_id,
                 task_uuid=task.task_uuid, element_id=task.element_id, payload={"title": task.title})


def _audit_completed(uow, e: TaskCompleted) -> None:
    task = e.task
    audit.append(uow.session, type="task_completed", actor=e.actor, at=e.at,
                 partnership_id=task.partnership_id, instance_id=task.instance_id,
                 task_uuid=task.task_uuid, element_id=task.element_id,
                 payload={"title": task.title, "form_key": task.form_key, "data": e.data,
                          "before": e.before,
                          **({"on_behalf_of": e.on_behalf_of} if e.on_behalf_of else {})},
                 personal_fields=_personal_fields(uow, task))


def _personal_fields(uow, task) -> tuple[str, ...]:
    """The payload paths of the fields the task's form declares x-personal."""
    try:
        schema = uow.forms.get(task.form_key).schema if task.form_key else task.inline_schema
    except Exception:  # noqa: BLE001 - a form gone since: its values stay committed as usual
        schema = task.inline_schema
    return personal.schema_paths(schema, "data")


def _audit_instance_completed(uow, e: InstanceCompleted) -> None:
    audit.append(uow.session, type="instance_completed", actor=e.actor, at=e.at,
                 partnership_id=e.instance.partnership_id, instance_id=e.instance.id,
                 payload={"process_key": e.instance.process_key})


def _audit_message(uow, e: MessageRouted) -> None:
    audit.append(uow.session, type=e.outcome, actor=e.actor, at=e.at,
                 partnership_id=e.partnership_id, instance_id=e.instance_id, payload=e.payload)


def _audit_incident(uow, e: IncidentRaised) -> None:
    audit.append(uow.session, type="instance_failed", actor=e.actor, at=e.at,
                 partnership_id=e.instance.partnership_id, instance_id=e.instance.id,
                 element_id=e.element, payload={"error": e.message, "during": e.during})


# ---------------------------------------------------------------- incidents


def _json_safe(data):
    return json.loads(json.dumps(data, default=str))


def _bounded(data: dict) -> dict:
    """The data the step had, as JSON, cut to a size a page can show."""
    safe = _json_safe(data)
    text = json.dumps(safe, ensure_ascii=False)
    if len(text) <= MAX_INCIDENT_DATA:
        return safe
    return {"_tronqué": text[:MAX_INCIDENT_DATA]}


def _close_incidents(uow, instance_id: int, actor: str | None, resolution: str) -> None:
    uow.session.execute(Incident.__table__.update().where(
        Incident.instance_id == instance_id, Incident.resolved_at.is_(None)).values(
        resolved_at=uow.clock(), resolved_by=actor, resolution=resolution))


def _resolve_incident(uow, e: IncidentResolved) -> None:
    _close_incidents(uow, e.instance_id, e.actor, e.resolution)


def _register_incident(uow, e: IncidentRaised) -> None:
    _close_incidents(uow, e.instance.id, e.actor, "replaced")  # one open incident per instance
    uow.session.add(Incident(instance_id=e.instance.id, partnership_id=e.instance.partnership_id,
                             element_id=e.element, during=e.during, message=e.message,
                             data=_bounded(e.data or {}), actor=e.actor, created_at=e.at))
    log.warning("instance %s stopped at %s: %s", e.instance.id, e.element, e.message)


# ---------------------------------------------------------------- notifications


def _notify_incident(uow, e: IncidentRaised) -> None:
    told = notifications.incident_recorded(uow, e.instance, e.message)
    e.told.extend(u.full_name or u.username for u in told)


Handler = Callable[[object, Event], None]

HANDLERS: dict[type, list[Handler]] = {
    InstanceStarted: [_audit_started],
    StepTaken: [_audit_step],
    TaskOpened: [_index_opened, _audit_opened],
    TaskCancelled: [_audit_cancelled],
    TaskCompleted: [_audit_completed],
    InstanceCompleted: [_audit_instance_completed],
    MessageRouted: [_audit_message],
    IncidentRaised: [_register_incident, _audit_incident, _notify_incident],
    IncidentResolved: [_resolve_incident],
}
