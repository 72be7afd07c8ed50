"""Evaluations announced ahead of their dates: the steering group gets a task to prepare
each intermediate and final evaluation of the action sheets, some days before it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select

from . import audit, services
from .clock import as_utc
from .models import AuditEvent, HumanTask, Partnership

PREPARATION_PROCESS = "evaluation_preparation"
REMINDER_EVENT = "evaluation_reminder_started"
KINDS = {"intermediate_evaluation_date": "intermédiaire", "final_evaluation_date": "finale"}


@dataclass(frozen=True)
class EvaluationReminder:
    partnership_id: int
    sheet_number: str
    kind: str
    due: date
    instance_id: int


def _latest_sheets(session) -> dict[int, list[dict]]:
    """The last validated action sheets of every active partnership."""
    rows = session.execute(
        select(HumanTask.partnership_id, HumanTask.result)
        .join(Partnership, Partnership.id == HumanTask.partnership_id)
        .where(HumanTask.form_key == "action_sheets", HumanTask.state == "completed",
               Partnership.status == "active")
        .order_by(HumanTask.id)).all()
    sheets: dict[int, list[dict]] = {}
    for partnership_id, result in rows:
        sheets[partnership_id] = list((result or {}).get("action_sheets", []))
    return sheets


def _already_started(session) -> set[tuple[int, str, str, str]]:
    events = session.scalars(select(AuditEvent).where(AuditEvent.type == REMINDER_EVENT))
    return {(e.partnership_id, str(e.payload.get("sheet")), e.payload.get("kind"), e.payload.get("due"))
            for e in events}


def _parse(value) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def start_evaluation_reminders(uow, days_ahead: int = 14, actor: str | None = None
                               ) -> list[EvaluationReminder]:
    """Start one preparation per sheet, kind and date falling within `days_ahead` days;
    running it again starts nothing new."""
    session = uow.session
    today = as_utc(uow.clock()).date()
    horizon = today + timedelta(days=days_ahead)
    started = _already_started(session)
    done: list[EvaluationReminder] = []
    for partnership_id, sheets in _latest_sheets(session).items():
        for index, sheet in enumerate(sheets, start=1):
            number = str(sheet.get("sheet_number") or index)
            for field, kind in KINDS.items():
                due = _parse(sheet.get(field))
                key = (partnership_id, number, kind, due.isoformat() if due else None)
                if due is None or not today <= due <= horizon or key in started:
                    continue
                instance_id = services.start_system_instance(
                    uow, partnership_id=partnership_id, process_key=PREPARATION_PROCESS, actor=actor,
                    data={"sheet_number": number, "sheet_title": sheet.get("title") or "",
                          "evaluation_kind": kind, "evaluation_date": due.isoformat()})
                audit.append(session, type=REMINDER_EVENT, actor=actor, at=uow.clock(),
                             partnership_id=partnership_id, instance_id=instance_id,
                             payload={"sheet": number, "kind": kind, "due": due.isoformat()})
                uow.commit()
                started.add(key)
                done.append(EvaluationReminder(partnership_id, number, kind, due, instance_id))
    return done
