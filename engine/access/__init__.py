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

Discussion: a task's holder may ask a colleague for an opinion (Camunda's delegation): the
task waits for the answer, nobody completes it meanwhile, and it goes back to its holder,
who alone completes it; the delegate reads the task and answers. Comments make a thread per
partnership and per task, internal (staff only) or shared with the partner; a partner
representative writes shared comments only and never reads an internal one.

Absence: during a declared period (calendar days in Europe/Paris), the tasks assigned or
offered to a staff member (but through the partner group) are offered to their deputy too,
a staff member; the deputy acts on them under their own name, never as the absent person.

Actions on an object: offered, act, complete, read_task, read_partnership, read_audit,
export, reassign_to, attach_contact, ask_opinion, be_asked_opinion, give_opinion,
withdraw_opinion, read_thread, comment, share_comment, read_comment, deputise, read_history,
set_follow_up, correlate_message, start_instance. Actions granted by a group alone (GRANTS):
administer, design, reassign, cancel, release, retry, resume, read_dashboard, read_incidents,
read_versions, read_map, edit_map, propose, declare_absence, define_shared_filters,
work_external_tasks.

Search: a partner representative finds a task only by the words they may read (its title,
partnership and organisations, the values of variables shared with the partner), never by
an internal variable's value (`searchable_audiences`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    and_,
    cast,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session, aliased, sessionmaker

from partnerflow.engine.errors import N_
from partnerflow.engine.store.models import (
    Absence,
    Comment,
    GroupMember,
    PartnershipMember,
    User,
)

PARTNER = "partner"
AUDITOR = "auditor"
DESIGNER = "designer"
DIRECTION = "direction"
DELEGATE = "delegate"
WORKER = "worker"  # the service account of an external worker (engine.runtime.external)
# groups that neither work on the organisation's partnerships nor receive its tasks
NOT_STAFF = frozenset({PARTNER, AUDITOR, DESIGNER, WORKER})
# groups that do not by themselves read every partnership page
NOT_READERS = frozenset({PARTNER, DESIGNER, WORKER})

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
    # fetch, lock, complete and fail the external tasks of every instance
    "work_external_tasks": frozenset({"worker", "admin"}),
    # the inbox filters shared with everyone (« Mes partenariats en retard », ...)
    "define_shared_filters": frozenset({"direction", "admin"}),
}
STAFF_ACTIONS = ("read_map", "propose", "declare_absence")

INTERNAL = "internal"  # a comment or an opinion staff alone read
SHARED = "shared"  # shared with the partner representatives of the partnership
VISIBILITIES = (INTERNAL, SHARED)
PARIS = ZoneInfo("Europe/Paris")  # the calendar absences are declared in
CLOCK = "access_clock"  # the Session.info entry holding the engine's clock


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
    # the absent colleagues this user is the deputy of today (each their own actor)
    standing_in_for: tuple[Actor, ...] = ()
    # away today (an absence declared for this day)
    absent: bool = False


NOBODY = Actor("", frozenset(), frozenset())


# ---------------------------------------------------------------- loading


def bind_clock(sessions: sessionmaker, clock: Callable[[], datetime]) -> None:
    """Every session of this factory tells the policy what day it is (absences)."""
    info = dict(sessions.kw.get("info") or {})
    info[CLOCK] = clock
    sessions.configure(info=info)


def today(session: Session) -> date:
    """The calendar day in Europe/Paris by the engine's clock (the system's without one)."""
    clock = session.info.get(CLOCK)
    now = clock() if clock is not None else datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(PARIS).date()


def absence_on(day: date) -> ColumnElement[bool]:
    """The absences that cover this day (not ended early)."""
    return and_(Absence.starts_on <= day, Absence.ends_on >= day, Absence.cancelled_at.is_(None))


def _plain_actor(session: Session, user_id: int, username: str) -> Actor:
    groups = session.scalars(select(GroupMember.group_key).where(GroupMember.user_id == user_id))
    memberships = session.scalars(select(PartnershipMember.partnership_id).where(
        PartnershipMember.user_id == user_id))
    return Actor(username, frozenset(groups), frozenset(memberships))


@dataclass(frozen=True)
class Ties:
    """What a user's actor needs besides the user row: their groups (when asked), the
    partnerships they are attached to, whom they stand in for today, whether they are away."""

    groups: frozenset[str]
    partnership_ids: frozenset[int]
    standing_in_for: tuple[Actor, ...]
    absent: bool


def ties(session: Session, user_id: int, *, groups: bool = False) -> Ties:
    """One statement for the memberships, today's absences (theirs, and those they cover)
    and, with `groups`, the group keys; then one query per colleague stood in for."""
    no_number, no_text = cast(null(), Integer), cast(null(), String)
    arms = [
        select(literal("member", String).label("kind"), PartnershipMember.partnership_id.label("a"),
               no_number.label("b"), no_text.label("name"))
        .where(PartnershipMember.user_id == user_id),
        select(literal("absence", String), Absence.user_id, Absence.deputy_id, User.username)
        .join(User, User.id == Absence.user_id)
        .where(or_(Absence.user_id == user_id, Absence.deputy_id == user_id), User.active.is_(True),
               absence_on(today(session))),
    ]
    if groups:
        arms.append(select(literal("group", String), no_number, no_number, GroupMember.group_key)
                    .where(GroupMember.user_id == user_id))
    rows = session.execute(union_all(*arms)).all()
    absent = any(r.kind == "absence" and r.a == user_id for r in rows)
    covered = sorted({(r.a, r.name) for r in rows
                      if r.kind == "absence" and r.b == user_id and r.a != user_id},
                     key=lambda r: r[1])
    return Ties(frozenset(r.name for r in rows if r.kind == "group"),
                frozenset(r.a for r in rows if r.kind == "member"),
                tuple(_plain_actor(session, uid, name) for uid, name in covered), absent)


def actor_of(session: Session, user: User) -> Actor:
    """The actor for a loaded user row (its memberships and today's absences read now)."""
    if not user.active:
        return Actor(user.username, frozenset(), frozenset())
    found = ties(session, user.id)
    return Actor(user.username, frozenset(user.role_keys), found.partnership_ids,
                 found.standing_in_for, found.absent)


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
        known = ties(session, user_id, groups=True)
        found = Actor(username, known.groups, known.partnership_ids, known.standing_in_for,
                      known.absent)
    session.info[key] = found
    return found


def remember(session: Session, known: Actor) -> None:
    """Hand `actor()` an actor already read in this session (the web's signed-in user)."""
    session.info[("access_actor", known.username)] = known


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


def _own_task(who: Subject, task, ignore_claim: bool) -> bool:
    if task.assignee:
        return task.assignee == who.username and _reaches(who, task.partnership_id)
    if not ignore_claim and task.claimed_by and task.claimed_by != who.username:
        return False
    return _through_offer(who, task)


def may_act(who: Subject, task, *, ignore_claim: bool = False) -> bool:
    """May this user draft or claim this task (and complete it, unless it waits for an
    opinion: may_complete)? `ignore_claim` asks whether the task is theirs to take at all,
    whoever holds it right now. A deputy acts on the tasks of whom they stand in for."""
    if not who.username:
        return False
    return _own_task(who, task, ignore_claim) or acting_for(who, task, ignore_claim) is not None


def may_complete(who: Subject, task) -> bool:
    """Complete (or send for completion) an open task: whoever may act on it, except while
    it waits for an opinion (the holder gets it back with the answer)."""
    return task.state == "open" and not task.delegated_to and may_act(who, task)


def is_offered(who: Subject, task) -> bool:
    """Is the open task in this user's inbox as an offer (not assigned, not claimed by
    someone else)? Never to a nameless actor, as for may_act and the inbox's ranges."""
    if not who.username or task.state != "open" or task.assignee:
        return False
    if task.claimed_by in (None, who.username) and _through_offer(who, task):
        return True
    return bool(_absent_covered(who, task, ignore_claim=False))


# ---------------------------------------------------------------- a deputy during an absence


def _standing_in_for(who: Subject) -> tuple[Subject, ...]:
    """The absent staff members this staff member stands in for today."""
    if not who.username or not is_staff(who):
        return ()
    return tuple(a for a in getattr(who, "standing_in_for", ()) or ()
                 if a.username and a.username != who.username and is_staff(a))


def _covers(who: Subject, absent: Subject, task, ignore_claim: bool) -> bool:
    """A task of the absent colleague: assigned to them, or offered to them by a group other
    than `partner` (partner tasks go to partner users only) or by name, and claimed by
    nobody but the two of them."""
    if task.assignee:
        return task.assignee == absent.username
    if not ignore_claim and task.claimed_by not in (None, absent.username, who.username):
        return False
    return bool(offering_roles(absent, task) - {PARTNER}) or absent.username in task_users(task)


def _absent_covered(who: Subject, task, ignore_claim: bool) -> list[Subject]:
    return [a for a in _standing_in_for(who) if _covers(who, a, task, ignore_claim)]


def acting_for(who: Subject, task, ignore_claim: bool = False) -> str | None:
    """The absent colleague on whose behalf this deputy acts on the task (None when the task
    is theirs anyway): audited with what they do."""
    if not who.username or _own_task(who, task, ignore_claim):
        return None
    covered = _absent_covered(who, task, ignore_claim)
    return covered[0].username if covered else None


# built once: an alias made per call costs SQLAlchemy milliseconds to set up each time
_ABSENT_USER, _DEPUTY = aliased(User), aliased(User)


def deputies_of(session: Session, usernames: Iterable[str]) -> dict[str, tuple[User, date]]:
    """Among these users, those away today: absent user name -> (their deputy, the last day
    of the absence). What is told to an absent staff member is told to their deputy too."""
    names = sorted(set(usernames))
    if not names:
        return {}
    absent_user, deputy = _ABSENT_USER, _DEPUTY
    rows = session.execute(
        select(absent_user.username, deputy, Absence.ends_on)
        .join(absent_user, absent_user.id == Absence.user_id)
        .join(deputy, deputy.id == Absence.deputy_id)
        .where(absent_user.username.in_(names), deputy.active.is_(True),
               absence_on(today(session)))
        .order_by(absent_user.username, Absence.ends_on.desc())).all()
    found: dict[str, tuple[User, date]] = {}
    for name, user, ends_on in rows:
        found.setdefault(name, (user, ends_on))
    return found


def may_deputise(who: Subject, absent: Subject) -> bool:
    """May this user be the deputy of that one during an absence? An active staff member
    other than the absent person."""
    return bool(who.username) and who.username != absent.username and is_staff(who)


def may_receive(who: Subject, task) -> bool:
    """Can the task be reassigned to this user? Only to someone it is offered to (by group
    or by name) or already assigned to: reassigning never widens who acts on a task."""
    if task.assignee and task.assignee == who.username:
        return _reaches(who, task.partnership_id)
    return _through_offer(who, task)


def may_read_task(who: Subject, task) -> bool:
    """An open task: whoever may act on it, the colleague asked for an opinion on it, and the
    auditors (read only). A closed one: its readers and whoever completed it."""
    if task.state == "open":
        return (may_act(who, task) or may_give_opinion(who, task)
                or _granted(who, "read_open_tasks"))
    return may_read_closed_task(who, task)


def may_read_history(who: Subject, task) -> bool:
    """A task's history (its data before and after): whoever may read the task, and the
    readers of the partnership's audit log."""
    return may_read_task(who, task) or may_read_audit(who, task.partnership_id)


def holds(who: Subject, task) -> bool:
    """The task is this user's: assigned to them or claimed by them."""
    return bool(who.username) and who.username in (task.assignee, task.claimed_by)


def may_set_follow_up(who: Subject, task) -> bool:
    """Set the day to chase an open task up (« relance le »): its holder, who may act on it."""
    return task.state == "open" and holds(who, task) and may_act(who, task)


def claim_refusal(who: Subject, task) -> str | None:
    """Why this user may not claim the task (a French msgid), or None when they may."""
    if task.state != "open":
        return N_("la tâche n’est plus ouverte")
    if not may_act(who, task, ignore_claim=True):
        return N_("elle ne vous est pas proposée")
    if task.assignee:
        return N_("elle est affectée nommément") if task.assignee != who.username \
            else N_("elle vous est déjà affectée")
    if task.claimed_by == who.username:
        return N_("vous l’avez déjà prise")
    if task.claimed_by:
        return N_("elle est déjà réservée par une autre personne")
    return None


def release_refusal(who: Subject, task) -> str | None:
    """Why this user may not release the task (a French msgid), or None when they may."""
    if task.state != "open":
        return N_("la tâche n’est plus ouverte")
    if task.delegated_to:
        return N_("elle attend un avis")
    if not task.claimed_by:
        return N_("elle n’est réservée par personne") if not task.assignee \
            else N_("elle est affectée nommément, seule la direction la réaffecte")
    if task.claimed_by != who.username and not _granted(who, "release"):
        return N_("elle est réservée par une autre personne")
    return None


def may_read_closed_task(who: Subject, task) -> bool:
    """Read a closed task (its form stays closed): its readers and whoever completed it."""
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


# ---------------------------------------------------------------- an opinion asked on a task


def shared_with_partner(task, owner: Subject | None = None) -> bool:
    """A task the partner takes part in: offered to the partner group, or held by a partner
    representative. Only on such a task may a partner be asked for an opinion, and its
    opinions are shared."""
    return PARTNER in task_groups(task) or (owner is not None and is_partner_representative(owner))


def may_ask_opinion(who: Subject, task) -> bool:
    """Ask a colleague for an opinion on an open task: whoever may act on it (it becomes
    theirs if it was only offered), one question at a time."""
    return (task.state == "open" and not task.delegated_to and may_act(who, task)
            and (is_staff(who) or is_partner_representative(who)))


@dataclass(frozen=True)
class OpinionRequest:
    """Who asks (the task's holder) about which task: what `be_asked_opinion` needs."""

    task: object
    owner: Subject


def may_be_asked_opinion(who: Subject, request: OpinionRequest) -> bool:
    """Can this user be asked for an opinion on the task? Someone other than the holder,
    here today, who may read the partnership: a staff member, or a partner representative of
    that partnership when the task is one the partner takes part in (never an internal one)."""
    task, owner = request.task, request.owner
    if not who.username or who.username == owner.username or getattr(who, "absent", False):
        return False
    if not may_read_partnership(who, task.partnership_id):
        return False
    if is_staff(who):
        return True
    return is_partner_representative(who) and shared_with_partner(task, owner)


def opinion_visibility(owner: Subject, delegate: Subject) -> str:
    """An opinion between staff stays internal; one a partner asks or gives is shared."""
    return SHARED if is_partner_representative(owner) or is_partner_representative(delegate) \
        else INTERNAL


def may_give_opinion(who: Subject, task) -> bool:
    """Answer the question the task waits on: the colleague it was asked of, alone."""
    return (bool(who.username) and task.state == "open" and task.delegated_to == who.username
            and _reaches(who, task.partnership_id))


@dataclass(frozen=True)
class PendingOpinion:
    """A question waiting for its answer: the task and who asked it."""

    task: object
    owner: str


def may_withdraw_opinion(who: Subject, pending: PendingOpinion) -> bool:
    """Withdraw the question (the task goes back to its holder unanswered): whoever asked
    it, or the direction (who may release any task)."""
    return pending.task.state == "open" and bool(pending.task.delegated_to) and bool(who.username) \
        and (pending.owner == who.username or _granted(who, "release"))


# ---------------------------------------------------------------- comment threads


@dataclass(frozen=True)
class Thread:
    """A partnership's thread (`task` None) or one of its tasks'."""

    partnership_id: int
    task: object | None = None


def may_read_thread(who: Subject, thread: Thread) -> bool:
    """A partnership's threads (its own and its tasks') are read where the partnership is:
    by its readers; a task's also by whoever may read the task."""
    return may_read_partnership(who, thread.partnership_id) or (
        thread.task is not None and may_read_task(who, thread.task))


def may_comment(who: Subject, thread: Thread) -> bool:
    """Write in a thread: a staff member or a partner representative who reads the
    partnership (a task's thread: who may read the task). Auditors and designers do not."""
    if not (is_staff(who) or is_partner_representative(who)):
        return False
    if thread.task is None:
        return may_read_partnership(who, thread.partnership_id)
    return _reaches(who, thread.partnership_id) and may_read_task(who, thread.task)


def may_share_comment(who: Subject, thread: Thread) -> bool:
    """Choose to share a comment with the partner: staff, on the partnership's thread or on
    a task the partner takes part in."""
    return is_staff(who) and (thread.task is None or shared_with_partner(thread.task))


def comment_visibility(who: Subject, thread: Thread, asked: str | None) -> str:
    """What a new comment is: a partner representative's is shared; staff's internal unless
    they choose to share it where they may."""
    if is_partner_representative(who):
        return SHARED
    return SHARED if asked == SHARED and may_share_comment(who, thread) else INTERNAL


ALL_TERM_AUDIENCES = ("internal", "shared")


def searchable_audiences(who: Subject) -> tuple[str, ...]:
    """The words of a task (engine.store.terms) a reader may find it by: a partner
    representative those shared with the partner only."""
    return ("shared",) if is_partner_representative(who) else ALL_TERM_AUDIENCES


def readable_visibilities(who: Subject) -> tuple[str, ...]:
    """A partner representative reads shared comments and opinions only."""
    return (SHARED,) if is_partner_representative(who) else VISIBILITIES


@dataclass(frozen=True)
class CommentRef:
    """A comment (or an opinion) as the policy needs it: its thread and visibility."""

    thread: Thread
    visibility: str


def may_read_comment(who: Subject, ref: CommentRef) -> bool:
    return ref.visibility in readable_visibilities(who) and may_read_thread(who, ref.thread)


def comment_clause(who: Subject) -> ColumnElement[bool]:
    """The comments of a readable thread this reader may see (their visibility)."""
    return Comment.visibility.in_(readable_visibilities(who))


# ---------------------------------------------------------------- the policy, by action


def may_correlate(who: Subject, partnership_id: int) -> bool:
    """Send a message to a partnership's processes (the API's /message): a staff member who
    reads the partnership, or an external worker's account."""
    return (is_staff(who) and may_read_partnership(who, partnership_id)) or _granted(
        who, "work_external_tasks")


def may_start_instance(who: Subject, partnership_id: int) -> bool:
    """Start a process for a partnership (the API's POST /instances): who proposes ideas on
    the pages (the staff), on a partnership they read."""
    return is_staff(who) and may_read_partnership(who, partnership_id)


_ON_OBJECT: dict[str, Callable] = {
    "correlate_message": may_correlate,
    "start_instance": may_start_instance,
    "offered": is_offered,
    "act": may_act,
    "complete": may_complete,
    "read_task": may_read_task,
    "read_partnership": may_read_partnership,
    "read_audit": may_read_audit,
    "export": may_read_audit,  # the exports say what the audit page says
    "reassign_to": may_receive,
    "read_version": may_read_version,
    "attach_contact": may_attach_contact,
    "ask_opinion": may_ask_opinion,
    "be_asked_opinion": may_be_asked_opinion,
    "give_opinion": may_give_opinion,
    "withdraw_opinion": may_withdraw_opinion,
    "read_thread": may_read_thread,
    "comment": may_comment,
    "share_comment": may_share_comment,
    "read_comment": may_read_comment,
    "deputise": may_deputise,
    "read_history": may_read_history,
    "set_follow_up": may_set_follow_up,
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

# at the end: engine/access/sql.py reads the predicates above
from partnerflow.engine.access.sql import InboxRange as InboxRange  # noqa: E402, I001
from partnerflow.engine.access.sql import assigned_clause as assigned_clause  # noqa: E402
from partnerflow.engine.access.sql import candidates as candidates  # noqa: E402
from partnerflow.engine.access.sql import granted_clause as granted_clause  # noqa: E402
from partnerflow.engine.access.sql import inbox_ranges as inbox_ranges  # noqa: E402
from partnerflow.engine.access.sql import members_clause as members_clause  # noqa: E402
from partnerflow.engine.access.sql import users_who_may as users_who_may  # noqa: E402
from partnerflow.engine.access.sql import users_who_may_each as users_who_may_each  # noqa: E402
from partnerflow.engine.access.sql import where as where  # noqa: E402
