"""The read side: plain rows for the inbox, partnerships and versions. Never restores a workflow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select, union_all
from sqlalchemy.orm import Session

from . import access
from .models import (
    AuditEvent,
    Document,
    FormVersion,
    HumanTask,
    Organisation,
    Partnership,
    PartnershipMember,
    PartnershipOrganisation,
    ProcessInstance,
    ProcessVersion,
    User,
    UserRole,
)


@dataclass(frozen=True)
class InboxFilter:
    partnership_id: int | None = None
    stage: str | None = None
    role: str | None = None
    overdue_only: bool = False
    sort: str = "due"  # due | created | partnership
    limit: int = 50
    offset: int = 0


SORTS = {"due": (HumanTask.sort_due, HumanTask.id),
         "created": (HumanTask.created_at, HumanTask.id),
         "partnership": (Partnership.title, HumanTask.id)}


def _branches(viewer: access.Actor, filters: InboxFilter | None, now: datetime | None):
    """One condition per index range: my assigned tasks, then each of my roles' offers
    (access.assigned_clause and access.offered_clause: the same rule as access.may_act).

    The ranges are disjoint (an offered task has no assignee; a task has one role), so
    counts add up and pages merge without duplicates."""
    extra = []
    if filters is not None:
        if filters.partnership_id:
            extra.append(HumanTask.partnership_id == filters.partnership_id)
        if filters.stage:
            extra.append(HumanTask.stage == filters.stage)
        if filters.role:
            extra.append(HumanTask.role == filters.role)
        if filters.overdue_only and now is not None:
            extra.append(HumanTask.sort_due < now)
    yield and_(access.assigned_clause(viewer), *extra)
    for role in sorted(viewer.roles):
        if filters is not None and filters.role and filters.role != role:
            continue
        yield and_(access.offered_clause(viewer, role), *extra)


def inbox(session: Session, username: str, now: datetime, filters: InboxFilter = InboxFilter()):
    """A page of the user's open tasks with their partnership, soonest due first."""
    viewer = access.actor(session, username)
    window = filters.offset + filters.limit
    if filters.sort == "due":
        # each branch reads its index range in order and stops after one page's worth
        parts = [select(HumanTask.id, HumanTask.sort_due).where(cond)
                 .order_by(HumanTask.sort_due, HumanTask.id).limit(window).subquery()
                 for cond in _branches(viewer, filters, now)]
        merged = union_all(*[select(p.c.id, p.c.sort_due) for p in parts]).subquery()
        page = session.execute(select(merged.c.id).order_by(merged.c.sort_due, merged.c.id)
                               .limit(filters.limit).offset(filters.offset)).scalars().all()
        order = {task_id: i for i, task_id in enumerate(page)}
        rows = session.execute(_row_query().where(HumanTask.id.in_(page))).all() if page else []
        return sorted(rows, key=lambda r: order[r.id])
    query = _row_query().where(or_(*_branches(viewer, filters, now)))
    return session.execute(query.order_by(*SORTS[filters.sort]).limit(filters.limit)
                           .offset(filters.offset)).all()


def _row_query():
    return (select(HumanTask.id, HumanTask.title, HumanTask.element_id, HumanTask.stage, HumanTask.role,
                   HumanTask.assignee, HumanTask.claimed_by, HumanTask.form_key,
                   HumanTask.due_at, HumanTask.created_at, HumanTask.partnership_id,
                   HumanTask.instance_id, Partnership.title.label("partnership_title"))
            .join(Partnership, Partnership.id == HumanTask.partnership_id))


def inbox_partnerships(session: Session, username: str, limit: int = 200) -> list[tuple[int, str]]:
    """The partnerships the user's open tasks belong to (for the inbox's filter)."""
    viewer = access.actor(session, username)
    ids = union_all(*[select(HumanTask.partnership_id).where(cond)
                      for cond in _branches(viewer, None, None)]).subquery()
    return [tuple(r) for r in session.execute(
        select(Partnership.id, Partnership.title).where(Partnership.id.in_(select(ids.c[0])))
        .order_by(Partnership.title).limit(limit)).all()]


def inbox_count(session: Session, username: str, filters: InboxFilter | None = None,
                now: datetime | None = None) -> int:
    """How many open tasks the user can take (the header badge)."""
    viewer = access.actor(session, username)
    return sum(session.scalar(select(func.count()).select_from(HumanTask).where(cond)) or 0
               for cond in _branches(viewer, filters, now))


def tasks_of_partnership(session: Session, partnership_id: int, state: str | None = "open"):
    query = select(HumanTask).where(HumanTask.partnership_id == partnership_id)
    if state:
        query = query.where(HumanTask.state == state)
    return session.scalars(query.order_by(HumanTask.id)).all()


def partnerships(session: Session):
    return session.scalars(select(Partnership).order_by(Partnership.id)).all()


def instances_of(session: Session, partnership_id: int):
    return session.scalars(select(ProcessInstance).where(
        ProcessInstance.partnership_id == partnership_id).order_by(ProcessInstance.id)).all()


def versions(session: Session, process_key: str | None = None):
    """Every deployed version with the number of instances still running on it."""
    running = (select(ProcessInstance.version_id, func.count().label("running"))
               .where(ProcessInstance.status.in_(("running", "error")))
               .group_by(ProcessInstance.version_id).subquery())
    query = (select(ProcessVersion, func.coalesce(running.c.running, 0))
             .outerjoin(running, running.c.version_id == ProcessVersion.id))
    if process_key:
        query = query.where(ProcessVersion.process_key == process_key)
    return session.execute(query.order_by(ProcessVersion.process_key, ProcessVersion.version)).all()


def user_by_id(session: Session, user_id: int) -> tuple[User, list[int]] | None:
    """A user and the partnerships they are attached to."""
    user = session.get(User, user_id)
    if user is None:
        return None
    memberships = list(session.scalars(select(PartnershipMember.partnership_id).where(
        PartnershipMember.user_id == user_id)))
    return user, memberships


def users(session: Session):
    return session.scalars(select(User).order_by(User.username)).all()


def active_usernames(session: Session, role: str | None = None) -> list[tuple[str, str]]:
    query = select(User.username, User.full_name).where(User.active.is_(True))
    if role:
        query = query.join(UserRole, UserRole.user_id == User.id).where(UserRole.role == role)
    return [tuple(r) for r in session.execute(query.order_by(User.full_name)).all()]


def reassignable_users(session: Session) -> list[tuple[str, str]]:
    """Staff who can receive a task: active, with a role other than auditor or partner."""
    staff = select(UserRole.user_id).where(UserRole.role.not_in(("auditor", "partner")))
    return [tuple(r) for r in session.execute(
        select(User.username, User.full_name).where(User.active.is_(True), User.id.in_(staff))
        .order_by(User.full_name)).all()]


def organisations(session: Session):
    return session.scalars(select(Organisation).where(Organisation.archived.is_(False))
                           .order_by(Organisation.name)).all()


def demo_loaded(session: Session) -> bool:
    return session.scalar(select(AuditEvent.id).where(AuditEvent.type == "demo_loaded").limit(1)) is not None


def partnerships_for(session: Session, partnership_ids: list[int] | None = None):
    """Partnerships with their open-task counts; restricted to `partnership_ids` when given."""
    open_tasks = (select(HumanTask.partnership_id, func.count().label("open_tasks"))
                  .where(HumanTask.state == "open").group_by(HumanTask.partnership_id).subquery())
    query = (select(Partnership, func.coalesce(open_tasks.c.open_tasks, 0))
             .outerjoin(open_tasks, open_tasks.c.partnership_id == Partnership.id))
    if partnership_ids is not None:
        query = query.where(Partnership.id.in_(partnership_ids))
    return session.execute(query.order_by(Partnership.id.desc())).all()


def partnership_people(session: Session, partnership_id: int):
    rows = session.execute(select(User.username, User.full_name, PartnershipMember.role)
                           .join(PartnershipMember, PartnershipMember.user_id == User.id)
                           .where(PartnershipMember.partnership_id == partnership_id)).all()
    actors = session.execute(select(HumanTask.completed_by, func.count()).where(
        HumanTask.partnership_id == partnership_id, HumanTask.completed_by.is_not(None))
        .group_by(HumanTask.completed_by)).all()
    return rows, actors


def partnership_organisations(session: Session, partnership_id: int):
    return session.scalars(select(Organisation).join(
        PartnershipOrganisation, PartnershipOrganisation.organisation_id == Organisation.id)
        .where(PartnershipOrganisation.partnership_id == partnership_id)).all()


def documents_of(session: Session, partnership_id: int):
    return session.execute(select(Document.id, Document.filename, Document.sha256, Document.size,
                                  Document.content_type, Document.uploaded_by, Document.created_at)
                           .where(Document.partnership_id == partnership_id)
                           .order_by(Document.id)).all()


def saved_forms(session: Session) -> dict[str, dict]:
    """The newest saved schema of every form edited in the browser."""
    newest = (select(FormVersion.form_key, func.max(FormVersion.version).label("v"))
              .group_by(FormVersion.form_key).subquery())
    rows = session.execute(select(FormVersion.form_key, FormVersion.schema).join(
        newest, (FormVersion.form_key == newest.c.form_key) & (FormVersion.version == newest.c.v)))
    return {key: schema for key, schema in rows}
