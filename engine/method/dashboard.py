"""The direction's dashboard: plain rows read from the projection, the partnerships, the
map and the partnership plan. Nothing here restores a workflow."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from partnerflow.engine.access.groups import ROLES, STAGES
from partnerflow.engine.config import as_utc
from partnerflow.engine.method import plan, registry, reminders
from partnerflow.engine.store.models import (
    EvaluationDate,
    HumanTask,
    Partnership,
    TaskDuration,
    TaskDurationBucket,
    User,
)

EVALUATION_FORMS = ("intermediate_evaluation", "final_evaluation")
PLAN_SHOWN = 10  # partnerships listed under each objective of the plan (with their count)


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
    # sort_due is the due date, or far in the future when there is none: one index range
    counts = dict(session.execute(select(HumanTask.role, func.count()).where(
        HumanTask.state == "open", HumanTask.sort_due < now)
        .group_by(HumanTask.role)).all())
    order = list(ROLES)
    return [Count(role, n) for role, n in sorted(
        counts.items(), key=lambda item: (order.index(item[0]) if item[0] in order else 99,
                                          item[0] or ""))]


def conventions_expiring(session: Session, today: date, days: int = 90, *, limit: int | None = None,
                         offset: int = 0) -> list[Expiring]:
    """Relationships whose convention ends or must be renewed within `days` days, the first
    due first; `limit` and `offset` give one page (the database sorts and cuts)."""
    query = reminders.due_query(today, days)
    if limit is not None:
        query = query.limit(limit).offset(offset)
    return [Expiring(rel.id, partner.name, rel.kind, registry.as_day(rel.convention_end),
                     registry.as_day(rel.renewal_date), rel.partnership_id)
            for rel, partner in session.execute(query)]


def conventions_expiring_count(session: Session, today: date, days: int = 90) -> int:
    return session.scalar(select(func.count()).select_from(
        reminders.due_query(today, days).order_by(None).subquery())) or 0


def time_per_stage(session: Session, since: datetime) -> list[StageTime]:
    """How long the tasks completed since `since` stayed open, by stage: median and slowest,
    in days, read from the figures kept with the completions (figures.py): the stage's
    bucket counts, then one index range per middle rank and one for the slowest, whatever
    the number of tasks. `since` is at most a year back (the figures keep one year)."""
    since = as_utc(since)
    counts: dict[str, dict[int, int]] = {}
    for stage, bucket, n in session.execute(select(
            TaskDurationBucket.stage, TaskDurationBucket.bucket, TaskDurationBucket.tasks)
            .where(TaskDurationBucket.tasks > 0)):
        counts.setdefault(stage, {})[bucket] = n
    # the rows from before `since` the worker has not dropped yet (one index range, short)
    for stage, bucket in session.execute(select(TaskDuration.stage, TaskDuration.bucket)
                                         .where(TaskDuration.completed_at < since)):
        counts.setdefault(stage, {})[bucket] = counts.get(stage, {}).get(bucket, 0) - 1
    rows = []
    for stage in [s for s in STAGES if s in counts] + sorted(set(counts) - set(STAGES)):
        buckets = sorted((b, n) for b, n in counts[stage].items() if n > 0)
        total = sum(n for _, n in buckets)
        if not total:
            continue
        middle = [_at_rank(session, stage, buckets, rank, since)
                  for rank in sorted({(total + 1) // 2, (total + 2) // 2})]
        longest, task_id, pid = session.execute(
            select(TaskDuration.days, TaskDuration.task_id, TaskDuration.partnership_id)
            .where(TaskDuration.stage == stage, TaskDuration.completed_at >= since)
            .order_by(TaskDuration.bucket.desc(), TaskDuration.days.desc(), TaskDuration.task_id)
            .limit(1)).one()
        rows.append(StageTime(stage, total, round(sum(middle) / len(middle), 2), round(longest, 2),
                              task_id, pid))
    return rows


def _at_rank(session: Session, stage: str, buckets: list[tuple[int, int]], rank: int,
             since: datetime) -> float:
    """The time open of the stage's `rank`-th task (from 1, shortest first): the bucket that
    holds it from the counts, then its place within that bucket's index range."""
    before = 0
    for bucket, n in buckets:
        if rank <= before + n:
            return float(session.scalar(
                select(TaskDuration.days).where(TaskDuration.stage == stage,
                                                TaskDuration.bucket == bucket,
                                                TaskDuration.completed_at >= since)
                .order_by(TaskDuration.days).offset(rank - before - 1).limit(1)))
        before += n
    raise ValueError(f"rank {rank} beyond the {before} tasks of {stage}")


def _evaluation_tasks(forms=EVALUATION_FORMS):
    return (select(HumanTask.id, HumanTask.form_key, HumanTask.due_at, HumanTask.title,
                   Partnership.id, Partnership.title)
            .join(Partnership, Partnership.id == HumanTask.partnership_id)
            .where(HumanTask.state == "open", HumanTask.form_key.in_(forms)))


def _sheet_dates(today: date, days: int):
    """The evaluation dates of the latest action sheets of each active partnership that fall
    within `days` days, as kept with the completions (figures.py): one index range by day."""
    return (select(EvaluationDate.due.label("due"), EvaluationDate.which.label("which"),
                   EvaluationDate.title.label("title"), Partnership.id.label("pid"),
                   Partnership.title.label("ptitle"))
            .join(Partnership, Partnership.id == EvaluationDate.partnership_id)
            .where(EvaluationDate.due >= today, EvaluationDate.due <= today + timedelta(days=days),
                   Partnership.status == "active"))


def evaluations_page(session: Session, today: date, days: int = 90, *, limit: int | None = None,
                     offset: int = 0) -> tuple[list[EvaluationDue], int]:
    """Open evaluation tasks (any date), and the evaluation dates of the latest action sheets
    of active partnerships that fall within `days` days; soonest first, and how many there
    are. `limit` and `offset` give one page: each source is sorted and cut by the database
    (an index range each), counted when it fills the cut, the two merged here."""
    cut = None if limit is None else limit + offset
    # one index range per form, in due order (sort_due: the tasks without a due date last)
    by_form = [_evaluation_tasks((form,)).order_by(HumanTask.sort_due, Partnership.title,
                                                   HumanTask.title, HumanTask.id)
               for form in EVALUATION_FORMS]
    dated = _sheet_dates(today, days).order_by(EvaluationDate.due, Partnership.title,
                                               EvaluationDate.title, EvaluationDate.id)
    if cut is not None:
        by_form, dated = [tasks.limit(cut) for tasks in by_form], dated.limit(cut)
    rows, total, full = [], 0, False
    for tasks in by_form:
        found = [EvaluationDue("task", "intermediate" if form == "intermediate_evaluation" else "final",
                               registry.as_day(as_utc(due)) if due else None, title, pid, ptitle,
                               task_id, bool(due and as_utc(due).date() < today))
                 for task_id, form, due, title, pid, ptitle in session.execute(tasks)]
        rows.extend(found)
        total += len(found)
        full = full or (cut is not None and len(found) == cut)
    if full:  # every task has its partnership: the count needs no join (one index range)
        total = session.scalar(select(func.count()).select_from(HumanTask).where(
            HumanTask.state == "open", HumanTask.form_key.in_(EVALUATION_FORMS)))
    sheets = [EvaluationDue("sheet", which, due, title, pid, ptitle)
              for due, which, title, pid, ptitle in session.execute(dated)]
    rows.extend(sheets)
    in_sheets = len(sheets) if cut is None or len(sheets) < cut else session.scalar(
        select(func.count()).select_from(_sheet_dates(today, days).subquery()))
    rows.sort(key=lambda r: (r.due or date.max, r.partnership_title, r.title))
    return rows[offset:cut], total + in_sheets


def evaluations_due(session: Session, today: date, days: int = 90) -> list[EvaluationDue]:
    """Every evaluation due (evaluations_page without a limit)."""
    return evaluations_page(session, today, days)[0]


# ---------------------------------------------------------------- the partnership plan


@dataclass(frozen=True)
class PlanPartnership:
    id: int
    title: str
    stage: str
    status: str


@dataclass(frozen=True)
class PlanObjective:
    key: str
    title: str
    need: str | None
    deadline: date | None
    means: str | None
    partnerships: tuple[PlanPartnership, ...]  # the first PLAN_SHOWN, by title
    overdue: bool  # the deadline has passed
    count: int = 0  # how many partnerships name it (the list of partnerships gives them all)


@dataclass(frozen=True)
class PlanBoard:
    """The plan as the dashboard shows it: the approved plan's objectives with the
    partnerships whose idea names them, and the state of the plan's process."""

    approved: plan.ApprovedPlan | None
    objectives: tuple[PlanObjective, ...]
    without_partnership: tuple[PlanObjective, ...]
    outside_plan: int  # partnerships whose idea says "aucun / hors plan"
    carrier_id: int | None  # the plan's page
    running: bool  # the plan's process runs (drawn up, approved, or waiting for its review)
    open_task_id: int | None  # a plan task open now (drawing up, review or approval)
    open_task_title: str | None
    resistances: tuple[dict, ...] = ()  # as the plan states them
    professionals: tuple[tuple[str, str | None], ...] = ()  # (full name, what they try out)
    open_task_title_en: str | None = None  # its title in English, when the diagram gives one


def partnership_plan(session: Session, today: date) -> PlanBoard:
    """The objectives of the latest approved plan, each with the first partnerships (not
    archived) whose idea names it, how many there are, and its deadline; the objectives with
    none yet."""
    approved = plan.latest_approved(session)
    by_objective: dict[str, tuple[tuple[PlanPartnership, ...], int]] = {}
    for o in (approved.objectives if approved else ()):
        found, count = plan.partnerships_naming(session, o.key, PLAN_SHOWN)
        by_objective[o.key] = (tuple(PlanPartnership(p.id, p.title, p.stage, p.status)
                                     for p in found), count)
    outside = plan.partnerships_naming(session, plan.NO_OBJECTIVE, 0)[1]
    needs = {str(n.get("need_id") or "").strip(): n.get("need_title")
             for n in (approved.needs if approved else ()) if n.get("need_id")}
    objectives = tuple(
        PlanObjective(o.key, o.title, _needs_of(o.need, needs), o.deadline, o.means,
                      by_objective[o.key][0], bool(o.deadline and o.deadline < today),
                      by_objective[o.key][1])
        for o in (approved.objectives if approved else ()))
    found = plan.carrier(session)
    running = plan.running_instance(session)
    task = session.execute(
        select(HumanTask.id, HumanTask.title, HumanTask.title_en).where(
            HumanTask.partnership_id == found.id,
                                                    HumanTask.state == "open")
        .order_by(HumanTask.id.desc()).limit(1)).first() if found is not None else None
    named_people = {row.get("professional") for row in (approved.professionals if approved else ())
                    if isinstance(row.get("professional"), str) and row.get("professional")}
    names = dict(session.execute(select(User.username, User.full_name).where(
        User.username.in_(named_people))).all()) if named_people else {}
    professionals = tuple((names.get(row.get("professional"), row.get("professional")) or "",
                           row.get("professional_contribution"))
                          for row in (approved.professionals if approved else ()))
    return PlanBoard(approved, objectives, tuple(o for o in objectives if not o.count),
                     outside,
                     found.id if found is not None else None, running is not None,
                     task[0] if task else None, task[1] if task else None,
                     approved.resistances if approved else (), professionals,
                     open_task_title_en=task[2] if task else None)


def _needs_of(text: str | None, needs: dict[str, str | None]) -> str | None:
    """An objective's needs as written ("B1, B2"), each reference with its need's title."""
    if not text:
        return None
    parts = [p.strip() for p in re.split(r"[,;]| et ", text) if p.strip()]
    if not parts or any(p not in needs for p in parts):
        return text  # free text, kept as written
    return " ; ".join(f"{p} — {needs[p]}" if needs[p] else p for p in parts)
