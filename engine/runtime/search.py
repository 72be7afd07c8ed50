"""The inbox search: the words of each task kept in `task_term` when its projection row is
written, and the clause that finds tasks by the beginnings of words.

Why a term table rather than the databases' own full-text search: SQLite's FTS5 and
PostgreSQL's tsvector speak different SQL, and neither knows that a partner representative
must not find a task by the value of an internal variable. One row per (task, word) with the
word's audience is the same on both, its prefix match is a range of one index
(`ix_task_term_prefix`), and the audience is a column the access policy filters on.

A search word matching few tasks (`RARE`) is read from the term index first and joined with
the inbox's ranges; a common one is checked against each task the ranges read in due order,
through the primary key (task, word), so the first page stops after fifty matches."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement, and_, exists, false, func, select
from sqlalchemy.orm import Session

from partnerflow.engine import access
from partnerflow.engine.runtime import views
from partnerflow.engine.store import terms
from partnerflow.engine.store.models import (
    HumanTask,
    Organisation,
    Partnership,
    PartnershipOrganisation,
    TaskTerm,
)

RARE = 5000  # tasks matching a word below which the word's tasks are read first

Matcher = Callable[[ColumnElement], ColumnElement[bool]]


def _organisation_names(session: Session, partnership_id: int) -> list[str]:
    with session.no_autoflush:  # nothing pending changes a partnership's organisations
        return list(session.scalars(select(Organisation.name).join(
            PartnershipOrganisation, PartnershipOrganisation.organisation_id == Organisation.id)
            .where(PartnershipOrganisation.partnership_id == partnership_id)))


def words_of(session: Session, forms, task: HumanTask, partnership_title: str | None = None,
             organisation_names: list[str] | None = None) -> dict[str, str]:
    """Word -> audience of one task, its variables' audiences read from its form."""
    if partnership_title is None:
        partnership = session.get(Partnership, task.partnership_id)  # stepping has it loaded
        partnership_title = partnership.title if partnership is not None else None
    if organisation_names is None:
        organisation_names = _organisation_names(session, task.partnership_id)
    data = task.context or {}
    shared = views.Audiences(forms).filter(data, task.form_key)[0] if data else {}
    return terms.task_terms(task.title, task.title_en, partnership_title, organisation_names,
                            shared, data)


def index_task(session: Session, forms, task: HumanTask, *, fresh: bool = False,
               **known) -> None:
    """Write the task's words with its projection row (same flush). A `fresh` task (opened
    in this transaction) has no words yet: none are read."""
    found = words_of(session, forms, task, **known)
    if fresh:
        if task.id is None:  # still pending: the words go in with its row
            task.terms = [TaskTerm(term=word, audience=audience) for word, audience in found.items()]
        else:  # already flushed: add the rows without loading the empty collection
            session.add_all(TaskTerm(task_id=task.id, term=word, audience=audience)
                            for word, audience in found.items())
        return
    current = {t.term: t for t in task.terms} if task.id is not None else {}
    keep = []
    for word, audience in found.items():
        row = current.get(word)
        if row is not None:
            if row.audience != audience:
                row.audience = audience
            keep.append(row)
        else:
            keep.append(TaskTerm(term=word, audience=audience))
    task.terms = keep


def reindex(session: Session, forms, partnership_id: int | None = None) -> int:
    """Rewrite the words of the open tasks (of one partnership when given): after a
    partnership is renamed, an organisation attached, or a form's audiences changed."""
    query = select(HumanTask).where(HumanTask.state == "open")
    if partnership_id is not None:
        query = query.where(HumanTask.partnership_id == partnership_id)
    return _reindex(session, forms, query)


def reindex_instance(session: Session, forms, instance_id: int) -> int:
    """Rewrite the words of an instance's open tasks (migrated to another version)."""
    return _reindex(session, forms, select(HumanTask).where(
        HumanTask.state == "open", HumanTask.instance_id == instance_id))


def _reindex(session: Session, forms, query) -> int:
    titles: dict[int, str] = {}
    names: dict[int, list[str]] = {}
    count = 0
    for task in session.scalars(query.order_by(HumanTask.id)):
        pid = task.partnership_id
        if pid not in titles:
            titles[pid] = session.scalar(select(Partnership.title).where(Partnership.id == pid)) or ""
            names[pid] = _organisation_names(session, pid)
        index_task(session, forms, task, partnership_title=titles[pid], organisation_names=names[pid])
        count += 1
    return count


def matcher(session: Session, viewer: access.Subject, text: str | None) -> Matcher | None:
    """The search box's words as a clause on a task id column (every word must begin a word
    of the task that this reader may search by: access.searchable_audiences); None when
    there is nothing to search."""
    wanted = terms.query_words(text)
    if not wanted:
        return None
    audiences = access.searchable_audiences(viewer)
    parts: list[Matcher] = []
    for word in wanted:
        cond = [TaskTerm.term >= word, TaskTerm.term < terms.upper_bound(word)]
        if audiences != access.ALL_TERM_AUDIENCES:
            cond.append(TaskTerm.audience.in_(audiences))
        # how many tasks the word matches, counted in the index up to RARE + 1
        seen = session.scalar(select(func.count()).select_from(
            select(TaskTerm.task_id).where(*cond).limit(RARE + 1).subquery())) or 0
        if not seen:
            return lambda _column: false()
        if seen <= RARE:
            word_tasks = select(TaskTerm.task_id).where(*cond)
            parts.append(lambda column, q=word_tasks: column.in_(q))
        else:
            parts.append(lambda column, c=tuple(cond): exists().where(TaskTerm.task_id == column, *c))
    return lambda column: and_(*[part(column) for part in parts])
