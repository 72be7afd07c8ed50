"""What an inbox shows, kept per reader while nothing it depends on changed.

Every open task is seen through keys: `group:<key>` for each group it is offered to,
`user:<name>` for its assignee, whoever reserved it, the colleague whose opinion it waits for
and each user it is offered to by name. `site` stands for what every inbox shows of others:
people's names and groups, memberships of partnerships, partnership titles and states, the
shared filters. Whatever changes a task row, in the ORM or through a statement, bumps the
versions of its keys, old and new, in the same transaction (`inbox_version`, one row per
key); a change to the others bumps `site`, or the owner's key for their own saved filter.
`notes:<name>` counts a user's notifications: one written, read or deleted bumps it.

A reader's inbox (the header's count, the page with its filters, who must act, the saved
filters) is kept in the process under the versions of its keys read at the start of the
request: one statement. While they are unchanged, the same inputs give the same page; a
completion, a claim or a new task bumps them in its own commit, so the next reader, in any
process, reads again. A version is per group and per person, never one row every writer
updates. Pages whose content moves with the clock (overdue, due this week, waiting for so
long, follow-up day reached) and searches are not kept."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable

from sqlalchemy import Delete, Insert, Update, event, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..access import Actor
from ..store.models import (
    Absence,
    FormVersion,
    Group,
    GroupMember,
    HumanTask,
    InboxVersion,
    Notification,
    Organisation,
    Partnership,
    PartnershipMember,
    ProcessVersion,
    SavedFilter,
    User,
)

SITE = "site"
PENDING = "inbox_keys_pending"
COMMITTING = "inbox_keys_committing"
# a statement's execution option naming the keys it changes (else: site, to be safe)
KEYS_OPTION = "partnerflow_inbox_keys"
# the columns of a task no inbox shows: the worker's flags
UNSHOWN = frozenset({"announced", "overdue_notified"})
# whose changes every inbox may show (names, groups, memberships, titles, states)
# (the signed-in reader is kept under `site` too: their account, groups, partnerships, absences)
# (and what every partnership's page may show of others: organisations' names, the deployed
# versions and forms that name and type its fields)
SHARED = {User: ("username", "full_name", "active", "organisation_id", "session_epoch", "groups"),
          Partnership: ("title", "status"), Group: None, GroupMember: None, PartnershipMember: None,
          Absence: None, Organisation: None, ProcessVersion: None, FormVersion: None}
SHARED_TABLES = frozenset({"app_user", "partnership", "app_group", "group_member",
                           "partnership_member", "saved_filter", "absence", "organisation",
                           "process_version", "form_version"})
# tables holding a partnership's rows that no page kept under `partnership:<id>` shows: a
# statement writing them bumps nothing (any other table with a partnership_id bumps `site`)
UNSHOWN_TABLES = frozenset({"audit_event", "audit_personal", "audit_chain_head",
                            "audit_verification", "task_duration", "task_duration_bucket",
                            "evaluation_date", "task_offer", "task_term", "inbox_version",
                            "workflow_task", "external_task", "login_attempt"})
AUDIENCE = ("role", "candidate_groups", "candidate_users", "assignee", "claimed_by", "delegated_to")


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def task_keys(role, candidate_groups, candidate_users, assignee, claimed_by,
              delegated_to) -> set[str]:
    """The keys of a task as these columns describe it."""
    groups = _split(candidate_groups) or ([role] if role else [])
    users = [*_split(candidate_users), assignee, claimed_by, delegated_to]
    return {f"group:{g}" for g in groups} | {f"user:{u}" for u in users if u}


def partnership_key(partnership_id: int) -> str:
    """The key of everything a partnership's page shows of it: its rows (tasks, instances,
    documents, comments, members, organisations, committee), whatever writes them."""
    return f"partnership:{partnership_id}"


def reader_keys(who: Actor) -> tuple[str, ...]:
    """The keys whose versions a reader's inbox depends on: theirs, and those of the absent
    colleagues they stand in for."""
    keys = {SITE, f"user:{who.username}", f"notes:{who.username}", *(f"group:{g}" for g in who.roles)}
    for absent in who.standing_in_for:
        keys |= {f"user:{absent.username}", *(f"group:{g}" for g in absent.roles)}
    return tuple(sorted(keys))


# ---------------------------------------------------------------- writing: the versions follow


def _note(session: Session, keys: Iterable[str]) -> None:
    session.info.setdefault(PENDING, set()).update(keys)


def _task_change_keys(task: HumanTask, changed: bool) -> set[str]:
    state = inspect(task)
    now = task_keys(*(getattr(task, name) for name in AUDIENCE))
    if not changed:
        return now
    before = []
    for name in AUDIENCE:
        history = state.attrs[name].history
        before.append(history.deleted[0] if history.deleted else getattr(task, name))
    return now | task_keys(*before)


@event.listens_for(Session, "before_flush")
def note_changes(session, _context, _instances) -> None:
    """Collect the keys the objects of this flush change; they are bumped once it is done."""
    keys: set[str] = set()
    for how, objects in (("new", session.new), ("dirty", session.dirty), ("deleted", session.deleted)):
        for obj in objects:
            keys |= _keys_of(obj, how)
    if keys:
        _note(session, keys)


def _keys_of(obj, how: str) -> set[str]:
    if isinstance(obj, HumanTask):
        if how == "dirty":
            state = inspect(obj)
            if not any(attr.history.has_changes() for attr in state.attrs
                       if attr.key not in UNSHOWN and attr.key != "offers"):
                return set()
        return _task_change_keys(obj, how == "dirty") | _partnership_keys(obj, how)
    return _partnership_keys(obj, how) | _other_keys(obj, how)


def _partnership_keys(obj, how: str) -> set[str]:
    """`partnership:<id>` of whatever row of a partnership changes (and of the partnership it
    left, when its partnership_id changed)."""
    if isinstance(obj, Partnership):
        ids = {obj.id}
    elif hasattr(obj, "partnership_id"):
        ids = {obj.partnership_id}
        if how == "dirty":
            ids |= set(inspect(obj).attrs["partnership_id"].history.deleted)
    else:
        return set()
    return {partnership_key(pid) for pid in ids if pid is not None}


def _other_keys(obj, how: str) -> set[str]:
    if isinstance(obj, Notification):
        if how == "dirty" and not inspect(obj).attrs["read_at"].history.has_changes():
            return set()  # the mail worker's own columns
        return {f"notes:{obj.username}"}
    if isinstance(obj, SavedFilter):
        owners = {obj.owner}
        if how == "dirty":
            owners |= set(inspect(obj).attrs["owner"].history.deleted)
        return {SITE if owner is None else f"user:{owner}" for owner in owners}
    for kind, columns in SHARED.items():
        if isinstance(obj, kind) and (how != "dirty" or columns is None or any(
                inspect(obj).attrs[c].history.has_changes() for c in columns)):
            return {SITE}
    return set()


@event.listens_for(Session, "before_commit")
def bump_before_commit(session) -> None:
    """One bump per transaction, at its end: the rows of busy groups stay locked only while
    the transaction commits."""
    if session.info.get(PENDING) or session.new or session.dirty or session.deleted:
        session.flush()
    bump(session)
    session.info[COMMITTING] = True


@event.listens_for(Session, "after_flush")
def bump_flushed_while_committing(session, _context) -> None:
    # what another commit hook flushed after ours
    if session.info.get(COMMITTING):
        bump(session)


@event.listens_for(Session, "after_transaction_end")
def forget_pending(session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(PENDING, None)
        session.info.pop(COMMITTING, None)


@event.listens_for(Session, "do_orm_execute")
def note_statements(state) -> None:
    """A statement that inserts, updates or deletes task rows, notifications, what every
    inbox shows or a partnership's rows its page shows (a bulk import, an erasure, the
    worker) bumps `site`, unless it only sets the worker's flags of a task or names the keys
    it changes (execution option KEYS_OPTION)."""
    statement = state.statement
    if not isinstance(statement, Insert | Update | Delete):
        return
    told = state.execution_options.get(KEYS_OPTION)
    if told is not None:  # the statement names the keys it changes
        _note(state.session, told)
        return
    table = getattr(statement, "table", None)
    name = getattr(table, "name", None)
    if name == "human_task":
        if isinstance(statement, Update) and statement._values and {
                getattr(column, "key", column) for column in statement._values} <= UNSHOWN:
            return
        _note(state.session, {SITE})
    elif name in SHARED_TABLES or name == "notification" or (
            name not in UNSHOWN_TABLES and table is not None and "partnership_id" in table.c):
        _note(state.session, {SITE})


def bump(session: Session) -> None:
    """Add one to the version of every key noted in this transaction (one statement)."""
    keys = session.info.pop(PENDING, None)
    if not keys:
        return
    connection = session.connection()
    dialect = connection.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = InboxVersion.__table__
    statement = insert(table).values([{"key": k[:90], "version": 1} for k in sorted(keys)])
    connection.execute(statement.on_conflict_do_update(
        index_elements=[table.c.key], set_={"version": table.c.version + 1}))


def versions(session: Session, keys: tuple[str, ...]) -> tuple[int, ...]:
    """The versions of these keys now (0 for a key never bumped), in their order."""
    found = dict(session.execute(select(InboxVersion.key, InboxVersion.version)
                                 .where(InboxVersion.key.in_(keys))).all())
    return tuple(found.get(k, 0) for k in keys)


# ---------------------------------------------------------------- reading: the cache


class InboxCache:
    """A bounded map (least recently used goes first) from (what, reader, versions) to what
    was read; shared by the threads of one process."""

    def __init__(self, size: int = 2048):
        self.size = size
        self._entries: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def stamp(self, session: Session, who: Actor) -> tuple:
        """The reader and the versions of their keys, read once per session."""
        key = ("inbox_stamp", who)
        found = session.info.get(key)
        if found is None:
            found = (who, versions(session, reader_keys(who)))
            session.info[key] = found
        return found

    def get(self, session: Session, who: Actor, what: Hashable, compute: Callable[[], object],
            also: tuple[str, ...] = ()):
        """What `compute` reads for this reader, kept under the versions of their keys and of
        the keys `also` names (a partnership's page: `partnership_key`), read once a session."""
        if self.size <= 0:
            return compute()
        key = (what, self.stamp(session, who), self._versions(session, also) if also else ())
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                self.hits += 1
                return self._entries[key]
        value = compute()
        with self._lock:
            self.misses += 1
            self._entries[key] = value
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return value

    @staticmethod
    def _versions(session: Session, keys: tuple[str, ...]) -> tuple:
        found = session.info.get(("inbox_versions", keys))
        if found is None:
            found = session.info[("inbox_versions", keys)] = versions(session, keys)
        return found

    def signed_in(self, session: Session, user_id: int, day, load: Callable[[], tuple | None]):
        """The reader a session names, as `load` reads them (account, groups, partnerships,
        today's absences: `(value, actor)`, or None), kept for the day while `site` keeps its
        version: an account deactivated or signed out everywhere, a group, a membership or an
        absence changed, each bumps it. A kept reader costs one statement, which reads the
        versions of their inbox's keys with `site`'s."""
        key = ("reader", user_id, day)
        with self._lock:
            entry = self._entries.get(key) if self.size > 0 else None
            if entry is not None:
                self._entries.move_to_end(key)
        if entry is not None:
            site_at, value, who = entry
            keys = reader_keys(who)
            found = versions(session, keys)
            if found[keys.index(SITE)] == site_at:
                session.info[("inbox_stamp", who)] = (who, found)
                with self._lock:
                    self.hits += 1
                return value
        # the version first: a change committed while the reader is read is read again next time
        site_at = versions(session, (SITE,))[0]
        loaded = load()
        if loaded is None:
            return None
        value, who = loaded
        if self.size > 0:
            with self._lock:
                self.misses += 1
                self._entries[key] = (site_at, value, who)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
