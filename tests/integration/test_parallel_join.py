"""Two parties answering in parallel, round after round (the committee and the partner on the
action sheets): at the join, each branch brings what it changed, never the value it carried
from the split. Bare SpiffWorkflow lays the branches' copies over each other, so the branch
arriving last brings back the previous round's answer of the other party and the loop never
ends."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from partnerflow.engine.runtime import services
from partnerflow.engine.store.models import HumanTask, ProcessInstance
from tests.conftest import FIXTURES, deploy, make_user
from tests.web.support import new_partnership, start


@pytest.fixture
def rounds(fixture_pf):
    make_user(fixture_pf, "claire", "direction")
    make_user(fixture_pf, "sophie", "professional")
    deploy(fixture_pf, [FIXTURES / "parallel_rounds.bpmn"])
    return fixture_pf, new_partnership(fixture_pf, "Deux parties")


def _open(pf, element_id):
    with pf.read() as db:
        return db.scalars(select(HumanTask).where(HumanTask.state == "open",
                                                  HumanTask.element_id == element_id)).all()


def _prepare(pf):
    """The round's own first step (the delegate rewriting the action sheets)."""
    [task] = _open(pf, "again")
    with pf.uow() as uow:
        services.complete_task(uow, task_id=task.id, actor="claire", data={})


def _answer(pf, element_id, actor, field, value):
    [task] = _open(pf, element_id)
    with pf.uow() as uow:
        services.complete_task(uow, task_id=task.id, actor=actor, data={field: value})
    return task.instance_id


@pytest.mark.parametrize("last", ["answer_a", "answer_b"])
def test_a_round_where_both_say_yes_ends_whichever_party_answers_last(rounds, last):
    pf, pid = rounds
    start(pf, pid, "parallel_rounds")
    _prepare(pf)
    # round 1: A says no, B yes -> another round
    _answer(pf, "answer_a", "claire", "a_decision", "no")
    _answer(pf, "answer_b", "sophie", "b_decision", "yes")
    _prepare(pf)
    assert len(_open(pf, "answer_a")) == 1 and len(_open(pf, "answer_b")) == 1
    # round 2: both say yes; the one answering last carried the other's round-1 answer
    first = "answer_b" if last == "answer_a" else "answer_a"
    who = {"answer_a": ("claire", "a_decision"), "answer_b": ("sophie", "b_decision")}
    _answer(pf, first, who[first][0], who[first][1], "yes")
    instance_id = _answer(pf, last, who[last][0], who[last][1], "yes")
    with pf.read() as db:
        instance = db.get(ProcessInstance, instance_id)
        assert instance.status == "completed"
    assert _open(pf, "answer_a") == [] and _open(pf, "answer_b") == []


def test_the_latest_answer_of_each_party_is_kept_after_the_join(rounds):
    pf, pid = rounds
    start(pf, pid, "parallel_rounds")
    _prepare(pf)
    _answer(pf, "answer_b", "sophie", "b_decision", "no")
    _answer(pf, "answer_a", "claire", "a_decision", "yes")
    _prepare(pf)
    # round 2: B answers last; A's round-2 "no" must survive B's copy holding A's "yes"
    _answer(pf, "answer_a", "claire", "a_decision", "no")
    _answer(pf, "answer_b", "sophie", "b_decision", "yes")
    [again] = _open(pf, "again")
    assert again.context["a_decision"] == "no" and again.context["b_decision"] == "yes"
