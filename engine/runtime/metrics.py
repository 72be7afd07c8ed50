"""What the operators watch, as figures read from the database at the time of asking: open
and overdue tasks, open incidents, timers due and not yet fired, new tasks not yet
announced, e-mails waiting, instances by status, and how long ago each worker last finished
a round (its lag)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from partnerflow.engine.config import as_utc
from partnerflow.engine.store.models import (
    HumanTask,
    Incident,
    Notification,
    ProcessInstance,
    WorkerHeartbeat,
)


@dataclass(frozen=True)
class Figures:
    open_tasks: int
    overdue_tasks: int
    open_incidents: int
    timers_due: int
    tasks_unannounced: int  # new tasks the worker has not told anyone of yet (its backlog)
    emails_pending: int
    instances: dict[str, int]  # status -> count
    # worker -> (seconds since its last round ended, how long that round took in seconds)
    workers: dict[str, tuple[float, float]]


def _count(session: Session, *where) -> int:
    return int(session.scalar(select(func.count()).where(*where)) or 0)


def figures(session: Session, now: datetime) -> Figures:
    open_tasks = HumanTask.state == "open"
    return Figures(
        open_tasks=_count(session, open_tasks),
        overdue_tasks=_count(session, open_tasks, HumanTask.due_at.is_not(None), HumanTask.due_at < now),
        open_incidents=_count(session, Incident.resolved_at.is_(None)),
        timers_due=_count(session, ProcessInstance.status == "running",
                          ProcessInstance.next_timer_at.is_not(None),
                          ProcessInstance.next_timer_at <= now),
        tasks_unannounced=_count(session, HumanTask.announced.is_(False)),
        emails_pending=_count(session, Notification.email_status == "pending"),
        instances=dict(session.execute(select(ProcessInstance.status, func.count())
                                       .group_by(ProcessInstance.status)).all()),
        workers={row.worker: (max(0.0, (now - as_utc(row.beat_at)).total_seconds()),
                              row.round_ms / 1000)
                 for row in session.scalars(select(WorkerHeartbeat))})
