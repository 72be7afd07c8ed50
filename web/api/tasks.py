"""Tasks: the inbox with its filters, one task with its view and form, claim, release,
complete (the form's validation, French errors) and drafts; through the engine services the
pages use, and the same access policy."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from partnerflow.engine import access
from partnerflow.engine.access.groups import STAGES
from partnerflow.engine.runtime import queries, services, views
from partnerflow.engine.store.models import Partnership

from ..current import engine
from .common import Page, Strict, columns, jsonable, ok
from .security import SECURITY, actor, protect, responses

bp = APIBlueprint("api_tasks", __name__, url_prefix="/api/tasks", abp_security=SECURITY,
                  abp_tags=[Tag(name="tâches", description="Boîte de réception et formulaires")])
protect(bp)

SUMMARY = ("id", "title", "title_en", "element_id", "stage", "role", "assignee", "claimed_by",
           "delegated_to", "form_key", "due_at", "created_at", "partnership_id", "instance_id")


class TaskSummary(BaseModel):
    id: int
    title: str
    title_en: str | None = None
    element_id: str
    stage: str | None = None
    role: str | None = None
    assignee: str | None = None
    claimed_by: str | None = None
    delegated_to: str | None = None
    form_key: str | None = None
    due_at: datetime | None = None
    created_at: datetime
    partnership_id: int
    partnership_title: str | None = None
    instance_id: int


class TaskList(BaseModel):
    items: list[TaskSummary]
    total: int
    limit: int
    offset: int


class Task(TaskSummary):
    state: str
    completed_by: str | None = None
    completed_at: datetime | None = None
    row_version: int
    readonly: bool = Field(description="Le formulaire reste fermé à ce lecteur")
    confirm_password: bool = Field(description="Terminer redemande le mot de passe (signature)")
    form: dict[str, Any] = Field(description="Le schéma JSON du formulaire tel que ce lecteur le remplit")
    prepared: dict[str, Any] = Field(description="Ce que le processus a préparé dans le formulaire")
    draft: dict[str, Any] | None = None
    sections: list[dict[str, Any]] = Field(description="Les étapes antérieures que la tâche montre")


class InboxQuery(Page):
    partnership_id: int | None = Field(None, ge=1, le=2**31 - 1)
    stage: Literal[tuple(STAGES)] | None = None  # type: ignore[valid-type]
    role: str | None = Field(None, max_length=40, description="Un de vos groupes")
    overdue: bool = False
    sort: Literal["due", "created", "partnership"] = "due"


class TaskPath(BaseModel):
    task_id: int = Field(ge=1, le=2**63 - 1)


class Completion(Strict):
    data: dict[str, Any] = Field(default_factory=dict, description="Les champs du formulaire")
    expected_version: int | None = Field(None, ge=1, description="row_version lu ; 409 s'il a changé")
    password: str | None = Field(None, max_length=200,
                                 description="Pour une tâche qui redemande le mot de passe")


class CompletionResult(BaseModel):
    task_id: int
    instance_id: int
    instance_status: str
    next_tasks: list[int]
    error: str | None = None
    error_element: str | None = None


class Draft(Strict):
    data: dict[str, Any]


@bp.get("", summary="Lister mes tâches (filtres de la boîte de réception)",
        responses=responses(TaskList))
def list_tasks(query: InboxQuery):
    pf = engine()
    now = pf.clock()
    with pf.read() as db:
        me = access.actor(db, actor())
        filters = queries.InboxFilter(partnership_id=query.partnership_id, stage=query.stage,
                                      role=query.role if query.role in me.roles else None,
                                      overdue_only=query.overdue, sort=query.sort,
                                      limit=query.limit, offset=query.offset)
        rows = queries.inbox(db, actor(), now, filters)
        total = queries.inbox_count(db, actor(), filters, now)
    items = [{**columns(r, SUMMARY), "partnership_title": r.partnership_title} for r in rows]
    return ok({"items": items, "total": total, "limit": query.limit, "offset": query.offset})


def _task_body(db, pf, task, readonly: bool) -> dict:
    who = access.actor(db, actor())
    schema = services.task_form(pf.forms, task, who)
    fields = schema.get("properties") or {}
    prepared = {} if readonly else {k: v for k, v in views.prepared_data(db, task).items() if k in fields}
    shows = views.shows_of(pf.forms, task, views.meta_shows(db, pf.catalog, task))
    partnership = db.get(Partnership, task.partnership_id).title
    return {**columns(task, SUMMARY), "partnership_title": partnership, "state": task.state,
            "completed_by": task.completed_by, "completed_at": jsonable(task.completed_at),
            "row_version": task.row_version, "readonly": readonly,
            "confirm_password": bool(task.confirm_password),
            "form": schema, "prepared": jsonable(prepared),
            "draft": None if readonly else jsonable(task.draft),
            "sections": jsonable(views.task_sections(db, pf.forms, task, who, shows))}


@bp.get("/<int:task_id>", summary="Lire une tâche : sa vue, son formulaire, son brouillon",
        responses=responses(Task, 404))
def read_task(path: TaskPath):
    pf = engine()
    with pf.read() as db:
        task, readonly = services.task_to_read(db, task_id=path.task_id, actor=actor())
        return ok(_task_body(db, pf, task, readonly))


def _read_after(task_id: int):
    return read_task(TaskPath(task_id=task_id))


@bp.post("/<int:task_id>/claim", summary="Prendre la tâche", responses=responses(Task, 404, 409))
def claim(path: TaskPath):
    with engine().uow() as uow:
        services.claim_task(uow, task_id=path.task_id, actor=actor())
    return _read_after(path.task_id)


@bp.post("/<int:task_id>/release", summary="Libérer la tâche", responses=responses(Task, 404, 409))
def release(path: TaskPath):
    with engine().uow() as uow:
        services.unclaim_task(uow, task_id=path.task_id, actor=actor())
    return _read_after(path.task_id)


@bp.post("/<int:task_id>/complete", summary="Terminer la tâche avec les données du formulaire",
         responses=responses(CompletionResult, 404, 409))
def complete(path: TaskPath, body: Completion):
    with engine().uow() as uow:
        done = services.complete_task(uow, task_id=path.task_id, actor=actor(), data=body.data,
                                      expected_version=body.expected_version, password=body.password)
    return ok({"task_id": done.task_id, "instance_id": done.instance_id,
               "instance_status": done.instance_status, "next_tasks": done.next_tasks,
               "error": done.error, "error_element": done.error_element})


@bp.put("/<int:task_id>/draft", summary="Enregistrer un brouillon (rien n'est validé ni exécuté)",
        responses=responses(None, 404, 409, ok_status=204))
def save_draft(path: TaskPath, body: Draft):
    with engine().uow() as uow:
        services.save_draft(uow, task_id=path.task_id, actor=actor(), data=body.data)
    return "", 204
