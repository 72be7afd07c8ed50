"""How the engine moves an instance forward: start it, restore it, run its engine steps,
then write together its changed task rows, the inbox projection, the audit events and the
messages it threw. The use cases in services.py call these; nothing here commits."""

from __future__ import annotations

import json
import logging
import re
from copy import deepcopy
from dataclasses import replace

from sqlalchemy import bindparam, select

from partnerflow.engine import access, audit, spiff
from partnerflow.engine.access.groups import assign
from partnerflow.engine.errors import InstanceError, ScriptError
from partnerflow.engine.runtime import connectors, events
from partnerflow.engine.runtime.deployment import version_for_start_message
from partnerflow.engine.runtime.forms import task_form
from partnerflow.engine.store.models import (
    NO_DUE_DATE,
    ExternalTask,
    HumanTask,
    Partnership,
    ProcessInstance,
    ProcessVersion,
    WorkflowTask,
)

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
                               label=_label(version, data), label_en=_label_en(version, data))
    session.add(instance)
    session.flush()
    uow.publish(events.InstanceStarted(instance, version, data, actor, now, parent_id))
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


def _label_en(version: ProcessVersion, data: dict) -> str | None:
    """The label in English, when the version names its process in English."""
    label = ((version.names or {}).get(version.process_key) or {}).get("en")
    if not label:
        return None
    if data.get("period_number"):
        label += f" — period {data['period_number']}"
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
             hops: int = 0, identity: connectors.Identity | None = None
             ) -> list[HumanTask] | None:
    """Run engine steps, then persist state, projection, audit and messages together.

    Service tasks run their connectors inside the steps, in this transaction; `identity` is
    the user who confirmed their password completing a task of this instance just now.
    Returns the instance's open tasks after the step (None when the step failed)."""
    now = uow.clock()
    runner = run.connector_runner = connectors.Runner(uow, instance, actor, identity)
    try:
        run.run_engine_steps()
        failure = None
    except (ScriptError, InstanceError, *spiff.ParserErrors, Exception) as exc:  # noqa: B014
        failure = exc
    uow.publish(*(events.StepTaken(instance, step, actor, now) for step in run.events))
    run.events.clear()
    _persist(uow, instance, run)
    _offer_external(uow, instance, runner.external)
    if failure is not None:
        mark_failed(uow, instance, failure, actor, data=run.failed_task_data())
        return None
    open_tasks = _sync_projection(uow, instance, run)
    _finish_if_completed(uow, instance, run, actor)
    messages, run.messages = run.messages, []
    for message in messages:
        _route_message(uow, instance, message, actor, hops + 1)
    return open_tasks


def _offer_external(uow, instance: ProcessInstance, calls) -> None:
    """Record the service tasks this step left to external workers (engine.runtime.external):
    each waits, started in the workflow, until a worker completes it."""
    now = uow.clock()
    for call in calls:
        uow.session.add(ExternalTask(
            instance_id=instance.id, partnership_id=instance.partnership_id, task_uuid=call.task_uuid,
            element_id=call.element_id, element_name=(call.element_name or call.element_id)[:300],
            process_key=call.process_key, topic=call.topic[:200], variables=json_safe(call.data),
            state="open", created_at=now))
        audit.append(uow.session, type="external_task_offered", actor=None, at=now,
                     partnership_id=instance.partnership_id, instance_id=instance.id,
                     task_uuid=call.task_uuid, element_id=call.element_id, payload={"topic": call.topic})


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


def mark_failed(uow, instance: ProcessInstance, exc: Exception, actor: str | None,
                 during: str = "engine_steps", data: dict | None = None) -> events.IncidentRaised:
    element = failed_element(exc)
    message = describe_failure(exc)
    instance.status = "error"
    instance.error_message = message
    instance.error_element = element
    incident = events.IncidentRaised(instance, element, message, during, data or {}, actor,
                                     uow.clock())
    uow.publish(incident)
    uow.incidents.append(incident)
    return incident


def record_incident(uow, instance_id: int, exc: Exception, actor: str | None, *,
                    during: str, task_id: int | None = None,
                    draft: dict | None = None) -> events.IncidentRaised:
    """After a failure outside the engine steps (running the task, writing the state,
    routing a message) the unit of work was rolled back: put the instance in error in a
    fresh transaction, keep the submitted answers as the task's draft, and commit."""
    from partnerflow.engine.store.models import HumanTask as _Task

    session = uow.session
    instance = session.get(ProcessInstance, instance_id)
    if task_id is not None and draft is not None:
        task = session.get(_Task, task_id)
        if task is not None and task.state == "open":
            task.draft = json_safe(draft)
    incident = mark_failed(uow, instance, exc, actor, during=during, data=draft)
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


def _sync_projection(uow, instance: ProcessInstance, run: spiff.WorkflowRun) -> list[HumanTask]:
    """Open a projection row for each user task that became ready, cancel the rows of those
    that are no longer; returns the instance's open rows."""
    session, now = uow.session, uow.clock()
    open_rows = {row.task_uuid: row for row in session.scalars(select(HumanTask).where(
        HumanTask.instance_id == instance.id, HumanTask.state == "open"))}
    ready = {view.uuid: view for view in run.ready_user_tasks()}
    for uuid, row in open_rows.items():
        if uuid not in ready:
            row.state = "cancelled"
            row.completed_at = now
            uow.publish(events.TaskCancelled(row, instance, now))
    partnership = session.get(Partnership, instance.partnership_id)
    still_open = [row for uuid, row in open_rows.items() if uuid in ready]
    for uuid, view in ready.items():
        if uuid in open_rows:
            continue
        meta = run.compiled.user_task_meta(view.spec_name, view.element_id)
        data = deepcopy(view.data)
        who = assign(meta, data=data, created=now)
        # an assignee who could never open the task (unknown, deactivated, or a partner of
        # another partnership) is not kept: the task goes to its groups and candidates
        refused = None
        if who.assignee:
            reason = access.unassignable(session, who.assignee, instance.partnership_id)
            if reason:
                refused, who = (who.assignee, reason), replace(who, assignee=None)
        form_key, inline_schema = (task_form(meta.form_key, meta.form_fields, meta.form_ref)
                                   if meta else (None, None))
        row = HumanTask(
            instance_id=instance.id, partnership_id=instance.partnership_id, task_uuid=uuid,
            process_key=view.spec_name, element_id=view.element_id,
            title=task_title(meta, data, view.element_id),
            title_en=task_title_en(meta, data),
            stage=(meta.stage if meta else None) or run.compiled.stage, role=who.role,
            candidate_groups=",".join(who.candidate_groups) or None, assignee=who.assignee,
            candidate_users=",".join(who.candidate_users)[:300] or None,
            form_key=form_key, inline_schema=inline_schema,
            confirm_password=bool(meta and meta.confirm_password),
            due_at=who.due_at, sort_due=who.due_at or NO_DUE_DATE, created_at=now, state="open",
            context=json_safe(data))
        session.add(row)
        still_open.append(row)
        if row.stage and partnership.status == "active":
            partnership.stage = row.stage
        uow.publish(events.TaskOpened(row, instance, now, refused, partnership))
    return still_open


_VARIABLE = re.compile(r"\$\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}")


def task_title(meta, data: dict, fallback: str) -> str:
    """The inbox title: the task's title template (a camunda property `title`) or its name,
    with `${variable}` replaced from the task's data."""
    template = (meta.title_template or meta.title) if meta else fallback
    return _VARIABLE.sub(lambda m: str(data.get(m.group(1), m.group(0))), template)[:300]


def task_title_en(meta, data: dict) -> str | None:
    """The inbox title in English: the task's `title_en` property or its `name_en`, with
    `${variable}` replaced; None when the diagram gives no English (the French one is shown)."""
    template = (meta.title_template_en or meta.title_en) if meta else None
    if not template:
        return None
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
    uow.publish(events.InstanceCompleted(instance, actor, now))


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
                uow.publish(events.MessageRouted("message_delivered", sender.partnership_id,
                                                 target.id, {"message": message.name,
                                                             "from_instance": sender.id},
                                                 actor, now))
                advance(uow, target, run, actor, hops)
                return
    version = version_for_start_message(session, message.name)
    if version is None:
        uow.publish(events.MessageRouted("message_unhandled", sender.partnership_id, sender.id,
                                         {"message": message.name}, actor, now))
        return
    partnership = session.get(Partnership, sender.partnership_id)
    compiled = uow.catalog.compiled(session, version.id)
    data = dict(variables)
    uow.publish(events.MessageRouted("message_delivered", sender.partnership_id, sender.id,
                                     {"message": message.name, "starts": version.process_key},
                                     actor, now))
    start(uow, partnership, version, compiled, data, actor, parent_id=sender.id, hops=hops,
           message=message)


# ---------------------------------------------------------------- tasks
