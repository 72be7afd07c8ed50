"""Notifications: who hears about a task, in the app at once and by e-mail later.

Rows are written in the same transaction as the task they speak of (so a notification
exists exactly when its task does); e-mails are sent afterwards by the worker, one row
per short transaction, retried with backoff. Nothing here may stop a workflow: building
a notification never raises into the use case that called it (see `_safely`).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from email.message import EmailMessage
from typing import Protocol

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from partnerflow.engine import access, audit
from partnerflow.engine.config import Settings, as_utc
from partnerflow.engine.errors import NotFound
from partnerflow.engine.runtime import inbox_cache
from partnerflow.engine.store.models import (
    HumanTask,
    Notification,
    Partnership,
    ProcessInstance,
    User,
)

log = logging.getLogger(__name__)

# Wait before the next attempt after the 1st, 2nd, 3rd, 4th failure; the 5th failure is final.
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
MAX_ATTEMPTS = len(BACKOFF) + 1

TEMPLATES: dict[str, tuple[str, str]] = {
    "task_assigned": (
        "Nouvelle tâche : {title}",
        "Bonjour {name},\n\nUne tâche vous attend dans le partenariat « {partnership} » :\n"
        "« {title} »{due}.\n\nPour la traiter : {url}\n",
    ),
    "task_overdue": (
        "Tâche en retard : {title}",
        "Bonjour {name},\n\nLa tâche « {title} » du partenariat « {partnership} » devait être "
        "traitée{due}. Elle est toujours ouverte.\n\nPour la traiter : {url}\n",
    ),
    "escalation": (
        "Escalade : « {title} » attend une décision",
        "Bonjour {name},\n\nLa tâche « {title} » du partenariat « {partnership} » attend une "
        "décision depuis plusieurs jours ; l'escalade a été consignée dans le journal.\n"
        "Merci de veiller à ce qu'elle soit traitée : {url}\n",
    ),
    "instance_failed": (
        "Incident : {title}",
        "Bonjour {name},\n\nUne étape du partenariat « {partnership} » n'a pas pu s'exécuter : "
        "{title}.\nLe processus est arrêté ; les réponses saisies sont gardées. Après correction, "
        "il peut être relancé depuis la page du partenariat : {url}\n",
    ),
    "task_waiting": (
        "En attente d'un interlocuteur : {title}",
        "Bonjour {name},\n\nLa tâche « {title} » du partenariat « {partnership} » vient de "
        "s'ouvrir, mais personne ne peut la traiter : aucun interlocuteur n'est rattaché pour "
        "le groupe auquel elle est proposée.\nPour la débloquer, rattachez un contact depuis la "
        "page du partenariat : {url}\n",
    ),
    "reminder": (
        "Relance : {title}",
        "Bonjour {name},\n\nPetit rappel : la tâche « {title} » du partenariat « {partnership} » "
        "attend toujours votre décision.\n\nPour la traiter : {url}\n",
    ),
    "comment_added": (
        "Nouveau commentaire : {title}",
        "Bonjour {name},\n\n{author} a écrit un commentaire ({visibility}) sur « {title} », "
        "partenariat « {partnership} » :\n\n{excerpt}\n\nPour lire le fil et répondre : {url}\n",
    ),
    "opinion_requested": (
        "Votre avis est demandé : {title}",
        "Bonjour {name},\n\n{author} vous demande votre avis sur la tâche « {title} » du "
        "partenariat « {partnership} » :\n\n{excerpt}\n\nLa tâche attend votre réponse ; "
        "pour la donner : {url}\n",
    ),
    "opinion_given": (
        "Avis reçu : {title}",
        "Bonjour {name},\n\n{author} a donné son avis sur la tâche « {title} » du partenariat "
        "« {partnership} »{recommendation} :\n\n{excerpt}\n\nLa tâche vous revient ; pour la "
        "terminer : {url}\n",
    ),
    "opinion_withdrawn": (
        "Demande d'avis retirée : {title}",
        "Bonjour {name},\n\n{author} a retiré la demande d'avis qu'il vous avait adressée sur "
        "la tâche « {title} » du partenariat « {partnership} ». Vous n'avez plus à répondre.\n",
    ),
    "deputy_named": (
        "Remplacement : {author} du {starts} au {ends}",
        "Bonjour {name},\n\n{author} sera absent(e) du {starts} au {ends} et vous a désigné(e) "
        "pour le ou la remplacer : pendant cette période, ses tâches vous sont aussi proposées "
        "dans « Mes tâches » et ses notifications vous sont copiées.\n\n{url}\n",
    ),
}
# added to what a deputy receives for an absent colleague
DEPUTY_NOTE = ("\n(Vous recevez ce message en remplacement de {absent}, absent(e) jusqu'au "
               "{until:%d/%m/%Y}.)\n")
SIGNATURE = "\n—\nPartnerflow · la démarche partenariale\n"
DIGEST_SUBJECT = "Partnerflow : {count} notification(s) non lue(s)"
DIGEST_INTRO = "Bonjour {name},\n\nVoici ce qui s'est passé depuis votre dernier récapitulatif :\n\n"
DIGEST_FOOTER = "\nToutes vos notifications : {url}\n"


# ---------------------------------------------------------------- e-mail transport


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str) -> None: ...


@dataclass
class SmtpMailer:
    """Plain-text mail over SMTP (STARTTLS when asked), one connection per message. After
    STARTTLS the server's certificate and name are verified, against the CAs of
    PARTNERFLOW_SMTP_CA_FILE if set, else the system's."""

    settings: Settings
    timeout_s: float = 15.0

    def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.settings.mail_from
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        with smtplib.SMTP(self.settings.smtp_host, self.settings.smtp_port,
                          timeout=self.timeout_s) as smtp:
            if self.settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context(
                    cafile=self.settings.smtp_ca_file))
            if self.settings.smtp_user:
                smtp.login(self.settings.smtp_user, self.settings.smtp_password or "")
            smtp.send_message(message)


def mailer_for(settings: Settings) -> Mailer | None:
    return SmtpMailer(settings) if settings.smtp_host else None


# ---------------------------------------------------------------- who hears about a task


def recipients_for_task(session: Session, task: HumanTask) -> list[User]:
    """Whoever may act on the task now (access policy, `act`): its assignee or claimer, else
    every active user it is offered to; a partner hears only of their own partnerships."""
    return access.users_who_may(session, "act", task)


def direction(session: Session) -> list[User]:
    """The active members of the direction."""
    return list(session.scalars(select(User).where(access.members_clause(access.DIRECTION))
                                .order_by(User.username)))


_direction = direction


# ---------------------------------------------------------------- writing notifications


def _initial_delivery(settings: Settings, user: User, now: datetime) -> tuple[str, datetime | None]:
    if not settings.smtp_host or not user.email:
        return "skipped", None
    if user.email_digest:
        return "digest", None
    return "pending", now


def local(moment: datetime, settings: Settings) -> datetime:
    """A stored (UTC) moment on the site's clock (PARTNERFLOW_TIMEZONE), as pages show it."""
    from zoneinfo import ZoneInfo

    return as_utc(moment).astimezone(ZoneInfo(settings.timezone))


def _due_text(task: HumanTask | None, kind: str, settings: Settings) -> str:
    due = local(task.due_at, settings) if task is not None and task.due_at else None
    if due is None:
        return ""
    return f" pour le {due:%d/%m/%Y}" if kind == "task_assigned" else f" avant le {due:%d/%m/%Y}"


def notify(session: Session, settings: Settings, users: Iterable[User], *, kind: str,
           partnership: Partnership | None, task: HumanTask | None, now: datetime,
           title: str | None = None, link: str | None = None, extra: dict | None = None,
           exclude: Iterable[str] = ()) -> list[Notification]:
    """One notification per user (each user once), subject and body from TEMPLATES; `extra`
    fills the template's other fields. A user away today has it copied to their deputy
    (access.deputies_of); nobody in `exclude` (the author of what is told) gets one."""
    subject_t, body_t = TEMPLATES[kind]
    link = link or (f"/taches/{task.id}" if task is not None and task.id else "/notifications")
    skip = set(exclude)
    users = [u for u in users if u.username not in skip]
    deputies = access.deputies_of(session, [u.username for u in users])
    written, seen = [], set()
    for user, note in [*((u, "") for u in users),
                       *((deputy, DEPUTY_NOTE.format(absent=absent, until=until))
                         for absent, (deputy, until) in deputies.items())]:
        if user.username in seen or user.username in skip:
            continue
        seen.add(user.username)
        fields = {"name": user.full_name or user.username, "title": title or (task.title if task else ""),
                  "partnership": partnership.title if partnership else "",
                  "due": _due_text(task, kind, settings),
                  "url": settings.base_url.rstrip("/") + link, **(extra or {})}
        status, next_at = _initial_delivery(settings, user, now)
        subject = subject_t.format(**fields)
        if partnership is not None and partnership.title not in subject:
            subject += f" — {partnership.title}"  # an inbox of subjects says which partnership
        row = Notification(username=user.username, kind=kind, subject=subject[:300],
                           body=body_t.format(**fields) + note + SIGNATURE, link=link[:300],
                           partnership_id=partnership.id if partnership else None,
                           task_id=task.id if task is not None else None, created_at=now,
                           email_status=status, attempts=0, next_attempt_at=next_at)
        session.add(row)
        written.append(row)
    return written


def _safely(what: str, fn: Callable[[], object]) -> None:
    """Run a notification step; a failure is logged, never raised into the workflow."""
    try:
        fn()
    except Exception:  # noqa: BLE001 - notifications must never stop a workflow
        log.exception("notification step '%s' failed; the workflow goes on", what)


def announce_new_tasks(uow, *, limit: int = 200) -> int:
    """The worker tells whoever may take each new task (or, when nobody may, the people who
    can unblock it); commits.

    Completing a task only writes its projection row, `announced` false: who may act (roles,
    memberships, absences and their deputies) is worked out here, off the request. Each task
    is taken with a conditional UPDATE (which, unlike the ORM, leaves the row version alone:
    a form opened before stays valid); only the worker whose UPDATE changed the row writes
    its notifications, so two workers never announce a task twice. A task already closed
    when its turn comes is marked and nobody is told; it counts among the rows taken, which
    is what this returns (a full batch means more may be waiting)."""
    session, now = uow.session, uow.clock()
    table = HumanTask.__table__
    rows = session.execute(select(table.c.id, table.c.state).where(table.c.announced.is_(False))
                           .order_by(table.c.id).limit(limit)).all()
    for task_id, state in rows:
        changed = session.execute(update(table).where(
            table.c.id == task_id, table.c.announced.is_(False)).values(announced=True)).rowcount
        if changed != 1 or state != "open":
            continue
        task = session.get(HumanTask, task_id)
        partnership = session.get(Partnership, task.partnership_id)
        _safely("task_assigned", lambda task=task, partnership=partnership: _announce(
            uow, partnership, task, now))
    uow.commit()
    return len(rows)


def _announce(uow, partnership: Partnership, task: HumanTask, now: datetime) -> None:
    session = uow.session
    with session.begin_nested():  # a failure loses this task's notifications, not the round's
        recipients = recipients_for_task(session, task)
        if recipients:
            notify(session, uow.settings, recipients, kind="task_assigned",
                   partnership=partnership, task=task, now=now)
        else:
            _waiting_for_contact(uow, partnership, task)


def _waiting_for_contact(uow, partnership: Partnership, task: HumanTask) -> None:
    """A task nobody may act on: recorded, and the partnership's direction and delegate are
    told how to unblock it (attach a contact from the partnership page)."""
    session = uow.session
    delegate = (task.context or {}).get("delegate")
    told = [*_direction(session)]
    if isinstance(delegate, str):
        told += session.scalars(select(User).where(User.username == delegate,
                                                   User.active.is_(True))).all()
    audit.append(session, type="task_waiting_for_contact", actor=None, at=uow.clock(),
                 partnership_id=task.partnership_id, instance_id=task.instance_id,
                 task_uuid=task.task_uuid, element_id=task.element_id,
                 payload={"title": task.title, "groups": sorted(access.task_groups(task)),
                          "told": [u.username for u in told]})
    notify(session, uow.settings, told, kind="task_waiting", partnership=partnership, task=task,
           now=uow.clock(), link=f"/partenariats/{task.partnership_id}")


def notify_instance(uow, instance: ProcessInstance, *, kind: str, audience: str) -> None:
    """What the `notify` connector does (a reminder or an escalation on a service task):
    for each open task of the instance, tell whoever may act on it (audience "task", falling
    back to the direction) or every active direction user (audience "direction"). Never
    raises into the workflow."""

    def run() -> None:
        session = uow.session
        partnership = session.get(Partnership, instance.partnership_id)
        open_tasks = list(session.scalars(select(HumanTask).where(
            HumanTask.instance_id == instance.id, HumanTask.state == "open").order_by(HumanTask.id)))
        for task in open_tasks or [None]:
            users = (recipients_for_task(session, task) if audience == "task" and task is not None
                     else [])
            notify(session, uow.settings, users or _direction(session), kind=kind,
                   partnership=partnership, task=task, now=uow.clock(),
                   title=None if task is not None else instance.label or instance.process_key)

    _safely(kind, run)


def incident_recorded(uow, instance: ProcessInstance, summary: str) -> list[User]:
    """Tell those who can fix and retry a stopped instance: the direction, the process
    designers and the administrators. Returns who was told (never raises)."""
    told: list[User] = []

    def run() -> None:
        session = uow.session
        users = session.scalars(select(User).where(access.granted_clause("read_incidents"))
                                .order_by(User.username)).all()
        partnership = session.get(Partnership, instance.partnership_id)
        notify(session, uow.settings, users, kind="instance_failed", partnership=partnership,
               task=None, now=uow.clock(), title=summary[:200],
               link=f"/partenariats/{instance.partnership_id}")
        told.extend(users)

    _safely("instance_failed", run)
    return told


def flag_overdue(uow, *, limit: int = 200) -> int:
    """Open tasks past their due date and not yet signalled: notify, set the flag; commits.

    The flag is set with a conditional UPDATE (it does not bump the task's row version, so a
    form opened before stays valid); only the process whose UPDATE changed the row writes
    the notifications, so two workers never signal a task twice."""
    session, now = uow.session, uow.clock()
    ids = list(session.scalars(select(HumanTask.id).where(
        HumanTask.state == "open", HumanTask.overdue_notified.is_(False),
        HumanTask.due_at.is_not(None), HumanTask.due_at < now).order_by(HumanTask.due_at).limit(limit)))
    table = HumanTask.__table__
    flagged = 0
    for task_id in ids:
        changed = session.execute(update(table).where(
            table.c.id == task_id, table.c.state == "open",
            table.c.overdue_notified.is_(False)).values(overdue_notified=True)).rowcount
        if changed != 1:
            continue
        task = session.get(HumanTask, task_id)
        notify(session, uow.settings, recipients_for_task(session, task), kind="task_overdue",
               partnership=session.get(Partnership, task.partnership_id), task=task, now=now)
        flagged += 1
    uow.commit()
    return flagged


# ---------------------------------------------------------------- e-mail delivery (worker)


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _failed_attempt(row: Notification, error: Exception, now: datetime) -> None:
    row.attempts = (row.attempts or 0) + 1
    row.last_error = f"{type(error).__name__}: {error}"[:2000]
    if row.attempts >= MAX_ATTEMPTS:
        row.email_status = "failed"
        row.next_attempt_at = None
    else:
        row.next_attempt_at = now + BACKOFF[row.attempts - 1]


def _mail_body(row: Notification) -> str:
    return row.body


def deliver_next(uow, mailer: Mailer) -> bool:
    """Send the oldest due e-mail (claimed with SKIP LOCKED on PostgreSQL); commits.
    Returns False when nothing is due. A send that fails is retried later, with backoff."""
    session, now = uow.session, uow.clock()
    query = (select(Notification).where(Notification.email_status == "pending",
                                        Notification.next_attempt_at <= now)
             .order_by(Notification.next_attempt_at, Notification.id).limit(1))
    if _is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    row = session.scalar(query)
    if row is None:
        return False
    user = session.scalar(select(User).where(User.username == row.username))
    if user is None or not user.active or not user.email:
        row.email_status, row.next_attempt_at = "skipped", None
    else:
        try:
            mailer.send(user.email, row.subject, _mail_body(row))
        except Exception as exc:  # noqa: BLE001 - any transport failure is retried
            _failed_attempt(row, exc, now)
            log.warning("e-mail to %s failed (attempt %s): %s", row.username, row.attempts, exc,
                        extra={"notification_id": row.id, "username": row.username})
        else:
            row.attempts = (row.attempts or 0) + 1
            row.email_status, row.next_attempt_at, row.last_error = "sent", None, None
    uow.commit()
    return True


def digest_cutoff(now: datetime, hour_utc: int) -> datetime:
    """The latest digest moment at or before now (today's at `hour_utc`, else yesterday's)."""
    today = datetime.combine(now.date(), time(hour_utc), now.tzinfo)
    return today if now >= today else today - timedelta(days=1)


def digest_recipients(session: Session, now: datetime, hour_utc: int) -> list[str]:
    cutoff = digest_cutoff(now, hour_utc)
    return list(session.scalars(select(Notification.username).where(
        Notification.email_status == "digest", Notification.created_at < cutoff,
        (Notification.next_attempt_at.is_(None)) | (Notification.next_attempt_at <= now))
        .distinct().order_by(Notification.username)))


def send_digest(uow, mailer: Mailer, username: str) -> bool:
    """One mail listing the user's unread notifications gathered before today's digest
    moment; every row it covers leaves the digest state. Commits; True when mailed."""
    session, now = uow.session, uow.clock()
    cutoff = digest_cutoff(now, uow.settings.digest_hour_utc)
    query = (select(Notification).where(
        Notification.username == username, Notification.email_status == "digest",
        Notification.created_at < cutoff,
        (Notification.next_attempt_at.is_(None)) | (Notification.next_attempt_at <= now))
        .order_by(Notification.created_at, Notification.id))
    if _is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    rows = list(session.scalars(query))
    unread = [r for r in rows if r.read_at is None]
    user = session.scalar(select(User).where(User.username == username))
    mailed = False
    if not rows:
        return False
    if not unread or user is None or not user.active or not user.email:
        for row in rows:
            row.email_status, row.next_attempt_at = "skipped", None
    else:
        try:
            mailer.send(user.email, DIGEST_SUBJECT.format(count=len(unread)),
                        _digest_body(user, unread, uow.settings))
        except Exception as exc:  # noqa: BLE001 - retried with the same backoff
            for row in rows:
                _failed_attempt(row, exc, now)
                if row.email_status == "failed":
                    continue
        else:
            mailed = True
            for row in rows:
                row.attempts = (row.attempts or 0) + 1
                row.email_status, row.next_attempt_at, row.last_error = "sent", None, None
    uow.commit()
    return mailed


def _digest_body(user: User, rows: list[Notification], settings: Settings) -> str:
    base = settings.base_url.rstrip("/")
    lines = [DIGEST_INTRO.format(name=user.full_name or user.username)]
    for row in rows:
        when = local(row.created_at, settings)
        link = f" — {base}{row.link}" if row.link else ""
        lines.append(f"• {when:%d/%m %H:%M} {row.subject}{link}\n")
    lines.append(DIGEST_FOOTER.format(url=f"{base}/notifications"))
    return "".join(lines) + SIGNATURE


# ---------------------------------------------------------------- the in-app side


def unread_count(session: Session, username: str) -> int:
    return session.scalar(select(func.count()).select_from(Notification).where(
        Notification.username == username, Notification.read_at.is_(None))) or 0


def recent(session: Session, username: str, *, limit: int = 50, offset: int = 0) -> list[Notification]:
    return list(session.scalars(select(Notification).where(Notification.username == username)
                                .order_by(Notification.id.desc()).limit(limit).offset(offset)))


def count_for(session: Session, username: str) -> int:
    return session.scalar(select(func.count()).select_from(Notification).where(
        Notification.username == username)) or 0


def mark_read(uow, *, username: str, notification_id: int) -> Notification:
    """Mark one of the user's notifications read (another user's is not found); commits."""
    row = uow.session.get(Notification, notification_id)
    if row is None or row.username != username:
        raise NotFound(f"notification {notification_id} does not exist")
    if row.read_at is None:
        row.read_at = uow.clock()
    uow.commit()
    return row


def mark_all_read(uow, *, username: str) -> int:
    table = Notification.__table__
    count = uow.session.execute(update(table).where(
        table.c.username == username, table.c.read_at.is_(None)).values(read_at=uow.clock())
        .execution_options(**{inbox_cache.KEYS_OPTION: (f"notes:{username}",)})).rowcount
    uow.commit()
    return count


def digest_enabled(session: Session, username: str) -> bool:
    return bool(session.scalar(select(User.email_digest).where(User.username == username)))


def set_digest(uow, *, username: str, enabled: bool) -> None:
    """Daily digest instead of one e-mail per notification; commits."""
    user = uow.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"unknown user '{username}'")
    user.email_digest = bool(enabled)
    uow.commit()
