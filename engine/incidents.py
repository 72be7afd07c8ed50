"""Incidents: the instances stopped on an error, and what can be done about each (retry after
a fix, resume from an earlier task, cancel). Reads are queries on the incident table; each
action is audited and resolves the incident."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import access, audit, events, stepping
from .errors import Conflict, Forbidden, NotFound
from .models import HumanTask, Incident, Partnership, ProcessInstance

# who may see the incidents page, retry, resume and cancel: access.GRANTS (read_incidents,
# retry, resume, cancel)


@dataclass(frozen=True)
class OpenIncident:
    id: int
    instance_id: int
    partnership_id: int
    partnership: str
    process: str
    element_id: str | None
    message: str
    during: str
    created_at: datetime
    data: dict


def count_open(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Incident)
                          .where(Incident.resolved_at.is_(None))) or 0


def open_incidents(session: Session, *, offset: int = 0, limit: int = 50) -> list[OpenIncident]:
    rows = session.execute(
        select(Incident, Partnership.title, ProcessInstance.label, ProcessInstance.process_key)
        .join(Partnership, Partnership.id == Incident.partnership_id)
        .join(ProcessInstance, ProcessInstance.id == Incident.instance_id)
        .where(Incident.resolved_at.is_(None))
        .order_by(Incident.created_at.desc(), Incident.id.desc()).offset(offset).limit(limit))
    return [OpenIncident(i.id, i.instance_id, i.partnership_id, title, label or key, i.element_id,
                         i.message, i.during, i.created_at, i.data or {})
            for i, title, label, key in rows]


def for_instance(session: Session, instance_id: int) -> list[Incident]:
    return list(session.scalars(select(Incident).where(Incident.instance_id == instance_id)
                                .order_by(Incident.id.desc())))


def resume_points(session: Session, *, instance_id: int) -> list[tuple[str, str]]:
    """(task uuid, step title) of the user tasks the instance completed, oldest first: the
    points it can be resumed from, read from the inbox projection (no workflow restored)."""
    rows = session.execute(select(HumanTask.task_uuid, HumanTask.title).where(
        HumanTask.instance_id == instance_id, HumanTask.state == "completed")
        .order_by(HumanTask.completed_at, HumanTask.id)).all()
    return list({uuid: (uuid, title) for uuid, title in rows}.values())


def resume_from_task(uow, *, instance_id: int, task_uuid: str, actor: str) -> str:
    """Go back to a completed user task of an instance in error and go on from there."""
    from .services import _step_or_incident, get_user

    user = get_user(uow.session, actor)
    if not access.may(access.actor_of(uow.session, user), "resume"):
        raise Forbidden("only a process designer or an administrator may resume a process")
    instance = _errored(uow.session, instance_id)
    if task_uuid not in {view.uuid for view in stepping.restore(uow, instance).completed_user_tasks()}:
        raise NotFound(f"task {task_uuid} is not a completed user task of instance {instance_id}")

    def step(instance: ProcessInstance) -> None:
        run = stepping.restore(uow, instance)
        run.reset_to(task_uuid)
        previous = instance.error_message
        instance.status = "running"
        instance.error_message = None
        instance.error_element = None
        uow.publish(events.IncidentResolved(instance_id, "resumed", actor, uow.clock()))
        audit.append(uow.session, type="instance_resumed", actor=actor, at=uow.clock(),
                     partnership_id=instance.partnership_id, instance_id=instance_id,
                     task_uuid=task_uuid, payload={"previous_error": previous})
        stepping.advance(uow, instance, run, actor)

    _step_or_incident(uow, instance_id, actor, "resume", step)
    return uow.session.get(ProcessInstance, instance_id).status


def _errored(session: Session, instance_id: int) -> ProcessInstance:
    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFound(f"instance {instance_id} does not exist")
    if instance.status != "error":
        raise Conflict(f"the instance is {instance.status}, not in error")
    return instance
