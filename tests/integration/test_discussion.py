"""Comments, opinions asked on a task and absences with a deputy, on the database: what is
written, who is told, what the inbox shows, what is refused, and the audit trail."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from partnerflow.engine import access, audit
from partnerflow.engine.errors import Conflict, Forbidden, InvalidInput
from partnerflow.engine.runtime import discussion, queries, services
from partnerflow.engine.store.models import AuditEvent, Comment, HumanTask, Notification, TaskDelegation
from tests.conftest import announce, deploy
from tests.web.support import build_world, complete, inbox_ids, start, task_row

# a task offered to the partner and to the direction
SHARED_REVIEW = Path(__file__).resolve().parents[1] / "fixtures" / "discussion" / "shared_review.bpmn"
TODAY = date(2026, 3, 2)  # the fixtures' clock: 2026-03-02 09:00 UTC


@pytest.fixture
def world(fixture_pf):
    return build_world(fixture_pf)


def _notes(pf, kind: str) -> dict[str, list[Notification]]:
    announce(pf)  # the worker tells whoever may act on the new tasks
    with pf.read() as db:
        rows = db.scalars(select(Notification).where(Notification.kind == kind)
                          .order_by(Notification.id)).all()
    found: dict[str, list[Notification]] = {}
    for row in rows:
        found.setdefault(row.username, []).append(row)
    return found


def _events(pf, partnership_id: int | None, type_: str) -> list[AuditEvent]:
    with pf.read() as db:
        return db.scalars(select(AuditEvent).where(AuditEvent.chain == audit.chain_for(partnership_id),
                                                   AuditEvent.type == type_)
                          .order_by(AuditEvent.seq)).all()


def _comment(pf, actor, partnership_id, text, task_id=None, visibility=None) -> int:
    with pf.uow() as uow:
        return discussion.add_comment(uow, actor=actor, partnership_id=partnership_id, text=text,
                                      task_id=task_id, visibility=visibility)


def _ask(pf, task_id, actor, delegate, question="Qu'en pensez-vous ?") -> int:
    with pf.uow() as uow:
        return discussion.ask_opinion(uow, task_id=task_id, actor=actor, delegate=delegate,
                                      question=question)


def _answer(pf, task_id, actor, opinion="Favorable, avec un suivi trimestriel.", recommendation=None):
    with pf.uow() as uow:
        discussion.give_opinion(uow, task_id=task_id, actor=actor, opinion=opinion,
                                recommendation=recommendation)


def _absence(pf, actor, deputy, starts=TODAY, ends=TODAY + timedelta(days=6)) -> int:
    with pf.uow() as uow:
        return discussion.declare_absence(uow, actor=actor, starts_on=starts, ends_on=ends, deputy=deputy)


# ---------------------------------------------------------------- comments


def test_a_task_comment_is_stored_audited_and_told_to_those_concerned(world):
    pf = world.pf
    # the partnership's delegate is karim (the variable the mission letter sets)
    start(pf, world.own, "assignment_timers", {"delegate": "karim", "reviewer": "claire",
                                               "review_deadline": "2026-03-20"})
    comment_id = _comment(pf, "claire", world.own, "  Relire l'article 3\r\navant jeudi.  ",
                          task_id=world.task_own)
    with pf.read() as db:
        row = db.get(Comment, comment_id)
    assert (row.visibility, row.author, row.body) == (
        "internal", "claire", "Relire l'article 3\navant jeudi.")
    told = _notes(pf, "comment_added")
    # hugo (direction, the task is offered to him) and karim (the delegate); never the author
    assert set(told) == {"hugo", "karim"}
    assert told["hugo"][0].link == f"/taches/{world.task_own}#commentaires"
    assert told["karim"][0].link == f"/partenariats/{world.own}#commentaires"  # not his task
    assert "Relire l'article 3" in told["hugo"][0].body and "interne" in told["hugo"][0].body
    [event] = _events(pf, world.own, "comment_added")
    assert event.actor == "claire" and event.payload["visibility"] == "internal"
    assert event.payload["text"] == row.body and event.payload["comment_id"] == comment_id
    with pf.read() as db:
        assert audit.verify(db, world.own) == []


def test_a_partner_never_hears_of_nor_reads_an_internal_comment(world):
    pf = world.pf
    [partner_task] = _partner_task(pf, world.own)
    _comment(pf, "claire", world.own, "Notre marge : 10 %", task_id=partner_task)
    assert "paul" not in _notes(pf, "comment_added")
    _comment(pf, "claire", world.own, "Merci pour votre retour", task_id=partner_task,
             visibility="shared")
    assert [n.link for n in _notes(pf, "comment_added")["paul"]] == [
        f"/taches/{partner_task}#commentaires"]
    with pf.read() as db:
        paul, claire = access.actor(db, "paul"), access.actor(db, "claire")
        task = db.get(HumanTask, partner_task)
        assert [c.body for c in queries.comments(db, paul, world.own, task)] == ["Merci pour votre retour"]
        assert len(queries.comments(db, claire, world.own, task)) == 2
        # the partnership page: every thread of the partnership, as each may read it
        assert [c.body for c in queries.comments(db, paul, world.own, with_tasks=True)] == [
            "Merci pour votre retour"]
        assert queries.comments(db, access.actor(db, "paul"), world.other) == []


def test_a_shared_partnership_comment_reaches_the_partner_and_a_partners_comment_is_shared(world):
    pf = world.pf
    _comment(pf, "claire", world.own, "Réunion le 12", visibility="shared")
    assert set(_notes(pf, "comment_added")) == {"claire", "hugo", "paul"} - {"claire"}
    comment_id = _comment(pf, "paul", world.own, "D'accord pour le 12", visibility="internal")
    with pf.read() as db:
        assert db.get(Comment, comment_id).visibility == "shared"
    # no delegate yet: the direction hears of it
    assert {n.username for rows in _notes(pf, "comment_added").values() for n in rows
            if "D'accord" in n.body} == {"claire", "hugo"}


def test_comments_are_refused_to_who_may_not_write_them(world):
    pf = world.pf
    with pytest.raises(Forbidden):
        _comment(pf, "paul", world.other, "Bonjour")  # not his partnership
    with pytest.raises(Forbidden):
        _comment(pf, "sophie", world.own, "Bonjour", task_id=world.task_own)  # not her task
    with pytest.raises(Forbidden):
        _comment(pf, "alice", world.own, "Bonjour")  # auditors read only
    with pytest.raises(Forbidden):
        _comment(pf, "claire", world.own, "Bonjour", task_id=world.task_own, visibility="shared")
    for text, message in (("   ", "Ce champ est obligatoire."), ("x" * 4001, "Au plus 4000 caractères."),
                          ("nul\x00", "Caractère de contrôle interdit (U+0000) dans « Commentaire » : "
                                      "retirez-le.")):
        with pytest.raises(InvalidInput) as refused:
            _comment(pf, "claire", world.own, text)
        assert refused.value.errors == {"text": [message]}
    with pf.read() as db:
        assert db.scalars(select(Comment)).all() == []


# ---------------------------------------------------------------- an opinion on a task


def test_an_opinion_round_trip(world, clock):
    pf = world.pf
    delegation_id = _ask(pf, world.task_own, "claire", "sophie", "Le budget tient-il ?")
    task = task_row(pf, world.task_own)
    # the offered task became claire's; it waits for sophie
    assert (task.claimed_by, task.delegated_to) == ("claire", "sophie")
    assert world.task_own in inbox_ids(pf, "sophie") and world.task_own in inbox_ids(pf, "claire")
    assert world.task_own not in inbox_ids(pf, "hugo")  # claimed by claire
    with pf.read() as db:
        assert queries.inbox_count(db, "sophie") == len(inbox_ids(pf, "sophie"))
        sophie = access.actor(db, "sophie")
        acting = set(db.scalars(select(HumanTask.id).where(access.where(sophie, "act"))))
        assert world.task_own not in acting  # asked, not acting
    assert [n.username for rows in _notes(pf, "opinion_requested").values() for n in rows] == ["sophie"]
    # nobody completes, releases or reassigns it meanwhile
    with pytest.raises(Conflict):
        complete(pf, world.task_own, "claire", {"decision": "done"})
    with pytest.raises(Conflict):
        complete(pf, world.task_own, "sophie", {"decision": "done"})
    with pf.uow() as uow, pytest.raises(Conflict):
        services.unclaim_task(uow, task_id=world.task_own, actor="claire")
    with pf.uow() as uow, pytest.raises(Conflict):
        services.reassign_task(uow, task_id=world.task_own, actor="claire", to_user="hugo")
    with pytest.raises(Conflict):
        _ask(pf, world.task_own, "claire", "karim")  # one question at a time
    with pytest.raises(Forbidden):
        _answer(pf, world.task_own, "karim")  # not asked
    clock.advance(hours=3)
    _answer(pf, world.task_own, "sophie", "Oui, à condition de réduire les frais.", "reserved")
    task = task_row(pf, world.task_own)
    assert (task.claimed_by, task.delegated_to) == ("claire", None)
    assert world.task_own not in inbox_ids(pf, "sophie")
    with pf.read() as db:
        row = db.get(TaskDelegation, delegation_id)
        assert (row.state, row.opinion, row.recommendation, row.resolved_by) == (
            "resolved", "Oui, à condition de réduire les frais.", "reserved", "sophie")
    [given] = _notes(pf, "opinion_given")["claire"]
    assert "favorable avec réserves" in given.body and given.link == f"/taches/{world.task_own}"
    with pytest.raises(Forbidden):
        complete(pf, world.task_own, "sophie", {"decision": "done"})  # the delegate never completes
    complete(pf, world.task_own, "claire", {"decision": "done"})
    assert task_row(pf, world.task_own).completed_by == "claire"
    types = [e.type for e in _chain(pf, world.own) if e.task_uuid == task.task_uuid]
    assert types == ["task_created", "task_claimed", "opinion_requested", "opinion_given",
                     "task_completed"]
    requested = _events(pf, world.own, "opinion_requested")[0].payload
    assert {k: requested[k] for k in ("owner", "delegate", "question", "visibility")} == {
        "owner": "claire", "delegate": "sophie", "question": "Le budget tient-il ?",
        "visibility": "internal"}
    with pf.read() as db:
        assert audit.verify(db, world.own) == []


def _chain(pf, partnership_id):
    with pf.read() as db:
        return db.scalars(select(AuditEvent).where(AuditEvent.chain == audit.chain_for(partnership_id))
                          .order_by(AuditEvent.seq)).all()


def test_a_question_withdrawn_gives_the_task_back_unanswered(world):
    pf = world.pf
    _ask(pf, world.task_own, "claire", "sophie")
    with pf.uow() as uow, pytest.raises(Forbidden):
        discussion.withdraw_opinion(uow, task_id=world.task_own, actor="sophie")
    with pf.uow() as uow:
        discussion.withdraw_opinion(uow, task_id=world.task_own, actor="claire")
    assert task_row(pf, world.task_own).delegated_to is None
    assert "sophie" in _notes(pf, "opinion_withdrawn")
    with pytest.raises(Forbidden):
        _answer(pf, world.task_own, "sophie")
    assert _events(pf, world.own, "opinion_withdrawn")[0].payload["delegate"] == "sophie"
    complete(pf, world.task_own, "claire", {"decision": "done"})


def test_who_cannot_be_asked(world):
    pf = world.pf
    for delegate in ("paul", "claire", "alice", "denis", "nobody", ""):
        with pytest.raises(InvalidInput) as refused:
            _ask(pf, world.task_own, "claire", delegate)
        assert refused.value.errors == {"delegate": ["Choisissez une personne de la liste."]}
    with pytest.raises(Forbidden):
        _ask(pf, world.task_own, "sophie", "karim")  # not hers to ask about
    _absence(pf, "sophie", "karim")
    with pytest.raises(InvalidInput) as refused:
        _ask(pf, world.task_own, "claire", "sophie")
    assert "absente aujourd'hui" in refused.value.errors["delegate"][0]
    with pytest.raises(InvalidInput):
        _ask(pf, world.task_own, "claire", "karim", "   ")
    assert task_row(pf, world.task_own).delegated_to is None
    with pf.read() as db:
        names = {u for u, _n in queries.opinion_candidates(db, db.get(HumanTask, world.task_own),
                                                            access.actor(db, "claire"))}
    assert names == {"hugo", "sarah", "karim", "anne", "lucas", "ines"}  # staff, here today, not claire


def test_a_partner_is_asked_on_a_partner_task_and_the_opinion_is_shared(world):
    pf = world.pf
    [task_id] = _partner_task(pf, world.own)
    with pf.read() as db:
        names = {u for u, _n in queries.opinion_candidates(db, db.get(HumanTask, task_id),
                                                            access.actor(db, "claire"))}
    assert "paul" in names
    _ask(pf, task_id, "claire", "paul", "Votre conseil d'administration est-il d'accord ?")
    assert task_id in inbox_ids(pf, "paul")
    with pf.read() as db:  # the question is his to read
        [row] = queries.opinions(db, access.actor(db, "paul"), db.get(HumanTask, task_id))
    assert (row.visibility, row.state) == ("shared", "pending")
    _answer(pf, task_id, "paul", "Oui.", "favourable")
    with pf.read() as db:
        [row] = queries.opinions(db, access.actor(db, "claire"), db.get(HumanTask, task_id))
        # answered, the task is claire's again: paul no longer reads it
        assert queries.opinions(db, access.actor(db, "paul"), db.get(HumanTask, task_id)) == []
    assert (row.visibility, row.opinion, row.recommendation) == ("shared", "Oui.", "favourable")


def test_an_internal_opinion_is_hidden_from_the_partner_and_masked_in_their_audit(world):
    pf = world.pf
    [task_id] = _partner_task(pf, world.own)
    _ask(pf, task_id, "claire", "karim", "Jusqu'où pouvons-nous céder ?")
    with pf.read() as db:
        task = db.get(HumanTask, task_id)
        assert queries.opinions(db, access.actor(db, "paul"), task) == []
        assert len(queries.opinions(db, access.actor(db, "claire"), task)) == 1
    from partnerflow.engine.runtime import auditlog, views

    with pf.read() as db:
        partner_export = auditlog.export_jsonl(db, world.own, views.Audiences(pf.forms))
        staff_export = auditlog.export_jsonl(db, world.own)
    assert "Jusqu'où" in staff_export and "Jusqu'où" not in partner_export
    assert '"payload.question"' in partner_export


def _partner_task(pf, partnership_id) -> list[int]:
    deploy(pf, [SHARED_REVIEW])
    return start(pf, partnership_id, "shared_review")


# ---------------------------------------------------------------- absences


def test_an_absent_users_tasks_are_offered_to_the_deputy_while_the_absence_lasts(world, clock):
    pf = world.pf
    [assigned] = start(pf, world.other, "assignment_timers", {"delegate": "karim", "reviewer": "claire",
                                                              "review_deadline": "2026-03-20"})
    assert task_row(pf, assigned).assignee == "karim"
    before = set(inbox_ids(pf, "sophie"))
    absence_id = _absence(pf, "karim", "sophie", starts=TODAY + timedelta(days=1))
    assert set(inbox_ids(pf, "sophie")) == before  # not yet
    clock.advance(days=1)
    mine = inbox_ids(pf, "sophie")
    assert assigned in mine and set(before) <= set(mine)
    with pf.read() as db:
        assert queries.inbox_count(db, "sophie") == len(mine)
        sophie = access.actor(db, "sophie")
        assert [a.username for a in sophie.standing_in_for] == ["karim"]
        assert access.actor(db, "karim").absent
        acting = set(db.scalars(select(HumanTask.id).where(access.where(sophie, "act"))))
        assert assigned in acting
    # the deputy completes it under her own name, for karim
    complete(pf, assigned, "sophie", {"decision": "done"})
    row = task_row(pf, assigned)
    assert row.completed_by == "sophie"
    [done] = [e for e in _events(pf, world.other, "task_completed") if e.task_uuid == row.task_uuid]
    assert done.actor == "sophie" and done.payload["on_behalf_of"] == "karim"
    declared = _events(pf, None, "absence_declared")
    assert declared[-1].payload == {"absence_id": absence_id, "user": "karim", "deputy": "sophie",
                                    "starts_on": "2026-03-03", "ends_on": "2026-03-08"}
    # karim back early: sophie no longer sees his tasks
    with pf.uow() as uow:
        discussion.end_absence(uow, actor="karim", absence_id=absence_id)
    with pf.read() as db:
        assert access.actor(db, "sophie").standing_in_for == ()
    assert _events(pf, None, "absence_ended")[-1].actor == "karim"


def test_an_absent_users_offers_reach_the_deputy_and_so_do_their_notifications(world):
    pf = world.pf
    _absence(pf, "claire", "sophie")
    # the direction's task of "own" is offered to claire: sophie (professional) sees and takes it
    assert world.task_own in inbox_ids(pf, "sophie")
    with pf.uow() as uow:
        services.claim_task(uow, task_id=world.task_own, actor="sophie")
    assert _events(pf, world.own, "task_claimed")[-1].payload["on_behalf_of"] == "claire"
    assert world.task_own in inbox_ids(pf, "sophie") and world.task_own not in inbox_ids(pf, "claire")
    # a new task for the direction: claire's notification is copied to sophie, saying why
    new = start(pf, world.other, "review_loop", {"rounds": 0})
    told = _notes(pf, "task_assigned")
    copy = [n for n in told["sophie"] if n.task_id == new[0]]
    assert copy and "en remplacement de claire" in copy[0].body
    assert [n for n in told["claire"] if n.task_id == new[0]]


def test_absences_refused(world):
    pf = world.pf
    cases = [
        (dict(starts=None), "starts_on"),
        (dict(starts=TODAY, ends=TODAY - timedelta(days=1)), "ends_on"),
        (dict(starts=TODAY - timedelta(days=9), ends=TODAY - timedelta(days=2)), "ends_on"),
        (dict(ends=TODAY + timedelta(days=400)), "ends_on"),
    ]
    for period, field in cases:
        with pytest.raises(InvalidInput) as refused:
            _absence(pf, "claire", "hugo", **period)
        assert field in refused.value.errors
    for deputy in ("paul", "alice", "claire", "nobody"):
        with pytest.raises(InvalidInput) as refused:
            _absence(pf, "claire", deputy)
        assert "deputy" in refused.value.errors
    with pytest.raises(Forbidden):
        _absence(pf, "paul", "claire")  # a partner contact declares no absence here
    _absence(pf, "claire", "hugo")
    with pytest.raises(InvalidInput) as refused:
        _absence(pf, "claire", "sophie", starts=TODAY + timedelta(days=3), ends=TODAY + timedelta(days=9))
    assert "starts_on" in refused.value.errors  # overlaps
    with pf.read() as db:
        [mine] = queries.absences_of(db, "claire")
        assert (mine.deputy, mine.current) == ("hugo", True)
        assert [a.username for a in queries.standing_in(db, "hugo")] == ["claire"]
        assert "claire" not in {u for u, _n in queries.deputy_candidates(db, "claire")}
        assert "paul" not in {u for u, _n in queries.deputy_candidates(db, "claire")}
    with pf.uow() as uow, pytest.raises(Exception) as other:
        discussion.end_absence(uow, actor="hugo", absence_id=mine.id)  # not his
    assert type(other.value).__name__ == "NotFound"
