"""How the engine moves an instance forward: start it, restore it, run its engine steps,
then write together its changed task rows, the inbox projection, the audit events and the
messages it threw. The use cases in services.py call these; nothing here commits."""

from __future__ import annotations

import json
import logging
import re
from copy import deepcopy
from dataclasses import dataclass

from sqlalchemy import bindparam, select

from . import audit, connectors, notifications, spiff
from .assignment import assign
from .catalog import version_for_start_message
from .errors import InstanceError, ScriptError
from .forms import task_form
from .models import (
    NO_DUE_DATE,
    HumanTask,
    Partnership,
    ProcessInstance,
    ProcessVersion,
    WorkflowTask,
)
from .models import Incident as IncidentRow

log = logging.getLogger(__name__)

MAX_MESSAGE_HOPS = 20


def start(uow, partnership: Partnership, version: ProcessVersion, compiled, data: dict,
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
        run.connector_runner = connectors.Runner(uow, instance, actor)
        run.run_engine_steps()
        if not run.catch_message(message.name, message.payload if message.result_var else data,
                                 message.result_var):
            raise InstanceError(f"'{version.process_key}' does not start on message '{message.name}'")
    advance(uow, instance, run, actor, hops=hops)
    return instance


def _label(version: ProcessVersion, data: dict) -> str:
    label = version.name or version.process_key
    if data.get("period_number"):
        label += f" — période {data['period_number']}"
    return label[:200]


def _run_options(uow) -> dict:
    return {"clock": uow.clock, "time_limit_s": uow.settings.step_time_limit_s,
            "max_depth": uow.settings.max_task_depth}


def restore(uow, instance: ProcessInstance) -> spiff.WorkflowRun:
    compiled = uow.catalog.compiled(uow.session, instance.version_id)
    rows = uow.session.execute(
        select(WorkflowTask.task_uuid, WorkflowTask.subprocess_uuid, WorkflowTask.body)
        .where(WorkflowTask.instance_id == instance.id)).all()
    return spiff.WorkflowRun.restore(compiled, instance.workflow_state, [tuple(r) for r in rows],
                                     **_run_options(uow))


# ---------------------------------------------------------------- advancing


def advance(uow, instance: ProcessInstance, run: spiff.WorkflowRun, actor: str | None,
             hops: int = 0, identity: connectors.Identity | None = None) -> None:
    """Run engine steps, then persist state, projection, audit and messages together.

    Service tasks run their connectors inside the steps, in this transaction; `identity` is
    the user who confirmed their password completing a task of this instance just now."""
    session, now = uow.session, uow.clock()
    run.connector_runner = connectors.Runner(uow, instance, actor, identity)
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
    run.events.clear()
    _persist(uow, instance, run)
    if failure is not None:
        _mark_failed(uow, instance, failure, actor, data=run.failed_task_data())
        return
    _sync_projection(uow, instance, run)
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


def _mark_failed(uow, instance: ProcessInstance, exc: Exception, actor: str | None,
                 during: str = "engine_steps", data: dict | None = None) -> Incident:
    element = failed_element(exc)
    message = describe_failure(exc)
    instance.status = "error"
    instance.error_message = message
    instance.error_element = element
    now = uow.clock()
    close_incidents(uow, instance.id, actor, "replaced")
    uow.session.add(IncidentRow(instance_id=instance.id, partnership_id=instance.partnership_id,
                                element_id=element, during=during, message=message,
                                data=_bounded(data or {}), actor=actor, created_at=now))
    audit.append(uow.session, type="instance_failed", actor=actor, at=uow.clock(),
                 partnership_id=instance.partnership_id, instance_id=instance.id,
                 element_id=element, payload={"error": message, "during": during})
    log.warning("instance %s stopped at %s: %s", instance.id, element, message)
    told = notifications.incident_recorded(uow, instance, message)
    incident = Incident(instance.id, element, message,
                        tuple(u.full_name or u.username for u in told))
    uow.incidents.append(incident)
    return incident


MAX_INCIDENT_DATA = 20_000


def _bounded(data: dict) -> dict:
    """The data the step had, as JSON, cut to a size a page can show."""
    safe = json_safe(data)
    text = json.dumps(safe, ensure_ascii=False)
    if len(text) <= MAX_INCIDENT_DATA:
        return safe
    return {"_tronqué": text[:MAX_INCIDENT_DATA]}


def close_incidents(uow, instance_id: int, actor: str | None, resolution: str) -> None:
    """Resolve the instance's open incident (retried, resumed, cancelled, or replaced by a new one)."""
    uow.session.execute(IncidentRow.__table__.update().where(
        IncidentRow.instance_id == instance_id, IncidentRow.resolved_at.is_(None)).values(
        resolved_at=uow.clock(), resolved_by=actor, resolution=resolution))


@dataclass(frozen=True)
class Incident:
    """An instance stopped on an error: where, why, and who was told."""

    instance_id: int
    element: str | None
    message: str
    told: tuple[str, ...] = ()


def record_incident(uow, instance_id: int, exc: Exception, actor: str | None, *,
                    during: str, task_id: int | None = None, draft: dict | None = None) -> Incident:
    """After a failure outside the engine steps (running the task, writing the state,
    routing a message) the unit of work was rolled back: put the instance in error in a
    fresh transaction, keep the submitted answers as the task's draft, and commit."""
    from .models import HumanTask as _Task

    session = uow.session
    instance = session.get(ProcessInstance, instance_id)
    if task_id is not None and draft is not None:
        task = session.get(_Task, task_id)
        if task is not None and task.state == "open":
            task.draft = json_safe(draft)
    incident = _mark_failed(uow, instance, exc, actor, during=during, data=draft)
    uow.commit()
    return incident


def failed_element(exc: Exception) -> str | None:
    if getattr(exc, "element_id", None):
        return exc.element_id
    task = getattr(exc, "task", None)
    spec = getattr(task, "task_spec", None)
    if spec is not None:
        return getattr(spec, "bpmn_id", None) or spec.name
    text = str(exc)
    if "'" in text:
        parts = text.split("'")
        return parts[1] if len(parts) > 2 else None
    return None


def _reason(exc: Exception) -> ScriptError | None:
    """The sandbox's own error behind SpiffWorkflow's wrapper (« trop long », a refusal)."""
    seen = exc
    for _ in range(5):
        seen = seen.__cause__ or seen.__context__
        if seen is None:
            return None
        if isinstance(seen, ScriptError):
            return seen
            candidate_users=",".join(who.candidate_users)[:300] or None,
    return None


def describe_failure(exc: Exception) -> str:
    reason = _reason(exc)
    text = (str(reason) if reason is not None else str(exc).strip()) or type(exc).__name__
    if reason is not None and "expression '" in str(exc):
        text += " — " + str(exc).split(".")[0].strip()
    notes = [n for n in (getattr(exc, "__notes__", None) or getattr(exc, "notes", None) or [])
             if str(n).strip() not in text]
    task = getattr(exc, "task", None)
    if task is not None:
        spec = task.task_spec
        text = f"{getattr(spec, 'bpmn_name', None) or spec.name} ({getattr(spec, 'bpmn_id', '')}): {text}"
    elif getattr(exc, "element_name", None) and exc.element_name not in text:
        text = f"{exc.element_name} ({exc.element_id}): {text}"
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
        who = assign(meta, data=data, created=now)
        form_key, inline_schema = (task_form(meta.form_key, meta.form_fields, meta.form_ref)
                                   if meta else (None, None))
        row = HumanTask(
            instance_id=instance.id, partnership_id=instance.partnership_id, task_uuid=uuid,
            process_key=view.spec_name, element_id=view.element_id,
            title=task_title(meta, data, view.element_id),
            stage=(meta.stage if meta else None) or run.compiled.stage, role=who.role,
            candidate_groups=",".join(who.candidate_groups) or None, assignee=who.assignee,
            form_key=form_key, inline_schema=inline_schema,
            confirm_password=bool(meta and meta.confirm_password),
            due_at=who.due_at, sort_due=who.due_at or NO_DUE_DATE, created_at=now, state="open",
            context=json_safe(data))
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


def json_safe(data):
    """A JSON-compatible copy (dates and other values as strings)."""
    return json.loads(json.dumps(data, default=str))


def _finish_if_completed(uow, instance: ProcessInstance, run: spiff.WorkflowRun, actor) -> None:
    if not run.is_completed():
        return
    now = uow.clock()
    instance.status = "completed"
    instance.ended_at = now
    instance.next_timer_at = None
    # what the partnership becomes (archived, ended) is the diagram's to say: a
    # "Mettre à jour le partenariat" service task (connectors, topic partnership.update)
    audit.append(uow.session, type="instance_completed", actor=actor, at=now,
                 partnership_id=instance.partnership_id, instance_id=instance.id,
                 payload={"process_key": instance.process_key})


def _route_message(uow, sender: ProcessInstance, message: spiff.ThrownMessage, actor, hops) -> None:
    """Deliver a message to a waiting instance of the partnership, or start the process
    whose message start event catches it."""
    session, now = uow.session, uow.clock()
    if hops > MAX_MESSAGE_HOPS:
        raise InstanceError(f"message '{message.name}' bounced more than {MAX_MESSAGE_HOPS} times")
    # the thrower's camunda:resultVariable names the one variable the receiver gets; without
    # it, a payload's keys become the receiver's variables
    if message.result_var:
        payload, variables = message.payload, {message.result_var: message.payload}
    else:
        payload = message.payload if isinstance(message.payload, dict) else {"payload": message.payload}
        variables = payload
    candidates = session.scalars(select(ProcessInstance).where(
        ProcessInstance.partnership_id == sender.partnership_id,
        ProcessInstance.status == "running", ProcessInstance.id != sender.id)
        .order_by(ProcessInstance.id)).all()
    for target in candidates:
        if message.name in (target.waiting_messages or []):
            run = restore(uow, target)
            if run.catch_message(message.name, payload, message.result_var):
                audit.append(session, type="message_delivered", actor=actor, at=now,
                             partnership_id=sender.partnership_id, instance_id=target.id,
                             payload={"message": message.name, "from_instance": sender.id})
                advance(uow, target, run, actor, hops)
                return
    version = version_for_start_message(session, message.name)
    if version is None:
        audit.append(session, type="message_unhandled", actor=actor, at=now,
                     partnership_id=sender.partnership_id, instance_id=sender.id,
                     payload={"message": message.name})
        return
    partnership = session.get(Partnership, sender.partnership_id)
    compiled = uow.catalog.compiled(session, version.id)
    data = dict(variables)
    audit.append(session, type="message_delivered", actor=actor, at=now,
                 partnership_id=sender.partnership_id, instance_id=sender.id,
                 payload={"message": message.name, "starts": version.process_key})
    start(uow, partnership, version, compiled, data, actor, parent_id=sender.id, hops=hops,
           message=message)


# ---------------------------------------------------------------- tasks
