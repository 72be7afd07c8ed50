"""The read side: plain rows for the inbox, partnerships and versions. Never restores a workflow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from .models import (
    HumanTask,
    Partnership,
    PartnershipMember,
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
    limit: int = 50
    offset: int = 0


def _visible_tasks(session: Session, username: str):
    """Open tasks this user may take: assigned to them, or offered to one of their roles."""
    user_id = select(User.id).where(User.username == username).scalar_subquery()
    my_roles = select(UserRole.role).where(UserRole.user_id == user_id)
    my_partnerships = select(PartnershipMember.partnership_id).where(PartnershipMember.user_id == user_id)
    is_partner_only = ~select(UserRole.role).where(
        UserRole.user_id == user_id, UserRole.role != "partner").exists()
    offered = and_(
        HumanTask.assignee.is_(None),
        or_(HumanTask.claimed_by.is_(None), HumanTask.claimed_by == username),
        HumanTask.role.in_(my_roles),
        or_(HumanTask.role != "partner", HumanTask.partnership_id.in_(my_partnerships)),
        or_(~is_partner_only, HumanTask.partnership_id.in_(my_partnerships)),
    )
    return and_(HumanTask.state == "open", or_(HumanTask.assignee == username, offered))


def inbox(session: Session, username: str, now: datetime, filters: InboxFilter = InboxFilter()):
    """A page of the user's open tasks with their partnership, newest due first."""
    query = (select(HumanTask.id, HumanTask.title, HumanTask.stage, HumanTask.role,
                    HumanTask.assignee, HumanTask.claimed_by, HumanTask.form_key,
                    HumanTask.due_at, HumanTask.created_at, HumanTask.partnership_id,
                    HumanTask.instance_id, Partnership.title.label("partnership_title"))
             .join(Partnership, Partnership.id == HumanTask.partnership_id)
             .where(_visible_tasks(session, username)))
    if filters.partnership_id:
        query = query.where(HumanTask.partnership_id == filters.partnership_id)
    if filters.stage:
        query = query.where(HumanTask.stage == filters.stage)
    if filters.role:
        query = query.where(HumanTask.role == filters.role)
    if filters.overdue_only:
        query = query.where(HumanTask.due_at < now)
    query = query.order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.id)
    return session.execute(query.limit(filters.limit).offset(filters.offset)).all()


def inbox_count(session: Session, username: str) -> int:
    return session.scalar(select(func.count()).select_from(HumanTask)
                          .where(_visible_tasks(session, username))) or 0


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
