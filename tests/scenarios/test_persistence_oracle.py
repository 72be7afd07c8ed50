"""The persistence oracle (tests/oracle.py) sees a skipped write: with each of the rules that
pick the task rows `WorkflowRun.changes()` writes dropped in turn, a walk of the method
makes it fail; with all of them, the same walk goes through with every step checked, even
when the wall clock is set back between a restore and the step that follows."""

from __future__ import annotations

import time

import pytest

from partnerflow.engine.runtime import services
from partnerflow.engine.spiff import WorkflowRun
from partnerflow.engine.spiff import runtime as adapter
from tests.oracle import PersistenceOracle
from tests.scenarios.method import BOARD, DELEGATE, DIRECTION, HOSPITAL, LES_TILLEULS, PARTNER, PROPOSER, Walk
from tests.scenarios.samples import BOARD_CHAIR
from tests.scenarios.test_negotiation_paths import TOWN, TOWN_PARTNER, orgs  # noqa: F401


def _walk(method, clock) -> None:
    """The idea sent back once and answered, reminded by its timer, then accepted; the
    mission letter written."""
    walk = Walk.propose(method, clock)
    walk.complete(DIRECTION, "validate_idea", "more_info")
    walk.complete(PROPOSER, "complete_idea", idea_completion_note="Sans coût pour l'EHPAD.")
    clock.advance(days=3, minutes=1)
    assert walk.fire_timers() == 1
    walk.accept_idea()
    walk.complete(DIRECTION, "write_mission_letter")


@pytest.fixture
def collecting(persistence_oracle) -> PersistenceOracle:
    """The scenarios' oracle (tests/scenarios/conftest.py), recording rather than failing."""
    persistence_oracle.collect = True
    return persistence_oracle


def test_the_walk_goes_through_with_every_step_checked(method, clock, collecting):
    _walk(method, clock)
    assert collecting.checks >= 6 and collecting.mismatches == []


def _parallel_signatures(method, clock) -> None:
    """A convention signed by two partner organisations in parallel with our legal
    representative: the signing step runs once per party (a multi-instance task, STARTED
    while its instances are open)."""
    walk = Walk.propose(method, clock, title="Parcours seniors du territoire")
    with method.uow() as uow:
        services.attach_member(uow, partnership_id=walk.pid, username=TOWN_PARTNER,
                               actor=DIRECTION)
    walk.to_negotiation()
    walk.criteria("L3")
    walk.draft_rounds(1)
    walk.complete(DIRECTION, "hold_final_negotiation")
    walk.complete(DELEGATE, "write_convention",
                  parties=[dict(LES_TILLEULS, **BOARD_CHAIR), dict(HOSPITAL), dict(TOWN)])
    walk.complete(BOARD, "deliberate_board", "approve")
    tasks = {t.context["signing_party_name"]: t for t in walk.inbox(PARTNER)}
    for username, party in ((PARTNER, HOSPITAL), (TOWN_PARTNER, TOWN)):
        walk.complete(username, "sign_convention_partner", task_id=tasks[party["legal_name"]].id)
    walk.complete(BOARD, "sign_convention_legal_representative")


def _dropping(rules, method, clock, oracle, monkeypatch, walk=_walk) -> tuple[int, bool]:
    """The differences the oracle finds on one walk with `rules` dropped, and whether the
    walk stopped on an error (rows so far gone that the engine cannot go on)."""
    before = oracle.differences
    monkeypatch.setattr(WorkflowRun, "row_rules", WorkflowRun.ROW_RULES - set(rules))
    try:
        walk(method, clock)
        stopped = False
    except Exception:  # noqa: BLE001 - the walk stops once rows are lost; the oracle saw it
        stopped = True
    return oracle.differences - before, stopped


class _SetBack:
    """The time module as the adapter sees it, an hour ahead of the moments SpiffWorkflow
    stamps its state changes with: as if the wall clock were set back an hour after every
    restore and every write (a correction of the system clock, a virtual machine moved)."""

    def __getattr__(self, name):
        return getattr(time, name)

    def time(self) -> float:
        return time.time() + 3600


def test_a_wall_clock_set_back_between_restore_and_step_loses_nothing(
        method, clock, collecting, monkeypatch):
    # a rule reading "state changed since the restore" off the wall clock wrote nothing
    # here: a user task completed was restored open, with its data gone
    monkeypatch.setattr(adapter, "time", _SetBack())
    _walk(method, clock)
    assert collecting.checks >= 6 and collecting.mismatches == []


def test_the_oracle_fails_once_the_rows_of_new_tasks_are_skipped(method, clock, collecting,
                                                                 monkeypatch):
    # a new task has no earlier state to differ from: only "new" writes a predicted one,
    # without which the rows restore to a tree whose tasks lack their children
    differences, _ = _dropping({"new"}, method, clock, collecting, monkeypatch)
    assert differences > 0 and any("not restored from the rows" in m or "broken task tree" in m
                                   for m in collecting.mismatches)


def test_the_oracle_fails_once_the_rows_of_live_tasks_are_skipped(method, clock, orgs,  # noqa: F811
                                                                  collecting, monkeypatch):
    # the parallel signing step stays STARTED while each party signs: its row changes (the
    # instances done) with neither its state nor the moment of its last change
    assert _dropping(set(), method, clock, collecting, monkeypatch,
                     _parallel_signatures) == (0, False)
    differences, _ = _dropping({"live"}, method, clock, collecting, monkeypatch,
                               _parallel_signatures)
    assert differences > 0 and any("sign_partner_parties" in m for m in collecting.mismatches)


def test_the_oracle_fails_once_the_rows_of_tasks_whose_state_changed_are_skipped(
        method, clock, collecting, monkeypatch):
    differences, _ = _dropping({"state_changed"}, method, clock, collecting, monkeypatch)
    assert differences > 0 and collecting.mismatches


def _children_differences(oracle, since: int) -> set[str]:
    return {line.split(": children")[0].strip() for m in oracle.mismatches[since:]
            for line in m.splitlines() if ": children " in line}


# The parent of a new task: in every walk of the method its state changed in the same step
# as its child appeared (SpiffWorkflow adds children to a task it runs, completes or
# predicts again from a task whose state changed; measured over every scenario of
# tests/scenarios, no row was written by this rule alone). It is proven on top of dropping
# "state_changed": parents then restore without children they have in memory.
# "parent_of_removed" has no such proof: no walk was found where it writes a row, alone or
# on top of dropping "state_changed" (docs/testing.md).
def test_the_oracle_sees_the_parents_of_new_tasks_lose_their_children(
        method, clock, collecting, monkeypatch):
    since = len(collecting.mismatches)
    alone, alone_stopped = _dropping({"state_changed"}, method, clock, collecting, monkeypatch)
    without_state = _children_differences(collecting, since)
    since = len(collecting.mismatches)
    both, _ = _dropping({"state_changed", "parent_of_new"}, method, clock, collecting,
                        monkeypatch)
    assert not alone_stopped and alone > 0
    assert _children_differences(collecting, since) - without_state, (both, alone)
