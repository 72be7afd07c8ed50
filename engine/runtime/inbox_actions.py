"""What the inbox does to several tasks at once (claim, release), the follow-up day a holder
sets on a task, and the filters kept under a name. Who may do each is engine.access's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from partnerflow.engine import access, audit
from partnerflow.engine.errors import N_, Forbidden, InvalidInput, NotFound
from partnerflow.engine.runtime.services import (
    _commit,
    _task_for_update,
    get_user,
    record_claim,
    record_release,
)
from partnerflow.engine.store.models import HumanTask, SavedFilter

MAX_BULK = 200  # tasks one bulk action takes (a page of the inbox is 25)


@dataclass(frozen=True)
class Refusal:
    """A task a bulk action left alone: its id, its title when the user may read it (else
    None), and why (a French msgid)."""

    task_id: int
    title: str | None
    reason: str


@dataclass(frozen=True)
class BulkResult:
    done: list[int]
    refused: list[Refusal]


def _bulk(uow, task_ids: list[int], actor: str, refusal, act) -> BulkResult:
    if not task_ids:
        raise InvalidInput("no task chosen", {"task_ids": [N_("Cochez au moins une tâche.")]})
    if len(task_ids) > MAX_BULK:
        raise InvalidInput("too many tasks", {"task_ids": [N_("Au plus 200 tâches à la fois.")]})
    session = uow.session
    who = access.actor_of(session, get_user(session, actor))
    done, refused = [], []
    for task_id in dict.fromkeys(task_ids):
        task = session.get(HumanTask, task_id, with_for_update=True)
        if task is None:
            refused.append(Refusal(task_id, None, N_("cette tâche n’existe pas")))
            continue
        reason = refusal(who, task)
        if reason:
            title = task.title if access.may(who, "read_task", task) else None
            refused.append(Refusal(task_id, title, reason))
            continue
        act(who, task)
        done.append(task_id)
    _commit(uow)
    return BulkResult(done, refused)


def claim_tasks(uow, *, task_ids: list[int], actor: str) -> BulkResult:
    """Claim each chosen task this user may take; the others are refused one by one, with
    why (access.claim_refusal). One commit."""
    return _bulk(uow, task_ids, actor, access.claim_refusal,
                 lambda who, task: record_claim(uow, task, who))


def release_tasks(uow, *, task_ids: list[int], actor: str) -> BulkResult:
    """Release each chosen task this user holds (the direction: any reserved one); the
    others are refused one by one (access.release_refusal). One commit."""
    return _bulk(uow, task_ids, actor, access.release_refusal,
                 lambda who, task: record_release(uow, task, actor))


def set_follow_up(uow, *, task_id: int, actor: str, day: date | None) -> None:
    """The holder of an open task sets (or clears, `day` None) the day to chase it up,
    audited."""
    session = uow.session
    who = access.actor_of(session, get_user(session, actor))
    task = _task_for_update(session, task_id)
    if not access.may(who, "set_follow_up", task):
        raise Forbidden(f"{actor} does not hold task {task_id}: only its holder sets its follow-up day")
    if task.follow_up_on == day:
        return
    previous = task.follow_up_on
    task.follow_up_on = day
    audit.append(session, type="task_follow_up_set", actor=actor, at=uow.clock(),
                 partnership_id=task.partnership_id, instance_id=task.instance_id,
                 task_uuid=task.task_uuid, element_id=task.element_id,
                 payload={"title": task.title, "follow_up_on": day.isoformat() if day else None,
                          "before": previous.isoformat() if previous else None})
    _commit(uow, task_id)


# ---------------------------------------------------------------- saved filters

# the inbox parameters a saved filter keeps (anything else in the query string is dropped)
FILTER_KEYS = ("q", "partnership", "stage", "role", "holder", "due", "follow_up", "age", "sort",
               "overdue")
SHARED_FILTERS = [
    ("Mes partenariats en retard", "My overdue partnerships", {"due": "overdue", "sort": "due"}),
    ("À relancer", "To follow up", {"follow_up": "due", "sort": "follow_up"}),
]


def saved_filters(session: Session, username: str) -> list[SavedFilter]:
    """The shared filters, then the user's own, by name."""
    return list(session.scalars(select(SavedFilter).where(
        or_(SavedFilter.owner.is_(None), SavedFilter.owner == username))
        .order_by(SavedFilter.owner.is_not(None), SavedFilter.name, SavedFilter.id)))


def save_filter(uow, *, actor: str, name: str, query: dict, shared: bool = False) -> int:
    """Keep the inbox's current parameters under a name: the user's own, or (the direction)
    shared with everyone. The same name replaces the earlier filter."""
    session = uow.session
    user = get_user(session, actor)
    name = " ".join((name or "").split())[:120]
    if not name:
        raise InvalidInput("a saved filter needs a name", {"name": [N_("Donnez un nom au filtre.")]})
    kept = {k: str(v)[:200] for k, v in (query or {}).items() if k in FILTER_KEYS and str(v).strip()}
    if not kept:
        raise InvalidInput("nothing to keep", {"name": [
            N_("Choisissez d’abord un filtre ou une recherche à enregistrer.")]})
    if shared and not access.may(access.actor_of(session, user), "define_shared_filters"):
        raise Forbidden("only the direction defines the shared filters")
    owner = None if shared else actor
    row = session.scalar(select(SavedFilter).where(
        SavedFilter.owner.is_(None) if owner is None else SavedFilter.owner == owner,
        SavedFilter.name == name))
    if row is None:
        row = SavedFilter(owner=owner, name=name, created_by=actor, created_at=uow.clock())
        session.add(row)
    row.query = kept
    session.flush()
    filter_id = row.id
    uow.commit()
    return filter_id


def delete_filter(uow, *, actor: str, filter_id: int) -> None:
    """Delete one's own saved filter, or (the direction) a shared one."""
    session = uow.session
    user = get_user(session, actor)
    row = session.get(SavedFilter, filter_id)
    if row is None:
        raise NotFound(f"saved filter {filter_id} does not exist")
    if row.owner is None:
        if not access.may(access.actor_of(session, user), "define_shared_filters"):
            raise Forbidden("only the direction deletes a shared filter")
    elif row.owner != actor:
        raise Forbidden("a saved filter is deleted by its owner only")
    session.delete(row)
    uow.commit()


def ensure_shared_filters(session: Session, at) -> None:
    """The shared filters the direction starts with, as the migration seeds them."""
    for name, name_en, query in SHARED_FILTERS:
        if session.scalar(select(SavedFilter.id).where(SavedFilter.owner.is_(None),
                                                       SavedFilter.name == name)) is None:
            session.add(SavedFilter(owner=None, name=name, name_en=name_en, query=query,
                                    created_by="system", created_at=at))
