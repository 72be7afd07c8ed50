"""Process instances: start, list, read with their state, open tasks, external tasks and
incidents, cancel, retry; the partnership pages' rules decide who reads which."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from flask import url_for
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field
from sqlalchemy import select

from partnerflow.engine import access
from partnerflow.engine.errors import Forbidden, NotFound
from partnerflow.engine.runtime import external, services
from partnerflow.engine.store.models import HumanTask, ProcessInstance

from ..current import engine
from .common import Page, Strict, columns, created, ok
from .security import SECURITY, actor, protect, responses

bp = APIBlueprint("api_instances", __name__, url_prefix="/api/instances", abp_security=SECURITY,
                  abp_tags=[Tag(name="instances", description="Instances de processus")])
protect(bp)

STATUSES = ("running", "error", "completed", "cancelled")
FIELDS = ("id", "partnership_id", "version_id", "process_key", "label", "label_en", "status",
          "error_message", "error_element", "started_by", "started_at", "ended_at",
          "next_timer_at", "parent_instance_id")


class InstanceSummary(BaseModel):
    id: int
    partnership_id: int
    version_id: int
    process_key: str
    label: str | None = None
    label_en: str | None = None
    status: str
    error_message: str | None = None
    error_element: str | None = None
    started_by: str | None = None
    started_at: datetime
    ended_at: datetime | None = None
    next_timer_at: datetime | None = None
    parent_instance_id: int | None = None


class InstanceList(BaseModel):
    items: list[InstanceSummary]
    limit: int
    offset: int


class IncidentOut(BaseModel):
    id: int
    element_id: str | None = None
    during: str
    message: str
    created_at: datetime
    resolved_at: datetime | None = None
    resolution: str | None = None
    data: dict[str, Any] | None = Field(
        None, description="Pour la direction, les concepteurs et les administrateurs")


class ExternalTaskOut(BaseModel):
    id: int
    topic: str
    element_id: str
    state: str
    worker_id: str | None = None
    lock_expires_at: datetime | None = None
    retries: int | None = None
    error_message: str | None = None


class Instance(InstanceSummary):
    waiting_messages: list[str]
    open_tasks: list[int]
    external_tasks: list[ExternalTaskOut]
    incidents: list[IncidentOut]


class InstanceQuery(Page):
    partnership_id: int | None = Field(None, ge=1, le=2**31 - 1)
    process_key: str | None = Field(None, max_length=120)
    status: Literal[STATUSES] | None = None  # type: ignore[valid-type]


class InstancePath(BaseModel):
    instance_id: int = Field(ge=1, le=2**31 - 1)


class Start(Strict):
    partnership_id: int = Field(ge=1, le=2**31 - 1)
    process_key: str = Field(min_length=1, max_length=120)
    data: dict[str, Any] = Field(default_factory=dict, description="Le formulaire de départ, s'il y en a un")


class Started(BaseModel):
    id: int
    status: str


class Cancel(Strict):
    reason: str = Field(min_length=1, max_length=2000)


def _readable(db, instance_id: int) -> ProcessInstance:
    instance = db.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFound(f"instance {instance_id} does not exist")
    if not access.may_read_partnership(access.actor(db, actor()), instance.partnership_id):
        raise Forbidden(f"{actor()} may not read instance {instance_id}")
    return instance


@bp.get("", summary="Lister les instances", responses=responses(InstanceList))
def list_instances(query: InstanceQuery):
    with engine().read() as db:
        readable = access.readable_partnerships(access.actor(db, actor()))
        stmt = select(ProcessInstance)
        if readable is not None:
            stmt = stmt.where(ProcessInstance.partnership_id.in_(readable))
        if query.partnership_id:
            stmt = stmt.where(ProcessInstance.partnership_id == query.partnership_id)
        if query.process_key:
            stmt = stmt.where(ProcessInstance.process_key == query.process_key)
        if query.status:
            stmt = stmt.where(ProcessInstance.status == query.status)
        rows = db.scalars(stmt.order_by(ProcessInstance.id.desc()).limit(query.limit)
                          .offset(query.offset)).all()
        return ok({"items": [columns(r, FIELDS) for r in rows], "limit": query.limit,
                   "offset": query.offset})


@bp.get("/<int:instance_id>", summary="Lire une instance, ses tâches et ses incidents",
        responses=responses(Instance, 404))
def read_instance(path: InstancePath):
    with engine().read() as db:
        instance = _readable(db, path.instance_id)
        internal = access.may(access.actor(db, actor()), "read_incidents")
        tasks = db.scalars(select(HumanTask.id).where(HumanTask.instance_id == instance.id,
                                                      HumanTask.state == "open")
                           .order_by(HumanTask.id)).all()
        incidents = [{**columns(i, ("id", "element_id", "during", "message", "created_at",
                                    "resolved_at", "resolution")),
                      "data": (i.data or {}) if internal else None}
                     for i in services.for_instance(db, instance.id)]
        work = [columns(t, ("id", "topic", "element_id", "state", "worker_id", "lock_expires_at",
                            "retries", "error_message")) for t in external.of_instance(db, instance.id)]
        return ok({**columns(instance, FIELDS), "waiting_messages": list(instance.waiting_messages or []),
                   "open_tasks": list(tasks), "external_tasks": work, "incidents": incidents})


@bp.post("", summary="Démarrer une instance pour un partenariat",
         responses=responses(Started, 404, 409, ok_status=201))
def start(body: Start):
    pf = engine()
    with pf.read() as db:
        if not access.may(access.actor(db, actor()), "start_instance", body.partnership_id):
            raise Forbidden(f"{actor()} may not start a process")
    with pf.uow() as uow:
        instance_id = services.start_instance(uow, partnership_id=body.partnership_id,
                                              process_key=body.process_key, actor=actor(),
                                              data=body.data)
    with pf.read() as db:
        status = db.get(ProcessInstance, instance_id).status
    return created({"id": instance_id, "status": status},
                   url_for("api_instances.read_instance", instance_id=instance_id))


@bp.post("/<int:instance_id>/cancel", summary="Annuler une instance", responses=responses(Instance, 404, 409))
def cancel(path: InstancePath, body: Cancel):
    with engine().uow() as uow:
        services.cancel_instance(uow, instance_id=path.instance_id, actor=actor(), reason=body.reason)
    return read_instance(path)


@bp.post("/<int:instance_id>/retry", summary="Relancer une instance en erreur, après correction",
         responses=responses(Instance, 404, 409))
def retry(path: InstancePath):
    with engine().uow() as uow:
        services.retry_instance(uow, instance_id=path.instance_id, actor=actor())
    return read_instance(path)
