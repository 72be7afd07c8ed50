"""External tasks: the service tasks no bundled connector serves, done by other software.

Camunda 7's external-task contract: a worker fetches and locks the open tasks of its topics
(for a lock duration, under its worker id), then completes each with variables, reports a
failure (retries left and a retry delay; an incident once none are left), extends its lock,
or throws a BPMN error that an error boundary event on the task catches. The instance waits
meanwhile (the service task stays started in the workflow, an `external_task` row here), and
resumes when the task is completed.

Locks are claimed with `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL, so concurrent
fetchers never get the same task; SQLite has one writer at a time."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, or_, select

from partnerflow.engine import access, audit
from partnerflow.engine.config import as_utc
from partnerflow.engine.errors import Conflict, Forbidden, InstanceError, InvalidInput, NotFound
from partnerflow.engine.runtime import stepping
from partnerflow.engine.store.models import ExternalTask, ProcessInstance, User

log = logging.getLogger(__name__)

MAX_LOCK_MS = 24 * 3600 * 1000
MAX_TASKS = 100


@dataclass(frozen=True)
class LockedTask:
    id: int
    topic: str
    worker_id: str
    lock_expires_at: object
    instance_id: int
    partnership_id: int
    process_key: str
    element_id: str
    element_name: str
    retries: int | None
    error_message: str | None
    variables: dict


def _worker(session, actor: str) -> None:
    user = session.scalar(select(User).where(User.username == actor, User.active.is_(True)))
    if user is None or not access.may(access.actor_of(session, user), "work_external_tasks"):
        raise Forbidden(f"{actor} may not work on external tasks")


def _check_lock_duration(value, field: str = "lockDuration") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_LOCK_MS:
        raise InvalidInput("invalid lock duration", {field: [
            "Durée du verrou en millisecondes, de 1 à 86 400 000."]})
    return value


def _check_worker_id(worker_id) -> str:
    if not isinstance(worker_id, str) or not worker_id.strip() or len(worker_id) > 200:
        raise InvalidInput("invalid worker id", {"workerId": [
            "Identifiant du travailleur obligatoire (200 caractères au plus)."]})
    return worker_id


def fetch_and_lock(uow, *, actor: str, worker_id: str, topics: list[tuple[str, int]],
                   max_tasks: int) -> list[LockedTask]:
    """Lock up to `max_tasks` fetchable tasks of these (topic, lock duration in ms) pairs."""
    session, now = uow.session, uow.clock()
    _worker(session, actor)
    _check_worker_id(worker_id)
    if not topics:
        raise InvalidInput("no topic", {"topics": ["Donnez au moins un sujet (topicName)."]})
    durations = {}
    for name, duration in topics:
        durations[name] = _check_lock_duration(duration)
    if isinstance(max_tasks, bool) or not isinstance(max_tasks, int) or not 1 <= max_tasks <= MAX_TASKS:
        raise InvalidInput("invalid maxTasks", {"maxTasks": ["Nombre de tâches de 1 à 100."]})
    query = (select(ExternalTask).join(ProcessInstance, ProcessInstance.id == ExternalTask.instance_id)
             .where(ExternalTask.state == "open", ExternalTask.topic.in_(sorted(durations)),
                    ProcessInstance.status == "running",
                    or_(ExternalTask.lock_expires_at.is_(None), ExternalTask.lock_expires_at < now),
                    or_(ExternalTask.retry_at.is_(None), ExternalTask.retry_at <= now),
                    or_(ExternalTask.retries.is_(None), ExternalTask.retries > 0))
             .order_by(ExternalTask.id).limit(max_tasks))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=ExternalTask, skip_locked=True)
    locked = []
    for task in session.scalars(query):
        task.worker_id = worker_id
        task.lock_expires_at = now + timedelta(milliseconds=durations[task.topic])
        locked.append(_locked(task))
    uow.commit()
    return locked


def _locked(task: ExternalTask) -> LockedTask:
    return LockedTask(task.id, task.topic, task.worker_id, task.lock_expires_at, task.instance_id,
                      task.partnership_id, task.process_key, task.element_id, task.element_name,
                      task.retries, task.error_message, dict(task.variables or {}))


def _held(uow, actor: str, task_id: int, worker_id: str) -> ExternalTask:
    """The task, locked for update, if this worker holds its lock."""
    session = uow.session
    _worker(session, actor)
    _check_worker_id(worker_id)
    task = session.get(ExternalTask, task_id, with_for_update=True)
    if task is None:
        raise NotFound(f"external task {task_id} does not exist")
    if task.state != "open":
        raise Conflict(f"external task {task_id} is {task.state}")
    if task.worker_id != worker_id or task.lock_expires_at is None:
        raise Conflict(f"external task {task_id} is not locked by worker '{worker_id}'")
    if as_utc(task.lock_expires_at) <= as_utc(uow.clock()):
        raise Conflict(f"the lock of external task {task_id} expired; fetch it again")
    return task


def _variables(variables) -> dict:
    if variables is None:
        return {}
    if not isinstance(variables, dict) or not all(isinstance(k, str) and k.isidentifier()
                                                  for k in variables):
        raise InvalidInput("invalid variables", {"variables": [
            "Un objet dont chaque clé est un nom de variable (lettres, chiffres, _)."]})
    return stepping.json_safe(variables)


def _audit(uow, task: ExternalTask, actor: str, type_: str, payload: dict) -> None:
    audit.append(uow.session, type=type_, actor=actor, at=uow.clock(),
                 partnership_id=task.partnership_id, instance_id=task.instance_id,
                 task_uuid=task.task_uuid, element_id=task.element_id,
                 payload={"topic": task.topic, "worker_id": task.worker_id, **payload})


def complete(uow, *, actor: str, task_id: int, worker_id: str, variables: dict | None = None) -> None:
    """The worker did the work: its variables reach the process, which moves on."""
    values = _variables(variables)
    task = _held(uow, actor, task_id, worker_id)

    def step(instance: ProcessInstance, run) -> None:
        run.complete_external_task(task.task_uuid, values)
        task.state, task.completed_at = "completed", uow.clock()
        _audit(uow, task, actor, "external_task_completed", {"variables": sorted(values)})

    _resume(uow, task, actor, step)


def bpmn_error(uow, *, actor: str, task_id: int, worker_id: str, error_code: str,
               error_message: str | None = None, variables: dict | None = None) -> None:
    """A business error: the task's error boundary event that catches `error_code` takes over;
    with none, the instance stops on an incident naming the code."""
    if not isinstance(error_code, str) or not error_code.strip() or len(error_code) > 200:
        raise InvalidInput("invalid error code", {"errorCode": ["Code d'erreur BPMN obligatoire."]})
    values = _variables(variables)
    task = _held(uow, actor, task_id, worker_id)

    def step(instance: ProcessInstance, run) -> None:
        if not run.throw_bpmn_error(task.task_uuid, error_code, values):
            error = InstanceError(f"{task.element_name} ({task.element_id}) : l'erreur BPMN "
                                  f"« {error_code} » n'est interceptée par aucun événement de bord")
            error.element_id = task.element_id
            raise error
        task.state, task.completed_at = "bpmn_error", uow.clock()
        task.error_message = (error_message or error_code)[:2000]
        _audit(uow, task, actor, "external_task_bpmn_error", {"error_code": error_code})

    _resume(uow, task, actor, step)


def _resume(uow, task: ExternalTask, actor: str, step) -> None:
    """Restore the instance, apply `step` to it, run what follows and commit; a failure of
    the engine is an incident on the instance (never a 500)."""
    session = uow.session
    instance = session.get(ProcessInstance, task.instance_id)
    if instance.status != "running":
        raise Conflict(f"the process is {instance.status}; the external task cannot be completed now")
    instance_id = instance.id
    try:
        run = stepping.restore(uow, instance)
        step(instance, run)
        stepping.advance(uow, instance, run, actor)
        uow.commit()
    except Exception as exc:  # noqa: BLE001 - any failure of the step becomes an incident
        log.warning("external task %s failed: %s", task.id, exc, exc_info=True)
        uow.rollback()
        stepping.record_incident(uow, instance_id, exc, actor, during="external_task")


def handle_failure(uow, *, actor: str, task_id: int, worker_id: str, error_message: str,
                   error_details: str | None = None, retries: int = 0, retry_timeout: int = 0) -> None:
    """The worker could not do it: the task is offered again after `retry_timeout` ms while
    `retries` are left; with none left the instance stops on an incident (Camunda 7)."""
    errors = {}
    if not isinstance(error_message, str) or not error_message.strip():
        errors["errorMessage"] = ["Message d'erreur obligatoire."]
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        errors["retries"] = ["Nombre d'essais restants : un entier positif ou nul."]
    if isinstance(retry_timeout, bool) or not isinstance(retry_timeout, int) or not \
            0 <= retry_timeout <= MAX_LOCK_MS:
        errors["retryTimeout"] = ["Délai avant un nouvel essai en millisecondes, de 0 à 86 400 000."]
    if errors:
        raise InvalidInput("invalid failure", errors)
    task = _held(uow, actor, task_id, worker_id)
    now = uow.clock()
    task.retries, task.error_message = retries, error_message[:2000]
    task.error_details = (error_details or "")[:20000] or None
    task.retry_at = now + timedelta(milliseconds=retry_timeout)
    _audit(uow, task, actor, "external_task_failed", {"error": task.error_message, "retries": retries})
    task.worker_id, task.lock_expires_at = None, None
    if retries == 0:
        instance = uow.session.get(ProcessInstance, task.instance_id)
        error = InstanceError(f"{task.element_name} ({task.element_id}) : le travailleur externe "
                              f"a échoué sans essai restant : {task.error_message}")
        error.element_id = task.element_id
        stepping.mark_failed(uow, instance, error, actor, during="external_task",
                             data={"topic": task.topic, "error_details": task.error_details})
    uow.commit()


def extend_lock(uow, *, actor: str, task_id: int, worker_id: str, new_duration: int) -> None:
    """More time for the worker that holds the lock, counted from now."""
    duration = _check_lock_duration(new_duration, "newDuration")
    task = _held(uow, actor, task_id, worker_id)
    task.lock_expires_at = uow.clock() + timedelta(milliseconds=duration)
    uow.commit()


def unlock(uow, *, actor: str, task_id: int) -> None:
    """Release a task's lock whoever holds it (an administrator's or a worker's recovery)."""
    _worker(uow.session, actor)
    task = uow.session.get(ExternalTask, task_id, with_for_update=True)
    if task is None:
        raise NotFound(f"external task {task_id} does not exist")
    task.worker_id, task.lock_expires_at = None, None
    uow.commit()


# ---------------------------------------------------------------- what incidents do to them


def cancel_of_instance(session, instance_id: int, now) -> None:
    """The instance was cancelled: its waiting external tasks end with it."""
    for task in session.scalars(select(ExternalTask).where(ExternalTask.instance_id == instance_id,
                                                           ExternalTask.state == "open")):
        task.state, task.completed_at = "cancelled", now
        task.worker_id, task.lock_expires_at = None, None


def reset_exhausted(session, instance_id: int) -> int:
    """Retrying an instance whose worker ran out of retries gives its task one more."""
    rows = list(session.scalars(select(ExternalTask).where(
        ExternalTask.instance_id == instance_id, ExternalTask.state == "open",
        ExternalTask.retries == 0)))
    for task in rows:
        task.retries, task.retry_at = 1, None
    return len(rows)


def of_instance(session, instance_id: int) -> list[ExternalTask]:
    return list(session.scalars(select(ExternalTask).where(
        ExternalTask.instance_id == instance_id).order_by(ExternalTask.id)))


def listing(session, *, topic: str | None = None, locked: bool | None = None, limit: int = 100,
            offset: int = 0) -> list[ExternalTask]:
    """The open external tasks (a worker's or an administrator's view)."""
    query = select(ExternalTask).where(ExternalTask.state == "open")
    if topic:
        query = query.where(ExternalTask.topic == topic)
    if locked is True:
        query = query.where(ExternalTask.lock_expires_at.is_not(None))
    elif locked is False:
        query = query.where(and_(ExternalTask.lock_expires_at.is_(None)))
    return list(session.scalars(query.order_by(ExternalTask.id).limit(limit).offset(offset)))
