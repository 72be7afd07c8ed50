"""Use cases. Each takes a unit of work, does its work, and leaves the commit to the caller
only where stated; the public functions here commit once themselves."""

from __future__ import annotations

import logging
import re
from copy import deepcopy
from dataclasses import dataclass, field

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.exc import StaleDataError

from . import audit, notifications, spiff
from .assignment import assign
from .catalog import latest_version, version_for_start_message
from .clock import as_utc
from .errors import Conflict, Forbidden, InstanceError, InvalidInput, NotFound, ScriptError
from .forms import schema_from_form_fields, validate_against
from .models import (
    NO_DUE_DATE,
    HumanTask,
    Partnership,
    PartnershipMember,
    PartnershipOrganisation,
    ProcessInstance,
    ProcessVersion,
    User,
    WorkflowTask,
)

log = logging.getLogger(__name__)

PARTNERSHIP_KINDS = ("network", "cooperation", "partnership")
MAX_MESSAGE_HOPS = 20


# ---------------------------------------------------------------- actors


def get_user(session: Session, username: str | None) -> User:
    user = (session.scalar(select(User).options(joinedload(User.roles)).where(User.username == username))
            if username else None)
    if user is None or not user.active:
        raise Forbidden(f"unknown or inactive user '{username}'")
    return user


def is_member(session: Session, user: User, partnership_id: int) -> bool:
    return session.get(PartnershipMember, (partnership_id, user.id)) is not None


def can_act_on(session: Session, user: User, task: HumanTask, ignore_claim: bool = False) -> bool:
    """May this user complete (or claim) this task? `ignore_claim` asks whether the task is
    theirs to take at all, whoever holds it right now."""
    roles = user.role_keys
    if task.assignee:
        return task.assignee == user.username
    if not ignore_claim and task.claimed_by and task.claimed_by != user.username:
        return False
    groups = set(filter(None, (task.candidate_groups or "").split(","))) or {task.role}
    if "partner" in roles and not roles - {"partner"}:
        return "partner" in groups and is_member(session, user, task.partnership_id)
    if groups & {"partner"} and is_member(session, user, task.partnership_id):
        return True
    return bool(groups & roles)


def may_receive(session: Session, user: User, task: HumanTask) -> bool:
    """Can a task be reassigned to this user? Auditors change nothing; a partner user only
    ever gets tasks of their own partnerships."""
    roles = user.role_keys
    if not roles or roles <= {"auditor"}:
        return False
    if roles <= {"partner", "auditor"}:
        return is_member(session, user, task.partnership_id)
    return True


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
    if compiled.start_form_key:
        data = uow.forms.validate(compiled.start_form_key, data)
    data.update({"partnership_id": partnership_id, "initiator": actor})
    instance = _start(uow, partnership, version, compiled, data, actor)
    uow.commit()
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
    return _start(uow, partnership, version, compiled, data, actor).id


def _start(uow, partnership: Partnership, version: ProcessVersion, compiled, data: dict,
           actor: str | None, parent_id: int | None = None, hops: int = 0,
           message: spiff.ThrownMessage | None = None) -> ProcessInstance:
    session, now = uow.session, uow.clock()
    instance = ProcessInstance(partnership_id=partnership.id, version_id=version.id,
                               process_key=version.process_key, status="running",
                               workflow_state={}, started_by=actor, started_at=now,
                               parent_instance_id=parent_id, waiting_messages=[],
                               label=_label(version, data))
    session.add(instance)
    session.flush()
    audit.append(session, type="instance_started", actor=actor, at=now,
                 partnership_id=partnership.id, instance_id=instance.id,
                 payload={"process_key": version.process_key, "version": version.version,
                          "data": data, "parent_instance_id": parent_id})
    run = spiff.WorkflowRun.start(compiled, data, **_run_options(uow))
    if message is not None:
        # a message start event waits once the start is reached; hand it the message
        run.run_engine_steps()
        if not run.catch_message(message.name, data):
            raise InstanceError(f"'{version.process_key}' does not start on message '{message.name}'")
    _advance(uow, instance, run, actor, hops=hops)
    return instance


def _label(version: ProcessVersion, data: dict) -> str:
    label = version.name or version.process_key
    if data.get("period_number"):
        label += f" — période {data['period_number']}"
    return label[:200]


def _run_options(uow) -> dict:
    return {"clock": uow.clock, "time_limit_s": uow.settings.step_time_limit_s,
            "max_depth": uow.settings.max_task_depth}


def _restore(uow, instance: ProcessInstance) -> spiff.WorkflowRun:
    compiled = uow.catalog.compiled(uow.session, instance.version_id)
    rows = uow.session.execute(
        select(WorkflowTask.task_uuid, WorkflowTask.subprocess_uuid, WorkflowTask.body)
        .where(WorkflowTask.instance_id == instance.id)).all()
    return spiff.WorkflowRun.restore(compiled, instance.workflow_state, [tuple(r) for r in rows],
                                     **_run_options(uow))


# ---------------------------------------------------------------- advancing


def _advance(uow, instance: ProcessInstance, run: spiff.WorkflowRun, actor: str | None,
             hops: int = 0) -> None:
    """Run engine steps, then persist state, projection, audit and messages together."""
    session, now = uow.session, uow.clock()
    try:
        run.run_engine_steps()
        failure = None
    except (ScriptError, InstanceError, *spiff.ParserErrors, Exception) as exc:  # noqa: B014
        failure = exc
    for event in run.events:
        audit.append(session, type=event.type, actor=actor, at=now,
                     partnership_id=instance.partnership_id, instance_id=instance.id,
                     element_id=event.element_id,
                     payload={"title": event.title, "process": event.spec_name, **event.details})
        if event.type == "decision_evaluated":
            level = event.details.get("outputs", {}).get("formalisation_level")
            if level:
                session.get(Partnership, instance.partnership_id).formalisation_level = str(level)[:2]
    # notification hook: the script tasks that ran (reminders, escalations), see notifications.SIGNALS
    scripts_ran = [e.element_id for e in run.events if e.type == "script_ran"]
    run.events.clear()
    _persist(uow, instance, run)
    if failure is not None:
        _mark_failed(uow, instance, failure, actor)
        return
    _sync_projection(uow, instance, run)
    notifications.steps_ran(uow, instance, scripts_ran)  # notification hook; never raises
    _finish_if_completed(uow, instance, run, actor)
    messages, run.messages = run.messages, []
    for message in messages:
        _route_message(uow, instance, message, actor, hops + 1)


def _persist(uow, instance: ProcessInstance, run: spiff.WorkflowRun) -> None:
    """Write the changed task rows in bulk: one DELETE, one INSERT, one UPDATE batch."""
    session = uow.session
    changes = run.changes()
    table = WorkflowTask.__table__
    if changes.deletes:
        session.execute(table.delete().where(table.c.instance_id == instance.id,
                                             table.c.task_uuid.in_(changes.deletes)))
    inserts = [{"instance_id": instance.id, "task_uuid": r.uuid, "subprocess_uuid": r.subprocess_uuid,
                "state": r.state, "body": r.body} for r in changes.upserts if not r.exists]
    if inserts:
        session.execute(table.insert(), inserts)
    updates = [{"b_instance": instance.id, "b_uuid": r.uuid, "state": r.state, "body": r.body,
                "subprocess_uuid": r.subprocess_uuid} for r in changes.upserts if r.exists]
    if updates:
        session.execute(table.update().where(table.c.instance_id == bindparam("b_instance"),
                                             table.c.task_uuid == bindparam("b_uuid")), updates)
    instance.workflow_state = changes.workflow_state
    instance.next_timer_at = run.next_timer_due()
    instance.waiting_messages = run.waiting_message_names()


def _mark_failed(uow, instance: ProcessInstance, exc: Exception, actor: str | None) -> None:
    element = _failed_element(exc)
    message = _error_message(exc)
    instance.status = "error"
    instance.error_message = message
    instance.error_element = element
    audit.append(uow.session, type="instance_failed", actor=actor, at=uow.clock(),
                 partnership_id=instance.partnership_id, instance_id=instance.id,
                 element_id=element, payload={"error": message})
    log.warning("instance %s stopped at %s: %s", instance.id, element, message)


def _failed_element(exc: Exception) -> str | None:
    task = getattr(exc, "task", None)
    spec = getattr(task, "task_spec", None)
    if spec is not None:
        return getattr(spec, "bpmn_id", None) or spec.name
    text = str(exc)
    if "'" in text:
        parts = text.split("'")
        return parts[1] if len(parts) > 2 else None
    return None


def _error_message(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    notes = [n for n in (getattr(exc, "__notes__", None) or getattr(exc, "notes", None) or [])
             if str(n).strip() not in text]
    task = getattr(exc, "task", None)
    if task is not None:
        spec = task.task_spec
        text = f"{getattr(spec, 'bpmn_name', None) or spec.name} ({getattr(spec, 'bpmn_id', '')}): {text}"
    if notes:
        text += " — " + " ".join(str(n) for n in notes)
    return text[:2000]


def _sync_projection(uow, instance: ProcessInstance, run: spiff.WorkflowRun) -> None:
    session, now = uow.session, uow.clock()
    open_rows = {row.task_uuid: row for row in session.scalars(select(HumanTask).where(
        HumanTask.instance_id == instance.id, HumanTask.state == "open"))}
    ready = {view.uuid: view for view in run.ready_user_tasks()}
    for uuid, row in open_rows.items():
        if uuid not in ready:
            row.state = "cancelled"
            row.completed_at = now
            audit.append(session, type="task_cancelled", actor=None, at=now,
                         partnership_id=instance.partnership_id, instance_id=instance.id,
                         task_uuid=uuid, element_id=row.element_id, payload={"title": row.title})
    partnership = session.get(Partnership, instance.partnership_id)
    created: list[HumanTask] = []  # for the notification hook below
    for uuid, view in ready.items():
        if uuid in open_rows:
            continue
        meta = run.compiled.user_task_meta(view.spec_name, view.element_id)
        data = deepcopy(view.data)
        who = assign(lane=meta.lane if meta else None,
                     candidate_groups=meta.candidate_groups if meta else (),
                     assignee=meta.assignee if meta else None,
                     due_date=meta.due_date if meta else None, data=data, created=now)
        row = HumanTask(
            instance_id=instance.id, partnership_id=instance.partnership_id, task_uuid=uuid,
            process_key=view.spec_name, element_id=view.element_id,
            title=task_title(meta, data, view.element_id),
            stage=(meta.stage if meta else None) or run.compiled.stage, role=who.role,
            candidate_groups=",".join(who.candidate_groups) or None, assignee=who.assignee,
            form_key=meta.form_key if meta and not meta.form_fields else None,
            inline_schema=(schema_from_form_fields(list(meta.form_fields))
                           if meta and meta.form_fields else None),
            due_at=who.due_at, sort_due=who.due_at or NO_DUE_DATE, created_at=now, state="open",
            context=_json_safe(data))
        session.add(row)
        created.append(row)
        if row.stage and partnership.status == "active":
            partnership.stage = row.stage
        audit.append(session, type="task_created", actor=None, at=now,
                     partnership_id=instance.partnership_id, instance_id=instance.id,
                     task_uuid=uuid, element_id=view.element_id,
                     payload={"title": row.title, "role": row.role, "assignee": row.assignee,
                              "due_at": row.due_at.isoformat() if row.due_at else None})
    # notification hook: written in this transaction, e-mailed later by the worker; never raises
    notifications.tasks_created(uow, instance, created)


_VARIABLE = re.compile(r"\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")


def task_title(meta, data: dict, fallback: str) -> str:
    """The inbox title: the task's title template (a camunda property `title`) or its name,
    with `${variable}` replaced from the task's data."""
    template = (meta.title_template or meta.title) if meta else fallback
    return _VARIABLE.sub(lambda m: str(data.get(m.group(1), m.group(0))), template)[:300]


def _json_safe(data):
    import json

    return json.loads(json.dumps(data, default=str))


def _finish_if_completed(uow, instance: ProcessInstance, run: spiff.WorkflowRun, actor) -> None:
    if not run.is_completed():
        return
    now = uow.clock()
    instance.status = "completed"
    instance.ended_at = now
    instance.next_timer_at = None
    outcome = run.last_data()
    audit.append(uow.session, type="instance_completed", actor=actor, at=now,
                 partnership_id=instance.partnership_id, instance_id=instance.id,
                 payload={"process_key": instance.process_key})
    if instance.parent_instance_id is None and instance.process_key == _main_process(uow, instance):
        partnership = uow.session.get(Partnership, instance.partnership_id)
        status = outcome.get("partnership_status")
        if not status:
            status = "archived" if outcome.get("idea_decision") == "decline" else "ended"
        partnership.status = str(status)[:20]


def _main_process(uow, instance: ProcessInstance) -> str:
    first = uow.session.scalar(select(ProcessInstance.process_key).where(
        ProcessInstance.partnership_id == instance.partnership_id).order_by(ProcessInstance.id).limit(1))
    return first or instance.process_key


def _route_message(uow, sender: ProcessInstance, message: spiff.ThrownMessage, actor, hops) -> None:
    """Deliver a message to a waiting instance of the partnership, or start the process
    whose message start event catches it."""
    session, now = uow.session, uow.clock()
    if hops > MAX_MESSAGE_HOPS:
        raise InstanceError(f"message '{message.name}' bounced more than {MAX_MESSAGE_HOPS} times")
    payload = message.payload if isinstance(message.payload, dict) else {"payload": message.payload}
    candidates = session.scalars(select(ProcessInstance).where(
        ProcessInstance.partnership_id == sender.partnership_id,
        ProcessInstance.status == "running", ProcessInstance.id != sender.id)
        .order_by(ProcessInstance.id)).all()
    for target in candidates:
        if message.name in (target.waiting_messages or []):
            run = _restore(uow, target)
            if run.catch_message(message.name, payload):
                audit.append(session, type="message_delivered", actor=actor, at=now,
                             partnership_id=sender.partnership_id, instance_id=target.id,
                             payload={"message": message.name, "from_instance": sender.id})
                _advance(uow, target, run, actor, hops)
                return
    version = version_for_start_message(session, message.name)
    if version is None:
        audit.append(session, type="message_unhandled", actor=actor, at=now,
                     partnership_id=sender.partnership_id, instance_id=sender.id,
                     payload={"message": message.name})
        return
    partnership = session.get(Partnership, sender.partnership_id)
    compiled = uow.catalog.compiled(session, version.id)
    data = {k: v for k, v in payload.items()}
    audit.append(session, type="message_delivered", actor=actor, at=now,
                 partnership_id=sender.partnership_id, instance_id=sender.id,
                 payload={"message": message.name, "starts": version.process_key})
    _start(uow, partnership, version, compiled, data, actor, parent_id=sender.id, hops=hops,
           message=message)


# ---------------------------------------------------------------- tasks


def _task_for_update(session: Session, task_id: int) -> HumanTask:
    # Lock the row: a second user completing the same task waits for the first to commit,
    # then sees it completed and gets a clear conflict rather than a stale write.
    task = session.get(HumanTask, task_id, with_for_update=True)
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    return task


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


def complete_task(uow, *, task_id: int, actor: str, data: dict,
                  expected_version: int | None = None, password: str | None = None) -> Completion:
    """Validate the data against the task's form, run the task and what follows it.

    A signature task also needs the signatory's password again (`password`)."""
    session = uow.session
    user = get_user(session, actor)
    task = _task_for_update(session, task_id)
    _ensure_open(task)
    if expected_version is not None and task.row_version != expected_version:
        raise Conflict("this task changed since you opened it; reload the page")
    if not can_act_on(session, user, task):
        raise Forbidden(f"{actor} may not complete task {task_id} ('{task.title}')")
    cleaned = _validate_task_data(uow, task, data)
    instance = session.get(ProcessInstance, task.instance_id)
    if instance.status != "running":
        raise Conflict(f"the process is {instance.status}; the task cannot be completed now")
    cleaned = _documents_for_form(uow, task, cleaned, actor, password)
    run = _restore(uow, instance)
    now = uow.clock()
    run.complete_user_task(task.task_uuid, cleaned)
    task.state = "completed"
    task.completed_by = actor
    task.completed_at = now
    task.draft = None
    task.result = _json_safe(cleaned)
    audit.append(session, type="task_completed", actor=actor, at=now,
                 partnership_id=task.partnership_id, instance_id=instance.id,
                 task_uuid=task.task_uuid, element_id=task.element_id,
                 payload={"title": task.title, "form_key": task.form_key, "data": cleaned,
                          "before": task.context})
    _advance(uow, instance, run, actor)
    _commit(uow, task_id)
    next_ids = list(session.scalars(select(HumanTask.id).where(
        HumanTask.instance_id == instance.id, HumanTask.state == "open")))
    return Completion(task_id, instance.id, instance.status, next_ids, instance.error_message)


def _documents_for_form(uow, task: HumanTask, cleaned: dict, actor: str,
                        password: str | None) -> dict:
    """The convention is put into form when its task completes; a signature is recorded
    only after the signatory typed their password again."""
    from . import convention

    if task.form_key == "convention":
        if cleaned.get("convention_document"):
            convention.adopt_upload(uow.session, task.partnership_id, cleaned["convention_document"])
        else:
            cleaned = {**cleaned, "convention_document": convention.generate(
                uow, partnership_id=task.partnership_id, data=cleaned, actor=actor)}
    elif task.form_key == "signature":
        convention.sign(uow, task=task, actor=actor, password=password, data=cleaned)
        cleaned = {**cleaned, "document_sha256": (task.context or {}).get("document_sha256")}
    elif task.form_key == "convention_renewal":
        from . import registry

        registry.apply_renewal_decision(uow, task=task, data=cleaned, actor=actor)
    return cleaned


def _validate_task_data(uow, task: HumanTask, data: dict) -> dict:
    if task.form_key:
        return uow.forms.validate(task.form_key, data)
    if task.inline_schema:
        return validate_against(task.inline_schema, data)
    return dict(data or {})


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
    if not can_act_on(session, user, task, ignore_claim=True):
        raise Forbidden(f"{actor} may not claim task {task_id}")
    if task.claimed_by and task.claimed_by != actor:
        raise Conflict(f"this task is already claimed by {task.claimed_by}")
    task.claimed_by = actor
    audit.append(session, type="task_claimed", actor=actor, at=uow.clock(),
                 partnership_id=task.partnership_id, instance_id=task.instance_id,
                 task_uuid=task.task_uuid, element_id=task.element_id, payload={"title": task.title})
    _commit(uow, task_id)


def unclaim_task(uow, *, task_id: int, actor: str) -> None:
    session = uow.session
    user = get_user(session, actor)
    task = _task_for_update(session, task_id)
    _ensure_open(task)
    if task.claimed_by != actor and "direction" not in user.role_keys:
        raise Forbidden(f"only {task.claimed_by or 'nobody'} or the direction may release this task")
    task.claimed_by = None
    audit.append(session, type="task_unclaimed", actor=actor, at=uow.clock(),
                 partnership_id=task.partnership_id, instance_id=task.instance_id,
                 task_uuid=task.task_uuid, element_id=task.element_id, payload={"title": task.title})
    _commit(uow, task_id)


def reassign_task(uow, *, task_id: int, actor: str, to_user: str) -> None:
    """The direction (or an admin) gives a task to someone else of the organisation."""
    session = uow.session
    user = get_user(session, actor)
    target = get_user(session, to_user)
    task = _task_for_update(session, task_id)
    _ensure_open(task)
    if not user.role_keys & {"direction", "admin"}:
        raise Forbidden("only the direction or an administrator may reassign a task")
    if not may_receive(session, target, task):
        raise Forbidden(f"{to_user} cannot receive this task (auditors change nothing; partner "
                        "users only work on their own partnerships)")
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
    if not can_act_on(session, user, task):
        raise Forbidden(f"{actor} may not work on task {task_id}")
    task.draft = _json_safe(data)
    _commit(uow, task_id)


# ---------------------------------------------------------------- instances


def cancel_instance(uow, *, instance_id: int, actor: str, reason: str) -> None:
    session = uow.session
    user = get_user(session, actor)
    if not user.role_keys & {"direction", "admin"}:
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
    audit.append(session, type="instance_cancelled", actor=actor, at=now,
                 partnership_id=instance.partnership_id, instance_id=instance_id,
                 payload={"reason": reason})
    _commit(uow)


def retry_instance(uow, *, instance_id: int, actor: str) -> str:
    """After a fix, run an errored instance again from the task that failed."""
    session = uow.session
    user = get_user(session, actor)
    if not user.role_keys & {"admin", "designer"}:
        raise Forbidden("only an administrator or a process designer may retry a process")
    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFound(f"instance {instance_id} does not exist")
    if instance.status != "error":
        raise Conflict(f"the instance is {instance.status}, not in error")
    run = _restore(uow, instance)
    run.reset_errors()
    instance.status = "running"
    previous = instance.error_message
    instance.error_message = None
    instance.error_element = None
    audit.append(session, type="instance_retried", actor=actor, at=uow.clock(),
                 partnership_id=instance.partnership_id, instance_id=instance_id,
                 payload={"previous_error": previous})
    _advance(uow, instance, run, actor)
    _commit(uow)
    return instance.status


def fire_due_timers(uow, *, limit: int = 50) -> int:
    """Run every running instance whose next timer is due; returns how many were run."""
    session, now = uow.session, uow.clock()
    query = (select(ProcessInstance).where(ProcessInstance.status == "running",
                                           ProcessInstance.next_timer_at.is_not(None),
                                           ProcessInstance.next_timer_at <= now)
             .order_by(ProcessInstance.next_timer_at).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    instances = session.scalars(query).all()
    for instance in instances:
        run = _restore(uow, instance)
        _advance(uow, instance, run, None)
    _commit(uow)
    return len(instances)


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
    _advance(uow, instance, _restore(uow, instance), None)
    _commit(uow)
    return instance_id


def task_for_actor(session: Session, *, task_id: int, actor: str) -> HumanTask:
    """The task if this user may work on it (open and theirs or their role's)."""
    user = get_user(session, actor)
    task = session.get(HumanTask, task_id)
    if task is None:
        raise NotFound(f"task {task_id} does not exist")
    if task.state == "open" and not can_act_on(session, user, task):
        raise Forbidden(f"{actor} may not work on task {task_id}")
    if task.state != "open" and not (user.role_keys & {"direction", "auditor", "admin"}
                                     or task.completed_by == actor):
        raise Forbidden(f"{actor} may not see task {task_id}")
    return task


def instance_element_states(uow, *, instance_id: int) -> dict[str, dict[str, list[str]]]:
    """Per process of the instance: the BPMN ids completed, active and in error."""
    instance = uow.session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFound(f"instance {instance_id} does not exist")
    return _restore(uow, instance).element_states()
