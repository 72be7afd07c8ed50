"""Use cases. Each takes a unit of work, does its work, and leaves the commit to the caller
only where stated; the public functions here commit once themselves.

Incidents are here too: the instances stopped on an error, and what can be done about each
(retry after a fix, resume from an earlier task, cancel). Reads are queries on the incident
table; each action is audited and resolves the incident."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.exc import StaleDataError

from partnerflow.engine import access, audit
from partnerflow.engine.access import accounts
from partnerflow.engine.config import as_utc
from partnerflow.engine.errors import Conflict, Forbidden, InvalidInput, NotFound, StepFailed
from partnerflow.engine.runtime import auditlog, connectors, events, external, stepping, views
from partnerflow.engine.runtime.deployment import latest_version
from partnerflow.engine.runtime.forms import check_data_size, validate_against
from partnerflow.engine.store.models import (
    HumanTask,
    Incident,
    Partnership,
    PartnershipMember,
    PartnershipOrganisation,
    ProcessInstance,
    User,
)

# --- Use cases.

log = logging.getLogger(__name__)

PARTNERSHIP_KINDS = ("network", "cooperation", "partnership")


# ---------------------------------------------------------------- actors


def get_user(session: Session, username: str | None) -> User:
    """The acting user with their groups, in one statement."""
    user = (session.scalars(select(User).options(joinedload(User.groups))
                            .where(User.username == username)).unique().first()
            if username else None)
    if user is None or not user.active:
        raise Forbidden(f"unknown or inactive user '{username}'")
    return user


def may(session: Session, user: User, action: str, obj=None) -> bool:
    """The access policy's answer (access.may) for a loaded user."""
    return access.may(access.actor_of(session, user), action, obj)


# ---------------------------------------------------------------- partnerships


def create_partnership(uow, *, title: str, actor: str, kind: str = "partnership",
                       partner_organisation_ids: tuple[int, ...] = (),
                       organisation_id: int | None = None) -> int:
    """Register a partnership (its process instances start separately)."""
    title = (title or "").strip()
    if not title:
        raise InvalidInput("a partnership needs a title", {"title": ["Le titre est obligatoire."]})
    if kind not in PARTNERSHIP_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(PARTNERSHIP_KINDS)}",
                           {"kind": ["Type de relation inconnu."]})
    session = uow.session
    user = get_user(session, actor)
    now = uow.clock()
    partnership = Partnership(title=title[:300], kind=kind, stage="idea", status="active",
                              organisation_id=organisation_id or user.organisation_id,
                              created_by=actor, created_at=now)
    session.add(partnership)
    session.flush()
    for org_id in partner_organisation_ids:
        session.add(PartnershipOrganisation(partnership_id=partnership.id, organisation_id=org_id))
    audit.append(session, type="partnership_created", actor=actor, at=now,
                 partnership_id=partnership.id, payload={"title": partnership.title, "kind": kind})
    uow.commit()
    return partnership.id


def attach_member(uow, *, partnership_id: int, username: str, actor: str, role: str = "partner") -> None:
    session = uow.session
    user = get_user(session, username)
    if session.get(Partnership, partnership_id) is None:
        raise NotFound(f"partnership {partnership_id} does not exist")
    if session.get(PartnershipMember, (partnership_id, user.id)) is None:
        session.add(PartnershipMember(partnership_id=partnership_id, user_id=user.id, role=role))
        audit.append(session, type="member_attached", actor=actor, at=uow.clock(),
                     partnership_id=partnership_id, payload={"user": username, "role": role})
    uow.commit()


# ---------------------------------------------------------------- starting


def start_instance(uow, *, partnership_id: int, process_key: str, actor: str,
                   data: dict | None = None) -> int:
    """Start the latest version of a process for a partnership; a start form is validated."""
    session = uow.session
    get_user(session, actor)
    partnership = session.get(Partnership, partnership_id)
    if partnership is None:
        raise NotFound(f"partnership {partnership_id} does not exist")
    version = latest_version(session, process_key)
    compiled = uow.catalog.compiled(session, version.id)
    data = dict(data or {})
    check_data_size(data, uow.settings.max_task_data_bytes)
    if compiled.start_form_key:
        data = uow.forms.validate(compiled.start_form_key, data)
    data.update({"partnership_id": partnership_id, "initiator": actor})
    try:
        instance = stepping.start(uow, partnership, version, compiled, data, actor)
        uow.commit()
    except USER_ERRORS:
        raise
    except Exception as exc:  # noqa: BLE001 - nothing was started; say why, keep nothing half-done
        log.warning("starting %s failed: %s", process_key, exc, exc_info=True)
        uow.rollback()
        raise StepFailed(stepping.describe_failure(exc), instance_id=None,
                         element=stepping.failed_element(exc)) from exc
    return instance.id


def start_system_instance(uow, *, partnership_id: int, process_key: str, data: dict,
                          actor: str | None = None) -> int:
    """Start a process on the engine's own initiative (reminders from the worker): no user
    and no start form; the caller commits."""
    session = uow.session
    partnership = session.get(Partnership, partnership_id)
    if partnership is None:
        raise NotFound(f"partnership {partnership_id} does not exist")
    version = latest_version(session, process_key)
    compiled = uow.catalog.compiled(session, version.id)
    data = {**data, "partnership_id": partnership_id, "initiator": actor}
    return stepping.start(uow, partnership, version, compiled, data, actor).id


def _task_for_update(session: Session, task_id: int) -> HumanTask:
    # Lock the row: a second user completing the same task waits for the first to commit,
    # then sees it completed and gets a clear conflict rather than a stale write.
    task = session.get(HumanTask, task_id, with_for_update=True)
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    return task


def _ensure_not_waiting(task: HumanTask) -> None:
    """A task waiting for an opinion is completed, released or reassigned by nobody until
    the opinion is given or the question withdrawn."""
    if task.state == "open" and task.delegated_to:
        raise Conflict(f"this task is waiting for the opinion of {task.delegated_to}")


def _ensure_open(task: HumanTask) -> None:
    if task.state == "completed":
        when = as_utc(task.completed_at)
        at = f" at {when:%Y-%m-%d %H:%M} UTC" if when else ""
        raise Conflict(f"this task was already completed by {task.completed_by}{at}")
    if task.state != "open":
        raise Conflict(f"this task is {task.state}; it can no longer be completed")


@dataclass
class Completion:
    task_id: int
    instance_id: int
    instance_status: str
    next_tasks: list[int] = field(default_factory=list)
    error: str | None = None
    error_element: str | None = None
    told: tuple[str, ...] = ()  # who was told of the error


def complete_task(uow, *, task_id: int, actor: str, data: dict,
                  expected_version: int | None = None, password: str | None = None) -> Completion:
    """Validate the data against the task's form, run the task and what follows it.

    A task that asks for the password again (the diagram's `confirm_password` property: the
    signature tasks) needs it in `password`; the service tasks after it (a signature
    recorded) then know who confirmed their identity."""
    session = uow.session
    user = get_user(session, actor)
    task = _task_for_update(session, task_id)
    _ensure_open(task)
    _ensure_not_waiting(task)
    if expected_version is not None and task.row_version != expected_version:
        raise Conflict("this task changed since you opened it; reload the page")
    who = access.actor_of(session, user)
    if not access.may(who, "complete", task):
        raise Forbidden(f"{actor} may not complete task {task_id} ('{task.title}')")
    cleaned = _keep_prepared(uow, task, _validate_task_data(uow, task, data, who))
    # the partnership with it: the step reads it (its stage, the new tasks' search words)
    instance, _partnership = session.execute(
        select(ProcessInstance, Partnership)
        .join(Partnership, Partnership.id == ProcessInstance.partnership_id)
        .where(ProcessInstance.id == task.instance_id)).one()
    if instance.status != "running":
        raise Conflict(f"the process is {instance.status}; the task cannot be completed now")
    instance_id = instance.id
    on_behalf_of = access.acting_for(who, task)
    try:
        return _run_completion(uow, task, instance, cleaned, actor, password, on_behalf_of)
    except USER_ERRORS:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of the step becomes an incident
        log.warning("completing task %s failed: %s", task_id, exc, exc_info=True)
        uow.rollback()
        incident = stepping.record_incident(uow, instance_id, exc, actor, during="task_completion",
                                            task_id=task_id, draft=data)
        raise StepFailed(incident.message, instance_id=instance_id, element=incident.element,
                         told=tuple(incident.told)) from exc


# Errors that say the request itself cannot be done (a refusal, a conflict, bad input): they
# reach the caller as they are. Anything else raised while a step runs is an incident.
USER_ERRORS = (Conflict, Forbidden, InvalidInput, NotFound)


def _run_completion(uow, task: HumanTask, instance: ProcessInstance, cleaned: dict, actor: str,
                    password: str | None, on_behalf_of: str | None = None) -> Completion:
    session, task_id = uow.session, task.id
    identity = _confirmed_identity(uow, task, actor, password)
    run = stepping.restore(uow, instance)
    now = uow.clock()
    run.complete_user_task(task.task_uuid, cleaned)
    task.state = "completed"
    task.completed_by = actor
    task.completed_at = now
    task.draft = None
    task.result = stepping.json_safe(cleaned)
    uow.publish(events.TaskCompleted(task, cleaned, actor, now,
                                     before=auditlog.context_reference(task),
                                     on_behalf_of=on_behalf_of))
    open_tasks = stepping.advance(uow, instance, run, actor, identity=identity)
    if open_tasks is None:  # the step failed: the tasks that stay open are the stored ones
        open_tasks = list(session.scalars(select(HumanTask).where(
            HumanTask.instance_id == instance.id, HumanTask.state == "open")))
    _commit(uow, task_id)
    next_ids = sorted(task.id for task in open_tasks)
    incident = uow.incidents[0] if uow.incidents else None
    return Completion(task_id, instance.id, instance.status, next_ids, instance.error_message,
                      error_element=incident.element if incident else instance.error_element,
                      told=tuple(incident.told) if incident else ())


def _confirmed_identity(uow, task: HumanTask, actor: str,
                       password: str | None) -> connectors.Identity | None:
    """A task with `confirm_password` asks for the password again: a wrong one counts as a
    failed sign-in (accounts.confirm_password) and nothing runs."""
    if not task.confirm_password:
        return None
    accounts.confirm_password(uow, username=actor, password=password)
    return connectors.Identity(actor, task.instance_id, task.id, task.element_id)


def _keep_prepared(uow, task: HumanTask, cleaned: dict) -> dict:
    """A read-only field shows what the process prepared; whatever a submission sends for
    it, the process keeps the prepared value (the hash a signatory signs is the one the
    process prepared, not one sent back)."""
    schema = uow.forms.get(task.form_key).schema if task.form_key else task.inline_schema
    context = task.context or {}
    for key, prop in ((schema or {}).get("properties") or {}).items():
        if isinstance(prop, dict) and prop.get("readOnly"):
            cleaned.pop(key, None)
            if key in context:
                cleaned[key] = context[key]
    return cleaned


def task_form(forms, task: HumanTask, who) -> dict:
    """The form of a task as this person fills it (views.fillable: a partner representative
    gets the fields shared with the partner); the empty form for a task without one."""
    if task.form_key:
        schema = forms.get(task.form_key).schema
    else:
        schema = task.inline_schema or {"type": "object", "properties": {}}
    return views.fillable(schema, who)


def _validate_task_data(uow, task: HumanTask, data: dict, who) -> dict:
    check_data_size(data, uow.settings.max_task_data_bytes)
    if task.form_key or task.inline_schema:
        return validate_against(task_form(uow.forms, task, who), data, task.context)
    # a task without a form takes no data: only the diagram sets process variables
    return validate_against({"type": "object", "properties": {}}, data, task.context)


def _commit(uow, task_id: int | None = None) -> None:
    try:
        uow.commit()
    except StaleDataError:
        uow.rollback()
        if task_id is not None:
            row = uow.session.get(HumanTask, task_id)
            uow.session.refresh(row)
            if row.state == "completed":
                raise Conflict(f"this task was just completed by {row.completed_by}") from None
        raise Conflict("someone else changed this process at the same moment; try again") from None


def claim_task(uow, *, task_id: int, actor: str) -> None:
    session = uow.session
    user = get_user(session, actor)
    task = _task_for_update(session, task_id)
    _ensure_open(task)
    who = access.actor_of(session, user)
    if not access.may_act(who, task, ignore_claim=True):
        raise Forbidden(f"{actor} may not claim task {task_id}")
    if task.claimed_by and task.claimed_by != actor:
        raise Conflict(f"this task is already claimed by {task.claimed_by}")
    record_claim(uow, task, who)
    _commit(uow, task_id)


def record_claim(uow, task: HumanTask, who: access.Actor) -> None:
    """The task becomes this user's (claimed), audited, on behalf of whom they stand in for."""
    behalf = access.acting_for(who, task, ignore_claim=True)
    task.claimed_by = who.username
    audit.append(uow.session, type="task_claimed", actor=who.username, at=uow.clock(),
                 partnership_id=task.partnership_id, instance_id=task.instance_id,
                 task_uuid=task.task_uuid, element_id=task.element_id,
                 payload={"title": task.title, **({"on_behalf_of": behalf} if behalf else {})})


def record_release(uow, task: HumanTask, actor: str) -> None:
    """The task is offered again to all its candidates, audited."""
    task.claimed_by = None
    audit.append(uow.session, type="task_unclaimed", actor=actor, at=uow.clock(),
                 partnership_id=task.partnership_id, instance_id=task.instance_id,
                 task_uuid=task.task_uuid, element_id=task.element_id, payload={"title": task.title})


def unclaim_task(uow, *, task_id: int, actor: str) -> None:
    session = uow.session
    user = get_user(session, actor)
    task = _task_for_update(session, task_id)
    _ensure_open(task)
    _ensure_not_waiting(task)
    if task.claimed_by != actor and not may(session, user, "release"):
        raise Forbidden(f"only {task.claimed_by or 'nobody'} or the direction may release this task")
    record_release(uow, task, actor)
    _commit(uow, task_id)


def reassign_task(uow, *, task_id: int, actor: str, to_user: str) -> None:
    """The direction (or an admin) gives a task to someone else of the organisation."""
    session = uow.session
    user = get_user(session, actor)
    target = get_user(session, to_user)
    task = _task_for_update(session, task_id)
    _ensure_open(task)
    _ensure_not_waiting(task)
    if not may(session, user, "reassign"):
        raise Forbidden("only the direction or an administrator may reassign a task")
    if not may(session, target, "reassign_to", task):
        raise Forbidden(f"{to_user} cannot receive this task: it is offered neither to their "
                        "groups nor to them (a partner user only works on their own partnerships)")
    previous = task.assignee or task.claimed_by
    task.assignee = target.username
    task.claimed_by = None
    audit.append(session, type="task_reassigned", actor=actor, at=uow.clock(),
                 partnership_id=task.partnership_id, instance_id=task.instance_id,
                 task_uuid=task.task_uuid, element_id=task.element_id,
                 payload={"title": task.title, "from": previous, "to": target.username})
    _commit(uow, task_id)


def save_draft(uow, *, task_id: int, actor: str, data: dict) -> None:
    """Keep what the user typed so far; nothing is validated or run."""
    session = uow.session
    user = get_user(session, actor)
    task = _task_for_update(session, task_id)
    _ensure_open(task)
    if not may(session, user, "act", task):
        raise Forbidden(f"{actor} may not work on task {task_id}")
    check_data_size(data, uow.settings.max_task_data_bytes)
    # a draft keeps only what this person may fill (never an internal field from a partner)
    fields = task_form(uow.forms, task, access.actor_of(session, user)).get("properties") or {}
    task.draft = stepping.json_safe({k: v for k, v in data.items() if k in fields})
    _commit(uow, task_id)


# ---------------------------------------------------------------- instances


def cancel_instance(uow, *, instance_id: int, actor: str, reason: str) -> None:
    session = uow.session
    user = get_user(session, actor)
    if not may(session, user, "cancel"):
        raise Forbidden("only the direction or an administrator may cancel a process")
    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFound(f"instance {instance_id} does not exist")
    if instance.status in ("completed", "cancelled"):
        raise Conflict(f"the instance is already {instance.status}")
    now = uow.clock()
    instance.status = "cancelled"
    instance.ended_at = now
    instance.next_timer_at = None
    for task in session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id,
                                                        HumanTask.state == "open")):
        task.state = "cancelled"
        task.completed_at = now
    external.cancel_of_instance(session, instance_id, now)
    uow.publish(events.IncidentResolved(instance_id, "cancelled", actor, uow.clock()))
    audit.append(session, type="instance_cancelled", actor=actor, at=now,
                 partnership_id=instance.partnership_id, instance_id=instance_id,
                 payload={"reason": reason})
    _commit(uow)


def retry_instance(uow, *, instance_id: int, actor: str) -> str:
    """After a fix, run an errored instance again from the task that failed."""
    session = uow.session
    user = get_user(session, actor)
    if not may(session, user, "retry"):
        raise Forbidden("only an administrator or a process designer may retry a process")
    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFound(f"instance {instance_id} does not exist")
    if instance.status != "error":
        raise Conflict(f"the instance is {instance.status}, not in error")

    def step(instance: ProcessInstance) -> None:
        run = stepping.restore(uow, instance)
        run.reset_errors()
        external.reset_exhausted(session, instance_id)  # a worker out of retries gets one more
        instance.status = "running"
        previous = instance.error_message
        instance.error_message = None
        instance.error_element = None
        uow.publish(events.IncidentResolved(instance_id, "retried", actor, uow.clock()))
        audit.append(session, type="instance_retried", actor=actor, at=uow.clock(),
                     partnership_id=instance.partnership_id, instance_id=instance_id,
                     payload={"previous_error": previous})
        stepping.advance(uow, instance, run, actor)

    _step_or_incident(uow, instance_id, actor, "retry", step)
    return session.get(ProcessInstance, instance_id).status


def fire_due_timers(uow, *, limit: int = 50) -> int:
    """Run every running instance whose next timer is due; returns how many were run."""
    session, now = uow.session, uow.clock()
    query = (select(ProcessInstance).where(ProcessInstance.status == "running",
                                           ProcessInstance.next_timer_at.is_not(None),
                                           ProcessInstance.next_timer_at <= now)
             .order_by(ProcessInstance.next_timer_at).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(session.scalars(query.with_only_columns(ProcessInstance.id)))

    def fire(instance: ProcessInstance) -> None:
        if instance.status == "running" and instance.next_timer_at is not None \
                and as_utc(instance.next_timer_at) <= as_utc(now):
            stepping.advance(uow, instance, stepping.restore(uow, instance), None)

    for instance_id in ids:
        try:
            _step_or_incident(uow, instance_id, None, "timer", fire)
        except Conflict:
            continue  # another worker fired it at the same moment
    return len(ids)


def _step_or_incident(uow, instance_id: int, actor: str | None, during: str, step) -> None:
    """Run `step(instance)` and commit; a failure is rolled back and recorded as an incident
    on the instance (in error, the direction and designers told), never raised."""
    try:
        step(uow.session.get(ProcessInstance, instance_id))
        _commit(uow)
    except USER_ERRORS:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of the step becomes an incident
        log.warning("instance %s failed during %s: %s", instance_id, during, exc, exc_info=True)
        uow.rollback()
        stepping.record_incident(uow, instance_id, exc, actor, during=during)


# ---------------------------------------------------------------- worker hook: one timer at a time


def fire_next_due_timer(uow, *, skip: frozenset[int] = frozenset(),
                        claimed: list[int] | None = None) -> int | None:
    """Claim one running instance whose timer is due, fire it and commit; its id, or None.

    PostgreSQL: SELECT ... FOR UPDATE SKIP LOCKED, so concurrent workers claim different
    instances; the claimed row is read again under the lock (still running, still due)
    before anything runs. SQLite: the unit of work began with BEGIN IMMEDIATE, which
    serialises writers, so the same checks hold with one writer at a time. `skip` leaves
    out instances that just failed in this worker (a poison instance does not spin); the
    claimed id is appended to `claimed` first, so a caller knows which one failed."""
    session, now = uow.session, uow.clock()
    due = (ProcessInstance.status == "running", ProcessInstance.next_timer_at.is_not(None),
           ProcessInstance.next_timer_at <= now)
    instance, passed = None, set(skip)
    while instance is None:
        query = select(ProcessInstance.id).where(*due).order_by(ProcessInstance.next_timer_at).limit(1)
        if passed:
            query = query.where(ProcessInstance.id.not_in(passed))
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        instance_id = session.scalar(query)
        if instance_id is None:
            return None
        passed.add(instance_id)
        # re-read under the lock: completed, cancelled or re-timed since means nothing to fire
        instance = session.scalars(select(ProcessInstance).where(ProcessInstance.id == instance_id, *due)
                                   .execution_options(populate_existing=True)).one_or_none()
    if claimed is not None:
        claimed.append(instance.id)
    _step_or_incident(uow, instance_id, None, "timer", lambda i: stepping.advance(
        uow, i, stepping.restore(uow, i), None))
    return instance_id


def task_for_actor(session: Session, *, task_id: int, actor: str) -> HumanTask:
    """The task if this user may work on it (open and theirs or their role's, or waiting for
    their opinion), or read it once closed (access.may_act, access.may_give_opinion,
    access.may_read_closed_task)."""
    who = access.actor(session, actor)  # an unknown or inactive user may do nothing
    task = session.get(HumanTask, task_id)
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    if task.state == "open" and not (access.may(who, "act", task)
                                     or access.may(who, "give_opinion", task)):
        raise Forbidden(f"{actor} may not work on task {task_id}")
    if task.state != "open" and not access.may(who, "read_task", task):
        raise Forbidden(f"{actor} may not see task {task_id}")
    return task


def task_to_read(session: Session, *, task_id: int, actor: str) -> tuple[HumanTask, bool]:
    """The task this user may open, and whether its form stays closed to them: the colleague
    asked for an opinion reads it, an auditor or the direction reads any open task, without
    filling it (the task page and the API read it so)."""
    try:
        task = task_for_actor(session, task_id=task_id, actor=actor)
    except Forbidden:
        task = session.get(HumanTask, task_id)
        if task is None or not access.may_read_open_task(access.actor(session, actor), task):
            raise
        return task, True
    return task, task.state == "open" and not access.may(access.actor(session, actor), "act", task)


def instance_element_states(uow, *, instance_id: int) -> dict[str, dict[str, list[str]]]:
    """Per process of the instance: the BPMN ids completed, active and in error."""
    instance = uow.session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFound(f"instance {instance_id} does not exist")
    return stepping.restore(uow, instance).element_states()


# --- Incidents: the instances stopped on an error, and what can be done about each.

@dataclass
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
    from partnerflow.engine.runtime.services import _step_or_incident, get_user

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
