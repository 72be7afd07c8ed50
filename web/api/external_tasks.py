"""External tasks, with Camunda 7's REST contract (/external-task/fetchAndLock, complete,
failure, extendLock, bpmnError; variables typed as {"name": {"value": …, "type": …}}), so
Camunda's external-task clients can be pointed at Partnerflow. The account acting must be in
the `worker` group (or an administrator)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field, RootModel

from partnerflow.engine import access
from partnerflow.engine.errors import Forbidden
from partnerflow.engine.runtime import external

from ..current import engine
from ..webforms import N_
from .common import Strict, columns, ok
from .security import SECURITY, actor, protect, responses

bp = APIBlueprint("api_external_tasks", __name__, url_prefix="/api/external-task", abp_security=SECURITY,
                  abp_tags=[Tag(name="tâches externes", description="Travailleurs externes (Camunda 7)")])
protect(bp)
# what engine/runtime/external.py and messages.py say of refused fields, marked for translation
ENGINE_MESSAGES = (
    N_("Un objet dont chaque clé est un nom de variable (lettres, chiffres, _)."),
    N_("Durée du verrou en millisecondes, de 1 à 86 400 000."),
    N_("Identifiant du travailleur obligatoire (200 caractères au plus)."),
    N_("Donnez au moins un sujet (topicName)."),
    N_("Nombre de tâches de 1 à 100."),
    N_("Code d'erreur BPMN obligatoire."),
    N_("Message d'erreur obligatoire."),
    N_("Nombre d'essais restants : un entier positif ou nul."),
    N_("Délai avant un nouvel essai en millisecondes, de 0 à 86 400 000."),
)


class TypedValue(BaseModel):
    value: Any = None
    type: str | None = Field(None, max_length=40, description="String, Integer, Boolean, Json…")


Variables = dict[str, TypedValue]


def plain(variables: Variables | None) -> dict:
    return {name: typed.value for name, typed in (variables or {}).items()}


def _type_of(value) -> str:
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Long" if abs(value) > 2**31 else "Integer"
    if isinstance(value, float):
        return "Double"
    if isinstance(value, str):
        return "String"
    if value is None:
        return "Null"
    return "Json"


def typed(variables: dict) -> dict:
    return {name: {"value": value, "type": _type_of(value)} for name, value in variables.items()}


class Topic(Strict):
    topicName: str = Field(min_length=1, max_length=200)
    lockDuration: int = Field(ge=1, le=external.MAX_LOCK_MS, description="En millisecondes")
    variables: list[str] | None = Field(None, max_length=200,
                                     description="Les variables à recevoir (toutes sinon)")


class FetchAndLock(Strict):
    workerId: str = Field(min_length=1, max_length=200)
    maxTasks: int = Field(1, ge=1, le=external.MAX_TASKS)
    topics: list[Topic] = Field(min_length=1, max_length=50)


class LockedTask(BaseModel):
    id: str
    topicName: str
    workerId: str
    lockExpirationTime: datetime
    processInstanceId: str
    processDefinitionKey: str
    activityId: str
    activityName: str
    businessKey: str = Field(description="L'identifiant du partenariat")
    retries: int | None = None
    errorMessage: str | None = None
    variables: dict[str, TypedValue]


class LockedTasks(RootModel[list[LockedTask]]):
    pass


class TaskPath(BaseModel):
    task_id: int = Field(ge=1, le=2**63 - 1)


class Complete(Strict):
    workerId: str = Field(min_length=1, max_length=200)
    variables: Variables | None = None
    localVariables: Variables | None = None


class Failure(Strict):
    workerId: str = Field(min_length=1, max_length=200)
    errorMessage: str = Field(min_length=1, max_length=2000)
    errorDetails: str | None = Field(None, max_length=20000)
    retries: int = Field(0, ge=0, le=1000)
    retryTimeout: int = Field(0, ge=0, le=external.MAX_LOCK_MS, description="En millisecondes")


class ExtendLock(Strict):
    workerId: str = Field(min_length=1, max_length=200)
    newDuration: int = Field(ge=1, le=external.MAX_LOCK_MS,
                             description="En millisecondes, à partir de maintenant")


class BpmnError(Strict):
    workerId: str = Field(min_length=1, max_length=200)
    errorCode: str = Field(min_length=1, max_length=200)
    errorMessage: str | None = Field(None, max_length=2000)
    variables: Variables | None = None


class OpenExternalTask(BaseModel):
    id: int
    topic: str
    instance_id: int
    partnership_id: int
    element_id: str
    worker_id: str | None = None
    lock_expires_at: datetime | None = None
    retries: int | None = None
    error_message: str | None = None


class OpenExternalTasks(RootModel[list[OpenExternalTask]]):
    pass


class ListQuery(BaseModel):
    topicName: str | None = Field(None, max_length=200)
    locked: bool | None = None
    limit: int = Field(100, ge=1, le=200)
    offset: int = Field(0, ge=0, le=1_000_000)


@bp.post("/fetchAndLock", summary="Prendre et verrouiller des tâches externes par sujet",
         responses=responses(LockedTasks))
def fetch_and_lock(body: FetchAndLock):
    wanted = {t.topicName: t.variables for t in body.topics}
    with engine().uow() as uow:
        locked = external.fetch_and_lock(uow, actor=actor(), worker_id=body.workerId,
                                         topics=[(t.topicName, t.lockDuration) for t in body.topics],
                                         max_tasks=body.maxTasks)
    out = []
    for task in locked:
        names = wanted.get(task.topic)
        variables = {k: v for k, v in task.variables.items() if names is None or k in names}
        out.append({"id": str(task.id), "topicName": task.topic, "workerId": task.worker_id,
                    "lockExpirationTime": task.lock_expires_at,
                    "processInstanceId": str(task.instance_id), "processDefinitionKey": task.process_key,
                    "activityId": task.element_id, "activityName": task.element_name,
                    "businessKey": str(task.partnership_id), "retries": task.retries,
                    "errorMessage": task.error_message, "variables": typed(variables)})
    return ok(out)


@bp.get("", summary="Lister les tâches externes ouvertes", responses=responses(OpenExternalTasks))
def list_external(query: ListQuery):
    with engine().read() as db:
        if not access.may(access.actor(db, actor()), "work_external_tasks"):
            raise Forbidden(f"{actor()} may not work on external tasks")
        rows = external.listing(db, topic=query.topicName, locked=query.locked, limit=query.limit,
                                offset=query.offset)
        return ok([columns(r, ("id", "topic", "instance_id", "partnership_id", "element_id",
                               "worker_id", "lock_expires_at", "retries", "error_message"))
                   for r in rows])


NO_CONTENT = {"ok_status": 204}


@bp.post("/<int:task_id>/complete", summary="Terminer une tâche externe avec des variables",
         responses=responses(None, 404, 409, **NO_CONTENT))
def complete(path: TaskPath, body: Complete):
    with engine().uow() as uow:
        external.complete(uow, actor=actor(), task_id=path.task_id, worker_id=body.workerId,
                          variables={**plain(body.variables), **plain(body.localVariables)})
    return "", 204


@bp.post("/<int:task_id>/failure", summary="Signaler un échec (essais restants, délai)",
         responses=responses(None, 404, 409, **NO_CONTENT))
def failure(path: TaskPath, body: Failure):
    with engine().uow() as uow:
        external.handle_failure(uow, actor=actor(), task_id=path.task_id, worker_id=body.workerId,
                                error_message=body.errorMessage, error_details=body.errorDetails,
                                retries=body.retries, retry_timeout=body.retryTimeout)
    return "", 204


@bp.post("/<int:task_id>/extendLock", summary="Prolonger le verrou",
         responses=responses(None, 404, 409, **NO_CONTENT))
def extend_lock(path: TaskPath, body: ExtendLock):
    with engine().uow() as uow:
        external.extend_lock(uow, actor=actor(), task_id=path.task_id, worker_id=body.workerId,
                             new_duration=body.newDuration)
    return "", 204


@bp.post("/<int:task_id>/bpmnError", summary="Lever une erreur BPMN (événement de bord d'erreur)",
         responses=responses(None, 404, 409, **NO_CONTENT))
def bpmn_error(path: TaskPath, body: BpmnError):
    with engine().uow() as uow:
        external.bpmn_error(uow, actor=actor(), task_id=path.task_id, worker_id=body.workerId,
                            error_code=body.errorCode, error_message=body.errorMessage,
                            variables=plain(body.variables))
    return "", 204


@bp.post("/<int:task_id>/unlock", summary="Lever le verrou d'une tâche externe",
         responses=responses(None, 404, **NO_CONTENT))
def unlock(path: TaskPath):
    with engine().uow() as uow:
        external.unlock(uow, actor=actor(), task_id=path.task_id)
    return "", 204
