"""Who may act on what and read what: the one definition the services, the inbox query and
the web pages ask.

The roles of the method are groups. A task is offered to its candidate groups (or to the
role of its lane); a user matches a task through each of their roles among those groups.

The partnership boundary: a user who matches a task only as `partner` must be attached to
the task's partnership, whatever other roles they also hold — those other roles do not
offer them this task. A role that itself grants an action keeps granting it: an auditor
reads every audit log, the direction acts on the direction's tasks, every staff role reads
every partnership page.

Each rule is a predicate on an `Actor` (the web layer's signed-in user has the same three
attributes and is passed as is); the inbox gets the same rule as SQL clauses."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import ColumnElement, and_, false, func, literal, or_, select, true
from sqlalchemy.orm import Session

from .models import HumanTask, PartnershipMember, User, UserRole

PARTNER = "partner"
AUDITOR = "auditor"
# roles that read every partnership's audit log, exports and instance diagrams
AUDIT_READERS = frozenset({"auditor", "direction", "admin"})
# roles that read a task once it is closed (its form stays closed)
CLOSED_TASK_READERS = frozenset({"direction", "auditor", "admin"})
# roles that read the source of a deployed version
VERSION_READERS = AUDIT_READERS | {"designer"}
# roles that neither work for the organisation nor receive its tasks
NOT_STAFF = frozenset({PARTNER, AUDITOR})


class Subject(Protocol):
    """Anything with a name, roles and the partnerships it is attached to."""

    username: str
    roles: frozenset[str]
    partnership_ids: frozenset[int]


@dataclass(frozen=True)
class Actor:
    username: str
    roles: frozenset[str]
    partnership_ids: frozenset[int]


NOBODY = Actor("", frozenset(), frozenset())


# ---------------------------------------------------------------- loading


def actor_of(session: Session, user: User) -> Actor:
    """The actor for a loaded user row (its memberships read now)."""
    if not user.active:
        return Actor(user.username, frozenset(), frozenset())
    memberships = session.scalars(select(PartnershipMember.partnership_id).where(
        PartnershipMember.user_id == user.id))
    return Actor(user.username, frozenset(user.role_keys), frozenset(memberships))


def actor(session: Session, username: str) -> Actor:
    """The actor for a user name, read once per session (a page asks several times);
    an unknown or inactive user has no role and no partnership."""
    key = ("access_actor", username)
    cached = session.info.get(key)
    if cached is not None:
        return cached
    user_id = session.scalar(select(User.id).where(User.username == username, User.active.is_(True)))
    if user_id is None:
        found = Actor(username, frozenset(), frozenset())
    else:
        roles = session.scalars(select(UserRole.role).where(UserRole.user_id == user_id))
        memberships = session.scalars(select(PartnershipMember.partnership_id).where(
            PartnershipMember.user_id == user_id))
        found = Actor(username, frozenset(roles), frozenset(memberships))
    session.info[key] = found
    return found


# ---------------------------------------------------------------- who the person is


def is_staff(who: Subject) -> bool:
    """Works for the organisation: a role other than partner or auditor."""
    return bool(who.roles - NOT_STAFF)


def is_partner_representative(who: Subject) -> bool:
    """Holds no staff role but `partner`: reaches only their own partnerships."""
    return PARTNER in who.roles and not is_staff(who)


def _reaches(who: Subject, partnership_id: int | None) -> bool:
    return not is_partner_representative(who) or partnership_id in who.partnership_ids


# ---------------------------------------------------------------- tasks


def task_groups(task) -> frozenset[str]:
    """The groups a task is offered to: its candidate groups, else its lane's role."""
    groups = frozenset(g.strip() for g in (task.candidate_groups or "").split(",") if g.strip())
    return groups or (frozenset({task.role}) if task.role else frozenset())


def offering_roles(who: Subject, task) -> frozenset[str]:
    """The user's roles through which the task is offered to them; `partner` counts only
    on a partnership they are attached to."""
    matched = task_groups(task) & who.roles
    if task.partnership_id not in who.partnership_ids:
        matched -= {PARTNER}
    return matched


def may_act(who: Subject, task, *, ignore_claim: bool = False) -> bool:
    """May this user complete, draft or claim this task? `ignore_claim` asks whether the
    task is theirs to take at all, whoever holds it right now."""
    if task.assignee:
        return task.assignee == who.username and _reaches(who, task.partnership_id)
    if not ignore_claim and task.claimed_by and task.claimed_by != who.username:
        return False
    return bool(offering_roles(who, task))


def may_receive(who: Subject, task) -> bool:
    """Can the task be reassigned to this user? Auditors change nothing; a partner
    representative only ever gets tasks of their own partnerships."""
    if not who.roles - {AUDITOR}:
        return False
    return _reaches(who, task.partnership_id)


def may_read_closed_task(who: Subject, task) -> bool:
    return bool(who.roles & CLOSED_TASK_READERS) or (
        task.completed_by is not None and task.completed_by == who.username)


def may_read_open_task(who: Subject, task) -> bool:
    """Read an open task without its form: auditors read every task."""
    return AUDITOR in who.roles


# ---------------------------------------------------------------- partnerships and audit


def may_read_partnership(who: Subject, partnership_id: int) -> bool:
    """Every role but partner reads every partnership page; partner only their own."""
    return bool(who.roles - {PARTNER}) or partnership_id in who.partnership_ids


def readable_partnerships(who: Subject) -> list[int] | None:
    """The partnerships a list may show to this user; None for all of them."""
    return None if who.roles - {PARTNER} else sorted(who.partnership_ids)


def may_read_audit(who: Subject, partnership_id: int) -> bool:
    """The audit log, its exports, the instance diagrams and the task histories."""
    return bool(who.roles & AUDIT_READERS) or (
        PARTNER in who.roles and partnership_id in who.partnership_ids)


def may_read_version(who: Subject, instance_partnerships: Iterable[int]) -> bool:
    """The source of a deployed version: its readers, or a partner of a partnership
    that has an instance on it."""
    return bool(who.roles & VERSION_READERS) or (
        PARTNER in who.roles and bool(set(instance_partnerships) & who.partnership_ids))


# ---------------------------------------------------------------- the same rules as SQL


def _listed(group: str) -> ColumnElement[bool]:
    groups = func.coalesce(HumanTask.candidate_groups, HumanTask.role, "")
    return (literal(",") + groups + literal(",")).like(f"%,{group},%")


def assigned_clause(who: Subject) -> ColumnElement[bool]:
    """The open tasks assigned to this user by name that they may act on."""
    scope = (HumanTask.partnership_id.in_(sorted(who.partnership_ids))
             if is_partner_representative(who) else true())
    return and_(HumanTask.assignee == who.username, HumanTask.state == "open", scope)


def offered_clause(who: Subject, role: str) -> ColumnElement[bool]:
    """The open tasks of one role (an index range) offered to this user: a `partner` task
    of a partnership they are not attached to only when another of their roles is among
    its candidate groups."""
    if role not in who.roles:
        return false()
    scope = true()
    if role == PARTNER:
        scope = or_(HumanTask.partnership_id.in_(sorted(who.partnership_ids)),
                    *[_listed(other) for other in sorted(who.roles - {PARTNER})])
    return and_(HumanTask.state == "open", HumanTask.role == role, HumanTask.assignee.is_(None),
                or_(HumanTask.claimed_by.is_(None), HumanTask.claimed_by == who.username), scope)
