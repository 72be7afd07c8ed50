"""Things announced ahead of their dates: conventions to renew (a task for the direction,
90 days before) and evaluations of the action sheets (a task for the steering group, some
days before). The worker and `partnerflow reminders` start them; each starts once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import and_, case, or_, select
from sqlalchemy.orm import Session, aliased

from partnerflow.engine import audit
from partnerflow.engine.config import as_utc
from partnerflow.engine.method import registry
from partnerflow.engine.runtime import services
from partnerflow.engine.runtime.deployment import latest_version
from partnerflow.engine.store.models import (
    AuditEvent,
    HumanTask,
    Organisation,
    Partnership,
    PartnershipOrganisation,
    Relationship,
)

PREPARATION_PROCESS = "evaluation_preparation"
REMINDER_EVENT = "evaluation_reminder_started"
RENEWAL_PROCESS = "convention_renewal"
RENEWAL_EVENT = "renewal_reminder_started"
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


# ---------------------------------------------------------------- conventions to renew


@dataclass(frozen=True)
class Reminder:
    relationship_id: int
    partnership_id: int
    instance_id: int
    due: date


def due_query(today: date, days_ahead: int = 90):
    """(relationship, partner) of the relationships not archived whose renewal date or
    convention end falls within the window, the first of those dates first."""
    start, end = registry.as_moment(today), registry.as_moment(today + timedelta(days=days_ahead))
    renewal_in = Relationship.renewal_date.between(start, end)
    end_in = Relationship.convention_end.between(start, end)
    first = case((and_(renewal_in, or_(Relationship.convention_end.is_(None), ~end_in,
                                       Relationship.renewal_date <= Relationship.convention_end)),
                  Relationship.renewal_date), else_=Relationship.convention_end)
    partner = aliased(Organisation)
    return (select(Relationship, partner).join(partner, partner.id == Relationship.partner_id)
            .where(Relationship.archived.is_(False), or_(renewal_in, end_in))
            .order_by(first, partner.name, Relationship.id))


def due_for_reminder(session: Session, today: date, days_ahead: int = 90):
    """Relationships whose renewal date or convention end falls within the window."""
    return session.execute(due_query(today, days_ahead).order_by(None)
                           .order_by(Relationship.id)).all()


def _reminders_started(session: Session) -> set[tuple[int, str]]:
    payloads = session.scalars(select(AuditEvent.payload).where(AuditEvent.type == RENEWAL_EVENT))
    return {(p.get("relationship_id"), p.get("due")) for p in payloads}


def _due_date(rel: Relationship, today: date, days_ahead: int) -> date:
    window = [d for d in (registry.as_day(rel.renewal_date), registry.as_day(rel.convention_end))
              if d and today <= d <= today + timedelta(days=days_ahead)]
    return min(window)


def start_due_reminders(uow, days_ahead: int = 90, actor: str | None = None) -> list[Reminder]:
    """Start the convention renewal process for every relationship due within `days_ahead`
    days that has no reminder for that date yet; its task reaches the direction's inbox.

    Idempotent: one reminder per relationship and due date. A relationship without a
    partnership gets one (of the relationship's kind) to carry the process instance."""
    session = uow.session
    today = as_utc_day(uow.clock())
    started = _reminders_started(session)
    version = None
    done: list[Reminder] = []
    for rel, partner in due_for_reminder(session, today, days_ahead):
        due = _due_date(rel, today, days_ahead)
        if (rel.id, due.isoformat()) in started:
            continue
        if version is None:  # fail before creating anything when the process is missing
            version = latest_version(session, RENEWAL_PROCESS)
        partnership = _partnership_for(uow, rel, partner, actor)
        data = {"relationship_id": rel.id, "partner_name": partner.name,
                "relationship_kind": rel.kind, "renewal_due": due.isoformat(),
                "convention_end": registry._public_value(rel.convention_end),
                "renewal_date": registry._public_value(rel.renewal_date)}
        instance_id = services.start_system_instance(
            uow, partnership_id=partnership.id, process_key=RENEWAL_PROCESS, data=data, actor=actor)
        audit.append(session, type=RENEWAL_EVENT, actor=actor, at=uow.clock(),
                     partnership_id=partnership.id, instance_id=instance_id,
                     payload={"relationship_id": rel.id, "due": due.isoformat()})
        uow.commit()
        done.append(Reminder(rel.id, partnership.id, instance_id, due))
    return done


def as_utc_day(moment: datetime) -> date:
    return (moment if moment.tzinfo is None else moment.astimezone(UTC)).date()


def _partnership_for(uow, rel: Relationship, partner: Organisation, actor: str | None) -> Partnership:
    session = uow.session
    if rel.partnership_id is not None:
        return session.get(Partnership, rel.partnership_id)
    labels = {"network": "Réseau", "cooperation": "Coopération", "partnership": "Partenariat"}
    partnership = Partnership(title=f"{labels.get(rel.kind, 'Partenariat')} avec {partner.name}"[:300],
                              kind=rel.kind, stage="realisation", status="active",
                              formalisation_level=rel.formalisation_level,
                              organisation_id=rel.organisation_id, created_by=actor,
                              created_at=uow.clock())
    session.add(partnership)
    session.flush()
    session.add(PartnershipOrganisation(partnership_id=partnership.id, organisation_id=partner.id))
    rel.partnership_id = partnership.id
    audit.append(session, type="partnership_created", actor=actor, at=uow.clock(),
                 partnership_id=partnership.id,
                 payload={"title": partnership.title, "kind": rel.kind, "relationship_id": rel.id})
    return partnership


def start_all(uow, actor: str | None = None) -> int:
    """Every reminder due today (renewals, evaluations); how many were started."""
    return len(start_due_reminders(uow, actor=actor)) + len(start_evaluation_reminders(uow, actor=actor))
