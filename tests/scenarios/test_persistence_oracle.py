"""The persistence oracle (tests/oracle.py) sees a skipped write: with each of the rules that
pick the task rows `WorkflowRun.changes()` writes dropped in turn, a short walk of the
method (a loop, a timer, an engine step that removes predicted tasks) makes it fail; with
all of them, the same walk goes through with every step checked."""

from __future__ import annotations

import pytest

from partnerflow.engine.spiff import WorkflowRun
from tests.oracle import PersistenceOracle
from tests.scenarios.method import DIRECTION, PROPOSER, Walk


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


def _dropping(rules, method, clock, oracle, monkeypatch) -> tuple[int, bool]:
    """The differences the oracle finds on one walk with `rules` dropped, and whether the
    walk stopped on an error (rows so far gone that the engine cannot go on)."""
    before = oracle.differences
    monkeypatch.setattr(WorkflowRun, "row_rules", WorkflowRun.ROW_RULES - set(rules))
    try:
        _walk(method, clock)
        stopped = False
    except Exception:  # noqa: BLE001 - the walk stops once rows are lost; the oracle saw it
        stopped = True
    return oracle.differences - before, stopped


def test_the_oracle_fails_once_the_rows_of_tasks_whose_state_changed_are_skipped(
        method, clock, collecting, monkeypatch):
    differences, _ = _dropping({"state_changed"}, method, clock, collecting, monkeypatch)
    assert differences > 0 and collecting.mismatches


# Every new task, every live task, and every parent whose children a step changed, also had
# its state changed in that step in this walk: "state_changed" selects them
# too, and dropping one of these rules alone loses nothing, which the oracle rightly does
# not report (they stay as guards: a clock set back between two steps leaves new tasks
# older than the restore; a timer's due time can change while it waits). So each is proven
# on top of dropping "state_changed": the oracle then finds more differences, or the walk
# can no longer go on, where it went on without.
@pytest.mark.parametrize("rule", sorted(WorkflowRun.ROW_RULES - {"state_changed"}))
def test_the_oracle_sees_what_each_other_rule_writes(method, clock, collecting, monkeypatch,
                                                    rule):
    alone, alone_stopped = _dropping({"state_changed"}, method, clock, collecting, monkeypatch)
    both, both_stopped = _dropping({"state_changed", rule}, method, clock, collecting,
                                   monkeypatch)
    assert not alone_stopped and alone > 0
    assert both > alone or both_stopped, (rule, both, alone)
