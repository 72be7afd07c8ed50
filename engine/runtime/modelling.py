"""What process designers do: drafts, deployments from the modeller, forms, migrations."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import func, select

from partnerflow.engine import access, audit
from partnerflow.engine.errors import (
    Conflict,
    Forbidden,
    FormValidationError,
    InvalidInput,
    NotFound,
)
from partnerflow.engine.runtime import deployment, search
from partnerflow.engine.runtime.diagrams import UnsafeXml, document_kind, parse_xml
from partnerflow.engine.runtime.forms import FORM_KEY, check_schema, task_form
from partnerflow.engine.runtime.services import _commit, get_user
from partnerflow.engine.runtime.stepping import advance, restore, task_title, task_title_en
from partnerflow.engine.store.models import (
    FormVersion,
    HumanTask,
    ProcessDraft,
    ProcessInstance,
    ProcessVersion,
)


def _designer(session, actor: str):
    user = get_user(session, actor)
    if not access.may(access.actor_of(session, user), "design"):
        raise Forbidden("only process designers and administrators may change the models")
    return user


def save_draft(uow, *, process_key: str, filename: str, xml: bytes, actor: str) -> None:
    """Keep a diagram being edited; it is checked for safety, not for validity."""
    session = uow.session
    _designer(session, actor)
    try:
        root = parse_xml(xml, filename, max_bytes=uow.settings.max_upload_bytes)
    except UnsafeXml as exc:
        raise InvalidInput(str(exc), {"xml": [str(exc.problem)]}) from None
    kind = document_kind(root)
    if kind is None:
        raise InvalidInput("not a BPMN or DMN document")
    draft = session.get(ProcessDraft, process_key)
    if draft is None:
        draft = ProcessDraft(process_key=process_key, kind=kind, filename=filename, source="",
                             saved_at=uow.clock())
        session.add(draft)
    draft.source = xml.decode("utf-8")
    draft.kind = kind
    draft.filename = filename
    draft.saved_by = actor
    draft.saved_at = uow.clock()
    uow.commit()


def deploy_files(uow, *, files: list[tuple[str, bytes]], actor: str,
                 lane_mapping: dict[str, str] | None = None) -> deployment.DeployResult:
    """Full validation, then new versions; drafts of what was deployed are dropped.
    `lane_mapping`: lane name -> group key, for lanes named after no group."""
    session = uow.session
    _designer(session, actor)
    result = deployment.deploy(session, files, actor=actor, at=uow.clock(), forms=uow.forms,
                               max_bytes=uow.settings.max_upload_bytes, lane_mapping=lane_mapping)
    for item in result.items:
        draft = session.get(ProcessDraft, item.process_key)
        if draft is not None:
            session.delete(draft)
    uow.commit()
    return result


def save_form(uow, *, form_key: str, schema: dict, actor: str) -> int:
    """Save a form definition edited in the browser as its newest version."""
    session = uow.session
    _designer(session, actor)
    if not FORM_KEY.match(form_key or ""):
        raise InvalidInput("a form key is lower-case letters, digits and _",
                           {"form_key": ["Clé de formulaire invalide (minuscules, chiffres, _)."]})
    try:
        check_schema(schema, f"{form_key}.json")
    except FormValidationError as exc:
        raise InvalidInput(str(exc), {"schema": [str(exc)]}) from None
    digest = hashlib.sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()
    latest = session.scalar(select(FormVersion).where(FormVersion.form_key == form_key)
                            .order_by(FormVersion.version.desc()).limit(1))
    if latest is not None and latest.content_hash == digest:
        return latest.version
    number = (latest.version if latest else 0) + 1
    session.add(FormVersion(form_key=form_key, version=number, schema=schema, content_hash=digest,
                            saved_by=actor, saved_at=uow.clock()))
    audit.append(session, type="form_saved", actor=actor, at=uow.clock(),
                 payload={"form_key": form_key, "version": number, "content_hash": digest})
    uow.commit()
    return number


def migrate_instance(uow, *, instance_id: int, actor: str, version_id: int | None = None) -> int:
    """Move a running instance to a newer version of its process when SpiffWorkflow's diff
    says every task still has its element; refused with the reasons otherwise."""
    session = uow.session
    _designer(session, actor)
    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFound(f"instance {instance_id} does not exist")
    if instance.status not in ("running", "error"):
        raise Conflict(f"the instance is {instance.status}; only running instances migrate")
    current = session.get(ProcessVersion, instance.version_id)
    if version_id is None:
        target = session.scalar(select(ProcessVersion).where(
            ProcessVersion.process_key == instance.process_key)
            .order_by(ProcessVersion.version.desc()).limit(1))
    else:
        target = session.get(ProcessVersion, version_id)
    if target is None or target.process_key != instance.process_key:
        raise NotFound("no such version of this process")
    if target.version <= current.version:
        raise Conflict(f"the instance already runs version {current.version}")
    run = restore(uow, instance)
    reasons = run.migrate_to(uow.catalog.compiled(session, target.id))
    if reasons:
        audit.append(session, type="migration_refused", actor=actor, at=uow.clock(),
                     partnership_id=instance.partnership_id, instance_id=instance.id,
                     payload={"from": current.version, "to": target.version, "reasons": reasons})
        uow.commit()
        raise Conflict("migration refused: " + "; ".join(reasons))
    instance.version_id = target.id
    audit.append(session, type="instance_migrated", actor=actor, at=uow.clock(),
                 partnership_id=instance.partnership_id, instance_id=instance.id,
                 payload={"from": current.version, "to": target.version})
    run.force_full_write()
    advance(uow, instance, run, actor)
    _refresh_open_tasks(session, instance, run.compiled)
    session.flush()
    search.reindex_instance(session, uow.forms, instance.id)  # the titles may have changed
    _commit(uow)
    return target.version


def _refresh_open_tasks(session, instance: ProcessInstance, compiled) -> None:
    """Open inbox rows take the names, forms and roles of the version migrated to."""
    rows = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                   HumanTask.state == "open"))
    for row in rows:
        meta = compiled.user_task_meta(row.process_key, row.element_id)
        if meta is None:
            continue
        row.title = task_title(meta, row.context or {}, row.element_id)
        row.title_en = task_title_en(meta, row.context or {})
        row.form_key, row.inline_schema = task_form(meta.form_key, meta.form_fields, meta.form_ref)
        if meta.groups:
            row.candidate_groups = ",".join(meta.groups)
            row.role = meta.lane_group or meta.groups[0]


def running_counts(session) -> dict[int, int]:
    return dict(session.execute(select(ProcessInstance.version_id, func.count())
                                .where(ProcessInstance.status.in_(("running", "error")))
                                .group_by(ProcessInstance.version_id)).all())


