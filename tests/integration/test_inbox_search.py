"""The inbox's search, filters, « qui doit agir », follow-up days, bulk claim and release, and
saved filters, on the projection (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from partnerflow.engine import access
from partnerflow.engine.errors import Forbidden, InvalidInput
from partnerflow.engine.runtime import inbox_actions, queries, search, services
from partnerflow.engine.store.models import AuditEvent, HumanTask, Organisation, TaskTerm
from tests.conftest import FIXTURES, deploy
from tests.web.support import build_world, complete, new_partnership, start, task_row


@pytest.fixture
def world(fixture_pf):
    deploy(fixture_pf, [FIXTURES / "discussion" / "shared_review.bpmn"])
    return build_world(fixture_pf)


def found(pf, username: str, text: str, **more) -> list[int]:
    with pf.read() as db:
        return sorted(r.id for r in queries.inbox(
            db, username, pf.clock(), queries.InboxFilter(text=text, **more)))


def counted(pf, username: str, text: str) -> int:
    with pf.read() as db:
        return queries.inbox_count(db, username, queries.InboxFilter(text=text), pf.clock())


def _organisation(pf, name: str) -> int:
    with pf.uow() as uow:
        org = Organisation(name=name, kind="association")
        uow.session.add(org)
        uow.session.flush()
        org_id = org.id
        uow.commit()
    return org_id


def test_a_task_is_found_by_its_title_partnership_organisation_and_a_value(world):
    pf = world.pf
    org_id = _organisation(pf, "Lycée Œnologique")
    with pf.uow() as uow:
        pid = services.create_partnership(uow, title="Atelier mémoire à Bagnolet", actor="claire",
                                          partner_organisation_ids=(org_id,))
    [task] = start(pf, pid, "review_loop", {"rounds": 0, "budget_line": "Subvention ARS 2027"})
    assert found(pf, "claire", "relire") == sorted([world.task_own, world.task_other, task])
    # accents, case and ligatures folded; each word is the beginning of a word
    assert found(pf, "claire", "MÉMOIRE bagno") == [task]
    assert found(pf, "claire", "oeno") == [task]  # the partner organisation's name
    assert found(pf, "claire", "subv ars") == [task]  # a variable's value
    assert found(pf, "claire", "subvention mairie") == []  # every word must match
    assert found(pf, "claire", "lycee") == sorted([world.task_own, task])
    assert counted(pf, "claire", "lycee") == 2
    assert found(pf, "claire", "  ,;  ") == sorted([world.task_own, world.task_other, task])


def test_a_closed_task_leaves_the_search_index(world):
    pf = world.pf
    with pf.read() as db:
        assert db.scalar(select(TaskTerm.term).where(TaskTerm.task_id == world.task_own).limit(1))
    complete(pf, world.task_own, "claire", {"decision": "done"})
    with pf.read() as db:
        assert db.scalars(select(TaskTerm.term).where(TaskTerm.task_id == world.task_own)).all() == []
        assert db.scalar(select(TaskTerm.term).where(TaskTerm.task_id == world.task_other).limit(1))
    assert found(pf, "claire", "relire") == [world.task_other]


def test_a_common_word_finds_the_same_tasks_through_the_primary_key(world, monkeypatch):
    """Above RARE matches the search checks each task of the ranges: same answer."""
    pf = world.pf
    expected = found(pf, "claire", "lycee relire")
    monkeypatch.setattr(search, "RARE", 0)
    assert found(pf, "claire", "lycee relire") == expected == [world.task_own]
    assert counted(pf, "claire", "lycee relire") == 1


def test_a_partner_never_finds_a_task_by_an_internal_value(world):
    pf = world.pf
    [shared] = start(pf, world.own, "shared_review", {"internal_note": "Zephyrine confidentiel"})
    # the direction reads internal values and finds it
    assert found(pf, "claire", "zephyrine") == [shared]
    # paul takes part in the task (offered to the partner group, his partnership) ...
    assert found(pf, "paul", "relire partenaire") == [shared]
    # ... but the value of an internal variable does not reveal it, nor count it
    assert found(pf, "paul", "zephyrine") == []
    assert counted(pf, "paul", "zephyrine") == 0
    with pf.read() as db:
        audiences = dict(db.execute(select(TaskTerm.term, TaskTerm.audience)
                                    .where(TaskTerm.task_id == shared)).all())
    assert audiences["zephyrine"] == "internal" and audiences["relire"] == "shared"
    # nor an internal task of another partnership, whatever the words
    assert found(pf, "paul", "relire") == [shared]


def test_filters_on_holder_due_and_follow_up(world, clock):
    pf = world.pf
    with pf.uow() as uow:
        inbox_actions.claim_tasks(uow, task_ids=[world.task_own], actor="claire")
    assert found(pf, "claire", "", holder="me") == [world.task_own]
    assert found(pf, "claire", "", holder="nobody") == [world.task_other]
    assert found(pf, "claire", "", due="overdue") == []
    assert found(pf, "claire", "", due="week") == sorted([world.task_own, world.task_other])
    assert found(pf, "claire", "", due="none") == []
    assert found(pf, "claire", "", age="week") == []
    with pf.uow() as uow:
        inbox_actions.set_follow_up(uow, task_id=world.task_own, actor="claire", day=date(2026, 3, 4))
    assert found(pf, "claire", "", follow_up="set") == [world.task_own]
    assert found(pf, "claire", "", follow_up="due") == []
    clock.advance(days=2)
    assert found(pf, "claire", "", follow_up="due") == [world.task_own]
    clock.advance(days=6)
    assert found(pf, "claire", "", age="week") == sorted([world.task_own, world.task_other])
    assert found(pf, "claire", "", age="month") == []
    with pf.read() as db:
        rows = queries.inbox(db, "claire", pf.clock(), queries.InboxFilter(sort="follow_up"))
    assert [r.id for r in rows] == [world.task_own, world.task_other]  # no follow-up day last


def test_only_the_holder_sets_the_follow_up_day_and_it_is_audited(world):
    pf = world.pf
    with pf.uow() as uow, pytest.raises(Forbidden):  # offered to her, not hers yet
        inbox_actions.set_follow_up(uow, task_id=world.task_own, actor="claire", day=date(2026, 3, 9))
    with pf.uow() as uow:
        inbox_actions.claim_tasks(uow, task_ids=[world.task_own], actor="claire")
    with pf.uow() as uow, pytest.raises(Forbidden):  # a colleague of the direction
        inbox_actions.set_follow_up(uow, task_id=world.task_own, actor="hugo", day=date(2026, 3, 9))
    with pf.uow() as uow:
        inbox_actions.set_follow_up(uow, task_id=world.task_own, actor="claire", day=date(2026, 3, 9))
    with pf.uow() as uow:
        inbox_actions.set_follow_up(uow, task_id=world.task_own, actor="claire", day=None)
    assert task_row(pf, world.task_own).follow_up_on is None
    with pf.read() as db:
        payloads = [e.payload for e in db.scalars(select(AuditEvent).where(
            AuditEvent.type == "task_follow_up_set").order_by(AuditEvent.id))]
    assert [(p["follow_up_on"], p["before"]) for p in payloads] == [("2026-03-09", None),
                                                                   (None, "2026-03-09")]


def test_bulk_claim_takes_what_it_may_and_names_each_refusal(world):
    pf = world.pf
    other_direction = start(pf, new_partnership(pf, "Troisième"), "review_loop", {"rounds": 0})[0]
    with pf.uow() as uow:
        inbox_actions.claim_tasks(uow, task_ids=[other_direction], actor="hugo")
    [rows_task] = start(pf, world.own, "rows_demo")  # professional: not offered to claire
    with pf.uow() as uow:
        result = inbox_actions.claim_tasks(
            uow, task_ids=[world.task_own, other_direction, rows_task, 999_999, world.task_own],
            actor="claire")
    assert result.done == [world.task_own]
    reasons = {r.task_id: (r.title, r.reason) for r in result.refused}
    assert reasons == {
        other_direction: ("Relire le document", "elle est déjà réservée par une autre personne"),
        # the direction reads every open task, so it is named
        rows_task: ("Remplir les lignes", "elle ne vous est pas proposée"),
        999_999: (None, "cette tâche n’existe pas"),
    }
    assert task_row(pf, world.task_own).claimed_by == "claire"
    with pf.read() as db:
        claims = db.scalars(select(AuditEvent.actor).where(AuditEvent.type == "task_claimed")).all()
    assert sorted(claims) == ["claire", "hugo"]
    with pf.uow() as uow:  # a task she may not even read is refused without its title
        result = inbox_actions.claim_tasks(uow, task_ids=[world.task_other], actor="sophie")
    assert result.refused == [inbox_actions.Refusal(world.task_other, None,
                                                    "elle ne vous est pas proposée")]
    with pf.uow() as uow, pytest.raises(InvalidInput):
        inbox_actions.claim_tasks(uow, task_ids=[], actor="claire")


def test_bulk_release_frees_ones_own_and_the_direction_anyones(world):
    pf = world.pf
    with pf.uow() as uow:
        inbox_actions.claim_tasks(uow, task_ids=[world.task_own, world.task_other], actor="claire")
    with pf.uow() as uow:  # sophie holds none of them and is not the direction
        result = inbox_actions.release_tasks(uow, task_ids=[world.task_own], actor="sophie")
    assert result.done == [] and result.refused[0].reason == "elle est réservée par une autre personne"
    with pf.uow() as uow:
        result = inbox_actions.release_tasks(uow, task_ids=[world.task_own], actor="claire")
    assert result.done == [world.task_own]
    with pf.uow() as uow:  # hugo, direction, may release a colleague's; a free one is refused
        result = inbox_actions.release_tasks(uow, task_ids=[world.task_other, world.task_own],
                                             actor="hugo")
    assert result.done == [world.task_other]
    assert [r.reason for r in result.refused] == ["elle n’est réservée par personne"]


def test_who_must_act_names_the_holder_or_those_who_may_take_it(world):
    pf = world.pf
    [shared] = start(pf, world.other, "shared_review")  # partner + direction, paul not attached
    with pf.uow() as uow:
        inbox_actions.claim_tasks(uow, task_ids=[world.task_own], actor="hugo")
    with pf.read() as db:
        rows = [db.get(HumanTask, t) for t in (world.task_own, world.task_other, shared)]
        who = queries.who_acts(db, rows)
    assert who[world.task_own] == queries.WhoActs("Hugo", True, (), 0)
    assert who[world.task_other].candidates == ("Claire", "Hugo")
    # the partner group's members are named only when attached to the partnership
    assert who[shared].candidates == ("Claire", "Hugo")


def test_saved_filters_are_the_users_own_and_the_shared_ones_the_direction_defines(world):
    pf = world.pf
    with pf.read() as db:
        names = [f.name for f in inbox_actions.saved_filters(db, "sophie")]
    assert names == ["Mes partenariats en retard", "À relancer"] or sorted(names) == sorted(
        ["Mes partenariats en retard", "À relancer"])
    with pf.uow() as uow:
        mine = inbox_actions.save_filter(uow, actor="sophie", name="  Lycée  ",
                                         query={"q": "lycee", "page": "3", "evil": "x"})
    with pf.uow() as uow, pytest.raises(Forbidden):
        inbox_actions.save_filter(uow, actor="sophie", name="Pour tous", query={"q": "x"}, shared=True)
    with pf.uow() as uow:
        inbox_actions.save_filter(uow, actor="claire", name="Évaluations", query={"stage": "evaluation"},
                                  shared=True)
    with pf.uow() as uow, pytest.raises(InvalidInput):
        inbox_actions.save_filter(uow, actor="sophie", name="", query={"q": "x"})
    with pf.read() as db:
        sophie = {f.name: f for f in inbox_actions.saved_filters(db, "sophie")}
        karim = [f.name for f in inbox_actions.saved_filters(db, "karim")]
    assert sophie["Lycée"].query == {"q": "lycee"}  # only the inbox's parameters are kept
    assert "Évaluations" in sophie and "Lycée" not in karim and "Évaluations" in karim
    with pf.uow() as uow, pytest.raises(Forbidden):
        inbox_actions.delete_filter(uow, actor="karim", filter_id=mine)
    with pf.uow() as uow, pytest.raises(Forbidden):
        inbox_actions.delete_filter(uow, actor="sophie", filter_id=sophie["Évaluations"].id)
    with pf.uow() as uow:
        inbox_actions.delete_filter(uow, actor="sophie", filter_id=mine)


def test_the_history_of_a_task_is_read_by_whoever_may_read_the_task(world):
    pf = world.pf
    [rows_task] = start(pf, world.own, "rows_demo")  # offered to professionals (karim is one)
    with pf.read() as db:
        task = db.get(HumanTask, rows_task)
        karim, paul, anne = (access.actor(db, u) for u in ("karim", "paul", "anne"))
        assert not access.may(karim, "read_audit", task.partnership_id)
        assert access.may(karim, "read_history", task)
        assert not access.may(anne, "read_history", task)
        assert access.may(paul, "read_history", task)  # the partnership's audit log is his
        assert not access.may(paul, "read_history", db.get(HumanTask, world.task_other))
