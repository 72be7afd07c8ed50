"""Who listens to what happened (events.py): the audit log, the notifications and the
incident register. The bootstrap gives this table to every unit of work."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from . import audit, events, notifications
from .models import Incident

log = logging.getLogger(__name__)

MAX_INCIDENT_DATA = 20_000


# ---------------------------------------------------------------- the audit log


def _audit_started(uow, e: events.InstanceStarted) -> None:
    audit.append(uow.session, type="instance_started", actor=e.actor, at=e.at,
                 partnership_id=e.instance.partnership_id, instance_id=e.instance.id,
                 payload={"process_key": e.version.process_key, "version": e.version.version,
                          "data": e.data, "parent_instance_id": e.parent_instance_id})


def _audit_step(uow, e: events.StepTaken) -> None:
    step = e.step
    audit.append(uow.session, type=step.type, actor=e.actor, at=e.at,
                 partnership_id=e.instance.partnership_id, instance_id=e.instance.id,
                 element_id=step.element_id,
                 payload={"title": step.title, "process": step.spec_name, **step.details})


def _audit_opened(uow, e: events.TaskOpened) -> None:
    task = e.task
    audit.append(uow.session, type="task_created", actor=None, at=e.at,
                 partnership_id=task.partnership_id, instance_id=task.instance_id,
                 task_uuid=task.task_uuid, element_id=task.element_id,
                 payload={"title": task.title, "role": task.role, "assignee": task.assignee,
                          "due_at": task.due_at.isoformat() if task.due_at else None})


def _audit_cancelled(uow, e: events.TaskCancelled) -> None:
    task = e.task
    audit.append(uow.session, type="task_cancelled", actor=None, at=e.at,
                 partnership_id=task.partnership_id, instance_id=task.instance_id,
                 task_uuid=task.task_uuid, element_id=task.element_id, payload={"title": task.title})


def _audit_completed(uow, e: events.TaskCompleted) -> None:
    task = e.task
    audit.append(uow.session, type="task_completed", actor=e.actor, at=e.at,
                 partnership_id=task.partnership_id, instance_id=task.instance_id,
                 task_uuid=task.task_uuid, element_id=task.element_id,
                 payload={"title": task.title, "form_key": task.form_key, "data": e.data,
                          "before": e.before})


def _audit_instance_completed(uow, e: events.InstanceCompleted) -> None:
    audit.append(uow.session, type="instance_completed", actor=e.actor, at=e.at,
                 partnership_id=e.instance.partnership_id, instance_id=e.instance.id,
                 payload={"process_key": e.instance.process_key})


def _audit_message(uow, e: events.MessageRouted) -> None:
    audit.append(uow.session, type=e.outcome, actor=e.actor, at=e.at,
                 partnership_id=e.partnership_id, instance_id=e.instance_id, payload=e.payload)


def _audit_incident(uow, e: events.IncidentRaised) -> None:
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


def _resolve_incident(uow, e: events.IncidentResolved) -> None:
    _close_incidents(uow, e.instance_id, e.actor, e.resolution)


def _register_incident(uow, e: events.IncidentRaised) -> None:
    _close_incidents(uow, e.instance.id, e.actor, "replaced")  # one open incident per instance
    uow.session.add(Incident(instance_id=e.instance.id, partnership_id=e.instance.partnership_id,
                             element_id=e.element, during=e.during, message=e.message,
                             data=_bounded(e.data or {}), actor=e.actor, created_at=e.at))
    log.warning("instance %s stopped at %s: %s", e.instance.id, e.element, e.message)


# ---------------------------------------------------------------- notifications


def _notify_opened(uow, e: events.TaskOpened) -> None:
    notifications.tasks_created(uow, e.instance, [e.task])


def _notify_incident(uow, e: events.IncidentRaised) -> None:
    told = notifications.incident_recorded(uow, e.instance, e.message)
    e.told.extend(u.full_name or u.username for u in told)


Handler = Callable[[object, events.Event], None]

HANDLERS: dict[type, list[Handler]] = {
    events.InstanceStarted: [_audit_started],
    events.StepTaken: [_audit_step],
    events.TaskOpened: [_audit_opened, _notify_opened],
    events.TaskCancelled: [_audit_cancelled],
    events.TaskCompleted: [_audit_completed],
    events.InstanceCompleted: [_audit_instance_completed],
    events.MessageRouted: [_audit_message],
    events.IncidentRaised: [_register_incident, _audit_incident, _notify_incident],
    events.IncidentResolved: [_resolve_incident],
}
