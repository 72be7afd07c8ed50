"""The access policy's rules as SQL: the inbox's index ranges, the clause of an action over
rows, the candidates of a task, and the users for whom a rule holds. Each clause states the
same rule as its predicate in the policy (engine/access/__init__.py), which the tests check
row by row; the predicates stay the reference."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, and_, exists, false, or_, select, true, union
from sqlalchemy.orm import Session, aliased, joinedload

from partnerflow.engine.access import (
    GRANTS,
    PARTNER,
    Actor,
    Subject,
    _granted,
    _standing_in_for,
    is_partner_representative,
    may,
    readable_partnerships,
    task_groups,
    task_users,
)
from partnerflow.engine.store.models import (
    GroupMember,
    HumanTask,
    Partnership,
    PartnershipMember,
    TaskOffer,
    User,
)

# built once: an alias made per call costs SQLAlchemy milliseconds to set up each time
_OFFERED_ALSO, _OFFERED_EARLIER = aliased(TaskOffer), aliased(TaskOffer)



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
    other = _OFFERED_ALSO
    also = [exists().where(other.task_id == TaskOffer.task_id, other.kind == "group",
                           other.key == group) for group in sorted(who.roles - {PARTNER})]
    return or_(TaskOffer.partnership_id.in_(sorted(who.partnership_ids)), *also)


@dataclass(frozen=True)
class InboxRange:
    """One index range of the inbox: the tasks assigned to the user, the offers of one of
    their groups, the offers made to them by name, or the opinions asked of them
    (("opinion", name)); each is read in due order. `behalf`: the same ranges of an absent
    colleague the user stands in for (their tasks, or offers claimed by neither of them)."""

    offer: tuple[str, str] | None  # ("group", key) | ("user", name) | ("opinion", name) | None
    behalf: Subject | None = None

    @property
    def disjoint(self) -> bool:
        """Counted apart from the others (a deputy's ranges overlap the user's own)."""
        return self.behalf is None

    def select(self, who: Subject, *extra: ColumnElement[bool],
               after: tuple[InboxRange, ...] = (),
               matching: Callable[[ColumnElement], ColumnElement[bool]] | None = None) -> Select:
        """SELECT task id, sort_due of this range, in its index order; `after`: leave out
        the tasks also offered through those (earlier) ranges, so counts add up;
        `matching`: a clause on the range's own task id column (the inbox search). A
        group's range may be long: the database may read it from the matching tasks; the
        other ranges are short, so the id is given as an expression (`id + 0`) that the
        database checks on each row of the range rather than reads the range from."""
        owner = self.behalf or who
        if self.offer is None:
            return (select(HumanTask.id.label("id"), HumanTask.sort_due.label("sort_due"))
                    .where(assigned_clause(owner), *extra,
                           *([matching(HumanTask.id + 0)] if matching else []))
                    .order_by(HumanTask.sort_due, HumanTask.id))
        kind, key = self.offer
        if kind == "opinion":
            # a task waiting for this user's opinion is held by someone else: in no other range
            return (select(HumanTask.id.label("id"), HumanTask.sort_due.label("sort_due"))
                    .where(HumanTask.delegated_to == key, HumanTask.state == "open",
                           _reach_clause(who), *extra,
                           *([matching(HumanTask.id + 0)] if matching else []))
                    .order_by(HumanTask.sort_due, HumanTask.id))
        claimers = sorted({who.username, owner.username})
        query = (select(TaskOffer.task_id.label("id"), TaskOffer.sort_due.label("sort_due"))
                 .where(TaskOffer.kind == kind, TaskOffer.key == key,
                        or_(TaskOffer.claimed_by.is_(None), TaskOffer.claimed_by.in_(claimers)
                            if len(claimers) > 1 else TaskOffer.claimed_by == who.username),
                        _offer_scope(owner, kind, key))
                 .order_by(TaskOffer.sort_due, TaskOffer.task_id))
        if matching is not None:
            query = query.where(matching(TaskOffer.task_id if kind == "group" else TaskOffer.task_id + 0))
        if extra:  # the inbox's filters read the task row
            query = query.where(TaskOffer.task_id.in_(select(HumanTask.id).where(*extra)))
        earlier = [r.offer for r in after
                   if r.offer is not None and r.offer[0] != "opinion" and r.disjoint]
        if earlier and self.disjoint:
            other = _OFFERED_EARLIER
            query = query.where(~exists().where(other.task_id == TaskOffer.task_id, or_(
                *[and_(other.kind == k, other.key == v) for k, v in earlier])))
        return query


def inbox_ranges(who: Subject, group: str | None = None, *,
                 opinions: bool = True) -> list[InboxRange]:
    """The ranges whose union is what `may_act` allows this user among open tasks (`group`:
    only the offers of that group, plus the tasks assigned to them), then the tasks of the
    absent colleagues they stand in for and (`opinions`) the tasks waiting for their opinion."""
    if not who.username:
        return []
    ranges = [InboxRange(None)]
    ranges += [InboxRange(("group", g)) for g in sorted(who.roles) if group in (None, g)]
    if group is None:
        ranges.append(InboxRange(("user", who.username)))
        for absent in _standing_in_for(who):
            ranges.append(InboxRange(None, absent))
            ranges += [InboxRange(("group", g), absent) for g in sorted(absent.roles - {PARTNER})]
            ranges.append(InboxRange(("user", absent.username), absent))
        if opinions:
            ranges.append(InboxRange(("opinion", who.username)))
    return ranges


def where(who: Subject, action: str) -> ColumnElement[bool]:
    """The SQL form of an action for list pages: `act` on human_task (the open tasks this
    user may act on), `read_partnership`, `read_audit` and `export` on partnership."""
    if action == "act":
        ranges = [r.select(who).order_by(None) for r in inbox_ranges(who, opinions=False)]
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


def users_who_may_each(session: Session, action: str, tasks: list) -> dict[int, list[User]]:
    """For a page of tasks: task id -> the users for whom `may(user, action, task)` holds,
    among all the tasks' candidates; two queries for the whole page."""
    if not tasks:
        return {}
    names = sorted({n for t in tasks for n in (*task_users(t), t.assignee, t.claimed_by) if n})
    groups = sorted({g for t in tasks for g in task_groups(t)})
    members = (User.id.in_(select(GroupMember.user_id).where(GroupMember.group_key.in_(groups)))
               if groups else false())
    users = session.scalars(select(User).options(joinedload(User.groups)).where(
        User.active.is_(True), or_(User.username.in_(names) if names else false(), members))
        .order_by(User.full_name, User.username)).unique().all()
    attached: dict[int, set[int]] = {}
    if users:
        for user_id, partnership_id in session.execute(
                select(PartnershipMember.user_id, PartnershipMember.partnership_id).where(
                    PartnershipMember.user_id.in_([u.id for u in users]))):
            attached.setdefault(user_id, set()).add(partnership_id)
    actors = [(u, Actor(u.username, frozenset(u.role_keys), frozenset(attached.get(u.id, ()))))
              for u in users]
    return {t.id: [u for u, a in actors if may(a, action, t)] for t in tasks}


def users_who_may(session: Session, action: str, task) -> list[User]:
    """The users for whom `may(user, action, task)` holds, among the task's candidates; one
    query for the candidates with their groups, one for their partnerships."""
    users = session.scalars(select(User).options(joinedload(User.groups)).where(candidates(task))
                            .order_by(User.username)).unique().all()
    if not users:
        return []
    attached: dict[int, set[int]] = {}
    for user_id, partnership_id in session.execute(
            select(PartnershipMember.user_id, PartnershipMember.partnership_id).where(
                PartnershipMember.user_id.in_([u.id for u in users]))):
        attached.setdefault(user_id, set()).add(partnership_id)
    return [u for u in users if may(Actor(u.username, frozenset(u.role_keys),
                                          frozenset(attached.get(u.id, ()))), action, task)]
