"""The access policy's SQL forms (engine/access/sql.py) against its predicates, row by row,
on the database: the open tasks `where(who, "act")` selects, the inbox, its search and its
count, the users `users_who_may` and `users_who_may_each` name, and the partnerships `where`
lists, for every role, over tasks offered to a group, to two groups, to the partner and a
staff group, by name, assigned by name, claimed, waiting for an opinion; then again with a
deputy standing in for an absent colleague."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from partnerflow.engine import access
from partnerflow.engine.access import accounts
from partnerflow.engine.runtime import discussion, queries, services
from partnerflow.engine.store.models import HumanTask, Partnership, User
from tests.conftest import FIXTURES, deploy, make_user
from tests.web.support import USERS, build_world, start

TODAY = date(2026, 3, 2)  # the fixtures' clock: 2026-03-02 09:00 UTC
# a partner representative who also sits on the board, attached to `own` only
BEA = "bea"
# a professional who is also in the partner group, attached to no partnership
LEA = "lea"
# a professional in a group of the organisation's own named `opinion` (as the inbox's
# ranges of the opinions asked are)
OSCAR = "oscar"
PEOPLE = [*USERS, BEA, LEA, OSCAR]


@pytest.fixture
def world(fixture_pf):
    pf = fixture_pf
    w = build_world(pf)
    with pf.uow() as uow:
        accounts.create_group(uow, key="opinion", label_fr="Avis", label_en="Opinion",
                              actor="ines")
    deploy(pf, [FIXTURES / "access_offers.bpmn", FIXTURES / "discussion" / "shared_review.bpmn",
                FIXTURES / "lanes" / "partner_comment.bpmn"])
    make_user(pf, BEA, "partner", "board")
    make_user(pf, LEA, "partner", "professional")
    make_user(pf, OSCAR, "opinion", "professional")
    with pf.uow() as uow:
        services.attach_member(uow, partnership_id=w.own, username=BEA, actor="ines")
    for partnership in (w.own, w.other):
        for process in ("access_offers", "shared_review", "partner_comment"):
            start(pf, partnership, process)
    with pf.uow() as uow:  # hugo holds the other partnership's direction task
        services.claim_task(uow, task_id=w.task_other, actor="hugo")
    with pf.uow() as uow:  # sarah holds the own partnership's task offered to two groups
        two_groups = uow.session.scalar(select(HumanTask.id).where(
            HumanTask.element_id == "two_groups", HumanTask.partnership_id == w.own))
        services.claim_task(uow, task_id=two_groups, actor="sarah")
    with pf.uow() as uow:  # claire's own task waits for sophie's opinion
        discussion.ask_opinion(uow, task_id=w.task_own, actor="claire", delegate="sophie",
                               question="Qu'en pensez-vous ?")
    return w


def _open_tasks(db) -> list[HumanTask]:
    return db.scalars(select(HumanTask).where(HumanTask.state == "open")
                      .order_by(HumanTask.id)).all()


def _check_tasks(pf, people=PEOPLE) -> dict[str, set[int]]:
    """For each person: the SQL `act`, the inbox (all of it, and by pages) and its count say
    what the predicates say; returns who may act on what."""
    acting = {}
    with pf.read() as db:
        tasks = _open_tasks(db)
        for username in people:
            who = access.actor(db, username)
            may_act = {t.id for t in tasks if access.may(who, "act", t)}
            asked = {t.id for t in tasks if access.may(who, "give_opinion", t)}
            where = set(db.scalars(select(HumanTask.id).where(access.where(who, "act"))))
            assert where == may_act, username
            inbox = [r.id for r in queries.inbox(db, username, pf.clock(),
                                                 queries.InboxFilter(limit=500))]
            assert len(inbox) == len(set(inbox)), username  # each task once
            assert set(inbox) == may_act | asked, username
            assert queries.inbox_count(db, username) == len(inbox), username
            by_pages = [r.id for offset in range(0, len(inbox) + 3, 3)
                        for r in queries.inbox(db, username, pf.clock(),
                                               queries.InboxFilter(limit=3, offset=offset))]
            assert by_pages == inbox, username
            acting[username] = may_act
    return acting


def test_the_sql_forms_of_act_and_the_inbox_say_what_the_predicates_say(world):
    acting = _check_tasks(world.pf)
    with world.pf.read() as db:
        titles = {t.id: (t.element_id, t.partnership_id) for t in _open_tasks(db)}
    named = {titles[i] for i in acting["paul"]}
    # a partner named on a task acts on it on their own partnership only
    assert ("by_name", world.own) in named and ("by_name", world.other) not in named
    # a partner who sits on the board: the board's tasks everywhere, the partner's at home
    bea = {titles[i] for i in acting[BEA]}
    assert {("partner_and_board", world.own), ("partner_and_board", world.other),
            ("comment_v1", world.own), ("review_together", world.own)} <= bea
    assert ("comment_v1", world.other) not in bea and ("review_together", world.other) not in bea
    # the task waiting for sophie's opinion is in her inbox, not among those she acts on
    assert world.task_own not in acting["sophie"]
    assert world.task_own in acting["claire"]
    # a task claimed by someone else is no longer offered to the rest of the group
    assert world.task_other not in acting["claire"] and world.task_other in acting["hugo"]
    # a staff member in the partner group takes the partner's tasks offered to their other
    # group too, on every partnership: each counted once
    lea = {titles[i] for i in acting[LEA]}
    assert {("partner_and_professional", world.own), ("partner_and_professional", world.other)} <= lea
    assert ("comment_v1", world.other) not in lea
    assert {("opinion_group", world.own), ("opinion_group", world.other)} <= \
        {titles[i] for i in acting[OSCAR]}
    assert ("two_groups", world.own) not in {titles[i] for i in acting["karim"]}
    assert ("two_groups", world.other) in {titles[i] for i in acting["karim"]}


def test_the_inbox_search_reaches_every_range_assigned_opinion_and_offers(world):
    pf = world.pf

    def found(username: str, text: str) -> set[int]:
        with pf.read() as db:
            filters = queries.InboxFilter(text=text, limit=500)
            rows = {r.id for r in queries.inbox(db, username, pf.clock(), filters)}
            counted = queries.inbox_count(db, username, filters, pf.clock(), at_most=100)
            assert counted == len(rows), (username, text)
            return rows

    with pf.read() as db:
        tasks = _open_tasks(db)
        sarah, sophie, karim = (access.actor(db, n) for n in ("sarah", "sophie", "karim"))
        assigned = {t.id for t in tasks if t.assignee == "sarah"}
        offered_twice = {t.id for t in tasks if t.element_id == "two_groups"
                         and access.may(karim, "act", t)}
        by_name = {t.id for t in tasks if t.element_id == "by_name"}
        assert len(assigned) == 2 and len(offered_twice) == 1 and len(by_name) == 2
        assert all(access.may(sarah, "act", t) for t in tasks if t.id in assigned)
        assert all(access.may(sophie, "act", t) for t in tasks if t.id in by_name)
    assert found("sarah", "affectee sarah") == assigned
    assert found("sophie", "relire ehpad") == {world.task_own}  # the opinion asked of her
    assert found("karim", "deux groupes") == offered_twice
    assert found("sophie", "nommement") == by_name


def test_the_users_a_rule_holds_for_are_those_the_predicate_names(world):
    with world.pf.read() as db:
        tasks = _open_tasks(db)
        users = db.scalars(select(User).where(User.active.is_(True))).all()
        actors = {u.username: access.actor(db, u.username) for u in users}
        for action in ("act", "reassign_to", "offered"):
            each = access.users_who_may_each(db, action, tasks)
            assert set(each) == {t.id for t in tasks}
            for task in tasks:
                expected = {n for n, who in actors.items() if access.may(who, action, task)}
                assert {u.username for u in each[task.id]} == expected, (action, task.element_id)
                assert {u.username for u in access.users_who_may(db, action, task)} == expected, \
                    (action, task.element_id)
                # the candidates are whoever the task may be for, the predicate decides
                candidates = set(db.scalars(select(User.username).where(access.candidates(task))))
                assert expected <= candidates, (action, task.element_id)
        assert access.users_who_may_each(db, "act", []) == {}
        # a page of one task: its named users are found whatever the groups on the page
        for task in tasks:
            [(task_id, found)] = access.users_who_may_each(db, "act", [task]).items()
            assert task_id == task.id
            assert {u.username for u in found} == \
                {n for n, who in actors.items() if access.may(who, "act", task)}, task.element_id
        by_name = next(t for t in tasks if t.element_id == "by_name" and t.partnership_id == world.own)
        assert {u.username for u in access.users_who_may(db, "act", by_name)} == {"sophie", "paul"}


def test_the_partnership_lists_say_what_the_predicates_say(world):
    with world.pf.read() as db:
        ids = set(db.scalars(select(Partnership.id)))
        for username in PEOPLE:
            who = access.actor(db, username)
            for action in ("read_partnership", "read_audit", "export"):
                listed = set(db.scalars(select(Partnership.id).where(access.where(who, action))))
                assert listed == {p for p in ids if access.may(who, action, p)}, (username, action)
        with pytest.raises(KeyError):
            access.where(access.actor(db, "claire"), "comment")


def test_a_deputys_sql_forms_and_inbox_cover_the_absent_colleagues_tasks(world):
    pf = world.pf
    with pf.read() as db:
        two_groups_other = db.scalar(select(HumanTask.id).where(
            HumanTask.element_id == "two_groups", HumanTask.partnership_id == world.other))
    with pf.uow() as uow:  # karim took it before going away
        services.claim_task(uow, task_id=two_groups_other, actor="karim")
    with pf.uow() as uow:
        discussion.declare_absence(uow, actor="claire", starts_on=TODAY,
                                   ends_on=TODAY + timedelta(days=2), deputy="sarah")
    with pf.uow() as uow:  # karim away too: sophie stands in for him
        discussion.declare_absence(uow, actor="karim", starts_on=TODAY,
                                   ends_on=TODAY + timedelta(days=2), deputy="sophie")
    with pf.read() as db:
        assert [a.username for a in access.actor(db, "sarah").standing_in_for] == ["claire"]
    acting = _check_tasks(pf, ["sarah", "sophie", "claire", "karim", "hugo"])
    # the task claire holds (waiting for sophie's opinion) is her deputy's to work on too
    assert world.task_own in acting["sarah"]
    # what hugo holds is nobody else's, deputy or not
    assert world.task_other not in acting["sarah"]
    with pf.read() as db:
        titles = {t.id: (t.element_id, t.partnership_id) for t in _open_tasks(db)}
    # sophie covers what karim took, not what sarah holds: the count keeps each task once
    # although sophie's own range and karim's both read the professional group's offers
    assert two_groups_other in acting["sophie"]
    assert ("two_groups", world.own) not in {titles[i] for i in acting["sophie"]}
