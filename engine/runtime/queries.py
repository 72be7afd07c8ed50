"""The read side: plain rows for the inbox, partnerships and versions. Never restores a workflow."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from sqlalchemy import and_, exists, func, or_, select, union
from sqlalchemy.orm import Session, aliased, joinedload

from partnerflow.engine import access
from partnerflow.engine.runtime import search
from partnerflow.engine.store.models import (
    Absence,
    AuditEvent,
    Comment,
    Document,
    FormVersion,
    Group,
    GroupMember,
    HumanTask,
    Organisation,
    Partnership,
    PartnershipMember,
    PartnershipOrganisation,
    ProcessInstance,
    ProcessVersion,
    TaskDelegation,
    TaskOffer,
    User,
)


@dataclass(frozen=True)
class InboxFilter:
    partnership_id: int | None = None
    stage: str | None = None
    role: str | None = None
    overdue_only: bool = False
    sort: str = "due"  # one of SORTS
    limit: int = 50
    offset: int = 0
    text: str | None = None  # the search box: words of the title, partnership, organisation, values
    holder: str | None = None  # one of HOLDERS
    due: str | None = None  # one of DUES
    follow_up: str | None = None  # one of FOLLOW_UPS
    age: str | None = None  # one of AGES
    # the search words resolved against the term index (with_search): a clause on a task id
    matching: search.Matcher | None = field(default=None, compare=False, repr=False)

    @property
    def narrowed(self) -> bool:
        """Some filter leaves tasks out (the page says so when nothing matches)."""
        return bool(self.partnership_id or self.stage or self.role or self.overdue_only
                    or (self.text or "").strip() or self.holder or self.due or self.follow_up
                    or self.age)


# the aliases of app_user the queries below join twice, built once: an alias made per call
# costs SQLAlchemy milliseconds to set up each time
_OWNER, _DELEGATE = aliased(User), aliased(User)
_ABSENT, _DEPUTY = aliased(User), aliased(User)

SORTS = {"due": (HumanTask.sort_due, HumanTask.id),
         "created": (HumanTask.created_at, HumanTask.id),
         "partnership": (Partnership.title, HumanTask.id),
         "title": (HumanTask.title, HumanTask.id),
         "follow_up": (HumanTask.follow_up_on.asc().nulls_last(), HumanTask.sort_due, HumanTask.id)}
HOLDERS = ("me", "nobody")  # held by me (assigned or claimed) | held by nobody yet
DUES = ("overdue", "week", "none")  # past due | due within 7 days (or past) | no due date
FOLLOW_UPS = ("due", "set")  # follow-up day reached | follow-up day set
AGES = {"week": 7, "month": 30}  # waiting for more than so many days


def _ranges(viewer: access.Actor, filters: InboxFilter | None, now: datetime | None,
            disjoint: bool = False):
    """One SELECT (task id, sort_due) per index range: my assigned tasks, each of my groups'
    offers, the offers made to me by name (access.inbox_ranges: the same rule as
    access.may_act). A task offered to two of my groups is in two ranges: the merge keeps it
    once."""
    extra, group, matching = [], None, None
    if filters is not None:
        extra = _column_filters(viewer, filters, now)
        group = filters.role
        matching = filters.matching
    ranges = access.inbox_ranges(viewer, group)
    return [r.select(viewer, *extra, after=tuple(ranges[:i]) if disjoint else (),
                     matching=matching)
            for i, r in enumerate(ranges)]


def _column_filters(viewer: access.Actor, filters: InboxFilter, now: datetime | None) -> list:
    extra = []
    if filters.partnership_id:
        extra.append(HumanTask.partnership_id == filters.partnership_id)
    if filters.stage:
        extra.append(HumanTask.stage == filters.stage)
    if (filters.overdue_only or filters.due == "overdue") and now is not None:
        extra.append(HumanTask.sort_due < now)
    if filters.due == "week" and now is not None:
        extra.append(HumanTask.sort_due < now + timedelta(days=7))
    if filters.due == "none":
        extra.append(HumanTask.due_at.is_(None))
    if filters.holder == "me":
        extra.append(or_(HumanTask.assignee == viewer.username,
                         HumanTask.claimed_by == viewer.username))
    elif filters.holder == "nobody":
        extra.append(and_(HumanTask.assignee.is_(None), HumanTask.claimed_by.is_(None)))
    if filters.age in AGES and now is not None:
        extra.append(HumanTask.created_at < now - timedelta(days=AGES[filters.age]))
    if filters.follow_up == "set":
        extra.append(HumanTask.follow_up_on.is_not(None))
    elif filters.follow_up == "due" and now is not None:
        extra.append(HumanTask.follow_up_on <= now.astimezone(access.PARIS).date())
    return extra


def _merged(ranges, window: int | None = None):
    """The union (without duplicates) of ranges, each read in its index order and cut at
    `window` rows when given."""
    if window is not None:
        ranges = [select(p.c.id, p.c.sort_due) for p in (r.limit(window).subquery() for r in ranges)]
    else:
        ranges = [r.order_by(None) for r in ranges]
    return (ranges[0] if len(ranges) == 1 else union(*ranges)).subquery()


def with_search(session: Session, username: str, filters: InboxFilter) -> InboxFilter:
    """The filter with its search words resolved once against the term index (the page, the
    count and the partnership list share it)."""
    if filters.matching is not None or not (filters.text or "").strip():
        return filters
    return replace(filters, matching=search.matcher(session, access.actor(session, username),
                                                    filters.text))


def inbox(session: Session, username: str, now: datetime, filters: InboxFilter = InboxFilter()):
    """A page of the user's open tasks with their partnership, soonest due first."""
    viewer = access.actor(session, username)
    filters = with_search(session, username, filters)
    ranges = _ranges(viewer, filters, now)
    if not ranges:
        return []
    window = filters.offset + filters.limit
    if filters.sort == "due":
        # each range is read in index order and stops after one page's worth
        merged = _merged(ranges, window)
        page = session.execute(select(merged.c.id).order_by(merged.c.sort_due, merged.c.id)
                               .limit(filters.limit).offset(filters.offset)).scalars().all()
        order = {task_id: i for i, task_id in enumerate(page)}
        rows = session.execute(_row_query().where(HumanTask.id.in_(page))).all() if page else []
        return sorted(rows, key=lambda r: order[r.id])
    query = _row_query().where(HumanTask.id.in_(select(_merged(ranges).c.id)))
    return session.execute(query.order_by(*SORTS[filters.sort]).limit(filters.limit)
                           .offset(filters.offset)).all()


def _row_query():
    return (select(HumanTask.id, HumanTask.title, HumanTask.title_en, HumanTask.element_id,
                   HumanTask.stage, HumanTask.role,
                   HumanTask.candidate_groups, HumanTask.candidate_users, HumanTask.assignee,
                   HumanTask.claimed_by, HumanTask.delegated_to,
                   HumanTask.form_key,
                   HumanTask.due_at, HumanTask.created_at, HumanTask.partnership_id,
                   HumanTask.follow_up_on, HumanTask.state,
                   HumanTask.instance_id, Partnership.title.label("partnership_title"))
            .join(Partnership, Partnership.id == HumanTask.partnership_id))


@dataclass(frozen=True)
class WhoActs:
    """The « Qui doit agir » of an inbox row: who holds the task (assigned, or reserved by
    whom), else the names of those who may take it."""

    holder: str | None  # full name of the assignee or of whoever reserved it
    reserved: bool  # the holder reserved it (claimed) rather than being assigned it
    candidates: tuple[str, ...]  # full names of who may take it, when nobody holds it
    more: int  # candidates beyond those named


def who_acts(session: Session, rows, shown: int = 3) -> dict[int, WhoActs]:
    """For a page of inbox rows: task id -> who must act, by name (access.users_who_may_each:
    the same rule as may_act, so a partner's colleagues of another partnership never show)."""
    held = {n for r in rows for n in (r.assignee, r.claimed_by) if n}
    names = dict(session.execute(select(User.username, User.full_name)
                                 .where(User.username.in_(sorted(held)))).all()) if held else {}
    open_rows = [r for r in rows if not (r.assignee or r.claimed_by)]
    may = access.users_who_may_each(session, "act", open_rows)
    found = {}
    for r in rows:
        if r.assignee or r.claimed_by:
            who = r.assignee or r.claimed_by
            found[r.id] = WhoActs(names.get(who, who), not r.assignee, (), 0)
        else:
            people = [u.full_name or u.username for u in may.get(r.id, [])]
            found[r.id] = WhoActs(None, False, tuple(people[:shown]), max(len(people) - shown, 0))
    return found


def inbox_partnerships(session: Session, username: str, limit: int = 200) -> list[tuple[int, str]]:
    """The partnerships the user's open tasks belong to (for the inbox's filter)."""
    viewer = access.actor(session, username)
    ranges = _ranges(viewer, None, None)
    if not ranges:
        return []
    ids = select(HumanTask.partnership_id).where(HumanTask.id.in_(select(_merged(ranges).c.id)))
    return [tuple(r) for r in session.execute(
        select(Partnership.id, Partnership.title).where(Partnership.id.in_(ids))
        .order_by(Partnership.title).limit(limit)).all()]


SEARCH_COUNT_CAP = 500  # a search counts its matches up to this many (« 500+ »)


def inbox_count(session: Session, username: str, filters: InboxFilter | None = None,
                now: datetime | None = None, at_most: int | None = None) -> int:
    """How many open tasks the user can take (the header badge); with `at_most`, counted no
    further than at_most + 1 (a search: each range is read in index order and stops there)."""
    viewer = access.actor(session, username)
    if filters is not None:
        filters = with_search(session, username, filters)
    if at_most is not None:
        ranges = _ranges(viewer, filters, now)
        if not ranges:
            return 0
        found = session.scalar(select(func.count()).select_from(_merged(ranges, at_most + 1))) or 0
        return min(found, at_most + 1)
    group = filters.role if filters is not None else None
    if not all(r.disjoint for r in access.inbox_ranges(viewer, group)):
        # a deputy: their colleague's ranges overlap their own, counted once through the union
        return session.scalar(select(func.count()).select_from(
            _merged(_ranges(viewer, filters, now)))) or 0
    # each range counted from its index alone, without the tasks of the ranges before it,
    # the counts added up in one statement
    counts = [select(func.count()).select_from(r.order_by(None).subquery()).scalar_subquery()
              for r in _ranges(viewer, filters, now, disjoint=True)]
    if not counts:
        return 0
    total = counts[0]
    for count in counts[1:]:
        total = total + count
    return session.scalar(select(total)) or 0


def tasks_of_partnership(session: Session, partnership_id: int, state: str | None = "open"):
    query = select(HumanTask).where(HumanTask.partnership_id == partnership_id)
    if state:
        query = query.where(HumanTask.state == state)
    return session.scalars(query.order_by(HumanTask.id)).all()


@dataclass(frozen=True)
class Page:
    """One page of a list: its rows, the list's size (counted by the database), the page
    shown (1-based, clamped to the last page) and the number of pages."""

    rows: list
    total: int
    page: int
    pages: int
    size: int  # rows per page

    @property
    def first(self) -> int:
        """The rank of the page's first row in the whole list (1-based)."""
        return (self.page - 1) * self.size + 1


def paged(session: Session, query, page: int | None, size: int, *, scalars: bool = True) -> Page:
    """`query` (ordered) cut to page `page` of `size` rows; the total is a COUNT, so the
    cost is one page of rows whatever the length of the list."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    pages = max(1, -(-total // size))
    page = min(max(1, page or 1), pages)
    cut = query.limit(size).offset((page - 1) * size)
    rows = list(session.scalars(cut) if scalars else session.execute(cut))
    return Page(rows, total, page, pages, size)


def open_tasks_of(session: Session, partnership_id: int, limit: int) -> tuple[list[HumanTask], int]:
    """The first `limit` open tasks of a partnership (oldest first) and how many are open."""
    where = (HumanTask.partnership_id == partnership_id, HumanTask.state == "open")
    rows = list(session.scalars(select(HumanTask).where(*where).order_by(HumanTask.id).limit(limit)))
    total = len(rows) if len(rows) < limit else session.scalar(
        select(func.count()).select_from(HumanTask).where(*where))
    return rows, total


def completed_tasks_page(session: Session, partnership_id: int, page: int | None, size: int,
                         form_keys: tuple[str, ...] | None = None) -> Page:
    """The partnership's completed tasks, the latest first (those of `form_keys` only)."""
    query = select(HumanTask).where(HumanTask.partnership_id == partnership_id,
                                    HumanTask.state == "completed")
    if form_keys:
        query = query.where(HumanTask.form_key.in_(form_keys))
    return paged(session, query.order_by(HumanTask.completed_at.desc(), HumanTask.id.desc()), page, size)


def latest_result(session: Session, partnership_id: int, form_key: str) -> HumanTask | None:
    """The latest completed task of that form in the partnership that holds a result (among
    its last ten: a step completed without data does not send the page through the history)."""
    return next((t for t in session.scalars(select(HumanTask).where(
        HumanTask.partnership_id == partnership_id, HumanTask.state == "completed",
        HumanTask.form_key == form_key).order_by(HumanTask.id.desc()).limit(10)) if t.result),
        None)


def instances_page(session: Session, partnership_id: int, page: int | None, size: int) -> Page:
    """The partnership's process instances, the latest started first."""
    return paged(session, select(ProcessInstance).where(
        ProcessInstance.partnership_id == partnership_id).order_by(ProcessInstance.id.desc()),
        page, size)


def documents_page(session: Session, partnership_id: int, page: int | None, size: int,
                   only: set[str] | None = None) -> Page:
    """The partnership's documents, the latest first; `only`: those of these hashes."""
    query = (select(Document.id, Document.filename, Document.sha256, Document.size,
                    Document.content_type, Document.uploaded_by, Document.created_at)
             .where(Document.partnership_id == partnership_id))
    if only is not None:
        query = query.where(Document.sha256.in_(only or {""}))
    return paged(session, query.order_by(Document.id.desc()), page, size, scalars=False)


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


def user_by_id(session: Session, user_id: int) -> tuple[User, access.Ties] | None:
    """A user (with their groups, in the same statement) and their ties: the partnerships
    they are attached to and today's absences (one more statement)."""
    user = session.get(User, user_id, options=[joinedload(User.groups)])
    if user is None:
        return None
    return user, access.ties(session, user_id)


def users(session: Session):
    return session.scalars(select(User).order_by(User.username)).all()


def tasks_of_inactive_users(session: Session) -> list[tuple[HumanTask, str]]:
    """Open tasks still assigned to or claimed by a deactivated account, with its full
    name: the direction reassigns or releases them."""
    holder = func.coalesce(HumanTask.assignee, HumanTask.claimed_by)
    return [tuple(r) for r in session.execute(
        select(HumanTask, User.full_name).join(User, User.username == holder)
        .where(HumanTask.state == "open", User.active.is_(False))
        .order_by(User.full_name, HumanTask.id)).all()]


def active_usernames_by_group(session: Session, groups) -> dict[str | None, list[tuple[str, str]]]:
    """Active users (name, full name): all of them under None, and those of each group, in
    one query."""
    rows = session.execute(
        select(User.username, User.full_name, GroupMember.group_key)
        .outerjoin(GroupMember, and_(GroupMember.user_id == User.id,
                                     GroupMember.group_key.in_(sorted(groups))))
        .where(User.active.is_(True)).order_by(User.full_name, User.username)).all()
    found: dict[str | None, list[tuple[str, str]]] = {None: [], **{g: [] for g in groups}}
    for username, full_name, group in rows:
        if not found[None] or found[None][-1][0] != username:
            found[None].append((username, full_name))
        if group is not None:
            found[group].append((username, full_name))
    return found


def active_usernames(session: Session, role: str | None = None) -> list[tuple[str, str]]:
    """Active users (name, full name), of one group when given."""
    query = select(User.username, User.full_name).where(User.active.is_(True))
    if role:
        query = query.where(access.members_clause(role))
    return [tuple(r) for r in session.execute(query.order_by(User.full_name)).all()]


def reassignable_users(session: Session, task: HumanTask) -> list[tuple[str, str]]:
    """Whom the task may be reassigned to: the people who may act on it (access.may_receive),
    the current assignee left out."""
    return [(u.username, u.full_name) for u in access.users_who_may(session, "reassign_to", task)
            if u.username != task.assignee]


def unattached_partner_contacts(session: Session, partnership_id: int) -> list[tuple[str, str]]:
    """Active members of the partner group not yet attached to this partnership."""
    attached = select(PartnershipMember.user_id).where(PartnershipMember.partnership_id == partnership_id)
    return [tuple(r) for r in session.execute(
        select(User.username, User.full_name).where(access.members_clause(access.PARTNER),
                                                    User.id.not_in(attached))
        .order_by(User.full_name)).all()]


def partnership_ref(partnership_id: int, open_tasks) -> access.PartnershipRef:
    """The partnership as `attach_contact` needs it: its id and its delegate, the user the
    mission letter named (the `delegate` variable the diagrams assign tasks with)."""
    delegate = next((t.context["delegate"] for t in open_tasks
                     if isinstance((t.context or {}).get("delegate"), str)), None)
    return access.PartnershipRef(partnership_id, delegate)


WAITING_WINDOW = 200


def waiting_for_contact(session: Session, username: str, limit: int = 20
                        ) -> list[tuple[HumanTask, str]]:
    """Open tasks nobody may act on, « en attente d'un interlocuteur », with their
    partnership's title, for whoever may unblock them by attaching a partner contact: the
    direction and the administrators (every partnership), a partnership's delegate (theirs).

    The SQL keeps the open tasks offered to the partner group on partnerships with no active
    partner contact attached; the policy then decides on each (nobody among the task's
    candidates may act, and this user may attach a contact)."""
    me = access.actor(session, username)
    if not (access.may(me, "attach_contacts") or access.DELEGATE in me.roles):
        return []
    attached = exists().where(
        PartnershipMember.partnership_id == HumanTask.partnership_id,
        PartnershipMember.user_id == GroupMember.user_id, GroupMember.group_key == access.PARTNER,
        User.id == GroupMember.user_id, User.active.is_(True))
    offered_to_partner = select(TaskOffer.task_id).where(TaskOffer.kind == "group",
                                                         TaskOffer.key == access.PARTNER)
    candidates = session.execute(
        select(HumanTask, Partnership.title).join(Partnership,
                                                  Partnership.id == HumanTask.partnership_id)
        .where(HumanTask.state == "open", HumanTask.id.in_(offered_to_partner), ~attached)
        .order_by(HumanTask.id).limit(WAITING_WINDOW)).all()
    mine = [(task, title) for task, title in candidates
            if access.may(me, "attach_contact", partnership_ref(task.partnership_id, [task]))]
    able = access.users_who_may_each(session, "act", [task for task, _title in mine])
    return [(task, title) for task, title in mine if not able[task.id]][:limit]


def group_labels(session: Session) -> dict[str, tuple[str, str]]:
    """Group key -> (French label, English label)."""
    return {key: (fr, en) for key, fr, en in session.execute(
        select(Group.key, Group.label_fr, Group.label_en))}


def organisations(session: Session):
    return session.scalars(select(Organisation).where(Organisation.archived.is_(False))
                           .order_by(Organisation.name)).all()


def linkable_organisations(session: Session, partnership_id: int, text: str | None,
                           limit: int) -> Page:
    """The partner organisations of the map not yet linked to the partnership (never ours,
    never an archived one), by name, those whose name holds `text` when given: the first
    `limit` and how many there are."""
    linked = select(PartnershipOrganisation.organisation_id).where(
        PartnershipOrganisation.partnership_id == partnership_id)
    query = select(Organisation).where(Organisation.archived.is_(False),
                                       Organisation.is_own.is_(False), Organisation.id.not_in(linked))
    if text:
        query = query.where(Organisation.name.icontains(text, autoescape=True))
    return paged(session, query.order_by(Organisation.name, Organisation.id), 1, limit)


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


def partnerships_page(session: Session, partnership_ids: list[int] | None, page: int | None,
                      size: int, *, stage: str | None = None, status: str | None = None,
                      among=None) -> Page:
    """One page of the partnerships (the latest first), each with its open-task count:
    restricted to `partnership_ids` when given, to a stage, a status, and to the ids a
    subquery `among` selects; the counts are read for the page's partnerships only."""
    query = select(Partnership)
    if partnership_ids is not None:
        query = query.where(Partnership.id.in_(partnership_ids))
    if stage is not None:
        query = query.where(Partnership.stage == stage)
    if status is not None:
        query = query.where(Partnership.status == status)
    if among is not None:
        query = query.where(Partnership.id.in_(among))
    found = paged(session, query.order_by(Partnership.id.desc()), page, size)
    ids = [p.id for p in found.rows]
    counts = dict(session.execute(
        select(HumanTask.partnership_id, func.count()).where(
            HumanTask.partnership_id.in_(ids), HumanTask.state == "open")
        .group_by(HumanTask.partnership_id)).all()) if ids else {}
    return replace(found, rows=[(p, counts.get(p.id, 0)) for p in found.rows])


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


def saved_forms(session: Session) -> dict[str, dict]:
    """The newest saved schema of every form edited in the browser."""
    newest = (select(FormVersion.form_key, func.max(FormVersion.version).label("v"))
              .group_by(FormVersion.form_key).subquery())
    rows = session.execute(select(FormVersion.form_key, FormVersion.schema).join(
        newest, (FormVersion.form_key == newest.c.form_key) & (FormVersion.version == newest.c.v)))
    return {key: schema for key, schema in rows}


# ---------------------------------------------------------------- discussion: comments, opinions


def full_name(session: Session, username: str | None) -> str:
    if not username:
        return ""
    return session.scalar(select(User.full_name).where(User.username == username)) or username


def partnership_delegate(session: Session, partnership_id: int) -> str | None:
    """The partnership's delegate: the `delegate` variable its tasks carry (the mission
    letter names them), read from the open tasks first, then from the latest ones."""
    rows = session.scalars(select(HumanTask).where(HumanTask.partnership_id == partnership_id)
                           .order_by((HumanTask.state == "open").desc(), HumanTask.id.desc())
                           .limit(50))
    for task in rows:
        delegate = (task.context or {}).get("delegate")
        if isinstance(delegate, str) and delegate:
            return delegate
    return None


def partner_contacts(session: Session, partnership_id: int) -> list[User]:
    """The active partner users attached to the partnership."""
    attached = select(PartnershipMember.user_id).where(PartnershipMember.partnership_id == partnership_id)
    return list(session.scalars(select(User).where(access.members_clause(access.PARTNER),
                                                   User.id.in_(attached)).order_by(User.username)))


@dataclass(frozen=True)
class CommentRow:
    id: int
    author: str
    author_name: str
    visibility: str
    body: str
    created_at: datetime
    task_id: int | None
    task_title: str | None
    task_readable: bool  # the reader may open the task it is about


def _thread_where(who, partnership_id: int, task: HumanTask | None, with_tasks: bool) -> list:
    where = [Comment.partnership_id == partnership_id, access.comment_clause(who)]
    if task is not None:
        where.append(Comment.task_id == task.id)
    elif not with_tasks:
        where.append(Comment.task_id.is_(None))
    return where


def comments(session: Session, who, partnership_id: int, task: HumanTask | None = None, *,
             with_tasks: bool = False, limit: int = 500, offset: int = 0) -> list[CommentRow]:
    """A thread as this reader may read it, oldest first: the partnership's own (with
    `with_tasks`, its tasks' too: the partnership page), or one task's; the latest `limit`
    (after skipping the `offset` latest). Internal comments never reach a partner
    representative (access.comment_clause)."""
    thread = access.Thread(partnership_id, task)
    if not access.may(who, "read_thread", thread):
        return []
    query = (select(Comment, User.full_name, HumanTask)
             .outerjoin(User, User.username == Comment.author)
             .outerjoin(HumanTask, HumanTask.id == Comment.task_id)
             .where(*_thread_where(who, partnership_id, task, with_tasks)))
    rows = session.execute(query.order_by(Comment.id.desc()).limit(limit).offset(offset)).all()
    return [CommentRow(c.id, c.author, name or c.author, c.visibility, c.body, c.created_at,
                       c.task_id, t.title if t is not None else None,
                       t is not None and access.may(who, "read_task", t))
            for c, name, t in reversed(rows)]


def comments_page(session: Session, who, partnership_id: int, page: int | None, size: int, *,
                  with_tasks: bool = False) -> Page:
    """One page of a thread, page 1 the latest `size` comments (each page oldest first);
    the count is a COUNT."""
    if not access.may(who, "read_thread", access.Thread(partnership_id, None)):
        return Page([], 0, 1, 1, size)
    total = session.scalar(select(func.count()).select_from(Comment).where(
        *_thread_where(who, partnership_id, None, with_tasks))) or 0
    pages = max(1, -(-total // size))
    page = min(max(1, page or 1), pages)
    rows = comments(session, who, partnership_id, with_tasks=with_tasks, limit=size,
                    offset=(page - 1) * size)
    return Page(rows, total, page, pages, size)


@dataclass(frozen=True)
class OpinionRow:
    id: int
    owner: str
    owner_name: str
    delegate: str
    delegate_name: str
    question: str
    visibility: str
    state: str  # pending | resolved | withdrawn
    opinion: str | None
    recommendation: str | None
    requested_at: datetime
    resolved_at: datetime | None


def opinions(session: Session, who, task: HumanTask) -> list[OpinionRow]:
    """The opinions asked on a task, oldest first, as this reader may read them (an internal
    one never reaches a partner representative)."""
    if not access.may(who, "read_task", task):
        return []
    owner, delegate = _OWNER, _DELEGATE
    rows = session.execute(
        select(TaskDelegation, owner.full_name, delegate.full_name)
        .outerjoin(owner, owner.username == TaskDelegation.owner)
        .outerjoin(delegate, delegate.username == TaskDelegation.delegate)
        .where(TaskDelegation.task_id == task.id,
               TaskDelegation.visibility.in_(access.readable_visibilities(who)))
        .order_by(TaskDelegation.id)).all()
    return [OpinionRow(d.id, d.owner, o or d.owner, d.delegate, g or d.delegate, d.question,
                       d.visibility, d.state, d.opinion, d.recommendation, d.requested_at,
                       d.resolved_at) for d, o, g in rows]


def _actors(session: Session, users: list[User]) -> list[tuple[User, access.Actor]]:
    """Users with their actors (groups, partnerships, away today), in three queries."""
    if not users:
        return []
    ids = [u.id for u in users]
    attached: dict[int, set[int]] = {}
    for user_id, partnership_id in session.execute(
            select(PartnershipMember.user_id, PartnershipMember.partnership_id).where(
                PartnershipMember.user_id.in_(ids))):
        attached.setdefault(user_id, set()).add(partnership_id)
    away = set(session.scalars(select(Absence.user_id).where(
        Absence.user_id.in_(ids), access.absence_on(access.today(session)))))
    return [(u, access.Actor(u.username, frozenset(u.role_keys), frozenset(attached.get(u.id, ())),
                             absent=u.id in away)) for u in users]


def opinion_candidates(session: Session, task: HumanTask, owner) -> list[tuple[str, str]]:
    """Whom the holder may ask for an opinion on this task (access.may_be_asked_opinion):
    active staff, and the partnership's partner contacts on a task the partner takes part in;
    not the holder, nobody away today."""
    staff_groups = select(GroupMember.user_id).where(GroupMember.group_key.not_in(sorted(access.NOT_STAFF)))
    attached = select(PartnershipMember.user_id).where(
        PartnershipMember.partnership_id == task.partnership_id)
    users = list(session.scalars(select(User).options(joinedload(User.groups)).where(
        User.active.is_(True), User.username != owner.username,
        User.id.in_(staff_groups) | User.id.in_(attached)).order_by(User.full_name)).unique())
    request = access.OpinionRequest(task, owner)
    return [(u.username, u.full_name) for u, who in _actors(session, users)
            if access.may(who, "be_asked_opinion", request)]


# ---------------------------------------------------------------- absences


@dataclass(frozen=True)
class AbsenceRow:
    id: int
    username: str
    full_name: str
    deputy: str
    deputy_name: str
    starts_on: date
    ends_on: date
    current: bool  # covers today


def _absence_rows(session: Session, clause) -> list[AbsenceRow]:
    absent, deputy = _ABSENT, _DEPUTY
    day = access.today(session)
    rows = session.execute(
        select(Absence, absent.username, absent.full_name, deputy.username, deputy.full_name)
        .join(absent, absent.id == Absence.user_id).join(deputy, deputy.id == Absence.deputy_id)
        .where(clause, Absence.cancelled_at.is_(None), Absence.ends_on >= day)
        .order_by(Absence.starts_on, Absence.id)).all()
    return [AbsenceRow(a.id, name, full or name, dname, dfull or dname, a.starts_on, a.ends_on,
                       a.starts_on <= day <= a.ends_on)
            for a, name, full, dname, dfull in rows]


def absences_of(session: Session, username: str) -> list[AbsenceRow]:
    """The user's absences today and to come."""
    user_id = select(User.id).where(User.username == username).scalar_subquery()
    return _absence_rows(session, Absence.user_id == user_id)


def standing_in(session: Session, username: str) -> list[AbsenceRow]:
    """The absences, today and to come, of the colleagues this user stands in for."""
    user_id = select(User.id).where(User.username == username).scalar_subquery()
    return _absence_rows(session, Absence.deputy_id == user_id)


def deputy_candidates(session: Session, username: str) -> list[tuple[str, str]]:
    """Whom a user may name as their deputy (access.may_deputise): active staff, not them."""
    me = access.actor(session, username)
    users = list(session.scalars(select(User).options(joinedload(User.groups))
                                 .where(User.active.is_(True), User.username != username)
                                 .order_by(User.full_name)).unique())
    return [(u.username, u.full_name) for u, who in _actors(session, users)
            if access.may(who, "deputise", me)]
