"""The direction's dashboard: plain rows read from the projection, the partnerships, the
map and the partnership plan. Nothing here restores a workflow."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import case, func, literal, literal_column, or_, select, true
from sqlalchemy.orm import Session

from partnerflow.engine.access.groups import ROLES, STAGES
from partnerflow.engine.config import as_utc
from partnerflow.engine.method import plan, registry, reminders
from partnerflow.engine.store.models import HumanTask, Partnership, User

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


def _days_open(dialect: str):
    """A completed task's time open, in days, as the database computes it."""
    if dialect == "postgresql":
        return func.extract("epoch", HumanTask.completed_at - HumanTask.created_at) / 86400.0
    return func.julianday(HumanTask.completed_at) - func.julianday(HumanTask.created_at)


def time_per_stage(session: Session, since: datetime | None = None) -> list[StageTime]:
    """How long completed tasks stayed open, by stage: median and slowest, in days. The
    database computes both (window functions), whatever the number of tasks."""
    days = _days_open(session.get_bind().dialect.name).label("days")
    where = [HumanTask.state == "completed", HumanTask.completed_at.is_not(None),
             HumanTask.stage.is_not(None)]
    if since is not None:
        where.append(HumanTask.completed_at >= since)
    # one sort per stage: by time open, the longest last (of equal times, the first task
    # last); the middle row(s) give the median, the last row the slowest
    timed = select(HumanTask.stage.label("stage"), HumanTask.id.label("id"),
                   HumanTask.partnership_id.label("pid"), days).where(*where).subquery()
    ranked = select(
        timed, func.row_number().over(partition_by=timed.c.stage,
                                      order_by=(timed.c.days, timed.c.id.desc())).label("rn"),
        func.count().over(partition_by=timed.c.stage).label("n"),
    ).subquery()
    middle = or_(ranked.c.rn == (ranked.c.n + 1) // 2, ranked.c.rn == (ranked.c.n + 2) // 2)
    last = ranked.c.rn == ranked.c.n
    # per stage, the one or two middle rows and the slowest row (at most 3 rows)
    picked: dict[str, dict] = {}
    for stage, n, d, task_id, pid, is_middle, is_slowest in session.execute(
            select(ranked.c.stage, ranked.c.n, ranked.c.days, ranked.c.id, ranked.c.pid,
                   middle.label("is_middle"), last.label("is_slowest"))
            .where(or_(middle, last))):
        found = picked.setdefault(stage, {"n": n, "middle": []})
        if is_middle:
            found["middle"].append(float(d))
        if is_slowest:
            found["slowest"] = (float(d), task_id, pid)
    medians = {stage: (p["n"], sum(p["middle"]) / len(p["middle"])) for stage, p in picked.items()}
    slowest = {stage: p["slowest"] for stage, p in picked.items()}
    rows = []
    for stage in [s for s in STAGES if s in medians] + sorted(set(medians) - set(STAGES)):
        count, median = medians[stage]
        longest, task_id, pid = slowest[stage]
        rows.append(StageTime(stage, count, round(median, 2), round(longest, 2), task_id, pid))
    return rows


def _evaluation_tasks(today: date):
    return (select(HumanTask.id, HumanTask.form_key, HumanTask.due_at, HumanTask.title,
                   Partnership.id, Partnership.title)
            .join(Partnership, Partnership.id == HumanTask.partnership_id)
            .where(HumanTask.state == "open", HumanTask.form_key.in_(EVALUATION_FORMS)))


def _sheet_dates(session: Session, today: date, days: int):
    """The evaluation dates of the latest action sheets of each active partnership that fall
    within `days` days: (day as written, which, title, partnership id, partnership title),
    read inside the database from the sheets' JSON (the form stores ISO dates)."""
    latest = (select(func.max(HumanTask.id)).where(HumanTask.form_key == "action_sheets",
                                                   HumanTask.state == "completed")
              .group_by(HumanTask.partnership_id))
    if session.get_bind().dialect.name == "postgresql":
        sheets = HumanTask.result["action_sheets"]
        sheet = func.jsonb_array_elements(case(
            (func.jsonb_typeof(sheets) == "array", sheets), else_=literal_column("'[]'::jsonb"))
        ).table_valued("value").alias("sheet")
        field = func.jsonb_each_text(case(
            (func.jsonb_typeof(sheet.c.value) == "object", sheet.c.value),
            else_=literal_column("'{}'::jsonb"))).table_valued("key", "value").alias("field")
        title = func.coalesce(sheet.c.value.op("->>")("title"), sheet.c.value.op("->>")("number"), "")
    else:
        sheet = func.json_each(HumanTask.result, "$.action_sheets").table_valued(
            "value", "type").alias("sheet")
        # each field of each sheet as a row: the dates are compared without parsing the
        # sheet again for each comparison
        field = func.json_each(case((sheet.c.type == "object", sheet.c.value), else_="{}")
                               ).table_valued("key", "value").alias("field")
        title = func.coalesce(func.json_extract(sheet.c.value, "$.title"),
                              func.json_extract(sheet.c.value, "$.number"), "")
    first, last = today.isoformat(), (today + timedelta(days=days)).isoformat()
    which = case(*((field.c.key == name, literal(kind)) for name, kind in SHEET_DATES.items()))
    return (select(field.c.value.label("due"), which.label("which"), title.label("title"),
                   Partnership.id.label("pid"), Partnership.title.label("ptitle"))
            .select_from(HumanTask).join(sheet, true()).join(field, true())
            .join(Partnership, Partnership.id == HumanTask.partnership_id)
            .where(HumanTask.id.in_(latest), Partnership.status == "active",
                   field.c.key.in_(list(SHEET_DATES)), field.c.value.like("____-__-__"),
                   field.c.value >= first, field.c.value <= last)).subquery()


def evaluations_page(session: Session, today: date, days: int = 90, *, limit: int | None = None,
                     offset: int = 0) -> tuple[list[EvaluationDue], int]:
    """Open evaluation tasks (any date), and the evaluation dates of the latest action sheets
    of active partnerships that fall within `days` days; soonest first, and how many there
    are. `limit` and `offset` give one page: each source is sorted, counted and cut by the
    database (the sheets read once), the two merged here."""
    cut = None if limit is None else limit + offset
    tasks = _evaluation_tasks(today).order_by(
        HumanTask.due_at.is_(None), HumanTask.due_at, Partnership.title, HumanTask.title, HumanTask.id)
    sheets = _sheet_dates(session, today, days)
    dated = select(sheets, func.count().over().label("total")).order_by(
        sheets.c.due, sheets.c.ptitle, sheets.c.title)
    if cut is not None:
        tasks, dated = tasks.limit(cut), dated.limit(cut)
    rows = [EvaluationDue("task", "intermediate" if form == "intermediate_evaluation" else "final",
                          registry.as_day(as_utc(due)) if due else None, title, pid, ptitle, task_id,
                          bool(due and as_utc(due).date() < today))
            for task_id, form, due, title, pid, ptitle in session.execute(tasks)]
    total = len(rows) if cut is None or len(rows) < cut else session.scalar(
        select(func.count()).select_from(_evaluation_tasks(today).subquery()))
    in_sheets = 0
    for due, which, title, pid, ptitle, in_sheets in session.execute(dated):  # noqa: B007
        try:
            rows.append(EvaluationDue("sheet", which, date.fromisoformat(due), str(title), pid, ptitle))
        except ValueError:  # not a day of the calendar
            continue
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
    partnerships: tuple[PlanPartnership, ...]
    overdue: bool  # the deadline has passed


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
    """The objectives of the latest approved plan, each with the partnerships (not archived)
    whose idea names it and its deadline; the objectives with none yet."""
    approved = plan.latest_approved(session)
    named = plan.objectives_named(session)
    by_objective: dict[str, list[PlanPartnership]] = {}
    if named:
        for p in session.scalars(select(Partnership).where(
                Partnership.id.in_(list(named)), Partnership.status != "archived",
                Partnership.kind != plan.PLAN_KIND).order_by(Partnership.title, Partnership.id)):
            by_objective.setdefault(named[p.id], []).append(
                PlanPartnership(p.id, p.title, p.stage, p.status))
    needs = {str(n.get("need_id") or "").strip(): n.get("need_title")
             for n in (approved.needs if approved else ()) if n.get("need_id")}
    objectives = tuple(
        PlanObjective(o.key, o.title, _needs_of(o.need, needs), o.deadline, o.means,
                      tuple(by_objective.get(o.key, ())), bool(o.deadline and o.deadline < today))
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
    return PlanBoard(approved, objectives, tuple(o for o in objectives if not o.partnerships),
                     len(by_objective.get(plan.NO_OBJECTIVE, ())),
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
