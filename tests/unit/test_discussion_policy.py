"""The access policy's rules for comments, opinions asked on a task and a deputy during an
absence, one by one, on plain objects (no database)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from partnerflow.engine import access
from partnerflow.engine.access import (
    SHARED,
    Actor,
    CommentRef,
    OpinionRequest,
    PendingOpinion,
    Thread,
)

OWN, OTHER = 1, 2


@dataclass
class Task:
    partnership_id: int = OWN
    role: str | None = "direction"
    candidate_groups: str | None = None
    candidate_users: str | None = None
    assignee: str | None = None
    claimed_by: str | None = None
    delegated_to: str | None = None
    state: str = "open"
    completed_by: str | None = None


def who(name: str, *roles: str, partnerships=(), standing_in_for=(), absent=False) -> Actor:
    return Actor(name, frozenset(roles), frozenset(partnerships), tuple(standing_in_for), absent)


CLAIRE = who("claire", "direction")
HUGO = who("hugo", "direction")
SOPHIE = who("sophie", "professional")
KARIM = who("karim", "delegate", "professional")
PAUL = who("paul", "partner", partnerships=[OWN])
NADIA = who("nadia", "partner", partnerships=[OTHER])
ALICE = who("alice", "auditor")
DENIS = who("denis", "designer")


# ---------------------------------------------------------------- an opinion asked on a task


def test_a_task_waiting_for_an_opinion_stays_its_holders_but_nobody_completes_it():
    task = Task(claimed_by="claire", delegated_to="sophie")
    assert access.may(CLAIRE, "act", task)
    assert not access.may(CLAIRE, "complete", task)
    assert not access.may(SOPHIE, "complete", task) and not access.may(SOPHIE, "act", task)
    task.delegated_to = None
    assert access.may(CLAIRE, "complete", task)


def test_the_delegate_alone_answers_and_reads_the_task_while_it_waits():
    task = Task(claimed_by="claire", delegated_to="sophie")
    assert access.may(SOPHIE, "give_opinion", task)
    assert access.may(SOPHIE, "read_task", task)
    for other in (CLAIRE, HUGO, KARIM, PAUL):
        assert not access.may(other, "give_opinion", task)
    task.delegated_to = None
    assert not access.may(SOPHIE, "give_opinion", task)
    assert not access.may(SOPHIE, "read_task", task)


def test_who_may_ask_an_opinion():
    offered = Task()
    assert access.may(CLAIRE, "ask_opinion", offered)  # offered: it becomes hers
    assert not access.may(SOPHIE, "ask_opinion", offered)  # not hers
    assert not access.may(ALICE, "ask_opinion", offered)  # auditors read only
    assert not access.may(HUGO, "ask_opinion", Task(claimed_by="claire"))
    assert not access.may(CLAIRE, "ask_opinion", Task(claimed_by="claire", delegated_to="sophie"))
    assert not access.may(CLAIRE, "ask_opinion", Task(claimed_by="claire", state="completed"))


@pytest.mark.parametrize("delegate, task, allowed", [
    (SOPHIE, Task(claimed_by="claire"), True),  # staff read every partnership
    (KARIM, Task(claimed_by="claire"), True),
    (CLAIRE, Task(claimed_by="claire"), False),  # not oneself
    (PAUL, Task(claimed_by="claire"), False),  # a partner is never asked on an internal task
    (PAUL, Task(role="partner", claimed_by="claire"), True),  # ... but on one the partner takes part in
    (NADIA, Task(role="partner", claimed_by="claire"), False),  # not attached to that partnership
    (ALICE, Task(claimed_by="claire"), False),  # auditors do not take part
    (DENIS, Task(claimed_by="claire"), False),  # designers read no partnership
    (who("sophie", "professional", absent=True), Task(claimed_by="claire"), False),  # away today
])
def test_who_may_be_asked_an_opinion(delegate, task, allowed):
    assert access.may(delegate, "be_asked_opinion", OpinionRequest(task, CLAIRE)) is allowed


def test_a_partner_holding_a_task_may_ask_staff_or_a_partner_colleague():
    task = Task(role="partner", claimed_by="paul")
    colleague = who("lea", "partner", partnerships=[OWN])
    assert access.may(PAUL, "ask_opinion", task)
    assert access.may(KARIM, "be_asked_opinion", OpinionRequest(task, PAUL))
    assert access.may(colleague, "be_asked_opinion", OpinionRequest(task, PAUL))
    assert not access.may(NADIA, "be_asked_opinion", OpinionRequest(task, PAUL))


def test_an_opinion_is_internal_between_staff_and_shared_when_a_partner_takes_part():
    assert access.opinion_visibility(CLAIRE, SOPHIE) == access.INTERNAL
    assert access.opinion_visibility(CLAIRE, PAUL) == SHARED
    assert access.opinion_visibility(PAUL, KARIM) == SHARED


def test_who_may_withdraw_a_question():
    task = Task(claimed_by="sophie", delegated_to="karim")
    pending = PendingOpinion(task, "sophie")
    assert access.may(SOPHIE, "withdraw_opinion", pending)
    assert access.may(CLAIRE, "withdraw_opinion", pending)  # the direction releases any task
    assert not access.may(KARIM, "withdraw_opinion", pending)
    assert not access.may(PAUL, "withdraw_opinion", pending)
    task.delegated_to = None
    assert not access.may(SOPHIE, "withdraw_opinion", pending)


# ---------------------------------------------------------------- comments


@pytest.mark.parametrize("person, allowed", [
    (CLAIRE, True), (SOPHIE, True), (KARIM, True), (PAUL, True),
    (NADIA, False),  # a partner of another partnership
    (ALICE, False), (DENIS, False),  # auditors and designers do not comment
])
def test_who_may_comment_on_a_partnership(person, allowed):
    assert access.may(person, "comment", Thread(OWN)) is allowed


def test_a_task_thread_is_written_by_who_may_read_the_task():
    internal = Task(claimed_by="claire")
    assert access.may(CLAIRE, "comment", Thread(OWN, internal))
    assert not access.may(SOPHIE, "comment", Thread(OWN, internal))  # not her task
    assert not access.may(PAUL, "comment", Thread(OWN, internal))
    partner_task = Task(role="partner")
    assert access.may(PAUL, "comment", Thread(OWN, partner_task))
    assert not access.may(NADIA, "comment", Thread(OWN, partner_task))
    waiting = Task(claimed_by="claire", delegated_to="sophie")
    assert access.may(SOPHIE, "comment", Thread(OWN, waiting))  # the delegate reads it


def test_only_staff_choose_to_share_and_only_where_the_partner_takes_part():
    assert access.may(CLAIRE, "share_comment", Thread(OWN))
    assert access.may(CLAIRE, "share_comment", Thread(OWN, Task(role="partner")))
    assert not access.may(CLAIRE, "share_comment", Thread(OWN, Task()))  # an internal task
    assert not access.may(PAUL, "share_comment", Thread(OWN))
    assert not access.may(ALICE, "share_comment", Thread(OWN))


def test_what_a_new_comment_is():
    assert access.comment_visibility(CLAIRE, Thread(OWN), None) == access.INTERNAL  # by default
    assert access.comment_visibility(CLAIRE, Thread(OWN), SHARED) == SHARED
    assert access.comment_visibility(CLAIRE, Thread(OWN, Task()), SHARED) == access.INTERNAL
    assert access.comment_visibility(PAUL, Thread(OWN), None) == SHARED  # a partner's own
    assert access.comment_visibility(PAUL, Thread(OWN), access.INTERNAL) == SHARED


@pytest.mark.parametrize("person, internal, shared", [
    (CLAIRE, True, True), (SOPHIE, True, True), (ALICE, True, True),
    (PAUL, False, True),  # a partner never reads an internal comment
    (NADIA, False, False),  # nor anything of a partnership they are not attached to
    (DENIS, False, False),
])
def test_who_reads_a_comment(person, internal, shared):
    thread = Thread(OWN)
    assert access.may(person, "read_comment", CommentRef(thread, access.INTERNAL)) is internal
    assert access.may(person, "read_comment", CommentRef(thread, SHARED)) is shared


def test_a_partners_comment_clause_keeps_shared_comments_only():
    assert access.readable_visibilities(PAUL) == (SHARED,)
    assert set(access.readable_visibilities(CLAIRE)) == {access.INTERNAL, SHARED}


# ---------------------------------------------------------------- a deputy during an absence


def test_a_deputy_acts_on_the_absent_colleagues_tasks_on_their_behalf():
    absent = who("claire", "direction")
    deputy = who("sophie", "professional", standing_in_for=[absent])
    assigned = Task(assignee="claire")
    offered = Task()  # to the direction group, of which the deputy is not a member
    claimed = Task(claimed_by="claire")
    named = Task(role=None, candidate_users="claire")
    for task in (assigned, offered, claimed, named):
        assert access.may(deputy, "act", task)
        assert access.acting_for(deputy, task) == "claire"
    assert access.may(deputy, "offered", offered) and access.may(deputy, "offered", claimed)
    assert not access.may(deputy, "offered", assigned)  # assigned, not offered
    assert not access.may(SOPHIE, "act", offered)  # without the absence, not hers


def test_a_deputy_does_not_take_what_someone_else_holds_or_the_partners_tasks():
    absent = who("claire", "direction", "partner", partnerships=[OWN])
    deputy = who("sophie", "professional", standing_in_for=[absent])
    assert not access.may(deputy, "act", Task(claimed_by="hugo"))
    assert access.acting_for(deputy, Task(claimed_by="hugo")) is None  # nor on claire's behalf
    assert not access.may(deputy, "act", Task(assignee="hugo"))
    assert not access.may(deputy, "act", Task(role="partner"))  # partner tasks: partner users only
    assert access.may(deputy, "act", Task(candidate_groups="partner,direction"))  # the direction's


def test_a_deputy_claiming_for_the_absent_keeps_it_and_the_own_tasks_are_not_on_their_behalf():
    absent = who("claire", "direction")
    deputy = who("sophie", "professional", standing_in_for=[absent])
    claimed_by_deputy = Task(claimed_by="sophie")
    assert access.may(deputy, "act", claimed_by_deputy)
    own = Task(role="professional")
    assert access.may(deputy, "act", own) and access.acting_for(deputy, own) is None


def test_nobody_stands_in_for_or_as_someone_outside_the_staff():
    partner = who("paul", "partner", partnerships=[OWN])
    assert not access.may(who("sophie", "professional", standing_in_for=[partner]), "act",
                          Task(role="partner"))
    auditor_deputy = who("alice", "auditor", standing_in_for=[who("claire", "direction")])
    assert not access.may(auditor_deputy, "act", Task())
    assert access.may(SOPHIE, "deputise", CLAIRE)
    assert not access.may(CLAIRE, "deputise", CLAIRE)
    assert not access.may(PAUL, "deputise", CLAIRE)
    assert not access.may(ALICE, "deputise", CLAIRE)
    assert access.may(CLAIRE, "declare_absence") and not access.may(PAUL, "declare_absence")
    assert not access.may(ALICE, "declare_absence")


def test_a_deputy_gets_the_absent_colleagues_inbox_ranges_but_the_partners():
    absent = who("claire", "direction", "partner", partnerships=[OWN])
    deputy = who("sophie", "professional", standing_in_for=[absent])
    ranges = access.inbox_ranges(deputy)
    behalf = [(r.offer, r.behalf.username) for r in ranges if r.behalf is not None]
    assert behalf == [(None, "claire"), (("group", "direction"), "claire"), (("user", "claire"), "claire")]
    assert ranges[-1].offer == ("opinion", "sophie")
    without = access.inbox_ranges(deputy, opinions=False)
    assert all(r.offer is None or r.offer[0] != "opinion" for r in without)
    # a group filter shows one's own offers only
    assert all(r.behalf is None for r in access.inbox_ranges(deputy, "professional"))
