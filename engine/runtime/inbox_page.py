"""The inbox as one read: a page of the reader's open tasks with its count, the partnerships
of the filter, who must act on each row, the saved filters, and for whoever may unblock them
the tasks waiting for a partner contact. Kept in the process's inbox cache while the
versions of the reader's keys do not change (engine.runtime.inbox_cache)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .. import access
from ..config import as_utc
from . import inbox_actions, notifications, queries
from .inbox_cache import InboxCache


@dataclass(frozen=True)
class WaitingTask:
    """A task nobody may act on yet, as the inbox names it."""

    title: str
    partnership_id: int


@dataclass(frozen=True)
class SavedView:
    """A saved filter, as the inbox's chips show it."""

    id: int
    owner: str | None
    name: str
    name_en: str | None
    query: dict = field(hash=False)


@dataclass(frozen=True)
class InboxPage:
    rows: tuple
    total: int
    capped: bool  # a search counted no further than queries.SEARCH_COUNT_CAP
    partnerships: tuple[tuple[int, str], ...]
    waiting: tuple[tuple[WaitingTask, str], ...]
    who_acts: dict = field(hash=False)
    saved: tuple[SavedView, ...] = ()


def moves_with_the_clock(filters: queries.InboxFilter) -> bool:
    """The tasks these filters keep change as time passes, with no write to tell."""
    return bool(filters.overdue_only or filters.due in ("overdue", "week") or filters.age
                or filters.follow_up == "due")


def cacheable(filters: queries.InboxFilter) -> bool:
    """The page these filters show may be kept: no search (read every time, like any search)
    and no filter whose tasks change as time passes."""
    return not (filters.text or "").strip() and not moves_with_the_clock(filters)


def shown_until(rows, now: datetime) -> datetime | None:
    """The first moment after `now` at which one of these rows shows differently with no write
    to tell: a due date passes (« en retard »), an age moves to its next hour (under a day)
    or its next day. None when no row will (no due date ahead, no row)."""
    moments = []
    for row in rows:
        if row.due_at is not None and as_utc(row.due_at) > now:
            moments.append(as_utc(row.due_at))
        if row.created_at is not None:
            created = as_utc(row.created_at)
            step = HOUR if now - created < DAY else DAY
            moments.append(created + ((now - created) // step + 1) * step)
    return min(moments, default=None)


HOUR, DAY = timedelta(hours=1), timedelta(days=1)


def read(session, username: str, now: datetime, filters: queries.InboxFilter,
         cache: InboxCache | None = None) -> InboxPage:
    """The reader's inbox page; from the cache when it may be."""
    if cache is None or not cacheable(filters):
        return _read(session, username, now, filters)
    who = access.actor(session, username)
    return cache.get(session, who, ("page", filters), lambda: _read(session, username, now, filters))


def count(session, username: str, cache: InboxCache | None = None) -> int:
    """How many open tasks the reader may take (the header's badge)."""
    if cache is None:
        return queries.inbox_count(session, username)
    who = access.actor(session, username)
    return cache.get(session, who, ("count",), lambda: queries.inbox_count(session, username))


def unread_notifications(session, username: str, cache: InboxCache | None = None) -> int:
    """How many of the reader's notifications are unread (the header's other badge)."""
    if cache is None:
        return notifications.unread_count(session, username)
    who = access.actor(session, username)
    return cache.get(session, who, ("notifications",),
                     lambda: notifications.unread_count(session, username))


def _read(session, username: str, now: datetime, filters: queries.InboxFilter) -> InboxPage:
    filters = queries.with_search(session, username, filters)
    rows = queries.inbox(session, username, now, filters)
    # a search counts its matches up to a cap (« 500+ »): it reads each range no further
    cap = queries.SEARCH_COUNT_CAP if filters.matching is not None else None
    total = queries.inbox_count(session, username, filters, now, at_most=cap)
    waiting = tuple((WaitingTask(task.title, task.partnership_id), title)
                    for task, title in queries.waiting_for_contact(session, username))
    saved = tuple(SavedView(f.id, f.owner, f.name, f.name_en, dict(f.query or {}))
                  for f in inbox_actions.saved_filters(session, username))
    return InboxPage(tuple(rows), total, cap is not None and total > cap,
                     tuple(queries.inbox_partnerships(session, username)), waiting,
                     queries.who_acts(session, rows), saved)
