"""The dashboard's figures kept as they change, so that the dashboard reads what it shows and
not every task of the year.

- The time per stage: a completed task of a stage writes its time open (`task_duration`, one
  row) and adds one to its bucket of the stage's histogram (`task_duration_bucket`: buckets
  10 % wide on a log scale, about 170 in all). The median is then read as a rank: the bucket
  counts say which bucket holds the middle task(s), and one index range of that bucket
  gives the exact value; the slowest is the end of the stage's index range. The year shown
  slides: the worker drops the rows completed more than a year ago (`expire`, with their
  counts), and a read subtracts the few rows the worker has not yet dropped, so the figures
  are exact at any moment.
- The evaluation dates of each partnership's latest action sheets (`evaluation_date`):
  replaced when a round of sheets is completed; the dashboard reads one index range by date.

Both are written by the handler of the completion (`task_completed`, registered by the
method's plugin), in the completion's transaction. `rebuild` recomputes them from the task
rows, for rows written in bulk without completions (an import, the benchmarks).
"""

from __future__ import annotations

import math
from datetime import date, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from partnerflow.engine.config import as_utc
from partnerflow.engine.store.models import (
    EvaluationDate,
    HumanTask,
    TaskDuration,
    TaskDurationBucket,
)

DURATION_WINDOW = timedelta(days=365)  # the time per stage is over the tasks of the last year
SHEETS_FORM = "action_sheets"
SHEET_DATES = {"intermediate_evaluation_date": "intermediate", "final_evaluation_date": "final"}
MINUTES_PER_DAY = 1440
BUCKET_GROWTH = math.log(1.1)  # each bucket 10 % wider than the one before


def bucket_of(days: float) -> int:
    """The histogram bucket of a time open: 0 under a minute, then 10 % wide buckets (a task
    open ten years is in bucket 163)."""
    minutes = days * MINUTES_PER_DAY
    if minutes < 1:
        return 0
    return 1 + int(math.log(minutes) / BUCKET_GROWTH)


def days_open(task: HumanTask) -> float:
    return (as_utc(task.completed_at) - as_utc(task.created_at)).total_seconds() / 86400.0


# ---------------------------------------------------------------- written with the completion


def task_completed(uow, event) -> None:
    """Handler of events.TaskCompleted: the task's time open and, for action sheets, the
    partnership's evaluation dates."""
    record_task(uow.session, event.task)


def record_task(session: Session, task: HumanTask) -> None:
    if task.stage and task.completed_at is not None and task.created_at is not None:
        days = days_open(task)
        session.add(TaskDuration(task_id=task.id, partnership_id=task.partnership_id,
                                 stage=task.stage, bucket=bucket_of(days), days=days,
                                 completed_at=task.completed_at))
        count_in(session, [(task.stage, bucket_of(days), 1)])
    if task.form_key == SHEETS_FORM:
        _replace_sheet_dates(session, task)


def count_in(session: Session, changes: list[tuple[str, int, int]]) -> None:
    """Add `delta` to the count of each (stage, bucket): one upsert per bucket, so that two
    completions of the same bucket at once both count (the row is locked, not read)."""
    if not changes:
        return
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for stage, bucket, delta in changes:
        statement = insert(TaskDurationBucket).values(stage=stage, bucket=bucket, tasks=delta)
        session.execute(statement.on_conflict_do_update(
            index_elements=["stage", "bucket"],
            set_={"tasks": TaskDurationBucket.tasks + statement.excluded.tasks}))


def sheet_dates(result: dict | None) -> list[tuple[str, date, str]]:
    """The evaluation dates a round of action sheets gives: (which, day, sheet title); a date
    that is not a day of the calendar in ISO form is left out."""
    sheets = (result or {}).get("action_sheets") if isinstance(result, dict) else None
    found = []
    for sheet in sheets if isinstance(sheets, list) else ():
        if not isinstance(sheet, dict):
            continue
        title = sheet.get("title") or sheet.get("number") or ""
        for field, which in SHEET_DATES.items():
            value = sheet.get(field)
            if not isinstance(value, str) or len(value) != 10:
                continue
            try:
                day = date.fromisoformat(value)
            except ValueError:
                continue
            found.append((which, day, str(title)))
    return found


def _replace_sheet_dates(session: Session, task: HumanTask) -> None:
    """The partnership's dates become those of this round, unless a later round is already
    completed (the latest round is the completed task of the highest id)."""
    later = session.scalar(select(HumanTask.id).where(
        HumanTask.partnership_id == task.partnership_id, HumanTask.form_key == SHEETS_FORM,
        HumanTask.state == "completed", HumanTask.id > task.id).limit(1))
    if later is not None:
        return
    session.execute(delete(EvaluationDate).where(EvaluationDate.partnership_id == task.partnership_id))
    session.add_all(EvaluationDate(partnership_id=task.partnership_id, task_id=task.id, which=which,
                                   due=day, title=title[:300])
                    for which, day, title in sheet_dates(task.result))


# ---------------------------------------------------------------- the year slides


def expire(uow) -> int:
    """Worker job: drop the times of the tasks completed more than a year ago, with their
    counts. Returns 0: it starts nothing."""
    session = uow.session
    since = as_utc(uow.clock()) - DURATION_WINDOW
    gone = session.execute(select(TaskDuration.stage, TaskDuration.bucket, func.count())
                           .where(TaskDuration.completed_at < since)
                           .group_by(TaskDuration.stage, TaskDuration.bucket)).all()
    if gone:
        count_in(session, [(stage, bucket, -n) for stage, bucket, n in gone])
        session.execute(delete(TaskDuration).where(TaskDuration.completed_at < since))
        session.execute(delete(TaskDurationBucket).where(TaskDurationBucket.tasks <= 0))
    return 0


# ---------------------------------------------------------------- rows written in bulk


def rebuild(session: Session, now) -> None:
    """Recompute the figures from the task rows (the tasks of a stage completed within the
    year before `now`, the latest action sheets of each partnership): after rows were
    written without completions."""
    session.execute(delete(TaskDuration))
    session.execute(delete(TaskDurationBucket))
    session.execute(delete(EvaluationDate))
    counts: dict[tuple[str, int], int] = {}
    durations = []
    for task_id, pid, stage, created, completed in session.execute(
            select(HumanTask.id, HumanTask.partnership_id, HumanTask.stage, HumanTask.created_at,
                   HumanTask.completed_at)
            .where(HumanTask.state == "completed", HumanTask.stage.is_not(None),
                   HumanTask.completed_at >= as_utc(now) - DURATION_WINDOW)):
        days = (as_utc(completed) - as_utc(created)).total_seconds() / 86400.0
        durations.append({"task_id": task_id, "partnership_id": pid, "stage": stage,
                          "bucket": bucket_of(days), "days": days, "completed_at": completed})
        key = (stage, bucket_of(days))
        counts[key] = counts.get(key, 0) + 1
    if durations:
        session.execute(TaskDuration.__table__.insert(), durations)
        session.execute(TaskDurationBucket.__table__.insert(), [
            {"stage": stage, "bucket": bucket, "tasks": n} for (stage, bucket), n in counts.items()])
    latest = (select(func.max(HumanTask.id)).where(HumanTask.form_key == SHEETS_FORM,
                                                   HumanTask.state == "completed")
              .group_by(HumanTask.partnership_id))
    dates = [{"partnership_id": pid, "task_id": task_id, "which": which, "due": day,
              "title": title[:300]}
             for task_id, pid, result in session.execute(
                 select(HumanTask.id, HumanTask.partnership_id, HumanTask.result)
                 .where(HumanTask.id.in_(latest)))
             for which, day, title in sheet_dates(result)]
    if dates:
        session.execute(EvaluationDate.__table__.insert(), dates)
