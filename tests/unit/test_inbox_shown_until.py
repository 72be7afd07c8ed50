"""When a kept inbox page starts to show differently with no write to tell: the first due
date ahead, or the next hour (under a day old) or day of a row's age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from partnerflow.engine.runtime.inbox_page import shown_until

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def row(created_ago: timedelta, due_in: timedelta | None = None, naive: bool = False):
    created = NOW - created_ago
    due = NOW + due_in if due_in is not None else None
    if naive:  # as SQLite gives them back
        created, due = created.replace(tzinfo=None), due and due.replace(tzinfo=None)
    return SimpleNamespace(created_at=created, due_at=due)


def test_no_row_shows_nothing_new():
    assert shown_until([], NOW) is None


def test_a_fresh_task_changes_at_its_next_hour_an_older_one_at_its_next_day():
    assert shown_until([row(timedelta(minutes=20))], NOW) == NOW + timedelta(minutes=40)
    assert shown_until([row(timedelta(hours=5, minutes=1))], NOW) == NOW + timedelta(minutes=59)
    assert shown_until([row(timedelta(days=3, hours=2))], NOW) == NOW + timedelta(hours=22)
    # the 24th hour is the first day
    assert shown_until([row(timedelta(hours=23, minutes=30))], NOW) == NOW + timedelta(minutes=30)


def test_the_first_due_date_ahead_counts_and_one_already_past_does_not():
    rows = [row(timedelta(days=3), due_in=timedelta(hours=2)),
            row(timedelta(days=3), due_in=timedelta(minutes=-5)),
            row(timedelta(days=3), due_in=timedelta(hours=1), naive=True)]
    assert shown_until(rows, NOW) == NOW + timedelta(hours=1)


def test_the_earliest_of_every_row_wins():
    rows = [row(timedelta(days=2)), row(timedelta(minutes=59, seconds=30)),
            row(timedelta(days=1), due_in=timedelta(hours=3))]
    assert shown_until(rows, NOW) == NOW + timedelta(seconds=30)
