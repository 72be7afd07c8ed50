"""Who is offered what, who may act on it and who may read what: the one access policy.

Every action has one definition here. `may(who, action, obj)` answers for one person and one
object; the inbox, the notifications, the reassignment list, the partnership lists and the
audit pages get the same rule as SQL (`inbox_ranges`, `where`, `candidates`).

People act through their groups (rows of app_group: the method's nine roles, seeded, and
the organisation's own). A task is offered to its candidate groups (a lane resolves to one
group) and its candidate users; a task assigned by name is that person's only.

The partnership boundary: a user who matches a task only as `partner` must be attached to
the task's partnership, whatever other groups they hold — those other groups do not offer
them this task. A group that itself grants an action keeps granting it: an auditor reads
every audit log, the direction acts on the direction's tasks, every staff member reads every
partnership page. Groups other than `partner`, `auditor` and `designer` are staff. A process designer
works on the diagrams, not on the partnerships: the `designer` group alone reads no
partnership page, document or task; it reads the versions and the incidents it can fix.

Actions on an object: offered, act, read_task, read_partnership, read_audit, export,
reassign_to, attach_contact. Actions granted by a group alone (GRANTS): administer, design,
reassign, cancel, release, retry, resume, read_dashboard, read_incidents, read_versions,
read_map, edit_map, propose."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import ColumnElement, Select, and_, exists, false, or_, select, true, union
from sqlalchemy.orm import Session, aliased

from partnerflow.engine.store.models import (
    GroupMember,
    HumanTask,
    Partnership,
    PartnershipMember,
    TaskOffer,
    User,
)

PARTNER = "partner"
AUDITOR = "auditor"
DESIGNER = "designer"
DIRECTION = "direction"
DELEGATE = "delegate"
# groups that neither work on the organisation's partnerships nor receive its tasks
NOT_STAFF = frozenset({PARTNER, AUDITOR, DESIGNER})
# groups that do not by themselves read every partnership page
NOT_READERS = frozenset({PARTNER, DESIGNER})

# actions a group grants by itself, whatever the object
GRANTS: dict[str, frozenset[str]] = {
    "administer": frozenset({"admin"}),
    "design": frozenset({"designer", "admin"}),
    "reassign": frozenset({"direction", "admin"}),
    "cancel": frozenset({"direction", "admin"}),
    "release": frozenset({"direction"}),  # release a task someone else claimed
    "retry": frozenset({"designer", "admin"}),
    "resume": frozenset({"designer", "admin"}),
    "read_dashboard": frozenset({"direction", "auditor", "admin"}),
    "read_incidents": frozenset({"direction", "designer", "admin"}),
    # every partnership's audit log, exports, instance diagrams and task histories
    "read_all_audits": frozenset({"auditor", "direction", "admin"}),
    # a task once it is closed (its form stays closed)
    "read_closed_tasks": frozenset({"direction", "auditor", "admin"}),
    # every open task, read only (the direction and the administrators reassign or release
    # from there, a task held by someone absent or deactivated)
    "read_open_tasks": frozenset({"auditor", "direction", "admin"}),
    "read_versions": frozenset({"auditor", "direction", "admin", "designer"}),
    "edit_map": frozenset({"direction", "admin"}),
    # attach a partner contact to any partnership (the partnership's delegate may too)
    "attach_contacts": frozenset({"direction", "admin"}),
}
STAFF_ACTIONS = ("read_map", "propose")


class Subject(Protocol):
    """Anything with a name, groups and the partnerships it is attached to."""

    username: str
    roles: frozenset[str]
    partnership_ids: frozenset[int]


@dataclass(frozen=True)
class Actor:
    username: str
    roles: frozenset[str]  # the keys of the user's groups
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
    an unknown or inactive user has no group and no partnership."""
    key = ("access_actor", username)
    cached = session.info.get(key)
    if cached is not None:
        return cached
    user_id = session.scalar(select(User.id).where(User.username == username, User.active.is_(True)))
    if user_id is None:
        found = Actor(username, frozenset(), frozenset())
    else:
        groups = session.scalars(select(GroupMember.group_key).where(GroupMember.user_id == user_id))
        memberships = session.scalars(select(PartnershipMember.partnership_id).where(
            PartnershipMember.user_id == user_id))
        found = Actor(username, frozenset(groups), frozenset(memberships))
    session.info[key] = found
    return found


def unassignable(session: Session, username: str, partnership_id: int | None) -> str | None:
    """Why this user cannot be given a task of this partnership (in French), or None."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        return "compte inconnu"
    if not user.active:
        return "compte désactivé"
    if not _reaches(actor_of(session, user), partnership_id):
        return "compte partenaire non rattaché au partenariat"
    return None


# ---------------------------------------------------------------- who the person is


def is_staff(who: Subject) -> bool:
    """Works on the organisation's partnerships: a group other than partner, auditor or
    designer."""
    return bool(who.roles - NOT_STAFF)


def is_partner_representative(who: Subject) -> bool:
    """Holds no staff group but `partner`: reaches only their own partnerships."""
    return PARTNER in who.roles and not is_staff(who)


def _reaches(who: Subject, partnership_id: int | None) -> bool:
    return not is_partner_representative(who) or partnership_id in who.partnership_ids


def _granted(who: Subject, action: str) -> bool:
    return bool(who.roles & GRANTS[action])


# ---------------------------------------------------------------- tasks


def _split(text: str | None) -> frozenset[str]:
    return frozenset(part.strip() for part in (text or "").split(",") if part.strip())


def task_groups(task) -> frozenset[str]:
    """The groups a task is offered to: its candidate groups, else its lane's group."""
    return _split(task.candidate_groups) or (frozenset({task.role}) if task.role else frozenset())


def task_users(task) -> frozenset[str]:
    """The users a task is offered to by name (camunda:candidateUsers)."""
    return _split(getattr(task, "candidate_users", None))


def offering_roles(who: Subject, task) -> frozenset[str]:
    """The user's groups through which the task is offered to them; `partner` counts only
    on a partnership they are attached to."""
    matched = task_groups(task) & who.roles
    if task.partnership_id not in who.partnership_ids:
        matched -= {PARTNER}
    return matched


def _through_offer(who: Subject, task) -> bool:
    """Offered to this user by group or by name, whoever holds it right now."""
    return bool(offering_roles(who, task)) or (
        who.username in task_users(task) and _reaches(who, task.partnership_id))


def may_act(who: Subject, task, *, ignore_claim: bool = False) -> bool:
    """May this user complete, draft or claim this task? `ignore_claim` asks whether the
    task is theirs to take at all, whoever holds it right now."""
    if not who.username:
        return False
    if task.assignee:
        return task.assignee == who.username and _reaches(who, task.partnership_id)
    if not ignore_claim and task.claimed_by and task.claimed_by != who.username:
        return False
    return _through_offer(who, task)


def is_offered(who: Subject, task) -> bool:
    """Is the open task in this user's inbox as an offer (not assigned, not claimed by
    someone else)?"""
    return (task.state == "open" and not task.assignee
            and task.claimed_by in (None, who.username) and _through_offer(who, task))


def may_receive(who: Subject, task) -> bool:
    """Can the task be reassigned to this user? Only to someone it is offered to (by group
    or by name) or already assigned to: reassigning never widens who acts on a task."""
    if task.assignee and task.assignee == who.username:
        return _reaches(who, task.partnership_id)
    return _through_offer(who, task)


def may_read_task(who: Subject, task) -> bool:
    """An open task: whoever may act on it, and the auditors (read only). A closed one: its
    readers and whoever completed it."""
    if task.state == "open":
        return may_act(who, task) or _granted(who, "read_open_tasks")
    return _granted(who, "read_closed_tasks") or (
        task.completed_by is not None and task.completed_by == who.username)


def may_read_closed_task(who: Subject, task) -> bool:
    return _granted(who, "read_closed_tasks") or (
        task.completed_by is not None and task.completed_by == who.username)


def may_read_open_task(who: Subject, task) -> bool:
    """Read an open task without its form: auditors read every task."""
    return _granted(who, "read_open_tasks")


# ---------------------------------------------------------------- partnerships and audit


def may_read_partnership(who: Subject, partnership_id: int) -> bool:
    """Every group but partner and designer reads every partnership page; a partner
    representative their own (a designer alone, those they are attached to)."""
    return bool(who.roles - NOT_READERS) or partnership_id in who.partnership_ids


def readable_partnerships(who: Subject) -> list[int] | None:
    """The partnerships a list may show to this user; None for all of them."""
    return None if who.roles - NOT_READERS else sorted(who.partnership_ids)


def may_read_audit(who: Subject, partnership_id: int) -> bool:
    """The audit log, its exports, the instance diagrams and the task histories."""
    return _granted(who, "read_all_audits") or (
        PARTNER in who.roles and partnership_id in who.partnership_ids)


def may_read_version(who: Subject, instance_partnerships: Iterable[int]) -> bool:
    """The source of a deployed version: its readers, or a partner of a partnership
    that has an instance on it."""
    return _granted(who, "read_versions") or (
        PARTNER in who.roles and bool(set(instance_partnerships) & who.partnership_ids))


@dataclass(frozen=True)
class PartnershipRef:
    """A partnership as `attach_contact` needs it: its id and its delegate (a user name)."""

    id: int
    delegate: str | None = None


def may_attach_contact(who: Subject, partnership: PartnershipRef) -> bool:
    """Attach a partner contact to a partnership: the direction, the administrators, and the
    partnership's delegate."""
    return _granted(who, "attach_contacts") or (
        bool(who.username) and partnership.delegate == who.username and DELEGATE in who.roles)


# ---------------------------------------------------------------- the policy, by action


_ON_OBJECT: dict[str, Callable] = {
    "offered": is_offered,
    "act": may_act,
    "read_task": may_read_task,
    "read_partnership": may_read_partnership,
    "read_audit": may_read_audit,
    "export": may_read_audit,  # the exports say what the audit page says
    "reassign_to": may_receive,
    "read_version": may_read_version,
    "attach_contact": may_attach_contact,
}


def may(who: Subject, action: str, obj=None) -> bool:
    """The policy's answer for one person, one action and (for the actions on an object)
    one object: a task, a partnership id, a version's instance partnerships."""
    if action in _ON_OBJECT:
        return bool(_ON_OBJECT[action](who, obj))
    if action in GRANTS:
        return _granted(who, action)
    if action in STAFF_ACTIONS:
        return is_staff(who) or (action == "read_map" and AUDITOR in who.roles)
    raise KeyError(f"no such action in the access policy: {action}")


# ---------------------------------------------------------------- the same rules as SQL


def _reach_clause(who: Subject) -> ColumnElement[bool]:
    return (HumanTask.partnership_id.in_(sorted(who.partnership_ids))
            if is_partner_representative(who) else true())


def assigned_clause(who: Subject) -> ColumnElement[bool]:
    """The open tasks assigned to this user by name that they may act on."""
    return and_(HumanTask.assignee == who.username, HumanTask.state == "open", _reach_clause(who))


def _offer_scope(who: Subject, kind: str, key: str) -> ColumnElement[bool]:
    """A `partner` offer of a partnership the user is not attached to only counts when
    another of their groups is offered the task too; a partner representative's offers by
    name only on their partnerships."""
    if kind == "user":
        return (TaskOffer.partnership_id.in_(sorted(who.partnership_ids))
                if is_partner_representative(who) else true())
    if key != PARTNER:
        return true()
    other = aliased(TaskOffer)
    also = [exists().where(other.task_id == TaskOffer.task_id, other.kind == "group",
                           other.key == group) for group in sorted(who.roles - {PARTNER})]
    return or_(TaskOffer.partnership_id.in_(sorted(who.partnership_ids)), *also)


@dataclass(frozen=True)
class InboxRange:
    """One index range of the inbox: the tasks assigned to the user, the offers of one of
    their groups, or the offers made to them by name; each is read in due order."""

    offer: tuple[str, str] | None  # ("group", key) | ("user", name) | None: assigned

    def select(self, who: Subject, *extra: ColumnElement[bool],
               after: tuple[InboxRange, ...] = ()) -> Select:
        """SELECT task id, sort_due of this range, in its index order; `after`: leave out
        the tasks also offered through those (earlier) ranges, so counts add up."""
        if self.offer is None:
            return (select(HumanTask.id.label("id"), HumanTask.sort_due.label("sort_due"))
                    .where(assigned_clause(who), *extra)
                    .order_by(HumanTask.sort_due, HumanTask.id))
        kind, key = self.offer
        query = (select(TaskOffer.task_id.label("id"), TaskOffer.sort_due.label("sort_due"))
                 .where(TaskOffer.kind == kind, TaskOffer.key == key,
                        or_(TaskOffer.claimed_by.is_(None), TaskOffer.claimed_by == who.username),
                        _offer_scope(who, kind, key))
                 .order_by(TaskOffer.sort_due, TaskOffer.task_id))
        if extra:  # the inbox's filters read the task row
            query = query.where(TaskOffer.task_id.in_(select(HumanTask.id).where(*extra)))
        earlier = [r.offer for r in after if r.offer is not None]
        if earlier:
            other = aliased(TaskOffer)
            query = query.where(~exists().where(other.task_id == TaskOffer.task_id, or_(
                *[and_(other.kind == k, other.key == v) for k, v in earlier])))
        return query


def inbox_ranges(who: Subject, group: str | None = None) -> list[InboxRange]:
    """The ranges whose union is what `may_act` allows this user among open tasks (`group`:
    only the offers of that group, plus the tasks assigned to them)."""
    if not who.username:
        return []
    ranges = [InboxRange(None)]
    ranges += [InboxRange(("group", g)) for g in sorted(who.roles) if group in (None, g)]
    if group is None:
        ranges.append(InboxRange(("user", who.username)))
    return ranges


def where(who: Subject, action: str) -> ColumnElement[bool]:
    """The SQL form of an action for list pages: `act` on human_task (the open tasks this
    user may act on), `read_partnership`, `read_audit` and `export` on partnership."""
    if action == "act":
        ranges = [r.select(who).order_by(None) for r in inbox_ranges(who)]
        if not ranges:
            return false()
        return HumanTask.id.in_(select(union(*ranges).subquery().c.id))
    if action == "read_partnership":
        ids = readable_partnerships(who)
        return true() if ids is None else Partnership.id.in_(ids)
    if action in ("read_audit", "export"):
        if _granted(who, "read_all_audits"):
            return true()
        return Partnership.id.in_(sorted(who.partnership_ids)) if PARTNER in who.roles else false()
    raise KeyError(f"the action {action} has no SQL form")


def candidates(task) -> ColumnElement[bool]:
    """Users (active) the task could be for: its assignee or claimer, the members of its
    groups, its candidate users. The predicate (`may`) decides among them."""
    names = sorted(task_users(task) | {n for n in (task.assignee, task.claimed_by) if n})
    groups = sorted(task_groups(task))
    members = (User.id.in_(select(GroupMember.user_id).where(GroupMember.group_key.in_(groups)))
               if groups else false())
    return and_(User.active.is_(True), or_(User.username.in_(names) if names else false(), members))


def members_clause(*groups: str) -> ColumnElement[bool]:
    """Active users who belong to one of these groups (who hears of incidents, escalations)."""
    return and_(User.active.is_(True), User.id.in_(
        select(GroupMember.user_id).where(GroupMember.group_key.in_(sorted(groups)))))


def granted_clause(action: str) -> ColumnElement[bool]:
    """Active users holding a group that grants this action."""
    return members_clause(*GRANTS[action])


def users_who_may(session: Session, action: str, task) -> list[User]:
    """The users for whom `may(user, action, task)` holds, among the task's candidates; one
    query for the candidates, one for their partnerships."""
    users = session.scalars(select(User).where(candidates(task)).order_by(User.username)).all()
    if not users:
        return []
    attached: dict[int, set[int]] = {}
    for user_id, partnership_id in session.execute(
            select(PartnershipMember.user_id, PartnershipMember.partnership_id).where(
                PartnershipMember.user_id.in_([u.id for u in users]))):
        attached.setdefault(user_id, set()).add(partnership_id)
    return [u for u in users if may(Actor(u.username, frozenset(u.role_keys),
                                          frozenset(attached.get(u.id, ()))), action, task)]
