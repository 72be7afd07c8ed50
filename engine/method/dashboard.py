"""The direction's dashboard: plain rows read from the projection, the partnerships and the
map. Nothing here restores a workflow."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from partnerflow.engine.access.groups import ROLES, STAGES
from partnerflow.engine.config import as_utc
from partnerflow.engine.method import registry, reminders
from partnerflow.engine.store.models import HumanTask, Partnership

EVALUATION_FORMS = ("intermediate_evaluation", "final_evaluation")
SHEET_DATES = {"intermediate_evaluation_date": "intermediate", "final_evaluation_date": "final"}


@dataclass(frozen=True)
class Count:
    key: str
    count: int


@dataclass(frozen=True)
class StageTime:
    stage: str
    tasks: int
    median_days: float
    slowest_days: float
    slowest_task_id: int
    slowest_partnership_id: int


@dataclass(frozen=True)
class Expiring:
    relationship_id: int
    partner: str
    kind: str
    convention_end: date | None
    renewal_date: date | None
    partnership_id: int | None


@dataclass(frozen=True)
class EvaluationDue:
    source: str  # task | sheet
    which: str  # intermediate | final
    due: date | None
    title: str
    partnership_id: int
    partnership_title: str
    task_id: int | None = None
    overdue: bool = False


def partnerships_per_stage(session: Session) -> list[Count]:
    """Active partnerships by stage, every stage listed in the method's order."""
    counts = dict(session.execute(select(Partnership.stage, func.count()).where(
        Partnership.status == "active").group_by(Partnership.stage)).all())
    return [Count(stage, counts.get(stage, 0)) for stage in STAGES]


def overdue_per_role(session: Session, now: datetime) -> list[Count]:
    """Open tasks past their due date, by role (roles with none left out)."""
    counts = dict(session.execute(select(HumanTask.role, func.count()).where(
        HumanTask.state == "open", HumanTask.due_at.is_not(None), HumanTask.due_at < now)
        .group_by(HumanTask.role)).all())
    order = list(ROLES)
    return [Count(role, n) for role, n in sorted(
        counts.items(), key=lambda item: (order.index(item[0]) if item[0] in order else 99,
                                          item[0] or ""))]


def conventions_expiring(session: Session, today: date, days: int = 90) -> list[Expiring]:
    """Relationships whose convention ends or must be renewed within `days` days."""
    rows = [Expiring(rel.id, partner.name, rel.kind, registry.as_day(rel.convention_end),
                     registry.as_day(rel.renewal_date), rel.partnership_id)
            for rel, partner in reminders.due_for_reminder(session, today, days)]
    return sorted(rows, key=lambda r: (_first_due(r, today, days), r.partner))


def _first_due(row: Expiring, today: date, days: int) -> date:
    dates = [d for d in (row.convention_end, row.renewal_date)
             if d and today <= d <= today + timedelta(days=days)]
    return min(dates)


def time_per_stage(session: Session, since: datetime | None = None) -> list[StageTime]:
    """How long completed tasks stayed open, by stage: median and slowest, in days."""
    query = select(HumanTask.id, HumanTask.stage, HumanTask.partnership_id, HumanTask.created_at,
                   HumanTask.completed_at).where(HumanTask.state == "completed",
                                                 HumanTask.completed_at.is_not(None),
                                                 HumanTask.stage.is_not(None))
    if since is not None:
        query = query.where(HumanTask.completed_at >= since)
    durations: dict[str, list[tuple[float, int, int]]] = {}
    for task_id, stage, partnership_id, created, completed in session.execute(query):
        days = (as_utc(completed) - as_utc(created)).total_seconds() / 86400
        durations.setdefault(stage, []).append((days, task_id, partnership_id))
    rows = []
    for stage in [s for s in STAGES if s in durations] + sorted(set(durations) - set(STAGES)):
        values = durations[stage]
        slowest = max(values, key=lambda v: (v[0], -v[1]))
        rows.append(StageTime(stage, len(values), round(statistics.median(v[0] for v in values), 2),
                              round(slowest[0], 2), slowest[1], slowest[2]))
    return rows


def evaluations_due(session: Session, today: date, days: int = 90) -> list[EvaluationDue]:
    """Open evaluation tasks (any date), and the evaluation dates of the latest action sheets
    of active partnerships that fall within `days` days; soonest first."""
    rows = [EvaluationDue("task", "intermediate" if form == "intermediate_evaluation" else "final",
                          registry.as_day(as_utc(due)) if due else None, title, pid, ptitle, task_id,
                          bool(due and as_utc(due).date() < today))
            for task_id, form, due, title, pid, ptitle in session.execute(
                select(HumanTask.id, HumanTask.form_key, HumanTask.due_at, HumanTask.title,
                       Partnership.id, Partnership.title)
                .join(Partnership, Partnership.id == HumanTask.partnership_id)
                .where(HumanTask.state == "open", HumanTask.form_key.in_(EVALUATION_FORMS)))]
    rows.extend(_sheet_dates(session, today, days))
    return sorted(rows, key=lambda r: (r.due or date.max, r.partnership_title, r.title))


def _sheet_dates(session: Session, today: date, days: int) -> list[EvaluationDue]:
    latest = (select(func.max(HumanTask.id)).where(HumanTask.form_key == "action_sheets",
                                                   HumanTask.state == "completed")
              .group_by(HumanTask.partnership_id))
    found = []
    for result, pid, ptitle in session.execute(
            select(HumanTask.result, Partnership.id, Partnership.title)
            .join(Partnership, Partnership.id == HumanTask.partnership_id)
            .where(HumanTask.id.in_(latest), Partnership.status == "active")):
        for sheet in (result or {}).get("action_sheets", []) or []:
            for name, which in SHEET_DATES.items():
                try:
                    due = registry.parse_date(sheet.get(name))
                except ValueError:
                    continue
                if due and today <= due <= today + timedelta(days=days):
                    title = sheet.get("title") or sheet.get("number") or ""
                    found.append(EvaluationDue("sheet", which, due, str(title), pid, ptitle))
    return found
