"""Discussing the work: comment threads (a partnership's and each of its tasks'), an opinion
asked of a colleague on a task (Camunda's delegation), and absences with a deputy.

Each use case asks the access policy (engine/access), writes its rows, appends an audit
event (the text and its visibility: the audit pages and exports mask an internal one for a
partner representative, views.redact_payload) and tells those concerned, in one transaction.
What is shown is read by queries.py.

- A comment is internal (staff only) unless staff choose to share it with the partner; a
  partner representative's is shared. It is told to whoever may act on the task (its
  assignee or claimer, else those it is offered to), the colleague asked for an opinion on
  it and the partnership's delegate, never to its author, and never to someone who may not
  read it.
- An opinion: the holder of an open task (taking it if it was only offered) asks one named
  colleague a question; until the answer (an opinion and maybe a recommendation) or the
  question's withdrawal the task waits: nobody completes, releases or reassigns it. The
  answer gives it back to its holder, who alone completes it.
- An absence: a staff member declares a period (calendar days in Europe/Paris) and a deputy
  among the active staff; during it, the policy offers them the absent person's tasks and
  the notifications are copied to them. It can be ended early; both are audited on the
  organisation's chain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from partnerflow.engine import access, audit
from partnerflow.engine.errors import Conflict, Forbidden, InvalidInput, NotFound
from partnerflow.engine.runtime import notifications, queries
from partnerflow.engine.runtime.forms import refused_text
from partnerflow.engine.runtime.services import _commit, _ensure_open, _task_for_update, get_user
from partnerflow.engine.store.models import (
    Absence,
    Comment,
    HumanTask,
    Partnership,
    TaskDelegation,
    User,
)

MAX_COMMENT_CHARS = 4000
MAX_QUESTION_CHARS = 2000
MAX_OPINION_CHARS = 4000
EXCERPT_CHARS = 300  # of a text quoted in a notification
RECOMMENDATIONS = {"favourable": "favorable", "reserved": "favorable avec réserves",
                   "unfavourable": "défavorable"}
MAX_ABSENCE_DAYS = 366
VISIBILITY_WORDS = {access.INTERNAL: "interne", access.SHARED: "partagé avec le partenaire"}


def clean_text(text: str | None, *, field: str, label: str, limit: int) -> str:
    """A text typed by someone: lines kept, ends trimmed, required, bounded, no control
    character; refused with a French message under `field` otherwise."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise InvalidInput(f"{field} is required", {field: ["Ce champ est obligatoire."]})
    if len(text) > limit:
        raise InvalidInput(f"{field} is longer than {limit} characters",
                           {field: [f"Au plus {limit} caractères."]})
    refused = refused_text(text, label)
    if refused:
        raise InvalidInput(f"{field} holds a refused character", {field: [refused]})
    return text


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS - 1] + "…"


def _actor(session: Session, user: User) -> access.Actor:
    return access.actor_of(session, user)


def _users(session: Session, names) -> list[User]:
    names = sorted({n for n in names if n})
    if not names:
        return []
    return list(session.scalars(select(User).where(User.username.in_(names), User.active.is_(True))
                                .order_by(User.username)))


# ---------------------------------------------------------------- comments


def add_comment(uow, *, actor: str, partnership_id: int, text: str, task_id: int | None = None,
                visibility: str | None = None) -> int:
    """Write a comment in a partnership's thread or a task's; returns its id. Commits."""
    session = uow.session
    user = get_user(session, actor)
    partnership = session.get(Partnership, partnership_id)
    if partnership is None:
        raise NotFound(f"partnership {partnership_id} does not exist")
    task = None
    if task_id is not None:
        task = session.get(HumanTask, task_id)
        if task is None or task.partnership_id != partnership_id:
            raise NotFound(f"task {task_id} does not exist in partnership {partnership_id}")
    who = _actor(session, user)
    thread = access.Thread(partnership_id, task)
    if not access.may(who, "comment", thread):
        raise Forbidden(f"{actor} may not comment here")
    if visibility not in (None, "", *access.VISIBILITIES):
        raise InvalidInput("unknown visibility", {"visibility": ["Choisissez qui peut lire."]})
    if visibility == access.SHARED and not access.is_partner_representative(who) \
            and not access.may(who, "share_comment", thread):
        raise Forbidden(f"{actor} may not share this comment with the partner")
    body = clean_text(text, field="text", label="Commentaire", limit=MAX_COMMENT_CHARS)
    shown = access.comment_visibility(who, thread, visibility)
    now = uow.clock()
    comment = Comment(partnership_id=partnership_id, task_id=task_id, author=actor,
                      visibility=shown, body=body, created_at=now)
    session.add(comment)
    session.flush()
    audit.append(session, type="comment_added", actor=actor, at=now, partnership_id=partnership_id,
                 instance_id=task.instance_id if task is not None else None,
                 task_uuid=task.task_uuid if task is not None else None,
                 element_id=task.element_id if task is not None else None,
                 payload={"comment_id": comment.id, "on": "task" if task is not None else "partnership",
                          **({"title": task.title} if task is not None else {}),
                          "visibility": shown, "text": body})
    _tell_comment(uow, partnership, task, who, comment)
    _commit(uow, task_id)
    return comment.id


def _tell_comment(uow, partnership: Partnership, task: HumanTask | None, author: access.Actor,
                  comment: Comment) -> None:
    """The task's assignee or offer holders and the colleague asked for an opinion, the
    partnership's delegate (the direction when it has none yet), and for a comment shared on
    the partnership's thread its partner contacts: those among them who may read it."""
    session = uow.session
    delegate = queries.partnership_delegate(session, partnership.id)
    if task is not None:
        people = [*notifications.recipients_for_task(session, task),
                  *_users(session, [task.delegated_to, delegate])]
    else:
        people = _users(session, [delegate]) if delegate else notifications.direction(session)
        if comment.visibility == access.SHARED:
            people += queries.partner_contacts(session, partnership.id)
    ref = access.CommentRef(access.Thread(partnership.id, task), comment.visibility)
    on_task, on_partnership = [], []
    for user in people:
        reader = access.actor_of(session, user)
        if user.username == author.username or not access.may(reader, "read_comment", ref):
            continue
        readable = task is not None and access.may(reader, "read_task", task)
        (on_task if readable else on_partnership).append(user)
    extra = {"author": queries.full_name(session, author.username),
             "visibility": VISIBILITY_WORDS[comment.visibility], "excerpt": _excerpt(comment.body)}
    title = task.title if task is not None else partnership.title
    for users, link in ((on_task, f"/taches/{task.id}#commentaires" if task is not None else None),
                        (on_partnership, f"/partenariats/{partnership.id}#commentaires")):
        if users and link:
            notifications.notify(session, uow.settings, users, kind="comment_added",
                                 partnership=partnership, task=task, now=uow.clock(), title=title,
                                 link=link, extra=extra, exclude=[author.username])


# ---------------------------------------------------------------- an opinion on a task


def ask_opinion(uow, *, task_id: int, actor: str, delegate: str, question: str) -> int:
    """The holder of an open task asks a named colleague a question; the task waits for the
    answer. Returns the delegation's id. Commits."""
    session = uow.session
    user = get_user(session, actor)
    task = _task_for_update(session, task_id)
    _ensure_open(task)
    who = _actor(session, user)
    if task.delegated_to:
        raise Conflict(f"this task is waiting for the opinion of {task.delegated_to}")
    if not access.may(who, "ask_opinion", task):
        raise Forbidden(f"{actor} may not ask an opinion on task {task_id}")
    target = session.scalar(select(User).where(User.username == (delegate or "").strip()))
    target_actor = _actor(session, target) if target is not None and target.active else None
    if target_actor is None or not access.may(target_actor, "be_asked_opinion",
                                              access.OpinionRequest(task, who)):
        why = ("Cette personne est absente aujourd'hui : demandez plutôt à qui la remplace."
               if target_actor is not None and target_actor.absent
               else "Choisissez une personne de la liste.")
        raise InvalidInput("this person cannot be asked for an opinion on this task",
                           {"delegate": [why]})
    text = clean_text(question, field="question", label="Question", limit=MAX_QUESTION_CHARS)
    now = uow.clock()
    took = not task.assignee and not task.claimed_by
    behalf = access.acting_for(who, task)
    if took:  # an offered task becomes the asker's: it comes back to them with the answer
        task.claimed_by = actor
        audit.append(session, type="task_claimed", actor=actor, at=now,
                     partnership_id=task.partnership_id, instance_id=task.instance_id,
                     task_uuid=task.task_uuid, element_id=task.element_id,
                     payload={"title": task.title, **({"on_behalf_of": behalf} if behalf else {})})
    visibility = access.opinion_visibility(who, target_actor)
    delegation = TaskDelegation(task_id=task.id, partnership_id=task.partnership_id, owner=actor,
                                delegate=target.username, question=text, visibility=visibility,
                                state="pending", requested_at=now)
    session.add(delegation)
    task.delegated_to = target.username
    session.flush()
    audit.append(session, type="opinion_requested", actor=actor, at=now,
                 partnership_id=task.partnership_id, instance_id=task.instance_id,
                 task_uuid=task.task_uuid, element_id=task.element_id,
                 payload={"delegation_id": delegation.id, "title": task.title, "owner": actor,
                          "delegate": target.username, "visibility": visibility, "question": text,
                          **({"on_behalf_of": behalf} if behalf else {})})
    notifications.notify(session, uow.settings, [target], kind="opinion_requested",
                         partnership=session.get(Partnership, task.partnership_id), task=task,
                         now=now, extra={"author": user.full_name or actor,
                                         "excerpt": _excerpt(text)}, exclude=[actor])
    _commit(uow, task_id)
    return delegation.id


def _pending(session: Session, task: HumanTask) -> TaskDelegation:
    row = session.scalar(select(TaskDelegation).where(
        TaskDelegation.task_id == task.id, TaskDelegation.state == "pending")
        .order_by(TaskDelegation.id.desc()).limit(1))
    if row is None or not task.delegated_to:
        raise Conflict("this task is not waiting for an opinion")
    return row


def give_opinion(uow, *, task_id: int, actor: str, opinion: str,
                 recommendation: str | None = None) -> None:
    """The colleague asked answers: the delegation is resolved and the task goes back to its
    holder, who is told. Commits."""
    session = uow.session
    user = get_user(session, actor)
    task = _task_for_update(session, task_id)
    _ensure_open(task)
    if not access.may(_actor(session, user), "give_opinion", task):
        raise Forbidden(f"{actor} was not asked for an opinion on task {task_id}")
    delegation = _pending(session, task)
    text = clean_text(opinion, field="opinion", label="Avis", limit=MAX_OPINION_CHARS)
    recommendation = (recommendation or "").strip() or None
    if recommendation is not None and recommendation not in RECOMMENDATIONS:
        raise InvalidInput("unknown recommendation",
                           {"recommendation": ["Choisissez une recommandation de la liste."]})
    now = uow.clock()
    delegation.state = "resolved"
    delegation.opinion = text
    delegation.recommendation = recommendation
    delegation.resolved_at = now
    delegation.resolved_by = actor
    task.delegated_to = None
    audit.append(session, type="opinion_given", actor=actor, at=now,
                 partnership_id=task.partnership_id, instance_id=task.instance_id,
                 task_uuid=task.task_uuid, element_id=task.element_id,
                 payload={"delegation_id": delegation.id, "title": task.title,
                          "owner": delegation.owner, "delegate": actor,
                          "visibility": delegation.visibility, "opinion": text,
                          "recommendation": recommendation})
    said = f" (avis {RECOMMENDATIONS[recommendation]})" if recommendation else ""
    notifications.notify(session, uow.settings, _users(session, [delegation.owner]),
                         kind="opinion_given", partnership=session.get(Partnership, task.partnership_id),
                         task=task, now=now, exclude=[actor],
                         extra={"author": user.full_name or actor, "excerpt": _excerpt(text),
                                "recommendation": said})
    _commit(uow, task_id)


def withdraw_opinion(uow, *, task_id: int, actor: str) -> None:
    """Whoever asked (or the direction) withdraws the question unanswered: the task is its
    holder's again, the colleague is told. Commits."""
    session = uow.session
    user = get_user(session, actor)
    task = _task_for_update(session, task_id)
    _ensure_open(task)
    delegation = _pending(session, task)
    if not access.may(_actor(session, user), "withdraw_opinion",
                      access.PendingOpinion(task, delegation.owner)):
        raise Forbidden(f"{actor} may not withdraw the question on task {task_id}")
    now = uow.clock()
    delegation.state = "withdrawn"
    delegation.resolved_at = now
    delegation.resolved_by = actor
    task.delegated_to = None
    audit.append(session, type="opinion_withdrawn", actor=actor, at=now,
                 partnership_id=task.partnership_id, instance_id=task.instance_id,
                 task_uuid=task.task_uuid, element_id=task.element_id,
                 payload={"delegation_id": delegation.id, "title": task.title,
                          "owner": delegation.owner, "delegate": delegation.delegate,
                          "visibility": delegation.visibility})
    notifications.notify(session, uow.settings, _users(session, [delegation.delegate]),
                         kind="opinion_withdrawn",
                         partnership=session.get(Partnership, task.partnership_id), task=task,
                         now=now, exclude=[actor], link="/notifications",
                         extra={"author": user.full_name or actor})
    _commit(uow, task_id)


# ---------------------------------------------------------------- absences


@dataclass(frozen=True)
class Period:
    starts_on: date
    ends_on: date


def _period(starts_on: date | None, ends_on: date | None, today: date) -> Period:
    errors: dict[str, list[str]] = {}
    if starts_on is None:
        errors["starts_on"] = ["Indiquez le premier jour d'absence (jj/mm/aaaa)."]
    if ends_on is None:
        errors["ends_on"] = ["Indiquez le dernier jour d'absence (jj/mm/aaaa)."]
    if not errors and ends_on < starts_on:
        errors["ends_on"] = ["Le dernier jour ne peut pas précéder le premier."]
    if not errors and ends_on < today:
        errors["ends_on"] = ["Cette période est déjà passée."]
    if not errors and (ends_on - starts_on).days + 1 > MAX_ABSENCE_DAYS:
        errors["ends_on"] = [f"Une absence dure au plus {MAX_ABSENCE_DAYS} jours."]
    if errors:
        raise InvalidInput("the absence period is not valid", errors)
    return Period(starts_on, ends_on)


def declare_absence(uow, *, actor: str, starts_on: date | None, ends_on: date | None,
                    deputy: str) -> int:
    """A staff member declares they will be away and who stands in for them; returns the
    absence's id. Refused when it overlaps another of their absences. Commits."""
    session = uow.session
    user = get_user(session, actor)
    who = _actor(session, user)
    if not access.may(who, "declare_absence"):
        raise Forbidden(f"{actor} may not declare an absence")
    period = _period(starts_on, ends_on, access.today(session))
    target = session.scalar(select(User).where(User.username == (deputy or "").strip()))
    if target is None or not target.active or not access.may(_actor(session, target), "deputise", who):
        raise InvalidInput("this person cannot be the deputy",
                           {"deputy": ["Choisissez un(e) collègue de la liste."]})
    overlapping = session.scalar(select(Absence.id).where(
        Absence.user_id == user.id, Absence.cancelled_at.is_(None),
        and_(Absence.starts_on <= period.ends_on, Absence.ends_on >= period.starts_on)).limit(1))
    if overlapping is not None:
        raise InvalidInput("this period overlaps another absence",
                           {"starts_on": ["Vous avez déjà déclaré une absence sur une partie de "
                                          "cette période : terminez-la d'abord."]})
    now = uow.clock()
    absence = Absence(user_id=user.id, deputy_id=target.id, starts_on=period.starts_on,
                      ends_on=period.ends_on, created_by=actor, created_at=now)
    session.add(absence)
    session.flush()
    audit.append(session, type="absence_declared", actor=actor, at=now,
                 payload={"absence_id": absence.id, "user": actor, "deputy": target.username,
                          "starts_on": period.starts_on.isoformat(),
                          "ends_on": period.ends_on.isoformat()})
    notifications.notify(session, uow.settings, [target], kind="deputy_named", partnership=None,
                         task=None, now=now, title=user.full_name or actor, link="/",
                         extra={"author": user.full_name or actor,
                                "starts": f"{period.starts_on:%d/%m/%Y}",
                                "ends": f"{period.ends_on:%d/%m/%Y}"})
    _commit(uow)
    return absence.id


def end_absence(uow, *, actor: str, absence_id: int) -> None:
    """End an absence early (or call off one to come): the deputy no longer stands in.
    Only the absent person's own. Commits."""
    session = uow.session
    user = get_user(session, actor)
    absence = session.get(Absence, absence_id)
    if absence is None or absence.user_id != user.id:
        raise NotFound(f"absence {absence_id} does not exist")
    if absence.cancelled_at is not None or absence.ends_on < access.today(session):
        raise Conflict("this absence is already over")
    now = uow.clock()
    absence.cancelled_at = now
    absence.cancelled_by = actor
    deputy = session.get(User, absence.deputy_id)
    audit.append(session, type="absence_ended", actor=actor, at=now,
                 payload={"absence_id": absence.id, "user": actor,
                          "deputy": deputy.username if deputy else None,
                          "starts_on": absence.starts_on.isoformat(),
                          "ends_on": absence.ends_on.isoformat()})
    _commit(uow)
